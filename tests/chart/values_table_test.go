package chart

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the values tables of README.md and of each chart's README.md")

const (
	tableStart = "<!-- values-table:start -->"
	tableEnd   = "<!-- values-table:end -->"
)

// valueDoc is one documented value of values.yaml.
type valueDoc struct {
	Key         string // dotted path
	Default     string // JSON
	Description string
}

// keyLine matches a "key:" line of values.yaml: indentation, key, rest.
var keyLine = regexp.MustCompile(`^( *)([A-Za-z_][A-Za-z0-9_-]*):(\s.*)?$`)

// parseValuesDoc reads the helm-docs style comments of values.yaml: a
// "# -- description" comment (continued by the "#" lines right below it)
// documents the key on the next line. A documented key is one row of the
// table, its default the JSON of its value; its children need no comment of
// their own. A key without a comment must be a map whose values are all
// documented. Lists hold no maps (their items are not keys of the table).
func parseValuesDoc(text string, values map[string]any) ([]valueDoc, error) {
	var (
		stack   []level
		pending []string
		inDoc   bool
		docs    []valueDoc
		errs    []error
		keyed   = map[string]bool{}
		doc     = map[string]bool{}
	)
	for n, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			pending, inDoc = nil, false
			continue
		case strings.HasPrefix(trimmed, "#"):
			c := strings.TrimPrefix(trimmed, "#")
			if d, ok := strings.CutPrefix(c, " -- "); ok {
				pending, inDoc = []string{strings.TrimSpace(d)}, true
			} else if inDoc && strings.TrimSpace(c) != "" {
				pending = append(pending, strings.TrimSpace(c))
			}
			continue
		}
		m := keyLine.FindStringSubmatch(line)
		if m == nil {
			if len(stack) == 0 || !doc[pathOf(stack)] && !hasDocumentedAncestor(doc, pathOf(stack)) {
				errs = append(errs, fmt.Errorf("values.yaml:%d: %q is neither a key nor inside a documented value", n+1, trimmed))
			}
			pending, inDoc = nil, false
			continue
		}
		indent, key := len(m[1]), m[2]
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, level{indent, key})
		path := pathOf(stack)
		keyed[path] = true
		v, ok := lookup(values, path)
		if !ok {
			// A key inside a list item, or a parse this scanner got wrong.
			if !hasDocumentedAncestor(doc, path) {
				errs = append(errs, fmt.Errorf("values.yaml:%d: %s is not a value of the decoded file", n+1, path))
			}
			pending, inDoc = nil, false
			continue
		}
		switch {
		case inDoc && hasDocumentedAncestor(doc, path):
			errs = append(errs, fmt.Errorf("values.yaml:%d: %s is documented, and so is a value above it: document one of them", n+1, path))
		case inDoc:
			def, err := json.Marshal(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
			doc[path] = true
			docs = append(docs, valueDoc{Key: path, Default: string(def), Description: strings.Join(pending, " ")})
		case !hasDocumentedAncestor(doc, path):
			if sub, isMap := v.(map[string]any); !isMap || len(sub) == 0 {
				errs = append(errs, fmt.Errorf("values.yaml:%d: %s has no \"# -- description\" comment above it", n+1, path))
			}
		}
		pending, inDoc = nil, false
	}
	// Every value of the decoded file was seen as a key.
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for _, k := range sortedKeys(m) {
			p := strings.TrimPrefix(prefix+"."+k, ".")
			if !keyed[p] && !hasDocumentedAncestor(doc, p) {
				errs = append(errs, fmt.Errorf("values.yaml: %s was not found by the scanner (write maps as indented blocks)", p))
			}
			if sub, ok := m[k].(map[string]any); ok {
				walk(p, sub)
			}
		}
	}
	walk("", values)
	return docs, errors.Join(errs...)
}

// level is a key of values.yaml being scanned, with its indentation.
type level struct {
	indent int
	key    string
}

// pathOf returns the dotted path of the keys on the stack.
func pathOf(stack []level) string {
	keys := make([]string, len(stack))
	for i, l := range stack {
		keys[i] = l.key
	}
	return strings.Join(keys, ".")
}

// hasDocumentedAncestor reports whether a value above path is documented.
func hasDocumentedAncestor(doc map[string]bool, path string) bool {
	for {
		i := strings.LastIndex(path, ".")
		if i < 0 {
			return false
		}
		path = path[:i]
		if doc[path] {
			return true
		}
	}
}

// lookup returns the value at a dotted path.
func lookup(values map[string]any, path string) (any, bool) {
	var cur any = values
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// valuesTable renders the documented values as a Markdown table.
func valuesTable(docs []valueDoc) string {
	esc := strings.NewReplacer("|", `\|`, "\n", " ")
	var b strings.Builder
	b.WriteString("| Key | Default | Description |\n| --- | --- | --- |\n")
	for _, d := range docs {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", d.Key, esc.Replace(d.Default), esc.Replace(d.Description))
	}
	return b.String()
}

// helmValuesSection is appended to a README that has no markers yet.
const helmValuesSection = `
## Helm values

The chart in ` + "`charts/telemetry-manager`" + ` takes these values. The table is
generated from the ` + "`# --`" + ` comments of its values.yaml by
` + "`go test ./tests/chart -run TestValuesTable -update`" + `; edit values.yaml, not the table.

` + tableStart + `
` + tableEnd + `
`

// replaceTable returns readme with the text between the markers replaced by
// table, appending a "## Helm values" section with the markers when they
// are missing.
func replaceTable(readme []byte, table string) ([]byte, error) {
	s := string(readme)
	if !strings.Contains(s, tableStart) && !strings.Contains(s, tableEnd) {
		s = strings.TrimRight(s, "\n") + "\n" + helmValuesSection
	}
	before, rest, ok := strings.Cut(s, tableStart)
	if !ok {
		return nil, fmt.Errorf("marker %s missing", tableStart)
	}
	_, after, ok := strings.Cut(rest, tableEnd)
	if !ok {
		return nil, fmt.Errorf("marker %s missing after %s", tableEnd, tableStart)
	}
	return []byte(before + tableStart + "\n" + table + tableEnd + after), nil
}

// TestValuesTable checks that the README.md of each chart, and the root
// README.md for charts/telemetry-manager, hold the table of the chart's
// values.yaml between the values-table markers; -update rewrites it (and
// appends a "## Helm values" section to a README without markers).
func TestValuesTable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dir     string
		readmes []string
	}{
		{"telemetry-manager", chartDir, []string{filepath.Join(root, "README.md"), filepath.Join(chartDir, "README.md")}},
		{"telemetry-collector", collectorDir, []string{filepath.Join(collectorDir, "README.md")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(tc.dir, "values.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			docs, err := parseValuesDoc(string(text), readValuesOf(t, tc.dir))
			if err != nil {
				t.Fatalf("values.yaml is not fully documented:\n%v", err)
			}
			table := valuesTable(docs)
			for _, path := range tc.readmes {
				rel, _ := filepath.Rel(root, path)
				t.Run(rel, func(t *testing.T) { checkValuesTable(t, path, table) })
			}
		})
	}
}

func checkValuesTable(t *testing.T, path, table string) {
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := replaceTable(readme, table)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if bytes.Equal(readme, want) {
		return
	}
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", path)
		return
	}
	if !bytes.Contains(readme, []byte(tableStart)) {
		t.Fatalf("%s has no %s marker: run 'go test ./tests/chart -run TestValuesTable -update' to append the values table", path, tableStart)
	}
	t.Errorf("the values table of %s differs from values.yaml: run 'go test ./tests/chart -run TestValuesTable -update'\nwant:\n%s", path, table)
}

// TestParseValuesDoc checks the comment rules on small files.
func TestParseValuesDoc(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		values  map[string]any
		want    []valueDoc
		wantErr string
	}{
		{
			name:   "leaves and groups",
			yaml:   "# header\n\n# -- A.\na: 1\ng:\n  # -- B, continued\n  # on two lines.\n  b: x\n",
			values: map[string]any{"a": int64(1), "g": map[string]any{"b": "x"}},
			want:   []valueDoc{{"a", "1", "A."}, {"g.b", `"x"`, "B, continued on two lines."}},
		},
		{
			name:   "documented map",
			yaml:   "# -- R.\nr:\n  req:\n    cpu: 10m\n",
			values: map[string]any{"r": map[string]any{"req": map[string]any{"cpu": "10m"}}},
			want:   []valueDoc{{"r", `{"req":{"cpu":"10m"}}`, "R."}},
		},
		{
			name:    "undocumented leaf",
			yaml:    "g:\n  b: x\n",
			values:  map[string]any{"g": map[string]any{"b": "x"}},
			wantErr: "g.b has no",
		},
		{
			name:    "blank line between comment and key",
			yaml:    "# -- A.\n\na: 1\n",
			values:  map[string]any{"a": int64(1)},
			wantErr: "a has no",
		},
		{
			name:    "documented twice",
			yaml:    "# -- R.\nr:\n  # -- C.\n  c: 1\n",
			values:  map[string]any{"r": map[string]any{"c": int64(1)}},
			wantErr: "r.c is documented, and so is a value above it",
		},
		{
			name:    "undocumented empty map",
			yaml:    "m: {}\n",
			values:  map[string]any{"m": map[string]any{}},
			wantErr: "m has no",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseValuesDoc(tc.yaml, tc.values)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestReplaceTable checks the rewrite of README.md.
func TestReplaceTable(t *testing.T) {
	const table = "| Key |\n"
	got, err := replaceTable([]byte("# Title\n\ntext\n"), table)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), "# Title\n\ntext\n\n## Helm values\n") || !strings.HasSuffix(string(got), tableStart+"\n"+table+tableEnd+"\n") {
		t.Errorf("appended section:\n%s", got)
	}
	again, err := replaceTable(got, table)
	if err != nil || !bytes.Equal(again, got) {
		t.Errorf("a second rewrite changed the file (%v):\n%s", err, again)
	}
	got, err = replaceTable([]byte("a\n"+tableStart+"\nold\n"+tableEnd+"\nb\n"), table)
	if err != nil || string(got) != "a\n"+tableStart+"\n"+table+tableEnd+"\nb\n" {
		t.Errorf("replaced section (%v):\n%s", err, got)
	}
}
