package cli

import (
	"bytes"
	"errors"
	"runtime/metrics"
	"testing"
)

// fuzzLimits keep one call small, so that a blow-up shows as allocation far
// above the input's size.
var fuzzLimits = LoadOptions{MaxInputBytes: 64 << 10, MaxObjectBytes: 16 << 10, IdentityName: "telemetry-identity"}

// fuzzMaxAlloc is what one call may allocate at most: generous for what
// 64 KiB of objects need, far below what an unbounded alias expansion takes.
const fuzzMaxAlloc = 256 << 20

func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzLoad checks that Load never panics, stays within a bounded amount of
// memory, and returns either objects or an error wrapping ErrInput.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(listYAML))
	f.Add([]byte(listJSON))
	f.Add([]byte(documentsYAML))
	f.Fuzz(func(t *testing.T, in []byte) {
		before := allocated()
		d, err := Load("fuzz.yaml", bytes.NewReader(in), fuzzLimits)
		if used := allocated() - before; used > fuzzMaxAlloc {
			t.Fatalf("Load allocated %d bytes for %d bytes of input", used, len(in))
		}
		if err != nil {
			if !errors.Is(err, ErrInput) {
				t.Fatalf("error %v does not wrap ErrInput", err)
			}
			if d != nil {
				t.Fatal("Load returned objects and an error")
			}
			return
		}
		if d == nil || d.Static == nil {
			t.Fatal("Load returned neither objects nor an error")
		}
	})
}
