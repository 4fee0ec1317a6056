// Package store keeps the reports a collector has accepted. One interface,
// two implementations: SQLite (a file, the default) and PostgreSQL (for
// several collector replicas sharing one database). Both run their schema
// migrations when opened, acknowledge nothing before it is committed, and
// deduplicate by idempotency key with a unique constraint, so that a report
// sent to two replicas at once is stored once.
//
// A store never holds an IP address or anything else about the sender
// beyond the report itself.
//
// # Storage
//
// Each report is one row: an id assigned by the store, the idempotency key
// (unique), the install UUID, the schema version, the collector's receive
// time of its first arrival and of its last (both kept to the microsecond,
// in UTC), totals.nodes and the payload bytes as received. Open takes
// "sqlite:PATH" or a "postgres://" (or "postgresql://") URL.
//
// # Duplicates are sightings
//
// An install whose report does not change sends the same bytes, so the same
// idempotency key, every interval. Such a duplicate stores no second row,
// but it is not ignored either: it moves the stored report's last_seen_at
// forward (never back), and every Insert, new or duplicate, upserts one row
// of the sightings table per install and UTC day (install UUID, day, the id
// of the report seen last that day and when). So a quiet install stays in
// Latest's window, and History counts it on every day it reported, with the
// nodes of the report it sent that day.
//
// SQLite keeps everything in one file in WAL mode with synchronous=FULL. One
// writer goroutine groups the Inserts that arrive together into one
// transaction (see SQLiteOptions), so a burst costs one fsync, not one per
// report; each Insert still returns only after its transaction committed.
// The writer's statements are prepared once, and one upsert per report both
// stores it and marks a duplicate seen. A connection of its own copies the
// WAL into the database, so commits do not wait for checkpoints. Reads use
// a separate pool of read-only connections. A full disk or an I/O error
// fails the Inserts of that transaction; the file stays consistent and
// Inserts succeed again once space returns.
//
// PostgreSQL is for several collector replicas sharing one database. A few
// writer goroutines (see PostgresOptions) each commit the Inserts waiting
// at once in one transaction, sent as one pipeline: INSERT ... ON CONFLICT
// (idempotency_key) DO UPDATE of last_seen_at for each report, in key
// order, then the sightings' upserts, in install order, so that concurrent
// transactions lock rows in one order. synchronous_commit is on. When a
// batch fails, each of its reports is retried on its own, so a failure
// belongs to the report that caused it. The unique constraint, not a prior
// lookup, decides which replica stores a report sent to two of them at
// once; the row's xmax tells that replica's insert from the others'
// updates.
//
// Migrations are numbered, run in one transaction when a store is opened and
// recorded in the schema_migrations table; on PostgreSQL a transaction-scoped
// advisory lock makes replicas starting together migrate one after the other.
// A database migrated by a newer collector is refused with ErrSchemaTooNew.
//
// RunPruner deletes the reports and sightings older than the retention on a
// schedule; a report's age counts from when it was last seen.
package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store closed")
	// ErrInvalid marks an argument the store refuses, such as a report
	// without an idempotency key; the message names the field.
	ErrInvalid = errors.New("invalid argument")
	// ErrUnknownDatabase marks a database spec that is neither
	// "sqlite:PATH" nor a "postgres://" or "postgresql://" URL.
	ErrUnknownDatabase = errors.New("unknown database")
	// ErrSchemaTooNew means the database was migrated by a newer version
	// than this one knows.
	ErrSchemaTooNew = errors.New("database schema is newer than this version knows")
	// ErrCorrupt marks a stored payload that cannot be read back as the
	// document it was stored as.
	ErrCorrupt = errors.New("stored payload corrupt")
	// ErrFull marks a write the database refused for lack of space: its
	// disk is full. Nothing of the write was committed, and writes succeed
	// again once space returns.
	ErrFull = errors.New("database storage full")
)

// Report is one accepted report, as the collector stores it.
type Report struct {
	// ID is assigned by the store when the report is inserted.
	ID string
	// IdempotencyKey is the hex SHA-256 of Payload; it is unique.
	IdempotencyKey string
	// InstallUUID is the payload's install.installUUID.
	InstallUUID string
	// SchemaVersion is the payload's schemaVersion.
	SchemaVersion string
	// ReceivedAt is the collector's clock when the report arrived; stores
	// keep it to the microsecond and return it in UTC. A duplicate keeps
	// the first arrival's.
	ReceivedAt time.Time
	// LastSeenAt is the latest receive time of the report or of one of its
	// duplicates. Insert ignores it (it starts at ReceivedAt); Latest
	// returns it.
	LastSeenAt time.Time
	// Nodes is the payload's totals.nodes, kept beside it for the history.
	Nodes int64
	// Payload is the uncompressed JSON document, byte for byte.
	Payload []byte
	// Gzip, when set, is Payload compressed with gzip, as the sender sent
	// it. A store then keeps Gzip instead of Payload: a tenth of the bytes
	// to write, and no compression work of its own. Latest returns Payload
	// decompressed, checked against IdempotencyKey, and Gzip nil.
	Gzip []byte
}

// Result says what Insert did.
type Result struct {
	// ID is the id of the stored report; empty for a duplicate.
	ID string
	// Duplicate is true when a report with the same idempotency key was
	// already stored; no second report was written, only the sighting.
	Duplicate bool
}

// Day is one day of the history, in UTC.
type Day struct {
	// Date is midnight UTC of the day.
	Date time.Time
	// Installs counts the installs sighted that day: that sent a report,
	// new or a duplicate.
	Installs int64
	// Nodes sums, over those installs, totals.nodes of the report each one
	// sent last that day.
	Nodes int64
}

// Store is where reports are kept. Its methods are safe for concurrent use.
type Store interface {
	// Insert stores r unless a report with r.IdempotencyKey is stored
	// already, in which case it marks that report seen at r.ReceivedAt.
	// Either way it records the install's sighting of that UTC day. It
	// returns only once all of it is committed; an error means nothing may
	// be acknowledged.
	Insert(ctx context.Context, r Report) (Result, error)
	// Latest returns, for each install last seen at or after since, the
	// report it sent last (duplicates count as sending it), ordered by
	// install UUID.
	Latest(ctx context.Context, since time.Time) ([]Report, error)
	// History returns one Day for each of the days UTC days ending with
	// the day of until, oldest first, days without sightings included.
	History(ctx context.Context, until time.Time, days int) ([]Day, error)
	// Prune deletes the sightings before before and the reports last seen
	// before it, and returns how many reports it deleted.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close waits for writes in flight and closes the database.
	Close() error
}
