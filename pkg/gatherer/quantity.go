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
)

// maxMillis bounds a CPU quantity so that millicores fit in an int64 with room
// for sums over 60,000 nodes.
const maxMillis = math.MaxInt64 / (1 << 20)

// ParseCPU returns the exact millicores of a CPU quantity: "500m" is 500,
// "3500m" is 3500, "2" is 2000.
func ParseCPU(raw string) (int64, error) {
	if raw == "" {
		return 0, ErrNoCPU
	}
	q, err := resource.ParseQuantity(raw)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadCPU, raw)
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%w: %q is negative", ErrBadCPU, raw)
	}
	if q.CmpInt64(maxMillis/1000) > 0 {
		return 0, fmt.Errorf("%w: %q is out of range", ErrBadCPU, raw)
	}
	return q.MilliValue(), nil
}

// maxBytes bounds a memory quantity (1 EiB per node) so sums cannot overflow.
const maxBytes = 1 << 60

// ParseMemory returns the exact bytes of a memory quantity: "15437428Ki",
// "129e6", "8G" and "1.5Gi" all come out exact. A fractional byte count is
// rounded up.
func ParseMemory(raw string) (int64, error) {
	if raw == "" {
		return 0, ErrNoMemory
	}
	q, err := resource.ParseQuantity(raw)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadMemory, raw)
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%w: %q is negative", ErrBadMemory, raw)
	}
	if q.CmpInt64(maxBytes) > 0 {
		return 0, fmt.Errorf("%w: %q is out of range", ErrBadMemory, raw)
	}
	return q.Value(), nil
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
