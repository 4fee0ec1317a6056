package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/telemetry-manager once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "telemetry-manager-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "telemetry-manager")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/telemetry-manager")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building telemetry-manager: %v", buildErr)
	}
	return binPath
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSIGTERMExitsCleanly(t *testing.T) {
	o := options(t)
	cmd := exec.Command(binary(t), "run", "--kubeconfig", env.KubeconfigPath, "--mode", "rancher",
		"--secret-namespace", o.SecretNamespace, "--interval", "1s", "--debounce", "100ms", "--log-level", "debug", "--http-address", "127.0.0.1:0")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	waitPayload(t, o, "the payload", func(r report.Report) bool { return r.Totals == sampleTotals })
	// With a one-second interval the exporter keeps running, so the signal
	// lands while the manager is busy, not in an idle process.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no exit within 60s of SIGTERM\n%s", logs.String())
	}
	for _, want := range []string{"shutting down", "stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestPayloadFromFileMatchesLivePayload(t *testing.T) {
	out, err := exec.Command(binary(t), "payload", "--from-file", samplePath()).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Validate(out); err != nil {
		t.Fatalf("payload --from-file does not match the schema: %v", err)
	}
	var r report.Report
	if err := jsonUnmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.Totals != sampleTotals {
		t.Fatalf("totals from file = %+v, want %+v", r.Totals, sampleTotals)
	}

	live, err := exec.Command(binary(t), "payload", "--kubeconfig", env.KubeconfigPath, "--format", "scc").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(live, []byte(`"product": "rancher-prime"`)) || !bytes.Contains(live, []byte(`"version": "2.12.1"`)) {
		t.Fatalf("live scc payload:\n%s", live)
	}
}

func TestPayloadBadFileNamesFileAndObject(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	content := "apiVersion: management.cattle.io/v3\nkind: Node\nmetadata:\n  name: broken\n  namespace: c-1\nspec:\n  worker: \"yes please\"\n"
	if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary(t), "payload", "--from-file", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("payload accepted a node whose spec.worker is a string:\n%s", out)
	}
	for _, want := range []string{bad, "Node c-1/broken"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error does not name %q:\n%s", want, out)
		}
	}
}

func TestRunRejectsEveryBadFlagAtOnce(t *testing.T) {
	cmd := exec.Command(binary(t), "run", "--mode", "x", "--interval", "0s", "--exporters", "nope", "--log-format", "xml")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit = %v, want status 2\n%s", err, out)
	}
	for _, want := range []string{"--mode", "--interval", "--exporters", "--log-format"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not report %s:\n%s", want, out)
		}
	}
}
