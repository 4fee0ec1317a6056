package collectorfaults

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// slow delays the collector's answers to report POSTs by delay, unless
// the sender hangs up first, and counts the POSTs in flight.
type slow struct {
	next  http.Handler
	delay atomic.Int64 // nanoseconds

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	started     int
	answered    int // POSTs that waited out the delay and reached the collector
}

func (s *slow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.next.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	s.inFlight++
	s.started++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	// Read the whole body first: only then does the server notice that
	// the sender hung up, and cancel the request's context.
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	if d := time.Duration(s.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
	s.mu.Lock()
	s.answered++
	s.mu.Unlock()
	s.next.ServeHTTP(w, r)
}

func (s *slow) counts() (maxInFlight, started, answered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight, s.started, s.answered
}

// TestSlowCollectorTimeoutHoldsAndRunsNeverOverlap: the collector answers
// only after twice the http exporter's timeout. Every run ends by the
// timeout (a timeout error, before the collector would have answered),
// the manager retries with backoff, and, though Triggers keep coming, no
// two runs of the exporter reach the collector at once. Once the collector
// is fast again the report is delivered and stored once.
func TestSlowCollectorTimeoutHoldsAndRunsNeverOverlap(t *testing.T) {
	const timeout = time.Second
	// The collector's clock only checks signatures; the manager and the
	// exporter run on real time here, since the timeout is real.
	clk := clocktesting.NewFakeClock(time.Now())
	st, path := openSQLite(t)
	col := &slow{next: collectorHandler(st, clk)}
	col.delay.Store(int64(2 * timeout))
	ep := newEndpoint(t, col)
	ep.up()

	exp := newHTTPExporter(t, ep.url(protocol.DefaultPath), timeout, nil)
	snap := installation(installUUID(2), 3)
	var mu sync.Mutex
	var durations []time.Duration
	var errs []error
	m := manager.New(manager.SourceFunc(func() (*snapshot.Snapshot, error) { return snap, nil }), manager.Options{
		Log: testLog(t), BackoffBase: 300 * time.Millisecond, BackoffMax: time.Second, Debounce: -1,
		OnRun: func(_ string, d time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			durations = append(durations, d)
			errs = append(errs, err)
		},
	})
	if err := m.Register("http", exp, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	// Triggers all along: none may start a run while one is in flight.
	triggers := make(chan struct{})
	go func() {
		defer close(triggers)
		for ctx.Err() == nil {
			m.Trigger("http")
			time.Sleep(10 * time.Millisecond)
		}
	}()

	const runs = 4
	eventually(t, "four runs against the slow collector", func() (bool, error) {
		s, _ := m.Status("http")
		return s.Runs >= runs, s.LastError
	})
	col.delay.Store(0)
	eventually(t, "the delivery once the collector is fast", func() (bool, error) {
		s, _ := m.Status("http")
		return s.LastSuccess.After(time.Time{}), s.LastError
	})
	cancel()
	<-triggers
	m.Stop()

	mu.Lock()
	defer mu.Unlock()
	maxInFlight, started, answered := col.counts()
	t.Logf("runs %v; errors %v; the collector saw %d POSTs, at most %d at once", durations, errs, started, maxInFlight)
	if maxInFlight != 1 {
		t.Errorf("the collector had %d POSTs of the exporter in flight at once, want 1", maxInFlight)
	}
	delivered := false
	for i, err := range errs {
		if delivered || err == nil {
			if err != nil {
				t.Errorf("run %d after the delivery: %v", i+1, err)
			}
			delivered = true
			continue
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("run %d: %v, want a timeout error", i+1, err)
		}
		// The product's bound is the timeout; the collector would have
		// answered at twice it, which is the margin.
		if durations[i] >= 2*timeout {
			t.Errorf("run %d took %v: the timeout of %v did not hold", i+1, durations[i], timeout)
		}
	}
	if len(errs) < runs+1 || errs[0] == nil {
		t.Errorf("runs %v: want %d timeouts and then the delivery", errs, runs)
	}
	if answered != 1 {
		t.Errorf("%d POSTs reached the collector's handler, want only the one sent once it was fast", answered)
	}
	if n := countReports(t, path); n != 1 {
		t.Errorf("the database holds %d reports, want 1", n)
	}
}
