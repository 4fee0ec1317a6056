package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// TestSQLiteRefusesNewerSchema opens a file migrated past what this version
// knows.
func TestSQLiteRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	s, err := store.OpenSQLite(path, store.NewSQLiteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name) VALUES (1000, 'from the future')`); err != nil {
		t.Fatal(err)
	}
	if s, err := store.OpenSQLite(path, store.NewSQLiteOptions(), nil); !errors.Is(err, store.ErrSchemaTooNew) {
		if s != nil {
			s.Close()
		}
		t.Errorf("open: %v, want ErrSchemaTooNew", err)
	}
}

// TestSQLiteSettings checks the pragmas durability depends on.
func TestSQLiteSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	s, err := store.OpenSQLite(path, store.NewSQLiteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal mode %q, want wal", mode)
	}
}

func TestSQLiteFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	s, err := store.OpenSQLite(path, store.NewSQLiteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		t.Errorf("database file mode %v, want no access for group and others", mode)
	}
}

func TestSQLiteMissingDirectoryNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "reports.db")
	s, err := store.OpenSQLite(path, store.NewSQLiteOptions(), nil)
	if err == nil {
		s.Close()
		t.Fatal("open in a missing directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the path: %v", err)
	}
}
