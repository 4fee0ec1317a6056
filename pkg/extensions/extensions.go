// Package extensions reads the operator's extensions: key/value pairs that
// the report carries as they are, from the key extensions.json of a
// ConfigMap in the telemetry namespace (see Watch) or from a file (the
// payload command's --extensions-file). Both hold one JSON object of key to
// string value.
//
// Keys are [prefix/]name as Kubernetes label keys are: the prefix a DNS
// subdomain, the name at most 63 letters, digits, "-", "_" or "." that
// start and end with a letter or digit. Values follow the rule of
// vocab.Extension: a word of at most three parts joined by "-" or "_", or a
// version, at most 64 bytes, so that no host name, address, e-mail or free
// text can be attached. At most MaxKeys pairs are kept.
//
// A pair that breaks a rule is refused with an error that names its key;
// the other pairs are still reported. The pairs are sorted by key, so the
// same document always gives the same report.
package extensions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/vocab"
)

// Key is the ConfigMap data key that holds the extensions: a ConfigMap
// data key cannot hold the "/" of a prefixed extension key.
const Key = "extensions.json"

// Limits of what a document may hold.
const (
	// MaxKeys is how many pairs are kept: the first ones in key order.
	MaxKeys = 64
	// MaxValueBytes bounds a value.
	MaxValueBytes = vocab.ExtensionMaxLength
	// MaxDocumentBytes bounds the document read: MaxKeys pairs of the
	// longest keys and values with room to spare; a larger one is refused
	// whole.
	MaxDocumentBytes = 64 << 10
)

// Errors, for errors.Is.
var (
	// ErrDocument means the document is not one JSON object, or is larger
	// than MaxDocumentBytes: no pair is read.
	ErrDocument = errors.New("extensions must be one JSON object of key to string value")
	// ErrKey marks a key that is not [prefix/]name.
	ErrKey = errors.New("invalid extension key")
	// ErrValueTooLong marks a value over MaxValueBytes.
	ErrValueTooLong = errors.New("extension value too long")
	// ErrValue marks a value that is not a string or breaks the value rule.
	ErrValue = errors.New("invalid extension value")
	// ErrTooMany marks a valid pair beyond the first MaxKeys.
	ErrTooMany = errors.New("too many extensions")
)

// Result is what a document gave: the pairs kept, sorted by key, and one
// problem per pair refused (or one for a document that could not be read).
type Result struct {
	Pairs []snapshot.Extension
	// Refused counts the pairs refused; a document that could not be read
	// counts as one.
	Refused  int
	Problems []snapshot.Problem
}

// Parse reads a document. object and field name where it came from in the
// problems, e.g. "ConfigMap cattle-telemetry/extensions" and
// "data.extensions.json"; a key's problem is at field["key"]. An empty
// document holds no pairs.
func Parse(object, field string, data []byte) Result {
	var res Result
	if len(bytes.TrimSpace(data)) == 0 {
		return res
	}
	var doc map[string]json.RawMessage
	err := json.Unmarshal(data, &doc)
	switch {
	case len(data) > MaxDocumentBytes:
		err = fmt.Errorf("%w: %d bytes, over the limit of %d", ErrDocument, len(data), MaxDocumentBytes)
	case err != nil || doc == nil:
		err = fmt.Errorf("%w: %v", ErrDocument, errOrNull(err))
	}
	if err != nil {
		res.Refused = 1
		res.Problems = []snapshot.Problem{{Object: object, Field: field, Err: err}}
		return res
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	refuse := func(key string, err error) {
		res.Refused++
		res.Problems = append(res.Problems, snapshot.Problem{Object: object, Field: field + "[" + strconv.Quote(clip(key)) + "]", Err: err})
	}
	for _, k := range keys {
		v, err := check(k, doc[k])
		switch {
		case err != nil:
			refuse(k, err)
		case len(res.Pairs) == MaxKeys:
			refuse(k, fmt.Errorf("%w: key %q: only the first %d keys in sorted order are kept", ErrTooMany, clip(k), MaxKeys))
		default:
			res.Pairs = append(res.Pairs, snapshot.Extension{Key: k, Value: v})
		}
	}
	return res
}

func errOrNull(err error) any {
	if err == nil {
		return "null"
	}
	return err
}

// check returns the value of the pair key: raw, or an error naming the key.
func check(key string, raw json.RawMessage) (string, error) {
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return "", fmt.Errorf("%w %q: %s", ErrKey, clip(key), strings.Join(errs, "; "))
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("%w: key %q: the value is not a string", ErrValue, key)
	}
	if len(v) > MaxValueBytes {
		return "", fmt.Errorf("%w: key %q: the value is %d bytes, over the limit of %d", ErrValueTooLong, key, len(v), MaxValueBytes)
	}
	if !vocab.RuleOf(vocab.Extension).Allows(v) {
		return "", fmt.Errorf("%w: key %q: the value must be a word of at most three parts joined by \"-\" or \"_\", or a version", ErrValue, key)
	}
	return v, nil
}

// clip shortens a key for an error message: an invalid key may be long.
func clip(s string) string {
	const n = 80
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
