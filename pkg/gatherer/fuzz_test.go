package gatherer

import (
	"errors"
	"testing"
)

// FuzzParseQuantity checks the quantity rules on arbitrary text: a value is
// either accepted within the node bounds, or refused with the sentinel of
// its resource; parsing never panics.
func FuzzParseQuantity(f *testing.F) {
	for _, seed := range []string{"500m", "3500m", "15437428Ki", "129e6", "8G", "1.5Gi", "-4", "8Ei", "12345678901234567890", "1e30", "abc", "0.0001m", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if m, err := ParseCPU(raw); err == nil {
			if m <= 0 || m > MaxNodeMillicores {
				t.Fatalf("ParseCPU(%q) = %d, outside (0, %d]", raw, m, int64(MaxNodeMillicores))
			}
		} else if !errors.Is(err, ErrBadCPU) && !errors.Is(err, ErrNoCPU) {
			t.Fatalf("ParseCPU(%q) error %v wraps neither ErrBadCPU nor ErrNoCPU", raw, err)
		}
		if b, err := ParseMemory(raw); err == nil {
			if b <= 0 || b > MaxNodeBytes {
				t.Fatalf("ParseMemory(%q) = %d, outside (0, %d]", raw, b, int64(MaxNodeBytes))
			}
		} else if !errors.Is(err, ErrBadMemory) && !errors.Is(err, ErrNoMemory) {
			t.Fatalf("ParseMemory(%q) error %v wraps neither ErrBadMemory nor ErrNoMemory", raw, err)
		}
	})
}
