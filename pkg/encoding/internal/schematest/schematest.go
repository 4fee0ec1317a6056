// Package schematest holds what the payload encoders' tests share: checks
// that a JSON schema and the Go types an encoder writes describe the same
// documents, that the schema rejects what it should, and that the schema
// accessor returns a copy; strict decoding of payloads; and golden files.
// Only tests import it.
package schematest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rancher/telemetry-manager/pkg/vocab"
)

// CheckStruct checks that the object schema at pointer (a JSON pointer
// into schema, "" for the root, like "/$defs/install") has exactly the
// properties that typ's fields are written as, requires all of them, and
// forbids any other.
func CheckStruct(t *testing.T, schema []byte, pointer string, typ reflect.Type) {
	t.Helper()
	obj := resolve(t, schema, pointer)

	var fields []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Errorf("%s.%s has no JSON name", typ.Name(), f.Name)
			continue
		}
		fields = append(fields, name)
	}
	slices.Sort(fields)

	props, _ := obj["properties"].(map[string]any)
	var names []string
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	var required []string
	for _, r := range obj["required"].([]any) {
		required = append(required, r.(string))
	}
	slices.Sort(required)

	if !slices.Equal(names, fields) {
		t.Errorf("schema %q properties %v, %s fields %v", pointer, names, typ.Name(), fields)
	}
	if !slices.Equal(required, fields) {
		t.Errorf("schema %q requires %v, %s writes %v", pointer, required, typ.Name(), fields)
	}
	if obj["additionalProperties"] != false {
		t.Errorf("schema %q allows additional properties", pointer)
	}
}

// resolve returns the object at pointer (a JSON pointer into schema, ""
// for the root), failing t when there is none.
func resolve(t *testing.T, schema []byte, pointer string) map[string]any {
	t.Helper()
	var doc any
	if err := json.Unmarshal(schema, &doc); err != nil {
		t.Fatalf("reading schema: %v", err)
	}
	for _, part := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		if part == "" {
			continue
		}
		m, ok := doc.(map[string]any)
		if !ok {
			t.Fatalf("schema has no %s", pointer)
		}
		doc = m[part]
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("schema has no object at %q", pointer)
	}
	return obj
}

// CheckRule checks that the string schema at pointer states rule, as
// package vocab has it: the same enum, in the same order, or type string
// with the same pattern and maxLength, and nothing that loosens it. On a
// difference it prints what the schema should say, to paste in.
func CheckRule(t *testing.T, schema []byte, pointer string, rule vocab.Rule) {
	t.Helper()
	got := resolve(t, schema, pointer)
	want := map[string]any{}
	if d, ok := got["description"]; ok {
		want["description"] = d
	}
	if rule.Enum != nil {
		enum := make([]any, len(rule.Enum))
		for i, w := range rule.Enum {
			enum[i] = w
		}
		want["enum"] = enum
	} else {
		want["type"] = "string"
		want["pattern"] = rule.Pattern
		want["maxLength"] = float64(rule.MaxLength)
	}
	if !reflect.DeepEqual(got, want) {
		b, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("schema %s does not state the vocabulary; it should be:\n%s", pointer, b)
	}
}

// CheckStringsBounded checks that every string the schema admits is
// bounded: each subschema of type string has a maxLength (or is an enum
// or const).
func CheckStringsBounded(t *testing.T, schema []byte) {
	t.Helper()
	var doc any
	if err := json.Unmarshal(schema, &doc); err != nil {
		t.Fatalf("reading schema: %v", err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "string" {
				if _, ok := v["maxLength"]; !ok {
					t.Errorf("schema %s admits strings of any length", path)
				}
			}
			for k, c := range v {
				walk(path+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s/%d", path, i), c)
			}
		}
	}
	walk("", doc)
}
