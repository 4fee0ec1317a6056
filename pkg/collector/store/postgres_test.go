package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/collector/store/storetest"
)

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// TestPostgresRestart stops the server under a store: Inserts fail (nothing
// acknowledged) while it is down and succeed once it is back.
func TestPostgresRestart(t *testing.T) {
	srv := postgresServer(t)
	url := srv.NewDatabase(t)
	ctx := context.Background()
	s, err := store.OpenPostgres(ctx, url, store.NewPostgresOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Insert(ctx, storetest.NewReport("a", 1, t0)); err != nil {
		t.Fatal(err)
	}

	if err := srv.StopServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = srv.StartServer(context.Background())
		}
	}()
	lost := storetest.NewReport("b", 1, t0)
	down, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if res, err := s.Insert(down, lost); err == nil {
		t.Fatalf("insert while the server is down: %+v, want an error", res)
	}
	if err := s.Ping(down); err == nil {
		t.Error("ping while the server is down succeeded")
	}

	if err := srv.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	// Connections broken by the restart may fail a first attempt; every
	// failure is an error, never an acknowledgement.
	var res store.Result
	for attempt := 1; ; attempt++ {
		res, err = s.Insert(ctx, lost)
		if err == nil {
			break
		}
		if attempt == 5 {
			t.Fatalf("insert after restart: %v", err)
		}
	}
	if res.Duplicate {
		t.Error("report refused while the server was down is a duplicate: it was stored")
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping after restart: %v", err)
	}
}

// TestPostgresRefusesNewerSchema opens a database migrated past what this
// version knows.
func TestPostgresRefusesNewerSchema(t *testing.T) {
	url := postgresServer(t).NewDatabase(t)
	ctx := context.Background()
	s, err := store.OpenPostgres(ctx, url, store.NewPostgresOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (1000, 'from the future')`); err != nil {
		t.Fatal(err)
	}
	if s, err := store.OpenPostgres(ctx, url, store.NewPostgresOptions(), nil); err == nil || !errors.Is(err, store.ErrSchemaTooNew) {
		if s != nil {
			s.Close()
		}
		t.Errorf("open: %v, want ErrSchemaTooNew", err)
	}
}

// TestPostgresBatch commits reports as one transaction: a key twice in the
// batch is stored once, and a report PostgreSQL refuses fails alone.
func TestPostgresBatch(t *testing.T) {
	url := postgresServer(t).NewDatabase(t)
	ctx := context.Background()
	s, err := store.OpenPostgres(ctx, url, store.NewPostgresOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := storetest.NewReport("install-a", 1, t0), storetest.NewReport("install-b", 2, t0)
	bad := storetest.NewReport("install-c", 3, t0)
	bad.InstallUUID = "install-\xff" // not UTF-8: PostgreSQL refuses the text
	res, errs := store.CommitPostgresBatch(s, []store.Report{a, b, a, bad})
	for i, want := range []bool{false, false, true} {
		if errs[i] != nil {
			t.Fatalf("report %d: %v", i, errs[i])
		}
		if res[i].Duplicate != want || (res[i].ID == "") != want {
			t.Errorf("report %d: %+v, want duplicate %v", i, res[i], want)
		}
	}
	if errs[3] == nil {
		t.Errorf("report with a bad install UUID: %+v, want an error", res[3])
	}
	// Without a failing report the batch commits as one transaction.
	x, y := storetest.NewReport("install-x", 1, t0), storetest.NewReport("install-y", 2, t0)
	res, errs = store.CommitPostgresBatch(s, []store.Report{x, y, x, a})
	for i, want := range []bool{false, false, true, true} {
		if errs[i] != nil {
			t.Fatalf("second batch, report %d: %v", i, errs[i])
		}
		if res[i].Duplicate != want || (res[i].ID == "") != want {
			t.Errorf("second batch, report %d: %+v, want duplicate %v", i, res[i], want)
		}
	}
	got, err := s.Latest(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].InstallUUID != a.InstallUUID || got[1].InstallUUID != b.InstallUUID {
		t.Errorf("latest: %d reports %+v, want those of install-a, -b, -x and -y", len(got), got)
	}
}
