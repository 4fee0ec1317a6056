package collectorfaults

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/collector/server"
	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	httpexp "github.com/rancher/telemetry-manager/pkg/exporters/http"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

var t0 = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// counting wraps the collector's handler and counts the answers to
// report POSTs by status.
type counting struct {
	next http.Handler

	mu    sync.Mutex
	codes map[int]int
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		c.next.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	c.next.ServeHTTP(rec, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil {
		c.codes = map[int]int{}
	}
	c.codes[rec.code]++
}

func (c *counting) snapshot() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int]int{}
	for k, v := range c.codes {
		out[k] = v
	}
	return out
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// openSQLite opens a SQLite store in a temporary directory and returns it
// and its file.
func openSQLite(t *testing.T) (*store.SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	st, err := store.OpenSQLite(path, store.NewSQLiteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, path
}

// countReports counts the rows of the reports table of a SQLite file,
// read beside the collector.
func countReports(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM reports`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// collectorHandler is the real collector's handler on st and clk.
func collectorHandler(st store.Store, clk *clocktesting.FakeClock) http.Handler {
	return server.New(server.Config{
		Store: st, SigningKeys: server.Static{[]byte(signingKey)},
		MaxBody: server.DefaultMaxBody, MaxDecompressed: server.DefaultMaxDecompressed,
		Rate: 3600, Burst: 100, ActiveWindow: server.DefaultActiveWindow,
		Clock: clk, Registry: prometheus.NewRegistry(),
	})
}

// newHTTPExporter returns the http exporter sending to url.
func newHTTPExporter(t *testing.T, url string, timeout time.Duration, clk *clocktesting.FakeClock) *httpexp.Exporter {
	t.Helper()
	o := httpexp.Options{
		URL: url, Timeout: timeout, Gzip: true, Interval: httpexp.DefaultInterval,
		SecretNamespace: "cattle-telemetry-system", SecretName: "http-credentials", Credentials: credentials(),
		Encoder: report.New(clusterIDKey), Log: testLog(t),
	}
	if clk != nil {
		o.Clock = clk
	}
	exp, err := httpexp.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(exp.Close)
	return exp
}

// waitIdle waits until the exporter's loop waits for its next run with
// more than before runs done, and returns its status.
func waitIdle(t *testing.T, m *manager.Manager, id string, before int) manager.Status {
	t.Helper()
	var st manager.Status
	eventually(t, "the "+id+" exporter to wait for its next run", func() (bool, error) {
		st, _ = m.Status(id)
		return st.Runs > before && !st.InFlight && !st.NextRun.IsZero(), st.LastError
	})
	return st
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestCollectorDownTenMinutesThenBack: the collector refuses connections
// (its port has no listener) for ten minutes of the manager's fake clock,
// then listens again on the same port. The http exporter retries with the
// manager's capped backoff meanwhile, a bounded number of times, without
// piling up goroutines or memory; once the collector is back, the pending
// report is delivered, and stored once, also when it is sent again an
// interval later.
func TestCollectorDownTenMinutesThenBack(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	st, path := openSQLite(t)
	col := &counting{next: collectorHandler(st, clk)}
	ep := newEndpoint(t, col)
	if !refused(ep.addr) {
		t.Fatalf("%s accepts connections before the collector is up", ep.addr)
	}

	exp := newHTTPExporter(t, ep.url(protocol.DefaultPath), httpexp.DefaultTimeout, clk)
	snap := installation(installUUID(1), 3)
	m := manager.New(manager.SourceFunc(func() (*snapshot.Snapshot, error) { return snap, nil }), manager.Options{
		Clock: clk, Log: testLog(t), Rand: func() float64 { return 0.5 },
	})
	if err := m.Register("http", exp, httpexp.DefaultInterval); err != nil {
		t.Fatal(err)
	}
	goroutinesBefore := runtime.NumGoroutine()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)

	// The first run fails at once; from its end, ten minutes of failures.
	s := waitIdle(t, m, "http", 0)
	if s.LastError == nil {
		t.Fatal("the first run succeeded with no collector listening")
	}
	outageEnd := clk.Now().Add(10 * time.Minute)
	baseGoroutines, baseHeap := runtime.NumGoroutine(), heapInUse()
	maxGoroutines := baseGoroutines
	var delays []time.Duration
	for {
		s, _ = m.Status("http")
		if s.NextRun.After(outageEnd) {
			break
		}
		delays = append(delays, s.NextRun.Sub(clk.Now()))
		clk.SetTime(s.NextRun)
		s = waitIdle(t, m, "http", s.Runs)
		if s.LastError == nil {
			t.Fatalf("run %d succeeded with no collector listening", s.Runs)
		}
		maxGoroutines = max(maxGoroutines, runtime.NumGoroutine())
	}
	heapAfter := heapInUse()
	t.Logf("%d failed runs in 10 minutes; delays %v; goroutines %d at the first failure, at most %d after; heap %d -> %d bytes",
		s.Runs, delays, baseGoroutines, maxGoroutines, baseHeap, heapAfter)

	// Bounded: the backoff from 5s doubles up to its 5m cap (jitter 5%
	// here), so ten minutes hold at most eight retries.
	if s.Runs > 9 {
		t.Errorf("%d runs in ten minutes of outage, want at most 9", s.Runs)
	}
	for i, d := range delays {
		if i > 0 && d < delays[i-1] {
			t.Errorf("retry delays %v shrink at %d", delays, i)
		}
		if d > manager.DefaultBackoffMax {
			t.Errorf("retry delay %v over the cap %v", d, manager.DefaultBackoffMax)
		}
	}
	if s.ConsecutiveFailures != s.Runs || s.RetryKind != manager.KindBackoff {
		t.Errorf("status %+v: want every run failed, retried with backoff", s)
	}
	if maxGoroutines > baseGoroutines+3 {
		t.Errorf("goroutines grew from %d to %d during the outage", baseGoroutines, maxGoroutines)
	}
	if heapAfter > baseHeap+8<<20 {
		t.Errorf("live heap grew from %d to %d bytes during the outage", baseHeap, heapAfter)
	}
	if n := len(col.snapshot()); n != 0 {
		t.Fatalf("the collector answered %v while down", col.snapshot())
	}

	// Back on the same port: the next retry delivers the report.
	ep.up()
	clk.SetTime(s.NextRun)
	s = waitIdle(t, m, "http", s.Runs)
	if s.LastError != nil || s.ConsecutiveFailures != 0 {
		t.Fatalf("the retry after the collector came back: %v", s.LastError)
	}
	if got := col.snapshot(); got[http.StatusAccepted] != 1 || len(got) != 1 {
		t.Errorf("collector answers %v, want one 202", got)
	}

	// A Trigger within the interval does not send the delivered report
	// again; the next interval does, and the collector keeps one copy.
	m.Trigger("http")
	eventually(t, "the Trigger's run to be due", func() (bool, error) {
		st, _ := m.Status("http")
		return st.NextRun.Equal(clk.Now().Add(manager.DefaultDebounce)), nil
	})
	clk.Step(manager.DefaultDebounce)
	s = waitIdle(t, m, "http", s.Runs)
	clk.SetTime(s.NextRun)
	s = waitIdle(t, m, "http", s.Runs)
	if s.LastError != nil {
		t.Fatalf("the run an interval later: %v", s.LastError)
	}
	if got := col.snapshot(); got[http.StatusAccepted] != 1 || got[http.StatusOK] != 1 || len(got) != 2 {
		t.Errorf("collector answers %v, want one 202 and, an interval later, one 200 duplicate", got)
	}
	if n := countReports(t, path); n != 1 {
		t.Errorf("the database holds %d reports, want 1", n)
	}

	m.Stop()
	exp.Close()
	ep.down()
	eventually(t, "the goroutines of the manager and its connections to end", func() (bool, error) {
		n := runtime.NumGoroutine()
		return n <= goroutinesBefore+2, nil
	})
}
