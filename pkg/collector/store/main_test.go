package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/collector/store/storetest"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// One PostgreSQL server serves every test of the package, each on a
// database of its own; it starts on first use.
var pg struct {
	once sync.Once
	srv  *testenv.Postgres
	err  error
}

func postgresServer(t testing.TB) *testenv.Postgres {
	t.Helper()
	pg.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // covers a package install
		defer cancel()
		pg.srv, pg.err = testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	})
	if pg.err != nil {
		t.Fatalf("starting postgres: %v", pg.err)
	}
	return pg.srv
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pg.srv != nil {
		if err := pg.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// newSQLite returns an Opener on a new SQLite file.
func newSQLite(t testing.TB) storetest.Opener {
	path := filepath.Join(t.TempDir(), "reports.db")
	return func(context.Context) (store.Store, error) {
		return store.OpenSQLite(path, store.NewSQLiteOptions(), nil)
	}
}

// newPostgres returns an Opener on a new PostgreSQL database.
func newPostgres(t testing.TB) storetest.Opener {
	url := postgresServer(t).NewDatabase(t)
	return func(ctx context.Context) (store.Store, error) {
		return store.OpenPostgres(ctx, url, store.NewPostgresOptions(), nil)
	}
}

func TestSQLiteConformance(t *testing.T) { storetest.Run(t, newSQLite) }

// TestSQLiteConformanceSmallBatches runs the suite with batches cut by size
// and by a wait.
func TestSQLiteConformanceSmallBatches(t *testing.T) {
	storetest.Run(t, func(t testing.TB) storetest.Opener {
		path := filepath.Join(t.TempDir(), "reports.db")
		o := store.NewSQLiteOptions()
		o.BatchSize, o.BatchWait = 3, time.Millisecond
		return func(context.Context) (store.Store, error) { return store.OpenSQLite(path, o, nil) }
	})
}

func TestPostgresConformance(t *testing.T) { storetest.Run(t, newPostgres) }

// BenchmarkInsert measures concurrent Inserts of distinct reports.
func BenchmarkInsert(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { storetest.BenchInsert(b, newSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { storetest.BenchInsert(b, newPostgres(b)) })
}
