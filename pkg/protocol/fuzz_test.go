package protocol

import (
	"testing"
	"time"
)

// FuzzParseSignature checks that no header makes the parser panic or accept
// a header that breaks its limits, and that whatever it accepts verifies
// only with the right key.
func FuzzParseSignature(f *testing.F) {
	f.Add(Sign(now, body, key1))
	f.Add(Sign(now, body, key1, key2) + ",v2=x")
	f.Add("t=1,v1=")
	f.Add("t=,v1=,=,")
	f.Fuzz(func(t *testing.T, h string) {
		s, err := ParseSignature(h)
		if err != nil {
			return
		}
		if len(h) > MaxHeaderBytes || len(s.V1) == 0 || len(s.V1) > MaxSignatures || s.Timestamp == "" {
			t.Fatalf("ParseSignature(%q) accepted %+v", h, s)
		}
		for _, v := range s.V1 {
			if len(v) != 32 {
				t.Fatalf("v1 entry of %d bytes accepted", len(v))
			}
		}
		if Verify(h, body, s.Time, [][]byte{[]byte("a key nobody signed with")}) == nil {
			t.Fatalf("header %q verifies with a key it was not signed with", h)
		}
		_ = s.Time.Add(time.Second)
	})
}
