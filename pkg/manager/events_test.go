package manager

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/events"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// carrier is an exporter that keeps the events of each call and fails
// while fail is set.
type carrier struct {
	mu   sync.Mutex
	seen [][]uint64
	fail bool
	runs chan struct{}
}

func newCarrier() *carrier { return &carrier{runs: make(chan struct{}, 100)} }

func (c *carrier) Export(_ context.Context, s *snapshot.Snapshot) error {
	c.mu.Lock()
	defer func() {
		c.mu.Unlock()
		c.runs <- struct{}{}
	}()
	var seqs []uint64
	for _, e := range s.Events.Items {
		seqs = append(seqs, e.Seq)
	}
	c.seen = append(c.seen, seqs)
	if c.fail {
		return errBoom
	}
	return nil
}

func (c *carrier) calls() [][]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]uint64(nil), c.seen...)
}

// TestEventsAreDeliveredOncePerExporter: a run carries the events its
// exporter has not delivered; a successful run marks them delivered, a
// failed one does not; more than one report carries are sent in the runs
// that follow at once; an exporter registered without WithEvents gets
// none.
func TestEventsAreDeliveredOncePerExporter(t *testing.T) {
	log, err := events.New(events.Options{ID: func(n string) string { return "id-" + n }})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{Events: log, Debounce: -1}, nil)
	ok, failing, plain := newCarrier(), newCarrier(), newCarrier()
	failing.fail = true
	h.register("secret", ok, time.Hour, WithEvents())
	h.register("http", failing, time.Hour, WithEvents())
	h.register("scc", plain, time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := log.Start(ctx); err != nil {
		t.Fatal(err)
	}
	n := events.MaxPerReport + 4
	for i := range n {
		log.Observe(fmt.Sprint("c-", i), true, "v1.30.1", 1)
	}
	h.start(ctx)
	// secret: all of them, in two runs, each once.
	recv(t, "secret's first run", ok.runs)
	recv(t, "secret's second run", ok.runs)
	h.parked("secret", 2)
	calls := ok.calls()
	if len(calls) != 2 || len(calls[0]) != events.MaxPerReport || len(calls[1]) != 4 || calls[1][0] != uint64(events.MaxPerReport+1) {
		t.Fatalf("secret's runs carried %d and %d events, want %d then 4", len(calls[0]), len(calls[len(calls)-1]), events.MaxPerReport)
	}
	// http failed: its next run carries the same events again.
	recv(t, "http's first run", failing.runs)
	h.parked("http", 1)
	failing.mu.Lock()
	failing.fail = false
	failing.mu.Unlock()
	h.m.Trigger("http")
	h.clk.Step(DefaultBackoffBase)
	recv(t, "http's retry", failing.runs)
	if c := failing.calls(); len(c) < 2 || c[0][0] != 1 || c[1][0] != 1 {
		t.Fatalf("http's runs carried %v, want the first events again after the failure", c)
	}
	recv(t, "scc's run", plain.runs)
	if c := plain.calls(); len(c[0]) != 0 {
		t.Errorf("an exporter without WithEvents got %d events", len(c[0]))
	}
	if st := log.Stats(); st.Cursors["secret"] != uint64(n) {
		t.Errorf("secret's cursor %d, want %d", st.Cursors["secret"], n)
	}
}
