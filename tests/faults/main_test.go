// Package faults breaks things on purpose while the telemetry-manager
// binary runs against a real kube-apiserver and etcd (tests/testenv): the
// API server stopped and etcd restarted, the Secret deleted and edited in a
// loop, SIGTERM and SIGKILL during a write, and the Lease stolen while a
// write is in flight. A TLS proxy between the manager and the API server
// (proxy_test.go) holds Secret writes, so that "during a write" is real.
//
// The tests share one API server and run one after the other; each uses a
// namespace of its own.
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/rancher/telemetry-manager/pkg/cli"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/tests/fixtures"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// binEnv names a telemetry-manager binary to test instead of building one,
// for example one built from another commit.
const binEnv = "TELEMETRY_MANAGER_BIN"

var (
	env    *testenv.Env
	kube   kubernetes.Interface
	client *fixtures.Client
	bin    string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := testenv.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "telemetry-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if bin = os.Getenv(binEnv); bin == "" {
		bin = filepath.Join(tmp, "telemetry-manager")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/telemetry-manager")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building telemetry-manager: %v\n%s", err, out)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	env, client, err = fixtures.StartSample(ctx, testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	if kube, err = kubernetes.NewForConfig(env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// namespace returns a telemetry namespace of the test's own.
func namespace(t *testing.T) string {
	t.Helper()
	return "tf-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
}

// manager is a telemetry-manager run process.
type manager struct {
	t      *testing.T
	ns     string
	cmd    *exec.Cmd
	logs   *testenv.SyncBuffer
	exited chan struct{}
	err    error // Wait's result, valid once exited is closed
	addr   string
}

var addrRE = regexp.MustCompile(`serving /metrics, /healthz and /readyz.*address="?(127\.0\.0\.1:\d+)`)

// startManager runs telemetry-manager run against kubeconfig with the
// telemetry namespace ns, a one-hour interval (only changes export) and
// extra flags, and waits until it serves /metrics. It is killed at the end
// of the test if still running.
func startManager(t *testing.T, kubeconfig, ns string, extra ...string) *manager {
	t.Helper()
	args := append([]string{"run", "--kubeconfig", kubeconfig, "--mode", "rancher",
		"--secret-namespace", ns, "--interval", "1h", "--debounce", "200ms",
		"--metrics-address", "127.0.0.1:0"}, extra...)
	m := &manager{t: t, ns: ns, cmd: exec.Command(bin, args...), logs: &testenv.SyncBuffer{}, exited: make(chan struct{})}
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		m.err = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() {
		if !m.hasExited() {
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
		if t.Failed() {
			t.Logf("manager log (%s):\n%s", ns, m.logs.String())
		}
	})
	eventually(t, 60*time.Second, "the manager to serve /metrics", func() (bool, error) {
		if m.hasExited() {
			t.Fatalf("the manager exited at start: %v\n%s", m.err, m.logs.String())
		}
		if sub := addrRE.FindStringSubmatch(m.logs.String()); sub != nil {
			m.addr = sub[1]
			return true, nil
		}
		return false, nil
	})
	return m
}

func (m *manager) hasExited() bool {
	select {
	case <-m.exited:
		return true
	default:
		return false
	}
}

// signal sends sig and waits for the exit, returning the exit code.
func (m *manager) signal(sig syscall.Signal) int {
	m.t.Helper()
	if err := m.cmd.Process.Signal(sig); err != nil {
		m.t.Fatal(err)
	}
	return m.waitExit(60 * time.Second)
}

// waitExit waits for the process to exit and returns its exit code (-1
// when a signal ended it).
func (m *manager) waitExit(bound time.Duration) int {
	m.t.Helper()
	select {
	case <-m.exited:
	case <-time.After(bound):
		m.t.Fatalf("the manager did not exit within %v", bound)
	}
	var exit *exec.ExitError
	switch {
	case m.err == nil:
		return 0
	case errors.As(m.err, &exit):
		return exit.ExitCode()
	}
	m.t.Fatalf("waiting for the manager: %v", m.err)
	return 0
}

// lines returns the number of log lines so far.
func (m *manager) lines() int { return strings.Count(m.logs.String(), "\n") }

// count returns how many log lines contain s.
func (m *manager) count(s string) int {
	n := 0
	for _, l := range strings.Split(m.logs.String(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// get answers a GET of path on the manager's metrics and health server.
func (m *manager) get(path string) (int, string, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + m.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitReadyz waits until /readyz answers code with a body containing want.
func (m *manager) waitReadyz(bound time.Duration, code int, want string) {
	m.t.Helper()
	eventually(m.t, bound, fmt.Sprintf("/readyz %d %q", code, want), func() (bool, error) {
		got, body, err := m.get("/readyz")
		return got == code && strings.Contains(body, want), fmt.Errorf("%d %q %v", got, body, err)
	})
}

// metric returns the value of a series of /metrics, e.g.
// `telemetry_manager_secret_writes_total{exporter="secret"}`; 0 when absent.
func (m *manager) metric(series string) float64 {
	m.t.Helper()
	code, body, err := m.get("/metrics")
	if err != nil || code != http.StatusOK {
		m.t.Fatalf("/metrics: %d %v", code, err)
	}
	for _, l := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				m.t.Fatalf("/metrics line %q: %v", l, err)
			}
			return v
		}
	}
	return 0
}

const writesSeries = `telemetry_manager_secret_writes_total{exporter="secret"}`

// eventually polls cond every 100ms until it holds or bound passes.
func eventually(t *testing.T, bound time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last: %v)", bound, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getSecret(ns string) (*corev1.Secret, error) {
	return kube.CoreV1().Secrets(ns).Get(context.Background(), secret.DefaultName, metav1.GetOptions{})
}

// audit verifies the telemetry Secret of ns as `telemetry-manager audit`
// does (digest, schema, signature) and returns its report.
func audit(t *testing.T, ns string) report.Report {
	t.Helper()
	o := cli.NewAuditOptions()
	o.SecretNamespace = ns
	var out bytes.Buffer
	if err := cli.Audit(context.Background(), kube.CoreV1(), o, &out); err != nil {
		t.Fatalf("audit of %s: %v\n%s", ns, err, out.String())
	}
	s, err := getSecret(ns)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, s)
}

func decode(t *testing.T, s *corev1.Secret) report.Report {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal(s.Data[secret.DefaultKey], &r); err != nil {
		t.Fatalf("payload of %s/%s: %v", s.Namespace, s.Name, err)
	}
	return r
}

// waitNodes waits up to bound until the Secret of ns reports nodes nodes,
// and returns how long that took.
func waitNodes(t *testing.T, ns string, nodes int64, bound time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	eventually(t, bound, fmt.Sprintf("a payload with %d nodes", nodes), func() (bool, error) {
		s, err := getSecret(ns)
		if err != nil {
			return false, err
		}
		var r report.Report
		if err := json.Unmarshal(s.Data[secret.DefaultKey], &r); err != nil {
			return false, err
		}
		return r.Totals.Nodes == nodes, fmt.Errorf("%d nodes", r.Totals.Nodes)
	})
	return time.Since(began)
}

var nodeSeq struct {
	sync.Mutex
	n int
}

// addNode creates a valid v3 Node of the local cluster: one more node in
// every payload from then on.
func addNode(t *testing.T) string {
	t.Helper()
	nodeSeq.Lock()
	nodeSeq.n++
	name := fmt.Sprintf("fault-%d-%d", time.Now().Unix(), nodeSeq.n)
	nodeSeq.Unlock()
	n := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "management.cattle.io/v3",
		"kind":       "Node",
		"metadata":   map[string]any{"name": name, "namespace": "local"},
		"spec":       map[string]any{"worker": true},
		"status": map[string]any{"internalNodeStatus": map[string]any{
			"capacity": map[string]any{"cpu": "2", "memory": "4Gi"},
			"nodeInfo": map[string]any{"architecture": "amd64", "operatingSystem": "linux",
				"containerRuntimeVersion": "containerd://1.7.27", "kubeletVersion": "v1.32.4+rke2r1"},
		}},
	}}
	if err := client.Apply(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	return name
}

// initialPayload waits for the manager's first payload, checks it, and
// returns its node count.
func initialPayload(t *testing.T, ns string) int64 {
	t.Helper()
	eventually(t, 60*time.Second, "the first payload", func() (bool, error) {
		_, err := getSecret(ns)
		return err == nil, err
	})
	return audit(t, ns).Totals.Nodes
}

// writeKubeconfig writes a kubeconfig for the admin identity that talks to
// server (the proxy), trusting the PEM certificate ca.
func writeKubeconfig(t *testing.T, server string, ca []byte) string {
	t.Helper()
	kc := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []map[string]any{{"name": "proxy", "cluster": map[string]any{"server": server, "certificate-authority-data": ca}}},
		"users":           []map[string]any{{"name": "admin", "user": map[string]any{"token": env.Config.BearerToken}}},
		"contexts":        []map[string]any{{"name": "proxy", "context": map[string]any{"cluster": "proxy", "user": "admin"}}},
		"current-context": "proxy",
	}
	b, err := json.Marshal(kc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
