package summary

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
)

// golden reads a report of the report package's testdata.
func golden(t *testing.T, name string) report.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "encoding", "report", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func withTotals(r report.Report, nodes, cores, memory int64) report.Report {
	r.Totals.Nodes, r.Totals.CPUCores, r.Totals.MemoryBytes = nodes, cores, memory
	return r
}

func withVersion(r report.Report, v string) report.Report {
	r.Install.Version = v
	return r
}

// want is a summary as JSON, so that expected sums are written as the
// exact decimal numbers a client reads.
func TestCompute(t *testing.T) {
	sample := golden(t, "sample.golden.json")
	aggregated := golden(t, "aggregated.golden.json")
	for _, tc := range []struct {
		name    string
		reports []report.Report
		want    string
	}{
		{
			name:    "no reports gives zeros and empty breakdowns",
			reports: nil,
			want:    `{"installs":0,"clusters":0,"nodes":0,"cpuCores":0,"memoryBytes":0,"byArch":[],"byKubernetesMinor":[],"byVersion":[],"byDriver":[]}`,
		},
		{
			name:    "one report counts its clusters, profiles and version",
			reports: []report.Report{sample},
			want: `{"installs":1,"clusters":4,"nodes":9,"cpuCores":38,"memoryBytes":158019186688,` +
				`"byArch":[{"key":"amd64","count":7},{"key":"arm64","count":2}],` +
				`"byKubernetesMinor":[{"key":"v1.31","count":2},{"key":"v1.30","count":1},{"key":"v1.32","count":1}],` +
				`"byVersion":[{"key":"v2.12.1","count":1}],` +
				`"byDriver":[{"key":"AKS","count":1},{"key":"EKS","count":1},{"key":"imported","count":1},{"key":"rke2","count":1}]}`,
		},
		{
			name:    "aggregated clusters count by group count",
			reports: []report.Report{aggregated},
			want: `{"installs":1,"clusters":40,"nodes":100,"cpuCores":400,"memoryBytes":1717986918400,` +
				`"byArch":[{"key":"amd64","count":100}],` +
				`"byKubernetesMinor":[{"key":"v1.32","count":40}],` +
				`"byVersion":[{"key":"v2.12.1","count":1}],` +
				`"byDriver":[{"key":"rke2","count":40}]}`,
		},
		{
			name:    "installs add up across formats and versions",
			reports: []report.Report{sample, withVersion(aggregated, "v2.11.0"), withVersion(sample, "")},
			want: `{"installs":3,"clusters":48,"nodes":118,"cpuCores":476,"memoryBytes":2034025291776,` +
				`"byArch":[{"key":"amd64","count":114},{"key":"arm64","count":4}],` +
				`"byKubernetesMinor":[{"key":"v1.32","count":42},{"key":"v1.31","count":4},{"key":"v1.30","count":2}],` +
				`"byVersion":[{"key":"unknown","count":1},{"key":"v2.11.0","count":1},{"key":"v2.12.1","count":1}],` +
				`"byDriver":[{"key":"rke2","count":42},{"key":"AKS","count":2},{"key":"EKS","count":2},{"key":"imported","count":2}]}`,
		},
		{
			// 2^53+1 is the first integer a float64 cannot hold; three
			// times MaxInt64 is past 64 bits.
			name: "sums are exact past float64 precision and past 64 bits",
			reports: []report.Report{
				withTotals(sample, 1<<53+1, math.MaxInt64, math.MaxInt64),
				withTotals(sample, 0, math.MaxInt64, math.MaxInt64),
				withTotals(sample, 2, math.MaxInt64, 1),
			},
			want: `{"installs":3,"clusters":12,"nodes":9007199254740995,"cpuCores":27670116110564327421,"memoryBytes":18446744073709551615,` +
				`"byArch":[{"key":"amd64","count":21},{"key":"arm64","count":6}],` +
				`"byKubernetesMinor":[{"key":"v1.31","count":6},{"key":"v1.30","count":3},{"key":"v1.32","count":3}],` +
				`"byVersion":[{"key":"v2.12.1","count":3}],` +
				`"byDriver":[{"key":"AKS","count":3},{"key":"EKS","count":3},{"key":"imported","count":3},{"key":"rke2","count":3}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(Compute(tc.reports))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestMinor(t *testing.T) {
	for in, want := range map[string]string{
		"v1.32.4+rke2r1":       "v1.32",
		"1.30.11-eks-473151a":  "v1.30",
		"v1.31":                "v1.31",
		"":                     Unknown,
		"other":                Other,
		"v1":                   Other,
		"vx.1.2":               Other,
		"v1.x.2":               Other,
		"v1.1234567.0":         Other,
		"v<script>.1":          Other,
		"v1.32.4-gke.100":      "v1.32",
		"v10.0.0-rc1+k3s1":     "v10.0",
		"v1..2":                Other,
		"v01.2.3 (not semver)": "v01.2",
	} {
		if got := Minor(in); got != want {
			t.Errorf("Minor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCountJSONRoundTrip(t *testing.T) {
	var c Count
	for range 5 {
		c.Add(math.MaxInt64)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "46116860184273879035" {
		t.Fatalf("5 x MaxInt64 = %s", b)
	}
	var back Count
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Fatalf("round trip: %v, %v != %v", err, back, c)
	}
	for _, bad := range []string{"-1", "1.5", `"1"`, "340282366920938463463374607431768211456"} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}
