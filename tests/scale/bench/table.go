package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// The targets of the bench. They are reported, never asserted: a miss is
// printed, and the bench still exits 0.
const (
	// memoryDivisor: RSS and Go heap with the nodes cached at most
	// 1/memoryDivisor of the plain informer's.
	memoryDivisor = 20
	// cpuRatio: CPU spent on the status-only updates at most this fraction
	// of the plain informer's.
	cpuRatio = 0.5
	// firstSecretSlack: time from start to the first Secret at most the
	// plain informer's time to sync plus this.
	firstSecretSlack = time.Second
)

// results are the figures of one run.
type results struct {
	Nodes, Clusters int
	Shapes          string

	ManagerRSS, BaselineRSS   uint64
	ManagerHeap, BaselineHeap uint64
	ManagerCPU, BaselineCPU   time.Duration
	// Updates is the number of status-only node updates each process saw.
	Updates int
	// RunsCaused is the delta of telemetry_manager_exporter_runs_total over
	// the updates.
	RunsCaused float64
	// FirstSecret is the manager's time from start to the first Secret;
	// Synced the plain informer's time from start to synced caches.
	FirstSecret, Synced   time.Duration
	ReportBytes, SCCBytes int
	SecretWrites          float64
}

// row is one line of the table.
type row struct {
	figure, manager, baseline, target string
}

// verdict is PASS or MISS.
func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// rows returns the table of r: each figure beside its baseline and its
// target, with PASS or MISS for each target.
func (r results) rows() []row {
	n := fmt.Sprintf("%d nodes", r.Nodes)
	return []row{
		{
			"RSS, " + n + " cached", mib(r.ManagerRSS), mib(r.BaselineRSS),
			fmt.Sprintf("≤ 1/%d of baseline (%s): %s", memoryDivisor, mib(r.BaselineRSS/memoryDivisor),
				verdict(r.ManagerRSS*memoryDivisor <= r.BaselineRSS)),
		},
		{
			"Go heap in use, " + n + " cached", mib(r.ManagerHeap), mib(r.BaselineHeap),
			fmt.Sprintf("≤ 1/%d of baseline (%s): %s", memoryDivisor, mib(r.BaselineHeap/memoryDivisor),
				verdict(r.ManagerHeap*memoryDivisor <= r.BaselineHeap)),
		},
		{
			fmt.Sprintf("CPU for %d status-only node updates", r.Updates), secs(r.ManagerCPU), secs(r.BaselineCPU),
			fmt.Sprintf("≤ %.1fx baseline (%s): %s", cpuRatio, secs(time.Duration(float64(r.BaselineCPU)*cpuRatio)),
				verdict(float64(r.ManagerCPU) <= float64(r.BaselineCPU)*cpuRatio)),
		},
		{
			"exporter runs caused by those updates", fmt.Sprintf("%.0f", r.RunsCaused), "—",
			"0: " + verdict(r.RunsCaused == 0),
		},
		{
			"start to first Secret (baseline: to synced caches)", secs(r.FirstSecret), secs(r.Synced),
			fmt.Sprintf("≤ baseline + %v (%s): %s", firstSecretSlack, secs(r.Synced+firstSecretSlack),
				verdict(r.FirstSecret <= r.Synced+firstSecretSlack)),
		},
		{"report payload (from the Secret)", kib(r.ReportBytes), "—", "—"},
		{"scc payload (`payload --format scc`)", kib(r.SCCBytes), "—", "—"},
		{"Secret writes during the run", fmt.Sprintf("%.0f", r.SecretWrites), "—", "—"},
	}
}

// print writes the table as Markdown.
func (r results) print(w io.Writer) {
	fmt.Fprintf(w, "\n%d nodes in %d clusters, %s shapes\n\n", r.Nodes, r.Clusters, r.Shapes)
	rows := append([]row{{"figure", "manager", "baseline", "target"}}, r.rows()...)
	width := [4]int{}
	for _, x := range rows {
		for i, c := range x.cells() {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cells [4]string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(rows[0].cells())
	var sep [4]string
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, x := range rows[1:] {
		line(x.cells())
	}
}

func (x row) cells() [4]string { return [4]string{x.figure, x.manager, x.baseline, x.target} }

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func kib(b int) string { return fmt.Sprintf("%.1f KiB (%d B)", float64(b)/1024, b) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
