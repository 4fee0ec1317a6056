package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newMetrics(counts map[string]int) *Metrics {
	return New(Options{
		Clock:        clocktesting.NewFakePassiveClock(now),
		CacheObjects: func() map[string]int { return counts },
	})
}

func TestRunsCountedBySuccessAndFailure(t *testing.T) {
	m := newMetrics(nil)
	m.AddExporter("http")
	m.OnRun("secret", 20*time.Millisecond, nil)
	m.OnRun("secret", 30*time.Millisecond, nil)
	m.OnRun("secret", time.Second, errors.New("boom"))

	want := `
# HELP telemetry_manager_exporter_runs_total Finished exporter runs by exporter and result (success or failure).
# TYPE telemetry_manager_exporter_runs_total counter
telemetry_manager_exporter_runs_total{exporter="http",result="failure"} 0
telemetry_manager_exporter_runs_total{exporter="http",result="success"} 0
telemetry_manager_exporter_runs_total{exporter="secret",result="failure"} 1
telemetry_manager_exporter_runs_total{exporter="secret",result="success"} 2
# HELP telemetry_manager_exporter_last_success_timestamp_seconds Unix time of the last successful run of each exporter.
# TYPE telemetry_manager_exporter_last_success_timestamp_seconds gauge
telemetry_manager_exporter_last_success_timestamp_seconds{exporter="secret"} 1.7487792e+09
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"telemetry_manager_exporter_runs_total", "telemetry_manager_exporter_last_success_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.duration, "telemetry_manager_exporter_run_duration_seconds"); n != 2 {
		t.Fatalf("duration series = %d, want 2 (http at zero, secret)", n)
	}
}

// TestSchemaFailuresCounted: a run whose payload failed its schema counts
// in payload_validation_failures_total; other failures do not.
func TestSchemaFailuresCounted(t *testing.T) {
	m := newMetrics(nil)
	m.AddExporter("secret")
	m.OnRun("secret", time.Second, errors.New("boom"))
	m.OnRun("secret", time.Second, fmt.Errorf("writing secret x/y: %w", fmt.Errorf("report: %w: /version", encoding.ErrInvalidPayload)))
	if got := testutil.ToFloat64(m.invalidRuns.WithLabelValues("secret")); got != 1 {
		t.Fatalf("payload_validation_failures_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.runs.WithLabelValues("secret", ResultFailure)); got != 2 {
		t.Fatalf("failed runs = %v, want 2", got)
	}
}

func TestFailedRunLeavesLastSuccessAlone(t *testing.T) {
	m := newMetrics(nil)
	m.OnRun("secret", time.Second, errors.New("boom"))
	if n := testutil.CollectAndCount(m.lastSuccess); n != 0 {
		t.Fatalf("last success series = %d after a failure only, want 0", n)
	}
}

func TestSecretWritesAndPayloadBytes(t *testing.T) {
	m := newMetrics(nil)
	hook := m.OnSecretWrite("secret")
	hook(1000)
	hook(1234)
	if got := testutil.ToFloat64(m.secretWrites.WithLabelValues("secret")); got != 2 {
		t.Fatalf("secret_writes_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.payloadBytes.WithLabelValues("secret")); got != 1234 {
		t.Fatalf("payload_bytes = %v, want the last write's 1234", got)
	}
}

func TestSourceSetsInvalidObjects(t *testing.T) {
	m := newMetrics(nil)
	// Two problems of one node count once.
	problems := []snapshot.Problem{
		{Object: "Node c-a/m-1", Field: "status.internalNodeStatus.capacity.cpu"},
		{Object: "Node c-a/m-1", Field: "status.internalNodeStatus.capacity.memory"},
		{Object: "Node c-a/m-2", Field: "spec.worker"},
		{Object: "Setting server-url", Field: "value"},
	}
	src := m.Source(manager.SourceFunc(func() (*snapshot.Snapshot, error) {
		return &snapshot.Snapshot{Problems: problems}, nil
	}))
	if _, err := src.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.invalid.WithLabelValues("Node")); got != 2 {
		t.Fatalf("invalid_objects{kind=Node} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.invalid.WithLabelValues("Setting")); got != 1 {
		t.Fatalf("invalid_objects{kind=Setting} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.invalid.WithLabelValues("Cluster")); got != 0 {
		t.Fatalf("invalid_objects{kind=Cluster} = %v, want 0", got)
	}

	failing := m.Source(manager.SourceFunc(func() (*snapshot.Snapshot, error) { return nil, errors.New("no cache") }))
	if _, err := failing.Snapshot(); err == nil {
		t.Fatal("the source's error was swallowed")
	}
	if got := testutil.ToFloat64(m.invalid.WithLabelValues("Node")); got != 2 {
		t.Fatalf("invalid_objects{kind=Node} = %v after a failed snapshot, want the last known 2", got)
	}

	repaired := m.Source(manager.SourceFunc(func() (*snapshot.Snapshot, error) { return &snapshot.Snapshot{}, nil }))
	if _, err := repaired.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.invalid.WithLabelValues("Node")); got != 0 {
		t.Fatalf("invalid_objects{kind=Node} = %v once every node is repaired, want 0", got)
	}
}

func TestCacheObjectsReadAtScrapeTime(t *testing.T) {
	counts := map[string]int{"Cluster": 4, "Node": 10}
	m := newMetrics(counts)
	counts["Node"] = 11 // changed after New: the scrape must see it
	want := `
# HELP telemetry_manager_cache_objects Objects in each informer cache, by kind.
# TYPE telemetry_manager_cache_objects gauge
telemetry_manager_cache_objects{kind="Cluster"} 4
telemetry_manager_cache_objects{kind="Node"} 11
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "telemetry_manager_cache_objects"); err != nil {
		t.Fatal(err)
	}
}

func TestLeaderAndTelemetryGauges(t *testing.T) {
	m := newMetrics(nil)
	for _, tc := range []struct {
		leading, enabled bool
		want             float64
	}{{true, true, 1}, {false, false, 0}} {
		m.SetLeader(tc.leading)
		m.SetTelemetryEnabled(tc.enabled)
		if got := testutil.ToFloat64(m.leader); got != tc.want {
			t.Errorf("leader = %v, want %v", got, tc.want)
		}
		if got := testutil.ToFloat64(m.enabled); got != tc.want {
			t.Errorf("telemetry_enabled = %v, want %v", got, tc.want)
		}
	}
}

func TestEveryMetricIsPrefixedAndLinted(t *testing.T) {
	m := newMetrics(map[string]int{"Node": 1})
	m.AddExporter("secret")
	m.OnRun("secret", time.Millisecond, nil)
	m.OnSecretWrite("secret")(1)
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, Namespace+"_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("metric %s lacks the %s_ prefix", name, Namespace)
		}
		if strings.HasPrefix(name, Namespace+"_") {
			problems, err := testutil.GatherAndLint(m.Registry(), name)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("%s: %s", p.Metric, p.Text)
			}
		}
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHandlerEndpoints(t *testing.T) {
	m := newMetrics(nil)
	m.AddExporter("secret")
	m.SetTelemetryEnabled(true)
	notSynced := errors.New("Node (management.cattle.io/v3 nodes): list forbidden: denied")
	var ready error
	h := m.Handler(func() error { return ready })

	for _, tc := range []struct {
		name, path string
		ready      error
		code       int
		contains   string
	}{
		{"healthz before sync", "/healthz", notSynced, http.StatusOK, "ok"},
		{"readyz before sync says why", "/readyz", notSynced, http.StatusServiceUnavailable,
			"not ready: Node (management.cattle.io/v3 nodes): list forbidden: denied"},
		{"readyz after sync", "/readyz", nil, http.StatusOK, "ok"},
		{"metrics", "/metrics", nil, http.StatusOK, `telemetry_manager_exporter_runs_total{exporter="secret",result="success"} 0`},
		{"metrics has go runtime", "/metrics", nil, http.StatusOK, "go_goroutines"},
		{"unknown path", "/nope", nil, http.StatusNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready = tc.ready
			code, body := get(t, h, tc.path)
			if code != tc.code || !strings.Contains(body, tc.contains) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tc.path, code, body, tc.code, tc.contains)
			}
		})
	}
}

func TestCacheSyncedByKind(t *testing.T) {
	synced := map[string]bool{"Cluster": true, "Feature": false}
	m := New(Options{CacheSynced: func() map[string]bool { return synced }})
	want := `
# HELP telemetry_manager_cache_synced 1 once the informer cache of a kind has synced, 0 while it has not (/readyz says why).
# TYPE telemetry_manager_cache_synced gauge
telemetry_manager_cache_synced{kind="Cluster"} 1
telemetry_manager_cache_synced{kind="Feature"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "telemetry_manager_cache_synced"); err != nil {
		t.Fatal(err)
	}
	synced["Feature"] = true
	want = strings.Replace(want, `kind="Feature"} 0`, `kind="Feature"} 1`, 1)
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "telemetry_manager_cache_synced"); err != nil {
		t.Fatalf("after the Feature cache synced: %v", err)
	}
}

func TestNilReadyMeansReady(t *testing.T) {
	if code, _ := get(t, newMetrics(nil).Handler(nil), "/readyz"); code != http.StatusOK {
		t.Fatalf("readyz = %d, want 200", code)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := logrus.New()
	log.SetOutput(io.Discard)
	go func() { done <- Serve(ctx, ln, m.Handler(nil), logrus.NewEntry(log)) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after cancellation, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancellation")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("still serving after Serve returned")
	}
}

func TestListenReportsBusyAddress(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	if _, err := Listen(ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "--metrics-address") {
		t.Fatalf("Listen on a busy address = %v, want an error naming --metrics-address", err)
	}
}

// record gives exporter id a series in every exporter-labelled metric.
func record(m *Metrics, id string) {
	m.AddExporter(id)
	m.OnRun(id, time.Second, nil)
	m.OnRun(id, time.Second, fmt.Errorf("encoding: %w", encoding.ErrInvalidPayload))
	m.OnSecretWrite(id)(100)
}

func TestRemoveExporterDeletesItsSeries(t *testing.T) {
	m := newMetrics(nil)
	record(m, "secret")
	record(m, "secret-2") // a prefix match must not remove it
	series := []struct {
		name string
		c    interface {
			Describe(chan<- *prometheus.Desc)
			Collect(chan<- prometheus.Metric)
		}
		per int // series of one exporter
	}{
		{"exporter_runs_total", m.runs, 2},
		{"exporter_run_duration_seconds", m.duration, 1},
		{"exporter_last_success_timestamp_seconds", m.lastSuccess, 1},
		{"payload_bytes", m.payloadBytes, 1},
		{"secret_writes_total", m.secretWrites, 1},
		{"payload_validation_failures_total", m.invalidRuns, 1},
	}
	for _, s := range series {
		if n := testutil.CollectAndCount(s.c); n != 2*s.per {
			t.Fatalf("%s: %d series before RemoveExporter, want %d", s.name, n, 2*s.per)
		}
	}

	m.RemoveExporter("secret")
	m.RemoveExporter("never-registered")
	for _, s := range series {
		if n := testutil.CollectAndCount(s.c); n != s.per {
			t.Errorf("%s: %d series after RemoveExporter, want the other exporter's %d", s.name, n, s.per)
		}
	}
	if got := testutil.ToFloat64(m.runs.WithLabelValues("secret-2", ResultSuccess)); got != 1 {
		t.Errorf("runs of the remaining exporter = %v, want 1", got)
	}
}

// TestDeletedExporterLeavesNoSeries wires the hooks into a real manager on a
// fake clock: deleting an exporter removes the series its runs created.
func TestDeletedExporterLeavesNoSeries(t *testing.T) {
	met := newMetrics(nil)
	ran := make(chan string, 10)
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	mgr := manager.New(
		manager.SourceFunc(func() (*snapshot.Snapshot, error) { return &snapshot.Snapshot{}, nil }),
		manager.Options{
			Clock: clocktesting.NewFakeClock(now),
			Log:   logrus.NewEntry(logger),
			OnRun: func(id string, d time.Duration, err error) {
				met.OnRun(id, d, err)
				ran <- id
			},
			OnDelete: met.RemoveExporter,
		})
	t.Cleanup(mgr.Stop)
	for _, id := range []string{"secret", "http"} {
		met.AddExporter(id)
		if err := mgr.Register(id, manager.ExporterFunc(func(context.Context, *snapshot.Snapshot) error { return nil }), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := mgr.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-ran:
		case <-time.After(10 * time.Second): // a deadlock guard, not a timing assertion
			t.Fatal("timed out waiting for the first runs")
		}
	}

	if err := mgr.Delete("secret"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"exporter_runs_total", "exporter_run_duration_seconds", "exporter_last_success_timestamp_seconds"} {
		full := Namespace + "_" + name
		if n := testutil.CollectAndCount(met.Registry(), full); n == 0 {
			t.Errorf("%s: no series left, want those of http", full)
		}
	}
	mfs, err := met.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "exporter" && l.GetValue() == "secret" {
					t.Errorf("%s still has a series of the deleted exporter", mf.GetName())
				}
			}
		}
	}
}
