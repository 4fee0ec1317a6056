package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"
)

// PostgresOptions tunes the PostgreSQL store.
type PostgresOptions struct {
	// MaxConns is the size of the connection pool of one collector.
	MaxConns int32
	// Writers is how many transactions of Inserts one collector runs at
	// once; each holds a connection of the pool while it commits.
	Writers int
	// BatchSize is the most Inserts committed in one transaction. Inserts
	// that arrive while the writers are busy are batched; a lone Insert
	// never waits for others.
	BatchSize int
}

// NewPostgresOptions returns the defaults.
func NewPostgresOptions() PostgresOptions {
	return PostgresOptions{MaxConns: 16, Writers: 4, BatchSize: 256}
}

// Validate reports every problem of o at once.
func (o PostgresOptions) Validate() error {
	var errs []error
	if o.MaxConns < 1 || o.MaxConns > 1000 {
		errs = append(errs, fmt.Errorf("%w: postgres max connections must be between 1 and 1000, got %d", ErrInvalid, o.MaxConns))
	}
	if o.Writers < 1 || int64(o.Writers) > int64(o.MaxConns) {
		errs = append(errs, fmt.Errorf("%w: postgres writers must be between 1 and max connections (%d), got %d", ErrInvalid, o.MaxConns, o.Writers))
	}
	if o.BatchSize < 1 || o.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("%w: postgres batch size must be between 1 and 10000, got %d", ErrInvalid, o.BatchSize))
	}
	return errors.Join(errs...)
}

// Postgres is the Store kept in a PostgreSQL database, which several
// collectors may share.
type Postgres struct {
	o    PostgresOptions
	pool *pgxpool.Pool
	log  *logrus.Entry
	gate gate
	// reqs carries Inserts to the writer goroutines; writers is done once
	// reqs is closed and they drained it.
	reqs    chan *insertReq
	writers sync.WaitGroup
}

var _ Store = (*Postgres)(nil)

// migrationLock is the key of the advisory lock held while migrating; any
// constant works as long as nothing else in the database uses it.
const migrationLock int64 = 0x74656c656d657472 // "telemetr"

// postgresMigrations are the schema versions, oldest first; a version, once
// released, never changes.
var postgresMigrations = []migration{
	{1, "reports", `
CREATE TABLE reports (
	id              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	idempotency_key TEXT        NOT NULL UNIQUE,
	install_uuid    TEXT        NOT NULL,
	schema_version  TEXT        NOT NULL,
	received_at     TIMESTAMPTZ NOT NULL,
	nodes           BIGINT      NOT NULL,
	payload         BYTEA       NOT NULL
);
CREATE INDEX reports_install_latest ON reports (install_uuid, received_at DESC, id DESC);
CREATE INDEX reports_received_at ON reports (received_at);
`},
	{2, "sightings", `
ALTER TABLE reports ADD COLUMN last_seen_at TIMESTAMPTZ;
UPDATE reports SET last_seen_at = received_at;
ALTER TABLE reports ALTER COLUMN last_seen_at SET NOT NULL;
DROP INDEX reports_install_latest;
DROP INDEX reports_received_at;
CREATE INDEX reports_install_seen ON reports (install_uuid, last_seen_at DESC, id DESC);
CREATE INDEX reports_last_seen_at ON reports (last_seen_at);
CREATE TABLE sightings (
	install_uuid TEXT        NOT NULL,
	day          DATE        NOT NULL, -- UTC
	report_id    BIGINT      NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
	seen_at      TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (install_uuid, day)
);
CREATE INDEX sightings_day ON sightings (day);
CREATE INDEX sightings_seen_at ON sightings (seen_at);
CREATE INDEX sightings_report ON sightings (report_id);
INSERT INTO sightings (install_uuid, day, report_id, seen_at)
SELECT DISTINCT ON (install_uuid, (received_at AT TIME ZONE 'UTC')::date)
	install_uuid, (received_at AT TIME ZONE 'UTC')::date, id, received_at
FROM reports
ORDER BY install_uuid, (received_at AT TIME ZONE 'UTC')::date, received_at DESC, id DESC;
`},
	{3, "payload encoding", `
ALTER TABLE reports ADD COLUMN payload_encoding TEXT NOT NULL DEFAULT 'identity'; -- identity or gzip
`},
}

// OpenPostgres connects to the PostgreSQL database at url, checks that it
// answers and runs the migrations. Errors never include url, which may hold
// a password.
func OpenPostgres(ctx context.Context, url string, o PostgresOptions, log *logrus.Entry) (*Postgres, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx masks the password in its parse errors.
		return nil, fmt.Errorf("parsing postgres url: %w", err)
	}
	cfg.MaxConns = o.MaxConns
	// Acknowledge nothing before it is durable, whatever the server's
	// default.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	p := &Postgres{o: o, pool: pool, log: orDiscard(log), reqs: make(chan *insertReq)}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	for range o.Writers {
		p.writers.Go(p.writeLoop)
	}
	return p, nil
}

func (p *Postgres) migrate(ctx context.Context) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrating postgres database: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it only reports ErrTxClosed
	// Replicas starting together wait here for each other; the lock ends
	// with the transaction.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrating postgres database: taking the migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`); err != nil {
		return fmt.Errorf("migrating postgres database: creating schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrating postgres database: reading schema version: %w", err)
	}
	if err := checkVersion(current, postgresMigrations); err != nil {
		return err
	}
	for _, m := range postgresMigrations[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migrating postgres database to version %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return fmt.Errorf("migrating postgres database to version %d (%s): %w", m.version, m.name, err)
		}
		p.log.WithField("version", m.version).Infof("postgres schema migrated: %s", m.name)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrating postgres database: %w", err)
	}
	return nil
}

// postgresInsert stores a report or, when its key is stored, moves that
// row's last_seen_at forward; inserted is true for a new row only (an
// updated row's xmax is the updating transaction). The same statement
// upserts the sighting, keeping the report seen last that day (the later
// write on a tie), so both commit together.
const postgresInsert = `WITH r AS (
	INSERT INTO reports AS t (idempotency_key, install_uuid, schema_version, received_at, last_seen_at, nodes, payload_encoding, payload)
	VALUES ($1, $2, $3, $4, $4, $5, $6, $7)
	ON CONFLICT (idempotency_key) DO UPDATE SET last_seen_at = greatest(t.last_seen_at, excluded.last_seen_at)
	RETURNING t.id, t.install_uuid, (t.xmax = 0) AS inserted
), s AS (
	INSERT INTO sightings AS g (install_uuid, day, report_id, seen_at)
	SELECT install_uuid, ($4::timestamptz AT TIME ZONE 'UTC')::date, id, $4 FROM r
	ON CONFLICT (install_uuid, day) DO UPDATE SET report_id = excluded.report_id, seen_at = excluded.seen_at
	WHERE excluded.seen_at >= g.seen_at
)
SELECT id, inserted FROM r`

// postgresBatchReport is the report half of postgresInsert for a batch:
// its sightings follow as postgresBatchSighting once every report of the
// batch is written.
const postgresBatchReport = `INSERT INTO reports AS t (idempotency_key, install_uuid, schema_version, received_at, last_seen_at, nodes, payload_encoding, payload)
VALUES ($1, $2, $3, $4, $4, $5, $6, $7)
ON CONFLICT (idempotency_key) DO UPDATE SET last_seen_at = greatest(t.last_seen_at, excluded.last_seen_at)
RETURNING t.id, (t.xmax = 0) AS inserted`

// postgresBatchSighting upserts the sighting of the stored report with key
// $1 seen at $2, as postgresInsert does.
const postgresBatchSighting = `INSERT INTO sightings AS g (install_uuid, day, report_id, seen_at)
SELECT install_uuid, ($2::timestamptz AT TIME ZONE 'UTC')::date, id, $2 FROM reports WHERE idempotency_key = $1
ON CONFLICT (install_uuid, day) DO UPDATE SET report_id = excluded.report_id, seen_at = excluded.seen_at
WHERE excluded.seen_at >= g.seen_at`

// postgresBatchTimeout bounds one batch transaction, which runs on no
// caller's context: one caller giving up must not undo the others' writes.
const postgresBatchTimeout = time.Minute

// Insert implements Store: it hands r to a writer goroutine and waits for
// the transaction holding it to commit. The unique constraint makes one of
// several concurrent Inserts of a key, on any replica, store it and the
// others see a duplicate.
func (p *Postgres) Insert(ctx context.Context, r Report) (Result, error) {
	if err := validReport(r); err != nil {
		return Result{}, err
	}
	if err := p.gate.enter(); err != nil {
		return Result{}, err
	}
	defer p.gate.leave()
	req := &insertReq{ctx: ctx, r: r, done: make(chan struct{})}
	select {
	case p.reqs <- req:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("inserting report: %w", ctx.Err())
	}
	// Once handed over, wait for the outcome: Close promises that no
	// write is in flight when it returns. A lone report is written on
	// ctx, a batch within postgresBatchTimeout.
	<-req.done
	if req.err != nil {
		return Result{}, fmt.Errorf("inserting report: %w", postgresFull(req.err))
	}
	return req.res, nil
}

// postgresDiskFull is the SQLSTATE of disk_full.
const postgresDiskFull = "53100"

// postgresFull marks err with ErrFull when PostgreSQL failed for lack of
// disk space.
func postgresFull(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == postgresDiskFull {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// writeLoop commits the Inserts of p.reqs in batches of what is waiting
// until reqs is closed.
func (p *Postgres) writeLoop() {
	batch := make([]*insertReq, 0, p.o.BatchSize)
	for {
		first, ok := <-p.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], first)
	collect:
		for len(batch) < p.o.BatchSize {
			select {
			case req, ok := <-p.reqs:
				if !ok {
					break collect
				}
				batch = append(batch, req)
			default:
				break collect
			}
		}
		p.commit(batch)
		clear(batch)
	}
}

// commit writes batch in one transaction and answers each request. When that
// transaction fails, each request is retried on its own, so that a failure
// belongs to the report that caused it.
func (p *Postgres) commit(batch []*insertReq) {
	live := batch[:0:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.err = err
			close(req.done)
			continue
		}
		live = append(live, req)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		live[0].res, live[0].err = p.insertOne(live[0].ctx, live[0].r)
		close(live[0].done)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgresBatchTimeout)
	defer cancel()
	if err := p.insertBatch(ctx, live); err != nil {
		p.log.WithError(err).WithField("reports", len(live)).Debug("postgres batch failed, committing its reports one by one")
		for _, req := range live {
			req.res, req.err = p.insertOne(req.ctx, req.r)
			close(req.done)
		}
		return
	}
	for _, req := range live {
		close(req.done)
	}
}

// insertOne writes r with postgresInsert, which commits on its own.
func (p *Postgres) insertOne(ctx context.Context, r Report) (Result, error) {
	var id int64
	var inserted bool
	encoding, payload := storedPayload(r)
	err := p.pool.QueryRow(ctx, postgresInsert, r.IdempotencyKey, r.InstallUUID, r.SchemaVersion, r.ReceivedAt, r.Nodes, encoding, payload).Scan(&id, &inserted)
	switch {
	case err != nil:
		return Result{}, err
	case !inserted:
		return Result{Duplicate: true}, nil
	}
	return Result{ID: strconv.FormatInt(id, 10)}, nil
}

// insertBatch writes reqs in one transaction, sent as one pipeline, and
// sets their results once it committed. The reports are written in key
// order, then the sightings in install and day order (ties in arrival
// order, so the later write wins as for single Inserts): transactions of
// other writers and replicas take their row locks in the same order, so
// they wait for each other instead of deadlocking. Of several requests of
// one key only the first can have stored it.
func (p *Postgres) insertBatch(ctx context.Context, reqs []*insertReq) error {
	byKey := slices.Clone(reqs)
	slices.SortStableFunc(byKey, func(a, b *insertReq) int { return cmp.Compare(a.r.IdempotencyKey, b.r.IdempotencyKey) })
	bySighting := slices.Clone(reqs)
	slices.SortStableFunc(bySighting, func(a, b *insertReq) int {
		return cmp.Or(cmp.Compare(a.r.InstallUUID, b.r.InstallUUID), cmp.Compare(dayNumber(a.r.ReceivedAt), dayNumber(b.r.ReceivedAt)))
	})
	b := &pgx.Batch{}
	for _, req := range byKey {
		r := req.r
		encoding, payload := storedPayload(r)
		b.Queue(postgresBatchReport, r.IdempotencyKey, r.InstallUUID, r.SchemaVersion, r.ReceivedAt, r.Nodes, encoding, payload)
	}
	for _, req := range bySighting {
		b.Queue(postgresBatchSighting, req.r.IdempotencyKey, req.r.ReceivedAt)
	}

	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it only reports ErrTxClosed
	results := make([]Result, len(byKey))
	br := tx.SendBatch(ctx, b)
	for i, req := range byKey {
		var id int64
		var inserted bool
		if err := br.QueryRow().Scan(&id, &inserted); err != nil {
			_ = br.Close()
			return fmt.Errorf("writing a report: %w", err)
		}
		if inserted && (i == 0 || byKey[i-1].r.IdempotencyKey != req.r.IdempotencyKey) {
			results[i] = Result{ID: strconv.FormatInt(id, 10)}
		} else {
			results[i] = Result{Duplicate: true}
		}
	}
	for range bySighting {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("recording a sighting: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("writing reports: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	for i, req := range byKey {
		req.res = results[i]
	}
	return nil
}

const postgresLatest = `SELECT id, idempotency_key, install_uuid, schema_version, received_at, last_seen_at, nodes, payload_encoding, payload
FROM reports WHERE id IN (
	SELECT DISTINCT ON (install_uuid) id FROM reports
	WHERE last_seen_at >= $1
	ORDER BY install_uuid, last_seen_at DESC, id DESC
)
ORDER BY install_uuid`

// Latest implements Store.
func (p *Postgres) Latest(ctx context.Context, since time.Time) ([]Report, error) {
	if err := p.gate.enter(); err != nil {
		return nil, err
	}
	defer p.gate.leave()
	rows, err := p.pool.Query(ctx, postgresLatest, since)
	if err != nil {
		return nil, fmt.Errorf("reading latest reports: %w", err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		var r Report
		var id int64
		var encoding string
		var payload []byte
		if err := rows.Scan(&id, &r.IdempotencyKey, &r.InstallUUID, &r.SchemaVersion, &r.ReceivedAt, &r.LastSeenAt, &r.Nodes, &encoding, &payload); err != nil {
			return nil, fmt.Errorf("reading latest reports: %w", err)
		}
		r.ID = strconv.FormatInt(id, 10)
		latestPayload(&r, encoding, payload, p.log)
		r.ReceivedAt = r.ReceivedAt.UTC()
		r.LastSeenAt = r.LastSeenAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading latest reports: %w", err)
	}
	return out, nil
}

// postgresHistory counts, per day since $1 (days numbered from 0), the
// installs sighted and the nodes of the report of each sighting.
const postgresHistory = `SELECT (s.day - $1::date)::bigint, count(*), coalesce(sum(r.nodes), 0)::bigint
FROM sightings s JOIN reports r ON r.id = s.report_id
WHERE s.day >= $1::date AND s.day < $2::date GROUP BY s.day ORDER BY s.day`

// History implements Store.
func (p *Postgres) History(ctx context.Context, until time.Time, days int) ([]Day, error) {
	start, end, err := historyRange(until, days)
	if err != nil {
		return nil, err
	}
	if err := p.gate.enter(); err != nil {
		return nil, err
	}
	defer p.gate.leave()
	rows, err := p.pool.Query(ctx, postgresHistory, start.Format(time.DateOnly), end.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	defer rows.Close()
	return scanHistory(rows, start, days)
}

// Prune implements Store. It deletes in chunks, each its own transaction:
// first the sightings, then the reports (whose remaining sightings, none
// when the clocks agree, go with them).
func (p *Postgres) Prune(ctx context.Context, before time.Time) (int64, error) {
	if err := p.gate.enter(); err != nil {
		return 0, err
	}
	defer p.gate.leave()
	if _, err := p.pruneChunks(ctx, `DELETE FROM sightings WHERE (install_uuid, day) IN (SELECT install_uuid, day FROM sightings WHERE seen_at < $1 LIMIT $2)`, before); err != nil {
		return 0, fmt.Errorf("pruning sightings: %w", err)
	}
	n, err := p.pruneChunks(ctx, `DELETE FROM reports WHERE id IN (SELECT id FROM reports WHERE last_seen_at < $1 LIMIT $2)`, before)
	if err != nil {
		return n, fmt.Errorf("pruning reports: %w", err)
	}
	return n, nil
}

// pruneChunks runs the DELETE q with before and pruneChunk until it deletes
// fewer rows than that, and returns how many it deleted.
func (p *Postgres) pruneChunks(ctx context.Context, q string, before time.Time) (int64, error) {
	var total int64
	for {
		tag, err := p.pool.Exec(ctx, q, before, pruneChunk)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneChunk {
			return total, nil
		}
	}
}

// Ping implements Store.
func (p *Postgres) Ping(ctx context.Context) error {
	if err := p.gate.enter(); err != nil {
		return err
	}
	defer p.gate.leave()
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pinging postgres: %w", err)
	}
	return nil
}

// Close implements Store: it waits for the calls in flight, stops the
// writers and closes the pool.
func (p *Postgres) Close() error {
	if err := p.gate.close(); err != nil {
		return err
	}
	close(p.reqs)
	p.writers.Wait()
	p.pool.Close()
	return nil
}
