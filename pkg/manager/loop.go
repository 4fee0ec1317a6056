package manager

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// errNoSnapshot is the error of a run whose Source returned neither a
// snapshot nor an error.
var errNoSnapshot = errors.New("source returned no snapshot")

// PanicError is the error of a run whose exporter panicked. Its Unwrap
// returns the panic value when that is an error.
type PanicError struct {
	ID    string // exporter id
	Value any    // value passed to panic
	Stack []byte // stack of the panicking goroutine
}

// Error returns "exporter <id> panicked: <value>".
func (p *PanicError) Error() string {
	return fmt.Sprintf("exporter %q panicked: %v", p.ID, p.Value)
}

// Unwrap returns the panic value if it is an error, else nil.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// entry is one registered exporter and the state of its loop.
type entry struct {
	id       string
	exp      Exporter
	events   bool // runs carry the events it has not delivered
	interval time.Duration
	log      *logrus.Entry
	// trigger holds at most one pending Trigger. The run that starts next
	// drains it, so it answers every Trigger made before it started.
	trigger chan struct{}
	// retry holds at most one pending RetryAll; it ends a backoff wait.
	// The run that starts next drains it.
	retry chan struct{}

	// cancel and done are set by launch, under Manager.mu (done under mu
	// too). done is closed when the last loop launched for the id has
	// exited: e's own, or, before e's first launch, that of the exporter e
	// replaced. cancel is nil until e's loop is launched; done is nil if no
	// loop was ever launched for the id.
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	status Status

	// failures throttles failure logs; only the loop goroutine uses it.
	failures failureLog
}

// stop cancels e's loop and returns the channel closed when it has exited,
// nil if it was never launched. Manager.mu must be held.
func (e *entry) stop() chan struct{} {
	if e.cancel != nil {
		e.cancel()
	}
	return e.done
}

// poke records a pending Trigger without blocking.
func (e *entry) poke() {
	select {
	case e.trigger <- struct{}{}:
	default:
	}
}

// loop runs e until ctx is done: first after the previous loop of the id
// has exited (after) and the manager is ready, then on schedule. It closes
// done when it exits.
func (m *Manager) loop(ctx context.Context, e *entry, after <-chan struct{}, done chan struct{}) {
	defer func() {
		e.mu.Lock()
		// A Resume may have launched the next loop already; its state is
		// not this loop's to clear.
		if e.done == done {
			e.status.Running = false
			e.status.NextRun = time.Time{}
		}
		e.mu.Unlock()
		close(done)
		m.wg.Done()
	}()

	if after != nil {
		// Not selected with ctx: the old loop is already cancelled, and done
		// must not close before it has, so a chain of replacements, pauses
		// and resumes never overlaps.
		<-after
	}
	select {
	case <-m.ready:
	case <-ctx.Done():
		return
	}

	for ctx.Err() == nil {
		r := m.run(ctx, e)
		if ctx.Err() != nil {
			// Stopped, paused or deleted during the run: its error is most
			// likely the cancellation, not worth an error log.
			if r.err != nil {
				e.log.WithError(r.err).Debug("export ended by cancellation")
			}
			return
		}
		m.logResult(e, r)
		// Triggers wait for the end of a backoff or a Retry-After, which
		// read a fresh snapshot anyway; after a success or a permanent
		// failure they mean the payload may have changed.
		honourTriggers := r.kind == KindNone || r.kind == KindPermanent
		if !m.wait(ctx, e, r.delay, honourTriggers, r.kind == KindBackoff) {
			return
		}
	}
}

// result is the outcome of one run.
type result struct {
	err       error
	prev      int           // consecutive failures before the run
	failures  int           // consecutive failures after the run
	kind      RetryKind     // how it is retried
	requested time.Duration // the delay a RetryAfter error asked for
	delay     time.Duration // until the next run
}

// run runs e once and records the result, the retry kind and the delay
// until the next run.
func (m *Manager) run(ctx context.Context, e *entry) result {
	// This run answers every Trigger and RetryAll made so far.
	select {
	case <-e.trigger:
	default:
	}
	select {
	case <-e.retry:
	default:
	}

	start := m.opts.Clock.Now()
	e.mu.Lock()
	e.status.InFlight = true
	e.status.NextRun = time.Time{}
	e.mu.Unlock()

	var r result
	s, err := m.snapshot()
	if err == nil {
		var ev snapshot.Events
		if e.events {
			ev = m.opts.Events.Pending(e.id)
			s = s.WithEvents(ev)
		}
		err = m.export(ctx, e, s)
		r.kind, r.requested = retryKind(err)
		if err == nil && e.events && m.opts.Events.Delivered(e.id, ev) {
			e.poke() // more than one report carries
		}
	} else {
		// The Source is the manager's own: its failures are plain.
		r.kind = KindBackoff
	}
	r.err = err

	end := m.opts.Clock.Now()
	d := end.Sub(start)
	e.mu.Lock()
	st := &e.status
	r.prev = st.ConsecutiveFailures
	st.InFlight = false
	st.Runs++
	st.LastRun = end
	st.LastDuration = d
	st.LastError = err
	if err == nil {
		st.LastSuccess = end
		st.ConsecutiveFailures = 0
	} else {
		st.ConsecutiveFailures++
	}
	r.failures = st.ConsecutiveFailures
	r.delay = m.delay(e.interval, r.failures, r.kind, r.requested)
	st.RetryKind = r.kind
	st.RetryDelay = 0
	if err != nil {
		st.RetryDelay = r.delay
	}
	e.mu.Unlock()

	if m.opts.OnRun != nil {
		m.opts.OnRun(e.id, d, err)
	}
	return r
}

// snapshot reads the Source. A panic in it is a failed run, as an error is.
func (m *Manager) snapshot() (s *snapshot.Snapshot, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading snapshot: source panicked: %v", r)
			m.opts.Log.WithField("stack", string(debug.Stack())).Debug("snapshot source panicked")
		}
	}()
	s, err = m.src.Snapshot()
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading snapshot: %w", err)
	case s == nil:
		return nil, fmt.Errorf("reading snapshot: %w", errNoSnapshot)
	}
	return s, nil
}

// export calls e's Export and turns a panic into a *PanicError.
func (m *Manager) export(ctx context.Context, e *entry, s *snapshot.Snapshot) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p := &PanicError{ID: e.id, Value: r, Stack: debug.Stack()}
			e.log.WithField("stack", string(p.Stack)).Debug("exporter panicked")
			err = p
		}
	}()
	return e.exp.Export(ctx, s)
}

// delay returns how long to wait after a run of the given retry kind that
// left the given number of consecutive failures: the interval plus jitter
// after a success or a permanent failure; the requested delay, without
// jitter, capped at min(RetryAfterMax, interval), for a retry-after; else
// BackoffBase*2^(failures-1) plus jitter, capped at min(BackoffMax, interval).
func (m *Manager) delay(interval time.Duration, failures int, kind RetryKind, requested time.Duration) time.Duration {
	switch {
	case kind == KindNone, kind == KindPermanent:
		return m.jittered(interval)
	case kind == KindRetryAfter:
		return min(requested, m.opts.RetryAfterMax, interval)
	}
	return backoff(m.opts.BackoffBase, min(m.opts.BackoffMax, interval), failures, m.jittered)
}

// backoff returns base*2^(n-1), passed through jitter, capped at limit.
func backoff(base, limit time.Duration, n int, jitter func(time.Duration) time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(jitter(d), limit)
}

// jittered returns d plus a random fraction, up to Jitter, of d.
func (m *Manager) jittered(d time.Duration) time.Duration {
	if m.opts.Jitter <= 0 {
		return d
	}
	return d + time.Duration(m.opts.Jitter*m.opts.Rand()*float64(d))
}

// wait blocks until the next run of e is due: delay has passed, or, when
// honourTriggers is set, the debounce window of a Trigger has closed.
// Otherwise Triggers are left pending for the retry to drain. When
// retryable is set (a backoff after a plain failure), a RetryAll ends the
// wait at once. It returns false when ctx is done.
func (m *Manager) wait(ctx context.Context, e *entry, delay time.Duration, honourTriggers, retryable bool) bool {
	due := m.opts.Clock.Now().Add(delay)
	timer := m.opts.Clock.NewTimer(delay)
	defer timer.Stop()
	// NextRun is set only once the timer exists, so whoever sees it (a test
	// driving a fake clock) knows the loop is waiting.
	e.setNextRun(due)

	triggered := e.trigger
	if !honourTriggers {
		triggered = nil
	}
	var retried chan struct{}
	if retryable {
		retried = e.retry
	}
	var debounce clock.Timer
	var debounced <-chan time.Time
	defer func() {
		if debounce != nil {
			debounce.Stop()
		}
	}()

	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C():
			return true
		case <-debounced:
			return true
		case <-retried:
			return true
		case <-triggered:
			// Put it back: the run drains it, and a Trigger made before that
			// run starts needs no other.
			e.poke()
			triggered = nil
			if m.opts.Debounce <= 0 {
				return true
			}
			soon := m.opts.Clock.Now().Add(m.opts.Debounce)
			if !soon.Before(due) {
				continue // the scheduled run comes first
			}
			debounce = m.opts.Clock.NewTimer(m.opts.Debounce)
			debounced = debounce.C()
			e.setNextRun(soon)
		}
	}
}

func (e *entry) setNextRun(t time.Time) {
	e.mu.Lock()
	e.status.NextRun = t
	e.mu.Unlock()
}

// logResult logs the outcome of a run with its retry kind, without
// repeating the same failure at error level on every retry, and logs a
// recovery once.
func (m *Manager) logResult(e *entry, r result) {
	if r.err == nil {
		if r.prev > 0 {
			e.log.WithField("failures", r.prev).Info("export recovered")
		}
		e.failures.reset()
		return
	}
	log := e.log.WithError(r.err).WithFields(logrus.Fields{
		"failures":  r.failures,
		"retryKind": string(r.kind),
		"retryIn":   r.delay.String(),
	})
	if r.kind == KindRetryAfter && r.requested != r.delay {
		log = log.WithField("retryAfterRequested", r.requested.String())
	}
	if e.failures.loud(r.failures, r.err) {
		log.Error("export failed")
	} else {
		log.Debug("export failed again")
	}
}

// failureLog decides which of a series of consecutive failures is logged at
// error level: the first, any whose text differs from the previous one, and
// every logEvery-th after that.
type failureLog struct {
	last string
}

// loud reports whether the n-th consecutive failure, err, is logged at error level.
func (f *failureLog) loud(n int, err error) bool {
	msg := err.Error()
	loud := n == 1 || msg != f.last || (n-1)%logEvery == 0
	f.last = msg
	return loud
}

func (f *failureLog) reset() { f.last = "" }

// prepare calls Options.Ready until it succeeds, then closes m.ready. Errors
// are retried with the exporters' backoff, capped at BackoffMax.
func (m *Manager) prepare(ctx context.Context) {
	defer m.wg.Done()
	if m.opts.Ready != nil {
		var failures failureLog
		for n := 1; ; n++ {
			err := m.opts.Ready(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			delay := backoff(m.opts.BackoffBase, m.opts.BackoffMax, n, m.jittered)
			log := m.opts.Log.WithError(err).WithFields(logrus.Fields{"failures": n, "retryIn": delay.String()})
			if failures.loud(n, err) {
				log.Error("waiting for caches and install information")
			} else {
				log.Debug("still waiting for caches and install information")
			}
			t := m.opts.Clock.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
	}
	close(m.ready)
}
