package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// TestPostReport sends requests to a collector and checks each answer and
// what the store holds afterwards. before is sent first and must be
// stored; the row's own request must store nothing unless stored says so.
func TestPostReport(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*Config)
		before    []send
		step      time.Duration // the clock moves between before and the request
		send      func(t *testing.T) send
		status    int
		errText   string // a part of the error; "" for a success
		stored    int    // reports stored at the end
		retry     bool   // a Retry-After is expected
	}{
		{
			name:   "a valid report is stored",
			send:   func(*testing.T) send { return send{} },
			status: http.StatusAccepted, stored: 1,
		},
		{
			name:   "a report of schema version 2 is stored",
			send:   func(t *testing.T) send { return send{payload: version2(t)} },
			status: http.StatusAccepted, stored: 1,
		},
		{
			name:   "an uncompressed report is stored",
			send:   func(*testing.T) send { return send{identity: true} },
			status: http.StatusAccepted, stored: 1,
		},
		{
			name:   "a report signed by any configured key is stored",
			send:   func(*testing.T) send { return send{keys: [][]byte{[]byte("not-a-configured-key-000"), otherKey}} },
			status: http.StatusAccepted, stored: 1,
		},
		{
			name:   "no signature is refused",
			send:   func(*testing.T) send { return send{noSig: true} },
			status: http.StatusUnauthorized, errText: "no signature",
		},
		{
			name:   "a signature by an unknown key is refused",
			send:   func(*testing.T) send { return send{keys: [][]byte{[]byte("not-a-configured-key-000")}} },
			status: http.StatusUnauthorized, errText: "does not match",
		},
		{
			name: "a signature over other bytes is refused",
			send: func(t *testing.T) send {
				return send{sig: protocol.Sign(testNow, gzipped(t, variant(t, `"invalidNodes": 1`, `"invalidNodes": 2`)), testKey)}
			},
			status: http.StatusUnauthorized, errText: "does not match",
		},
		{
			name:   "a malformed signature is refused",
			send:   func(*testing.T) send { return send{sig: "t=abc,v1=zz"} },
			status: http.StatusUnauthorized, errText: "malformed",
		},
		{
			name:   "a stale timestamp is refused",
			send:   func(*testing.T) send { return send{at: testNow.Add(-protocol.MaxSkew - time.Second)} },
			status: http.StatusUnauthorized, errText: "outside the allowed window",
		},
		{
			name:   "a timestamp from the future is refused",
			send:   func(*testing.T) send { return send{at: testNow.Add(protocol.MaxSkew + time.Second)} },
			status: http.StatusUnauthorized, errText: "outside the allowed window",
		},
		{
			name:   "a replay with a new timestamp is a duplicate, stored once",
			before: []send{{}},
			step:   time.Minute,
			send:   func(*testing.T) send { return send{} },
			status: http.StatusOK, stored: 1,
		},
		{
			name:   "the same report uncompressed is a duplicate too",
			before: []send{{}},
			send:   func(*testing.T) send { return send{identity: true} },
			status: http.StatusOK, stored: 1,
		},
		{
			name:      "a body over the limit is refused by its length",
			configure: func(c *Config) { c.MaxBody = 1024 },
			send:      func(t *testing.T) send { return send{body: bytes.Repeat([]byte("x"), 1025)} },
			status:    http.StatusRequestEntityTooLarge, errText: "over the limit of 1024",
		},
		{
			name:      "a chunked body over the limit is refused by the capped read",
			configure: func(c *Config) { c.MaxBody = 1024 },
			send:      func(t *testing.T) send { return send{body: bytes.Repeat([]byte("x"), 4096), chunked: true} },
			status:    http.StatusRequestEntityTooLarge, errText: "over the limit of 1024",
		},
		{
			// 64 MiB of zeros compress to about 64 KiB.
			name: "a gzip bomb is refused at the decompressed limit",
			send: func(t *testing.T) send {
				return send{body: gzipped(t, make([]byte, 64<<20))}
			},
			status: http.StatusRequestEntityTooLarge, errText: "decompressed report is over the limit",
		},
		{
			name:      "an uncompressed body over the decompressed limit is refused",
			configure: func(c *Config) { c.MaxDecompressed = 1024 },
			send:      func(*testing.T) send { return send{identity: true} },
			status:    http.StatusRequestEntityTooLarge, errText: "over the limit of 1024",
		},
		{
			name:   "an unknown content encoding is refused",
			send:   func(*testing.T) send { return send{encoding: "br"} },
			status: http.StatusUnsupportedMediaType, errText: "Content-Encoding",
		},
		{
			name:   "another content type is refused",
			send:   func(*testing.T) send { return send{extraHead: map[string]string{"Content-Type": "text/plain"}} },
			status: http.StatusUnsupportedMediaType, errText: "Content-Type",
		},
		{
			name:   "a body that is not gzip is refused",
			send:   func(*testing.T) send { return send{body: []byte("plain text, not gzip")} },
			status: http.StatusBadRequest, errText: "not gzip",
		},
		{
			name:   "invalid JSON is refused",
			send:   func(*testing.T) send { return send{payload: []byte(`{"schemaVersion": "2",`)} },
			status: http.StatusBadRequest, errText: "not valid JSON",
		},
		{
			name:   "a schema violation is refused and names the field",
			send:   func(t *testing.T) send { return send{payload: variant(t, `"nodes": 9`, `"nodes": -9`)} },
			status: http.StatusBadRequest, errText: "at /totals/nodes: minimum",
		},
		{
			name: "a field outside the vocabulary is refused and named",
			send: func(t *testing.T) send {
				return send{payload: variant(t, `"arch":"arm64"`, `"arch":"<script>alert(1)</script>"`)}
			},
			status: http.StatusBadRequest, errText: "at /nodeProfiles/4/arch",
		},
		{
			name: "a number too large for the totals is refused and named",
			send: func(t *testing.T) send {
				return send{payload: variant(t, `"nodes": 9`, `"nodes": 99999999999999999999`)}
			},
			status: http.StatusBadRequest, errText: "totals.nodes",
		},
		{
			name: "an install UUID that is not a UUID is refused",
			send: func(t *testing.T) send {
				return send{payload: variant(t, `"installUUID": "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11"`, `"installUUID": "other"`)}
			},
			status: http.StatusBadRequest, errText: "install.installUUID",
		},
		{
			name:   "a wrong idempotency key is refused",
			send:   func(*testing.T) send { return send{idem: ptr(protocol.IdempotencyKey([]byte("other")))} },
			status: http.StatusBadRequest, errText: "Idempotency-Key",
		},
		{
			name:   "a missing idempotency key is refused",
			send:   func(*testing.T) send { return send{idem: ptr("")} },
			status: http.StatusBadRequest, errText: "Idempotency-Key header missing",
		},
		{
			name:      "a missing token is refused when tokens are required",
			configure: func(c *Config) { c.Tokens = Static{[]byte(testToken)} },
			send:      func(*testing.T) send { return send{} },
			status:    http.StatusUnauthorized, errText: "bearer token",
		},
		{
			name:      "an unknown token is refused",
			configure: func(c *Config) { c.Tokens = Static{[]byte(testToken)} },
			send:      func(*testing.T) send { return send{token: "guess"} },
			status:    http.StatusUnauthorized, errText: "bearer token",
		},
		{
			name:      "a known token is accepted",
			configure: func(c *Config) { c.Tokens = Static{[]byte("another-token"), []byte(testToken)} },
			send:      func(*testing.T) send { return send{token: testToken} },
			status:    http.StatusAccepted, stored: 1,
		},
		{
			name:      "an install over the rate is told when to retry",
			configure: func(c *Config) { c.Rate, c.Burst = 6, 1 }, // one report per 10 minutes
			before:    []send{{}},
			step:      time.Minute,
			send: func(t *testing.T) send {
				return send{payload: variant(t, `"invalidNodes": 1`, `"invalidNodes": 2`)}
			},
			status: http.StatusTooManyRequests, errText: "over the rate", stored: 1, retry: true,
		},
		{
			name:      "an install under the rate again is accepted",
			configure: func(c *Config) { c.Rate, c.Burst = 6, 1 },
			before:    []send{{}},
			step:      10 * time.Minute,
			send: func(t *testing.T) send {
				return send{payload: variant(t, `"invalidNodes": 1`, `"invalidNodes": 2`)}
			},
			status: http.StatusAccepted, stored: 2,
		},
		{
			name:      "a store failure is a 503 with Retry-After",
			configure: func(c *Config) {},
			send:      func(*testing.T) send { return send{} },
			status:    http.StatusServiceUnavailable, errText: "store is unavailable", retry: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.configure)
			for i, b := range tc.before {
				if a := h.post(t, b); a.status != http.StatusAccepted {
					t.Fatalf("request %d before: status %d: %s", i, a.status, a.body)
				}
			}
			h.clock.Step(tc.step)
			if tc.status == http.StatusServiceUnavailable {
				h.store.Fail(true)
			}
			a := h.post(t, tc.send(t))
			h.store.Fail(false)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			switch a.status {
			case http.StatusAccepted:
				var acc protocol.Accepted
				if err := json.Unmarshal(a.body, &acc); err != nil || acc.ID == "" || acc.Duplicate {
					t.Errorf("body %s: want an id and duplicate false (%v)", a.body, err)
				}
			case http.StatusOK:
				if got := strings.TrimSpace(string(a.body)); got != `{"duplicate":true}` {
					t.Errorf("body %s, want {\"duplicate\":true}", got)
				}
			default:
				if msg := errorOf(t, a.body); !strings.Contains(msg, tc.errText) {
					t.Errorf("error %q does not contain %q", msg, tc.errText)
				}
			}
			if ra := a.header.Get("Retry-After"); tc.retry {
				if n, err := strconv.Atoi(ra); err != nil || n < 1 {
					t.Errorf("Retry-After %q, want whole seconds", ra)
				}
			} else if ra != "" {
				t.Errorf("Retry-After %q on a %d", ra, a.status)
			}
			stored := h.store.Reports()
			if len(stored) != tc.stored {
				t.Fatalf("%d reports stored, want %d", len(stored), tc.stored)
			}
			for _, r := range stored {
				wantVersion := report.Version
				if strings.Contains(string(r.Payload), `"schemaVersion": "2"`) {
					wantVersion = report.Version2
				}
				if err := report.Validate(r.Payload); err != nil {
					t.Errorf("stored an invalid report: %v", err)
				}
				if r.IdempotencyKey != protocol.IdempotencyKey(r.Payload) || r.InstallUUID != "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11" ||
					r.SchemaVersion != wantVersion || r.Nodes != 9 || r.ReceivedAt.IsZero() {
					t.Errorf("stored report fields: %+v", r)
				}
			}
		})
	}
}

// TestRateLimitRetryAfter checks the Retry-After of a 429 against the
// bucket: at 6 reports per hour the next token is due 10 minutes after the
// last one, and one minute has passed.
func TestRateLimitRetryAfter(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Rate, c.Burst = 6, 1 })
	if a := h.post(t, send{}); a.status != http.StatusAccepted {
		t.Fatalf("first: %d %s", a.status, a.body)
	}
	h.clock.Step(time.Minute)
	a := h.post(t, send{payload: variant(t, `"invalidNodes": 1`, `"invalidNodes": 2`)})
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "540" {
		t.Fatalf("status %d Retry-After %q, want 429 and 540", a.status, a.header.Get("Retry-After"))
	}
	// Another install has its own bucket.
	other := variant(t, `"installUUID": "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11"`, `"installUUID": "1b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11"`)
	if a := h.post(t, send{payload: other}); a.status != http.StatusAccepted {
		t.Fatalf("other install: %d %s", a.status, a.body)
	}
}

func TestMetricsCountOutcomes(t *testing.T) {
	h := newHarness(t, nil)
	h.post(t, send{})
	h.post(t, send{})
	h.post(t, send{noSig: true})
	m := h.get(t, "/metrics")
	for _, want := range []string{
		`telemetry_collector_reports_total{outcome="stored"} 1`,
		`telemetry_collector_reports_total{outcome="duplicate"} 1`,
		`telemetry_collector_reports_rejected_total{reason="signature"} 1`,
		`telemetry_collector_http_requests_total{code="401",handler="reports"} 1`,
		`telemetry_collector_store_duration_seconds_count{op="insert",result="ok"} 2`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := testutil.CollectAndCount(h.cfg.Registry, "telemetry_collector_reports_in_flight"); n != 1 {
		t.Errorf("in-flight gauge: %d series", n)
	}
}

// TestStoreKeepsTheGzipBodyOnlyWhenItIsTheReport: a body of one gzip member
// with a bare header is handed to the store as received, beside the
// report; a header with a name, comment or extra field, or a body of
// several members, is not (they carry bytes that are not the report), and
// the report is stored all the same.
func TestStoreKeepsTheGzipBodyOnlyWhenItIsTheReport(t *testing.T) {
	payload := sample(t)
	withHeader := func(set func(*gzip.Header)) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		set(&zw.Header)
		if _, err := zw.Write(payload); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	half := len(payload) / 2
	twoMembers := append(gzipped(t, payload[:half]), gzipped(t, payload[half:])...)
	for _, tc := range []struct {
		name string
		body []byte
		kept bool
	}{
		{"a bare gzip member is kept", gzipped(t, payload), true},
		{"a member with a modification time is kept", withHeader(func(h *gzip.Header) { h.ModTime = testNow }), true},
		{"a member with a file name is not kept", withHeader(func(h *gzip.Header) { h.Name = "/home/someone/report.json" }), false},
		{"a member with a comment is not kept", withHeader(func(h *gzip.Header) { h.Comment = "from someone" }), false},
		{"a member with an extra field is not kept", withHeader(func(h *gzip.Header) { h.Extra = []byte("xx\x02\x00hi") }), false},
		{"two members are not kept", twoMembers, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if a := h.post(t, send{payload: payload, body: tc.body}); a.status != http.StatusAccepted {
				t.Fatalf("status %d (%s), want 202", a.status, a.body)
			}
			rs := h.store.Reports()
			if len(rs) != 1 {
				t.Fatalf("%d reports stored, want 1", len(rs))
			}
			if !bytes.Equal(rs[0].Payload, payload) {
				t.Error("the stored report is not the payload sent")
			}
			switch {
			case tc.kept && !bytes.Equal(rs[0].Gzip, tc.body):
				t.Error("the body was not handed to the store as received")
			case !tc.kept && rs[0].Gzip != nil:
				t.Errorf("a body with more than the report was handed to the store: %q", rs[0].Gzip)
			}
		})
	}
}

// TestChecksWaitForASlot: while every check slot is taken, a report waits
// for one after its body is read, and a sender that gives up meanwhile
// leaves nothing stored; once a slot is free, reports are checked and
// stored again.
func TestChecksWaitForASlot(t *testing.T) {
	h := newHarness(t, nil)
	for range cap(h.server.checking) {
		h.server.checking <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req := h.request(t, send{}).WithContext(ctx)
	if resp, err := h.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a report was answered %d while every check slot was taken", resp.StatusCode)
	}
	// The handler ends once it sees the sender gone.
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(h.server.metrics.inFlight) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the handler of the abandoned report did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(h.store.Reports()); n != 0 {
		t.Fatalf("%d reports stored by a sender that gave up waiting", n)
	}
	for range cap(h.server.checking) {
		<-h.server.checking
	}
	if a := h.post(t, send{}); a.status != http.StatusAccepted {
		t.Fatalf("with the slots free: status %d (%s), want 202", a.status, a.body)
	}
	if n := len(h.store.Reports()); n != 1 {
		t.Errorf("%d reports stored, want 1", n)
	}
}
