package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cited is one test named in the README's bad-input table.
type cited struct{ name, pkg string }

var citeRE = regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]+)` \\(`([^`]+)`\\)")

// badInputRows returns the rows of the bad-input table with the tests each
// cites.
func badInputRows(t *testing.T, readme string) map[string][]cited {
	t.Helper()
	m := regexp.MustCompile(`(?s)<!-- bad-input:start -->\n(.*?)<!-- bad-input:end -->`).FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no <!-- bad-input:start --> ... <!-- bad-input:end --> section")
	}
	rows := map[string][]cited{}
	for i, l := range strings.Split(strings.TrimSpace(m[1]), "\n") {
		if i < 2 { // header and rule
			continue
		}
		cells := strings.Split(l, " | ")
		if len(cells) != 3 {
			t.Errorf("bad-input row %q: %d cells, want input, what happens, tests", l, len(cells))
			continue
		}
		var cs []cited
		for _, c := range citeRE.FindAllStringSubmatch(cells[2], -1) {
			cs = append(cs, cited{c[1], c[2]})
		}
		rows[strings.TrimPrefix(cells[0], "| ")] = cs
	}
	return rows
}

// declares reports whether a _test.go file of dir declares func name.
func declares(dir, name string) (bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return false, err
	}
	decl := regexp.MustCompile(`(?m)^func ` + regexp.QuoteMeta(name) + `\(`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		if decl.Match(b) {
			return true, nil
		}
	}
	return false, nil
}

// TestBadInputTableNamesRealTests: every row of the README's bad-input
// table cites at least one test, and every cited test is declared in the
// package it is cited with.
func TestBadInputTableNamesRealTests(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := badInputRows(t, string(raw))
	if len(rows) == 0 {
		t.Fatal("the bad-input table has no rows")
	}
	for input, cs := range rows {
		if len(cs) == 0 {
			t.Errorf("bad-input row %q cites no test", input)
		}
		for _, c := range cs {
			ok, err := declares(filepath.Join("..", "..", filepath.FromSlash(c.pkg)), c.name)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Errorf("bad-input row %q cites %s in %s, which declares no such test", input, c.name, c.pkg)
			}
		}
	}
}

// TestDeclaresFindsOnlyDeclaredTests keeps the check above honest: a name
// that is not declared, or declared elsewhere, is not found.
func TestDeclaresFindsOnlyDeclaredTests(t *testing.T) {
	for _, c := range []struct {
		dir, name string
		want      bool
	}{
		{".", "TestBadInputTableNamesRealTests", true},
		{".", "TestBadInputTableNamesRealTest", false},
		{".", "TestNoSuchTest", false},
		{filepath.Join("..", "..", "pkg", "gatherer"), "TestBadInputTableNamesRealTests", false},
	} {
		got, err := declares(c.dir, c.name)
		if err != nil || got != c.want {
			t.Errorf("declares(%s, %s) = %v, %v; want %v", c.dir, c.name, got, err, c.want)
		}
	}
}
