package schematest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// Decode decodes a payload into a T, failing t on fields T does not have.
func Decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %T: %v", v, err)
	}
	return v
}

// Golden compares got with the golden file at path, or, with update (the
// package's -update flag), rewrites the file with got.
func Golden(t *testing.T, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update if the change is intended):\n%s", path, got)
	}
}

// Mutation is a change to a decoded valid document that its schema must
// reject.
type Mutation struct {
	Name   string
	Mutate func(doc map[string]any)
}

// Rejects checks that validate accepts valid, and then, each in a subtest
// of its name, that validate returns an error wrapping wantErr for:
//   - valid decoded, changed by each of cases and encoded again;
//   - "not JSON" and "trailing data" (valid followed by another value);
//   - each of raw, a document by its name.
func Rejects(t *testing.T, valid []byte, validate func([]byte) error, wantErr error, cases []Mutation, raw map[string]string) {
	t.Helper()
	if err := validate(valid); err != nil {
		t.Fatalf("valid sample rejected: %v", err)
	}
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(valid, &doc); err != nil {
				t.Fatal(err)
			}
			tt.Mutate(doc)
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate(b); !errors.Is(err, wantErr) {
				t.Errorf("Validate = %v, want %v", err, wantErr)
			}
		})
	}
	docs := map[string]string{
		"not JSON":      "{",
		"trailing data": string(valid) + "{}",
	}
	for name, b := range raw {
		docs[name] = b
	}
	for name, b := range docs {
		t.Run(name, func(t *testing.T) {
			if err := validate([]byte(b)); !errors.Is(err, wantErr) {
				t.Errorf("Validate = %v, want %v", err, wantErr)
			}
		})
	}
}

// Obj is the object d[key].
func Obj(d map[string]any, key string) map[string]any { return d[key].(map[string]any) }

// Item is the first element, an object, of the array d[key].
func Item(d map[string]any, key string) map[string]any {
	return d[key].([]any)[0].(map[string]any)
}

// Accessor checks that the schema schema returns has the $id id, and that
// it is a copy: changing it does not change what schema returns next.
func Accessor(t *testing.T, schema func() []byte, id string) {
	t.Helper()
	s := schema()
	var doc map[string]any
	if err := json.Unmarshal(s, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["$id"] != id {
		t.Errorf("$id = %v, want %s", doc["$id"], id)
	}
	s[0] = 'x' // a copy: the embedded schema must not change
	if schema()[0] != '{' {
		t.Error("Schema returned the embedded slice")
	}
}
