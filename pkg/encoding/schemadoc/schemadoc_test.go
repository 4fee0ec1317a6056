package schemadoc_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/encoding/internal/schematest"
	"github.com/rancher/telemetry-manager/pkg/encoding/schemadoc"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func schemaOf(t *testing.T, format string) *schemadoc.Schema {
	t.Helper()
	raw, err := encoding.Schema(format)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schemadoc.Parse(raw)
	if err != nil {
		t.Fatalf("%s schema: %v", format, err)
	}
	return s
}

// samplePayload is the encoder's golden sample of format.
func samplePayload(t *testing.T, format string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", format, "testdata", "sample.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEverySchemaPropertyHasADescription(t *testing.T) {
	for _, format := range encoding.Formats() {
		fields := schemaOf(t, format).Fields()
		if len(fields) == 0 {
			t.Errorf("%s schema: no fields", format)
		}
		for _, f := range fields {
			if strings.TrimSpace(f.Description) == "" {
				t.Errorf("%s schema: %s has no description; add a one-line \"description\" to it in pkg/encoding/%s/schema.json", format, f.Path, format)
			}
		}
	}
}

func TestExplainSampleGolden(t *testing.T) {
	for _, format := range encoding.Formats() {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			if err := schemaOf(t, format).Explain(&out, samplePayload(t, format)); err != nil {
				t.Fatal(err)
			}
			schematest.Golden(t, filepath.Join("testdata", format+"-sample.explain.txt"), out.Bytes(), *update)
		})
	}
}

func TestExplainDescribesEveryFieldOfTheSamples(t *testing.T) {
	for _, format := range encoding.Formats() {
		var out bytes.Buffer
		if err := schemaOf(t, format).Explain(&out, samplePayload(t, format)); err != nil {
			t.Fatal(err)
		}
		for _, marker := range []string{"(not in the schema)", "(the schema gives no description)"} {
			if strings.Contains(out.String(), marker) {
				t.Errorf("%s: explanation says %s:\n%s", format, marker, out.String())
			}
		}
	}
}

// withClusters returns the report sample with its first cluster repeated
// n times.
func withClusters(t *testing.T, n int) []byte {
	t.Helper()
	sample := string(samplePayload(t, "report"))
	start := strings.Index(sample, `    {"id":`)
	end := strings.Index(sample[start:], "\n") + start
	first := strings.TrimSuffix(sample[start:end], ",")
	rows := make([]string, n)
	for i := range rows {
		rows[i] = first
	}
	head := sample[:strings.Index(sample, `"clusters": [`)+len(`"clusters": [`)]
	tail := sample[strings.Index(sample, `"clustersAggregated"`):]
	return []byte(head + "\n" + strings.Join(rows, ",\n") + "\n  ],\n  " + tail)
}

func TestExplainShowsAnArrayOnce(t *testing.T) {
	s := schemaOf(t, "report")
	var two, many bytes.Buffer
	if err := s.Explain(&two, withClusters(t, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Explain(&many, withClusters(t, 2000)); err != nil {
		t.Fatal(err)
	}
	if a, b := strings.Count(two.String(), "\n"), strings.Count(many.String(), "\n"); a != b {
		t.Errorf("2 clusters take %d lines, 2000 take %d; want the same", a, b)
	}
	if !strings.Contains(many.String(), "clusters: 2000 elements; each has the fields below, shown with the values of clusters[0]\n") {
		t.Errorf("explanation does not give the element count:\n%s", many.String())
	}
}

func TestExplainMarksFieldsNotInTheSchema(t *testing.T) {
	payload := bytes.Replace(samplePayload(t, "scc"), []byte(`"version"`), []byte(`"hostname": "db-1", "version"`), 1)
	var out bytes.Buffer
	if err := schemaOf(t, "scc").Explain(&out, payload); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "hostname = \"db-1\"\n    (not in the schema)\n") {
		t.Errorf("unknown member not marked:\n%s", out.String())
	}
}

func TestExplainRefusesWhatIsNotJSON(t *testing.T) {
	for name, doc := range map[string]string{"empty": "", "cut": `{"a":`, "two documents": `{} {}`} {
		if err := schemaOf(t, "scc").Explain(&bytes.Buffer{}, []byte(doc)); !errors.Is(err, schemadoc.ErrSyntax) {
			t.Errorf("%s: Explain = %v, want ErrSyntax", name, err)
		}
	}
}

func TestFields(t *testing.T) {
	s, err := schemadoc.Parse([]byte(`{
  "title": "t",
  "properties": {
    "n": {"$ref": "#/$defs/count"},
    "m": {"description": "own", "$ref": "#/$defs/count"},
    "e": {"description": "e", "enum": ["a", "", "b|c"]},
    "c": {"description": "c", "const": "2"},
    "p": {"description": "p", "type": "string", "pattern": "^x{1,2}$", "maxLength": 2},
    "long": {"description": "l", "type": "string", "pattern": "` + strings.Repeat("a", 200) + `"},
    "list": {"description": "l", "type": "array", "uniqueItems": true, "items": {"type": "string", "maxLength": 3}},
    "objs": {"description": "o", "type": "array", "items": {"type": "object", "properties": {"a.b": {"description": "dotted", "type": "boolean"}}}},
    "t": {"description": "t", "type": "string", "format": "date-time", "maxLength": 64}
  },
  "$defs": {"count": {"description": "a count", "type": "integer", "minimum": 0}}
}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []schemadoc.Field{
		{Path: "n", Type: "integer", Description: "a count", Allowed: "at least 0"},
		{Path: "m", Type: "integer", Description: "own", Allowed: "at least 0"},
		{Path: "e", Type: "string", Description: "e", Allowed: "one of `a` `\"\"` `b|c`"},
		{Path: "c", Type: "string", Description: "c", Allowed: "always `2`"},
		{Path: "p", Type: "string", Description: "p", Allowed: "matches `^x{1,2}$`, at most 2 characters"},
		{Path: "long", Type: "string", Description: "l", Allowed: "matches a pattern of 200 characters (see the schema)"},
		{Path: "list", Type: "array of strings", Description: "l", Allowed: "each: at most 3 characters; no duplicates"},
		{Path: "objs", Type: "array of objects", Description: "o"},
		{Path: `objs[]["a.b"]`, Type: "boolean", Description: "dotted"},
		{Path: "t", Type: "string", Description: "t", Allowed: "date-time, at most 64 characters"},
	}
	got := s.Fields()
	if len(got) != len(want) {
		t.Fatalf("Fields() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if table := s.Table(); !strings.Contains(table, "| `e` | string | e | one of `a` `\"\"` `b\\|c` |\n") {
		t.Errorf("Table does not escape |:\n%s", table)
	}
}

func TestParseRefusesBadRefs(t *testing.T) {
	for name, schema := range map[string]string{
		"not a $defs ref": `{"properties": {"a": {"$ref": "other.json#/x"}}}`,
		"missing def":     `{"properties": {"a": {"$ref": "#/$defs/x"}}}`,
		"a ref cycle":     `{"properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {"$ref": "#/$defs/x"}}}`,
		"not an object":   `[]`,
	} {
		if _, err := schemadoc.Parse([]byte(schema)); !errors.Is(err, schemadoc.ErrSchema) {
			t.Errorf("%s: Parse = %v, want ErrSchema", name, err)
		}
	}
}

// mapsAndVariants has a map (additionalProperties) and a oneOf, the forms a
// schema may grow for extensions or events.
const mapsAndVariants = `{
  "title": "t",
  "type": "object",
  "properties": {
    "ext": {"description": "operator pairs", "type": "object", "additionalProperties": {"type": "string", "maxLength": 8}},
    "events": {"description": "what happened", "type": "array", "items": {"oneOf": [
      {"type": "object", "properties": {"type": {"description": "kind", "const": "created"}, "time": {"description": "when", "type": "string"}}},
      {"type": "object", "properties": {"type": {"description": "kind", "const": "upgraded"}, "from": {"description": "old version", "type": "string"}}}
    ]}}
  }
}`

func TestMapsAndVariants(t *testing.T) {
	s, err := schemadoc.Parse([]byte(mapsAndVariants))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range s.Fields() {
		paths = append(paths, f.Path+": "+f.Description)
	}
	want := []string{"ext: operator pairs", "ext.*: operator pairs", "events: what happened", "events[].type: kind", "events[].time: when", "events[].from: old version"}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Errorf("Fields() = %q, want %q", paths, want)
	}
	var out bytes.Buffer
	if err := s.Explain(&out, []byte(`{"ext": {"team": "blue"}, "events": [{"type": "upgraded", "from": "v1.30.1"}]}`)); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ext.team = \"blue\"\n    operator pairs\n", "events[0].from = \"v1.30.1\"\n    old version\n"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("Explain lacks %q:\n%s", w, out.String())
		}
	}
}
