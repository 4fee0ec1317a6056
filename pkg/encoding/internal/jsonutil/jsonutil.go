// Package jsonutil holds what the payload encoders share: one way to write
// JSON, a cheap lower bound on the size of a list before it is written, and
// schema validation.
package jsonutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Indent is the indentation of every payload.
const Indent = "  "

// Marshal writes v as JSON indented by two spaces, ending in a newline,
// without HTML escaping (payloads are not embedded in HTML, and "<" is
// easier to read than "\u003c").
func Marshal(v any) ([]byte, error) {
	return marshal(v, "")
}

func marshal(v any, prefix string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, Indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// AtLeast returns a lower bound of the bytes the items take when Marshal
// writes them as an array nested depth levels deep, or a number above limit
// as soon as the bound passes it: it stops early, so a list of 60,000
// entries that cannot fit costs only as much as the entries that fit.
// Each item is written exactly as Marshal would write it in place, minus
// its leading indentation and the separating comma, so the bound is safe
// for skipping candidates that cannot fit.
func AtLeast[T any](items []T, depth, limit int) (int, error) {
	prefix := string(bytes.Repeat([]byte(Indent), depth))
	n := 0
	for i := range items {
		b, err := marshal(&items[i], prefix)
		if err != nil {
			return 0, err
		}
		n += len(b) - 1 // the encoder's trailing newline is not in place
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
