package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func openTestSQLite(t *testing.T) *SQLite {
	t.Helper()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "reports.db"), NewSQLiteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func report(key string, size int) Report {
	return Report{IdempotencyKey: key, InstallUUID: "install-" + key, SchemaVersion: "1", ReceivedAt: t0, Nodes: 1, Payload: bytes.Repeat([]byte{'x'}, size)}
}

func request(r Report) *insertReq {
	return &insertReq{ctx: context.Background(), r: r, done: make(chan struct{})}
}

func stored(t *testing.T, s *SQLite) map[string]bool {
	t.Helper()
	rows, err := s.r.Query(`SELECT idempotency_key FROM reports`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys[k] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// limitPages caps the file at its current size plus extra pages, the way a
// full disk would stop it growing.
func limitPages(t *testing.T, s *SQLite, extra int) {
	t.Helper()
	var pages int
	if err := s.w.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+extra)); err != nil {
		t.Fatal(err)
	}
}

func unlimitPages(t *testing.T, s *SQLite) {
	t.Helper()
	if _, err := s.w.Exec(`PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
}

func integrityOK(t *testing.T, s *SQLite) {
	t.Helper()
	var res string
	if err := s.r.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatal(err)
	}
	if res != "ok" {
		t.Errorf("integrity check: %s", res)
	}
}

func isFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

func TestSQLiteBatchWithDuplicateStoresItOnce(t *testing.T) {
	s := openTestSQLite(t)
	a, b := request(report("a", 10)), request(report("b", 10))
	again := request(report("a", 10))
	s.commit([]*insertReq{a, b, again})
	for name, req := range map[string]*insertReq{"a": a, "b": b, "a again": again} {
		<-req.done
		if req.err != nil {
			t.Fatalf("%s: %v", name, req.err)
		}
	}
	if a.res.Duplicate || a.res.ID == "" || b.res.Duplicate {
		t.Errorf("first of each key: %+v, %+v, want stored", a.res, b.res)
	}
	if !again.res.Duplicate || again.res.ID != "" {
		t.Errorf("second a in the batch: %+v, want duplicate", again.res)
	}
	if got := stored(t, s); len(got) != 2 {
		t.Errorf("stored %v, want a and b", got)
	}
}

func TestSQLiteBatchSkipsRequestsWhoseContextEnded(t *testing.T) {
	s := openTestSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := &insertReq{ctx: ctx, r: report("gone", 10), done: make(chan struct{})}
	kept := request(report("kept", 10))
	s.commit([]*insertReq{gone, kept})
	<-gone.done
	<-kept.done
	if !errors.Is(gone.err, context.Canceled) || kept.err != nil {
		t.Errorf("errors: gone %v, kept %v; want Canceled and nil", gone.err, kept.err)
	}
	if got := stored(t, s); !got["kept"] || got["gone"] {
		t.Errorf("stored %v, want only kept", got)
	}
}

// TestSQLiteFullDisk simulates a full disk with PRAGMA max_page_count: the
// file may not grow, as when the file system has no space left.
func TestSQLiteFullDisk(t *testing.T) {
	s := openTestSQLite(t)
	ctx := context.Background()
	if _, err := s.Insert(ctx, report("before", 1000)); err != nil {
		t.Fatal(err)
	}
	limitPages(t, s, 4)

	t.Run("insert that does not fit fails and stores nothing", func(t *testing.T) {
		_, err := s.Insert(ctx, report("big", 256<<10))
		if !isFull(err) || !errors.Is(err, ErrFull) {
			t.Fatalf("insert into a full database: %v, want SQLITE_FULL marked ErrFull", err)
		}
		if got := stored(t, s); got["big"] || !got["before"] {
			t.Errorf("stored %v, want only before", got)
		}
		integrityOK(t, s)
	})
	t.Run("one report too big fails alone in its batch", func(t *testing.T) {
		small1, big, small2 := request(report("small1", 100)), request(report("big", 256<<10)), request(report("small2", 100))
		s.commit([]*insertReq{small1, big, small2})
		if small1.err != nil || small2.err != nil {
			t.Errorf("small reports: %v, %v; want stored", small1.err, small2.err)
		}
		if !isFull(big.err) {
			t.Errorf("big report: %v, want SQLITE_FULL", big.err)
		}
		if got := stored(t, s); !got["small1"] || !got["small2"] || got["big"] {
			t.Errorf("stored %v, want the small ones only", got)
		}
		integrityOK(t, s)
	})
	t.Run("inserts work again once space returns", func(t *testing.T) {
		unlimitPages(t, s)
		res, err := s.Insert(ctx, report("big", 256<<10))
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicate {
			t.Error("report refused while full is a duplicate: it was stored after all")
		}
		integrityOK(t, s)
	})
}

func TestSQLiteWriterIsDurable(t *testing.T) {
	s := openTestSQLite(t)
	var sync int
	var mode string
	if err := s.w.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := s.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if sync != 2 || mode != "wal" {
		t.Errorf("writer: synchronous=%d journal_mode=%s, want 2 (FULL) and wal", sync, mode)
	}
}

// TestSQLiteCheckpointerCopiesTheWAL commits enough reports to wake the
// checkpointer; the writer itself checkpoints only at a large WAL.
func TestSQLiteCheckpointerCopiesTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	s, err := OpenSQLite(path, NewSQLiteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.w.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != sqliteWriterCheckpointPages {
		t.Errorf("writer checkpoints at %d pages, want %d", pages, sqliteWriterCheckpointPages)
	}
	ctx := context.Background()
	for i := range sqliteCheckpointReports {
		if _, err := s.Insert(ctx, report(fmt.Sprintf("k%03d", i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	// Close waits for the checkpointer; a reopened file has every report.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenSQLite(path, NewSQLiteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := len(stored(t, again)); got != sqliteCheckpointReports {
		t.Errorf("after reopening: %d reports, want %d", got, sqliteCheckpointReports)
	}
}

// TestSQLiteMigratesReportsToSightings opens a file written at schema
// version 1: each report becomes seen when it arrived, and the last report
// of each install and day its sighting.
func TestSQLiteMigratesReportsToSightings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	v1 := []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
		sqliteMigrations[0].sql,
		`INSERT INTO schema_migrations (version, name) VALUES (1, 'reports')`,
	}
	for i, r := range []Report{report("a1", 1), report("a2", 1), report("b1", 1)} {
		r.InstallUUID = "install-" + r.IdempotencyKey[:1]
		r.ReceivedAt = t0.Add(time.Duration(i) * time.Hour)
		r.Nodes = int64(10 + i)
		v1 = append(v1, fmt.Sprintf(`INSERT INTO reports (idempotency_key, install_uuid, schema_version, received_at, nodes, payload) VALUES ('%s', '%s', '1', %d, %d, x'00')`,
			r.IdempotencyKey, r.InstallUUID, r.ReceivedAt.UnixMicro(), r.Nodes))
	}
	for _, q := range v1 {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := OpenSQLite(path, NewSQLiteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	got, err := s.Latest(ctx, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].IdempotencyKey != "a2" || !got[0].LastSeenAt.Equal(t0.Add(time.Hour)) || got[1].IdempotencyKey != "b1" {
		t.Errorf("latest after migrating: %+v, want a2 last seen when it arrived, then b1", got)
	}
	for _, r := range got {
		if !bytes.Equal(r.Payload, []byte{0}) {
			t.Errorf("payload of %s after migrating: %q, want the stored byte", r.IdempotencyKey, r.Payload)
		}
	}
	days, err := s.History(ctx, t0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if days[0].Installs != 2 || days[0].Nodes != 11+12 {
		t.Errorf("history after migrating: %+v, want 2 installs with 23 nodes", days[0])
	}
	// A duplicate of a migrated report is one.
	again := report("a1", 1)
	again.InstallUUID = "install-a"
	if res, err := s.Insert(ctx, again); err != nil || !res.Duplicate {
		t.Errorf("insert of a migrated report: %+v, %v; want a duplicate", res, err)
	}
}
