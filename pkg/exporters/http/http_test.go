package http

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/version"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	t0         = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	signingKey = []byte("0123456789abcdef0123456789abcdef")
	reportKey  = []byte("pseudonym-key-0123456789abcdef")
)

// snap returns a valid installation with nodes nodes in its local cluster.
func snap(nodes int) *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Install:  snapshot.Install{InstallUUID: "install-1", ClusterUUID: "cluster-1", Version: "v2.12.1", Mode: snapshot.ModeRancher},
		Clusters: []snapshot.Cluster{{Name: "local", Upstream: true, Shapes: []snapshot.Shape{{Count: nodes}}}},
	}
}

// payloadOf is what the exporter must send for s.
func payloadOf(t *testing.T, s *snapshot.Snapshot) []byte {
	t.Helper()
	p, err := report.New(reportKey).Encode(s, t0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// creds is a CredentialsCache the test changes at will.
type creds struct {
	mu  sync.Mutex
	sec *corev1.Secret
	err error
}

func newCreds(token string, key []byte) *creds {
	c := &creds{}
	c.set(token, key)
	return c
}

func (c *creds) set(token string, key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data := map[string][]byte{KeySigningKey: key}
	if token != "" {
		data[KeyToken] = []byte(token)
	}
	c.sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cattle-telemetry-system", Name: "http-credentials"}, Data: data}
	c.err = nil
}

func (c *creds) setSecret(sec *corev1.Secret, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sec, c.err = sec, err
}

func (c *creds) Get() (*corev1.Secret, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sec, c.err
}

// received is one request a collector stub saw, body as sent.
type received struct {
	header http.Header
	body   []byte
	url    *url.URL
}

// collector is an httptest server that records every request and answers
// with its reply function (202 when nil).
type collector struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []received
	reply func(n int, w http.ResponseWriter, r *http.Request)
}

func newCollector(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request)) *collector {
	t.Helper()
	c := &collector{reply: reply}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.reqs = append(c.reqs, received{header: r.Header.Clone(), body: body, url: r.URL})
	n := len(c.reqs)
	c.mu.Unlock()
	if c.reply == nil {
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id":"r1","duplicate":false}`)
		return
	}
	c.reply(n, w, r)
}

func (c *collector) requests() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.reqs...)
}

// status answers with code, headers and body.
func status(code int, body string, header ...string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

type fixture struct {
	clock *clocktesting.FakeClock
	creds *creds
	opts  Options
	exp   *Exporter
}

// newFixture returns an exporter sending to url with gzip on, a token and
// the signing key, on a fake clock.
func newFixture(t *testing.T, target string, mutate func(*Options)) *fixture {
	t.Helper()
	f := &fixture{clock: clocktesting.NewFakeClock(t0), creds: newCreds("tok-1", signingKey)}
	logger, _ := logtest.NewNullLogger()
	f.opts = Options{
		URL: target, Gzip: true, Timeout: 10 * time.Second,
		SecretNamespace: "cattle-telemetry-system", SecretName: "http-credentials", Credentials: f.creds,
		Encoder: report.New(reportKey), Clock: f.clock, Log: logrus.NewEntry(logger),
		Proxy: func(*http.Request) (*url.URL, error) { return nil, nil },
	}
	if mutate != nil {
		mutate(&f.opts)
	}
	exp, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(exp.Close)
	f.exp = exp
	return f
}

// kind returns the retry kind the manager reads from err, and its delay.
func kind(err error) (manager.RetryKind, time.Duration) {
	if err == nil {
		return manager.KindNone, 0
	}
	var r *manager.RetryError
	if errors.As(err, &r) {
		return r.Kind, r.After
	}
	return manager.KindBackoff, 0
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("body is not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSendsTheReportSignedAndCompressed(t *testing.T) {
	c := newCollector(t, nil)
	f := newFixture(t, c.URL+protocol.DefaultPath, nil)
	s := snap(3)
	if err := f.exp.Export(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	reqs := c.requests()
	if len(reqs) != 1 {
		t.Fatalf("collector saw %d requests, want 1", len(reqs))
	}
	r, payload := reqs[0], payloadOf(t, s)
	for name, want := range map[string]string{
		"Content-Type":                "application/json",
		"Content-Encoding":            "gzip",
		"User-Agent":                  "telemetry-manager/" + version.Version,
		"Authorization":               "Bearer tok-1",
		protocol.HeaderIdempotencyKey: protocol.IdempotencyKey(payload),
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if r.url.Path != protocol.DefaultPath {
		t.Errorf("path = %q, want %q", r.url.Path, protocol.DefaultPath)
	}
	// The signature is over the compressed bytes, as received.
	if err := protocol.Verify(r.header.Get(protocol.HeaderSignature), r.body, t0, [][]byte{signingKey}); err != nil {
		t.Errorf("signature does not verify over the body as sent: %v", err)
	}
	if got := gunzip(t, r.body); !bytes.Equal(got, payload) {
		t.Errorf("decompressed body differs from the payload:\n%s\nwant\n%s", got, payload)
	}
	if err := encoding.Validate(report.FormatName, gunzip(t, r.body)); err != nil {
		t.Errorf("sent payload fails its schema: %v", err)
	}
}

func TestWithoutGzipOrTokenSendsThePlainPayload(t *testing.T) {
	c := newCollector(t, nil)
	f := newFixture(t, c.URL, func(o *Options) { o.Gzip = false })
	f.creds.set("", signingKey)
	s := snap(2)
	if err := f.exp.Export(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	r := c.requests()[0]
	if !bytes.Equal(r.body, payloadOf(t, s)) {
		t.Errorf("body = %s, want the payload", r.body)
	}
	if h := r.header.Get("Content-Encoding"); h != "" {
		t.Errorf("Content-Encoding = %q, want none", h)
	}
	if h := r.header.Get("Authorization"); h != "" {
		t.Errorf("Authorization = %q without a token, want none", h)
	}
	if err := protocol.Verify(r.header.Get(protocol.HeaderSignature), r.body, t0, [][]byte{signingKey}); err != nil {
		t.Errorf("signature: %v", err)
	}
}

func TestSeveralSigningKeysEachSign(t *testing.T) {
	c := newCollector(t, nil)
	f := newFixture(t, c.URL, nil)
	oldKey, newKey := []byte("old-key-0123456789abcdef"), []byte("new-key-0123456789abcdef")
	f.creds.set("tok", []byte(string(newKey)+"\n"+string(oldKey)+"\n"))
	if err := f.exp.Export(context.Background(), snap(1)); err != nil {
		t.Fatal(err)
	}
	r := c.requests()[0]
	for _, k := range [][]byte{oldKey, newKey} {
		if err := protocol.Verify(r.header.Get(protocol.HeaderSignature), r.body, t0, [][]byte{k}); err != nil {
			t.Errorf("a collector knowing only %q refuses: %v", k, err)
		}
	}
}

func TestAnswers(t *testing.T) {
	date := t0.Add(90 * time.Second).Format(http.TimeFormat)
	for _, tc := range []struct {
		name      string
		reply     func(int, http.ResponseWriter, *http.Request)
		kind      manager.RetryKind
		after     time.Duration
		errSubstr string
	}{
		{name: "202 stored is a delivery", reply: status(202, `{"id":"a","duplicate":false}`), kind: manager.KindNone},
		{name: "200 duplicate is a delivery", reply: status(200, `{"duplicate":true}`), kind: manager.KindNone},
		{name: "204 without body is a delivery", reply: status(204, ``), kind: manager.KindNone},
		{name: "429 with seconds waits that long", reply: status(429, `{"error":"rate"}`, "Retry-After", "120"), kind: manager.KindRetryAfter, after: 2 * time.Minute, errSubstr: "429"},
		{name: "429 with a date waits until then", reply: status(429, ``, "Retry-After", date), kind: manager.KindRetryAfter, after: 90 * time.Second},
		{name: "429 without Retry-After backs off", reply: status(429, ``), kind: manager.KindBackoff, errSubstr: "429"},
		{name: "429 with a garbled Retry-After backs off", reply: status(429, ``, "Retry-After", "soon"), kind: manager.KindBackoff},
		{name: "503 with Retry-After waits", reply: status(503, ``, "Retry-After", "7"), kind: manager.KindRetryAfter, after: 7 * time.Second, errSubstr: "503"},
		{name: "503 without Retry-After backs off", reply: status(503, ``), kind: manager.KindBackoff, errSubstr: "503"},
		{name: "500 backs off", reply: status(500, `{"error":"database down"}`), kind: manager.KindBackoff, errSubstr: "database down"},
		{name: "502 backs off", reply: status(502, `bad gateway`), kind: manager.KindBackoff, errSubstr: "502"},
		{name: "400 is permanent and names the field", reply: status(400, `{"error":"totals.nodes: must be an integer"}`), kind: manager.KindPermanent, errSubstr: "totals.nodes: must be an integer"},
		{name: "401 is permanent", reply: status(401, `{"error":"bad signature"}`), kind: manager.KindPermanent, errSubstr: "401"},
		{name: "404 is permanent", reply: status(404, `not found`), kind: manager.KindPermanent, errSubstr: "404"},
		{name: "413 is permanent", reply: status(413, `{"error":"too large"}`), kind: manager.KindPermanent, errSubstr: "too large"},
		{name: "redirect is not followed", reply: status(307, ``, "Location", "https://elsewhere.example/x?secret=1"), kind: manager.KindPermanent, errSubstr: "https://elsewhere.example/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, tc.reply)
			f := newFixture(t, c.URL, nil)
			err := f.exp.Export(context.Background(), snap(1))
			k, after := kind(err)
			if k != tc.kind || after != tc.after {
				t.Fatalf("Export() = %v: kind %q after %s, want %q after %s", err, k, after, tc.kind, tc.after)
			}
			if tc.errSubstr != "" && !strings.Contains(err.Error(), tc.errSubstr) {
				t.Errorf("error %q does not contain %q", err, tc.errSubstr)
			}
			if err != nil && strings.Contains(err.Error(), "secret=1") {
				t.Errorf("error %q carries a redirect's query", err)
			}
			var se *StatusError
			if err != nil && !errors.As(err, &se) {
				t.Errorf("error %v is not a *StatusError", err)
			}
			if n := len(c.requests()); n != 1 {
				t.Errorf("collector saw %d requests, want 1 (no retry inside Export, no redirect followed)", n)
			}
		})
	}
}

func TestHangingCollectorTimesOut(t *testing.T) {
	release := make(chan struct{})
	c := newCollector(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the client gave up
		case <-release:
		}
	})
	defer close(release) // before c.Close, which waits for the handler
	f := newFixture(t, c.URL, func(o *Options) { o.Timeout = 200 * time.Millisecond })
	err := f.exp.Export(context.Background(), snap(1))
	if k, _ := kind(err); err == nil || k != manager.KindBackoff {
		t.Fatalf("Export() = %v (kind %q), want a plain error", err, k)
	}
	if !strings.Contains(err.Error(), "Timeout") && !strings.Contains(err.Error(), "deadline") {
		t.Errorf("error %q does not say it timed out", err)
	}
}

func TestCancelledContextStopsTheRequest(t *testing.T) {
	release := make(chan struct{})
	c := newCollector(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	f := newFixture(t, c.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(c.requests()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if err := f.exp.Export(ctx, snap(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Export() = %v, want context.Canceled", err)
	}
}

// runManager runs the exporter in a manager on the fake clock, with
// interval, no jitter and 5s..5m backoff, until the test ends.
func runManager(t *testing.T, f *fixture, interval time.Duration) *manager.Manager {
	t.Helper()
	logger, _ := logtest.NewNullLogger()
	m := manager.New(manager.SourceFunc(func() (*snapshot.Snapshot, error) { return snap(4), nil }), manager.Options{
		Clock: f.clock, Log: logrus.NewEntry(logger), Rand: func() float64 { return 0 },
	})
	if err := m.Register("http", f.exp, interval); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

// parked waits until the manager finished run number runs and waits for
// the next.
func parked(t *testing.T, m *manager.Manager, runs int) manager.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := m.Status("http")
		if st.Runs == runs && !st.InFlight && !st.NextRun.IsZero() {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for run %d to end: %+v", runs, st)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServerErrorThenSuccessDeliversOnce(t *testing.T) {
	c := newCollector(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			status(500, `{"error":"try again"}`)(n, w, r)
			return
		}
		status(202, `{"id":"x","duplicate":false}`)(n, w, r)
	})
	f := newFixture(t, c.URL, nil)
	m := runManager(t, f, time.Hour)
	st := parked(t, m, 1)
	if st.RetryKind != manager.KindBackoff || st.RetryDelay != manager.DefaultBackoffBase {
		t.Fatalf("after the 500: kind %q delay %s, want backoff %s", st.RetryKind, st.RetryDelay, manager.DefaultBackoffBase)
	}
	f.clock.Step(manager.DefaultBackoffBase)
	st = parked(t, m, 2)
	if st.LastError != nil || st.ConsecutiveFailures != 0 {
		t.Fatalf("after the retry: %+v, want a success", st)
	}
	reqs := c.requests()
	if len(reqs) != 2 {
		t.Fatalf("collector saw %d requests, want 2", len(reqs))
	}
	k1, k2 := reqs[0].header.Get(protocol.HeaderIdempotencyKey), reqs[1].header.Get(protocol.HeaderIdempotencyKey)
	if k1 != k2 || !protocol.ValidIdempotencyKey(k1) {
		t.Fatalf("idempotency keys %q and %q, want the same valid key on the retry", k1, k2)
	}
}

func TestBadRequestIsNotRetriedBeforeTheInterval(t *testing.T) {
	c := newCollector(t, status(400, `{"error":"schemaVersion: unknown"}`))
	f := newFixture(t, c.URL, nil)
	m := runManager(t, f, time.Hour)
	st := parked(t, m, 1)
	if st.RetryKind != manager.KindPermanent {
		t.Fatalf("kind %q, want permanent", st.RetryKind)
	}
	// Every backoff step of a plain error passes: no request follows.
	for elapsed := time.Duration(0); elapsed < time.Hour-time.Minute; elapsed += 5 * time.Second {
		f.clock.Step(5 * time.Second)
	}
	if st := parked(t, m, 1); st.Runs != 1 {
		t.Fatalf("runs = %d before the interval, want 1", st.Runs)
	}
	if n := len(c.requests()); n != 1 {
		t.Fatalf("collector saw %d requests within the interval, want 1", n)
	}
	f.clock.Step(time.Minute)
	parked(t, m, 2)
	if n := len(c.requests()); n != 2 {
		t.Fatalf("collector saw %d requests after the interval, want 2", n)
	}
}

// writeCA writes the PEM of srv's certificate to a file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.crt")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCustomCA(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	ca := writeCA(t, srv)

	without := newFixture(t, srv.URL, nil)
	err := without.exp.Export(context.Background(), snap(1))
	if k, _ := kind(err); err == nil || k != manager.KindBackoff || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: Export() = %v (kind %q), want a certificate error", err, k)
	}
	with := newFixture(t, srv.URL, func(o *Options) { o.CAFile = ca })
	if err := with.exp.Export(context.Background(), snap(1)); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen != 1 {
		t.Fatalf("server handled %d requests, want 1 (the one with the CA)", seen)
	}
}

func TestBadCAFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"missing file": filepath.Join(dir, "none.crt"), "no PEM in file": notPEM} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Options{URL: "https://c.example", CAFile: path, Credentials: newCreds("", signingKey), SecretName: "s", Encoder: report.New(reportKey)})
			if !errors.Is(err, ErrCAFile) {
				t.Fatalf("New() = %v, want ErrCAFile", err)
			}
		})
	}
}

func TestProxyFromEnvironmentIsHonoured(t *testing.T) {
	// The proxy answers for the collector, whose name resolves nowhere: a
	// request that reaches it went through the proxy. Loopback addresses
	// never go through a proxy, so the collector is named, not numbered.
	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.Method+" "+r.URL.String())
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	f := newFixture(t, "http://collector.invalid/api/v1/reports", func(o *Options) { o.Proxy = nil })
	if err := f.exp.Export(context.Background(), snap(1)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(proxied) != 1 || proxied[0] != "POST http://collector.invalid/api/v1/reports" {
		t.Fatalf("proxy saw %q, want the POST to the collector", proxied)
	}
}

func TestNoProxyIsHonoured(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
	t.Setenv("https_proxy", "http://proxy.example:3128")
	t.Setenv("NO_PROXY", "internal.example")
	t.Setenv("no_proxy", "internal.example")
	proxy := ProxyFromEnvironment()
	for target, want := range map[string]string{
		"https://collector.example/api/v1/reports":        "http://proxy.example:3128",
		"https://c.internal.example/api/v1/reports":       "",
		"https://internal.example:8443/api/v1/reports":    "",
		"https://collector.example:8443/api/v1/reports/x": "http://proxy.example:3128",
	} {
		req, _ := http.NewRequest(http.MethodPost, target, nil)
		u, err := proxy(req)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if u != nil {
			got = u.String()
		}
		if got != want {
			t.Errorf("proxy for %s = %q, want %q", target, got, want)
		}
	}
}

func TestHugeErrorBodyIsReadCapped(t *testing.T) {
	huge := `{"error":"` + strings.Repeat("x", 10<<20) + `"}`
	c := newCollector(t, status(500, huge))
	f := newFixture(t, c.URL, nil)
	err := f.exp.Export(context.Background(), snap(1))
	if err == nil {
		t.Fatal("Export() = nil, want the 500")
	}
	if n := len(err.Error()); n > 400 {
		t.Fatalf("error is %d bytes long, want a short excerpt", n)
	}
	if !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "xxx...") {
		t.Fatalf("error %q, want the status and a cut excerpt", err)
	}
}

func TestErrorBodyIsSanitized(t *testing.T) {
	c := newCollector(t, status(400, "{\"error\":\"bad\\nfield\\u001b[31m totals\\u0000 \\u2028nodes\"}"))
	f := newFixture(t, c.URL, nil)
	err := f.exp.Export(context.Background(), snap(1))
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("Export() = %v, want a *StatusError", err)
	}
	if se.Message != "bad field [31m totals nodes" {
		t.Fatalf("message %q, want control characters replaced", se.Message)
	}
	if strings.ContainsAny(err.Error(), "\n\x1b\x00\u2028") {
		t.Fatalf("error %q carries control characters", err)
	}
}

func TestRotatedCredentialsAreUsedAtTheNextExport(t *testing.T) {
	c := newCollector(t, nil)
	f := newFixture(t, c.URL, nil)
	if err := f.exp.Export(context.Background(), snap(1)); err != nil {
		t.Fatal(err)
	}
	newKey := []byte("rotated-key-0123456789abcdef")
	f.creds.set("tok-2", newKey)
	if err := f.exp.Export(context.Background(), snap(1)); err != nil {
		t.Fatal(err)
	}
	reqs := c.requests()
	if len(reqs) != 2 {
		t.Fatalf("collector saw %d requests, want 2", len(reqs))
	}
	r := reqs[1]
	if got := r.header.Get("Authorization"); got != "Bearer tok-2" {
		t.Errorf("Authorization = %q, want the rotated token", got)
	}
	sig := r.header.Get(protocol.HeaderSignature)
	if err := protocol.Verify(sig, r.body, t0, [][]byte{newKey}); err != nil {
		t.Errorf("not signed with the rotated key: %v", err)
	}
	if err := protocol.Verify(sig, r.body, t0, [][]byte{signingKey}); !errors.Is(err, protocol.ErrBadSignature) {
		t.Errorf("still signed with the old key: %v", err)
	}
}

func TestCredentialProblems(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, "http-credentials")
	sec := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		sec  *corev1.Secret
		err  error
		kind manager.RetryKind
		want string
	}{
		{name: "secret missing", err: notFound, kind: manager.KindPermanent, want: `secret cattle-telemetry-system/http-credentials not found: create it with key "signingKey"`},
		{name: "cache not synced", err: errors.New("not synced"), kind: manager.KindBackoff, want: "reading secret cattle-telemetry-system/http-credentials: not synced"},
		{name: "signing key missing", sec: sec(map[string]string{"token": "t"}), kind: manager.KindPermanent, want: `has no key "signingKey"`},
		{name: "signing key blank", sec: sec(map[string]string{"signingKey": " \n"}), kind: manager.KindPermanent, want: `has no key "signingKey"`},
		{name: "signing key short", sec: sec(map[string]string{"signingKey": "short"}), kind: manager.KindPermanent, want: `key "signingKey": line 1: signing key shorter than 16 bytes`},
		{name: "only comments", sec: sec(map[string]string{"signingKey": "# none\n"}), kind: manager.KindPermanent, want: "holds no key"},
		{name: "too many keys", sec: sec(map[string]string{"signingKey": strings.Repeat("0123456789abcdef\n", 9)}), kind: manager.KindPermanent, want: "holds 9 keys, at most 8"},
		{name: "token with a newline inside", sec: sec(map[string]string{"signingKey": string(signingKey), "token": "a\r\nX-Evil: 1"}), kind: manager.KindPermanent, want: `key "token": a token is printable ASCII`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, nil)
			f := newFixture(t, c.URL, nil)
			f.creds.setSecret(tc.sec, tc.err)
			err := f.exp.Export(context.Background(), snap(1))
			if k, _ := kind(err); err == nil || k != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Export() = %v (kind %q), want %q containing %q", err, k, tc.kind, tc.want)
			}
			if tc.kind == manager.KindPermanent && !errors.Is(err, ErrCredentials) {
				t.Errorf("error %v does not wrap ErrCredentials", err)
			}
			if strings.Contains(err.Error(), string(signingKey)) {
				t.Errorf("error %q shows the key", err)
			}
			if n := len(c.requests()); n != 0 {
				t.Errorf("collector saw %d requests, want none", n)
			}
		})
	}
}

func TestTrimmedCredentials(t *testing.T) {
	c := newCollector(t, nil)
	f := newFixture(t, c.URL, nil)
	f.creds.set("  tok-3\n", []byte(string(signingKey)+"\n"))
	if err := f.exp.Export(context.Background(), snap(1)); err != nil {
		t.Fatal(err)
	}
	r := c.requests()[0]
	if got := r.header.Get("Authorization"); got != "Bearer tok-3" {
		t.Errorf("Authorization = %q, want the token without the newline", got)
	}
	if err := protocol.Verify(r.header.Get(protocol.HeaderSignature), r.body, t0, [][]byte{signingKey}); err != nil {
		t.Errorf("the key's trailing newline is part of the key: %v", err)
	}
}

func TestUnchangedReportIsNotResentSoon(t *testing.T) {
	c := newCollector(t, nil)
	f := newFixture(t, c.URL, func(o *Options) { o.Interval = 24 * time.Hour })
	export := func() {
		t.Helper()
		if err := f.exp.Export(context.Background(), snap(1)); err != nil {
			t.Fatal(err)
		}
	}
	export()
	f.clock.Step(time.Hour)
	export() // a trigger: same report, delivered an hour ago
	if n := len(c.requests()); n != 1 {
		t.Fatalf("collector saw %d requests, want 1", n)
	}
	if err := f.exp.Export(context.Background(), snap(2)); err != nil { // changed
		t.Fatal(err)
	}
	if n := len(c.requests()); n != 2 {
		t.Fatalf("collector saw %d requests after a change, want 2", n)
	}
	f.clock.Step(24 * time.Hour)
	if err := f.exp.Export(context.Background(), snap(2)); err != nil { // the interval's run
		t.Fatal(err)
	}
	if n := len(c.requests()); n != 3 {
		t.Fatalf("collector saw %d requests at the next interval, want 3", n)
	}
}

func TestFailedDeliveryIsResentAtOnce(t *testing.T) {
	c := newCollector(t, func(n int, w http.ResponseWriter, r *http.Request) {
		code := 202
		if n == 2 {
			code = 401
		}
		status(code, ``)(n, w, r)
	})
	f := newFixture(t, c.URL, func(o *Options) { o.Interval = 24 * time.Hour })
	if err := f.exp.Export(context.Background(), snap(1)); err != nil {
		t.Fatal(err)
	}
	if err := f.exp.Export(context.Background(), snap(2)); err == nil {
		t.Fatal("Export() = nil, want the 401")
	}
	if err := f.exp.Export(context.Background(), snap(2)); err != nil {
		t.Fatal(err)
	}
	if n := len(c.requests()); n != 3 {
		t.Fatalf("collector saw %d requests, want 3: a refused report is sent again", n)
	}
}

// badEncoder claims the report format and renders what its schema refuses.
type badEncoder struct{}

func (badEncoder) Format() string        { return report.FormatName }
func (badEncoder) SchemaVersion() string { return report.Version }
func (badEncoder) Encode(*snapshot.Snapshot, time.Time) ([]byte, error) {
	return []byte(`{"name":"host-1.example.com"}`), nil
}

func TestInvalidPayloadIsNotSent(t *testing.T) {
	c := newCollector(t, nil)
	f := newFixture(t, c.URL, func(o *Options) { o.Encoder = badEncoder{} })
	err := f.exp.Export(context.Background(), snap(1))
	if k, _ := kind(err); !errors.Is(err, encoding.ErrInvalidPayload) || k != manager.KindPermanent {
		t.Fatalf("Export() = %v (kind %q), want a permanent ErrInvalidPayload", err, k)
	}
	if n := len(c.requests()); n != 0 {
		t.Fatalf("collector saw %d requests, want none", n)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Options{URL: "ftp://x", Timeout: -time.Second, CAFile: filepath.Join(t.TempDir(), "none")})
	for _, want := range []string{"url", "timeout", "no encoder", "no credentials Secret", "CA file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New() = %v, want a problem naming %q", err, want)
		}
	}
	if !errors.Is(err, ErrInvalidURL) || !errors.Is(err, ErrCAFile) {
		t.Errorf("New() = %v, want ErrInvalidURL and ErrCAFile", err)
	}
}

func TestValidateURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://collector.example.com/api/v1/reports", true},
		{"http://10.0.0.1:8080/api/v1/reports", true},
		{"https://[::1]:8443", true},
		{"", false},
		{"collector.example.com/api", false},
		{"ftp://collector.example.com", false},
		{"https://", false},
		{"https://user:pass@collector.example.com", false},
		{"https://collector.example.com/#frag", false},
		{"https://bad host/", false},
	} {
		t.Run(fmt.Sprintf("%q", tc.url), func(t *testing.T) {
			err := ValidateURL(tc.url)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
			}
			if err != nil && (!errors.Is(err, ErrInvalidURL) || strings.Contains(err.Error(), "pass")) {
				t.Fatalf("ValidateURL(%q) = %v, want ErrInvalidURL without the password", tc.url, err)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        time.Duration
		ok          bool
	}{
		{"seconds", "30", 30 * time.Second, true},
		{"zero", "0", 0, true},
		{"padded", " 5 ", 5 * time.Second, true},
		{"number beyond 64 bits is garbled", "99999999999999999999", 0, false},
		{"large number capped", "9999999999", maxRetryAfter, true},
		{"http date", t0.Add(time.Minute).Format(http.TimeFormat), time.Minute, true},
		{"date in the past", t0.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"negative", "-5", 0, false},
		{"empty", "", 0, false},
		{"words", "tomorrow", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.value, t0)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.value, got, ok, tc.want, tc.ok)
			}
		})
	}
}
