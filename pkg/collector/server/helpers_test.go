package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/internal/memstore"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

var (
	testKey   = []byte("collector-test-signing-key-0001")
	otherKey  = []byte("collector-test-signing-key-0002")
	testToken = "collector-test-token"
	// testNow is the fake clock's start, a Wednesday at noon UTC.
	testNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
)

// harness is a collector behind a real HTTP server, with a fake clock and
// an in-memory store.
type harness struct {
	clock  *clocktesting.FakeClock
	store  *memstore.Store
	server *Server
	srv    *httptest.Server
	cfg    Config
}

func newHarness(t *testing.T, configure func(*Config)) *harness {
	t.Helper()
	h := &harness{clock: clocktesting.NewFakeClock(testNow), store: memstore.New()}
	h.cfg = Config{
		Store:           h.store,
		SigningKeys:     Static{otherKey, testKey},
		MaxBody:         256 << 10,
		MaxDecompressed: 512 << 10,
		Rate:            3600,
		Burst:           100,
		ActiveWindow:    DefaultActiveWindow,
		Clock:           h.clock,
		Registry:        prometheus.NewRegistry(),
	}
	if configure != nil {
		configure(&h.cfg)
	}
	h.server = New(h.cfg)
	h.srv = httptest.NewServer(h.server)
	t.Cleanup(h.srv.Close)
	return h
}

// sample returns the report package's sample report.
func sample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "encoding", "report", "testdata", "sample.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// version2 returns the sample as an older manager writes it: schema
// version 2, without the members version 3 added.
func version2(t testing.TB) []byte {
	t.Helper()
	head, _, ok := strings.Cut(string(sample(t)), `,
  "clusterStates"`)
	if !ok {
		t.Fatal("sample has no clusterStates")
	}
	return []byte(strings.Replace(head, `"schemaVersion": "4"`, `"schemaVersion": "2"`, 1) + "\n}\n")
}

// variant returns the sample with one substitution, so it is another
// valid report of the same install.
func variant(t testing.TB, old, new string) []byte {
	t.Helper()
	s := string(sample(t))
	if !strings.Contains(s, old) {
		t.Fatalf("sample has no %q", old)
	}
	return []byte(strings.Replace(s, old, new, 1))
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// send describes one request; the zero value is a valid, gzipped, signed
// report at the fake clock's time.
type send struct {
	payload   []byte // uncompressed; the sample when nil
	body      []byte // sent as is when set, instead of gzip(payload)
	identity  bool   // send payload uncompressed
	encoding  string // Content-Encoding override
	noSig     bool
	sig       string // signature header override
	keys      [][]byte
	at        time.Time // signature time; the clock's when zero
	idem      *string   // Idempotency-Key override
	token     string
	chunked   bool // no Content-Length
	extraHead map[string]string
}

func (h *harness) request(t testing.TB, s send) *http.Request {
	t.Helper()
	payload := s.payload
	if payload == nil {
		payload = sample(t)
	}
	body := s.body
	switch {
	case body != nil:
	case s.identity:
		body = payload
	default:
		body = gzipped(t, payload)
	}
	var rd io.Reader = bytes.NewReader(body)
	if s.chunked {
		rd = io.MultiReader(rd)
	}
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+protocol.DefaultPath, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", protocol.ContentType)
	if !s.identity && s.encoding == "" {
		req.Header.Set("Content-Encoding", protocol.EncodingGzip)
	}
	if s.encoding != "" {
		req.Header.Set("Content-Encoding", s.encoding)
	}
	at := s.at
	if at.IsZero() {
		at = h.clock.Now()
	}
	keys := s.keys
	if keys == nil {
		keys = [][]byte{testKey}
	}
	switch {
	case s.noSig:
	case s.sig != "":
		req.Header.Set(protocol.HeaderSignature, s.sig)
	default:
		req.Header.Set(protocol.HeaderSignature, protocol.Sign(at, body, keys...))
	}
	idem := protocol.IdempotencyKey(payload)
	if s.idem != nil {
		idem = *s.idem
	}
	if idem != "" {
		req.Header.Set(protocol.HeaderIdempotencyKey, idem)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	for k, v := range s.extraHead {
		req.Header.Set(k, v)
	}
	return req
}

// answer is a response, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) post(t testing.TB, s send) answer {
	t.Helper()
	return h.do(t, h.request(t, s))
}

func (h *harness) get(t testing.TB, path string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h.do(t, req)
}

// errorOf checks that b is exactly {"error": "..."} and returns the text.
func errorOf(t testing.TB, b []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("error body %q is not JSON: %v", b, err)
	}
	msg, ok := m["error"].(string)
	if len(m) != 1 || !ok || msg == "" {
		t.Fatalf("error body %s is not {\"error\": \"...\"}", b)
	}
	return msg
}

func ptr[T any](v T) *T { return &v }
