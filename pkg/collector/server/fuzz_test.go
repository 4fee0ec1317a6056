package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/internal/memstore"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// FuzzDecodeRequest sends arbitrary bodies and headers to the report
// handler. The body is signed with the collector's key (unless sign is
// false) and, when compress is set, gzipped first, so that inputs get past
// the signature to the decoding; an empty idem sends the right
// Idempotency-Key. The handler must never panic, must answer a known
// status with a JSON error, and must never store a report the schema
// rejects. The seed corpus is in testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(sample(f), "gzip", true, true, "")
	f.Add([]byte(`{}`), "", false, true, "")
	f.Add([]byte(`not json`), "gzip", true, true, "")
	f.Add([]byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0}, "gzip", false, true, "")
	f.Add(sample(f), "deflate", false, false, "0000")
	clk := clocktesting.NewFakeClock(testNow)
	st := memstore.New()
	h := New(Config{
		Store: st, SigningKeys: Static{testKey},
		MaxBody: 64 << 10, MaxDecompressed: 256 << 10,
		Rate: 1e6, Burst: 1 << 20, ActiveWindow: DefaultActiveWindow,
		Clock: clk, Registry: prometheus.NewRegistry(),
	})
	known := map[int]bool{200: true, 202: true, 400: true, 401: true, 413: true, 415: true, 429: true}
	f.Fuzz(func(t *testing.T, payload []byte, encoding string, compress, sign bool, idem string) {
		body := payload
		if compress {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(payload)
			zw.Close()
			body = buf.Bytes()
		}
		req := httptest.NewRequest(http.MethodPost, protocol.DefaultPath, bytes.NewReader(body))
		req.Header.Set("Content-Encoding", encoding)
		if sign {
			req.Header.Set(protocol.HeaderSignature, protocol.Sign(testNow, body, testKey))
		}
		if idem == "" {
			idem = protocol.IdempotencyKey(payload)
		}
		req.Header.Set(protocol.HeaderIdempotencyKey, idem)
		before := len(st.Reports())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !known[rec.Code] {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			errorOf(t, rec.Body.Bytes())
		}
		stored := st.Reports()
		if rec.Code == http.StatusAccepted && len(stored) != before+1 || rec.Code != http.StatusAccepted && len(stored) != before {
			t.Fatalf("status %d but %d reports stored, %d before", rec.Code, len(stored), before)
		}
		if len(stored) > before {
			if err := report.Validate(stored[len(stored)-1].Payload); err != nil {
				t.Fatalf("stored an invalid report: %v", err)
			}
		}
	})
}

// FuzzHistoryQuery sends any query string to GET /api/v1/summary/history.
// The answer is 200 with one entry per day, oldest first and ending today,
// exactly when ?days is absent (DefaultHistoryDays) or a whole number from 1
// to MaxHistoryDays; any other value is a 400 with a JSON error. The seed
// corpus is in testdata/fuzz/FuzzHistoryQuery.
func FuzzHistoryQuery(f *testing.F) {
	h := New(Config{
		Store: memstore.New(), SigningKeys: Static{testKey},
		MaxBody: 64 << 10, MaxDecompressed: 256 << 10,
		Rate: 1e6, Burst: 1 << 20, ActiveWindow: DefaultActiveWindow,
		Clock: clocktesting.NewFakeClock(testNow), Registry: prometheus.NewRegistry(),
	})
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/summary/history", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		raw := req.URL.Query().Get("days")
		want := DefaultHistoryDays
		if raw != "" {
			// A whole number as big.Int reads it, apart from strconv.
			n, ok := new(big.Int).SetString(raw, 10)
			switch {
			case !ok || n.Cmp(big.NewInt(1)) < 0 || n.Cmp(big.NewInt(MaxHistoryDays)) > 0:
				want = 0
			default:
				want = int(n.Int64())
			}
		}
		if want == 0 {
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("?%s: status %d, want 400", query, rec.Code)
			}
			errorOf(t, rec.Body.Bytes())
			return
		}
		var days []Day
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &days) != nil || len(days) != want {
			t.Fatalf("?%s: status %d, %d days (%.80s), want 200 with %d", query, rec.Code, len(days), rec.Body, want)
		}
		if today := testNow.UTC().Format(time.DateOnly); days[len(days)-1].Date != today {
			t.Fatalf("?%s: the last day is %s, want %s", query, days[len(days)-1].Date, today)
		}
	})
}
