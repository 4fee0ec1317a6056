package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// pruneRecorder is a Store whose Prune records its cut and answers from errs.
type pruneRecorder struct {
	store.Store
	mu    sync.Mutex
	cuts  chan time.Time
	errs  []error
	calls int
}

func (p *pruneRecorder) Prune(_ context.Context, before time.Time) (int64, error) {
	p.mu.Lock()
	var err error
	if p.calls < len(p.errs) {
		err = p.errs[p.calls]
	}
	p.calls++
	p.mu.Unlock()
	p.cuts <- before
	return 1, err
}

// stepWhenWaiting advances clk by d once the pruner waits on it.
func stepWhenWaiting(clk *testingclock.FakeClock, d time.Duration) {
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(d)
}

func TestRunPruner(t *testing.T) {
	const retention, interval = 30 * 24 * time.Hour, time.Hour
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	failed := errors.New("disk on fire")
	tests := []struct {
		name     string
		errs     []error
		wantCuts int  // prunes seen before the end
		wantRuns bool // RunPruner still running after them
	}{
		{"prunes at start and every interval", nil, 3, true},
		{"retries after a failure", []error{failed, failed}, 3, true},
		{"stops once the store is closed", []error{nil, store.ErrClosed}, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(now)
			rec := &pruneRecorder{cuts: make(chan time.Time), errs: tc.errs}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				store.RunPruner(ctx, rec, retention, interval, clk, nil)
			}()
			for i := range tc.wantCuts {
				cut := <-rec.cuts
				if want := now.Add(time.Duration(i)*interval - retention); !cut.Equal(want) {
					t.Errorf("prune %d cut at %v, want %v", i, cut, want)
				}
				if i < tc.wantCuts-1 {
					stepWhenWaiting(clk, interval)
				}
			}
			if !tc.wantRuns {
				<-done // returns without cancel
				return
			}
			cancel()
			<-done
		})
	}
}
