package schemadoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrSyntax is wrapped by the errors of a document that is not one JSON
// value.
var ErrSyntax = errors.New("not a JSON document")

// value is a JSON value that keeps the order of object members, so output
// follows the document.
type value struct {
	// kind is object, array, string, number, bool or null.
	kind    string
	keys    []string // object member names, in document order
	members []*value // object member values, or array elements
	scalar  any      // string, json.Number or bool
}

// member returns the value of the object member name, or nil.
func (v *value) member(name string) *value {
	if v == nil || v.kind != "object" {
		return nil
	}
	for i, k := range v.keys {
		if k == name {
			return v.members[i]
		}
	}
	return nil
}

// compact returns v as compact JSON.
func (v *value) compact() string {
	var b bytes.Buffer
	v.write(&b)
	return b.String()
}

func (v *value) write(b *bytes.Buffer) {
	switch v.kind {
	case "object":
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			v.members[i].write(b)
		}
		b.WriteByte('}')
	case "array":
		b.WriteByte('[')
		for i, m := range v.members {
			if i > 0 {
				b.WriteByte(',')
			}
			m.write(b)
		}
		b.WriteByte(']')
	case "null":
		b.WriteString("null")
	case "string":
		writeJSONString(b, v.scalar.(string))
	default:
		fmt.Fprint(b, v.scalar)
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}

// parse reads one JSON document. A member named twice keeps its last
// value, as encoding/json does.
func parse(doc []byte) (*value, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the document", ErrSyntax)
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (*value, error) {
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return parseObject(dec)
		}
		return parseArray(dec)
	case string:
		return &value{kind: "string", scalar: t}, nil
	case json.Number:
		return &value{kind: "number", scalar: t}, nil
	case bool:
		return &value{kind: "bool", scalar: t}, nil
	default:
		return &value{kind: "null"}, nil
	}
}

func parseObject(dec *json.Decoder) (*value, error) {
	v := &value{kind: "object"}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string) // the decoder only gives strings as names
		m, err := parseValue(dec)
		if err != nil {
			return nil, err
		}
		if old := v.member(name); old != nil {
			*old = *m
			continue
		}
		v.keys = append(v.keys, name)
		v.members = append(v.members, m)
	}
	_, err := dec.Token() // '}'
	return v, err
}

func parseArray(dec *json.Decoder) (*value, error) {
	v := &value{kind: "array", members: []*value{}}
	for dec.More() {
		m, err := parseValue(dec)
		if err != nil {
			return nil, err
		}
		v.members = append(v.members, m)
	}
	_, err := dec.Token() // ']'
	return v, err
}
