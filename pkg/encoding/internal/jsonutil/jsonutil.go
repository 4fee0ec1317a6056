// Package jsonutil holds what the payload encoders share: one way to write
// JSON, the size a list takes in it before it is written, and schema
// validation.
package jsonutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Indent is the indentation of one level of a payload.
const Indent = "  "

// Marshal writes v as JSON in the payload layout, ending in a newline,
// without HTML escaping (payloads are not embedded in HTML, and "<" is
// easier to read than "\u003c"). The layout:
//
//   - an object that is not inside an array has one member a line,
//     indented by two spaces a level, with ": " after each name, as
//     json.MarshalIndent writes it;
//   - an array has one element a line, indented one level deeper than
//     the array, and each element is written compactly on its line,
//     whatever it holds: a list of 2,000 objects takes 2,000 lines;
//   - empty objects and arrays are {} and [].
//
// So a document with no object or array inside an array is laid out
// exactly as json.MarshalIndent(v, "", Indent) lays it out, and a long
// list costs a few bytes of layout per element instead of a line per
// field.
func Marshal(v any) ([]byte, error) {
	return MarshalSize(v, 4096)
}

// MarshalSize is Marshal with the compact size of v expected, so that an
// Appender writes into one buffer of that size.
func MarshalSize(v any, size int) ([]byte, error) {
	if a, ok := v.(LayoutAppender); ok {
		// The layout adds about a line's indentation per element.
		return append(a.AppendLayout(make([]byte, 0, size+size/16+64)), '\n'), nil
	}
	if a, ok := v.(Appender); ok {
		return layout(a.AppendJSON(make([]byte, 0, size))), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return layout(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// layout lays out src, one compact JSON value as encoding/json writes it
// (no whitespace outside strings), as Marshal documents, and appends a
// newline.
func layout(src []byte) []byte {
	// Layout adds an indented line per member of an indented object and
	// per element of an array: a few percent of a compact payload made of
	// long lists.
	out := appendLayout(make([]byte, 0, len(src)+len(src)/16+64), src, 0)
	return append(out, '\n')
}

// appendLayout appends src laid out, starting at depth: the members or
// elements of its outermost object or array are at depth+1.
func appendLayout(out, src []byte, depth int) []byte {
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			end := stringEnd(src, i)
			out = append(out, src[i:end]...)
			i = end - 1
		case '{', '[':
			out = append(out, c)
			if next := src[i+1]; next == '}' || next == ']' { // empty
				out = append(out, next)
				i++
				continue
			}
			depth++
			out = newline(out, depth)
			if c == '{' {
				continue
			}
			// An array: each element compact on its own line. i stops on
			// the comma after an element, or on the closing bracket.
			for {
				end := valueEnd(src, i+1)
				out = append(out, src[i+1:end]...)
				i = end
				if src[i] == ']' {
					break
				}
				out = append(out, ',')
				out = newline(out, depth)
			}
			depth--
			out = newline(out, depth)
			out = append(out, ']')
		case '}':
			depth--
			out = newline(out, depth)
			out = append(out, '}')
		case ',':
			out = append(out, ',')
			out = newline(out, depth)
		case ':':
			out = append(out, ':', ' ')
		default: // a literal or a digit of a number
			out = append(out, c)
		}
	}
	return out
}

// newline appends a newline and depth levels of indentation.
func newline(out []byte, depth int) []byte {
	out = append(out, '\n')
	for range depth {
		out = append(out, Indent...)
	}
	return out
}

// stringEnd returns the index just past the string that starts at
// src[i], a double quote.
func stringEnd(src []byte, i int) int {
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++ // the escaped byte, which may be a quote
		case '"':
			return i + 1
		}
	}
	return i
}

// valueEnd returns the index just past the compact value that starts at
// src[i].
func valueEnd(src []byte, i int) int {
	open := 0
	for ; i < len(src); i++ {
		switch src[i] {
		case '"':
			i = stringEnd(src, i) - 1
		case '{', '[':
			open++
		case '}', ']':
			if open == 0 { // the end of the enclosing array: a literal or number ends here
				return i
			}
			if open--; open == 0 {
				return i + 1
			}
		case ',':
			if open == 0 {
				return i
			}
		}
	}
	return i
}

// AtLeast returns the bytes the items take when Marshal writes them as the
// elements of an array, each on its own line indented depth levels (2 for
// a list that is a member of the top-level object): every item compact,
// with its indentation, its separating comma and its newline. That is
// exactly what the items add to the payload, and a lower bound of the
// payload's size. It returns a number above limit as soon as the sum
// passes it: it stops early, so a list of 60,000 entries that cannot fit
// costs only as much as the entries that fit. It encodes by reflection;
// EncodeList is the same bound for a list of Appenders.
func AtLeast[T any](items []T, depth, limit int) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	var buf bytes.Buffer // reused: one item at a time
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Encode ends each item in a newline, as in place; in place an item
	// also has its indentation and, but for the last, a comma.
	n := -len(",")
	for i := range items {
		buf.Reset()
		if err := enc.Encode(&items[i]); err != nil {
			return 0, err
		}
		n += depth*len(Indent) + buf.Len() + len(",")
		if n > limit {
			return n, nil
		}
	}
	return n, nil
}

// Validator compiles a JSON schema once, lazily, and validates payloads
// against it. It is safe for concurrent use.
type Validator struct {
	invalid error
	compile func() (*jsonschema.Schema, error)
}

// NewValidator returns a validator of the schema document, known by url,
// whose errors for rejected payloads wrap invalid.
func NewValidator(url string, schema []byte, invalid error) *Validator {
	return &Validator{invalid: invalid, compile: sync.OnceValues(func() (*jsonschema.Schema, error) {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
		if err != nil {
			return nil, fmt.Errorf("reading schema %s: %w", url, err)
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("adding schema %s: %w", url, err)
		}
		sch, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("compiling schema %s: %w", url, err)
		}
		return sch, nil
	})}
}

// Validate checks that payload is one JSON document that the schema
// accepts. A payload the schema rejects, or that is not JSON, gives an error
// wrapping the validator's invalid error; a schema that does not compile gives an error that
// does not.
func (v *Validator) Validate(payload []byte) error {
	sch, err := v.compile()
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%w: not JSON: %w", v.invalid, err)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("%w: %w", v.invalid, err)
	}
	return nil
}
