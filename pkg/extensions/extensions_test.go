package extensions

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/vocab"
)

const (
	object = "ConfigMap cattle-telemetry/extensions"
	field  = "data.extensions.json"
)

func TestKeyAndValueRules(t *testing.T) {
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	tests := []struct {
		name, key, value string
		want             error // nil: kept
	}{
		{"a name", "team", "platform", nil},
		{"a prefixed name", "example.com/tier", "gold", nil},
		{"a name with dots, dashes and underscores", "cost.center_id-2", "4711", nil},
		{"an upper-case name", "Team", "a", nil},
		{"a name of 63 characters", long("n", 63), "a", nil},
		{"a prefix of 253 characters", long("a", 63) + "." + long("b", 63) + "." + long("c", 63) + "." + long("d", 61) + "/n", "a", nil},
		{"a version value", "rancher.example/release", "v2.12.1+up1", nil},
		{"a value of 64 bytes", "k", long("v", 64), nil},
		{"an empty key", "", "a", ErrKey},
		{"a name of 64 characters", long("n", 64), "a", ErrKey},
		{"a prefix over 253 characters", long("a", 63) + "." + long("b", 63) + "." + long("c", 63) + "." + long("d", 62) + "/n", "a", ErrKey},
		{"two slashes", "a/b/c", "a", ErrKey},
		{"an empty prefix", "/name", "a", ErrKey},
		{"an upper-case prefix", "Example.com/tier", "a", ErrKey},
		{"a name ending in a dot", "team.", "a", ErrKey},
		{"a blank in the key", "my team", "a", ErrKey},
		{"a value over 64 bytes", "k", long("v", 65), ErrValueTooLong},
		{"an empty value", "k", "", ErrValue},
		{"a host name", "k", "db1.corp.example", ErrValue},
		{"an e-mail", "k", "bob@corp.example", ErrValue},
		{"an IPv4 address", "k", "10.1.2.3", ErrValue},
		{"an IPv6 address", "k", "fd00::1", ErrValue},
		{"an address with hyphens", "k", "ip-10-1-2-3", ErrValue},
		{"free text", "k", "Bob's cluster", ErrValue},
		{"a URL", "k", "https://x.example", ErrValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := fmt.Sprintf(`{"good": "kept", %q: %q}`, tt.key, tt.value)
			if tt.key == "good" {
				t.Fatal("the table's keys must differ from the valid one")
			}
			res := Parse(object, field, []byte(doc))
			kept := slices.Contains(res.Pairs, snapshot.Extension{Key: tt.key, Value: tt.value})
			if !slices.Contains(res.Pairs, snapshot.Extension{Key: "good", Value: "kept"}) {
				t.Errorf("the valid pair was not kept: %v", res.Pairs)
			}
			if tt.want == nil {
				if !kept || res.Refused != 0 || len(res.Problems) != 0 {
					t.Errorf("pairs %v, refused %d, problems %v: want it kept", res.Pairs, res.Refused, res.Problems)
				}
				return
			}
			if kept || res.Refused != 1 || len(res.Problems) != 1 {
				t.Fatalf("pairs %v, refused %d, problems %v: want it refused", res.Pairs, res.Refused, res.Problems)
			}
			p := res.Problems[0]
			if !errors.Is(p, tt.want) || p.Object != object || !strings.HasPrefix(p.Field, field+"[") {
				t.Errorf("problem %v (object %q, field %q), want %v of %s %s[...]", p, p.Object, p.Field, tt.want, object, field)
			}
			if !strings.Contains(p.Error(), clip(tt.key)) {
				t.Errorf("problem %q does not name the key %q", p.Error(), tt.key)
			}
		})
	}
}

// TestKeyRuleAdmitsEveryKeptKey: the report schema's key rule, which is
// looser than IsQualifiedName, admits every key Parse keeps.
func TestKeyRuleAdmitsEveryKeptKey(t *testing.T) {
	rule := vocab.ExtensionKeyRule()
	for _, k := range []string{"a", "team", "A.b_c-d", "example.com/x", strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) + "/" + strings.Repeat("n", 63)} {
		if len(validation.IsQualifiedName(k)) != 0 {
			t.Fatalf("%q is no qualified name", k)
		}
		if !rule.Allows(k) {
			t.Errorf("the key rule refuses %q", k)
		}
	}
}

func TestTooManyKeysKeepsTheFirstInKeyOrder(t *testing.T) {
	var members []string
	for i := MaxKeys + 2; i > 0; i-- { // written in reverse order
		members = append(members, fmt.Sprintf(`"k%03d": "v%d"`, i, i))
	}
	members = append(members, `"bad key": "x"`)
	res := Parse(object, field, []byte("{"+strings.Join(members, ",")+"}"))
	if len(res.Pairs) != MaxKeys || res.Pairs[0].Key != "k001" || res.Pairs[MaxKeys-1].Key != fmt.Sprintf("k%03d", MaxKeys) {
		t.Fatalf("kept %d pairs from %v to %v, want k001 to k%03d", len(res.Pairs), res.Pairs[0], res.Pairs[len(res.Pairs)-1], MaxKeys)
	}
	if !slices.IsSortedFunc(res.Pairs, func(a, b snapshot.Extension) int { return strings.Compare(a.Key, b.Key) }) {
		t.Error("pairs are not sorted by key")
	}
	if res.Refused != 3 || len(res.Problems) != 3 {
		t.Fatalf("refused %d, problems %v; want the invalid key and two over the limit", res.Refused, res.Problems)
	}
	var tooMany []string
	for _, p := range res.Problems {
		if errors.Is(p, ErrTooMany) {
			tooMany = append(tooMany, p.Field)
		}
	}
	want := []string{fmt.Sprintf(`%s["k%03d"]`, field, MaxKeys+1), fmt.Sprintf(`%s["k%03d"]`, field, MaxKeys+2)}
	if !slices.Equal(tooMany, want) {
		t.Errorf("too many: %v, want %v", tooMany, want)
	}
}

func TestDocumentErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":      `{"a": `,
		"an array":      `["a"]`,
		"a string":      `"a=b"`,
		"null":          `null`,
		"over the size": `{"a": "` + strings.Repeat("b", MaxDocumentBytes) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			res := Parse(object, field, []byte(doc))
			if len(res.Pairs) != 0 || res.Refused != 1 || len(res.Problems) != 1 || !errors.Is(res.Problems[0], ErrDocument) || res.Problems[0].Field != field {
				t.Errorf("pairs %v, refused %d, problems %v; want one ErrDocument at %s", res.Pairs, res.Refused, res.Problems, field)
			}
		})
	}
	for _, empty := range []string{"", " \n"} {
		if res := Parse(object, field, []byte(empty)); len(res.Pairs)+res.Refused+len(res.Problems) != 0 {
			t.Errorf("Parse(%q) = %+v, want nothing", empty, res)
		}
	}
}

func TestValueNotAString(t *testing.T) {
	res := Parse(object, field, []byte(`{"n": 1, "b": true, "o": {}, "s": "ok"}`))
	if !slices.Equal(res.Pairs, []snapshot.Extension{{Key: "s", Value: "ok"}}) || res.Refused != 3 {
		t.Fatalf("pairs %v, refused %d", res.Pairs, res.Refused)
	}
	for _, p := range res.Problems {
		if !errors.Is(p, ErrValue) {
			t.Errorf("problem %v, want ErrValue", p)
		}
	}
}
