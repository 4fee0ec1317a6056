// Package manager schedules the exporters. Each registered exporter gets its
// own loop: it waits until the caches and install information are ready, runs
// at once, then every interval with jitter. After a failure the error says how
// to retry (see RetryAfter and Permanent); a plain error is retried with
// capped exponential backoff. Runs of one exporter never overlap, and a
// failing, slow or panicking exporter never delays or stops another. Pause
// and Resume stop and restart every exporter at once, those registered later
// included.
//
// The manager owns scheduling only; an exporter owns its own I/O. All time is
// read from an injected clock so that tests drive the schedule with a fake one.
package manager

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Errors returned by the Manager. Test them with errors.Is; the returned
// errors carry the exporter id as context.
var (
	// ErrDuplicate means Register was given an id already in use and no Replace option.
	ErrDuplicate = errors.New("already registered")
	// ErrNotFound means no exporter is registered under the id.
	ErrNotFound = errors.New("not registered")
	// ErrInvalid means Register was given an empty id, a nil exporter or an
	// interval that is not positive.
	ErrInvalid = errors.New("invalid registration")
	// ErrStarted means Start was called a second time.
	ErrStarted = errors.New("manager already started")
	// ErrStopped means Start was called after Stop.
	ErrStopped = errors.New("manager stopped")
)

// Defaults applied by New to the zero values of Options.
const (
	DefaultJitter      = 0.1
	DefaultBackoffBase = 5 * time.Second
	DefaultBackoffMax  = 5 * time.Minute
	DefaultDebounce    = 2 * time.Second
	// DefaultRetryAfterMax caps the delay a RetryAfter error asks for.
	DefaultRetryAfterMax = time.Hour
)

// logEvery is how often a failure that repeats with the same text is logged
// at error level: the 1st, the (logEvery+1)th, and so on. The others are
// logged at debug level.
const logEvery = 10

// Exporter exports one snapshot. It owns its I/O; the manager owns
// scheduling. Export must return soon after ctx is cancelled, since Stop,
// Delete and Register with Replace wait for it. The snapshot may be shared
// with other exporters and must not be modified.
type Exporter interface {
	Export(ctx context.Context, s *snapshot.Snapshot) error
}

// ExporterFunc adapts a function to the Exporter interface.
type ExporterFunc func(ctx context.Context, s *snapshot.Snapshot) error

// Export calls f(ctx, s).
func (f ExporterFunc) Export(ctx context.Context, s *snapshot.Snapshot) error { return f(ctx, s) }

// Source gives the snapshot to export. It reads caches and is called once
// per run, so every run exports what the caches hold when it starts. It is
// called from several loops at once and must be safe for concurrent use.
type Source interface {
	Snapshot() (*snapshot.Snapshot, error)
}

// SourceFunc adapts a function to the Source interface.
type SourceFunc func() (*snapshot.Snapshot, error)

// Snapshot calls f().
func (f SourceFunc) Snapshot() (*snapshot.Snapshot, error) { return f() }

// Options tune a Manager. The zero value of every field selects its default.
type Options struct {
	// Clock is the source of time for every timer. Default clock.RealClock{}.
	Clock clock.WithTicker
	// Log receives the manager's entries; each exporter's carry the field
	// "exporter". Default logrus.NewEntry(logrus.StandardLogger()).
	Log *logrus.Entry
	// Ready waits until the caches are synced and the install information is
	// known. It is called once, by Start, with Start's context, and no
	// exporter runs before it returns nil. An error other than the context's
	// is logged and Ready is called again after a capped exponential backoff.
	// It must return when ctx is cancelled. Nil means ready at once.
	Ready func(ctx context.Context) error
	// Jitter is the fraction of a delay added at random: a run is due
	// interval*(1+Jitter*Rand()) after the previous one. Default 0.1; a
	// negative value disables jitter.
	Jitter float64
	// BackoffBase is the delay after the first failure of a run; it doubles
	// with each consecutive failure. Default 5s.
	BackoffBase time.Duration
	// BackoffMax caps the backoff. Default 5m. The backoff of an exporter is
	// also never longer than its interval.
	BackoffMax time.Duration
	// RetryAfterMax caps the delay a RetryAfter error asks for. Default 1h.
	// The delay is also never longer than the exporter's interval.
	RetryAfterMax time.Duration
	// Debounce is the window in which Trigger calls are coalesced into one
	// run. Default 2s; a negative value makes a Trigger run at once.
	Debounce time.Duration
	// Rand returns a number in [0, 1) for jitter. It must be safe for
	// concurrent use. Default math/rand/v2.Float64.
	Rand func() float64
	// OnRun, if set, is called after each run with the exporter id, the run's
	// duration and its error (nil on success), for example to record metrics.
	// It is called from the exporter's loop and should return quickly.
	OnRun func(id string, d time.Duration, err error)
	// OnDelete, if set, is called by Delete with the exporter id once the
	// exporter has stopped, so that OnRun is not called for it again, and
	// before Delete returns; for example to remove its metrics series.
	// Register with Replace keeps the id and does not call it.
	OnDelete func(id string)
	// Events, if set, gives the exporters registered WithEvents the
	// lifecycle events they have not delivered (package events): each run
	// hands them with the snapshot, and a successful run marks them
	// delivered.
	Events EventSource
}

// EventSource keeps, for each exporter that carries events, those it has
// not delivered; *events.Log is one.
type EventSource interface {
	// Track gives exporter id a cursor.
	Track(id string)
	// Pending returns what exporter id has not delivered.
	Pending(id string) snapshot.Events
	// Delivered records that exporter id delivered ev, and reports
	// whether more wait.
	Delivered(id string, ev snapshot.Events) bool
}

// withDefaults returns o with the zero values replaced by defaults.
func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	switch {
	case o.Jitter == 0:
		o.Jitter = DefaultJitter
	case o.Jitter < 0:
		o.Jitter = 0
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.RetryAfterMax <= 0 {
		o.RetryAfterMax = DefaultRetryAfterMax
	}
	switch {
	case o.Debounce == 0:
		o.Debounce = DefaultDebounce
	case o.Debounce < 0:
		o.Debounce = 0
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return o
}

// Status is what the manager knows about one exporter.
type Status struct {
	// Running is true while the exporter's loop is active: from Start (or
	// Register after Start, or Resume) until Stop, Delete, Pause or the end
	// of Start's context.
	Running bool
	// Paused is true while the manager is paused: the exporter is registered
	// but does not run until Resume.
	Paused bool
	// InFlight is true while Export (or the Source read before it) runs.
	InFlight bool
	// Interval is the interval the exporter was registered with.
	Interval time.Duration
	// Runs counts the finished runs, successful or not.
	Runs int
	// LastRun is when the last run finished; zero before the first.
	LastRun time.Time
	// LastDuration is how long the last run took.
	LastDuration time.Duration
	// LastSuccess is when the last successful run finished.
	LastSuccess time.Time
	// LastError is the error of the last run, nil when it succeeded.
	LastError error
	// ConsecutiveFailures counts the failed runs since the last success,
	// whatever their retry kind.
	ConsecutiveFailures int
	// RetryKind says how the last run is retried: KindNone after a success,
	// else the kind read from its error.
	RetryKind RetryKind
	// RetryDelay is the delay chosen for the retry after the last failed
	// run, before a Trigger moves it; zero after a success.
	RetryDelay time.Duration
	// NextRun is when the next run is due. It is zero when no run is
	// scheduled: before Ready returns, during a run, and when not Running.
	// A Trigger moves it earlier.
	NextRun time.Time
}

// RegisterOption changes how Register treats an exporter.
type RegisterOption func(*registerConfig)

type registerConfig struct {
	replace bool
	events  bool
}

// WithEvents makes each run of the exporter carry the lifecycle events it
// has not delivered yet (Options.Events), and a successful run mark them
// delivered: it never sends one twice. When more wait than one report
// carries, the next run follows at once.
func WithEvents() RegisterOption {
	return func(c *registerConfig) { c.events = true }
}

// Replace makes Register replace an exporter already registered under the
// id instead of refusing it. The old exporter is stopped first: Register
// returns only after its in-flight run, if any, has finished, and the new
// exporter never runs at the same time as the old one.
func Replace() RegisterOption {
	return func(c *registerConfig) { c.replace = true }
}

// Manager runs registered exporters on their schedules. Create it with New.
// All its methods are safe for concurrent use, but Delete and Register with
// Replace must not be called from the Export of the exporter they stop: they
// wait for that Export to return.
type Manager struct {
	src  Source
	opts Options

	// ready is closed once Options.Ready has returned nil.
	ready chan struct{}

	mu      sync.Mutex
	entries map[string]*entry
	started bool
	stopped bool
	// paused is set by Pause and cleared by Resume; while it is set no loop
	// is launched.
	paused bool
	// closed is set once the run context is done; from then on no loop is
	// launched, so wg never goes up from zero while reap waits on it.
	closed bool
	ctx    context.Context    // run context, set by Start
	cancel context.CancelFunc // cancels ctx, set by Start
	// finished is closed when every goroutine started by the manager has
	// exited after ctx is done. Set by Start.
	finished chan struct{}
	wg       sync.WaitGroup
}

// New returns a Manager that exports the snapshots src gives; src must not be
// nil. Options left at their zero value take their defaults.
func New(src Source, opts Options) *Manager {
	return &Manager{
		src:     src,
		opts:    opts.withDefaults(),
		ready:   make(chan struct{}),
		entries: make(map[string]*entry),
	}
}

// Register adds an exporter that runs every interval. An id already in use
// is refused with ErrDuplicate unless opts include Replace, in which case the
// new exporter and its interval take the old one's place; an empty id, a nil
// exporter or an interval that is not positive is refused with ErrInvalid.
// After Start, the exporter starts at once: it runs as soon as Ready has
// returned. While paused, it is recorded and runs on Resume. After Stop, it
// is recorded but never runs.
func (m *Manager) Register(id string, e Exporter, interval time.Duration, opts ...RegisterOption) error {
	var cfg registerConfig
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case id == "":
		return fmt.Errorf("exporter id is empty: %w", ErrInvalid)
	case e == nil:
		return fmt.Errorf("exporter %q: exporter is nil: %w", id, ErrInvalid)
	case interval <= 0:
		return fmt.Errorf("exporter %q: interval %s is not positive: %w", id, interval, ErrInvalid)
	}

	ent := &entry{
		id:       id,
		exp:      e,
		events:   cfg.events && m.opts.Events != nil,
		interval: interval,
		log:      m.opts.Log.WithField("exporter", id),
		trigger:  make(chan struct{}, 1),
		retry:    make(chan struct{}, 1),
	}
	ent.status.Interval = interval

	m.mu.Lock()
	old := m.entries[id]
	if old != nil && !cfg.replace {
		m.mu.Unlock()
		return fmt.Errorf("exporter %q: %w", id, ErrDuplicate)
	}
	if ent.events {
		m.opts.Events.Track(id)
	}
	var oldDone chan struct{}
	if old != nil {
		oldDone = old.stop()
		// The replacement's loop, whenever it is launched, waits for the old
		// one to exit.
		ent.done = oldDone
	}
	m.entries[id] = ent
	if m.runnable() {
		m.launch(ent)
	}
	m.mu.Unlock()

	if oldDone != nil {
		<-oldDone
	}
	return nil
}

// Delete stops the exporter and removes it. It waits for an in-flight run to
// finish: once Delete returns, the exporter's Export is never called again.
// It then calls Options.OnDelete. It returns ErrNotFound when no exporter
// has the id.
func (m *Manager) Delete(id string) error {
	m.mu.Lock()
	e := m.entries[id]
	if e == nil {
		m.mu.Unlock()
		return fmt.Errorf("exporter %q: %w", id, ErrNotFound)
	}
	delete(m.entries, id)
	done := e.stop()
	m.mu.Unlock()

	if done != nil {
		<-done
	}
	if m.opts.OnDelete != nil {
		m.opts.OnDelete(id)
	}
	return nil
}

// Has reports whether an exporter is registered under id.
func (m *Manager) Has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.entries[id]
	return ok
}

// Status returns the status of the exporter registered under id, and false
// when there is none.
func (m *Manager) Status(id string) (Status, bool) {
	m.mu.Lock()
	e := m.entries[id]
	paused := m.paused
	m.mu.Unlock()
	if e == nil {
		return Status{}, false
	}
	e.mu.Lock()
	st := e.status
	e.mu.Unlock()
	st.Paused = paused
	return st, true
}

// IDs returns the ids of the registered exporters, sorted.
func (m *Manager) IDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.entries))
}

// Start launches the loops of the registered exporters and returns at once.
// Each loop waits for Options.Ready, runs its exporter immediately, then on
// schedule. Everything stops when ctx is cancelled or Stop is called. Start
// returns ErrStarted when called twice and ErrStopped after Stop.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.stopped:
		return ErrStopped
	case m.started:
		return ErrStarted
	}
	m.started = true
	m.ctx, m.cancel = context.WithCancel(ctx)
	m.finished = make(chan struct{})

	m.wg.Add(1)
	go m.prepare(m.ctx)
	if !m.paused {
		for _, e := range m.entries {
			m.launch(e)
		}
	}
	go m.reap(m.ctx)
	return nil
}

// Pause stops every registered exporter and waits for their in-flight runs
// to finish: once Pause returns, no Export is called until Resume. Exporters
// stay registered, and one registered while paused does not run until
// Resume. Triggers made while paused are answered by the run on Resume.
// Pause may be called more than once, and before Start, in which case Start
// launches nothing until Resume.
func (m *Manager) Pause() {
	m.mu.Lock()
	m.paused = true
	dones := make([]chan struct{}, 0, len(m.entries))
	for _, e := range m.entries {
		if done := e.stop(); done != nil {
			dones = append(dones, done)
		}
	}
	m.mu.Unlock()

	for _, done := range dones {
		<-done
	}
}

// Resume ends a Pause: every registered exporter runs at once (as soon as
// Ready has returned, if Start was called), then on schedule. It does
// nothing when the manager is not paused, and before Start it only lets
// Start launch the exporters. After Stop, nothing runs again.
func (m *Manager) Resume() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.paused {
		return
	}
	m.paused = false
	if m.runnable() {
		for _, e := range m.entries {
			m.launch(e)
		}
	}
}

// Paused reports whether the manager is paused.
func (m *Manager) Paused() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paused
}

// Trigger asks for a run of the exporter soon, for example because the
// caches changed. Calls within Options.Debounce of the first are coalesced
// into one run, and a Trigger never starts a run while one is in flight:
// Triggers during a run yield exactly one run after it. While the exporter
// waits for a backoff or a Retry-After after a failure, Trigger does not
// shorten the wait; the retry reads a fresh snapshot anyway. After a
// permanent failure it is honoured as after a success, since the payload may
// have changed. Unknown ids are ignored. Trigger never blocks.
func (m *Manager) Trigger(id string) {
	m.mu.Lock()
	e := m.entries[id]
	m.mu.Unlock()
	if e != nil {
		e.poke()
	}
}

// TriggerAll calls Trigger for every registered exporter.
func (m *Manager) TriggerAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		e.poke()
	}
}

// RetryAll ends the backoff of every exporter that waits for one after a
// plain failure, so that it runs again at once: the cause of the failure
// may have gone, for example the API server answers again after an outage.
// A Retry-After delay (the remote asked for it), a permanent failure and
// the wait after a success are left as they are. Never blocks.
func (m *Manager) RetryAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		select {
		case e.retry <- struct{}{}:
		default:
		}
	}
}

// Stop cancels every loop and waits until they have all exited, in-flight
// runs included. It may be called more than once, and before Start, in which
// case a later Start returns ErrStopped.
func (m *Manager) Stop() {
	m.mu.Lock()
	m.stopped = true
	cancel, finished := m.cancel, m.finished
	m.mu.Unlock()

	if cancel != nil {
		cancel()
		<-finished
	}
}

// Wait blocks until every loop has exited after Stop or the cancellation of
// Start's context. It returns at once if Start was never called.
func (m *Manager) Wait() {
	m.mu.Lock()
	finished := m.finished
	m.mu.Unlock()
	if finished != nil {
		<-finished
	}
}

// runnable reports whether a loop may be launched now: after Start, before
// the run context ends, and not paused. m.mu must be held.
func (m *Manager) runnable() bool {
	return m.started && !m.closed && !m.paused
}

// launch starts a loop for e. The loop first waits for the previous loop of
// the id to exit (e.done before the call: the loop of the exporter e
// replaces, or e's own loop before a Pause), so that runs never overlap.
// m.mu must be held.
func (m *Manager) launch(e *entry) {
	ctx, cancel := context.WithCancel(m.ctx)
	after := e.done
	done := make(chan struct{})
	e.cancel = cancel
	e.mu.Lock()
	e.done = done
	e.status.Running = true
	e.mu.Unlock()
	m.wg.Add(1)
	go m.loop(ctx, e, after, done)
}

// reap closes m.finished once ctx is done and every goroutine has exited.
func (m *Manager) reap(ctx context.Context) {
	<-ctx.Done()
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.wg.Wait()
	close(m.finished)
}
