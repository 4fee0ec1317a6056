// Package collectorfaults puts the collector, its databases and the http
// exporter through faults: the collector down for ten minutes, a collector
// slower than the exporter's timeout, PostgreSQL restarted under load and
// SQLite on a full disk. The parts are the real ones (the collector's
// server and stores, the http exporter, the manager, SQLite and a real
// PostgreSQL server); only the clock is fake where minutes must pass.
package collectorfaults

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"

	"github.com/rancher/telemetry-manager/pkg/collector/server"
	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Credentials shared by the senders and the collectors of a test.
const signingKey = "fault-tests-signing-key-0123456789"

// clusterIDKey keys the report's cluster pseudonyms.
var clusterIDKey = []byte("fault-tests-cluster-id-key")

// installUUID returns the install UUID of report i: each report of the
// load tests comes from an install of its own, so none is a duplicate of
// another and none is rate limited.
func installUUID(i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(i), uint64(i)*0x9e3779b9&0xffffffffffff)
}

// installation returns an installation of uuid whose local cluster has
// nodes nodes.
func installation(uuid string, nodes int) *snapshot.Snapshot {
	ns := make([]snapshot.Node, nodes)
	for i := range ns {
		ns[i] = snapshot.Node{Arch: "amd64", OS: "linux", ContainerRuntimeVersion: "containerd://2.0.5", KubeletVersion: "v1.32.4",
			CPUMillis: 4000, MemoryBytes: 8 << 30, Worker: true}
	}
	c := snapshot.Cluster{Name: snapshot.UpstreamClusterName, Upstream: true, KubernetesVersion: "v1.32.4", Driver: "imported",
		CapacitySource: snapshot.FromNodes, Shapes: snapshot.ShapesOf(ns)}
	for _, n := range ns {
		c.CPUMillis += n.CPUMillis
		c.CPUCores += snapshot.CoresOf(n.CPUMillis)
		c.MemoryBytes += n.MemoryBytes
	}
	return &snapshot.Snapshot{
		Install: snapshot.Install{
			InstallUUID: uuid, ClusterUUID: "8d7f2b6a-3c51-4e0b-b8d2-5e4a9c1f7d20",
			Version: "v2.12.1", GitCommit: "4f3c2a1", ServerURL: "https://rancher.example.com", Mode: snapshot.ModeRancher,
			KubernetesVersion: "v1.32.4",
		},
		Clusters: []snapshot.Cluster{c},
	}
}

// body is one report as the http exporter sends it: gzip-compressed, with
// the Idempotency-Key of the uncompressed payload.
type body struct {
	gz  []byte
	key string
}

// newBody encodes the report of install uuid.
func newBody(t testing.TB, uuid string) body {
	t.Helper()
	payload, err := report.New(clusterIDKey).Encode(installation(uuid, 3), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return body{gz: buf.Bytes(), key: protocol.IdempotencyKey(payload)}
}

// post sends b to url signed at now, and returns the status and the body
// of the answer.
func post(client *http.Client, url string, b body, now time.Time) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b.gz))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", protocol.ContentType)
	req.Header.Set("Content-Encoding", protocol.EncodingGzip)
	req.Header.Set(protocol.HeaderIdempotencyKey, b.key)
	req.Header.Set(protocol.HeaderSignature, protocol.Sign(now, b.gz, []byte(signingKey)))
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(msg), err
}

// endpoint serves a handler on one loopback port that it can stop
// listening on (connections are then refused) and listen on again.
type endpoint struct {
	t       *testing.T
	addr    string
	handler http.Handler

	mu  sync.Mutex
	srv *http.Server
}

// newEndpoint returns an endpoint on a free port, not listening yet.
func newEndpoint(t *testing.T, h http.Handler) *endpoint {
	t.Helper()
	e := &endpoint{t: t, addr: freeAddr(t), handler: h}
	t.Cleanup(e.down)
	return e
}

func (e *endpoint) url(path string) string { return "http://" + e.addr + path }

// up listens on the endpoint's port and serves.
func (e *endpoint) up() {
	e.t.Helper()
	var ln net.Listener
	var err error
	// The port was free a moment ago; a socket of the last down may still
	// be closing.
	eventually(e.t, "listening on "+e.addr, func() (bool, error) {
		ln, err = net.Listen("tcp", e.addr)
		return err == nil, err
	})
	srv := &http.Server{Handler: e.handler, ReadHeaderTimeout: 10 * time.Second}
	e.mu.Lock()
	e.srv = srv
	e.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection: from then on a
// connection to the port is refused.
func (e *endpoint) down() {
	e.mu.Lock()
	srv := e.srv
	e.srv = nil
	e.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
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

// refused reports whether a connection to addr is refused.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

// eventually polls cond every 20ms until it holds; the bound only stops a
// broken test from hanging.
func eventually(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last: %v)", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keysFile writes the signing key into a file for server.Run.
func keysFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(signingKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCollector runs the collector as telemetry-collector does (server.Run,
// the store with its default options) on a free port with database, and
// returns its address and its log. The test's end stops it.
func runCollector(t *testing.T, database string) (string, *syncBuffer) {
	t.Helper()
	o := server.NewOptions()
	o.Listen = freeAddr(t)
	o.Database = database
	o.SigningKeysFile = keysFile(t)
	o.Rate, o.Burst = 1e6, 100000
	o.ShutdownTimeout = 10 * time.Second
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	l := logrus.New()
	l.SetLevel(logrus.DebugLevel)
	l.SetOutput(logs)
	log := logrus.NewEntry(l)
	open := func(ctx context.Context, spec string) (store.Store, error) {
		return store.Open(ctx, spec, store.NewOptions(), log.WithField("component", "store"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, o, open, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
		if t.Failed() {
			t.Logf("collector log:\n%s", lastLines(logs.String(), 60))
		}
	})
	client := &http.Client{Timeout: 5 * time.Second}
	eventually(t, "the collector to be ready", func() (bool, error) {
		select {
		case err := <-done:
			t.Fatalf("the collector stopped at start: %v\n%s", err, logs.String())
		default:
		}
		code, err := get(client, "http://"+o.Listen+"/readyz")
		return code == http.StatusOK, err
	})
	return o.Listen, logs
}

func get(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// staticSecret is the http exporter's credentials Secret.
type staticSecret struct{ s *corev1.Secret }

func (c staticSecret) Get() (*corev1.Secret, error) { return c.s, nil }

func credentials() staticSecret {
	return staticSecret{&corev1.Secret{Data: map[string][]byte{"signingKey": []byte(signingKey)}}}
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

// syncBuffer is a buffer that a server's log and a test's reads may use
// at once.
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

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
