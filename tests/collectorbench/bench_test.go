package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/collector/server"
	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

func TestPercentileIsNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"no values", nil, 0.99, 0},
		{"one value is every percentile", []time.Duration{7}, 0.5, 7},
		{"p50 of 1..100 is the 50th", hundred, 0.50, 50 * time.Millisecond},
		{"p99 of 1..100 is the 99th", hundred, 0.99, 99 * time.Millisecond},
		{"p99 of three values is the largest", []time.Duration{1, 2, 3}, 0.99, 3},
		{"p50 of an even count is the lower middle", []time.Duration{1, 2, 3, 4}, 0.50, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.q); got != tc.want {
				t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

func TestSummarizeCountsOnlyAcceptedReportsInTheRate(t *testing.T) {
	l := load{
		Latencies: []time.Duration{3 * time.Millisecond, 1 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond},
		Errors:    map[string]int{"503": 2, "transport": 1},
		Elapsed:   2 * time.Second,
	}
	f := summarize(l)
	if f.Rate != 2 || f.P50 != 2*time.Millisecond || f.P99 != 4*time.Millisecond || f.Errors != 3 {
		t.Errorf("figures %+v, want rate 2, p50 2ms, p99 4ms, 3 errors", f)
	}
	if got, want := errorCell(f), "3 (503×2, transport×1)"; got != want {
		t.Errorf("error cell %q, want %q", got, want)
	}
}

func TestTargetsAreJudgedPerDatabase(t *testing.T) {
	fig := func(rate float64, p99 time.Duration, errs int) figures {
		return figures{Rate: rate, P50: p99 / 2, P99: p99, Errors: errs}
	}
	tests := []struct {
		name    string
		sqlite  map[int]figures
		senders []int
		want    []string // verdicts: rate, p99
	}{
		{
			name:    "the best sender count carries the rate",
			sqlite:  map[int]figures{1: fig(100, time.Millisecond, 0), 64: fig(1000, 100*time.Millisecond, 0)},
			senders: []int{1, 64},
			want:    []string{"PASS", "PASS"},
		},
		{
			name:    "just under both targets",
			sqlite:  map[int]figures{1: fig(999, time.Millisecond, 0), 64: fig(900, 100*time.Millisecond+1, 0)},
			senders: []int{1, 64},
			want:    []string{"MISS", "MISS"},
		},
		{
			name:    "a fast p99 over failing requests misses",
			sqlite:  map[int]figures{64: fig(2000, time.Millisecond, 5)},
			senders: []int{64},
			want:    []string{"PASS", "MISS"},
		},
		{
			name:    "no row at 64 senders is not judged",
			sqlite:  map[int]figures{16: fig(2000, time.Millisecond, 0)},
			senders: []int{16},
			want:    []string{"PASS", "—"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &results{Databases: []string{dbSQLite}, Senders: tc.senders}
			for n, f := range tc.sqlite {
				r.set(dbSQLite, n, f)
				r.set(nullName, n, fig(5000, time.Millisecond, 0))
			}
			rows := r.targetRows()[1:]
			if len(rows) != len(tc.want) {
				t.Fatalf("%d target rows, want %d: %v", len(rows), len(tc.want), rows)
			}
			for i, want := range tc.want {
				if got := rows[i][3]; got != want {
					t.Errorf("%s: %s, want %s", rows[i][0], got, want)
				}
			}
		})
	}
}

func TestTableSetsTheNullCollectorBesideEachRow(t *testing.T) {
	r := &results{Databases: []string{dbSQLite, dbPostgres}, Senders: []int{1, 64}, Header: "run"}
	r.set(nullName, 1, figures{Rate: 900, P50: time.Millisecond, P99: 2 * time.Millisecond})
	r.set(nullName, 64, figures{Rate: 3000, P50: 20 * time.Millisecond, P99: 40 * time.Millisecond})
	r.set(dbSQLite, 1, figures{Rate: 300, P50: 3 * time.Millisecond, P99: 9 * time.Millisecond})
	r.set(dbSQLite, 64, figures{Rate: 1200, P50: 50 * time.Millisecond, P99: 90 * time.Millisecond, Exhausted: true})
	r.set(dbPostgres, 64, figures{Rate: 800, P50: 70 * time.Millisecond, P99: 150 * time.Millisecond})
	var b bytes.Buffer
	r.print(&b)
	out := b.String()
	for _, want := range []string{
		"| sqlite   | 1       | 300       | 3.0 ms  | 9.0 ms   | 0      | 900            | 1.0 ms   | 2.0 ms   | 0           |",
		"| sqlite   | 64      | 1200*     | 50.0 ms | 90.0 ms  | 0      | 3000           | 20.0 ms  | 40.0 ms  | 0           |",
		"| postgres | 64      | 800       | 70.0 ms | 150.0 ms | 0      | 3000           | 20.0 ms  | 40.0 ms  | 0           |",
		"cut short",
		"| postgres: ≥ 1000 reports/s at its best sender count | 800 reports/s (64 senders)  | 3000 reports/s (64 senders) | MISS    |",
		"| sqlite: p99 ≤ 100.0 ms at 64 senders                | 90.0 ms                     | 40.0 ms                     | PASS    |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| postgres | 1 ") {
		t.Errorf("table has a row for a phase not measured:\n%s", out)
	}
}

// The prepared reports must pass every check of a real collector, or the
// bench would measure its refusals.
func TestPreparedReportsAreDistinctAndAccepted(t *testing.T) {
	bodies, err := buildBodies(2*varieties, 2)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for i, b := range bodies {
		if keys[b.key] {
			t.Errorf("report %d repeats idempotency key %s", i, b.key)
		}
		keys[b.key] = true
		if b.jsonBytes < 8<<10 || b.jsonBytes > 40<<10 {
			t.Errorf("report %d is %d bytes of JSON, want 8-40 KiB", i, b.jsonBytes)
		}
	}
	key := []byte("a-signing-key-of-the-collector-bench")
	st, err := store.Open(t.Context(), "sqlite:"+t.TempDir()+"/reports.db", store.NewOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(server.New(server.Config{
		Store: st, SigningKeys: server.Static{key},
		MaxBody: server.DefaultMaxBody, MaxDecompressed: server.DefaultMaxDecompressed,
		Rate: server.DefaultRate, Burst: server.DefaultBurst, ActiveWindow: time.Hour,
	}))
	defer srv.Close()
	sign(bodies, time.Now(), key)
	client := newClient(2)
	defer client.CloseIdleConnections()
	l := send(context.Background(), client, srv.URL+"/api/v1/reports", &pool{bodies: bodies}, 2, time.Minute)
	if len(l.Latencies) != len(bodies) || l.errorCount() != 0 || !l.Exhausted {
		t.Errorf("%d accepted, errors %v, exhausted %v; want all %d accepted and the pool exhausted",
			len(l.Latencies), l.Errors, l.Exhausted, len(bodies))
	}
	latest, err := st.Latest(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != len(bodies) {
		t.Errorf("%d installs stored, want %d: each report comes from its own install", len(latest), len(bodies))
	}
}

func TestNullStoreAnswersEveryInsertAsStored(t *testing.T) {
	var s nullStore
	a, err := s.Insert(t.Context(), store.Report{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Insert(t.Context(), store.Report{})
	if a.Duplicate || b.Duplicate || a.ID == "" || a.ID == b.ID {
		t.Errorf("inserts %+v and %+v, want two stored with distinct ids", a, b)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Insert(ctx, store.Report{}); err == nil {
		t.Error("insert after cancel: no error")
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	o := newOptions()
	o.Duration, o.Warmup, o.Senders, o.Databases, o.Reports = 0, -1, []int{0, 2000}, []string{"mysql"}, 0
	err := o.validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--duration", "--warmup", "--senders 0", "--senders 2000", "--databases \"mysql\"", "--reports"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
	if err := newOptions().validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
