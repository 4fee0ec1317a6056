package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// PostgresUser is the superuser of the test server; it authenticates
	// without a password from loopback only.
	PostgresUser = "postgres"

	// postgresReadyTimeout bounds the wait for the server to accept
	// connections when the context has no earlier deadline.
	postgresReadyTimeout = 60 * time.Second
	// postgresStopTimeout bounds a fast shutdown before SIGQUIT.
	postgresStopTimeout = 30 * time.Second
	// postgresLibDir holds one directory per installed major version, each
	// with a bin directory (Debian's layout).
	postgresLibDir = "/usr/lib/postgresql"
)

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// Logf, when set, receives progress and diagnostics.
	Logf func(format string, args ...any)
	// KeepDir keeps Postgres.Dir (data and postgres.log) after Stop.
	KeepDir bool
}

// Postgres is a PostgreSQL server run from Debian's postgresql package on
// a loopback port, with its data, socket and log in a temporary directory.
// fsync and synchronous_commit are on, as in production.
type Postgres struct {
	// Dir holds data/, the socket directory sock/ and postgres.log.
	Dir string
	// Port is the loopback TCP port; it stays the same across restarts.
	Port int

	bin     string
	cred    *syscall.Credential // nil when not running as root
	logf    func(format string, args ...any)
	keepDir bool
	dbSeq   atomic.Int64

	mu       sync.Mutex // guards proc
	proc     *proc
	stopOnce sync.Once
	stopErr  error
}

// StartPostgres initializes a data directory and starts a server on a free
// loopback port; it installs the postgresql package (scripts/install-debs)
// when its binaries are missing. When running as root the server runs as the
// postgres user (else nobody), as PostgreSQL refuses root. ctx bounds the
// start only; the server runs until Stop.
func StartPostgres(ctx context.Context, opts PostgresOptions) (_ *Postgres, retErr error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	began := time.Now()
	bin, err := postgresBinDir(ctx, logf)
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "telemetry-postgres-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	p := &Postgres{Dir: dir, bin: bin, cred: cred, logf: logf, keepDir: opts.KeepDir}
	defer func() {
		if retErr != nil {
			if err := p.Stop(); err != nil {
				logf("testenv: stop after failed start: %v", err)
			}
		}
	}()
	for _, d := range []string{dir, p.path("data"), p.path("sock")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("testenv: %w", err)
			}
		}
	}
	if err := p.initdb(ctx); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		ports, err := pickPorts(1)
		if err != nil {
			return nil, err
		}
		p.Port = ports[0]
		err = p.StartServer(ctx)
		if err == nil {
			break
		}
		if attempt >= startAttempts || !p.lostPort() {
			return nil, err
		}
		logf("testenv: postgres lost port %d to another process; retrying", p.Port)
	}
	logf("testenv: postgres %s ready on port %d after %v", filepath.Base(filepath.Dir(bin)), p.Port, time.Since(began).Round(time.Millisecond))
	return p, nil
}

// StartPostgresT starts a server for a test, fails the test when it cannot
// and stops the server in t.Cleanup. Progress goes to t.Logf.
func StartPostgresT(t testing.TB) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // covers a package install
	defer cancel()
	p, err := StartPostgres(ctx, PostgresOptions{Logf: t.Logf})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return p
}

// URL returns the URL of database db on the server, as the superuser.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", PostgresUser, p.Port, db)
}

// NewDatabase creates an empty database for t and returns its URL. The
// database is not dropped: dropping costs a checkpoint, and it goes with the
// data directory at Stop.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", p.dbSeq.Add(1))
	if err := p.exec(t.Context(), `CREATE DATABASE `+name); err != nil {
		t.Fatalf("testenv: creating database: %v", err)
	}
	return p.URL(name)
}

// exec runs one statement in the postgres database.
func (p *Postgres) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Running reports whether the server process is running.
func (p *Postgres) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc != nil && !p.proc.exited()
}

// StopServer shuts the server down (fast shutdown: sessions are ended,
// committed data is kept) and keeps the data directory, so StartServer can
// bring it back on the same port.
func (p *Postgres) StopServer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	err := p.proc.stopWith(p.logf, syscall.SIGINT, syscall.SIGQUIT, postgresStopTimeout)
	p.proc = nil
	return err
}

// StartServer starts the server on p.Port and waits until it accepts
// connections.
func (p *Postgres) StartServer(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && !p.proc.exited() {
		return errors.New("testenv: postgres is running already")
	}
	logPath := p.path("postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	logStart, _ := logFile.Seek(0, 2)
	cmd := exec.Command(filepath.Join(p.bin, "postgres"),
		"-D", p.path("data"),
		"-p", strconv.Itoa(p.Port),
		"-k", p.path("sock"),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "max_connections=300",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so signals reach no test; SIGQUIT (immediate
	// shutdown) should the test process die without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("testenv: starting postgres: %w", err)
	}
	pr := &proc{name: "postgres", cmd: cmd, logPath: logPath, logStart: logStart, logFile: logFile, done: make(chan struct{})}
	go func() {
		pr.err = cmd.Wait()
		close(pr.done)
	}()
	p.proc = pr
	if err := p.waitReady(ctx, pr); err != nil {
		_ = pr.stopWith(p.logf, syscall.SIGQUIT, syscall.SIGKILL, 5*time.Second)
		p.proc = nil
		return fmt.Errorf("testenv: postgres not ready: %w\n%s", err, pr.tail())
	}
	return nil
}

// Restart stops the server and starts it again on the same data directory
// and port.
func (p *Postgres) Restart(ctx context.Context) error {
	if err := p.StopServer(); err != nil {
		return err
	}
	return p.StartServer(ctx)
}

// Stop stops the server and removes Dir unless KeepDir is set. It is
// idempotent.
func (p *Postgres) Stop() error {
	p.stopOnce.Do(func() {
		var errs []error
		if err := p.StopServer(); err != nil {
			errs = append(errs, err)
		}
		if p.keepDir {
			p.logf("testenv: keeping %s", p.Dir)
		} else if err := os.RemoveAll(p.Dir); err != nil {
			errs = append(errs, fmt.Errorf("testenv: remove %s: %w", p.Dir, err))
		}
		p.stopErr = errors.Join(errs...)
	})
	return p.stopErr
}

func (p *Postgres) path(name string) string { return filepath.Join(p.Dir, name) }

// lostPort reports whether the last start failed because the port was
// taken meanwhile.
func (p *Postgres) lostPort() bool {
	b, err := os.ReadFile(p.path("postgres.log"))
	return err == nil && strings.Contains(string(b), "could not bind")
}

func (p *Postgres) initdb(ctx context.Context) error {
	// Trust authentication: the server listens on loopback only. --no-sync
	// only skips flushing the fresh data directory of a
	// throwaway server; the server itself runs with fsync on.
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "initdb"),
		"-D", p.path("data"), "-U", PostgresUser, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Dir = p.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("testenv: initdb: %w\n%s", err, lastLines(string(out), 30))
	}
	return nil
}

// waitReady connects until the server answers, pr exits or ctx ends.
func (p *Postgres) waitReady(ctx context.Context, pr *proc) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, postgresReadyTimeout)
		defer cancel()
	}
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, p.URL("postgres"))
		cancel()
		if err == nil {
			return conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-pr.done:
			return fmt.Errorf("postgres exited: %v", pr.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopWith sends first to the process group, then last after timeout.
func (pr *proc) stopWith(logf func(string, ...any), first, last syscall.Signal, timeout time.Duration) error {
	defer pr.logFile.Close()
	if pr.exited() {
		return nil
	}
	pid := pr.cmd.Process.Pid
	_ = syscall.Kill(-pid, first)
	select {
	case <-pr.done:
		return nil
	case <-time.After(timeout):
	}
	logf("testenv: %s did not exit %v after %v; sending %v", pr.name, timeout, first, last)
	_ = syscall.Kill(-pid, last)
	select {
	case <-pr.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("testenv: %s (pid %d) did not exit after %v", pr.name, pid, last)
	}
}

// postgresBinDir returns the bin directory of the newest installed
// PostgreSQL, installing the postgresql package first when none is.
func postgresBinDir(ctx context.Context, logf func(string, ...any)) (string, error) {
	if bin := newestPostgres(); bin != "" {
		return bin, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	logf("testenv: no PostgreSQL under %s; running scripts/install-debs postgresql", postgresLibDir)
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "install-debs"), "postgresql")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testenv: scripts/install-debs postgresql: %w\n%s", err, lastLines(string(out), 30))
	}
	if bin := newestPostgres(); bin != "" {
		return bin, nil
	}
	return "", fmt.Errorf("testenv: no %s/*/bin/postgres after installing postgresql", postgresLibDir)
}

// newestPostgres returns the bin directory of the highest major version
// under postgresLibDir holding initdb and postgres, or "".
func newestPostgres() string {
	entries, err := os.ReadDir(postgresLibDir)
	if err != nil {
		return ""
	}
	var versions []int
	for _, e := range entries {
		v, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		bin := filepath.Join(postgresLibDir, e.Name(), "bin")
		if isFile(filepath.Join(bin, "initdb")) && isFile(filepath.Join(bin, "postgres")) {
			versions = append(versions, v)
		}
	}
	if len(versions) == 0 {
		return ""
	}
	return filepath.Join(postgresLibDir, strconv.Itoa(slices.Max(versions)), "bin")
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// serverCredential returns the identity the server runs as: nil (the
// current one) unless running as root, then the postgres user, else nobody.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("testenv: running as root and found neither a postgres nor a nobody user to run PostgreSQL as")
}
