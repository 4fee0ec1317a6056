// Package storetest is the conformance suite every store.Store passes. It is
// for tests only.
package storetest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// Opener opens a store on one database. Each call opens a new instance on
// the same database, as another collector replica would; calls may run at
// once. The suite closes what it opens.
type Opener func(ctx context.Context) (store.Store, error)

// NewDatabase returns an Opener on a new, empty database.
type NewDatabase func(t testing.TB) Opener

// base is a fixed receive time, so that tests do not depend on the clock.
var base = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// Run runs the suite; every subtest gets a database of its own.
func Run(t *testing.T, newDB NewDatabase) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"insert then latest returns the report", testInsertLatest},
		{"same key twice is stored once", testDuplicate},
		{"concurrent duplicates are stored once", testConcurrentDuplicates},
		{"latest picks the newest report of each install", testLatestNewest},
		{"latest leaves out installs silent since the window began", testLatestWindow},
		{"history counts installs and last nodes per UTC day", testHistory},
		{"history refuses a day count out of range", testHistoryBadDays},
		{"prune deletes only reports before the cut", testPrune},
		{"close waits for inserts and refuses later calls", testClose},
		{"payload and fields come back byte for byte", testPayloadExact},
		{"a gzip payload comes back decompressed", testGzipPayload},
		{"a corrupt gzip payload is left out and the others stay", testCorruptGzipPayload},
		{"invalid report is refused naming the field", testInvalidReport},
		{"data survives reopening", testReopen},
		{"two replicas store a concurrent report once", testReplicasDuplicate},
		{"two replicas migrating at once both open", testReplicasMigrate},
		{"a duplicate on a later day keeps the install in latest and history", testDuplicateLaterDay},
		{"a report sent again after another is the latest again", testDuplicateRevert},
		{"a late duplicate never moves last seen back", testDuplicateLate},
		{"prune keeps a report seen again within the retention", testPruneSeenAgain},
		{"concurrent duplicates on two replicas are consistent", testReplicasDuplicateSightings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newDB(t))
		})
	}
}

// NewReport returns a valid report of install with nodes, received at at;
// its payload, and so its key, is unique.
func NewReport(install string, nodes int64, at time.Time) store.Report {
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	payload := fmt.Appendf(nil, `{"schemaVersion":"1","install":{"installUUID":%q},"totals":{"nodes":%d},"nonce":"%x"}`, install, nodes, nonce)
	sum := sha256.Sum256(payload)
	return store.Report{
		IdempotencyKey: hex.EncodeToString(sum[:]),
		InstallUUID:    install,
		SchemaVersion:  "1",
		ReceivedAt:     at,
		Nodes:          nodes,
		Payload:        payload,
	}
}

// mustOpen opens a store and fails the test when it cannot.
func mustOpen(t testing.TB, open Opener) store.Store {
	t.Helper()
	s, err := open(context.Background())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// openT opens a store that is closed at cleanup.
func openT(t testing.TB, open Opener) store.Store {
	t.Helper()
	s := mustOpen(t, open)
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func insert(t testing.TB, s store.Store, r store.Report) store.Result {
	t.Helper()
	res, err := s.Insert(context.Background(), r)
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	return res
}

// count returns how many reports s holds by pruning them all: only Prune
// tells a count. It empties s.
func count(t testing.TB, s store.Store) int64 {
	t.Helper()
	n, err := s.Prune(context.Background(), base.AddDate(100, 0, 0))
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	return n
}

func latest(t testing.TB, s store.Store, since time.Time) []store.Report {
	t.Helper()
	rs, err := s.Latest(context.Background(), since)
	if err != nil {
		t.Fatalf("latest: %v", err)
	}
	return rs
}

func sameReport(t testing.TB, got, want store.Report) {
	t.Helper()
	if got.ID != want.ID || got.IdempotencyKey != want.IdempotencyKey || got.InstallUUID != want.InstallUUID ||
		got.SchemaVersion != want.SchemaVersion || !got.ReceivedAt.Equal(want.ReceivedAt) ||
		got.ReceivedAt.Location() != time.UTC || got.Nodes != want.Nodes || !bytes.Equal(got.Payload, want.Payload) {
		t.Errorf("report differs:\n got  id=%s key=%s install=%s schema=%s at=%v nodes=%d payload=%q\n want id=%s key=%s install=%s schema=%s at=%v nodes=%d payload=%q",
			got.ID, got.IdempotencyKey, got.InstallUUID, got.SchemaVersion, got.ReceivedAt, got.Nodes, got.Payload,
			want.ID, want.IdempotencyKey, want.InstallUUID, want.SchemaVersion, want.ReceivedAt, want.Nodes, want.Payload)
	}
}

func testInsertLatest(t *testing.T, open Opener) {
	s := openT(t, open)
	r := NewReport("install-a", 3, base)
	res := insert(t, s, r)
	if res.Duplicate || res.ID == "" {
		t.Fatalf("first insert: %+v, want an id and no duplicate", res)
	}
	got := latest(t, s, base.Add(-time.Hour))
	if len(got) != 1 {
		t.Fatalf("latest: %d reports, want 1", len(got))
	}
	r.ID = res.ID
	sameReport(t, got[0], r)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("ping: %v", err)
	}
}

func testDuplicate(t *testing.T, open Opener) {
	s := openT(t, open)
	r := NewReport("install-a", 3, base)
	first := insert(t, s, r)
	again := r
	again.ReceivedAt = base.Add(time.Minute) // a retry arrives later
	second := insert(t, s, again)
	if !second.Duplicate || second.ID != "" {
		t.Errorf("second insert: %+v, want a duplicate without id", second)
	}
	got := latest(t, s, base.Add(-time.Hour))
	if len(got) != 1 || got[0].ID != first.ID || !got[0].ReceivedAt.Equal(base) {
		t.Errorf("latest after duplicate: %+v, want only the first", got)
	}
	if n := count(t, s); n != 1 {
		t.Errorf("stored %d reports, want 1", n)
	}
}

func testConcurrentDuplicates(t *testing.T, open Opener) {
	s := openT(t, open)
	r := NewReport("install-a", 3, base)
	const n = 16
	results := make([]store.Result, n)
	errs := make([]error, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			results[i], errs[i] = s.Insert(context.Background(), r)
		})
	}
	start.Done()
	wg.Wait()
	stored := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("insert %d: %v", i, errs[i])
		}
		if !results[i].Duplicate {
			stored++
		}
	}
	if stored != 1 {
		t.Errorf("%d inserts stored the report, want 1", stored)
	}
	if c := count(t, s); c != 1 {
		t.Errorf("stored %d reports, want 1", c)
	}
}

func testLatestNewest(t *testing.T, open Opener) {
	s := openT(t, open)
	// Inserted out of order: the newest receive time wins, not the last
	// insert.
	a2 := NewReport("install-a", 20, base.Add(2*time.Hour))
	a1 := NewReport("install-a", 10, base.Add(time.Hour))
	a0 := NewReport("install-a", 5, base)
	b1 := NewReport("install-b", 7, base.Add(30*time.Minute))
	b0 := NewReport("install-b", 6, base)
	for _, r := range []*store.Report{&a2, &a1, &a0, &b1, &b0} {
		r.ID = insert(t, s, *r).ID
	}
	// Same receive time: the later insert wins.
	tieFirst := NewReport("install-c", 1, base)
	tieLast := NewReport("install-c", 2, base)
	tieFirst.ID = insert(t, s, tieFirst).ID
	tieLast.ID = insert(t, s, tieLast).ID

	got := latest(t, s, base.Add(-24*time.Hour))
	if len(got) != 3 {
		t.Fatalf("latest: %d reports, want 3", len(got))
	}
	sameReport(t, got[0], a2)
	sameReport(t, got[1], b1)
	sameReport(t, got[2], tieLast)
}

func testLatestWindow(t *testing.T, open Opener) {
	s := openT(t, open)
	old := NewReport("install-old", 1, base.Add(-48*time.Hour))
	edge := NewReport("install-edge", 2, base.Add(-24*time.Hour))
	cur := NewReport("install-new", 3, base)
	for _, r := range []*store.Report{&old, &edge, &cur} {
		r.ID = insert(t, s, *r).ID
	}
	got := latest(t, s, base.Add(-24*time.Hour))
	ids := make([]string, len(got))
	for i, r := range got {
		ids[i] = r.InstallUUID
	}
	if want := []string{"install-edge", "install-new"}; !slices.Equal(ids, want) {
		t.Errorf("latest since the window: %v, want %v (a report at the window's start counts)", ids, want)
	}
	if got := latest(t, s, base.Add(time.Hour)); len(got) != 0 {
		t.Errorf("latest since after every report: %d reports, want 0", len(got))
	}
}

func testHistory(t *testing.T, open Opener) {
	s := openT(t, open)
	day := func(n int) time.Time { return time.Date(2026, 3, n, 0, 0, 0, 0, time.UTC) }
	// Times given in another zone are grouped by their UTC day.
	east := time.FixedZone("UTC+10", 10*3600)
	for _, r := range []store.Report{
		// March 2: install a twice (last says 4 nodes), install b once.
		NewReport("a", 9, day(2).Add(time.Hour)),
		NewReport("a", 4, day(2).Add(23*time.Hour+59*time.Minute+59*time.Second)),
		NewReport("b", 10, day(2).Add(12*time.Hour).In(east)),
		// March 3: nothing. March 4: install a at midnight exactly.
		NewReport("a", 5, day(4)),
		// Before the window and after it: not counted.
		NewReport("a", 100, day(1).Add(23*time.Hour)),
		NewReport("c", 100, day(6)),
	} {
		insert(t, s, r)
	}
	got, err := s.History(context.Background(), day(5).Add(15*time.Hour), 4)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	want := []store.Day{
		{Date: day(2), Installs: 2, Nodes: 14},
		{Date: day(3)},
		{Date: day(4), Installs: 1, Nodes: 5},
		{Date: day(5)},
	}
	if len(got) != len(want) {
		t.Fatalf("history: %d days, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].Date.Equal(want[i].Date) || got[i].Date.Location() != time.UTC || got[i].Installs != want[i].Installs || got[i].Nodes != want[i].Nodes {
			t.Errorf("day %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// until in another zone names its UTC day.
	got, err = s.History(context.Background(), day(4).Add(20*time.Hour).In(east), 1) // March 5 06:00 in east
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	if len(got) != 1 || !got[0].Date.Equal(day(4)) || got[0].Installs != 1 {
		t.Errorf("one day of history until March 4 20:00 UTC: %+v, want March 4 with 1 install", got)
	}
}

func testHistoryBadDays(t *testing.T, open Opener) {
	s := openT(t, open)
	for _, days := range []int{0, -1, store.MaxHistoryDays + 1} {
		if _, err := s.History(context.Background(), base, days); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("history of %d days: %v, want ErrInvalid", days, err)
		}
	}
}

func testPrune(t *testing.T, open Opener) {
	s := openT(t, open)
	cut := base
	old1 := NewReport("a", 1, cut.Add(-time.Microsecond))
	old2 := NewReport("b", 1, cut.AddDate(-1, 0, 0))
	kept := NewReport("a", 2, cut)
	for _, r := range []*store.Report{&old1, &old2, &kept} {
		r.ID = insert(t, s, *r).ID
	}
	n, err := s.Prune(context.Background(), cut)
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	if n != 2 {
		t.Errorf("prune deleted %d, want 2", n)
	}
	got := latest(t, s, time.Time{})
	if len(got) != 1 {
		t.Fatalf("after prune: %d reports, want 1", len(got))
	}
	sameReport(t, got[0], kept)
	// A pruned report may be sent again and is then new.
	if res := insert(t, s, old2); res.Duplicate {
		t.Error("insert of a pruned report: duplicate, want stored")
	}
}

func testClose(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	const n = 64
	var wg sync.WaitGroup
	var acked atomic.Int64
	keys := make([]store.Report, n)
	for i := range n {
		keys[i] = NewReport(fmt.Sprintf("install-%02d", i), int64(i), base)
	}
	for i := range n {
		wg.Go(func() {
			res, err := s.Insert(context.Background(), keys[i])
			switch {
			case err == nil && !res.Duplicate:
				acked.Add(1)
			case err != nil && !errors.Is(err, store.ErrClosed):
				t.Errorf("insert during close: %v", err)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	ctx := context.Background()
	if _, err := s.Insert(ctx, NewReport("late", 1, base)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("insert after close: %v, want ErrClosed", err)
	}
	if _, err := s.Latest(ctx, base); !errors.Is(err, store.ErrClosed) {
		t.Errorf("latest after close: %v, want ErrClosed", err)
	}
	if _, err := s.History(ctx, base, 1); !errors.Is(err, store.ErrClosed) {
		t.Errorf("history after close: %v, want ErrClosed", err)
	}
	if _, err := s.Prune(ctx, base); !errors.Is(err, store.ErrClosed) {
		t.Errorf("prune after close: %v, want ErrClosed", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ping after close: %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second close: %v, want ErrClosed", err)
	}
	// Every acknowledged insert was committed before Close returned.
	again := openT(t, open)
	if got := int64(len(latest(t, again, time.Time{}))); got != acked.Load() {
		t.Errorf("after reopening: %d reports, %d were acknowledged", got, acked.Load())
	}
}

func testPayloadExact(t *testing.T, open Opener) {
	s := openT(t, open)
	// Bytes no text column would keep: NUL, invalid UTF-8, CR LF, and a
	// large body.
	payload := []byte("{\"a\":\"\x00\xff\xfe\r\n\"}  ")
	payload = append(payload, bytes.Repeat([]byte{0, 1, 2, 0xc3, 0x28}, 200_000)...)
	r := NewReport("install-\u00e9\u6f22", 1<<40, time.Date(2026, 3, 10, 12, 0, 0, 123456000, time.FixedZone("X", -7*3600)))
	r.Payload = payload
	r.SchemaVersion = "2.1-beta"
	r.ID = insert(t, s, r).ID
	got := latest(t, s, time.Time{})
	if len(got) != 1 {
		t.Fatalf("latest: %d reports, want 1", len(got))
	}
	sameReport(t, got[0], r)
	// Receive times are kept to the microsecond.
	r2 := NewReport("install-ns", 1, base.Add(time.Nanosecond*1500))
	insert(t, s, r2)
	got = latest(t, s, base)
	for _, g := range got {
		if g.InstallUUID == "install-ns" && !g.ReceivedAt.Equal(base.Add(time.Microsecond)) {
			t.Errorf("receive time with nanoseconds: %v, want %v", g.ReceivedAt, base.Add(time.Microsecond))
		}
	}
}

// gzipped returns b compressed as a sender compresses it.
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

func testGzipPayload(t *testing.T, open Opener) {
	s := openT(t, open)
	r := NewReport("install-gzip", 3, base)
	r.Payload = append(r.Payload, bytes.Repeat([]byte(" "), 100_000)...)
	sum := sha256.Sum256(r.Payload)
	r.IdempotencyKey = hex.EncodeToString(sum[:])
	r.Gzip = gzipped(t, r.Payload)
	r.ID = insert(t, s, r).ID
	plain := NewReport("install-plain", 1, base)
	plain.ID = insert(t, s, plain).ID
	got := latest(t, s, time.Time{})
	if len(got) != 2 {
		t.Fatalf("latest: %d reports, want 2", len(got))
	}
	sameReport(t, got[0], r)
	sameReport(t, got[1], plain)
	for _, g := range got {
		if g.Gzip != nil {
			t.Errorf("latest of %s returned the compressed form too", g.InstallUUID)
		}
	}
	// A duplicate sent compressed is one, whatever form came first.
	again := plain
	again.Gzip = gzipped(t, plain.Payload)
	if res := insert(t, s, again); !res.Duplicate {
		t.Errorf("the compressed duplicate of a stored report: %+v, want a duplicate", res)
	}
}

func testCorruptGzipPayload(t *testing.T, open Opener) {
	s := openT(t, open)
	good := NewReport("install-good", 1, base)
	good.Gzip = gzipped(t, good.Payload)
	good.ID = insert(t, s, good).ID
	// Compressed bytes of another document than the key names, and bytes
	// that are no gzip at all.
	other := NewReport("install-other", 2, base)
	other.Gzip = gzipped(t, []byte(`{"another":"document"}`))
	insert(t, s, other)
	broken := NewReport("install-broken", 3, base)
	broken.Gzip = []byte("not gzip")
	insert(t, s, broken)
	got := latest(t, s, time.Time{})
	if len(got) != 3 {
		t.Fatalf("latest: %d reports, want 3", len(got))
	}
	for _, g := range got {
		switch g.InstallUUID {
		case good.InstallUUID:
			sameReport(t, g, good)
		default:
			if len(g.Payload) != 0 {
				t.Errorf("corrupt report of %s came back with payload %q", g.InstallUUID, g.Payload)
			}
		}
	}
}

func testInvalidReport(t *testing.T, open Opener) {
	s := openT(t, open)
	for name, mutate := range map[string]func(*store.Report){
		"idempotency key": func(r *store.Report) { r.IdempotencyKey = "" },
		"install UUID":    func(r *store.Report) { r.InstallUUID = "" },
		"receive time":    func(r *store.Report) { r.ReceivedAt = time.Time{} },
	} {
		r := NewReport("a", 1, base)
		mutate(&r)
		_, err := s.Insert(context.Background(), r)
		if !errors.Is(err, store.ErrInvalid) || !bytes.Contains([]byte(err.Error()), []byte(name)) {
			t.Errorf("report without %s: %v, want ErrInvalid naming it", name, err)
		}
	}
	if got := latest(t, s, time.Time{}); len(got) != 0 {
		t.Errorf("invalid reports stored: %d", len(got))
	}
}

func testReopen(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	r := NewReport("a", 1, base)
	r.ID = insert(t, s, r).ID
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, open) // migrations find the schema current
	got := latest(t, s, time.Time{})
	if len(got) != 1 {
		t.Fatalf("after reopening: %d reports, want 1", len(got))
	}
	sameReport(t, got[0], r)
	if res := insert(t, s, r); !res.Duplicate {
		t.Error("insert after reopening: stored again, want duplicate")
	}
}

func testReplicasDuplicate(t *testing.T, open Opener) {
	replicas := []store.Store{openT(t, open), openT(t, open)}
	const rounds, perReplica = 20, 4
	for round := range rounds {
		r := NewReport(fmt.Sprintf("install-%d", round), 1, base)
		var stored atomic.Int64
		var start, wg sync.WaitGroup
		start.Add(1)
		for _, s := range replicas {
			for range perReplica {
				wg.Go(func() {
					start.Wait()
					res, err := s.Insert(context.Background(), r)
					if err != nil {
						t.Errorf("insert: %v", err)
						return
					}
					if !res.Duplicate {
						stored.Add(1)
					}
				})
			}
		}
		start.Done()
		wg.Wait()
		if n := stored.Load(); n != 1 {
			t.Errorf("round %d: %d inserts across replicas stored the report, want 1", round, n)
		}
	}
	if n := count(t, replicas[0]); n != rounds {
		t.Errorf("stored %d reports, want %d", n, rounds)
	}
}

func testReplicasMigrate(t *testing.T, open Opener) {
	const n = 4
	stores := make([]store.Store, n)
	errs := make([]error, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			stores[i], errs[i] = open(context.Background())
		})
	}
	start.Done()
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("replica %d: open: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = s.Close() })
	}
	for i, s := range stores {
		res := insert(t, s, NewReport(fmt.Sprintf("install-%d", i), 1, base))
		if res.Duplicate {
			t.Errorf("replica %d: fresh report is a duplicate", i)
		}
	}
	if got := latest(t, stores[0], time.Time{}); len(got) != n {
		t.Errorf("latest: %d reports, want %d", len(got), n)
	}
}

// history returns days of history until until, failing the test on error.
func history(t testing.TB, s store.Store, until time.Time, days int) []store.Day {
	t.Helper()
	h, err := s.History(context.Background(), until, days)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	return h
}

func sameDays(t testing.TB, got, want []store.Day) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("history: %d days, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].Date.Equal(want[i].Date) || got[i].Installs != want[i].Installs || got[i].Nodes != want[i].Nodes {
			t.Errorf("day %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func testDuplicateLaterDay(t *testing.T, open Opener) {
	s := openT(t, open)
	day := func(n int) time.Time { return time.Date(2026, 3, n, 0, 0, 0, 0, time.UTC) }
	r := NewReport("quiet", 7, day(1).Add(9*time.Hour))
	r.ID = insert(t, s, r).ID
	// The same bytes every 24 hours while nothing changes; nothing on
	// March 3.
	for _, at := range []time.Time{day(2).Add(9 * time.Hour), day(4).Add(9 * time.Hour), day(10).Add(9 * time.Hour)} {
		again := r
		again.ReceivedAt = at
		if res := insert(t, s, again); !res.Duplicate || res.ID != "" {
			t.Fatalf("insert on %v: %+v, want a duplicate without id", at, res)
		}
	}
	// A window that begins after the first arrival still holds it.
	got := latest(t, s, day(10))
	if len(got) != 1 {
		t.Fatalf("latest since March 10: %d reports, want 1 (the duplicate of that day)", len(got))
	}
	sameReport(t, got[0], r) // the first arrival's receive time
	if want := day(10).Add(9 * time.Hour); !got[0].LastSeenAt.Equal(want) || got[0].LastSeenAt.Location() != time.UTC {
		t.Errorf("last seen %v, want %v in UTC", got[0].LastSeenAt, want)
	}
	if got := latest(t, s, day(10).Add(10*time.Hour)); len(got) != 0 {
		t.Errorf("latest since after the last duplicate: %d reports, want 0", len(got))
	}
	sameDays(t, history(t, s, day(5), 5), []store.Day{
		{Date: day(1), Installs: 1, Nodes: 7},
		{Date: day(2), Installs: 1, Nodes: 7},
		{Date: day(3)},
		{Date: day(4), Installs: 1, Nodes: 7},
		{Date: day(5)},
	})
	if n := count(t, s); n != 1 {
		t.Errorf("stored %d reports, want 1", n)
	}
}

func testDuplicateRevert(t *testing.T, open Opener) {
	s := openT(t, open)
	x := NewReport("a", 3, base)
	y := NewReport("a", 5, base.Add(time.Hour))
	x.ID = insert(t, s, x).ID
	y.ID = insert(t, s, y).ID
	// The install goes back to what it sent first: the same key again.
	again := x
	again.ReceivedAt = base.Add(2 * time.Hour)
	if res := insert(t, s, again); !res.Duplicate {
		t.Fatalf("insert of x again: %+v, want a duplicate", res)
	}
	got := latest(t, s, base.Add(-time.Hour))
	if len(got) != 1 {
		t.Fatalf("latest: %d reports, want 1", len(got))
	}
	sameReport(t, got[0], x)
	// That day's history has the nodes of the report seen last.
	sameDays(t, history(t, s, base, 1), []store.Day{{Date: base.Truncate(24 * time.Hour), Installs: 1, Nodes: 3}})
}

func testDuplicateLate(t *testing.T, open Opener) {
	s := openT(t, open)
	r := NewReport("a", 3, base)
	insert(t, s, r)
	later := r
	later.ReceivedAt = base.Add(3 * time.Hour)
	insert(t, s, later)
	// A retry that was held up somewhere arrives with an older time.
	late := r
	late.ReceivedAt = base.Add(time.Hour)
	insert(t, s, late)
	got := latest(t, s, base.Add(2*time.Hour))
	if len(got) != 1 || !got[0].LastSeenAt.Equal(later.ReceivedAt) {
		t.Errorf("latest: %+v, want the report last seen at %v", got, later.ReceivedAt)
	}
}

func testPruneSeenAgain(t *testing.T, open Opener) {
	s := openT(t, open)
	r := NewReport("a", 3, base.AddDate(0, 0, -30))
	insert(t, s, r)
	again := r
	again.ReceivedAt = base
	insert(t, s, again)
	n, err := s.Prune(context.Background(), base.AddDate(0, 0, -1))
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	if n != 0 {
		t.Errorf("prune deleted %d reports, want 0: the report was seen since the cut", n)
	}
	if got := latest(t, s, base); len(got) != 1 {
		t.Errorf("latest after prune: %d reports, want 1", len(got))
	}
	// The old day's sighting is gone, today's stays.
	h := history(t, s, base, 31)
	if h[0].Installs != 0 || h[30].Installs != 1 || h[30].Nodes != 3 {
		t.Errorf("history after prune: first day %+v, last day %+v; want none, then 1 install with 3 nodes", h[0], h[30])
	}
}

func testReplicasDuplicateSightings(t *testing.T, open Opener) {
	replicas := []store.Store{openT(t, open), openT(t, open)}
	r := NewReport("busy", 4, base)
	r.ID = insert(t, replicas[0], r).ID
	// Retries of the same report, on a later day, reach both replicas at
	// once; each carries its own receive time.
	const perReplica = 8
	next := base.AddDate(0, 0, 1)
	var newest atomic.Int64
	var start, wg sync.WaitGroup
	start.Add(1)
	for ri, s := range replicas {
		for i := range perReplica {
			wg.Go(func() {
				start.Wait()
				again := r
				again.ReceivedAt = next.Add(time.Duration(ri*perReplica+i) * time.Second)
				res, err := s.Insert(context.Background(), again)
				if err != nil {
					t.Errorf("insert: %v", err)
					return
				}
				if !res.Duplicate {
					t.Errorf("insert of a stored report: %+v, want a duplicate", res)
				}
				for {
					cur := newest.Load()
					if at := again.ReceivedAt.UnixMicro(); at <= cur || newest.CompareAndSwap(cur, at) {
						break
					}
				}
			})
		}
	}
	start.Done()
	wg.Wait()
	want := time.UnixMicro(newest.Load()).UTC()
	for i, s := range replicas {
		got := latest(t, s, next)
		if len(got) != 1 || got[0].ID != r.ID || !got[0].LastSeenAt.Equal(want) {
			t.Errorf("replica %d: latest %+v, want report %s last seen at %v", i, got, r.ID, want)
		}
		sameDays(t, history(t, s, next, 2), []store.Day{
			{Date: base.Truncate(24 * time.Hour), Installs: 1, Nodes: 4},
			{Date: next.Truncate(24 * time.Hour), Installs: 1, Nodes: 4},
		})
	}
	if n := count(t, replicas[0]); n != 1 {
		t.Errorf("stored %d reports, want 1", n)
	}
}

// BenchInsert inserts distinct reports from b.RunParallel goroutines.
func BenchInsert(b *testing.B, open Opener) {
	s := openT(b, open)
	var seq atomic.Int64
	payload := bytes.Repeat([]byte("x"), 4096)
	b.ReportAllocs()
	b.SetParallelism(8) // collectors serve many requests at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			r := store.Report{
				IdempotencyKey: fmt.Sprintf("bench-%d", i),
				InstallUUID:    fmt.Sprintf("install-%d", i%1000),
				SchemaVersion:  "1",
				ReceivedAt:     base.Add(time.Duration(i) * time.Millisecond),
				Nodes:          i % 50,
				Payload:        payload,
			}
			if _, err := s.Insert(context.Background(), r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
