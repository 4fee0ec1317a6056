package testenv

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	pg := StartPostgresT(t)
	ctx := t.Context()
	url := pg.NewDatabase(t)

	query := func(sql string) string {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var s string
		if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("runs with fsync and synchronous commit", func(t *testing.T) {
		if got := query(`SHOW fsync`); got != "on" {
			t.Errorf("fsync = %q, want on", got)
		}
		if got := query(`SHOW synchronous_commit`); got != "on" {
			t.Errorf("synchronous_commit = %q, want on", got)
		}
	})
	t.Run("runs as a user other than root", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(pg.Dir, "data"))
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid == 0 {
			t.Error("data directory owned by root")
		}
	})
	t.Run("keeps committed data across a restart", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before restart')`); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if err := pg.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if got := query(`SELECT v FROM kept`); got != "before restart" {
			t.Errorf("after restart: %q", got)
		}
	})
	t.Run("refuses connections while stopped", func(t *testing.T) {
		if err := pg.StopServer(); err != nil {
			t.Fatal(err)
		}
		if pg.Running() {
			t.Error("Running after StopServer")
		}
		if conn, err := pgx.Connect(ctx, url); err == nil {
			conn.Close(ctx)
			t.Fatal("connected to a stopped server")
		}
		if err := pg.StartServer(ctx); err != nil {
			t.Fatal(err)
		}
		if got := query(`SELECT 'back'`); got != "back" {
			t.Errorf("after start: %q", got)
		}
	})
}
