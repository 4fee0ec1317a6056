package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCPU(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want time.Duration
		err  error
	}{
		{
			name: "utime plus stime in clock ticks",
			stat: "4242 (telemetry-manag) S 1 4242 4242 0 -1 4194560 1 0 0 0 150 25 0 0 20 0 9 0 100 1 1",
			want: 1750 * time.Millisecond,
		},
		{
			name: "a command name with spaces and parentheses",
			stat: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 1 1",
			want: 70 * time.Millisecond,
		},
		{name: "no command name", stat: "7 R 1", err: ErrProcFormat},
		{name: "too few fields", stat: "7 (x) R 1 2 3", err: ErrProcFormat},
		{name: "a non-numeric utime", stat: "7 (x) S 1 7 7 0 -1 0 0 0 0 0 abc 4 0", err: ErrProcFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCPU(tc.stat)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("cpu %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseRSS(t *testing.T) {
	got, err := parseRSS("Name:\tx\nVmPeak:\t  9999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n")
	if err != nil || got != 12345*1024 {
		t.Errorf("rss %d, %v; want %d", got, err, 12345*1024)
	}
	if _, err := parseRSS("Name:\tx\n"); !errors.Is(err, ErrProcFormat) {
		t.Errorf("without VmRSS: err %v, want ErrProcFormat", err)
	}
}

func TestSumMetricAddsEveryLabelSetOfThatNameOnly(t *testing.T) {
	const text = `# HELP telemetry_manager_exporter_runs_total Finished runs.
# TYPE telemetry_manager_exporter_runs_total counter
telemetry_manager_exporter_runs_total{exporter="secret",result="success"} 3
telemetry_manager_exporter_runs_total{exporter="secret",result="failure"} 2
telemetry_manager_exporter_runs_total_other 100
go_memstats_heap_inuse_bytes 1.2e+07
`
	tests := []struct {
		name, metric string
		want         float64
		err          error
	}{
		{"labelled samples summed", "telemetry_manager_exporter_runs_total", 5, nil},
		{"an unlabelled sample in exponent notation", "go_memstats_heap_inuse_bytes", 12e6, nil},
		{"a missing metric", "telemetry_manager_secret_writes_total", 0, ErrNoMetric},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sumMetric(strings.NewReader(text), tc.metric)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("sum %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEachTargetIsJudgedAgainstTheBaselineOfTheSameRun(t *testing.T) {
	base := results{
		Nodes: 100, BaselineRSS: 2000 << 20, BaselineHeap: 1000 << 20, BaselineCPU: 10 * time.Second,
		Synced: 5 * time.Second,
	}
	verdicts := func(r results) []string {
		var out []string
		for _, x := range r.rows()[:5] {
			out = append(out, x.target[strings.LastIndex(x.target, " ")+1:])
		}
		return out
	}
	tests := []struct {
		name string
		set  func(*results)
		want []string
	}{
		{"every figure at its target", func(r *results) {
			r.ManagerRSS, r.ManagerHeap, r.ManagerCPU = 100<<20, 50<<20, 5*time.Second
			r.RunsCaused, r.FirstSecret = 0, 6*time.Second
		}, []string{"PASS", "PASS", "PASS", "PASS", "PASS"}},
		{"every figure past its target", func(r *results) {
			r.ManagerRSS, r.ManagerHeap, r.ManagerCPU = 100<<20+1, 50<<20+1, 5*time.Second+1
			r.RunsCaused, r.FirstSecret = 1, 6*time.Second+1
		}, []string{"MISS", "MISS", "MISS", "MISS", "MISS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			tc.set(&r)
			got := verdicts(r)
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Errorf("row %d (%s): %s, want %s", i, r.rows()[i].figure, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestSoakGrowthIsMeasuredFromTheWarmUp: growth compares the median of the
// first samples after the warm-up with the median of as many last ones
// (here 4 of the 9), so a burst during the warm-up or one outlying sample
// does not decide it, and growth over the target is a MISS.
func TestSoakGrowthIsMeasuredFromTheWarmUp(t *testing.T) {
	o := options{nodes: 10, clusters: 1, shapes: "uniform"}
	o.soak, o.warmup, o.sample = 10*time.Minute, 2*time.Minute, time.Minute
	// RSS in MiB per minute: a burst in the warm-up, one outlier at the end.
	rss := []uint64{10, 500, 100, 100, 102, 100, 101, 103, 104, 300, 103}
	var samples []soakSample
	for i, v := range rss {
		samples = append(samples, soakSample{At: time.Duration(i) * time.Minute, RSS: v << 20, Heap: 50 << 20,
			Goroutines: 100 + 2*i, CPU: time.Duration(i) * time.Second})
	}
	r := soakResult{Options: o, Samples: samples, APINodes: 10, PayloadNodes: 9}
	var out strings.Builder
	r.print(&out)
	for _, want := range []string{
		"| RSS | 100.0 MiB | 103.5 MiB | +3.5% | ≤ +5% | PASS |",
		"| Go heap in use | 50.0 MiB | 50.0 MiB | +0.0% | ≤ +5% | PASS |",
		"| goroutines | 107.0 | 117.0 | +9.3% | ≤ +5% | MISS |",
		"| payload nodes = API server nodes after the load | 9 = 10 MISS |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("soak output lacks %q:\n%s", want, out.String())
		}
	}
}
