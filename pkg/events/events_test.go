package events

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// memStore is a Store in memory that can be made to fail.
type memStore struct {
	mu    sync.Mutex
	state *State
	saves int
	fail  error
}

func (m *memStore) Load(context.Context) (*State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == nil {
		return nil, nil
	}
	c := *m.state
	return &c, nil
}

func (m *memStore) Save(_ context.Context, s *State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.saves++
	m.state = s
	return nil
}

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func id(name string) string { return "id-" + name }

func newLog(t *testing.T, store Store, size int) (*Log, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	l, err := New(Options{Size: size, ID: id, Store: store, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

func start(t *testing.T, l *Log) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// kinds returns the events as "type cluster from->to".
func kinds(ev []snapshot.Event) []string {
	out := []string{}
	for _, e := range ev {
		switch e.Type {
		case snapshot.ClusterUpgraded:
			out = append(out, fmt.Sprintf("%d %s %s %s->%s", e.Seq, e.Type, e.ClusterID, e.FromVersion, e.ToVersion))
		default:
			out = append(out, fmt.Sprintf("%d %s %s %d->%d", e.Seq, e.Type, e.ClusterID, e.FromNodes, e.ToNodes))
		}
	}
	return out
}

func check(t *testing.T, got snapshot.Events, want ...string) {
	t.Helper()
	if g := kinds(got.Items); !reflect.DeepEqual(g, append([]string{}, want...)) {
		t.Errorf("events = %q\nwant     %q", g, want)
	}
}

func TestInitialStateIsNoEvent(t *testing.T) {
	store := &memStore{}
	l, _ := newLog(t, store, 0)
	l.Track("secret")
	l.Observe("c-1", true, "v1.31.2", 3)
	l.Observe("local", true, "v1.32.4+rke2r1", 1)
	start(t, l)
	check(t, l.Pending("secret"))
	l.Flush(context.Background())
	want := map[string]Census{"id-c-1": {Version: "v1.31.2", Nodes: 3}, "id-local": {Version: "v1.32.4+rke2r1", Nodes: 1}}
	if store.state == nil || !reflect.DeepEqual(store.state.Clusters, want) {
		t.Fatalf("saved clusters = %+v, want %+v", store.state, want)
	}
}

func TestLifecycle(t *testing.T) {
	l, clk := newLog(t, nil, 0)
	l.Track("secret")
	l.Observe("c-1", true, "v1.30.1", 2)
	start(t, l)
	clk.Step(time.Minute)
	l.Observe("c-2", true, "", 0)         // created, nothing known yet
	l.Observe("c-2", true, "v1.31.0", 0)  // first version known: part of the creation
	l.Observe("c-1", true, "v1.31.4", 2)  // upgraded
	l.Observe("c-1", true, "", 2)         // version unreadable: no event
	l.Observe("c-1", true, "v1.31.4", 5)  // grown
	l.Observe("c-1", false, "v1.31.4", 5) // deleted
	l.Observe("c-9", false, "", 0)        // never existed: nothing
	l.Observe("c-3", true, "v1.29.0+k3s1", 0)
	got := l.Pending("secret")
	check(t, got,
		"1 clusterCreated id-c-2 0->0",
		"2 clusterUpgraded id-c-1 v1.30.1->v1.31.4",
		"3 nodePoolGrown id-c-1 2->5",
		"4 clusterDeleted id-c-1 5->0",
		"5 clusterCreated id-c-3 0->0",
	)
	if e := got.Items[0]; e.ToVersion != "v1.31.0" {
		t.Errorf("created event = %+v, want the version read after it", e)
	}
	if e := got.Items[3]; e.FromVersion != "v1.31.4" || e.FromNodes != 5 {
		t.Errorf("deleted event = %+v, want the version and nodes it had", e)
	}
	if e := got.Items[4]; e.ToVersion != "v1.29.0+k3s1" || !e.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("created event = %+v", e)
	}
	if got.LossWindow != DefaultFlushInterval || got.Dropped != 0 {
		t.Errorf("loss window %s, dropped %d", got.LossWindow, got.Dropped)
	}
}

func TestVersionsAreCleaned(t *testing.T) {
	l, _ := newLog(t, nil, 0)
	l.Track("secret")
	l.Observe("c-1", true, "v1.30.1", 1)
	start(t, l)
	l.Observe("c-1", true, "v1.31.0+build.db01.corp.example", 1)
	got := l.Pending("secret")
	check(t, got, "1 clusterUpgraded id-c-1 v1.30.1->other")
}

func TestPoolChangesCoalesceUntilHanded(t *testing.T) {
	l, _ := newLog(t, nil, 0)
	l.Track("secret")
	l.Observe("c-1", true, "v1.30.1", 3)
	start(t, l)
	for n := 4; n <= 10; n++ {
		l.Observe("c-1", true, "v1.30.1", n)
	}
	check(t, l.Pending("secret"), "1 nodePoolGrown id-c-1 3->10")
	// Handed out: the next change is an event of its own.
	l.Observe("c-1", true, "v1.30.1", 8)
	l.Observe("c-1", true, "v1.30.1", 7)
	check(t, l.Pending("secret"), "1 nodePoolGrown id-c-1 3->10", "2 nodePoolShrunk id-c-1 10->7")
	// Growing back to where the unhanded event started cancels it.
	l.Observe("c-1", true, "v1.30.1", 9)
	l.Observe("c-1", true, "v1.30.1", 10)
	ev := l.Pending("secret")
	check(t, ev, "1 nodePoolGrown id-c-1 3->10", "2 nodePoolShrunk id-c-1 10->7", "3 nodePoolGrown id-c-1 7->10")
	l.Delivered("secret", ev)
	l.Observe("c-1", true, "v1.30.1", 11)
	l.Observe("c-1", true, "v1.30.1", 10)
	check(t, l.Pending("secret"))
	if s := l.Stats(); s.NextSeq != 4 {
		t.Errorf("next seq %d, want 4: a cancelled event leaves no gap", s.NextSeq)
	}
	// A new cluster's nodes joining fold into its creation.
	l.Observe("c-2", true, "v1.30.1", 0)
	l.Observe("c-2", true, "v1.30.1", 1)
	l.Observe("c-2", true, "v1.30.1", 2)
	check(t, l.Pending("secret"), "4 clusterCreated id-c-2 0->2")
}

func TestEachExporterHasItsCursor(t *testing.T) {
	l, _ := newLog(t, nil, 0)
	l.Track("secret")
	l.Track("http")
	start(t, l)
	l.Observe("c-1", true, "v1.30.1", 1)
	l.Observe("c-2", true, "v1.30.1", 1)
	sec := l.Pending("secret")
	if more := l.Delivered("secret", sec); more {
		t.Error("Delivered says more wait")
	}
	check(t, l.Pending("secret"))
	check(t, l.Pending("http"), "1 clusterCreated id-c-1 0->1", "2 clusterCreated id-c-2 0->1")
	if s := l.Stats(); s.Buffered != 2 {
		t.Errorf("buffered %d, want 2: http has not delivered them", s.Buffered)
	}
	l.Delivered("http", l.Pending("http"))
	if s := l.Stats(); s.Buffered != 0 {
		t.Errorf("buffered %d, want 0 once both delivered", s.Buffered)
	}
	// An exporter that never delivers (untracked) has nothing.
	check(t, l.Pending("scc"))
}

func TestFullBufferDropsOldestAndCountsThem(t *testing.T) {
	drops := 0
	l, err := New(Options{Size: 3, ID: id, OnDrop: func() { drops++ }, Clock: clocktesting.NewFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	l.Track("http")
	l.Track("secret")
	start(t, l)
	for i := range 5 {
		l.Observe(fmt.Sprintf("c-%d", i), true, "", 0)
	}
	ev := l.Pending("http")
	check(t, ev, "3 clusterCreated id-c-2 0->0", "4 clusterCreated id-c-3 0->0", "5 clusterCreated id-c-4 0->0")
	if ev.Dropped != 2 || drops != 2 {
		t.Errorf("dropped %d (callback %d), want 2", ev.Dropped, drops)
	}
	l.Delivered("http", ev)
	if ev := l.Pending("http"); ev.Dropped != 0 || len(ev.Items) != 0 {
		t.Errorf("after delivery: %+v, want nothing and no drops", ev)
	}
	// secret delivers only after one more drop.
	l.Observe("c-5", true, "", 0)
	ev = l.Pending("secret")
	if ev.Dropped != 3 || len(ev.Items) != 3 {
		t.Errorf("secret: %d items, %d dropped, want 3 and 3", len(ev.Items), ev.Dropped)
	}
}

func TestManyEventsSpanReports(t *testing.T) {
	l, _ := newLog(t, nil, MaxSize)
	l.Track("http")
	start(t, l)
	for i := range MaxPerReport + 10 {
		l.Observe(fmt.Sprintf("c-%d", i), true, "", 0)
	}
	ev := l.Pending("http")
	if len(ev.Items) != MaxPerReport {
		t.Fatalf("%d events in one report, want %d", len(ev.Items), MaxPerReport)
	}
	if !l.Delivered("http", ev) {
		t.Error("Delivered says nothing more waits")
	}
	ev = l.Pending("http")
	if len(ev.Items) != 10 || ev.Items[0].Seq != MaxPerReport+1 {
		t.Fatalf("second report: %d events from seq %d", len(ev.Items), ev.Items[0].Seq)
	}
	if l.Delivered("http", ev) {
		t.Error("Delivered says more wait after the last")
	}
}

func TestRestartKeepsWhatWasNotDelivered(t *testing.T) {
	store := &memStore{}
	l, _ := newLog(t, store, 0)
	l.Track("secret")
	l.Track("http")
	l.Observe("c-1", true, "v1.30.1", 2)
	start(t, l)
	l.Observe("c-2", true, "v1.30.1", 1)
	l.Observe("c-1", true, "v1.31.0", 2)
	l.Delivered("secret", l.Pending("secret"))
	l.Flush(context.Background())

	// A new process: the same caches, one cluster upgraded and one
	// deleted while it was down, and an exporter no longer configured.
	l2, clk2 := newLog(t, store, 0)
	clk2.Step(time.Hour)
	l2.Track("http")
	l2.Track("scc2")
	l2.Observe("c-1", true, "v1.32.0", 2)
	l2.Observe("c-3", true, "v1.30.1", 4)
	start(t, l2)
	check(t, l2.Pending("http"),
		"1 clusterCreated id-c-2 0->1",
		"2 clusterUpgraded id-c-1 v1.30.1->v1.31.0",
		"3 clusterUpgraded id-c-1 v1.31.0->v1.32.0",
		"4 clusterDeleted id-c-2 1->0",
		"5 clusterCreated id-c-3 0->4",
	)
	// A new exporter starts at the oldest event still buffered.
	check(t, l2.Pending("scc2"), kinds(l2.Pending("http").Items)...)
	check(t, l2.Pending("secret"))
	if _, ok := l2.Stats().Cursors["secret"]; ok {
		t.Error("the cursor of an exporter no longer configured was kept")
	}
	if got := l2.Pending("http").Items[2].Time; !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("a change found at start has time %s, want the start's", got)
	}
}

func TestFailedSaveIsRetried(t *testing.T) {
	store := &memStore{fail: errors.New("etcd is down")}
	l, _ := newLog(t, store, 0)
	l.Track("secret")
	start(t, l)
	l.Observe("c-1", true, "v1.30.1", 1)
	l.Flush(context.Background())
	if store.state != nil {
		t.Fatal("saved while the store fails")
	}
	store.mu.Lock()
	store.fail = nil
	store.mu.Unlock()
	l.Flush(context.Background())
	if store.state == nil || len(store.state.Events) != 1 {
		t.Fatalf("after the store recovered: %+v, want the event saved", store.state)
	}
	saves := store.saves
	l.Flush(context.Background())
	if store.saves != saves {
		t.Error("saved again with nothing changed")
	}
}

func TestSizeIsChecked(t *testing.T) {
	for _, size := range []int{-1, MaxSize + 1} {
		if _, err := New(Options{Size: size, ID: id}); !errors.Is(err, ErrSize) {
			t.Errorf("size %d: %v, want ErrSize", size, err)
		}
	}
}

func TestConfigMapStore(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	s := &ConfigMapStore{Client: client.CoreV1(), Namespace: "cattle-telemetry-system", Name: DefaultConfigMapName}
	if st, err := s.Load(ctx); st != nil || err != nil {
		t.Fatalf("Load of nothing = %v, %v", st, err)
	}
	want := &State{Version: StateVersion, NextSeq: 2, Events: []StoredEvent{{Seq: 1, Time: t0, Type: snapshot.ClusterCreated, ClusterID: "abc", ToNodes: 3}},
		Cursors: map[string]uint64{"secret": 0}, Clusters: map[string]Census{"abc": {Version: "v1.30.1", Nodes: 3}}}
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	want.NextSeq = 3
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	// Someone else replaced it: the next save overwrites it.
	_, err := client.CoreV1().ConfigMaps("cattle-telemetry-system").Update(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultConfigMapName, Namespace: "cattle-telemetry-system", ResourceVersion: "999"},
		Data:       map[string]string{StateKey: "{broken"},
	}, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s2 := &ConfigMapStore{Client: client.CoreV1(), Namespace: "cattle-telemetry-system", Name: DefaultConfigMapName}
	if st, err := s2.Load(ctx); err != nil || st == nil || st.Version == StateVersion {
		t.Fatalf("Load of a broken state = %+v, %v, want an unknown layout", st, err)
	}
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s2.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v\nwant %+v", got, want)
	}
}
