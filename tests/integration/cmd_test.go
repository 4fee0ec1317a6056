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
	"github.com/rancher/telemetry-manager/tests/testenv"
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

func TestSIGTERMExitsCleanly(t *testing.T) {
	o := options(t)
	cmd := exec.Command(binary(t), "run", "--kubeconfig", env.KubeconfigPath, "--mode", "rancher",
		"--secret-namespace", o.SecretNamespace, "--interval", "1s", "--debounce", "100ms", "--log-level", "debug", "--metrics-address", "127.0.0.1:0")
	var logs testenv.SyncBuffer
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
	content := "apiVersion: management.cattle.io/v3\nkind: Node\nmetadata:\n  name: broken\n  namespace: c-1\n  labels: [1]\n"
	if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary(t), "payload", "--from-file", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("payload accepted a node whose metadata cannot be read:\n%s", out)
	}
	for _, want := range []string{bad, "Node c-1/broken"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error does not name %q:\n%s", want, out)
		}
	}
}

// TestPayloadWrongTypedFieldIsAnInvalidNode: a wrong JSON type in a field
// is a problem of that node, as on a live cluster: the payload is rendered,
// the node counts as invalid, and the warning names the object and field.
func TestPayloadWrongTypedFieldIsAnInvalidNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.yaml")
	content := `apiVersion: management.cattle.io/v3
kind: Setting
metadata: {name: install-uuid}
value: 8d8c5a8e-2a1f-4c7e-9b3d-6f0e1a2b3c4d
---
apiVersion: management.cattle.io/v3
kind: Cluster
metadata: {name: local}
---
apiVersion: management.cattle.io/v3
kind: Node
metadata: {name: broken, namespace: local}
spec: {worker: "yes please"}
status: {internalNodeStatus: {capacity: {cpu: "4", memory: 8Gi}}}
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "payload", "--from-file", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("payload: %v\n%s", err, stderr.String())
	}
	var r report.Report
	if err := jsonUnmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.Totals.InvalidNodes != 1 || r.Totals.Nodes != 0 {
		t.Errorf("totals = %+v, want the node invalid", r.Totals)
	}
	for _, want := range []string{"Node local/broken", "spec.worker", "a string, want a boolean"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("warning does not name %q:\n%s", want, stderr.String())
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
