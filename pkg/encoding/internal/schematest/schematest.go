// Package schematest holds what the payload encoders' tests share: checks
// that a JSON schema and the Go types an encoder writes describe the same
// documents, that the schema rejects what it should, and that the schema
// accessor returns a copy; strict decoding of payloads; and golden files.
// Only tests import it.
package schematest

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// CheckStruct checks that the object schema at pointer (a JSON pointer
// into schema, "" for the root, like "/$defs/install") has exactly the
// properties that typ's fields are written as, requires all of them, and
// forbids any other.
func CheckStruct(t *testing.T, schema []byte, pointer string, typ reflect.Type) {
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
