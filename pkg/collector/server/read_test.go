package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

const (
	installA = "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11"
	installB = "2b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11"
	installC = "3b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11"
)

// seed stores three installs: A (the sample, an hour ago), B (aggregated
// clusters, version v2.11.0, two days ago) and C (ten days ago, outside
// the default active window). extra replaces nothing; it adds payloads
// stored as given, bypassing the checks of POST.
func seed(t *testing.T, h *harness, extra ...store.Report) {
	t.Helper()
	agg, err := os.ReadFile(filepath.Join("..", "..", "encoding", "report", "testdata", "aggregated.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := strings.Replace(strings.Replace(string(agg), installA, installB, 1), `"version": "v2.12.1"`, `"version": "v2.11.0"`, 1)
	c := strings.Replace(string(sample(t)), installA, installC, 1)
	rs := []store.Report{
		{InstallUUID: installA, ReceivedAt: testNow.Add(-time.Hour), Nodes: 9, Payload: sample(t)},
		{InstallUUID: installB, ReceivedAt: testNow.Add(-48 * time.Hour), Nodes: 100, Payload: []byte(b)},
		{InstallUUID: installC, ReceivedAt: testNow.Add(-240 * time.Hour), Nodes: 9, Payload: []byte(c)},
	}
	for _, r := range append(rs, extra...) {
		r.IdempotencyKey = protocol.IdempotencyKey(r.Payload)
		r.SchemaVersion = "2"
		if _, err := h.store.Insert(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSummaryCoversTheActiveWindow(t *testing.T) {
	h := newHarness(t, nil)
	seed(t, h)
	a := h.get(t, "/api/v1/summary")
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	want := `{"installs":2,"clusters":44,"nodes":109,"cpuCores":438,"memoryBytes":1876006105088,` +
		`"byArch":[{"key":"amd64","count":107},{"key":"arm64","count":2}],` +
		`"byKubernetesMinor":[{"key":"v1.32","count":41},{"key":"v1.31","count":2},{"key":"v1.30","count":1}],` +
		`"byVersion":[{"key":"v2.11.0","count":1},{"key":"v2.12.1","count":1}],` +
		`"byDriver":[{"key":"rke2","count":41},{"key":"AKS","count":1},{"key":"EKS","count":1},{"key":"imported","count":1}],` +
		`"since":"2026-02-25T12:00:00Z","skipped":0}`
	if got := strings.TrimSpace(string(a.body)); got != want {
		t.Errorf("summary\n%s\nwant\n%s", got, want)
	}
}

func TestInstallsListsTheLatestReportOfEach(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ActiveWindow = 30 * 24 * time.Hour })
	seed(t, h)
	a := h.get(t, "/api/v1/installs")
	var got []Install
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatalf("%v: %s", err, a.body)
	}
	if len(got) != 3 || got[0].InstallUUID != installA || got[1].InstallUUID != installB || got[2].InstallUUID != installC {
		t.Fatalf("installs: %s", a.body)
	}
	var r struct{ Totals struct{ Nodes int } }
	if err := json.Unmarshal(got[1].Report, &r); err != nil || r.Totals.Nodes != 100 || got[1].SchemaVersion != "2" ||
		!got[1].ReceivedAt.Equal(testNow.Add(-48*time.Hour)) {
		t.Errorf("install B: %+v (%v)", got[1], err)
	}
}

func TestHistory(t *testing.T) {
	h := newHarness(t, nil)
	seed(t, h)
	for _, tc := range []struct {
		query   string
		status  int
		entries int
	}{
		{"", http.StatusOK, DefaultHistoryDays},
		{"?days=11", http.StatusOK, 11},
		{"?days=366", http.StatusOK, 366},
		{"?days=0", http.StatusBadRequest, 0},
		{"?days=367", http.StatusBadRequest, 0},
		{"?days=x", http.StatusBadRequest, 0},
		{"?days=-1", http.StatusBadRequest, 0},
	} {
		t.Run("days "+tc.query, func(t *testing.T) {
			a := h.get(t, "/api/v1/summary/history"+tc.query)
			if a.status != tc.status {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			if tc.status != http.StatusOK {
				if msg := errorOf(t, a.body); !strings.Contains(msg, "days") {
					t.Errorf("error %q", msg)
				}
				return
			}
			var days []Day
			if err := json.Unmarshal(a.body, &days); err != nil || len(days) != tc.entries {
				t.Fatalf("%d days (%v)", len(days), err)
			}
			if tc.entries == 11 {
				want := map[int]Day{0: {"2026-02-22", 1, 9}, 8: {"2026-03-02", 1, 100}, 10: {"2026-03-04", 1, 9}}
				for i, d := range days {
					if w, ok := want[i]; ok && d != w || !ok && (d.Installs != 0 || d.Nodes != 0) {
						t.Errorf("day %d: %+v", i, d)
					}
				}
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t, nil)
	if a := h.get(t, "/healthz"); a.status != http.StatusOK {
		t.Errorf("healthz %d", a.status)
	}
	if a := h.get(t, "/readyz"); a.status != http.StatusOK {
		t.Errorf("readyz %d", a.status)
	}
	h.store.Fail(true)
	if a := h.get(t, "/readyz"); a.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with a failing store: %d", a.status)
	}
	for _, path := range []string{"/api/v1/summary", "/api/v1/installs", "/api/v1/summary/history", "/"} {
		if a := h.get(t, path); a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
			t.Errorf("%s with a failing store: %d, Retry-After %q", path, a.status, a.header.Get("Retry-After"))
		}
	}
	if a := h.get(t, "/nothing-here"); a.status != http.StatusNotFound {
		t.Errorf("unknown path: %d", a.status)
	} else {
		errorOf(t, a.body)
	}
}
