// Package summary computes the collector's summary over the latest report
// of each install: exact totals and breakdowns by architecture, Kubernetes
// minor version, product version and driver. It is a pure function of the
// reports, so it is tested without a server or a database.
//
// Sums are exact: each is a 128-bit unsigned integer (Count), so adding the
// int64 totals of any number of installs neither overflows nor rounds, as a
// float64 would past 2^53.
package summary

import (
	"cmp"
	"math/big"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
)

// Unknown is the key of a breakdown entry whose value was empty.
const Unknown = "unknown"

// Other is the key of a breakdown entry whose value was replaced by the
// sender or is not of the expected form.
const Other = "other"

// Count is an exact non-negative sum: 128 bits, written in JSON as a plain
// decimal integer.
type Count struct {
	hi, lo uint64
}

// CountOf returns n as a Count; a negative n counts as zero (the schema
// allows none).
func CountOf(n int64) Count {
	var c Count
	c.Add(n)
	return c
}

// Add adds n; negative values are ignored.
func (c *Count) Add(n int64) {
	if n <= 0 {
		return
	}
	c.AddCount(Count{lo: uint64(n)})
}

// AddCount adds d. 2^128 is out of reach of any sum of int64 values the
// collector could hold, so the carry out of the high word is dropped.
func (c *Count) AddCount(d Count) {
	var carry uint64
	c.lo, carry = bits.Add64(c.lo, d.lo, 0)
	c.hi, _ = bits.Add64(c.hi, d.hi, carry)
}

// Big returns c as a big.Int.
func (c Count) Big() *big.Int {
	b := new(big.Int).SetUint64(c.hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(c.lo))
}

// Cmp compares c and d: -1, 0 or +1.
func (c Count) Cmp(d Count) int {
	if r := cmp.Compare(c.hi, d.hi); r != 0 {
		return r
	}
	return cmp.Compare(c.lo, d.lo)
}

// String returns the decimal digits of c.
func (c Count) String() string {
	if c.hi == 0 {
		return strconv.FormatUint(c.lo, 10)
	}
	return c.Big().String()
}

// MarshalJSON writes c as a JSON integer.
func (c Count) MarshalJSON() ([]byte, error) {
	return []byte(c.String()), nil
}

// UnmarshalJSON reads a non-negative JSON integer of at most 128 bits.
func (c *Count) UnmarshalJSON(b []byte) error {
	n, ok := new(big.Int).SetString(string(b), 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 128 {
		return &strconv.NumError{Func: "Count.UnmarshalJSON", Num: string(b), Err: strconv.ErrRange}
	}
	lo := new(big.Int).And(n, new(big.Int).SetUint64(^uint64(0)))
	c.lo = lo.Uint64()
	c.hi = new(big.Int).Rsh(n, 64).Uint64()
	return nil
}

// Share is one entry of a breakdown.
type Share struct {
	Key   string `json:"key"`
	Count Count  `json:"count"`
}

// Summary is the answer of GET /api/v1/summary.
type Summary struct {
	// Installs counts the reports summed: one per install.
	Installs int64 `json:"installs"`
	// Clusters, Nodes, CPUCores and MemoryBytes are sums of the reports'
	// totals.
	Clusters    Count `json:"clusters"`
	Nodes       Count `json:"nodes"`
	CPUCores    Count `json:"cpuCores"`
	MemoryBytes Count `json:"memoryBytes"`
	// ByArch counts nodes by architecture: nodeProfiles[].arch weighted by
	// count. Only valid nodes have a profile, so it may sum to less than
	// Nodes.
	ByArch []Share `json:"byArch"`
	// ByKubernetesMinor counts clusters by the minor version ("v1.32") of
	// their Kubernetes version, from clusters[] or, when the report
	// aggregated its clusters, from clusterGroups[] weighted by count.
	ByKubernetesMinor []Share `json:"byKubernetesMinor"`
	// ByVersion counts installs by install.version.
	ByVersion []Share `json:"byVersion"`
	// ByDriver counts clusters by driver, like ByKubernetesMinor.
	ByDriver []Share `json:"byDriver"`
}

// Compute sums the reports, which are the latest one of each install.
// Breakdowns are sorted by count, largest first, then by key; they are
// never nil.
func Compute(reports []report.Report) Summary {
	var s Summary
	arch, minor, version, driver := tally{}, tally{}, tally{}, tally{}
	for i := range reports {
		r := &reports[i]
		s.Installs++
		s.Clusters.Add(r.Totals.Clusters)
		s.Nodes.Add(r.Totals.Nodes)
		s.CPUCores.Add(r.Totals.CPUCores)
		s.MemoryBytes.Add(r.Totals.MemoryBytes)
		version.add(key(r.Install.Version), 1)
		for _, p := range r.NodeProfiles {
			arch.add(key(p.Arch), p.Count)
		}
		if r.ClustersAggregated {
			for _, g := range r.ClusterGroups {
				minor.add(Minor(g.KubernetesVersion), g.Count)
				driver.add(key(g.Driver), g.Count)
			}
		} else {
			for _, c := range r.Clusters {
				minor.add(Minor(c.KubernetesVersion), 1)
				driver.add(key(c.Driver), 1)
			}
		}
	}
	s.ByArch, s.ByKubernetesMinor, s.ByVersion, s.ByDriver = arch.shares(), minor.shares(), version.shares(), driver.shares()
	return s
}

func key(v string) string {
	if v == "" {
		return Unknown
	}
	return v
}

// Minor returns "v<major>.<minor>" of a Kubernetes version such as
// "v1.32.4+rke2r1", Unknown for "" and Other for anything else.
func Minor(v string) string {
	if v == "" {
		return Unknown
	}
	major, rest, ok := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	if !ok || !digits(major) {
		return Other
	}
	minor, _, _ := strings.Cut(rest, ".")
	if !digits(minor) {
		return Other
	}
	return "v" + major + "." + minor
}

func digits(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

type tally map[string]*Count

func (t tally) add(k string, n int64) {
	c, ok := t[k]
	if !ok {
		c = &Count{}
		t[k] = c
	}
	c.Add(n)
}

func (t tally) shares() []Share {
	out := make([]Share, 0, len(t))
	for k, c := range t {
		out = append(out, Share{Key: k, Count: *c})
	}
	slices.SortFunc(out, func(a, b Share) int {
		if r := b.Count.Cmp(a.Count); r != 0 {
			return r
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}
