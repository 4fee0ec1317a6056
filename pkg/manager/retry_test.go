package manager

import (
	"context"
	"testing"
	"time"
)

func TestRetryAllEndsABackoffAtOnce(t *testing.T) {
	h := newHarness(t, Options{BackoffBase: time.Minute}, nil)
	x := newExporter(func(_ context.Context, n int) error {
		if n == 1 {
			return errBoom // the API server is down
		}
		return nil
	})
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	if st := h.parked("secret", 1); st.RetryKind != KindBackoff || st.NextRun != t0.Add(time.Minute) {
		t.Fatalf("after the failure: status %+v, want a backoff to %v", st, t0.Add(time.Minute))
	}
	h.m.RetryAll()              // the API server answers again
	st := h.parked("secret", 2) // without advancing the clock
	if st.LastSuccess != t0 || st.RetryKind != KindNone || st.NextRun != t0.Add(time.Hour) {
		t.Errorf("after RetryAll: status %+v, want a success at %v and the next run an interval later", st, t0)
	}
	x.check(t)
}

func TestRetryAllLeavesOtherWaitsAlone(t *testing.T) {
	tests := []struct {
		name string
		err  error
		next time.Duration // the wait RetryAll must not shorten
	}{
		{"after a success", nil, time.Hour},
		{"after a retry-after", RetryAfter(10*time.Minute, errBoom), 10 * time.Minute},
		{"after a permanent failure", Permanent(errBoom), time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, nil)
			x := newExporter(func(context.Context, int) error { return tc.err })
			h.register("http", x, time.Hour)
			h.start(t.Context())
			h.parked("http", 1)
			h.m.RetryAll()
			h.clk.Step(time.Second)
			if st := h.status("http"); st.Runs != 1 || st.NextRun != t0.Add(tc.next) {
				t.Fatalf("status %+v after RetryAll, want no run before %v", st, t0.Add(tc.next))
			}
			// The next run drains the pending RetryAll: a later backoff
			// is not cut short by it.
			h.step(tc.next, "http", 2)
			h.m.mu.Lock()
			pending := len(h.m.entries["http"].retry)
			h.m.mu.Unlock()
			if pending != 0 {
				t.Error("a RetryAll made before run 2 is still pending after it")
			}
		})
	}
}
