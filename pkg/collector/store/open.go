package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

const (
	// DefaultDatabase is the database spec of a collector given none.
	DefaultDatabase = "sqlite:telemetry-collector.db"
	// MaxHistoryDays bounds the days History accepts.
	MaxHistoryDays = 3660

	sqlitePrefix = "sqlite:"
	// pruneChunk is how many rows one DELETE of Prune removes, so that a
	// large prune never holds the write lock for long.
	pruneChunk = 5000
	day        = 24 * time.Hour
)

// Options configures both implementations; Open uses the part that matches
// the spec.
type Options struct {
	SQLite   SQLiteOptions
	Postgres PostgresOptions
}

// NewOptions returns the defaults.
func NewOptions() Options {
	return Options{SQLite: NewSQLiteOptions(), Postgres: NewPostgresOptions()}
}

// Validate reports every problem of o at once.
func (o Options) Validate() error {
	return errors.Join(o.SQLite.Validate(), o.Postgres.Validate())
}

// Open opens the database named by spec and runs its migrations. spec is
// "sqlite:PATH" (a file, created when missing) or a PostgreSQL URL starting
// with "postgres://" or "postgresql://".
func Open(ctx context.Context, spec string, o Options, log *logrus.Entry) (Store, error) {
	kind, rest, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	switch kind {
	case KindSQLite:
		return OpenSQLite(rest, o.SQLite, log)
	default:
		return OpenPostgres(ctx, rest, o.Postgres, log)
	}
}

// Kinds of database a spec names.
const (
	KindSQLite   = "sqlite"
	KindPostgres = "postgres"
)

// ParseSpec splits a database spec into its kind (KindSQLite or
// KindPostgres) and the path or URL. It never includes the spec in an error:
// a PostgreSQL URL may hold a password.
func ParseSpec(spec string) (kind, target string, err error) {
	switch {
	case strings.HasPrefix(spec, sqlitePrefix):
		path := strings.TrimPrefix(spec, sqlitePrefix)
		if err := validSQLitePath(path); err != nil {
			return "", "", err
		}
		return KindSQLite, path, nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return KindPostgres, spec, nil
	}
	return "", "", fmt.Errorf("%w: database must be sqlite:PATH, postgres://... or postgresql://...", ErrUnknownDatabase)
}

func validSQLitePath(path string) error {
	switch {
	case path == "":
		return fmt.Errorf("%w: sqlite database path is empty", ErrInvalid)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return fmt.Errorf("%w: sqlite database path must name a file", ErrInvalid)
	case strings.ContainsAny(path, "?\x00"):
		return fmt.Errorf("%w: sqlite database path must not contain '?' or NUL", ErrInvalid)
	}
	return nil
}

// validReport checks what the store relies on.
func validReport(r Report) error {
	var errs []error
	if r.IdempotencyKey == "" {
		errs = append(errs, fmt.Errorf("%w: report idempotency key is empty", ErrInvalid))
	}
	if r.InstallUUID == "" {
		errs = append(errs, fmt.Errorf("%w: report install UUID is empty", ErrInvalid))
	}
	if r.ReceivedAt.IsZero() {
		errs = append(errs, fmt.Errorf("%w: report receive time is zero", ErrInvalid))
	}
	return errors.Join(errs...)
}

// historyRange returns the first midnight of the days UTC days ending with
// the day of until, and the midnight after the last.
func historyRange(until time.Time, days int) (start, end time.Time, err error) {
	if days < 1 || days > MaxHistoryDays {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: history days must be between 1 and %d, got %d", ErrInvalid, MaxHistoryDays, days)
	}
	// Truncate counts from the zero time, a UTC midnight, so it yields the
	// UTC midnight of until's day.
	last := until.UTC().Truncate(day)
	start = last.AddDate(0, 0, -(days - 1))
	return start, last.Add(day), nil
}

// dayNumber returns the number of UTC days from 1970-01-01 to the day of t.
func dayNumber(t time.Time) int64 {
	sec := t.Unix()
	d := sec / 86400
	if sec%86400 < 0 {
		d--
	}
	return d
}

// historyRows are the rows of a history query, from either database:
// (day number from start, installs, nodes).
type historyRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanHistory returns days Days starting at start, with the figures of
// the days rows has and zeros for the others.
func scanHistory(rows historyRows, start time.Time, days int) ([]Day, error) {
	out := make([]Day, days)
	for i := range out {
		out[i].Date = start.Add(time.Duration(i) * day)
	}
	for rows.Next() {
		var d, installs, nodes int64
		if err := rows.Scan(&d, &installs, &nodes); err != nil {
			return nil, fmt.Errorf("reading history: %w", err)
		}
		if d >= 0 && d < int64(days) {
			out[d].Installs, out[d].Nodes = installs, nodes
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	return out, nil
}

// gate admits calls until Close and lets Close wait for those admitted.
type gate struct {
	mu     sync.RWMutex
	closed bool
	calls  sync.WaitGroup
}

// enter admits a call, which must call leave; after close it returns
// ErrClosed.
func (g *gate) enter() error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return ErrClosed
	}
	g.calls.Add(1)
	return nil
}

func (g *gate) leave() { g.calls.Done() }

// close refuses new calls and waits for the admitted ones. It returns
// ErrClosed when already closed.
func (g *gate) close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	g.closed = true
	g.mu.Unlock()
	g.calls.Wait()
	return nil
}

// orDiscard returns log, or a logger that discards everything when log is nil.
func orDiscard(log *logrus.Entry) *logrus.Entry {
	if log != nil {
		return log
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// Payload encodings of the payload_encoding column.
const (
	encodingIdentity = "identity"
	encodingGzip     = "gzip"
)

// maxStoredPayload bounds what a stored gzip payload may decompress to: a
// collector never accepts a report nearly that large.
const maxStoredPayload = 256 << 20

// storedPayload returns the encoding and the bytes a store keeps for r.
func storedPayload(r Report) (string, []byte) {
	if r.Gzip != nil {
		return encodingGzip, r.Gzip
	}
	return encodingIdentity, nonNil(r.Payload)
}

// loadPayload returns the JSON document a row keeps as encoding and b. A
// gzip payload must decompress to the document whose digest is key: a row
// that does not is reported as corrupt rather than returned.
func loadPayload(encoding string, b []byte, key string) ([]byte, error) {
	switch encoding {
	case encodingIdentity:
		return b, nil
	case encodingGzip:
	default:
		return nil, fmt.Errorf("%w: unknown payload encoding %q", ErrCorrupt, encoding)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip payload: %v", ErrCorrupt, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxStoredPayload+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: gzip payload: %v", ErrCorrupt, err)
	case len(out) > maxStoredPayload:
		return nil, fmt.Errorf("%w: gzip payload over %d bytes", ErrCorrupt, maxStoredPayload)
	}
	if sum := sha256.Sum256(out); hex.EncodeToString(sum[:]) != key {
		return nil, fmt.Errorf("%w: gzip payload does not match its idempotency key", ErrCorrupt)
	}
	return out, nil
}

// latestPayload sets r.Payload from a row's encoding and bytes. A corrupt
// row keeps its place with an empty Payload, which readers skip as a
// report that does not decode, and is logged: one bad row never hides
// the others.
func latestPayload(r *Report, encoding string, b []byte, log *logrus.Entry) {
	p, err := loadPayload(encoding, b, r.IdempotencyKey)
	if err != nil {
		log.WithError(err).WithField("report", r.ID).Warn("stored report left out")
		p = []byte{}
	}
	r.Payload = p
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
