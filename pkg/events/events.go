// Package events records the lifecycle events of the clusters an
// installation manages: created, deleted, upgraded, and node pool grown or
// shrunk. It keeps them in a bounded buffer until every exporter that
// carries events has delivered them, each exporter with its own cursor, and
// saves the buffer, the cursors and the clusters it last saw in a ConfigMap
// of the telemetry namespace (see ConfigMapStore).
//
// How events are found: the gatherer tells the Log, on every change of a
// cluster's record or of its node count, what the cluster is now (Observe).
// The Log compares that with what it last saw of the cluster and records
// the difference. Before Start it only keeps the clusters' latest state:
// the informers' initial lists are not events. Start loads the saved
// state and records what changed while no replica was watching (a cluster
// created or upgraded during a restart), with the time of the start. The
// first start of an installation saves the clusters as they are and
// records nothing.
//
// What a crash loses: the buffer is saved at most Options.FlushInterval
// after an event is recorded and at once after a delivery. A crash loses
// the events of the last FlushInterval, except that a cluster's change in
// that window is found again at the next start by comparing with the saved
// clusters (with the start's time, and one event for several changes of
// the same kind); and it may deliver again, once, what was acknowledged
// since the last save. Reports state the window (lossWindowSeconds).
//
// Changes coalesce while no exporter has been handed the last event: a
// change of the same cluster's node count updates a pool event, so a pool
// scaled by ten nodes is one event, not ten; and a cluster created and
// changed before any report carried it is one created event with its
// version and node count of now.
package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/vocab"
)

// Defaults and limits of Options.
const (
	DefaultSize          = 500
	MaxSize              = 2000
	DefaultFlushInterval = 10 * time.Second
	// MaxPerReport is how many events one report carries; the rest follow
	// in the next run, which is asked for at once.
	MaxPerReport = 256
)

// ErrSize means Options.Size is out of range.
var ErrSize = errors.New("event buffer size out of range")

// Store keeps the Log's state between processes.
type Store interface {
	// Load returns the saved state, or nil and no error when none was
	// saved yet.
	Load(ctx context.Context) (*State, error)
	// Save replaces the saved state.
	Save(ctx context.Context, s *State) error
}

// State is what a Store keeps. It holds pseudonyms only.
type State struct {
	// Version is the version of this layout, StateVersion.
	Version int `json:"version"`
	// NextSeq is the Seq the next event gets.
	NextSeq uint64 `json:"nextSeq"`
	// Dropped counts the events the full buffer let go, ever.
	Dropped uint64 `json:"dropped"`
	// Events are the buffered events, in Seq order.
	Events []StoredEvent `json:"events"`
	// Cursors are, by exporter id, the Seq of the last event delivered.
	Cursors map[string]uint64 `json:"cursors"`
	// Clusters are, by pseudonym, the clusters as the events last left them.
	Clusters map[string]Census `json:"clusters"`
}

// StateVersion is the version of State's layout.
const StateVersion = 1

// StoredEvent is snapshot.Event as saved, with short keys.
type StoredEvent struct {
	Seq         uint64             `json:"s"`
	Time        time.Time          `json:"t"`
	Type        snapshot.EventType `json:"y"`
	ClusterID   string             `json:"c"`
	FromVersion string             `json:"fv,omitempty"`
	ToVersion   string             `json:"tv,omitempty"`
	FromNodes   int                `json:"fn,omitempty"`
	ToNodes     int                `json:"tn,omitempty"`
}

func stored(e snapshot.Event) StoredEvent {
	return StoredEvent{e.Seq, e.Time, e.Type, e.ClusterID, e.FromVersion, e.ToVersion, e.FromNodes, e.ToNodes}
}

func (s StoredEvent) event() snapshot.Event {
	return snapshot.Event{Seq: s.Seq, Time: s.Time, Type: s.Type, ClusterID: s.ClusterID,
		FromVersion: s.FromVersion, ToVersion: s.ToVersion, FromNodes: s.FromNodes, ToNodes: s.ToNodes}
}

// Census is what the Log knows of one cluster: its Kubernetes version,
// cleaned ("" while unknown), and how many nodes it has.
type Census struct {
	Version string `json:"v,omitempty"`
	Nodes   int    `json:"n"`
}

// Options configure a Log.
type Options struct {
	// Size is how many events the buffer holds, 1 to MaxSize; 0 means
	// DefaultSize. When it is full, the oldest event is dropped and counted.
	Size int
	// FlushInterval is how long a recorded event may wait to be saved;
	// 0 means DefaultFlushInterval.
	FlushInterval time.Duration
	// ID returns the pseudonym of a cluster name, as the report writes it.
	ID func(name string) string
	// Store keeps the state; nil keeps it in memory only.
	Store Store
	Clock clock.WithTicker
	Log   *logrus.Entry
	// OnRecord and OnDrop, if set, are called for each event recorded and
	// each dropped, for metrics; OnSave after each save, with its error.
	OnRecord func(t snapshot.EventType)
	OnDrop   func()
	OnSave   func(err error)
}

// Log is the event buffer. It is safe for concurrent use.
type Log struct {
	opts Options
	log  *logrus.Entry
	kick chan struct{}
	// saving serializes saves: the loop's and the one at shutdown.
	saving sync.Mutex

	mu      sync.Mutex
	started bool
	ids     map[string]string // cluster name to pseudonym
	live    map[string]Census // by pseudonym: the clusters now
	known   map[string]Census // by pseudonym: as the events left them; set by Start
	buf     []snapshot.Event
	nextSeq uint64
	dropped uint64
	// handed is the highest Seq handed to an exporter: an event up to it
	// may be in flight and is never changed.
	handed  uint64
	cursors map[string]uint64
	tracked map[string]bool
	dirty   bool
	failing bool // the last save failed: logged once until one succeeds
}

// New returns a Log, checking the options.
func New(opts Options) (*Log, error) {
	switch {
	case opts.Size == 0:
		opts.Size = DefaultSize
	case opts.Size < 1 || opts.Size > MaxSize:
		return nil, fmt.Errorf("%w: %d (valid: 1 to %d)", ErrSize, opts.Size, MaxSize)
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.ID == nil {
		return nil, errors.New("events: no cluster id function")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Log == nil {
		opts.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	return &Log{
		opts: opts, log: opts.Log.WithField("component", "events"), kick: make(chan struct{}, 1),
		ids: map[string]string{}, live: map[string]Census{}, nextSeq: 1,
		cursors: map[string]uint64{}, tracked: map[string]bool{},
	}, nil
}

// Track says that exporter id carries events: it gets a cursor, and events
// stay buffered until it has delivered them. A new exporter starts at the
// oldest event still buffered.
func (l *Log) Track(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tracked[id] = true
	if _, ok := l.cursors[id]; !ok {
		l.cursors[id] = l.first() - 1
	}
}

// first returns the Seq of the oldest buffered event, or the next Seq when
// none is buffered. Called with mu held.
func (l *Log) first() uint64 {
	if len(l.buf) > 0 {
		return l.buf[0].Seq
	}
	return l.nextSeq
}

// Observe tells the Log what the cluster named name is now: whether it
// exists, its Kubernetes version (raw; "" when unknown) and its node
// count. The gatherer calls it with its own lock held, on each change, so
// that an event is buffered before the run the change asks for reads it.
func (l *Log) Observe(name string, present bool, version string, nodes int) {
	if version != "" {
		version, _ = vocab.Clean(vocab.Version, version)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	id, ok := l.ids[name]
	if !ok {
		id = l.opts.ID(name)
		l.ids[name] = id
	}
	old, had := l.live[id]
	now := Census{Version: version, Nodes: nodes}
	if now.Version == "" && had {
		now.Version = old.Version // an unreadable version is not a downgrade to nothing
	}
	if present {
		l.live[id] = now
	} else {
		delete(l.live, id)
		delete(l.ids, name)
	}
	if !l.started {
		return
	}
	k, knew := l.known[id]
	l.diff(id, k, knew, now, present, l.opts.Clock.Now())
}

// diff records the events that lead from was (existed: had) to now
// (exists: has) and updates known. Called with mu held.
func (l *Log) diff(id string, was Census, had bool, now Census, has bool, t time.Time) {
	switch {
	case !had && has:
		l.record(snapshot.Event{Type: snapshot.ClusterCreated, ClusterID: id, ToNodes: now.Nodes, ToVersion: now.Version}, t)
		l.known[id] = now
		return
	case had && !has:
		l.record(snapshot.Event{Type: snapshot.ClusterDeleted, ClusterID: id, FromNodes: was.Nodes, FromVersion: was.Version}, t)
		delete(l.known, id)
		return
	case !had && !has:
		return
	}
	if now.Version == "" {
		now.Version = was.Version
	}
	if n := len(l.buf); n > 0 {
		if last := &l.buf[n-1]; last.Seq > l.handed && last.ClusterID == id && last.Type == snapshot.ClusterCreated {
			// A new cluster changing before any report carried it: it
			// was created as it is now.
			last.ToVersion, last.ToNodes = now.Version, now.Nodes
			l.known[id], l.dirty = now, true
			return
		}
	}
	if was.Version != "" && now.Version != "" && was.Version != now.Version {
		l.record(snapshot.Event{Type: snapshot.ClusterUpgraded, ClusterID: id, FromVersion: was.Version, ToVersion: now.Version}, t)
	}
	if was.Nodes != now.Nodes {
		l.recordPool(id, was.Nodes, now.Nodes, t)
	}
	if was != now {
		l.known[id] = now
		l.dirty = true
	}
}

// recordPool records a node count change, or folds it into the last
// event when that is a pool change of the same cluster that no exporter
// has been handed yet. Called with mu held.
func (l *Log) recordPool(id string, from, to int, t time.Time) {
	if n := len(l.buf); n > 0 {
		last := &l.buf[n-1]
		if last.Seq > l.handed && last.ClusterID == id && (last.Type == snapshot.NodePoolGrown || last.Type == snapshot.NodePoolShrunk) {
			switch {
			case last.FromNodes == to:
				// Back where it was: nothing happened.
				l.buf = l.buf[:n-1]
				l.nextSeq--
			case last.FromNodes < to:
				last.Type, last.ToNodes, last.Time = snapshot.NodePoolGrown, to, t.UTC().Truncate(time.Second)
			default:
				last.Type, last.ToNodes, last.Time = snapshot.NodePoolShrunk, to, t.UTC().Truncate(time.Second)
			}
			l.dirty = true
			return
		}
	}
	typ := snapshot.NodePoolGrown
	if to < from {
		typ = snapshot.NodePoolShrunk
	}
	l.record(snapshot.Event{Type: typ, ClusterID: id, FromNodes: from, ToNodes: to}, t)
}

// record buffers e at time t, dropping the oldest event when the buffer
// is full. Called with mu held.
func (l *Log) record(e snapshot.Event, t time.Time) {
	e.Seq, e.Time = l.nextSeq, t.UTC().Truncate(time.Second)
	l.nextSeq++
	if len(l.buf) >= l.opts.Size {
		l.buf = slices.Delete(l.buf, 0, 1)
		l.dropped++
		if l.opts.OnDrop != nil {
			l.opts.OnDrop()
		}
	}
	l.buf = append(l.buf, e)
	l.dirty = true
	if l.opts.OnRecord != nil {
		l.opts.OnRecord(e.Type)
	}
}

// Start loads the saved state, records what changed since it was saved,
// and from then on records every change Observe reports. It saves the state
// every FlushInterval while it changes and soon after each delivery, until
// ctx ends. Call it once the caches have synced, on the replica that
// exports; it returns once the state is loaded (or fails to load: then
// nothing is recorded and it may be called again).
func (l *Log) Start(ctx context.Context) error {
	var saved *State
	if l.opts.Store != nil {
		var err error
		if saved, err = l.opts.Store.Load(ctx); err != nil {
			return fmt.Errorf("loading the saved events: %w", err)
		}
	}
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return errors.New("events: started twice")
	}
	l.started = true
	now := l.opts.Clock.Now()
	if saved == nil || saved.Version != StateVersion {
		if saved != nil {
			l.log.WithField("version", saved.Version).Warn("saved events have an unknown layout: starting afresh")
		}
		// First start: the clusters as they are are no events.
		l.known = maps.Clone(l.live)
		l.dirty = true
	} else {
		l.adopt(saved)
		ids := maps.Clone(l.known)
		maps.Copy(ids, l.live)
		for _, id := range slices.Sorted(maps.Keys(ids)) {
			was, had := l.known[id]
			is, has := l.live[id]
			l.diff(id, was, had, is, has, now)
		}
	}
	l.mu.Unlock()
	go l.run(ctx)
	return nil
}

// adopt takes the saved state in. Called with mu held, before any event
// is recorded.
func (l *Log) adopt(s *State) {
	l.nextSeq, l.dropped = max(s.NextSeq, 1), s.Dropped
	l.buf = l.buf[:0]
	for _, e := range s.Events {
		if e.Seq == 0 || e.Seq >= l.nextSeq || len(l.buf) > 0 && e.Seq <= l.buf[len(l.buf)-1].Seq {
			continue // not a state this package writes: keep what is ordered
		}
		l.buf = append(l.buf, e.event())
	}
	if extra := len(l.buf) - l.opts.Size; extra > 0 {
		// A smaller buffer than before: the oldest go.
		l.buf = slices.Delete(l.buf, 0, extra)
		l.dropped += uint64(extra)
	}
	l.known = maps.Clone(s.Clusters)
	if l.known == nil {
		l.known = map[string]Census{}
	}
	// Cursors of exporters that no longer carry events would hold the
	// buffer forever: only the tracked ones are kept.
	for id := range l.tracked {
		c, ok := s.Cursors[id]
		if !ok || c >= l.nextSeq {
			c = l.first() - 1
		}
		l.cursors[id] = c
	}
	l.prune()
}

// Pending returns the events exporter id has not delivered, at most
// MaxPerReport, with the count of those it lost to a full buffer.
func (l *Log) Pending(id string) snapshot.Events {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := snapshot.Events{LossWindow: l.opts.FlushInterval}
	c, ok := l.cursors[id]
	if !ok || !l.started {
		return out
	}
	if f := l.first(); c+1 < f {
		out.Dropped = int(f - 1 - c)
	}
	i, _ := slices.BinarySearchFunc(l.buf, c+1, func(e snapshot.Event, seq uint64) int { return cmp.Compare(e.Seq, seq) })
	end := min(len(l.buf), i+MaxPerReport)
	if i < end {
		out.Items = slices.Clone(l.buf[i:end])
		l.handed = max(l.handed, out.Last())
	}
	return out
}

// Delivered records that exporter id delivered ev, which Pending returned
// to it. It reports whether more events wait for the exporter.
func (l *Log) Delivered(id string, ev snapshot.Events) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.cursors[id]
	if !ok {
		return false
	}
	next := max(c, c+uint64(ev.Dropped), ev.Last())
	if next == c {
		return false
	}
	l.cursors[id] = next
	l.prune()
	l.dirty = true
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return len(l.buf) > 0 && l.buf[len(l.buf)-1].Seq > next
}

// prune drops the events every tracked exporter has delivered. Called with
// mu held.
func (l *Log) prune() {
	if len(l.tracked) == 0 {
		return // nobody delivers: the buffer's size bounds it
	}
	low := l.nextSeq
	for id := range l.tracked {
		low = min(low, l.cursors[id])
	}
	i := 0
	for i < len(l.buf) && l.buf[i].Seq <= low {
		i++
	}
	if i > 0 {
		l.buf = slices.Delete(l.buf, 0, i)
	}
}

// run saves the state while ctx lasts.
func (l *Log) run(ctx context.Context) {
	if l.opts.Store == nil {
		return
	}
	t := l.opts.Clock.NewTicker(l.opts.FlushInterval)
	defer t.Stop()
	l.Flush(ctx) // the first start's clusters, or what Start recorded
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-l.kick:
		}
		l.Flush(ctx)
	}
}

// Flush saves the state now if it changed since the last save. The
// controller calls it once more on shutdown, while it still leads.
func (l *Log) Flush(ctx context.Context) {
	if l.opts.Store == nil {
		return
	}
	l.saving.Lock()
	defer l.saving.Unlock()
	l.mu.Lock()
	if !l.started || !l.dirty {
		l.mu.Unlock()
		return
	}
	s := l.state()
	l.dirty = false
	l.mu.Unlock()

	err := l.opts.Store.Save(ctx, s)
	if l.opts.OnSave != nil {
		l.opts.OnSave(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.dirty = true // saved at the next tick
		if !l.failing && ctx.Err() == nil {
			l.log.WithError(err).Warn("saving the events failed; retrying every flush interval")
		}
		l.failing = true
		return
	}
	if l.failing {
		l.log.Info("saving the events works again")
	}
	l.failing = false
}

// state returns a copy of the state to save. Called with mu held.
func (l *Log) state() *State {
	s := &State{
		Version: StateVersion, NextSeq: l.nextSeq, Dropped: l.dropped,
		Events: make([]StoredEvent, len(l.buf)), Cursors: maps.Clone(l.cursors), Clusters: maps.Clone(l.known),
	}
	for i, e := range l.buf {
		s.Events[i] = stored(e)
	}
	return s
}

// Stats are the Log's figures, for metrics and tests.
type Stats struct {
	Buffered int
	Dropped  uint64
	NextSeq  uint64
	Cursors  map[string]uint64
}

// Stats returns the Log's figures now.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Buffered: len(l.buf), Dropped: l.dropped, NextSeq: l.nextSeq, Cursors: maps.Clone(l.cursors)}
}
