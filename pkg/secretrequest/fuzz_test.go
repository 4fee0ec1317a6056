package secretrequest

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	telemetryv1 "github.com/rancher/telemetry-manager/pkg/apis/telemetry.cattle.io/v1"
)

// dnsLabel is RFC 1123's label written out by hand: 1 to 63 lower-case
// letters, digits or "-" that start and end with a letter or digit.
func dnsLabel(s string) bool { return len(s) <= 63 && label(s) }

// dnsSubdomain is RFC 1123's subdomain as Kubernetes checks object names:
// at most 253 bytes of labels joined by dots; Kubernetes does not bound a
// label's length there.
func dnsSubdomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !label(l) {
			return false
		}
	}
	return true
}

// label reports whether s is lower-case letters, digits or "-" that start
// and end with a letter or digit.
func label(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// FuzzValidate checks Validate on any spec against the rules written out by
// hand: a spec passes exactly when its type is scc, its target namespace a
// DNS label and its target name a DNS subdomain; a refusal wraps
// ErrInvalid, counts as invalid, and names every broken field, in order,
// and no other.
func FuzzValidate(f *testing.F) {
	f.Fuzz(func(t *testing.T, typ, namespace, name string) {
		err := Validate(spec(typ, namespace, name))
		broken := map[string]bool{
			"spec.secretType":                typ != telemetryv1.SecretTypeSCC,
			"spec.targetSecretRef.namespace": !dnsLabel(namespace),
			"spec.targetSecretRef.name":      !dnsSubdomain(name),
		}
		valid := !broken["spec.secretType"] && !broken["spec.targetSecretRef.namespace"] && !broken["spec.targetSecretRef.name"]
		if valid != (err == nil) {
			t.Fatalf("Validate(%q, %q, %q) = %v, want valid %v", typ, namespace, name, err, valid)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, ErrInvalid) || !IsInvalid(err) {
			t.Fatalf("refusal %v does not wrap ErrInvalid", err)
		}
		// The problems come in field order, each starting with its field
		// and the quoted value (or "must be set"), so that a hostile value
		// cannot pose as another problem.
		rest := err.Error()
		first := true
		for _, p := range []struct{ field, value string }{{"spec.secretType", typ}, {"spec.targetSecretRef.namespace", namespace}, {"spec.targetSecretRef.name", name}} {
			if !broken[p.field] {
				continue
			}
			if !first {
				_, after, ok := strings.Cut(rest, "; ")
				if !ok {
					t.Fatalf("Validate(%q, %q, %q) = %q: no problem for %s", typ, namespace, name, err, p.field)
				}
				rest = after
			}
			first = false
			head := p.field + " " + strconv.Quote(p.value)
			if p.value == "" && p.field != "spec.secretType" {
				head = p.field + " must be set"
			}
			if !strings.HasPrefix(rest, head) {
				t.Fatalf("Validate(%q, %q, %q) = %q: want a problem starting %q", typ, namespace, name, err, head)
			}
			rest = rest[len(head):]
		}
		if strings.Contains(rest, "; spec.") {
			t.Fatalf("Validate(%q, %q, %q) = %q: more problems than broken fields", typ, namespace, name, err)
		}
	})
}
