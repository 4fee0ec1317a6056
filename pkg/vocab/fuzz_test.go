package vocab

import (
	"testing"
)

// checkAllowed fails t unless Clean(k, in) is a value RuleOf(k) allows,
// which bounds its length, and cleaning that value again keeps it (but for
// the stand-ins Other and Unknown, which vocabularies do not list as input).
func checkAllowed(t *testing.T, k Kind, in string) {
	t.Helper()
	out, _ := Clean(k, in)
	if !RuleOf(k).Allows(out) {
		t.Fatalf("Clean(%s, %q) = %q, which its rule does not allow", k, in, out)
	}
	if k == Runtime || k == KubeletMinor || out == Other || out == Unknown {
		return // their output is a family or a minor, not an input of the same form
	}
	if again, replaced := Clean(k, out); again != out || replaced {
		t.Fatalf("Clean(%s, %q) = %q, but cleaning that gives %q, %v", k, in, out, again, replaced)
	}
}

// FuzzVersion checks that whatever a version setting holds, what a payload
// gets is allowed by the version rule.
func FuzzVersion(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		checkAllowed(t, Version, in)
		checkAllowed(t, KubeletMinor, in)
		if core, ok := ReleaseCore(in); ok && !CoreRule().Allows(core) {
			t.Fatalf("ReleaseCore(%q) = %q, which CoreRule does not allow", in, core)
		}
	})
}

// FuzzServerURL checks that whatever the server-url setting holds, what a
// payload gets is allowed by the server URL rule.
func FuzzServerURL(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		checkAllowed(t, ServerURL, in)
	})
}

// FuzzClean checks every kind with the same input.
func FuzzClean(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		for _, k := range Kinds() {
			checkAllowed(t, k, in)
		}
	})
}
