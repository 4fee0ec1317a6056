// Package memstore is an in-memory store.Store for tests of the collector:
// it keeps reports in a slice, deduplicates by idempotency key, records a
// sighting per install and UTC day as the real stores do, and can be told
// to fail. The collector binary never imports it.
package memstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// ErrInjected is returned by every method while Fail is set.
var ErrInjected = errors.New("memstore: injected failure")

// Store is an in-memory store.Store.
type Store struct {
	mu      sync.Mutex
	reports []store.Report
	// sightings holds, per install and UTC day, the report seen last.
	sightings map[sightingKey]sighting
	fail      bool
	closed    bool
	next      int
}

var _ store.Store = (*Store)(nil)

type sightingKey struct {
	install string
	day     time.Time
}

type sighting struct {
	id     string
	seenAt time.Time
}

// New returns an empty store.
func New() *Store { return &Store{sightings: map[sightingKey]sighting{}} }

// Open returns an empty store whatever the spec; it has the signature of
// the collector's store opener.
func Open(context.Context, string) (store.Store, error) { return New(), nil }

// Fail makes every later call fail with ErrInjected (or succeed again).
func (s *Store) Fail(fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

// Reports returns a copy of every stored report, in insertion order.
func (s *Store) Reports() []store.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reports)
}

func (s *Store) check() error {
	if s.closed {
		return store.ErrClosed
	}
	if s.fail {
		return ErrInjected
	}
	return nil
}

// Insert stores r unless its idempotency key is known.
func (s *Store) Insert(ctx context.Context, r store.Report) (store.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return store.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Result{}, err
	}
	at := r.ReceivedAt.UTC().Truncate(time.Microsecond)
	for i, old := range s.reports {
		if old.IdempotencyKey == r.IdempotencyKey {
			if at.After(old.LastSeenAt) {
				s.reports[i].LastSeenAt = at
			}
			s.sight(old.InstallUUID, old.ID, at)
			return store.Result{Duplicate: true}, nil
		}
	}
	s.next++
	r.ID = strconv.Itoa(s.next)
	r.ReceivedAt, r.LastSeenAt = at, at
	r.Payload, r.Gzip = slices.Clone(r.Payload), slices.Clone(r.Gzip)
	s.reports = append(s.reports, r)
	s.sight(r.InstallUUID, r.ID, at)
	return store.Result{ID: r.ID}, nil
}

func (s *Store) sight(install, id string, at time.Time) {
	k := sightingKey{install, at.Truncate(24 * time.Hour)}
	if old, ok := s.sightings[k]; !ok || !at.Before(old.seenAt) {
		s.sightings[k] = sighting{id: id, seenAt: at}
	}
}

func (s *Store) byID(id string) (store.Report, bool) {
	for _, r := range s.reports {
		if r.ID == id {
			return r, true
		}
	}
	return store.Report{}, false
}

// Latest returns the report seen last of each install seen at or after
// since, ordered by install UUID.
func (s *Store) Latest(_ context.Context, since time.Time) ([]store.Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	latest := map[string]store.Report{}
	for _, r := range s.reports {
		if r.LastSeenAt.Before(since) {
			continue
		}
		if old, ok := latest[r.InstallUUID]; !ok || !r.LastSeenAt.Before(old.LastSeenAt) {
			latest[r.InstallUUID] = r
		}
	}
	out := make([]store.Report, 0, len(latest))
	for _, r := range latest {
		r.Gzip = nil // as the real stores return it
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b store.Report) int { return strings.Compare(a.InstallUUID, b.InstallUUID) })
	return out, nil
}

// History returns days UTC days ending with the day of until.
func (s *Store) History(_ context.Context, until time.Time, days int) ([]store.Day, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	u := until.UTC()
	last := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	out := make([]store.Day, days)
	for i := range out {
		date := last.AddDate(0, 0, i-days+1)
		out[i] = store.Day{Date: date}
		for k, sg := range s.sightings {
			if !k.day.Equal(date) {
				continue
			}
			r, ok := s.byID(sg.id)
			if !ok {
				continue
			}
			out[i].Installs++
			out[i].Nodes += r.Nodes
		}
	}
	return out, nil
}

// Prune deletes the sightings before before and the reports last seen
// before it.
func (s *Store) Prune(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	n := len(s.reports)
	for k, sg := range s.sightings {
		if sg.seenAt.Before(before) {
			delete(s.sightings, k)
		}
	}
	s.reports = slices.DeleteFunc(s.reports, func(r store.Report) bool { return r.LastSeenAt.Before(before) })
	return int64(n - len(s.reports)), nil
}

// Ping fails while Fail is set or after Close.
func (s *Store) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.check()
}

// Close makes every later call fail with store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
