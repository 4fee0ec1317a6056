package gatherer

import (
	"errors"
	"math"
	"testing"
)

func TestParseCPU(t *testing.T) {
	tests := []struct {
		raw     string
		want    int64
		wantErr error
	}{
		{raw: "500m", want: 500},
		{raw: "3500m", want: 3500},
		{raw: "2", want: 2000},
		{raw: "0.5", want: 500},
		{raw: "64", want: 64000},
		{raw: "1k", want: 1000000},
		{raw: "", wantErr: ErrNoCPU},
		{raw: "abc", wantErr: ErrBadCPU},
		{raw: "-1", wantErr: ErrOutOfRange},
		{raw: "-4", wantErr: ErrBadCPU},
		{raw: "0", wantErr: ErrOutOfRange},
		{raw: "1e30", wantErr: ErrOutOfRange},
		{raw: "16384", want: MaxNodeMillicores},
		{raw: "16385", wantErr: ErrOutOfRange},
		{raw: "12345678901234567890", wantErr: ErrOutOfRange},
		{raw: "0.0001m", want: 1},
	}
	for _, tt := range tests {
		t.Run("cpu "+tt.raw, func(t *testing.T) {
			got, err := ParseCPU(tt.raw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseCPU(%q) error = %v, want %v", tt.raw, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("ParseCPU(%q) = %d, want %d", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		raw     string
		want    int64
		wantErr error
	}{
		{raw: "15437428Ki", want: 15437428 * 1024},
		{raw: "129e6", want: 129000000},
		{raw: "8G", want: 8000000000},
		{raw: "1.5Gi", want: 1610612736},
		{raw: "1024", want: 1024},
		{raw: "1.5", want: 2},
		{raw: "", wantErr: ErrNoMemory},
		{raw: "eight", wantErr: ErrBadMemory},
		{raw: "-8Gi", wantErr: ErrBadMemory},
		{raw: "-1Gi", wantErr: ErrOutOfRange},
		{raw: "0", wantErr: ErrOutOfRange},
		{raw: "2Ei", wantErr: ErrOutOfRange},
		{raw: "1Ei", wantErr: ErrOutOfRange},
		{raw: "8Ei", wantErr: ErrOutOfRange},
		{raw: "4Pi", want: MaxNodeBytes},
		{raw: "4097Ti", wantErr: ErrOutOfRange},
		{raw: "12345678901234567890", wantErr: ErrOutOfRange},
	}
	for _, tt := range tests {
		t.Run("memory "+tt.raw, func(t *testing.T) {
			got, err := ParseMemory(tt.raw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseMemory(%q) error = %v, want %v", tt.raw, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("ParseMemory(%q) = %d, want %d", tt.raw, got, tt.want)
			}
		})
	}
}

func TestQuantityMemoReturnsSameErrors(t *testing.T) {
	m := newQuantityMemo()
	for range 2 {
		if _, err := m.CPU("abc"); !errors.Is(err, ErrBadCPU) {
			t.Fatalf("memo CPU error = %v, want ErrBadCPU", err)
		}
		if v, err := m.Memory("8G"); err != nil || v != 8000000000 {
			t.Fatalf("memo Memory = %d, %v", v, err)
		}
	}
}

func TestSumsRefuseOverflowAndStayUnchanged(t *testing.T) {
	var s sums
	if !s.add(1, 1, math.MaxInt64-10) {
		t.Fatal("first addition refused")
	}
	before := s
	if s.add(1, 1, 11) {
		t.Fatal("an overflowing addition was accepted")
	}
	if s != before {
		t.Fatalf("sums changed by a refused addition: %+v, was %+v", s, before)
	}
	if !s.add(1, 1, 10) || s.bytes != math.MaxInt64 {
		t.Fatalf("an addition that fits exactly was refused: %+v", s)
	}
}
