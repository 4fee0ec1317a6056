package gatherer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// fed is a gatherer fed by its Handlers, as the informers feed it, with a
// count of the OnChange calls.
type fed struct {
	*Gatherer
	changes int
}

func newFed(t testing.TB, mode snapshot.Mode) *fed {
	t.Helper()
	f := &fed{}
	install := snapshot.Install{ClusterUUID: "ks-uid", Version: "v2.12.0", GitCommit: "abc123"}
	if mode == snapshot.ModeKubernetes {
		install.InstallUUID = "5e0a1c2d-7b3f-4a9e-8c6d-2f1e0d9c8b7a"
	}
	g, err := New(Config{Mode: mode, UseHandlers: true, Install: install, OnChange: func() { f.changes++ }})
	if err != nil {
		t.Fatal(err)
	}
	f.Gatherer = g
	return f
}

func kindOf(obj any) Kind {
	switch obj.(type) {
	case *v3.Cluster:
		return KindCluster
	case *v3.Node:
		return KindNode
	case *v3.Setting:
		return KindSetting
	case *v3.Feature:
		return KindFeature
	case *corev1.Node:
		return KindCoreNode
	}
	panic(fmt.Sprintf("no kind for %T", obj))
}

func (f *fed) add(objs ...runtime.Object) {
	for _, o := range objs {
		f.Handlers(kindOf(o)).OnAdd(o, false)
	}
}

func (f *fed) update(old, obj runtime.Object) { f.Handlers(kindOf(obj)).OnUpdate(old, obj) }

func (f *fed) remove(obj runtime.Object) { f.Handlers(kindOf(obj)).OnDelete(obj) }

func (f *fed) snapshot(t *testing.T) *snapshot.Snapshot {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	checkProfiles(t, s)
	checkNodeCounts(t, s)
	return s
}

// checkNodeCounts fails t unless each cluster's kept node and role counts
// are those of its shapes.
func checkNodeCounts(t testing.TB, s *snapshot.Snapshot) {
	t.Helper()
	for _, c := range s.Clusters {
		n := 0
		var roles snapshot.Roles
		for _, sh := range c.Shapes {
			n += sh.Count
			roles.Add(&sh.Node, sh.Count)
		}
		if c.Nodes != n || c.Roles != roles {
			t.Fatalf("cluster %s keeps %d nodes with roles %+v; its shapes count %d with %+v", c.Name, c.Nodes, c.Roles, n, roles)
		}
	}
}

// checkProfiles fails t unless the profile counts the gatherer keeps as
// events come are the ones counted from the snapshot's clusters.
func checkProfiles(t testing.TB, s *snapshot.Snapshot) {
	t.Helper()
	if s.Profiles == nil {
		return
	}
	derived := *s
	derived.Profiles = nil
	if want := snapshot.ProfilesOf(&derived); !reflect.DeepEqual(s.Profiles, want) {
		t.Fatalf("kept profiles\n%+v\nwant, counted from the clusters\n%+v", s.Profiles, want)
	}
}

// TestProfilesFollowEveryEvent: after each of a long random run of
// creates, updates and deletes of clusters and nodes (orphans, invalid
// nodes and the upstream cluster among them), the profile counts kept
// incrementally are those counted from the snapshot.
func TestProfilesFollowEveryEvent(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	f.add(setting(SettingInstallUUID, "u-1", ""))
	r := rand.New(rand.NewPCG(7, 8))
	clusters := []string{"local", "c-1", "c-2", "c-3"}
	cpus := []string{"2", "4", "3500m", "bad"}
	archs := []string{"amd64", "arm64"}
	live := map[string]*v3.Node{}
	present := map[string]*v3.Cluster{}
	for step := range 2000 {
		name := clusters[r.IntN(len(clusters))]
		switch op := r.IntN(10); {
		case op == 0:
			if c, ok := present[name]; ok {
				f.remove(c)
				delete(present, name)
			} else {
				c := cluster(name, "v1.32.4", "rke2", v3.ResourceList{})
				f.add(c)
				present[name] = c
			}
		default:
			key := fmt.Sprintf("%s/m-%d", name, r.IntN(6))
			ns, n, _ := strings.Cut(key, "/")
			if old, ok := live[key]; ok && op == 1 {
				f.remove(old)
				delete(live, key)
				break
			}
			nn := withRV(node(ns, n, archs[r.IntN(2)], cpus[r.IntN(len(cpus))], "4Gi", "worker"), fmt.Sprint(step))
			if old, ok := live[key]; ok {
				f.update(old, nn)
			} else {
				f.add(nn)
			}
			live[key] = nn
		}
		s := f.snapshot(t)
		if s.Profiles == nil {
			t.Fatalf("step %d: no profiles kept", step)
		}
	}
}

func withRV(n *v3.Node, rv string) *v3.Node {
	n.ResourceVersion = rv
	return n
}

// TestHandlersGiveTheSnapshotOfTheCaches: the same objects fed through the
// handlers, in any order, give the snapshot that listing them gives.
func TestHandlersGiveTheSnapshotOfTheCaches(t *testing.T) {
	objs := append(sampleObjects(), setting(SettingInstallUUID, "", "6c3b4f44-1a6e-4e43-9d3d-5b7d0d1f2a10"))
	want, err := newRancher(t, nil, sampleObjects()...).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5 {
		t.Run(fmt.Sprint("order ", i), func(t *testing.T) {
			r.Shuffle(len(objs), func(a, b int) { objs[a], objs[b] = objs[b], objs[a] })
			f := newFed(t, snapshot.ModeRancher)
			f.add(objs...)
			got := f.snapshot(t)
			if !reflect.DeepEqual(got.Clusters, want.Clusters) || !reflect.DeepEqual(got.Install, want.Install) ||
				fmt.Sprint(got.Problems) != fmt.Sprint(want.Problems) {
				t.Fatalf("fed snapshot\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// TestUpdateOfUnreadFieldsTriggersNothing: a status heartbeat gives a node
// a new resourceVersion and changes nothing the gatherer reads; it must
// not call OnChange. A changed capacity must, and shows in the snapshot.
func TestUpdateOfUnreadFieldsTriggersNothing(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	f.add(setting(SettingInstallUUID, "u-1", ""), cluster("local", "v1.32.4", "rke2", v3.ResourceList{}))
	old := withRV(node("local", "m-1", "amd64", "4", "16Gi", "worker"), "1")
	f.add(old)
	before := f.changes

	beat := withRV(node("local", "m-1", "amd64", "4", "16Gi", "worker"), "2")
	f.update(old, beat)
	if f.changes != before {
		t.Fatalf("heartbeat called OnChange %d times", f.changes-before)
	}
	grown := withRV(node("local", "m-1", "amd64", "8", "16Gi", "worker"), "3")
	f.update(beat, grown)
	if f.changes != before+1 {
		t.Fatalf("capacity change called OnChange %d times, want 1", f.changes-before)
	}
	if tot := f.snapshot(t).Totals(); tot.CPUMillicores != 8000 || tot.Nodes != 1 {
		t.Fatalf("totals after the update = %+v, want one node of 8 cores", tot)
	}
	f.update(grown, withRV(node("local", "m-1", "amd64", "8", "16Gi", "worker", "etcd"), "4"))
	if f.changes != before+2 {
		t.Fatal("a role change did not call OnChange")
	}
}

// TestUnreadSettingsAndSameFeaturesTriggerNothing: Settings the gatherer
// does not read, and Features whose state is the same, change no record.
func TestUnreadSettingsAndSameFeaturesTriggerNothing(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	f.add(feature("fleet", nil, ptr(true), nil))
	before := f.changes
	f.add(setting("ui-brand", "suse", ""))
	f.update(feature("fleet", nil, ptr(true), nil), feature("fleet", ptr(true), ptr(true), nil))
	if f.changes != before {
		t.Fatalf("OnChange called %d times, want none", f.changes-before)
	}
	f.update(feature("fleet", nil, ptr(true), nil), feature("fleet", ptr(false), ptr(true), nil))
	f.add(setting(SettingServerURL, "https://rancher.example.com", ""))
	if f.changes != before+2 {
		t.Fatalf("OnChange called %d times, want 2 (feature disabled, server-url set)", f.changes-before)
	}
}

// TestOrphanFollowsItsCluster: a node whose Cluster does not exist yet is
// an orphan; it becomes valid when its Cluster arrives and an orphan again
// when it goes.
func TestOrphanFollowsItsCluster(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	f.add(setting(SettingInstallUUID, "u-1", ""), node("c-new", "m-1", "amd64", "2", "4Gi", "worker"))
	check := func(nodes, orphans int) {
		t.Helper()
		s := f.snapshot(t)
		if tot := s.Totals(); tot.Nodes != nodes || s.OrphanNodes != orphans {
			t.Fatalf("nodes %d, orphans %d; want %d and %d", tot.Nodes, s.OrphanNodes, nodes, orphans)
		}
		if orphans > 0 && (len(s.Problems) != 1 || !errors.Is(s.Problems[0], ErrNoCluster)) {
			t.Fatalf("problems %v, want ErrNoCluster", s.Problems)
		}
	}
	check(0, 1)
	c := cluster("c-new", "v1.31.2+k3s1", "k3s", v3.ResourceList{})
	f.add(c)
	check(1, 0)
	f.remove(c)
	check(0, 1)
	f.add(c)
	f.remove(node("c-new", "m-1", "amd64", "2", "4Gi", "worker"))
	if s := f.snapshot(t); len(s.Clusters) != 1 || s.Clusters[0].NodeCount() != 0 || s.Clusters[0].CapacitySource != snapshot.Unknown {
		t.Fatalf("after the node's deletion: %+v", s.Clusters)
	}
}

// TestDeleteTombstoneRemovesTheNode: a deletion the informer saw only as a
// tombstone takes the node out of the sums.
func TestDeleteTombstoneRemovesTheNode(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	n := node("local", "m-1", "amd64", "2", "4Gi", "worker")
	f.add(setting(SettingInstallUUID, "u-1", ""), cluster("local", "v1", "rke2", v3.ResourceList{}), n,
		node("local", "m-2", "amd64", "2", "4Gi", "worker"))
	f.Handlers(KindNode).OnDelete(cache.DeletedFinalStateUnknown{Key: "local/m-1", Obj: n})
	if tot := f.snapshot(t).Totals(); tot.Nodes != 1 || tot.CPUMillicores != 2000 {
		t.Fatalf("totals = %+v, want the one node left", tot)
	}
}

// TestInvalidNodeBecomesValid: fixing a node's quantity moves it from the
// invalid count to the sums, and its problem goes.
func TestInvalidNodeBecomesValid(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	bad := node("local", "m-1", "amd64", "abc", "4Gi", "worker")
	f.add(setting(SettingInstallUUID, "u-1", ""), cluster("local", "v1", "rke2", v3.ResourceList{}), bad)
	s := f.snapshot(t)
	if tot := s.Totals(); tot.InvalidNodes != 1 || len(s.Problems) != 1 || !errors.Is(s.Problems[0], ErrBadCPU) {
		t.Fatalf("totals %+v, problems %v; want one invalid node", tot, s.Problems)
	}
	f.update(bad, node("local", "m-1", "amd64", "2", "4Gi", "worker"))
	s = f.snapshot(t)
	if tot := s.Totals(); tot.InvalidNodes != 0 || tot.Nodes != 1 || len(s.Problems) != 0 {
		t.Fatalf("totals %+v, problems %v; want one valid node", tot, s.Problems)
	}
}

// TestOverflowIsRefusedInNameOrderWhateverTheEventOrder: when the sums do
// not fit, the node refused is the last in name order, however the events
// came.
func TestOverflowIsRefusedInNameOrderWhateverTheEventOrder(t *testing.T) {
	n := int(math.MaxInt64/MaxNodeBytes) + 1
	objs := []runtime.Object{setting(SettingInstallUUID, "u-1", ""), cluster("local", "v1.32.4", "rke2", v3.ResourceList{})}
	for i := range n {
		objs = append(objs, node("local", fmt.Sprintf("m-%04d", i), "amd64", "1", "4Pi"))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 3 {
		r.Shuffle(len(objs), func(a, b int) { objs[a], objs[b] = objs[b], objs[a] })
		f := newFed(t, snapshot.ModeRancher)
		f.add(objs...)
		s := f.snapshot(t)
		want := fmt.Sprintf("Node local/m-%04d", n-1)
		if len(s.Problems) != 1 || s.Problems[0].Object != want || !errors.Is(s.Problems[0], ErrOutOfRange) {
			t.Fatalf("problems %v, want %s refused", s.Problems, want)
		}
		// Taking one node away makes the rest fit: the fast path again.
		f.remove(node("local", "m-0000", "amd64", "1", "4Pi"))
		s = f.snapshot(t)
		if tot := s.Totals(); len(s.Problems) != 0 || tot.Nodes != n-1 || tot.MemoryBytes != int64(n-1)*MaxNodeBytes {
			t.Fatalf("after a deletion: totals %+v, problems %v", tot, s.Problems)
		}
	}
}

// TestKubernetesModeThroughHandlers: core Nodes fed by events, with the
// provider guessed from the first node in name order that names one.
func TestKubernetesModeThroughHandlers(t *testing.T) {
	f := newFed(t, snapshot.ModeKubernetes)
	b := coreNodeObj("b", "2", "4Gi", LabelWorker)
	b.Status.NodeInfo.KubeletVersion = "v1.31.2+k3s1"
	a := coreNodeObj("a", "2", "4Gi", LabelControlPlane)
	a.Status.NodeInfo.KubeletVersion = "v1.32.4+rke2r1"
	f.add(b)
	if c := f.snapshot(t).Clusters[0]; c.Provider != "k3s" || c.NodeCount() != 1 {
		t.Fatalf("cluster = %+v, want k3s with one node", c)
	}
	f.add(a)
	if c := f.snapshot(t).Clusters[0]; c.Provider != "rke2" || c.NodeCount() != 2 {
		t.Fatalf("cluster = %+v, want rke2 (node a first by name) with two nodes", c)
	}
	f.remove(a)
	if c := f.snapshot(t).Clusters[0]; c.Provider != "k3s" || c.NodeCount() != 1 {
		t.Fatalf("cluster = %+v, want k3s again", c)
	}
}

// TestInternedStringsAreReleased: values no record holds any more leave the
// intern table, so hostile churn cannot grow it.
func TestInternedStringsAreReleased(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	f.add(cluster("local", "v1", "rke2", v3.ResourceList{}))
	base := len(f.strs.m)
	for i := range 100 {
		n := node("local", "m-1", fmt.Sprintf("arch-%d", i), "2", "4Gi")
		f.add(n)
	}
	// One node holds 6: arch, OS, runtime, kubelet version and the two
	// quantities' texts.
	if got := len(f.strs.m); got > base+6 {
		t.Fatalf("intern table holds %d strings, want at most %d", got, base+6)
	}
	f.remove(node("local", "m-1", "x", "2", "4Gi"))
	f.remove(cluster("local", "v1", "rke2", v3.ResourceList{}))
	if got := len(f.strs.m); got != 0 {
		t.Fatalf("intern table holds %d strings with no record", got)
	}
}

func TestNewWithHandlersRefusesListers(t *testing.T) {
	s := NewStatic()
	cfg := s.Config(snapshot.ModeRancher, snapshot.Install{})
	cfg.UseHandlers = true
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted listers together with UseHandlers")
	}
	if _, err := New(Config{Mode: snapshot.ModeKubernetes}); err == nil {
		t.Fatal("New accepted kubernetes mode with neither a cache nor UseHandlers")
	}
}

// TestTransformedNodesAreTheCachedRecords: what NodeTransform makes of a
// Node is keyed as the Node is, holds no object, and fed to the handlers
// gives the snapshot the Node gives. A heartbeat's record takes the place
// of the old one, which is left as it was, and changes nothing.
func TestTransformedNodesAreTheCachedRecords(t *testing.T) {
	transform := func(obj runtime.Object) *nodeRecord {
		t.Helper()
		out, err := NodeTransform(obj)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := out.(*nodeRecord)
		if !ok || r.src != nil {
			t.Fatalf("NodeTransform(%T) = %T holding %T", obj, out, r.src)
		}
		return r
	}
	v3n := node("c-1", "m-1", "amd64", "2", "4Gi", "worker")
	core := coreNodeObj("n-1", "2", "4Gi", LabelWorker)
	for _, c := range []struct {
		obj runtime.Object
		key string
	}{{v3n, "c-1/m-1"}, {core, "n-1"}} {
		want, err := cache.MetaNamespaceKeyFunc(c.obj)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cache.MetaNamespaceKeyFunc(transform(c.obj))
		if err != nil || got != want || got != c.key {
			t.Fatalf("key of the record of %s = %q, %v; want %q", c.key, got, err, want)
		}
	}
	if out, _ := NodeTransform(cluster("c-1", "v1", "rke2", v3.ResourceList{})); out == nil {
		t.Fatal("NodeTransform dropped a Cluster")
	} else if _, ok := out.(*v3.Cluster); !ok {
		t.Fatalf("NodeTransform changed a Cluster into %T", out)
	}

	direct, fedRecords := newFed(t, snapshot.ModeRancher), newFed(t, snapshot.ModeRancher)
	base := []runtime.Object{setting(SettingInstallUUID, "u-1", ""), cluster("c-1", "v1.32.4", "rke2", v3.ResourceList{})}
	direct.add(append(base, withRV(node("c-1", "m-1", "amd64", "2", "4Gi", "worker"), "1"))...)
	fedRecords.add(base...)
	first := transform(withRV(node("c-1", "m-1", "amd64", "2", "4Gi", "worker"), "1"))
	fedRecords.Handlers(KindNode).OnAdd(first, false)
	if got, want := fedRecords.snapshot(t), direct.snapshot(t); !reflect.DeepEqual(got.Clusters, want.Clusters) {
		t.Fatalf("snapshot from records\n%+v\nwant\n%+v", got.Clusters, want.Clusters)
	}
	before := fedRecords.changes
	beat := transform(withRV(node("c-1", "m-1", "amd64", "2", "4Gi", "worker"), "2"))
	fedRecords.Handlers(KindNode).OnUpdate(first, beat)
	if fedRecords.changes != before {
		t.Fatal("a heartbeat's record called OnChange")
	}
	if kept := fedRecords.nodes["Node c-1/m-1"]; kept != beat || first.rv != "1" || beat.shape != first.shape {
		t.Fatalf("after the heartbeat the gatherer keeps rv %s (the new record: %v), the old record has rv %s", kept.rv, kept == beat, first.rv)
	}
	fedRecords.Handlers(KindNode).OnDelete(cache.DeletedFinalStateUnknown{Key: "c-1/m-1", Obj: beat})
	if s := fedRecords.snapshot(t); s.Totals().Nodes != 0 || len(fedRecords.nodes) != 0 {
		t.Fatalf("after the delete: %+v, %d records", s.Totals(), len(fedRecords.nodes))
	}
}
