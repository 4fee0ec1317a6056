package gatherer

import (
	"errors"
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Sentinel errors for resource quantities. Test them with errors.Is.
var (
	ErrNoCPU     = errors.New("no CPU reported")
	ErrBadCPU    = errors.New("bad CPU format")
	ErrNoMemory  = errors.New("no memory reported")
	ErrBadMemory = errors.New("bad memory format")
	// ErrOutOfRange marks a quantity that is not positive or exceeds what
	// real hardware can have, and a sum that would not fit in 64 bits. It
	// comes wrapped together with ErrBadCPU or ErrBadMemory for a quantity.
	ErrOutOfRange = errors.New("out of range")
)

// Bounds of one node's quantities. They are far above any machine that
// exists, and low enough that sums over any number of nodes are checked
// rather than trusted:
//
//   - CPU: 16,384 cores, twice the most logical CPUs a Linux kernel can be
//     built for (NR_CPUS is at most 8,192).
//   - Memory: 4 PiB (2^52 bytes), the largest physical address space of any
//     64-bit architecture in use (52 physical address bits).
const (
	MaxNodeMillicores = 16384 * 1000
	MaxNodeBytes      = 1 << 52
)

// Bounds of a cluster's own status.capacity, used only for clusters without
// Node objects: 65,536 nodes of the largest size (memory capped so that a
// single value fits in 64 bits with room to add others).
const (
	MaxClusterMillicores = MaxNodeMillicores * 65536
	MaxClusterBytes      = 1 << 62
)

// ParseCPU returns the exact millicores of a node's CPU quantity: "500m" is
// 500, "3500m" is 3500, "2" is 2000. The quantity must be
// positive and at most MaxNodeMillicores; fractions of a millicore round up.
func ParseCPU(raw string) (int64, error) { return parseCPU(raw, MaxNodeMillicores) }

// ParseMemory returns the exact bytes of a node's memory quantity:
// "15437428Ki", "129e6", "8G" and "1.5Gi" all come out exact. It must be
// positive and at most MaxNodeBytes; a fractional byte count is rounded up.
func ParseMemory(raw string) (int64, error) { return parseMemory(raw, MaxNodeBytes) }

func parseCPU(raw string, max int64) (int64, error) {
	if raw == "" {
		return 0, ErrNoCPU
	}
	q, err := resource.ParseQuantity(raw)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadCPU, clip(raw))
	}
	// Compare before converting: MilliValue wraps for huge quantities.
	switch {
	case q.Sign() <= 0:
		return 0, fmt.Errorf("%w: %w: %q is not positive", ErrBadCPU, ErrOutOfRange, raw)
	case q.Cmp(*resource.NewMilliQuantity(max, resource.DecimalSI)) > 0:
		return 0, fmt.Errorf("%w: %w: %q is above %d cores", ErrBadCPU, ErrOutOfRange, clip(raw), max/1000)
	}
	return q.MilliValue(), nil
}

func parseMemory(raw string, max int64) (int64, error) {
	if raw == "" {
		return 0, ErrNoMemory
	}
	q, err := resource.ParseQuantity(raw)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadMemory, clip(raw))
	}
	switch {
	case q.Sign() <= 0:
		return 0, fmt.Errorf("%w: %w: %q is not positive", ErrBadMemory, ErrOutOfRange, raw)
	case q.Cmp(*resource.NewQuantity(max, resource.BinarySI)) > 0:
		return 0, fmt.Errorf("%w: %w: %q is above %d bytes", ErrBadMemory, ErrOutOfRange, clip(raw), max)
	}
	return q.Value(), nil
}

// clip shortens a quantity for an error message: a hostile one can be long.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// addChecked returns a+b, or false when the sum of two non-negative values
// does not fit in an int64.
func addChecked(a, b int64) (int64, bool) {
	if b > math.MaxInt64-a {
		return 0, false
	}
	return a + b, true
}

// sums are running totals of millicores, cores and bytes; add refuses an
// addition that would overflow, and leaves the sums unchanged then.
type sums struct {
	millis, cores, bytes int64
}

func (s *sums) add(millis, cores, bytes int64) bool {
	m, ok1 := addChecked(s.millis, millis)
	c, ok2 := addChecked(s.cores, cores)
	b, ok3 := addChecked(s.bytes, bytes)
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	s.millis, s.cores, s.bytes = m, c, b
	return true
}

// quantityMemo parses each distinct quantity text once per snapshot: large
// installations repeat the same few machine shapes thousands of times.
type quantityMemo struct {
	cpu map[string]parsed
	mem map[string]parsed
}

type parsed struct {
	v   int64
	err error
}

func newQuantityMemo() *quantityMemo {
	return &quantityMemo{cpu: map[string]parsed{}, mem: map[string]parsed{}}
}

func (m *quantityMemo) CPU(raw string) (int64, error) {
	if p, ok := m.cpu[raw]; ok {
		return p.v, p.err
	}
	v, err := ParseCPU(raw)
	m.cpu[raw] = parsed{v, err}
	return v, err
}

func (m *quantityMemo) Memory(raw string) (int64, error) {
	if p, ok := m.mem[raw]; ok {
		return p.v, p.err
	}
	v, err := ParseMemory(raw)
	m.mem[raw] = parsed{v, err}
	return v, err
}
