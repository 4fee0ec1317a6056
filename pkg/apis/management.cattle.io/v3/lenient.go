package v3

import (
	"bytes"
	"fmt"

	utiljson "sigs.k8s.io/json"
)

// Rancher's CRDs keep unknown fields without a structural schema, so the API
// server accepts any JSON type in any field: `spec.worker: "yes"`,
// `status: []`, `nodeInfo: "x"`. A typed decoder that fails on one such
// object fails the whole LIST, and the cache never syncs. Every field the
// types of this package decode therefore accepts every JSON type. A value of
// the wrong type decodes to the zero value and records the type it had, so
// the object's Problems name the field; the object itself always decodes.

// Kind is the JSON type of a value that had the wrong type. The zero value,
// KindNone, means the value was absent or of the expected type.
type Kind uint8

// JSON types, as recorded for a wrong-typed value.
const (
	KindNone Kind = iota
	KindString
	KindNumber
	KindBool
	KindObject
	KindArray
	// KindOversize marks a string longer than MaxStringBytes: it is not kept.
	KindOversize
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "a string"
	case KindNumber:
		return "a number"
	case KindBool:
		return "a boolean"
	case KindObject:
		return "an object"
	case KindArray:
		return "an array"
	case KindOversize:
		return fmt.Sprintf("a string over %d bytes", MaxStringBytes)
	}
	return "absent"
}

// MaxStringBytes bounds every string the types keep. No value that telemetry
// exports is anywhere near as long (the longest patterns allow a few hundred
// bytes), so a longer one is recorded as KindOversize and dropped instead of
// being held in the cache.
const MaxStringBytes = 4096

// kindOf returns the JSON type of a raw value from its first byte; null and
// empty input are KindNone.
func kindOf(b []byte) Kind {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return KindNone
	}
	switch c := b[0]; {
	case c == '"':
		return KindString
	case c == '{':
		return KindObject
	case c == '[':
		return KindArray
	case c == 't' || c == 'f':
		return KindBool
	case c == 'n':
		return KindNone
	default:
		return KindNumber
	}
}

// Bool is a JSON boolean. Any other type decodes to false and is recorded in
// Bad.
type Bool struct {
	Value bool
	Bad   Kind
}

// UnmarshalJSON accepts every JSON type.
func (v *Bool) UnmarshalJSON(b []byte) error {
	*v = Bool{}
	switch k := kindOf(b); k {
	case KindBool:
		v.Value = bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("true"))
	case KindNone:
	default:
		v.Bad = k
	}
	return nil
}

// MarshalJSON writes the value, so that objects round-trip through caches
// and tests.
func (v Bool) MarshalJSON() ([]byte, error) {
	if v.Value {
		return []byte("true"), nil
	}
	return []byte("false"), nil
}

// OptionalBool is a JSON boolean that may be absent or null (a Feature's
// value, default and locked value). Any other type decodes as unset and is
// recorded in Bad.
type OptionalBool struct {
	Set   bool
	Value bool
	Bad   Kind
}

// UnmarshalJSON accepts every JSON type.
func (v *OptionalBool) UnmarshalJSON(b []byte) error {
	var plain Bool
	_ = plain.UnmarshalJSON(b)
	*v = OptionalBool{Value: plain.Value, Bad: plain.Bad, Set: kindOf(b) == KindBool}
	return nil
}

// MarshalJSON writes the value, or null when unset.
func (v OptionalBool) MarshalJSON() ([]byte, error) {
	if !v.Set {
		return []byte("null"), nil
	}
	return Bool{Value: v.Value}.MarshalJSON()
}

// Ptr returns the value as a pointer, nil when unset.
func (v OptionalBool) Ptr() *bool {
	if !v.Set {
		return nil
	}
	b := v.Value
	return &b
}

// String is a JSON string of at most MaxStringBytes. Any other type, or a
// longer string, decodes to "" and is recorded in Bad.
type String struct {
	Value string
	Bad   Kind
}

// UnmarshalJSON accepts every JSON type.
func (v *String) UnmarshalJSON(b []byte) error {
	*v = String{}
	switch k := kindOf(b); k {
	case KindString:
		// A quoted JSON string is at least as long as its value, so the
		// raw length bounds it before anything is allocated.
		if len(b) > MaxStringBytes*6+2 {
			v.Bad = KindOversize
			return nil
		}
		s, ok := plainString(bytes.TrimSpace(b))
		if !ok {
			if err := utiljson.UnmarshalCaseSensitivePreserveInts(b, &s); err != nil {
				return err
			}
		}
		if len(s) > MaxStringBytes {
			v.Bad = KindOversize
			return nil
		}
		v.Value = s
	case KindNone:
	default:
		v.Bad = k
	}
	return nil
}

// MarshalJSON writes the value.
func (v String) MarshalJSON() ([]byte, error) {
	return jsonString(v.Value), nil
}

func jsonString(s string) []byte {
	var buf bytes.Buffer
	buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			buf.WriteByte('\\')
			buf.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&buf, `\u%04x`, r)
		default:
			buf.WriteRune(r)
		}
	}
	buf.WriteByte('"')
	return buf.Bytes()
}

// Problem is a field of an object that could not be read as its type says.
type Problem struct {
	Field string // JSON path, e.g. "spec.worker"
	Got   Kind
	Want  string // e.g. "a boolean"
}

func (p Problem) String() string {
	return fmt.Sprintf("%s is %s, want %s", p.Field, p.Got, p.Want)
}

// problems collects the wrong-typed fields of one object.
type problems []Problem

func (ps *problems) check(field string, got Kind, want string) {
	if got != KindNone {
		*ps = append(*ps, Problem{Field: field, Got: got, Want: want})
	}
}

func (ps *problems) bool(field string, v Bool) { ps.check(field, v.Bad, "a boolean") }

func (ps *problems) optionalBool(field string, v OptionalBool) {
	ps.check(field, v.Bad, "a boolean or null")
}

func (ps *problems) string(field string, v String) { ps.check(field, v.Bad, "a string") }

func (ps *problems) object(field string, got Kind) { ps.check(field, got, "an object") }

// nest moves the problems of a nested struct into ps, prefixing their
// fields with the struct's field name. Problems are collected upwards as an
// object decodes, so each object's problems end up at its top level and
// nested structs hold none.
func (ps *problems) nest(prefix string, child *problems) {
	*ps = append(*ps, nest(prefix, *child)...)
	*child = nil
}

// nest returns ps with each field prefixed; a field "" (the struct itself)
// becomes the prefix. Problems are never modified once decoded, so the
// returned slice may be shared.
func nest(prefix string, ps problems) []Problem {
	if len(ps) == 0 {
		return nil
	}
	out := make([]Problem, len(ps))
	for i, p := range ps {
		switch {
		case prefix == "":
		case p.Field == "":
			p.Field = prefix
		default:
			p.Field = prefix + "." + p.Field
		}
		out[i] = p
	}
	return out
}
