package secret

import (
	"errors"
	"strings"
	"testing"
)

// FuzzVerifySignature checks that VerifySignature accepts exactly the
// signature Sign makes (hex is read in either case) and refuses anything
// else with one of its sentinels, whatever the payload and annotation.
func FuzzVerifySignature(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte, annotation string) {
		want := Sign(signingKey, payload)
		err := VerifySignature(signingKey, payload, annotation)
		genuine := strings.HasPrefix(annotation, signaturePrefix) && strings.ToLower(annotation) == want
		switch {
		case genuine && err != nil:
			t.Fatalf("VerifySignature refused %q over %q: %v", annotation, payload, err)
		case !genuine && err == nil:
			t.Fatalf("VerifySignature accepted %q over %q; the signature is %q", annotation, payload, want)
		case err != nil && !errors.Is(err, ErrUnsigned) && !errors.Is(err, ErrBadSignature):
			t.Fatalf("error %v wraps neither ErrUnsigned nor ErrBadSignature", err)
		}
		if err := VerifySignature(signingKey, payload, want); err != nil {
			t.Fatalf("VerifySignature refused Sign's own signature over %q: %v", payload, err)
		}
	})
}
