package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/internal/memstore"
	"github.com/rancher/telemetry-manager/pkg/collector/server"
	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// runMainEnv makes the test binary run the command itself, with an
// in-memory store, so that the test starts the command as a process of
// its own and signals it.
const runMainEnv = "TELEMETRY_COLLECTOR_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(mainWith(memstore.Open))
	}
	os.Exit(m.Run())
}

func TestInvalidFlagsAreAllReported(t *testing.T) {
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"--listen", "nohost", "--max-body", "0", "--rate", "-1", "--database", "mysql://x"}, &stderr, memstore.Open)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"--listen", "--max-body", "--rate", "--database", "--signing-keys-file: required"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %s:\n%s", want, stderr.String())
		}
	}
}

// TestUnreachablePostgresFailsWithoutPassword starts against a PostgreSQL
// URL nothing answers: the command exits 1 and its error hides the password.
func TestUnreachablePostgresFailsWithoutPassword(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("collector-test-signing-key-0001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"--listen", "127.0.0.1:0", "--signing-keys-file", keys, "--database", "postgres://u:secret@" + freeAddr(t) + "/x?connect_timeout=5"}, &stderr, openStore)
	if code != 1 || !strings.Contains(stderr.String(), "opening the store") || strings.Contains(stderr.String(), "secret") {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitFor polls cond until it holds or a minute has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSIGTERMFinishesRequestsInFlight starts the command, begins a report
// whose body arrives slowly, sends SIGTERM, checks that new connections are
// refused, then completes the body: the report must be stored (202) and
// the process must exit 0.
func TestSIGTERMFinishesRequestsInFlight(t *testing.T) {
	dir := t.TempDir()
	key := []byte("collector-test-signing-key-0001")
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, append(key, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--listen", addr, "--signing-keys-file", keys, "--database", "sqlite:"+filepath.Join(dir, "c.db"))
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("collector output:\n%s", logs.String())
		}
	}()
	base := "http://" + addr
	poll := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	get := func(path string) (string, bool) {
		resp, err := poll.Get(base + path)
		if err != nil {
			return "", false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.StatusCode == http.StatusOK
	}
	waitFor(t, "the collector to serve", func() bool { _, ok := get("/readyz"); return ok })

	payload, err := os.ReadFile(filepath.Join("..", "..", "pkg", "encoding", "report", "testdata", "sample.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(payload)
	zw.Close()
	body := gz.Bytes()
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+protocol.DefaultPath, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", protocol.ContentType)
	req.Header.Set("Content-Encoding", protocol.EncodingGzip)
	req.Header.Set(protocol.HeaderIdempotencyKey, protocol.IdempotencyKey(payload))
	req.Header.Set(protocol.HeaderSignature, protocol.Sign(time.Now(), body, key))
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the report to be in flight", func() bool {
		m, _ := get("/metrics")
		return strings.Contains(m, "telemetry_collector_reports_in_flight 1")
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	select {
	case r := <-done:
		t.Fatalf("the request ended before its body was sent: %+v", r)
	default:
	}
	if _, err := pw.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.status != http.StatusAccepted || !strings.Contains(r.body, `"duplicate":false`) {
		t.Fatalf("request in flight: status %d body %s err %v", r.status, r.body, r.err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the collector did not exit 0: %v", err)
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("no clean stop in the log")
	}
	// The collector's own address is logged; no peer's may be.
	if strings.Contains(strings.ReplaceAll(logs.String(), addr, ""), "127.0.0.1") {
		t.Errorf("the log holds a peer address:\n%s", logs.String())
	}
}

// TestDatabaseFromTheEnvironment: without --database the store comes from
// TELEMETRY_COLLECTOR_DATABASE, so a PostgreSQL password stays out of the
// arguments; --database wins over it; --help never shows its value.
func TestDatabaseFromTheEnvironment(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("collector-test-signing-key-0001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const fromEnv = "postgres://u:env-secret@127.0.0.1:1/x"
	t.Setenv(server.DatabaseEnv, fromEnv)
	opened := func(args ...string) string {
		t.Helper()
		var got string
		open := func(ctx context.Context, spec string) (store.Store, error) {
			got = spec
			return nil, errors.New("not opening it")
		}
		var stderr bytes.Buffer
		if code := run(t.Context(), append([]string{"--listen", "127.0.0.1:0", "--signing-keys-file", keys}, args...), &stderr, open); code != 1 {
			t.Fatalf("exit %d, want 1 (the store refused):\n%s", code, stderr.String())
		}
		if strings.Contains(stderr.String(), "env-secret") {
			t.Fatalf("the password is in the output:\n%s", stderr.String())
		}
		return got
	}
	if got := opened(); got != fromEnv {
		t.Errorf("without --database the store is %q, want the environment's", got)
	}
	if got := opened("--database", "sqlite:x.db"); got != "sqlite:x.db" {
		t.Errorf("with --database the store is %q, want the flag's", got)
	}
	var help bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, &help, memstore.Open); code != 0 || strings.Contains(help.String(), "env-secret") || !strings.Contains(help.String(), server.DatabaseEnv) {
		t.Errorf("--help (exit %d) shows the value or not the variable:\n%s", code, help.String())
	}
}
