package extensions

import (
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/vocab"
)

// qualifiedName is the key grammar written out by hand, apart from the
// validation library and the schema's pattern that Parse and the report
// use: [prefix/]name, the prefix a DNS subdomain (at most 253 bytes, dot-
// separated labels of lower-case letters, digits and "-" that start and end
// with a letter or digit), the name 1 to 63 letters, digits, "-", "_" or
// "." that start and end with a letter or digit.
func qualifiedName(key string) bool {
	prefix, name, found := strings.Cut(key, "/")
	if !found {
		prefix, name = "", key
	} else if prefix == "" || len(prefix) > 253 || !subdomain(prefix) {
		return false
	}
	if len(name) == 0 || len(name) > 63 || !alnum(name[0]) || !alnum(name[len(name)-1]) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func subdomain(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || !lowerAlnum(label[0]) || !lowerAlnum(label[len(label)-1]) {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !lowerAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

func lowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func alnum(c byte) bool      { return lowerAlnum(c) || c >= 'A' && c <= 'Z' }

// checkValue fails t unless a kept value obeys the free-text rules: at most
// MaxValueBytes of letters, digits and "-_.+", no address, and a dot only
// in a version (which starts with a digit or "v" and a digit).
func checkValue(t *testing.T, key, v string) {
	t.Helper()
	if v == "" || len(v) > MaxValueBytes || !vocab.RuleOf(vocab.Extension).Allows(v) {
		t.Fatalf("kept %q = %q, which the value rule refuses", key, v)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !alnum(c) && !strings.ContainsRune("-_.+", rune(c)) {
			t.Fatalf("kept %q = %q, which holds %q", key, v, c)
		}
	}
	if net.ParseIP(v) != nil {
		t.Fatalf("kept %q = %q, an IP address", key, v)
	}
	if strings.Contains(v, ".") {
		d := strings.TrimPrefix(v, "v")
		if d == "" || d[0] < '0' || d[0] > '9' {
			t.Fatalf("kept %q = %q: a dot outside a version", key, v)
		}
	}
}

// FuzzKeyValue checks Parse on one pair against the rules written out by
// hand: the pair is kept exactly when the key is [prefix/]name and the
// value passes the free-text rule, a kept key is one the report schema's
// key rule admits, and a refused pair gives one problem with the sentinel
// of its first broken rule.
func FuzzKeyValue(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value string) {
		doc, err := json.Marshal(map[string]string{key: value})
		if err != nil {
			t.Fatal(err)
		}
		// JSON holds valid UTF-8 only: Marshal replaced invalid bytes, so
		// the pair under test is what the document says.
		var m map[string]string
		if err := json.Unmarshal(doc, &m); err != nil || len(m) != 1 {
			t.Fatalf("decoding %s: %v, %v", doc, m, err)
		}
		for key, value = range m {
		}
		res := Parse(object, field, doc)
		validKey := qualifiedName(key)
		wantKept := validKey && len(value) <= MaxValueBytes && vocab.RuleOf(vocab.Extension).Allows(value)
		if wantKept {
			if !slices.Equal(res.Pairs, []snapshot.Extension{{Key: key, Value: value}}) || res.Refused != 0 || len(res.Problems) != 0 {
				t.Fatalf("Parse(%s) = %+v, want the pair kept", doc, res)
			}
			if !vocab.ExtensionKeyRule().Allows(key) {
				t.Fatalf("kept key %q, which the report's key rule refuses", key)
			}
			checkValue(t, key, value)
			return
		}
		if len(res.Pairs) != 0 || res.Refused != 1 || len(res.Problems) != 1 {
			t.Fatalf("Parse(%s) = %+v, want the pair refused", doc, res)
		}
		want := ErrValue
		switch {
		case !validKey:
			want = ErrKey
		case len(value) > MaxValueBytes:
			want = ErrValueTooLong
		}
		if p := res.Problems[0]; !errors.Is(p, want) || p.Object != object || !strings.HasPrefix(p.Field, field+"[") {
			t.Fatalf("Parse(%s): problem %v at %s %s, want %v at %s %s[...]", doc, p, p.Object, p.Field, want, object, field)
		}
	})
}

// FuzzParse checks Parse on whole documents: every key is either kept or
// refused once, what is kept obeys the key and value rules, is sorted,
// unique and at most MaxKeys, each problem has a sentinel, and writing the
// kept pairs out as a document and parsing that again keeps the same
// pairs and refuses none.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		res := Parse(object, field, data)
		if res.Refused != len(res.Problems) {
			t.Fatalf("refused %d, but %d problems", res.Refused, len(res.Problems))
		}
		if len(res.Pairs) > MaxKeys {
			t.Fatalf("kept %d pairs, over %d", len(res.Pairs), MaxKeys)
		}
		var doc map[string]json.RawMessage
		if len(data) <= MaxDocumentBytes && json.Unmarshal(data, &doc) == nil && doc != nil {
			if n := len(res.Pairs) + res.Refused; n != len(doc) {
				t.Fatalf("%d keys, but %d kept and %d refused", len(doc), len(res.Pairs), res.Refused)
			}
		} else if len(res.Pairs) != 0 || res.Refused > 1 {
			t.Fatalf("a document that is no object gave %+v", res)
		}
		for i, p := range res.Pairs {
			if i > 0 && res.Pairs[i-1].Key >= p.Key {
				t.Fatalf("pairs not sorted and unique: %q then %q", res.Pairs[i-1].Key, p.Key)
			}
			if !qualifiedName(p.Key) || !vocab.ExtensionKeyRule().Allows(p.Key) {
				t.Fatalf("kept key %q, which is no [prefix/]name", p.Key)
			}
			checkValue(t, p.Key, p.Value)
		}
		for _, p := range res.Problems {
			if !errors.Is(p, ErrDocument) && !errors.Is(p, ErrKey) && !errors.Is(p, ErrValue) && !errors.Is(p, ErrValueTooLong) && !errors.Is(p, ErrTooMany) {
				t.Fatalf("problem %v has no sentinel", p)
			}
		}
		kept := make(map[string]string, len(res.Pairs))
		for _, p := range res.Pairs {
			kept[p.Key] = p.Value
		}
		again, err := json.Marshal(kept)
		if err != nil {
			t.Fatal(err)
		}
		if res2 := Parse(object, field, again); res2.Refused != 0 || !slices.Equal(res2.Pairs, res.Pairs) {
			t.Fatalf("the kept pairs %v written out as %s parse to %+v", res.Pairs, again, res2)
		}
	})
}
