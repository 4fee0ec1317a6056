package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLiteOptions tunes the SQLite store.
type SQLiteOptions struct {
	// BatchSize is the most Inserts committed in one transaction.
	BatchSize int
	// BatchWait is how long the writer waits for more Inserts after the
	// first of a transaction arrived. Inserts that arrive while a commit is
	// under way are batched whatever this is, so under load batches form
	// without waiting: the default, zero, adds no latency to a lone Insert.
	BatchWait time.Duration
	// BusyTimeout is how long a connection waits for a lock held by another
	// process using the same file.
	BusyTimeout time.Duration
	// ReadConns is the size of the read-only connection pool.
	ReadConns int
}

// NewSQLiteOptions returns the defaults.
func NewSQLiteOptions() SQLiteOptions {
	return SQLiteOptions{BatchSize: 256, BatchWait: 0, BusyTimeout: 10 * time.Second, ReadConns: 4}
}

// Validate reports every problem of o at once.
func (o SQLiteOptions) Validate() error {
	var errs []error
	if o.BatchSize < 1 || o.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("%w: sqlite batch size must be between 1 and 10000, got %d", ErrInvalid, o.BatchSize))
	}
	if o.BatchWait < 0 || o.BatchWait > time.Second {
		errs = append(errs, fmt.Errorf("%w: sqlite batch wait must be between 0 and 1s, got %v", ErrInvalid, o.BatchWait))
	}
	if o.BusyTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: sqlite busy timeout must not be negative, got %v", ErrInvalid, o.BusyTimeout))
	}
	if o.ReadConns < 1 || o.ReadConns > 256 {
		errs = append(errs, fmt.Errorf("%w: sqlite read connections must be between 1 and 256, got %d", ErrInvalid, o.ReadConns))
	}
	return errors.Join(errs...)
}

// SQLite is the Store kept in one SQLite file.
type SQLite struct {
	o   SQLiteOptions
	log *logrus.Entry
	// w holds the one connection that writes; r is the read-only pool;
	// c is the connection that checkpoints the WAL.
	w, r, c *sql.DB

	stmts sqliteStmts

	gate gate
	// reqs carries Inserts to the writer goroutine, which closes done when
	// reqs is closed and drained.
	reqs chan *insertReq
	done chan struct{}
	// checkpoint wakes the checkpointer, which closes checkpointed when
	// checkpoint is closed.
	checkpoint   chan struct{}
	checkpointed chan struct{}
}

var _ Store = (*SQLite)(nil)

// insertReq is one Insert waiting for the writer.
type insertReq struct {
	ctx  context.Context
	r    Report
	res  Result
	err  error
	done chan struct{}
}

// OpenSQLite opens (creating when missing) the SQLite database at path and
// runs its migrations.
func OpenSQLite(path string, o SQLiteOptions, log *logrus.Entry) (*SQLite, error) {
	if err := errors.Join(validSQLitePath(path), o.Validate()); err != nil {
		return nil, err
	}
	// Reports are nobody else's business: create the file readable by its
	// owner only (SQLite gives the -wal and -shm files the same mode).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite database: %w", err)
	}
	f.Close()
	pragmas := url.Values{}
	pragmas.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	pragmas.Add("_pragma", "journal_mode(WAL)")
	pragmas.Add("_pragma", "synchronous(FULL)")
	// The writer never checkpoints but at this many WAL pages (64 MiB of
	// 4 KiB pages), a bound should the checkpointer fall behind: copying
	// the WAL into the database and syncing it would stall every Insert
	// waiting for the writer.
	wPragmas := url.Values{"_pragma": append(slices.Clone(pragmas["_pragma"]), fmt.Sprintf("wal_autocheckpoint(%d)", sqliteWriterCheckpointPages))}
	w, err := sql.Open("sqlite", path+"?"+wPragmas.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite database: %w", err)
	}
	// One connection that is never recycled: SQLite has one writer at a
	// time anyway, and the writer goroutine owns it.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s := &SQLite{o: o, log: orDiscard(log), w: w, reqs: make(chan *insertReq), done: make(chan struct{})}
	if err := s.migrate(); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite database %s: %w", path, err)
	}
	if err := s.prepare(); err != nil {
		_ = s.stmts.close()
		w.Close()
		return nil, fmt.Errorf("sqlite database %s: %w", path, err)
	}

	pragmas.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", path+"?"+pragmas.Encode())
	if err != nil {
		_ = s.stmts.close()
		w.Close()
		return nil, fmt.Errorf("opening sqlite database: %w", err)
	}
	r.SetMaxOpenConns(o.ReadConns)
	r.SetMaxIdleConns(o.ReadConns)
	s.r = r

	c, err := sql.Open("sqlite", path+"?"+wPragmas.Encode())
	if err != nil {
		_ = s.stmts.close()
		r.Close()
		w.Close()
		return nil, fmt.Errorf("opening sqlite database: %w", err)
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	c.SetConnMaxIdleTime(0)
	s.c = c
	s.checkpoint, s.checkpointed = make(chan struct{}, 1), make(chan struct{})
	go s.checkpointLoop()
	go s.writeLoop()
	return s, nil
}

// sqliteMigrations are the schema versions, oldest first; a version, once
// released, never changes.
var sqliteMigrations = []migration{
	{1, "reports", `
CREATE TABLE reports (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	idempotency_key TEXT    NOT NULL UNIQUE,
	install_uuid    TEXT    NOT NULL,
	schema_version  TEXT    NOT NULL,
	received_at     INTEGER NOT NULL, -- unix microseconds
	nodes           INTEGER NOT NULL,
	payload         BLOB    NOT NULL
);
CREATE INDEX reports_install_latest ON reports (install_uuid, received_at, id);
CREATE INDEX reports_received_at ON reports (received_at);
`},
	{2, "sightings", `
ALTER TABLE reports ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0; -- unix microseconds
UPDATE reports SET last_seen_at = received_at;
DROP INDEX reports_install_latest;
DROP INDEX reports_received_at;
CREATE INDEX reports_install_seen ON reports (install_uuid, last_seen_at, id);
CREATE INDEX reports_last_seen_at ON reports (last_seen_at);
CREATE TABLE sightings (
	install_uuid TEXT    NOT NULL,
	day          INTEGER NOT NULL, -- days since 1970-01-01 UTC
	report_id    INTEGER NOT NULL,
	seen_at      INTEGER NOT NULL, -- unix microseconds
	PRIMARY KEY (install_uuid, day)
) WITHOUT ROWID;
CREATE INDEX sightings_day ON sightings (day);
CREATE INDEX sightings_seen_at ON sightings (seen_at);
INSERT INTO sightings (install_uuid, day, report_id, seen_at)
SELECT install_uuid, d, id, received_at FROM (
	SELECT install_uuid, received_at / 86400000000 AS d, id, received_at,
		row_number() OVER (PARTITION BY install_uuid, received_at / 86400000000 ORDER BY received_at DESC, id DESC) AS n
	FROM reports
) WHERE n = 1;
`},
	{3, "payload encoding", `
ALTER TABLE reports ADD COLUMN payload_encoding TEXT NOT NULL DEFAULT 'identity'; -- identity or gzip
`},
}

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

func (s *SQLite) migrate() error {
	ctx := context.Background()
	// BEGIN IMMEDIATE (the writer's _txlock) takes the write lock first, so
	// two processes opening the file at once migrate one after the other.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating sqlite database: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it only reports ErrTxDone
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)`); err != nil {
		return fmt.Errorf("migrating sqlite database: creating schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrating sqlite database: reading schema version: %w", err)
	}
	if err := checkVersion(current, sqliteMigrations); err != nil {
		return err
	}
	for _, m := range sqliteMigrations[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrating sqlite database to version %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
			return fmt.Errorf("migrating sqlite database to version %d (%s): %w", m.version, m.name, err)
		}
		s.log.WithField("version", m.version).Infof("sqlite schema migrated: %s", m.name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating sqlite database: %w", err)
	}
	return nil
}

// checkVersion refuses a database newer than ms. Versions are 1, 2, ... in
// order, so ms[current:] are the migrations to run.
func checkVersion(current int, ms []migration) error {
	if current > len(ms) {
		return fmt.Errorf("%w: database at version %d, this version knows up to %d", ErrSchemaTooNew, current, len(ms))
	}
	return nil
}

// Insert implements Store: it hands r to the writer goroutine and waits for
// the transaction holding it to commit.
func (s *SQLite) Insert(ctx context.Context, r Report) (Result, error) {
	if err := validReport(r); err != nil {
		return Result{}, err
	}
	if err := s.gate.enter(); err != nil {
		return Result{}, err
	}
	defer s.gate.leave()
	req := &insertReq{ctx: ctx, r: r, done: make(chan struct{})}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("inserting report: %w", ctx.Err())
	}
	// Once handed over, wait for the outcome even when ctx ends: Close
	// promises that no write is in flight when it returns, and the writer
	// skips requests whose context ended before their transaction began.
	<-req.done
	if req.err != nil {
		return Result{}, fmt.Errorf("inserting report: %w", sqliteFull(req.err))
	}
	return req.res, nil
}

// sqliteFull marks err with ErrFull when SQLite failed for lack of space
// (SQLITE_FULL, which SQLite also returns for ENOSPC on a write).
func sqliteFull(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// sqliteCheckpointReports is how many committed reports wake the
// checkpointer; sqliteWriterCheckpointPages is the WAL size at which the
// writer checkpoints itself.
const (
	sqliteCheckpointReports     = 128
	sqliteWriterCheckpointPages = 16384
)

// checkpointLoop copies the WAL into the database whenever the writer asks,
// on a connection of its own. A PASSIVE checkpoint waits for no one: the
// writer goes on committing to the WAL meanwhile, and SQLite starts the WAL
// over once it was copied completely.
func (s *SQLite) checkpointLoop() {
	defer close(s.checkpointed)
	for range s.checkpoint {
		var busy, frames, copied int
		if err := s.c.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			s.log.WithError(err).Warn("sqlite checkpoint failed")
		}
	}
}

// writeLoop commits the Inserts of s.reqs in batches until reqs is closed.
func (s *SQLite) writeLoop() {
	defer close(s.done)
	defer close(s.checkpoint)
	batch := make([]*insertReq, 0, s.o.BatchSize)
	committed := 0
	var wait *time.Timer
	for {
		first, ok := <-s.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		// Take what is queued already, then, when BatchWait allows, what
		// arrives soon after.
		var timeout <-chan time.Time
		if s.o.BatchWait > 0 {
			if wait == nil {
				wait = time.NewTimer(s.o.BatchWait)
			} else {
				wait.Reset(s.o.BatchWait)
			}
			timeout = wait.C
		}
	collect:
		for len(batch) < s.o.BatchSize {
			select {
			case req, ok := <-s.reqs:
				if !ok {
					break collect
				}
				batch = append(batch, req)
			default:
				if timeout == nil {
					break collect
				}
				select {
				case req, ok := <-s.reqs:
					if !ok {
						break collect
					}
					batch = append(batch, req)
				case <-timeout:
					timeout = nil
					break collect
				}
			}
		}
		if timeout != nil {
			// Since Go 1.23 a stopped timer delivers no stale value.
			wait.Stop()
		}
		s.commit(batch)
		if committed += len(batch); committed >= sqliteCheckpointReports {
			committed = 0
			select {
			case s.checkpoint <- struct{}{}:
			default: // a checkpoint is due already
			}
		}
		clear(batch)
	}
}

// commit writes batch in one transaction and answers each request. When that
// transaction fails, each request is retried in a transaction of its own, so
// that a failure belongs to the report that caused it.
func (s *SQLite) commit(batch []*insertReq) {
	live := batch[:0:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.err = err
			close(req.done)
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	err := s.insertTx(live)
	if err != nil && len(live) > 1 {
		s.log.WithError(err).WithField("reports", len(live)).Debug("sqlite batch failed, committing its reports one by one")
		for _, req := range live {
			req.err = s.insertTx([]*insertReq{req})
			close(req.done)
		}
		return
	}
	for _, req := range live {
		req.err = err
		close(req.done)
	}
}

const (
	// sqliteUpsert stores a report or, when its key is stored, moves that
	// row's last_seen_at forward (a retry delayed past a later one never
	// moves it back). It returns the stored row's id and install either
	// way; insertTx tells a new row by its id (see there).
	sqliteUpsert = `INSERT INTO reports (idempotency_key, install_uuid, schema_version, received_at, last_seen_at, nodes, payload_encoding, payload)
VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)
ON CONFLICT (idempotency_key) DO UPDATE SET last_seen_at = max(last_seen_at, excluded.last_seen_at)
RETURNING id, install_uuid`
	// sqliteLastID is the largest id reports ever assigned, 0 before the
	// first: AUTOINCREMENT keeps it in sqlite_sequence and never reuses
	// an id, so every row inserted later has a larger one.
	sqliteLastID = `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'reports'), 0)`
	// sqliteSighting records that install was seen on a day; of the
	// reports seen on one day the last one seen stays (the later write on
	// a tie).
	sqliteSighting = `INSERT INTO sightings (install_uuid, day, report_id, seen_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (install_uuid, day) DO UPDATE SET report_id = excluded.report_id, seen_at = excluded.seen_at
WHERE excluded.seen_at >= sightings.seen_at`
)

// sqliteStmts are the writer's statements, prepared once on its connection
// and reused by every transaction.
type sqliteStmts struct {
	upsert, lastID, sighting *sql.Stmt
}

func (s *SQLite) prepare() error {
	var err error
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{{&s.stmts.upsert, sqliteUpsert}, {&s.stmts.lastID, sqliteLastID}, {&s.stmts.sighting, sqliteSighting}} {
		if *p.dst, err = s.w.Prepare(p.q); err != nil {
			return fmt.Errorf("preparing statement: %w", err)
		}
	}
	return nil
}

func (st sqliteStmts) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.upsert, st.lastID, st.sighting} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// insertTx inserts reqs in one transaction and sets their results once it
// committed. A report stored already is a duplicate: its last_seen_at moves
// forward instead. Each report, new or duplicate, leaves a sighting. The
// transaction does not use the requests' contexts: once it began, one
// caller giving up must not undo the others' writes.
//
// A row is new when its id is above the largest id assigned before the
// transaction began (the writer holds the write lock, so nothing else
// assigns ids meanwhile) and no earlier report of the transaction returned
// it.
func (s *SQLite) insertTx(reqs []*insertReq) (err error) {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			// SQLite may have rolled back already (a full disk does);
			// the error of a second rollback says nothing new.
			_ = tx.Rollback()
		}
	}()
	// Statements of a transaction taken from ones prepared on the same
	// connection reuse them; closing them leaves the originals prepared.
	upsert, lastID, sighting := tx.StmtContext(ctx, s.stmts.upsert), tx.StmtContext(ctx, s.stmts.lastID), tx.StmtContext(ctx, s.stmts.sighting)
	var before int64
	if err := lastID.QueryRowContext(ctx).Scan(&before); err != nil {
		return fmt.Errorf("reading the last report id: %w", err)
	}
	results := make([]Result, len(reqs))
	var inserted map[int64]bool
	if len(reqs) > 1 {
		inserted = make(map[int64]bool, len(reqs))
	}
	for i, req := range reqs {
		r := req.r
		at := r.ReceivedAt.UnixMicro()
		var id int64
		// The stored row's install is the one sighted: the key is the
		// payload's digest, so they agree unless a caller lied, and
		// then the stored report is what was seen.
		var install string
		encoding, payload := storedPayload(r)
		if err := upsert.QueryRowContext(ctx, r.IdempotencyKey, r.InstallUUID, r.SchemaVersion, at, r.Nodes, encoding, payload).Scan(&id, &install); err != nil {
			return err
		}
		if id > before && !inserted[id] {
			results[i] = Result{ID: strconv.FormatInt(id, 10)}
			if inserted != nil {
				inserted[id] = true
			}
		} else {
			results[i] = Result{Duplicate: true}
		}
		if _, err := sighting.ExecContext(ctx, install, dayNumber(r.ReceivedAt), id, at); err != nil {
			return fmt.Errorf("recording a sighting: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	for i, req := range reqs {
		req.res = results[i]
	}
	return nil
}

const sqliteLatest = `SELECT r.id, r.idempotency_key, r.install_uuid, r.schema_version, r.received_at, r.last_seen_at, r.nodes, r.payload_encoding, r.payload
FROM reports r JOIN (
	SELECT id, row_number() OVER (PARTITION BY install_uuid ORDER BY last_seen_at DESC, id DESC) AS n
	FROM reports WHERE last_seen_at >= ?
) l ON l.id = r.id AND l.n = 1
ORDER BY r.install_uuid`

// Latest implements Store.
func (s *SQLite) Latest(ctx context.Context, since time.Time) ([]Report, error) {
	if err := s.gate.enter(); err != nil {
		return nil, err
	}
	defer s.gate.leave()
	rows, err := s.r.QueryContext(ctx, sqliteLatest, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("reading latest reports: %w", err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		var r Report
		var id, at, seen int64
		var encoding string
		var payload []byte
		if err := rows.Scan(&id, &r.IdempotencyKey, &r.InstallUUID, &r.SchemaVersion, &at, &seen, &r.Nodes, &encoding, &payload); err != nil {
			return nil, fmt.Errorf("reading latest reports: %w", err)
		}
		r.ID = strconv.FormatInt(id, 10)
		latestPayload(&r, encoding, payload, s.log)
		r.ReceivedAt = time.UnixMicro(at).UTC()
		r.LastSeenAt = time.UnixMicro(seen).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading latest reports: %w", err)
	}
	return out, nil
}

// sqliteHistory counts, per day since ?1 (days numbered from 0), the
// installs sighted and the nodes of the report of each sighting.
const sqliteHistory = `SELECT s.day - ?1, count(*), coalesce(sum(r.nodes), 0)
FROM sightings s JOIN reports r ON r.id = s.report_id
WHERE s.day >= ?1 AND s.day < ?2 GROUP BY s.day ORDER BY s.day`

// History implements Store.
func (s *SQLite) History(ctx context.Context, until time.Time, days int) ([]Day, error) {
	start, end, err := historyRange(until, days)
	if err != nil {
		return nil, err
	}
	if err := s.gate.enter(); err != nil {
		return nil, err
	}
	defer s.gate.leave()
	rows, err := s.r.QueryContext(ctx, sqliteHistory, dayNumber(start), dayNumber(end))
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	defer rows.Close()
	return scanHistory(rows, start, days)
}

// Prune implements Store. It deletes in chunks, each its own transaction,
// so Inserts go on between them: first the sightings, then the reports, so
// that no sighting outlives its report.
func (s *SQLite) Prune(ctx context.Context, before time.Time) (int64, error) {
	if err := s.gate.enter(); err != nil {
		return 0, err
	}
	defer s.gate.leave()
	cut := before.UnixMicro()
	if _, err := s.pruneChunks(ctx, `DELETE FROM sightings WHERE (install_uuid, day) IN (SELECT install_uuid, day FROM sightings WHERE seen_at < ? LIMIT ?)`, cut); err != nil {
		return 0, fmt.Errorf("pruning sightings: %w", err)
	}
	n, err := s.pruneChunks(ctx, `DELETE FROM reports WHERE id IN (SELECT id FROM reports WHERE last_seen_at < ? LIMIT ?)`, cut)
	if err != nil {
		return n, fmt.Errorf("pruning reports: %w", err)
	}
	return n, nil
}

// pruneChunks runs the DELETE q with the cut and pruneChunk until it
// deletes fewer rows than that, and returns how many it deleted.
func (s *SQLite) pruneChunks(ctx context.Context, q string, cut int64) (int64, error) {
	var total int64
	for {
		res, err := s.w.ExecContext(ctx, q, cut, pruneChunk)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

// Ping implements Store.
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.gate.enter(); err != nil {
		return err
	}
	defer s.gate.leave()
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one); err != nil {
		return fmt.Errorf("pinging sqlite database: %w", err)
	}
	return nil
}

// Close implements Store: it waits for the Inserts in flight, stops the
// writer and closes the database.
func (s *SQLite) Close() error {
	if err := s.gate.close(); err != nil {
		return err
	}
	close(s.reqs)
	<-s.done
	<-s.checkpointed
	return errors.Join(s.stmts.close(), s.c.Close(), s.r.Close(), s.w.Close())
}
