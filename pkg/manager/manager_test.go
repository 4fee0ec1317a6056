package manager

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// t0 is the fake clock's start. No test advances real time: the fake clock
// moves only by Step, and the helpers below wait in real time only to
// synchronise with the manager's goroutines, never to let time pass.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// bound is how long a helper waits for the manager's goroutines before the
// test fails. It is a deadlock guard, not a timing assertion.
const bound = 10 * time.Second

var errBoom = errors.New("boom")

// harness is a Manager on a fake clock with a captured log.
type harness struct {
	t    *testing.T
	clk  *testingclock.FakeClock
	m    *Manager
	hook *logtest.Hook
}

// newHarness builds a Manager with opts, a fake clock, Rand fixed at 0 unless
// set, and src (a fresh empty snapshot per call when nil). It checks at the
// end of the test that the manager stops and leaks no goroutine.
func newHarness(t *testing.T, opts Options, src Source) *harness {
	t.Helper()
	noLeaks(t) // registered first, so it runs after m.Stop
	clk := testingclock.NewFakeClock(t0)
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	opts.Clock = clk
	opts.Log = logrus.NewEntry(logger)
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 0 }
	}
	if src == nil {
		src = SourceFunc(func() (*snapshot.Snapshot, error) { return &snapshot.Snapshot{}, nil })
	}
	m := New(src, opts)
	t.Cleanup(m.Stop)
	return &harness{t: t, clk: clk, m: m, hook: hook}
}

func (h *harness) register(id string, e Exporter, interval time.Duration, opts ...RegisterOption) {
	h.t.Helper()
	if err := h.m.Register(id, e, interval, opts...); err != nil {
		h.t.Fatalf("Register(%q): %v", id, err)
	}
}

func (h *harness) start(ctx context.Context) {
	h.t.Helper()
	if err := h.m.Start(ctx); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
}

// settle waits until n timers wait on the fake clock, that is until the
// loops have parked after their runs.
func (h *harness) settle(n int) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("%d waiters on the fake clock", n), func() bool { return h.clk.Waiters() == n })
}

// parked waits until exporter id has finished its runs-th run and waits
// for the next one. NextRun is set only after the loop's timer exists, so
// the clock may be stepped as soon as parked returns.
func (h *harness) parked(id string, runs int) Status {
	h.t.Helper()
	var st Status
	eventually(h.t, fmt.Sprintf("%s to park after run %d", id, runs), func() bool {
		st, _ = h.m.Status(id)
		return st.Runs == runs && !st.InFlight && !st.NextRun.IsZero()
	})
	return st
}

// nextRunAt waits until exporter id waits for a run at t.
func (h *harness) nextRunAt(id string, t time.Time) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("%s to wait for a run at %v", id, t), func() bool {
		st, _ := h.m.Status(id)
		return st.NextRun.Equal(t)
	})
}

// step advances the fake clock, then waits until exporter id has finished
// its runs-th run and parked again.
func (h *harness) step(d time.Duration, id string, runs int) Status {
	h.t.Helper()
	h.clk.Step(d)
	return h.parked(id, runs)
}

func (h *harness) status(id string) Status {
	h.t.Helper()
	st, ok := h.m.Status(id)
	if !ok {
		h.t.Fatalf("Status(%q): not found", id)
	}
	return st
}

// pendingTrigger reports whether a Trigger of id waits for a run.
func (h *harness) pendingTrigger(id string) bool {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	return len(h.m.entries[id].trigger) > 0
}

// eventually polls cond until it holds, failing the test after bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
	}
}

// recv waits for a value from ch, failing the test after bound.
func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(bound):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// done reports whether ch is closed or has a value, without waiting.
func done[T any](ch <-chan T) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// noLeaks fails the test if, once its cleanups have run, the number of
// goroutines does not return to what it was when noLeaks was called.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(bound)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutine leak: %d before, %d after\n%s",
					before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			runtime.Gosched()
			time.Sleep(50 * time.Microsecond)
		}
	})
}

// exporter is a test Exporter. It counts its calls, detects overlapping
// calls and calls after it was closed, and reports each call on calls.
type exporter struct {
	calls     chan int // 1-based number of each call, sent when it starts
	n         atomic.Int32
	inFlight  atomic.Int32
	overlaps  atomic.Int32
	closed    atomic.Bool // set by the test when no call may follow
	forbidden atomic.Int32
	fn        func(ctx context.Context, n int) error // nil: succeed
}

func newExporter(fn func(ctx context.Context, n int) error) *exporter {
	return &exporter{calls: make(chan int, 10000), fn: fn}
}

func (x *exporter) Export(ctx context.Context, s *snapshot.Snapshot) error {
	if x.inFlight.Add(1) > 1 {
		x.overlaps.Add(1)
	}
	defer x.inFlight.Add(-1)
	if s == nil {
		panic("nil snapshot")
	}
	if x.closed.Load() {
		x.forbidden.Add(1)
	}
	n := int(x.n.Add(1))
	x.calls <- n
	if x.fn != nil {
		return x.fn(ctx, n)
	}
	return nil
}

// check fails the test if calls overlapped or came after close.
func (x *exporter) check(t *testing.T) {
	t.Helper()
	if n := x.overlaps.Load(); n > 0 {
		t.Errorf("%d overlapping Export calls", n)
	}
	if n := x.forbidden.Load(); n > 0 {
		t.Errorf("%d Export calls after the exporter was deleted or replaced", n)
	}
}

func TestFirstRunRightAfterReady(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ready func(context.Context) error
	}{
		{"no Ready func", nil},
		{"Ready returns at once", func(context.Context) error { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{Ready: tc.ready}, nil)
			x := newExporter(nil)
			h.register("secret", x, time.Hour)
			h.start(t.Context())

			recv(t, "first run", x.calls)
			st := h.parked("secret", 1)
			if !st.Running || st.LastRun != t0 || st.LastSuccess != t0 || st.LastError != nil {
				t.Errorf("status after first run = %+v, want running, one successful run at %v", st, t0)
			}
			if want := t0.Add(time.Hour); st.NextRun != want {
				t.Errorf("NextRun = %v, want %v", st.NextRun, want)
			}
			if now := h.clk.Now(); now != t0 {
				t.Errorf("clock moved to %v", now)
			}
			x.check(t)
		})
	}
}

func TestStartWaitsForReady(t *testing.T) {
	called := make(chan struct{})
	release := make(chan struct{})
	var ready atomic.Bool
	h := newHarness(t, Options{Ready: func(ctx context.Context) error {
		close(called)
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		ready.Store(true)
		return nil
	}}, nil)
	var early atomic.Int32
	notEarly := func(context.Context, int) error {
		if !ready.Load() {
			early.Add(1)
		}
		return nil
	}
	x := newExporter(notEarly)
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	recv(t, "Ready call", called)
	// Registered after Start but before Ready returns: it waits too.
	y := newExporter(notEarly)
	h.register("http", y, time.Hour)

	h.clk.Step(24 * time.Hour) // time alone does not make the manager ready
	for _, id := range []string{"secret", "http"} {
		if st := h.status(id); !st.Running || st.Runs != 0 || !st.NextRun.IsZero() {
			t.Errorf("%s before Ready returned: status %+v, want running, no run, no NextRun", id, st)
		}
	}

	close(release)
	recv(t, "first run of secret", x.calls)
	recv(t, "first run of http", y.calls)
	h.parked("secret", 1)
	h.parked("http", 1)
	if n := early.Load(); n > 0 {
		t.Errorf("%d runs before Ready returned", n)
	}
}

func TestReadyErrorIsRetriedWithBackoff(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, Options{Ready: func(context.Context) error {
		if calls.Add(1) < 3 {
			return errors.New("caches not synced")
		}
		return nil
	}}, nil)
	x := newExporter(nil)
	h.register("secret", x, time.Hour)
	h.start(t.Context())

	h.settle(1) // Ready's retry timer; no exporter timer exists yet
	h.clk.Step(5*time.Second - time.Nanosecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("Ready called %d times before its backoff ended, want 1", n)
	}
	h.clk.Step(time.Nanosecond)
	eventually(t, "second Ready call", func() bool { return calls.Load() == 2 })
	h.settle(1) // retry in 10s
	h.clk.Step(10 * time.Second)
	recv(t, "first run", x.calls)
	if st := h.parked("secret", 1); st.LastRun != t0.Add(15*time.Second) {
		t.Errorf("first run at %v, want %v", st.LastRun, t0.Add(15*time.Second))
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("Ready called %d times, want 3", n)
	}
}

func TestRunsEveryIntervalWithJitter(t *testing.T) {
	h := newHarness(t, Options{Jitter: 0.1, Rand: func() float64 { return 0.5 }}, nil)
	x := newExporter(nil)
	h.register("secret", x, time.Minute)
	h.start(t.Context())

	period := 63 * time.Second // 1m * (1 + 0.1*0.5)
	recv(t, "first run", x.calls)
	h.parked("secret", 1)
	for i := 2; i <= 5; i++ {
		h.clk.Step(period - time.Nanosecond)
		if st := h.status("secret"); st.Runs != i-1 {
			t.Fatalf("run %d came before its period ended", i)
		}
		st := h.step(time.Nanosecond, "secret", i)
		if got := recv(t, "scheduled run", x.calls); got != i {
			t.Fatalf("call %d, want %d", got, i)
		}
		now := t0.Add(time.Duration(i-1) * period)
		if st.LastRun != now || st.NextRun != now.Add(period) {
			t.Fatalf("after run %d: status %+v, want last %v, next %v", i, st, now, now.Add(period))
		}
	}
	x.check(t)
}

func TestFailureBacksOffAndSuccessResets(t *testing.T) {
	tests := []struct {
		name       string
		interval   time.Duration
		backoffMax time.Duration
		want       []time.Duration // delays after failures 1, 2, ...
	}{
		{"capped by BackoffMax", time.Hour, time.Minute,
			[]time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}},
		{"capped by interval", 30 * time.Second, 0,
			[]time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, 30 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fail atomic.Bool
			fail.Store(true)
			h := newHarness(t, Options{BackoffMax: tc.backoffMax}, nil)
			x := newExporter(func(_ context.Context, n int) error {
				if fail.Load() {
					return fmt.Errorf("run %d: %w", n, errBoom)
				}
				return nil
			})
			h.register("http", x, tc.interval)
			h.start(t.Context())

			st := h.parked("http", 1)
			now := t0
			for i, d := range tc.want {
				if st.ConsecutiveFailures != i+1 || !errors.Is(st.LastError, errBoom) || st.NextRun != now.Add(d) ||
					st.RetryKind != KindBackoff || st.RetryDelay != d {
					t.Fatalf("after failure %d: status %+v, want %d failures, LastError boom, backoff of %v to %v",
						i+1, st, i+1, d, now.Add(d))
				}
				if i == len(tc.want)-1 {
					fail.Store(false)
				}
				st = h.step(d, "http", i+2)
				now = now.Add(d)
			}

			if st.ConsecutiveFailures != 0 || st.LastError != nil || st.LastSuccess != now || st.NextRun != now.Add(tc.interval) ||
				st.RetryKind != KindNone || st.RetryDelay != 0 {
				t.Errorf("after success: status %+v, want no failures, success at %v, NextRun %v", st, now, now.Add(tc.interval))
			}
			// A later failure starts over at BackoffBase.
			fail.Store(true)
			st = h.step(tc.interval, "http", len(tc.want)+2)
			now = now.Add(tc.interval)
			if st.ConsecutiveFailures != 1 || st.NextRun != now.Add(5*time.Second) || st.LastSuccess != now.Add(-tc.interval) {
				t.Errorf("after a new failure: status %+v, want 1 failure, NextRun %v", st, now.Add(5*time.Second))
			}
			x.check(t)
		})
	}
}

func TestDelay(t *testing.T) {
	zero := func() float64 { return 0 }
	half := func() float64 { return 0.5 }
	most := func() float64 { return 0.99 }
	tests := []struct {
		name      string
		opts      Options
		interval  time.Duration
		failures  int
		kind      RetryKind
		requested time.Duration
		want      time.Duration
	}{
		{"success without jitter", Options{Jitter: -1}, time.Hour, 0, KindNone, 0, time.Hour},
		{"success with jitter", Options{Rand: half}, time.Hour, 0, KindNone, 0, 63 * time.Minute},
		{"first failure", Options{Rand: zero}, time.Hour, 1, KindBackoff, 0, 5 * time.Second},
		{"first failure with jitter", Options{Rand: half}, time.Hour, 1, KindBackoff, 0, 5250 * time.Millisecond},
		{"fourth failure", Options{Rand: zero}, time.Hour, 4, KindBackoff, 0, 40 * time.Second},
		{"capped at BackoffMax", Options{Rand: zero}, time.Hour, 7, KindBackoff, 0, 5 * time.Minute},
		{"jitter never passes the cap", Options{Rand: most}, time.Hour, 7, KindBackoff, 0, 5 * time.Minute},
		{"capped at the interval", Options{Rand: most}, 12 * time.Second, 3, KindBackoff, 0, 12 * time.Second},
		{"interval below BackoffBase", Options{Rand: zero}, time.Second, 1, KindBackoff, 0, time.Second},
		{"no overflow", Options{Rand: zero}, time.Hour, 1 << 20, KindBackoff, 0, 5 * time.Minute},
		{"custom BackoffBase", Options{BackoffBase: time.Second, Jitter: -1}, time.Hour, 3, KindBackoff, 0, 4 * time.Second},
		{"retry-after waits the delay asked for", Options{Rand: zero}, time.Hour, 1, KindRetryAfter, 42 * time.Second, 42 * time.Second},
		{"retry-after does not double", Options{Rand: zero}, time.Hour, 6, KindRetryAfter, 42 * time.Second, 42 * time.Second},
		{"retry-after has no jitter", Options{Rand: most}, time.Hour, 1, KindRetryAfter, 42 * time.Second, 42 * time.Second},
		{"retry-after may pass BackoffMax", Options{Rand: zero}, time.Hour, 1, KindRetryAfter, 20 * time.Minute, 20 * time.Minute},
		{"retry-after capped at RetryAfterMax", Options{Rand: zero}, 24 * time.Hour, 1, KindRetryAfter, 3 * time.Hour, time.Hour},
		{"retry-after capped at custom RetryAfterMax", Options{RetryAfterMax: time.Minute}, time.Hour, 1, KindRetryAfter, 2 * time.Minute, time.Minute},
		{"retry-after capped at the interval", Options{Rand: zero}, 10 * time.Minute, 1, KindRetryAfter, 30 * time.Minute, 10 * time.Minute},
		{"permanent waits the interval", Options{Rand: zero}, time.Hour, 3, KindPermanent, 0, time.Hour},
		{"permanent with jitter", Options{Rand: half}, time.Hour, 1, KindPermanent, 0, 63 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(nil, tc.opts)
			if got := m.delay(tc.interval, tc.failures, tc.kind, tc.requested); got != tc.want {
				t.Errorf("delay(%v, %d, %q, %v) = %v, want %v", tc.interval, tc.failures, tc.kind, tc.requested, got, tc.want)
			}
		})
	}
}

func TestSourceErrorIsAFailedRun(t *testing.T) {
	errCache := errors.New("cache not synced")
	var broken atomic.Bool
	broken.Store(true)
	h := newHarness(t, Options{}, SourceFunc(func() (*snapshot.Snapshot, error) {
		if broken.Load() {
			return nil, errCache
		}
		return &snapshot.Snapshot{}, nil
	}))
	x := newExporter(nil)
	h.register("secret", x, time.Hour)
	h.start(t.Context())

	st := h.parked("secret", 1)
	if st.ConsecutiveFailures != 1 || !errors.Is(st.LastError, errCache) || st.NextRun != t0.Add(5*time.Second) {
		t.Errorf("status %+v, want one failed run with the source's error, retry at +5s", st)
	}
	if n := x.n.Load(); n != 0 {
		t.Errorf("Export called %d times without a snapshot", n)
	}
	broken.Store(false)
	h.step(5*time.Second, "secret", 2)
	recv(t, "run after the source recovered", x.calls)
}

func TestNilSnapshotIsAFailedRun(t *testing.T) {
	h := newHarness(t, Options{}, SourceFunc(func() (*snapshot.Snapshot, error) { return nil, nil }))
	x := newExporter(nil)
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	if st := h.parked("secret", 1); !errors.Is(st.LastError, errNoSnapshot) || x.n.Load() != 0 {
		t.Errorf("status %+v, %d calls; want errNoSnapshot and no call", st, x.n.Load())
	}
}

func TestPanickingSourceIsAFailedRun(t *testing.T) {
	h := newHarness(t, Options{}, SourceFunc(func() (*snapshot.Snapshot, error) { panic("cache corrupt") }))
	x := newExporter(nil)
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	if st := h.parked("secret", 1); st.ConsecutiveFailures != 1 || st.LastError == nil || x.n.Load() != 0 {
		t.Errorf("status %+v after a source panic, want one failure and no Export", st)
	}
}

func TestRegisterRefusesDuplicatesAndInvalid(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	h.register("secret", newExporter(nil), time.Hour)

	err := h.m.Register("secret", newExporter(nil), time.Minute)
	if !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate Register = %v, want ErrDuplicate", err)
	}
	if err != nil && !strings.Contains(err.Error(), `"secret"`) {
		t.Errorf("duplicate error %q does not name the exporter", err)
	}
	if st := h.status("secret"); st.Interval != time.Hour {
		t.Errorf("refused duplicate changed the interval to %v", st.Interval)
	}

	for _, tc := range []struct {
		name     string
		id       string
		e        Exporter
		interval time.Duration
	}{
		{"empty id", "", newExporter(nil), time.Hour},
		{"nil exporter", "x", nil, time.Hour},
		{"zero interval", "x", newExporter(nil), 0},
		{"negative interval", "x", newExporter(nil), -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.m.Register(tc.id, tc.e, tc.interval); !errors.Is(err, ErrInvalid) {
				t.Errorf("Register = %v, want ErrInvalid", err)
			}
		})
	}
	if got := h.m.IDs(); !slices.Equal(got, []string{"secret"}) {
		t.Errorf("IDs = %v, want [secret]", got)
	}
}

func TestReplaceBeforeStart(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	old, repl := newExporter(nil), newExporter(nil)
	h.register("secret", old, time.Hour)
	h.register("secret", repl, time.Minute, Replace())
	if st := h.status("secret"); st.Interval != time.Minute || st.Running {
		t.Errorf("status %+v, want interval 1m, not running", st)
	}
	h.start(t.Context())
	recv(t, "first run of the replacement", repl.calls)
	h.parked("secret", 1)
	if n := old.n.Load(); n != 0 {
		t.Errorf("replaced exporter ran %d times", n)
	}
}

func TestReplaceWaitsForInFlightRun(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	var shared, overlaps atomic.Int32 // in-flight calls of the old and new exporter together
	release := make(chan struct{})
	cancelled := make(chan struct{})
	old := newExporter(func(ctx context.Context, n int) error {
		if shared.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer shared.Add(-1)
		if n == 2 {
			<-ctx.Done()
			close(cancelled)
			<-release // ignores the cancellation a while longer
		}
		return nil
	})
	repl := newExporter(func(context.Context, int) error {
		if shared.Add(1) > 1 {
			overlaps.Add(1)
		}
		shared.Add(-1)
		return nil
	})
	h.register("secret", old, time.Hour)
	h.start(t.Context())
	h.parked("secret", 1)
	h.clk.Step(time.Hour)
	recv(t, "first run", old.calls)
	recv(t, "second run", old.calls)

	returned := make(chan error, 1)
	go func() { returned <- h.m.Register("secret", repl, 2*time.Hour, Replace()) }()
	recv(t, "cancellation of the old exporter's run", cancelled)
	if done(returned) {
		t.Fatal("Register with Replace returned during the old exporter's run")
	}
	close(release)
	if err := recv(t, "Register to return", returned); err != nil {
		t.Fatalf("Register with Replace: %v", err)
	}
	old.closed.Store(true)
	recv(t, "first run of the replacement", repl.calls)
	if st := h.parked("secret", 1); st.Interval != 2*time.Hour || st.LastRun != t0.Add(time.Hour) {
		t.Errorf("status of the replacement %+v", st)
	}
	h.m.Trigger("secret")
	h.step(10*time.Hour, "secret", 2)
	if n := overlaps.Load(); n > 0 {
		t.Errorf("old and new exporter overlapped %d times", n)
	}
	if n := old.n.Load(); n != 2 {
		t.Errorf("old exporter ran %d times, want 2", n)
	}
	old.check(t)
	repl.check(t)
}

func TestReplaceChainNeverOverlaps(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	release := make(chan struct{})
	var shared, overlaps atomic.Int32
	mk := func(block bool) *exporter {
		return newExporter(func(context.Context, int) error {
			if shared.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer shared.Add(-1)
			if block {
				<-release
			}
			return nil
		})
	}
	a, b, c := mk(true), mk(false), mk(false)
	h.register("x", a, time.Hour)
	h.start(t.Context())
	recv(t, "run of a", a.calls)
	registered := func(e Exporter) func() bool {
		return func() bool {
			h.m.mu.Lock()
			defer h.m.mu.Unlock()
			return h.m.entries["x"].exp == e
		}
	}

	// b replaces a while a runs; c replaces b before b could run.
	regB := make(chan error, 1)
	go func() { regB <- h.m.Register("x", b, time.Hour, Replace()) }()
	eventually(t, "b registered", registered(b))
	regC := make(chan error, 1)
	go func() { regC <- h.m.Register("x", c, time.Hour, Replace()) }()
	eventually(t, "c registered", registered(c))
	if done(regB) || done(regC) {
		t.Fatal("Register with Replace returned while a was still running")
	}
	a.closed.Store(true)
	close(release)
	for _, ch := range []chan error{regB, regC} {
		if err := recv(t, "Register to return", ch); err != nil {
			t.Fatal(err)
		}
	}
	b.closed.Store(true)
	recv(t, "run of c", c.calls)
	h.parked("x", 1)
	if n := b.n.Load(); n != 0 {
		t.Errorf("b ran %d times though it was replaced before its first run", n)
	}
	if n := overlaps.Load(); n > 0 {
		t.Errorf("%d overlapping runs across replacements", n)
	}
	a.check(t)
	b.check(t)
}

func TestDeleteWaitsForInFlightRun(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	release := make(chan struct{})
	cancelled := make(chan error, 1)
	x := newExporter(func(ctx context.Context, n int) error {
		if n == 2 {
			<-ctx.Done()
			cancelled <- ctx.Err()
			<-release // ignores the cancellation a while longer
			return ctx.Err()
		}
		return nil
	})
	other := newExporter(nil)
	h.register("secret", x, time.Hour)
	h.register("other", other, time.Hour)
	h.start(t.Context())
	h.parked("secret", 1)
	h.parked("other", 1)
	h.clk.Step(time.Hour)
	recv(t, "first run", x.calls)
	recv(t, "second run", x.calls)
	h.parked("other", 2)

	returned := make(chan error, 1)
	go func() { returned <- h.m.Delete("secret") }()
	if err := recv(t, "cancellation of the in-flight run", cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Export's ctx error = %v, want context.Canceled", err)
	}
	if done(returned) {
		t.Fatal("Delete returned during the in-flight run")
	}
	close(release)
	if err := recv(t, "Delete to return", returned); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	x.closed.Store(true)

	if h.m.Has("secret") {
		t.Error("Has after Delete = true")
	}
	if _, ok := h.m.Status("secret"); ok {
		t.Error("Status after Delete found the exporter")
	}
	if err := h.m.Delete("secret"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	h.m.Trigger("secret")
	h.m.TriggerAll()
	h.nextRunAt("other", t0.Add(time.Hour+2*time.Second)) // TriggerAll reached other
	for i := range 5 {
		h.step(10*time.Hour, "other", 3+i)
	}
	if n := x.n.Load(); n != 2 {
		t.Errorf("deleted exporter ran %d times, want 2", n)
	}
	x.check(t)
	other.check(t)
}

func TestPanickingExporterDoesNotAffectOthers(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	bad := newExporter(func(context.Context, int) error { panic("boom") })
	badErr := newExporter(func(context.Context, int) error { panic(errBoom) })
	good := newExporter(nil)
	ids := []string{"bad", "bad-err", "good"}
	h.register("bad", bad, time.Minute)
	h.register("bad-err", badErr, time.Minute)
	h.register("good", good, time.Minute)
	h.start(t.Context())
	for _, id := range ids {
		h.parked(id, 1)
	}

	// The backoff of the panicking exporters stays within one interval, so
	// each step of one interval runs all three.
	for i := 2; i <= 4; i++ {
		h.clk.Step(time.Minute)
		for _, id := range ids {
			h.parked(id, i)
		}
		st := h.status("good")
		if st.ConsecutiveFailures != 0 || st.LastError != nil || st.NextRun != t0.Add(time.Duration(i)*time.Minute) {
			t.Fatalf("good exporter after run %d: %+v", i, st)
		}
	}
	if n := good.n.Load(); n != 4 {
		t.Errorf("good exporter ran %d times, want 4", n)
	}

	st := h.status("bad")
	if !st.Running || st.ConsecutiveFailures != 4 {
		t.Errorf("bad exporter status %+v, want running with 4 failed runs", st)
	}
	var pe *PanicError
	if !errors.As(st.LastError, &pe) || pe.ID != "bad" || len(pe.Stack) == 0 {
		t.Fatalf("LastError = %#v, want *PanicError with id and stack", st.LastError)
	}
	if got, want := st.LastError.Error(), `exporter "bad" panicked: boom`; got != want {
		t.Errorf("LastError = %q, want %q", got, want)
	}
	if st := h.status("bad-err"); !errors.Is(st.LastError, errBoom) {
		t.Errorf("LastError of a panic with an error = %v, want it to wrap errBoom", st.LastError)
	}
	var stackLogged bool
	for _, e := range h.hook.AllEntries() {
		if e.Level == logrus.DebugLevel && e.Data["exporter"] == "bad" && e.Data["stack"] != nil {
			stackLogged = true
		}
	}
	if !stackLogged {
		t.Error("panic stack not logged at debug level")
	}
	for _, x := range []*exporter{bad, badErr, good} {
		x.check(t)
	}
}

func TestTriggerCoalescesWithinDebounce(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	x := newExporter(nil)
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	h.parked("secret", 1)

	for range 100 {
		h.m.Trigger("secret")
	}
	h.nextRunAt("secret", t0.Add(2*time.Second))
	h.clk.Step(time.Second)
	for range 100 {
		h.m.Trigger("secret")
		h.m.TriggerAll()
	}
	if st := h.status("secret"); st.Runs != 1 {
		t.Fatalf("Runs = %d within the debounce window, want 1", st.Runs)
	}
	st := h.step(time.Second, "secret", 2)
	if h.pendingTrigger("secret") {
		t.Error("a Trigger is still pending after the run that answers it")
	}
	if want := t0.Add(2*time.Second + time.Hour); st.NextRun != want {
		t.Errorf("NextRun = %v, want %v: an interval after the triggered run", st.NextRun, want)
	}
	h.clk.Step(time.Minute)
	if n := x.n.Load(); n != 2 {
		t.Errorf("Export called %d times, want 2: one scheduled, one for all Triggers", n)
	}
	x.check(t)
}

func TestTriggerDuringRunYieldsOneFollowUp(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	release := make(chan struct{})
	x := newExporter(func(_ context.Context, n int) error {
		if n == 2 {
			<-release
		}
		return nil
	})
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	recv(t, "first run", x.calls)
	h.parked("secret", 1)

	h.m.Trigger("secret")
	h.nextRunAt("secret", t0.Add(2*time.Second))
	h.clk.Step(2 * time.Second)
	recv(t, "triggered run", x.calls)
	if st := h.status("secret"); !st.InFlight || st.NextRun != (time.Time{}) {
		t.Errorf("status during the run %+v, want InFlight and no NextRun", st)
	}
	for range 50 {
		h.m.Trigger("secret")
	}
	close(release)
	h.nextRunAt("secret", t0.Add(4*time.Second)) // the follow-up waits for its debounce window
	st := h.step(2*time.Second, "secret", 3)
	if got := recv(t, "follow-up run", x.calls); got != 3 {
		t.Errorf("follow-up is call %d, want 3", got)
	}
	if h.pendingTrigger("secret") || st.NextRun != t0.Add(4*time.Second+time.Hour) {
		t.Errorf("after the follow-up: status %+v, pending trigger %v; want the next run an interval later",
			st, h.pendingTrigger("secret"))
	}
	x.check(t)
}

func TestTriggerDoesNotShortenBackoff(t *testing.T) {
	h := newHarness(t, Options{BackoffBase: time.Minute}, nil)
	x := newExporter(func(context.Context, int) error { return errBoom })
	h.register("http", x, time.Hour)
	h.start(t.Context())
	h.parked("http", 1)
	h.m.Trigger("http")
	h.clk.Step(2 * time.Second)
	if st := h.status("http"); st.Runs != 1 || st.NextRun != t0.Add(time.Minute) {
		t.Errorf("status %+v, want no run before the backoff ends at %v", st, t0.Add(time.Minute))
	}
	h.step(time.Minute, "http", 2)
	if h.pendingTrigger("http") {
		t.Error("the retry did not answer the pending Trigger")
	}
}

func TestTriggerWithoutDebounce(t *testing.T) {
	h := newHarness(t, Options{Debounce: -1}, nil)
	x := newExporter(nil)
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	h.parked("secret", 1)
	h.m.Trigger("secret")
	h.parked("secret", 2) // without advancing the clock
}

func TestTriggerBeforeStartIsAnsweredByTheFirstRun(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	x := newExporter(nil)
	h.register("secret", x, time.Hour)
	h.m.Trigger("secret")
	h.start(t.Context())
	if st := h.parked("secret", 1); st.NextRun != t0.Add(time.Hour) || h.pendingTrigger("secret") {
		t.Errorf("status %+v; want the first run to answer the Trigger", st)
	}
}

func TestRunsNeverOverlapUnderConcurrentTriggers(t *testing.T) {
	h := newHarness(t, Options{Debounce: -1}, nil)
	x := newExporter(func(context.Context, int) error {
		runtime.Gosched()
		return nil
	})
	h.register("secret", x, time.Second)
	h.start(t.Context())
	recv(t, "first run", x.calls)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !done(stop) {
				h.m.Trigger("secret")
				h.m.TriggerAll()
				runtime.Gosched()
			}
		})
	}
	eventually(t, "200 runs", func() bool {
		h.clk.Step(time.Second)
		return x.n.Load() >= 200
	})
	close(stop)
	wg.Wait()
	x.check(t)
}

func TestRegisterAfterStartRunsAtOnce(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	h.start(t.Context())
	x := newExporter(nil)
	h.register("secret", x, time.Hour)
	recv(t, "first run", x.calls)
	if st := h.parked("secret", 1); st.LastRun != t0 {
		t.Errorf("first run at %v, want %v", st.LastRun, t0)
	}
}

func TestStopAndStart(t *testing.T) {
	t.Run("Stop before Start", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		x := newExporter(nil)
		h.register("secret", x, time.Hour)
		h.m.Stop()
		h.m.Stop()
		h.m.Wait()
		if err := h.m.Start(t.Context()); !errors.Is(err, ErrStopped) {
			t.Errorf("Start after Stop = %v, want ErrStopped", err)
		}
		if st := h.status("secret"); st.Running || x.n.Load() != 0 {
			t.Errorf("status %+v, want not running", st)
		}
	})
	t.Run("Start twice", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		h.start(t.Context())
		if err := h.m.Start(t.Context()); !errors.Is(err, ErrStarted) {
			t.Errorf("second Start = %v, want ErrStarted", err)
		}
	})
	t.Run("Stop twice cancels in-flight runs", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		ctxErr := make(chan error, 1)
		x := newExporter(func(ctx context.Context, _ int) error {
			<-ctx.Done()
			ctxErr <- ctx.Err()
			return ctx.Err()
		})
		idle := newExporter(nil)
		h.register("secret", x, time.Hour)
		h.register("idle", idle, time.Hour)
		h.start(t.Context())
		recv(t, "run", x.calls)
		h.parked("idle", 1)
		h.m.Stop()
		if !done(ctxErr) {
			t.Error("Stop returned before the in-flight Export")
		}
		h.m.Stop()
		h.m.Wait()
		for _, id := range h.m.IDs() {
			if st := h.status(id); st.Running || st.InFlight || !st.NextRun.IsZero() {
				t.Errorf("%s after Stop: %+v, want stopped", id, st)
			}
		}
		if h.clk.HasWaiters() {
			t.Errorf("%d timers left on the clock after Stop", h.clk.Waiters())
		}
		// Registering after Stop records the exporter but never runs it.
		late := newExporter(nil)
		h.register("late", late, time.Hour)
		h.m.Trigger("late")
		if st := h.status("late"); st.Running {
			t.Errorf("exporter registered after Stop is running: %+v", st)
		}
		if err := h.m.Delete("late"); err != nil {
			t.Errorf("Delete after Stop: %v", err)
		}
	})
	t.Run("context cancel before Ready", func(t *testing.T) {
		called := make(chan struct{})
		h := newHarness(t, Options{Ready: func(ctx context.Context) error {
			close(called)
			<-ctx.Done()
			return ctx.Err()
		}}, nil)
		x := newExporter(nil)
		h.register("secret", x, time.Hour)
		ctx, cancel := context.WithCancel(t.Context())
		h.start(ctx)
		recv(t, "Ready call", called)
		cancel()
		h.m.Wait()
		if st := h.status("secret"); st.Running || st.Runs != 0 {
			t.Errorf("status after cancel %+v, want stopped without a run", st)
		}
	})
	t.Run("context cancel during runs", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		ctxErr := make(chan error, 1)
		blocked := newExporter(func(ctx context.Context, _ int) error {
			<-ctx.Done()
			ctxErr <- ctx.Err()
			return ctx.Err()
		})
		idle := newExporter(nil)
		h.register("blocked", blocked, time.Hour)
		h.register("idle", idle, time.Hour)
		ctx, cancel := context.WithCancel(t.Context())
		h.start(ctx)
		recv(t, "run", blocked.calls)
		h.parked("idle", 1)
		cancel()
		h.m.Wait()
		if err := recv(t, "Export's ctx error", ctxErr); !errors.Is(err, context.Canceled) {
			t.Errorf("Export's ctx error = %v, want context.Canceled", err)
		}
		if h.clk.HasWaiters() {
			t.Errorf("%d timers left on the clock after cancel", h.clk.Waiters())
		}
		h.m.Stop()
	})
	t.Run("Wait before Start returns", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		h.m.Wait()
	})
}

func TestOnRunHook(t *testing.T) {
	type call struct {
		id  string
		err error
	}
	calls := make(chan call, 10)
	h := newHarness(t, Options{OnRun: func(id string, _ time.Duration, err error) { calls <- call{id, err} }}, nil)
	h.register("ok", ExporterFunc(func(context.Context, *snapshot.Snapshot) error { return nil }), time.Hour)
	h.start(t.Context())
	if c := recv(t, "OnRun", calls); c.id != "ok" || c.err != nil {
		t.Errorf("OnRun(%q, %v), want (ok, nil)", c.id, c.err)
	}
	h.register("bad", newExporter(func(context.Context, int) error { return errBoom }), time.Hour)
	if c := recv(t, "OnRun", calls); c.id != "bad" || !errors.Is(c.err, errBoom) {
		t.Errorf("OnRun(%q, %v), want (bad, boom)", c.id, c.err)
	}
}

func TestRepeatedFailuresAreNotLoggedEveryTime(t *testing.T) {
	var msg atomic.Value
	msg.Store("collector unreachable")
	var fail atomic.Bool
	fail.Store(true)
	h := newHarness(t, Options{BackoffBase: time.Second, BackoffMax: time.Second}, nil)
	x := newExporter(func(context.Context, int) error {
		if fail.Load() {
			return errors.New(msg.Load().(string))
		}
		return nil
	})
	h.register("http", x, time.Hour)
	h.start(t.Context())
	h.parked("http", 1)
	for i := 2; i <= 12; i++ {
		h.step(time.Second, "http", i)
	}
	msg.Store("collector returned 503")
	h.step(time.Second, "http", 13) // new text
	h.step(time.Second, "http", 14) // same text
	fail.Store(false)
	h.step(time.Second, "http", 15) // recovery
	h.step(time.Hour, "http", 16)   // a second success logs nothing

	var failures []int
	var infos []*logrus.Entry
	for _, e := range h.hook.AllEntries() {
		if e.Data["exporter"] != "http" {
			t.Errorf("log entry %q without the exporter field", e.Message)
		}
		switch e.Level {
		case logrus.ErrorLevel:
			failures = append(failures, e.Data["failures"].(int))
		case logrus.InfoLevel:
			infos = append(infos, e)
		}
	}
	if want := []int{1, 11, 13}; !slices.Equal(failures, want) {
		t.Errorf("failures logged at error level: %v, want %v", failures, want)
	}
	if len(infos) != 1 || infos[0].Data["failures"] != 14 {
		t.Errorf("info entries %v, want one recovery after 14 failures", infos)
	}
}

func TestIDsAndHas(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	for _, id := range []string{"scc", "http", "secret"} {
		h.register(id, newExporter(nil), time.Hour)
	}
	if got, want := h.m.IDs(), []string{"http", "scc", "secret"}; !slices.Equal(got, want) {
		t.Errorf("IDs = %v, want %v", got, want)
	}
	if !h.m.Has("scc") || h.m.Has("nope") {
		t.Error("Has is wrong")
	}
	if _, ok := h.m.Status("nope"); ok {
		t.Error("Status of an unknown id found it")
	}
	h.m.Trigger("nope") // unknown ids are ignored
}

func BenchmarkTrigger(b *testing.B) {
	setup := func(b *testing.B) *Manager {
		logger, _ := logtest.NewNullLogger()
		m := New(SourceFunc(func() (*snapshot.Snapshot, error) { return &snapshot.Snapshot{}, nil }),
			Options{Clock: testingclock.NewFakeClock(t0), Log: logrus.NewEntry(logger)})
		noop := ExporterFunc(func(context.Context, *snapshot.Snapshot) error { return nil })
		for _, id := range []string{"secret", "http", "scc"} {
			if err := m.Register(id, noop, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		if err := m.Start(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(m.Stop)
		return m
	}
	b.Run("one", func(b *testing.B) {
		m := setup(b)
		b.ReportAllocs()
		for b.Loop() {
			m.Trigger("secret")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		m := setup(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Trigger("http")
			}
		})
	})
	b.Run("all", func(b *testing.B) {
		m := setup(b)
		b.ReportAllocs()
		for b.Loop() {
			m.TriggerAll()
		}
	})
}

func TestRetryAfterWaitsTheDelayAskedFor(t *testing.T) {
	tests := []struct {
		name          string
		retryAfterMax time.Duration
		interval      time.Duration
		requested     time.Duration
		want          time.Duration
	}{
		{"below the caps", 0, time.Hour, 90 * time.Second, 90 * time.Second},
		{"longer than BackoffMax", 0, time.Hour, 20 * time.Minute, 20 * time.Minute},
		{"capped at RetryAfterMax", 10 * time.Minute, 2 * time.Hour, time.Hour, 10 * time.Minute},
		{"capped at the default RetryAfterMax", 0, 24 * time.Hour, 5 * time.Hour, time.Hour},
		{"capped at the interval", 0, 5 * time.Minute, 20 * time.Minute, 5 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const failing = 3
			// Jitter that would show: Retry-After is waited without it.
			h := newHarness(t, Options{RetryAfterMax: tc.retryAfterMax, Jitter: 0.1, Rand: func() float64 { return 0.5 }}, nil)
			x := newExporter(func(_ context.Context, n int) error {
				if n <= failing {
					return fmt.Errorf("posting to collector: %w", RetryAfter(tc.requested, errBoom))
				}
				return nil
			})
			h.register("http", x, tc.interval)
			h.start(t.Context())

			st := h.parked("http", 1)
			now := t0
			for i := 1; i <= failing; i++ {
				if st.RetryKind != KindRetryAfter || st.RetryDelay != tc.want || st.NextRun != now.Add(tc.want) ||
					st.ConsecutiveFailures != i || !errors.Is(st.LastError, errBoom) {
					t.Fatalf("after failure %d: status %+v, want retry-after of %v to %v", i, st, tc.want, now.Add(tc.want))
				}
				// A Trigger does not shorten a Retry-After.
				h.m.Trigger("http")
				h.clk.Step(tc.want - time.Nanosecond)
				if got := h.status("http"); got.Runs != i || got.NextRun != now.Add(tc.want) {
					t.Fatalf("status %+v before the Retry-After of failure %d ended, want no run", got, i)
				}
				st = h.step(time.Nanosecond, "http", i+1)
				now = now.Add(tc.want)
			}
			if want := now.Add(tc.interval + tc.interval/20); st.RetryKind != KindNone || st.RetryDelay != 0 ||
				st.LastSuccess != now || st.NextRun != want {
				t.Errorf("after success: status %+v, want no retry kind, next run %v", st, want)
			}
			x.check(t)
		})
	}
}

func TestPermanentWaitsTheIntervalAndATriggerRunsEarly(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	x := newExporter(func(_ context.Context, n int) error {
		if n == 1 || n == 3 {
			return fmt.Errorf("collector refused the payload: %w", Permanent(errBoom))
		}
		return nil
	})
	h.register("http", x, time.Hour)
	h.start(t.Context())

	st := h.parked("http", 1)
	if st.RetryKind != KindPermanent || st.RetryDelay != time.Hour || st.NextRun != t0.Add(time.Hour) ||
		st.ConsecutiveFailures != 1 || !errors.Is(st.LastError, errBoom) {
		t.Fatalf("after a permanent failure: status %+v, want no retry before %v", st, t0.Add(time.Hour))
	}
	h.clk.Step(30 * time.Minute) // far past any backoff
	if st := h.status("http"); st.Runs != 1 {
		t.Fatalf("a permanent failure was retried before the interval: %+v", st)
	}
	// The caches changed: the payload may be accepted now.
	h.m.Trigger("http")
	h.nextRunAt("http", t0.Add(30*time.Minute+2*time.Second))
	st = h.step(2*time.Second, "http", 2)
	now := t0.Add(30*time.Minute + 2*time.Second)
	if st.LastSuccess != now || st.ConsecutiveFailures != 0 || st.RetryKind != KindNone {
		t.Errorf("after the triggered run: status %+v, want a success at %v", st, now)
	}

	// Without a Trigger, a permanent failure waits exactly one interval.
	st = h.step(time.Hour, "http", 3)
	now = now.Add(time.Hour)
	if st.RetryKind != KindPermanent || st.NextRun != now.Add(time.Hour) {
		t.Fatalf("after the second permanent failure: status %+v, want the next run at %v", st, now.Add(time.Hour))
	}
	h.clk.Step(time.Hour - time.Nanosecond)
	if st := h.status("http"); st.Runs != 3 {
		t.Fatalf("run before the interval ended: %+v", st)
	}
	h.step(time.Nanosecond, "http", 4)
	x.check(t)
}

func TestPanicIsAPlainFailure(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	x := newExporter(func(context.Context, int) error { panic(Permanent(errBoom)) })
	h.register("http", x, time.Hour)
	h.start(t.Context())
	st := h.parked("http", 1)
	var pe *PanicError
	if !errors.As(st.LastError, &pe) || st.RetryKind != KindBackoff || st.NextRun != t0.Add(5*time.Second) {
		t.Errorf("status %+v after a panic with a permanent error, want a backoff of 5s", st)
	}
}

func TestFailureLogNamesTheRetryKind(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		kind      string
		retryIn   string
		requested any // the retryAfterRequested field, nil when absent
	}{
		{"plain", errBoom, "backoff", "5s", nil},
		{"retry-after", RetryAfter(time.Minute, errBoom), "retry-after", "1m0s", nil},
		{"retry-after capped", RetryAfter(3*time.Hour, errBoom), "retry-after", "1h0m0s", "3h0m0s"},
		{"permanent", Permanent(errBoom), "permanent", "2h0m0s", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, nil)
			h.register("http", newExporter(func(context.Context, int) error { return tc.err }), 2*time.Hour)
			h.start(t.Context())
			h.parked("http", 1)
			var found bool
			for _, e := range h.hook.AllEntries() {
				if e.Level != logrus.ErrorLevel {
					continue
				}
				found = true
				if e.Data["retryKind"] != tc.kind || e.Data["retryIn"] != tc.retryIn || e.Data["retryAfterRequested"] != tc.requested {
					t.Errorf("log fields %v, want retryKind %s, retryIn %s, retryAfterRequested %v",
						e.Data, tc.kind, tc.retryIn, tc.requested)
				}
			}
			if !found {
				t.Error("the failure was not logged at error level")
			}
		})
	}
}

func TestPauseStopsEveryExporterUntilResume(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	secret, http := newExporter(nil), newExporter(nil)
	h.register("secret", secret, time.Hour)
	h.register("http", http, 10*time.Minute)
	h.start(t.Context())
	h.parked("secret", 1)
	h.parked("http", 1)

	h.m.Pause()
	secret.closed.Store(true)
	http.closed.Store(true)
	if !h.m.Paused() {
		t.Error("Paused() = false after Pause")
	}
	if h.clk.HasWaiters() {
		t.Errorf("%d timers left on the clock after Pause: a loop still waits for a run", h.clk.Waiters())
	}
	// Registered during the pause: recorded, but it does not run.
	scc := newExporter(nil)
	scc.closed.Store(true)
	h.register("scc", scc, time.Hour)
	for _, id := range []string{"secret", "http", "scc"} {
		if st := h.status(id); !st.Paused || st.Running || st.InFlight || !st.NextRun.IsZero() {
			t.Errorf("%s while paused: status %+v, want paused, not running, no next run", id, st)
		}
	}
	h.m.Trigger("secret")
	h.m.TriggerAll()
	h.clk.Step(24 * time.Hour)
	if h.clk.HasWaiters() {
		t.Errorf("%d timers on the clock while paused", h.clk.Waiters())
	}
	for _, x := range []*exporter{secret, http, scc} {
		x.check(t) // no Export call since Pause returned
		x.closed.Store(false)
	}

	h.m.Resume()
	now := t0.Add(24 * time.Hour)
	for _, tc := range []struct {
		id       string
		runs     int
		interval time.Duration
	}{{"secret", 2, time.Hour}, {"http", 2, 10 * time.Minute}, {"scc", 1, time.Hour}} {
		// Each runs at once, without the clock moving, then on its schedule.
		st := h.parked(tc.id, tc.runs)
		if st.Paused || !st.Running || st.LastRun != now || st.NextRun != now.Add(tc.interval) {
			t.Errorf("%s after Resume: status %+v, want running, run at %v, next at %v",
				tc.id, st, now, now.Add(tc.interval))
		}
		if h.pendingTrigger(tc.id) {
			t.Errorf("%s: a Trigger made while paused is still pending after the run on Resume", tc.id)
		}
	}
	if h.m.Paused() {
		t.Error("Paused() = true after Resume")
	}
	h.step(10*time.Minute, "http", 3)
	if st := h.status("secret"); st.Runs != 2 {
		t.Errorf("secret ran %d times, want 2: its next run is an hour after Resume", st.Runs)
	}
	for _, x := range []*exporter{secret, http, scc} {
		x.check(t)
	}
}

func TestPauseWaitsForInFlightRun(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	release := make(chan struct{})
	cancelled := make(chan error, 1)
	x := newExporter(func(ctx context.Context, n int) error {
		if n == 1 {
			<-ctx.Done()
			cancelled <- ctx.Err()
			<-release // ignores the cancellation a while longer
			return ctx.Err()
		}
		return nil
	})
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	recv(t, "first run", x.calls)

	returned := make(chan struct{})
	go func() {
		h.m.Pause()
		close(returned)
	}()
	if err := recv(t, "cancellation of the in-flight run", cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Export's ctx error = %v, want context.Canceled", err)
	}
	if done(returned) {
		t.Fatal("Pause returned during the in-flight run")
	}
	close(release)
	recv(t, "Pause to return", returned)
	x.closed.Store(true)
	if st := h.status("secret"); st.InFlight || st.Running || !st.Paused {
		t.Errorf("status after Pause %+v, want paused with no run in flight", st)
	}

	h.m.Trigger("secret")
	h.clk.Step(10 * time.Hour)
	if n := x.n.Load(); n != 1 {
		t.Errorf("Export called %d times while paused, want 1 (the run Pause waited for)", n)
	}
	x.check(t)
	x.closed.Store(false)
	h.m.Resume()
	h.parked("secret", 2)
	x.check(t)
}

func TestDeleteWhilePaused(t *testing.T) {
	deleted := make(chan string, 4)
	h := newHarness(t, Options{OnDelete: func(id string) { deleted <- id }}, nil)
	secret, http := newExporter(nil), newExporter(nil)
	h.register("secret", secret, time.Hour)
	h.register("http", http, time.Hour)
	h.start(t.Context())
	h.parked("secret", 1)
	h.parked("http", 1)

	h.m.Pause()
	if err := h.m.Delete("secret"); err != nil {
		t.Fatalf("Delete while paused: %v", err)
	}
	secret.closed.Store(true)
	if got := recv(t, "OnDelete", deleted); got != "secret" {
		t.Errorf("OnDelete(%q), want secret", got)
	}
	if h.m.Has("secret") {
		t.Error("Has after Delete = true")
	}
	h.m.Resume()
	h.parked("http", 2)
	h.step(10*time.Hour, "http", 3)
	if n := secret.n.Load(); n != 1 {
		t.Errorf("exporter deleted while paused ran %d times, want 1", n)
	}
	secret.check(t)
}

func TestPauseAndResumeAreIdempotent(t *testing.T) {
	t.Run("before Start", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		x := newExporter(nil)
		h.register("secret", x, time.Hour)
		h.m.Pause()
		h.m.Pause()
		h.start(t.Context())
		h.clk.Step(time.Hour)
		if st := h.status("secret"); st.Running || !st.Paused || st.Runs != 0 || h.clk.HasWaiters() {
			t.Errorf("started while paused: status %+v, %d timers; want paused, no run", st, h.clk.Waiters())
		}
		h.m.Resume()
		h.m.Resume()
		recv(t, "first run after Resume", x.calls)
		if st := h.parked("secret", 1); st.LastRun != t0.Add(time.Hour) {
			t.Errorf("first run at %v, want %v", st.LastRun, t0.Add(time.Hour))
		}
		// One Pause stops every loop Resume started: two Resumes started one.
		h.m.Pause()
		if h.clk.HasWaiters() {
			t.Errorf("%d timers left after Pause: a second loop escaped it", h.clk.Waiters())
		}
		x.check(t)
	})
	t.Run("Resume before Start only lets Start run", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		x := newExporter(nil)
		h.register("secret", x, time.Hour)
		h.m.Pause()
		h.m.Resume()
		if st := h.status("secret"); st.Running || st.Paused {
			t.Errorf("status before Start %+v, want neither running nor paused", st)
		}
		h.start(t.Context())
		h.parked("secret", 1)
	})
	t.Run("Resume without Pause", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		x := newExporter(nil)
		h.register("secret", x, time.Hour)
		h.start(t.Context())
		h.parked("secret", 1)
		h.m.Resume()
		if st := h.status("secret"); st.Runs != 1 || st.NextRun != t0.Add(time.Hour) || h.clk.Waiters() != 1 {
			t.Errorf("status %+v, %d timers after Resume of a running manager, want it unchanged", st, h.clk.Waiters())
		}
	})
	t.Run("after Stop", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		x := newExporter(nil)
		h.register("secret", x, time.Hour)
		h.start(t.Context())
		h.parked("secret", 1)
		h.m.Pause()
		h.m.Stop()
		h.m.Resume()
		h.m.Pause()
		h.m.Resume()
		if st := h.status("secret"); st.Running || st.Runs != 1 || h.clk.HasWaiters() {
			t.Errorf("status %+v after Resume following Stop, want not running", st)
		}
	})
}

func TestReplaceChangesTheInterval(t *testing.T) {
	for _, paused := range []bool{false, true} {
		t.Run(fmt.Sprintf("paused=%v", paused), func(t *testing.T) {
			h := newHarness(t, Options{}, nil)
			old, repl := newExporter(nil), newExporter(nil)
			h.register("secret", old, time.Hour)
			h.start(t.Context())
			h.parked("secret", 1)
			if paused {
				h.m.Pause()
			}
			h.register("secret", repl, 10*time.Minute, Replace())
			old.closed.Store(true)
			if paused {
				if st := h.status("secret"); st.Running || st.Runs != 0 {
					t.Fatalf("replacement registered while paused: status %+v, want not running", st)
				}
				h.m.Resume()
			}
			recv(t, "first run of the replacement", repl.calls)
			if st := h.parked("secret", 1); st.Interval != 10*time.Minute || st.NextRun != t0.Add(10*time.Minute) {
				t.Fatalf("replacement status %+v, want interval 10m, next run at %v", st, t0.Add(10*time.Minute))
			}
			if st := h.step(10*time.Minute, "secret", 2); st.LastRun != t0.Add(10*time.Minute) {
				t.Errorf("second run of the replacement at %v, want %v", st.LastRun, t0.Add(10*time.Minute))
			}
			old.check(t)
			repl.check(t)
		})
	}
}

func TestExportersRunOnTheirOwnIntervals(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	fast, slow := newExporter(nil), newExporter(nil)
	h.register("fast", fast, time.Minute)
	h.register("slow", slow, 3*time.Minute)
	h.start(t.Context())
	h.parked("fast", 1)
	h.parked("slow", 1)
	for i := 1; i <= 6; i++ {
		h.clk.Step(time.Minute)
		now := t0.Add(time.Duration(i) * time.Minute)
		if st := h.parked("fast", 1+i); st.LastRun != now || st.NextRun != now.Add(time.Minute) {
			t.Fatalf("fast after %dm: status %+v", i, st)
		}
		runs := 1 + i/3
		last := t0.Add(time.Duration(runs-1) * 3 * time.Minute)
		if st := h.parked("slow", runs); st.LastRun != last || st.NextRun != last.Add(3*time.Minute) {
			t.Fatalf("slow after %dm: status %+v, want %d runs, last at %v", i, st, runs, last)
		}
	}
	if f, s := fast.n.Load(), slow.n.Load(); f != 7 || s != 3 {
		t.Errorf("runs in 6 minutes: fast %d, slow %d; want 7 and 3", f, s)
	}
}

func TestOnDeleteAfterTheExporterStopped(t *testing.T) {
	var mu sync.Mutex
	var events []string
	record := func(ev string) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}
	h := newHarness(t, Options{
		OnRun:    func(id string, _ time.Duration, _ error) { record("run " + id) },
		OnDelete: func(id string) { record("delete " + id) },
	}, nil)
	release := make(chan struct{})
	x := newExporter(func(ctx context.Context, _ int) error {
		<-ctx.Done()
		<-release
		return ctx.Err()
	})
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	recv(t, "run", x.calls)

	returned := make(chan error, 1)
	go func() { returned <- h.m.Delete("secret") }()
	eventually(t, "Delete to cancel the run", func() bool { return !h.m.Has("secret") })
	close(release)
	if err := recv(t, "Delete", returned); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(events)
	mu.Unlock()
	if want := []string{"run secret", "delete secret"}; !slices.Equal(got, want) {
		t.Errorf("hook calls %q, want %q: OnDelete after the last OnRun, before Delete returns", got, want)
	}

	// Replace keeps the id and its series; an unknown id calls nothing.
	h.register("http", newExporter(nil), time.Hour)
	h.parked("http", 1)
	h.register("http", newExporter(nil), time.Hour, Replace())
	h.parked("http", 1)
	if err := h.m.Delete("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete(nope) = %v, want ErrNotFound", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range events[2:] {
		if strings.HasPrefix(ev, "delete") {
			t.Errorf("OnDelete called for %q by Replace or an unknown id", ev)
		}
	}
}

func TestResumeDuringPauseNeverOverlaps(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	release := make(chan struct{})
	cancelled := make(chan struct{})
	x := newExporter(func(ctx context.Context, n int) error {
		if n == 1 {
			<-ctx.Done()
			close(cancelled)
			<-release
		}
		return nil
	})
	h.register("secret", x, time.Hour)
	h.start(t.Context())
	recv(t, "first run", x.calls)

	paused := make(chan struct{})
	go func() {
		h.m.Pause()
		close(paused)
	}()
	recv(t, "cancellation of the first run", cancelled)
	// Resumed while Pause still waits for the first run: the new loop waits too.
	h.m.Resume()
	if st := h.status("secret"); !st.Running || st.Paused {
		t.Errorf("status after Resume %+v, want running", st)
	}
	if n := x.n.Load(); n != 1 {
		t.Fatalf("Export called %d times while the first run was in flight", n)
	}
	close(release)
	recv(t, "Pause to return", paused)
	recv(t, "run after Resume", x.calls)
	if st := h.parked("secret", 2); !st.Running || st.NextRun != t0.Add(time.Hour) {
		t.Errorf("status after the run on Resume %+v, want running, next run at %v", st, t0.Add(time.Hour))
	}
	x.check(t)
}
