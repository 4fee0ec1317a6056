// Package testenv runs a real Kubernetes API server (kube-apiserver backed by
// etcd, both run directly as local processes) for tests and the demo.
//
// The binaries come from scripts/build-testbin. The server authenticates with
// a static token file and authorizes with RBAC; the admin identity is in
// system:masters. Nothing runs besides the API server: no controller manager,
// no scheduler, no kubelet, so namespaces are never finalized and pods never
// run.
//
// This package is for tests and the demo program only; cmd/ and pkg/ must not
// import it.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// KubeVersion and EtcdVersion are the versions of the binaries used, as
	// built by scripts/build-testbin.
	KubeVersion = "v1.36.3"
	EtcdVersion = "v3.6.16"

	// AdminUser is the identity of Env.Config; it is in system:masters.
	AdminUser = "admin"

	// BinDirEnv names the environment variable that overrides the directory
	// of the binaries.
	BinDirEnv = "TELEMETRY_TESTBIN_DIR"

	// stopTimeout bounds how long Stop waits for each process after SIGTERM
	// before it sends SIGKILL.
	stopTimeout = 20 * time.Second
	// readyTimeout bounds how long Start waits for the API server to be ready
	// when the context has no earlier deadline.
	readyTimeout = 60 * time.Second
	// startAttempts is how many times a process is started on fresh ports when
	// the previous attempt lost a port to another process.
	startAttempts = 3
)

// Options configures Start.
type Options struct {
	// BinDir holds kube-apiserver-<KubeVersion>-v and etcd-<EtcdVersion>.
	// Default: $TELEMETRY_TESTBIN_DIR, else the directory printed by
	// scripts/build-testbin (run from the module root, found by walking up
	// from the working directory to go.mod), which builds missing binaries.
	BinDir string
	// CRDs are paths of CRD manifest files (YAML or JSON, several documents
	// allowed) installed once the server is ready; Start returns after they
	// are Established and served by discovery.
	CRDs []string
	// Users are extra identities registered in the token file, each with its
	// own token and no group besides system:authenticated. ConfigFor(name)
	// authenticates as them with their token.
	Users []string
	// Logf, when set, receives progress and diagnostics.
	Logf func(format string, args ...any)
	// KeepDir keeps Env.Dir (logs, etcd data, certificates) after Stop.
	KeepDir bool
}

// Env is a running API server with its etcd.
type Env struct {
	// Config is the admin configuration: bearer token of AdminUser (group
	// system:masters) and TLS verified with the server's self-signed CA.
	Config *rest.Config
	// KubeconfigPath is a kubeconfig file for the admin identity.
	KubeconfigPath string
	// Dir is the temporary directory holding data, certificates and logs
	// (etcd.log, kube-apiserver.log).
	Dir string

	logf    func(format string, args ...any)
	keepDir bool
	tokens  map[string]string // user -> token

	etcd      *proc
	apiserver *proc
	etcdURL   string

	stopOnce sync.Once
	stopErr  error
}

// proc is a started process whose exit is collected by a goroutine.
type proc struct {
	name     string
	cmd      *exec.Cmd
	logPath  string
	logStart int64 // size of the log file when this run started
	logFile  *os.File
	done     chan struct{} // closed once the process has exited and been reaped
	err      error         // exit error, valid after done is closed
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts etcd and kube-apiserver on free loopback ports, waits until the
// API server is ready, and installs opts.CRDs. ctx bounds the startup only;
// the processes run until Stop. On error everything started is stopped and
// the error carries the tail of the logs.
func Start(ctx context.Context, opts Options) (_ *Env, retErr error) {
	began := time.Now()
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	binDir, err := resolveBinDir(ctx, opts.BinDir, logf)
	if err != nil {
		return nil, err
	}
	etcdBin := filepath.Join(binDir, "etcd-"+EtcdVersion)
	apiserverBin := filepath.Join(binDir, "kube-apiserver-"+KubeVersion+"-v")
	for _, b := range []string{etcdBin, apiserverBin} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("testenv: binary missing (run scripts/build-testbin): %w", err)
		}
	}

	dir, err := os.MkdirTemp("", "telemetry-testenv-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	e := &Env{Dir: dir, logf: logf, keepDir: opts.KeepDir, tokens: map[string]string{}}
	defer func() {
		if retErr != nil {
			if err := e.Stop(); err != nil {
				logf("testenv: stop after failed start: %v", err)
			}
		}
	}()

	if err := e.writeCredentials(opts.Users); err != nil {
		return nil, err
	}
	if err := e.startEtcd(ctx, etcdBin); err != nil {
		return nil, err
	}
	logf("testenv: etcd ready after %v", time.Since(began).Round(time.Millisecond))
	if err := e.startAPIServer(ctx, apiserverBin); err != nil {
		return nil, err
	}
	logf("testenv: kube-apiserver ready at %s after %v", e.Config.Host, time.Since(began).Round(time.Millisecond))
	if err := e.writeKubeconfig(); err != nil {
		return nil, err
	}
	if len(opts.CRDs) > 0 {
		if err := e.InstallCRDs(ctx, opts.CRDs...); err != nil {
			return nil, err
		}
		logf("testenv: %d CRD file(s) installed after %v", len(opts.CRDs), time.Since(began).Round(time.Millisecond))
	}
	return e, nil
}

// StartT starts an Env for a test, fails the test (t.Fatal) when it cannot,
// and stops it in t.Cleanup. Progress goes to t.Logf unless opts.Logf is set.
func StartT(t testing.TB, opts Options) *Env {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	// Building the binaries (first use only) may take minutes; the timeout
	// covers the start itself.
	binDir, err := resolveBinDir(t.Context(), opts.BinDir, opts.Logf)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	opts.BinDir = binDir
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	e, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return e
}

// ConfigFor returns a configuration authenticating as user. A user registered
// in Options.Users (or AdminUser) asked for without groups gets its own token.
// Any other user, or any user with groups, is impersonated by the admin: the
// server then authorizes every request as that user with those groups (plus
// system:authenticated), which is what RBAC tests need.
func (e *Env) ConfigFor(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(e.Config)
	if tok, ok := e.tokens[user]; ok && len(groups) == 0 {
		cfg.BearerToken = tok
		return cfg
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append([]string(nil), groups...)}
	return cfg
}

// Stop stops kube-apiserver, then etcd: SIGTERM to each process group, then
// SIGKILL when it has not exited after 20 s (2 s for kube-apiserver when etcd
// already exited, as its graceful shutdown then hangs). It removes Dir unless KeepDir is
// set. It is idempotent and safe when a process already exited.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		began := time.Now()
		var errs []error
		if e.apiserver != nil {
			timeout := stopTimeout
			if e.etcd != nil && e.etcd.exited() {
				// Without etcd the graceful shutdown of the API server
				// hangs; nothing is lost by cutting it short.
				timeout = 2 * time.Second
			}
			if err := e.apiserver.stop(e.logf, timeout); err != nil {
				errs = append(errs, err)
			}
		}
		if e.etcd != nil {
			if err := e.etcd.stop(e.logf, stopTimeout); err != nil {
				errs = append(errs, err)
			}
		}
		if e.keepDir {
			e.logf("testenv: keeping %s", e.Dir)
		} else if e.Dir != "" {
			if err := os.RemoveAll(e.Dir); err != nil {
				errs = append(errs, fmt.Errorf("testenv: remove %s: %w", e.Dir, err))
			}
		}
		e.logf("testenv: stopped in %v", time.Since(began).Round(time.Millisecond))
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}

// PIDs returns the process ids of kube-apiserver and etcd (0 when not started).
func (e *Env) PIDs() (apiserver, etcd int) {
	if e.apiserver != nil {
		apiserver = e.apiserver.cmd.Process.Pid
	}
	if e.etcd != nil {
		etcd = e.etcd.cmd.Process.Pid
	}
	return apiserver, etcd
}

func (p *proc) stop(logf func(string, ...any), timeout time.Duration) error {
	defer p.logFile.Close()
	if p.exited() {
		return nil
	}
	pid := p.cmd.Process.Pid
	// The process leads its own group (Setpgid); signal the whole group.
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	logf("testenv: %s did not exit %v after SIGTERM; sending SIGKILL", p.name, timeout)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("testenv: %s (pid %d) did not exit after SIGKILL", p.name, pid)
	}
}

// writeCredentials writes the service-account key and the token file.
func (e *Env) writeCredentials(users []string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("testenv: service-account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("testenv: service-account key: %w", err)
	}
	if err := os.WriteFile(e.path("sa.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}

	// token,user,uid,"group1,group2"
	var b strings.Builder
	add := func(user, groups string) error {
		if user == "" || strings.ContainsAny(user, ",\"\n") {
			return fmt.Errorf("testenv: invalid user name %q", user)
		}
		if _, dup := e.tokens[user]; dup {
			return nil
		}
		tok := make([]byte, 24)
		if _, err := rand.Read(tok); err != nil {
			return fmt.Errorf("testenv: token: %w", err)
		}
		e.tokens[user] = hex.EncodeToString(tok)
		fmt.Fprintf(&b, "%s,%s,%s,%q\n", e.tokens[user], user, "uid-"+user, groups)
		return nil
	}
	if err := add(AdminUser, "system:masters"); err != nil {
		return err
	}
	for _, u := range users {
		if err := add(u, ""); err != nil {
			return err
		}
	}
	if err := os.WriteFile(e.path("tokens.csv"), []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	return nil
}

func (e *Env) startEtcd(ctx context.Context, bin string) error {
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := pickPorts(2)
		if err != nil {
			return err
		}
		client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		dataDir := e.path("etcd")
		_ = os.RemoveAll(dataDir)
		p, err := e.launch("etcd", bin,
			"--name=default",
			"--data-dir="+dataDir,
			"--listen-client-urls="+client,
			"--advertise-client-urls="+client,
			"--listen-peer-urls="+peer,
			"--initial-advertise-peer-urls="+peer,
			"--initial-cluster=default="+peer,
			"--unsafe-no-fsync",
			"--log-level=warn",
		)
		if err != nil {
			return err
		}
		e.etcd = p
		hc := &http.Client{Timeout: time.Second}
		lastErr = waitFor(ctx, 30*time.Second, p, func() (bool, error) {
			resp, err := hc.Get(client + "/health")
			if err != nil {
				return false, nil
			}
			body := new(bytes.Buffer)
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK && strings.Contains(body.String(), `"health":"true"`), nil
		})
		if lastErr == nil {
			e.etcdURL = client
			return nil
		}
		exited := p.exited()
		_ = p.stop(e.logf, stopTimeout)
		if !exited || !p.logContains("address already in use") {
			break
		}
		e.logf("testenv: etcd lost its port, retrying (attempt %d)", attempt)
	}
	return fmt.Errorf("testenv: etcd did not start: %w\n%s", lastErr, e.etcd.tail())
}

func (e *Env) startAPIServer(ctx context.Context, bin string) error {
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := pickPorts(1)
		if err != nil {
			return err
		}
		certDir := e.path("certs")
		_ = os.RemoveAll(certDir)
		if err := os.MkdirAll(certDir, 0o700); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
		p, err := e.launch("kube-apiserver", bin,
			"--etcd-servers="+e.etcdURL,
			"--cert-dir="+certDir,
			"--secure-port="+strconv.Itoa(ports[0]),
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			// The lease reconciler would write 127.0.0.1 into the endpoints
			// of the kubernetes service, which validation rejects.
			"--endpoint-reconciler-type=none",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file="+e.path("sa.key"),
			"--service-account-signing-key-file="+e.path("sa.key"),
			"--token-auth-file="+e.path("tokens.csv"),
			"--authorization-mode=RBAC",
			"--service-cluster-ip-range=10.0.0.0/24",
			"--allow-privileged=true",
		)
		if err != nil {
			return err
		}
		e.apiserver = p
		lastErr = e.waitAPIServer(ctx, p, "https://127.0.0.1:"+strconv.Itoa(ports[0]), certDir)
		if lastErr == nil {
			return nil
		}
		exited := p.exited()
		_ = p.stop(e.logf, stopTimeout)
		if !exited || !p.logContains("address already in use") {
			break
		}
		e.logf("testenv: kube-apiserver lost its port, retrying (attempt %d)", attempt)
	}
	return fmt.Errorf("testenv: kube-apiserver did not start: %w\n%s", lastErr, e.apiserver.tail())
}

// waitAPIServer waits for the self-signed certificate, then for /readyz, then
// for the kube-system and default namespaces. It sets e.Config.
func (e *Env) waitAPIServer(ctx context.Context, p *proc, host, certDir string) error {
	certFile := filepath.Join(certDir, "apiserver.crt")
	var caData []byte
	err := waitFor(ctx, readyTimeout, p, func() (bool, error) {
		b, err := os.ReadFile(certFile)
		if err != nil || !bytes.Contains(b, []byte("END CERTIFICATE")) {
			return false, nil
		}
		caData = b
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", certFile, err)
	}
	cfg := &rest.Config{
		Host:            host,
		BearerToken:     e.tokens[AdminUser],
		TLSClientConfig: rest.TLSClientConfig{CAData: caData},
		QPS:             100,
		Burst:           200,
		Timeout:         30 * time.Second,
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var last string
	err = waitFor(ctx, readyTimeout, p, func() (bool, error) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		if err != nil {
			last = strings.TrimSpace(string(body))
			if last == "" {
				last = err.Error()
			}
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for /readyz: %w (last answer: %s)", err, lastLines(last, 15))
	}
	for _, ns := range []string{"kube-system", "default"} {
		err = waitFor(ctx, readyTimeout, p, func() (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
		if err != nil {
			return fmt.Errorf("waiting for namespace %s: %w", ns, err)
		}
	}
	// The certificate file was complete enough to verify the server; read it
	// again now that it is surely fully written (serving certificate + CA).
	if b, err := os.ReadFile(certFile); err == nil && len(b) >= len(caData) {
		cfg.CAData = b
	}
	cfg.Timeout = 0
	e.Config = cfg
	return nil
}

// launch starts a process with its output in Dir/<name>.log. The process leads
// its own process group and gets SIGKILL when the OS thread that started it
// dies, which for Go means when the test binary dies (the runtime never ends a
// thread, unless a goroutine exits while locked to it with LockOSThread: do
// not call Start from such a goroutine).
func (e *Env) launch(name, bin string, args ...string) (*proc, error) {
	logPath := e.path(name + ".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	var start int64
	if fi, err := f.Stat(); err == nil {
		start = fi.Size()
	}
	fmt.Fprintf(f, "=== %s %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(append([]string{bin}, args...), " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.Dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("testenv: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, logStart: start, logFile: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.logf("testenv: started %s (pid %d)", name, cmd.Process.Pid)
	return p, nil
}

// waitFor polls cond every 100 ms until it returns true or an error, the
// process exits, timeout passes or ctx ends.
func waitFor(ctx context.Context, timeout time.Duration, p *proc, cond func() (bool, error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("timed out after %v", timeout)
		case <-p.done:
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		case <-tick.C:
		}
	}
}

// tail returns the last lines of the process log, for error messages.
func (p *proc) tail() string {
	if p == nil {
		return ""
	}
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no %s log: %v)", p.name, err)
	}
	return fmt.Sprintf("--- last lines of %s ---\n%s", p.logPath, lastLines(string(b), 30))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logContains reports whether the log written by this run of the process
// (not by earlier attempts) contains s.
func (p *proc) logContains(s string) bool {
	b, err := os.ReadFile(p.logPath)
	if err != nil || int64(len(b)) < p.logStart {
		return false
	}
	return bytes.Contains(b[p.logStart:], []byte(s))
}

// pickPorts is freePorts; tests replace it to force a port collision.
var pickPorts = freePorts

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testenv: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (e *Env) path(name string) string { return filepath.Join(e.Dir, name) }

// writeKubeconfig writes Dir/kubeconfig for the admin identity. JSON is valid
// kubeconfig syntax and needs no YAML encoder.
func (e *Env) writeKubeconfig() error {
	type named struct {
		Name    string         `json:"name"`
		Cluster map[string]any `json:"cluster,omitempty"`
		User    map[string]any `json:"user,omitempty"`
		Context map[string]any `json:"context,omitempty"`
	}
	kc := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []named{{Name: "testenv", Cluster: map[string]any{"server": e.Config.Host, "certificate-authority-data": e.Config.CAData}}},
		"users":           []named{{Name: AdminUser, User: map[string]any{"token": e.Config.BearerToken}}},
		"contexts":        []named{{Name: "testenv", Context: map[string]any{"cluster": "testenv", "user": AdminUser}}},
		"current-context": "testenv",
	}
	b, err := json.MarshalIndent(kc, "", "  ")
	if err != nil {
		return err
	}
	e.KubeconfigPath = e.path("kubeconfig")
	if err := os.WriteFile(e.KubeconfigPath, b, 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	return nil
}
