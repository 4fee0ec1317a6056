// Package collector runs the real telemetry-collector binary against the
// real manager: the manager on a real API server loaded with the sample
// installation, the collector on a SQLite file or a real PostgreSQL, killed,
// restarted and stopped as an operator would.
package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/client-go/kubernetes"

	"github.com/rancher/telemetry-manager/pkg/collector/server"
	"github.com/rancher/telemetry-manager/tests/fixtures"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

var (
	// bin is the telemetry-collector binary built for the package.
	bin  string
	env  *testenv.Env
	kube kubernetes.Interface
	// pg is started by the first test that needs it.
	pg struct {
		once sync.Once
		srv  *testenv.Postgres
		err  error
	}
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	root, err := testenv.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "telemetry-collector-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin = filepath.Join(dir, "telemetry-collector")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/telemetry-collector")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building telemetry-collector: %v\n%s", err, out)
		return 1
	}
	env, _, err = fixtures.StartSample(ctx, testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	if kube, err = kubernetes.NewForConfig(env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if pg.srv != nil {
		if err := pg.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	return code
}

// postgres returns the package's PostgreSQL server, started on first use.
func postgres(t *testing.T) *testenv.Postgres {
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

// Credentials shared by the manager and the collectors of a test.
const (
	signingKey = "e2e-signing-key-0123456789abcdef"
	token      = "e2e-token-0123456789"
)

// collector is one telemetry-collector process and what it needs to be
// restarted the same way.
type collector struct {
	t        *testing.T
	addr     string
	database string
	args     []string
	cmd      *exec.Cmd // nil when no process runs
	logs     *testenv.SyncBuffer
	exited   chan error
}

// startCollector writes the keys and tokens files and starts the binary on
// a free loopback port with database.
func startCollector(t *testing.T, database string, extra ...string) *collector {
	t.Helper()
	dir := t.TempDir()
	keys, tokens := filepath.Join(dir, "keys"), filepath.Join(dir, "tokens")
	for path, v := range map[string]string{keys: signingKey, tokens: token} {
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := &collector{t: t, addr: freeAddr(t), database: database, logs: &testenv.SyncBuffer{}}
	c.args = append([]string{
		"--listen", c.addr, "--database", database,
		"--signing-keys-file", keys, "--tokens-file", tokens,
		// The manager sends every few seconds here, not once a day.
		"--rate", "100000", "--rate-burst", "1000",
		"--log-level", "debug",
	}, extra...)
	c.start()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("collector %s output:\n%s", c.addr, c.logs.String())
		}
	})
	return c
}

// start runs the process and waits until it is ready.
func (c *collector) start() {
	c.t.Helper()
	c.cmd = exec.Command(bin, c.args...)
	fmt.Fprintf(c.logs, "--- start %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, exited chan error) { exited <- cmd.Wait() }(c.cmd, c.exited)
	eventually(c.t, "the collector on "+c.addr+" to be ready", func() (bool, error) {
		select {
		case err := <-c.exited:
			c.cmd = nil
			c.t.Fatalf("the collector exited at start: %v\n%s", err, c.logs.String())
		default:
		}
		code, _, err := c.get("/readyz")
		return code == http.StatusOK, err
	})
}

// kill ends the process with SIGKILL, as a crash or an OOM kill would, and
// waits for it; it does nothing when the process has exited.
func (c *collector) kill() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
	c.cmd = nil
}

var poll = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func (c *collector) url(path string) string { return "http://" + c.addr + path }

func (c *collector) get(path string) (int, []byte, error) {
	resp, err := poll.Get(c.url(path))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, b, err
}

// getJSON decodes the 200 answer of path into v.
func (c *collector) getJSON(path string, v any) error {
	code, b, err := c.get(path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, code, b)
	}
	return json.Unmarshal(b, v)
}

func (c *collector) installs(t *testing.T) []server.Install {
	t.Helper()
	var out []server.Install
	if err := c.getJSON("/api/v1/installs", &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// eventually polls cond every 100ms until it holds; the bound only stops a
// broken test from hanging.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last: %v)", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testLog returns a logger writing to t.
func testLog(t *testing.T) *logrus.Entry {
	l := logrus.New()
	l.SetLevel(logrus.DebugLevel)
	l.SetOutput(testWriter{t})
	return logrus.NewEntry(l)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
