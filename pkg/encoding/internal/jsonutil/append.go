package jsonutil

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The Append functions write JSON members by hand for the types of the long
// lists (a report's clusters and node profiles), whose MarshalJSON would
// otherwise go through reflection once per element for each of the size
// bound and the payload. They write exactly what encoding/json writes with
// HTML escaping off, as the tests of each type check.

// Appender is a value that writes itself as compact JSON, exactly as
// encoding/json would write it with HTML escaping off. Marshal and AtLeast
// use it instead of reflection.
type Appender interface {
	AppendJSON(b []byte) []byte
}

// AppendList appends items as a JSON array, or null for a nil slice, as
// encoding/json writes a slice.
func AppendList[T any, P interface {
	*T
	Appender
}](b []byte, items []T) []byte {
	if items == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = P(&items[i]).AppendJSON(b)
	}
	return append(b, ']')
}

// AppendValue appends v as encoding/json writes it with HTML escaping off:
// for the small members of a document written with Appenders.
func AppendValue(b []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// AppendString appends s as a JSON string.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return appendSlow(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendSlow leaves the escaping of control characters, quotes, invalid
// UTF-8 and U+2028/U+2029 to encoding/json.
func appendSlow(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil { // a string always encodes
		panic(err)
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// AppendKey appends "name": after a comma unless first.
func AppendKey(b []byte, name string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// AppendInt appends the member "name":n.
func AppendInt(b []byte, name string, n int64, first bool) []byte {
	return strconv.AppendInt(AppendKey(b, name, first), n, 10)
}

// AppendBool appends the member "name":v.
func AppendBool(b []byte, name string, v, first bool) []byte {
	return strconv.AppendBool(AppendKey(b, name, first), v)
}

// AppendStringMember appends the member "name":"s".
func AppendStringMember(b []byte, name, s string, first bool) []byte {
	return AppendString(AppendKey(b, name, first), s)
}
