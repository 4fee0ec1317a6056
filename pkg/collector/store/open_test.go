package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name       string
		spec       string
		wantKind   string
		wantTarget string
		wantErr    error
	}{
		{"sqlite path", "sqlite:telemetry-collector.db", store.KindSQLite, "telemetry-collector.db", nil},
		{"sqlite absolute path", "sqlite:/var/lib/collector/reports.db", store.KindSQLite, "/var/lib/collector/reports.db", nil},
		{"postgres url", "postgres://u:secret@db:5432/telemetry", store.KindPostgres, "postgres://u:secret@db:5432/telemetry", nil},
		{"postgresql url", "postgresql://db/telemetry?sslmode=verify-full", store.KindPostgres, "postgresql://db/telemetry?sslmode=verify-full", nil},
		{"empty sqlite path", "sqlite:", "", "", store.ErrInvalid},
		{"sqlite in memory", "sqlite::memory:", "", "", store.ErrInvalid},
		{"sqlite uri", "sqlite:file:x.db?mode=ro", "", "", store.ErrInvalid},
		{"sqlite path with query", "sqlite:x.db?_pragma=journal_mode(off)", "", "", store.ErrInvalid},
		{"empty", "", "", "", store.ErrUnknownDatabase},
		{"bare path", "reports.db", "", "", store.ErrUnknownDatabase},
		{"other database", "mysql://u:secret@db/telemetry", "", "", store.ErrUnknownDatabase},
		{"postgres without slashes", "postgres:db", "", "", store.ErrUnknownDatabase},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, target, err := store.ParseSpec(tc.spec)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if kind != tc.wantKind || target != tc.wantTarget {
				t.Errorf("got (%q, %q), want (%q, %q)", kind, target, tc.wantKind, tc.wantTarget)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the spec's password: %v", err)
			}
			if errors.Is(err, store.ErrUnknownDatabase) && !strings.Contains(err.Error(), "sqlite:PATH") {
				t.Errorf("error does not name the accepted forms: %v", err)
			}
		})
	}
}

func TestOpenDispatchesBySpec(t *testing.T) {
	ctx := context.Background()
	specs := map[string]string{
		"sqlite":   "sqlite:" + filepath.Join(t.TempDir(), "reports.db"),
		"postgres": postgresServer(t).NewDatabase(t),
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			s, err := store.Open(ctx, spec, store.NewOptions(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var ok bool
			switch name {
			case "sqlite":
				_, ok = s.(*store.SQLite)
			case "postgres":
				_, ok = s.(*store.Postgres)
			}
			if !ok {
				t.Errorf("Open(%s) returned %T", name, s)
			}
			if err := s.Ping(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestOpenPostgresErrorHidesPassword(t *testing.T) {
	// Nothing listens on port 1.
	_, err := store.Open(context.Background(), "postgres://u:hunter2@127.0.0.1:1/telemetry?connect_timeout=2", store.NewOptions(), nil)
	if err == nil {
		t.Fatal("open of an unreachable server succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	o := store.NewOptions()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	o.SQLite.BatchSize = 0
	o.SQLite.ReadConns = 0
	o.SQLite.BatchWait = -1
	o.Postgres.MaxConns = 0
	err := o.Validate()
	for _, field := range []string{"batch size", "read connections", "batch wait", "max connections"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("Validate does not name %s: %v", field, err)
		}
	}
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Validate: %v, want ErrInvalid", err)
	}
}
