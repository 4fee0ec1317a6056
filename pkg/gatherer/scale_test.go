package gatherer

import (
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// The sizes of DESIGN section 11: 2,000 clusters / 20,000 nodes and 60,000
// nodes, each with uniform and with all-distinct node shapes, in both modes.

// scale is one installation size. Clusters is 0 in kubernetes mode.
type scale struct {
	mode            snapshot.Mode
	clusters, nodes int
	distinct        bool
}

func (s scale) String() string {
	shape := "uniform"
	if s.distinct {
		shape = "distinct"
	}
	if s.mode == snapshot.ModeKubernetes {
		return fmt.Sprintf("%s/%dn/%s", s.mode, s.nodes, shape)
	}
	return fmt.Sprintf("%s/%dc-%dn/%s", s.mode, s.clusters, s.nodes, shape)
}

var scales = []scale{
	{snapshot.ModeRancher, 2000, 20000, false},
	{snapshot.ModeRancher, 2000, 20000, true},
	{snapshot.ModeRancher, 2000, 60000, false},
	{snapshot.ModeRancher, 2000, 60000, true},
	{snapshot.ModeKubernetes, 0, 60000, false},
	{snapshot.ModeKubernetes, 0, 60000, true},
}

var scaleVersions = []string{"v1.29.14+rke2r1", "v1.30.11+k3s1", "v1.31.9+rke2r1", "v1.32.4+rke2r1"}

// shape returns node i's CPU and memory as the object carries them and as
// exact integers. Uniform nodes are all 4 cores / 16393616Ki; distinct nodes
// each have their own millicores and memory, in the text forms real nodes
// use.
func shape(i int, distinct bool) (cpu, mem string, millis, bytes int64) {
	if !distinct {
		return "4", "16393616Ki", 4000, 16393616 << 10
	}
	millis = 1000 + int64(i) // 1000m .. 60999m: no two alike
	cpu = fmt.Sprintf("%dm", millis)
	if i%4 == 0 {
		cpu = fmt.Sprintf("%d.%03d", millis/1000, millis%1000)
	}
	kib := int64(4<<20) + int64(i)*8 // 4 GiB + i*8 KiB: no two alike
	mem = fmt.Sprintf("%dKi", kib)
	if i%2 == 1 {
		mem = fmt.Sprintf("%d", kib<<10)
	}
	return cpu, mem, millis, kib << 10
}

// buildRancher fills Static caches with a Rancher installation: clusters
// "local" and c-m-%08d with driver, provider, version and capacity, nodes
// spread evenly over them (the first three of each cluster are
// control-plane+etcd, the rest workers), the install-uuid setting and a
// few features.
func buildRancher(tb testing.TB, clusters, nodes int, distinct bool) (*Static, snapshot.Totals) {
	tb.Helper()
	s := NewStatic()
	var w snapshot.Totals // what a snapshot must show, from the integers the objects are made of
	w.Clusters = clusters
	names := make([]string, clusters)
	for c := range clusters {
		name := fmt.Sprintf("c-m-%08d", c)
		if c == 0 {
			name = snapshot.UpstreamClusterName
		}
		names[c] = name
		cl := &v3.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(fmt.Sprintf("uid-%s", name))}}
		cl.Status.Driver, cl.Status.Provider = "imported", "rke2"
		cl.Status.Version = v3.VersionInfo{GitVersion: scaleVersions[c%len(scaleVersions)]}
		cl.Status.Capacity = v3.Resources("40", "163936160Ki")
		mustAdd(tb, s, cl)
	}
	archs := []string{"amd64", "arm64"}
	for i := range nodes {
		c := i % clusters
		cpu, mem, millis, bytes := shape(i, distinct)
		n := &v3.Node{ObjectMeta: metav1.ObjectMeta{
			Namespace: names[c], Name: fmt.Sprintf("m-%08x", i), UID: types.UID(fmt.Sprintf("node-uid-%d", i)),
		}}
		first := i/clusters < 3
		n.Spec.ControlPlane, n.Spec.Etcd, n.Spec.Worker = first, first, !first
		st := &n.Status.InternalNodeStatus
		st.Capacity = v3.Resources(cpu, mem)
		st.Allocatable = v3.Resources(cpu, mem)
		st.NodeInfo = v3.NodeInfo{
			Architecture: "amd64", OperatingSystem: "linux", OSImage: "SUSE Linux Enterprise Server 15 SP6",
			KernelVersion: "6.4.0-150600.23.50-default", ContainerRuntimeVersion: "containerd://2.0.5-k3s1",
			KubeletVersion: scaleVersions[c%len(scaleVersions)],
		}
		if distinct {
			st.NodeInfo.Architecture = archs[i%len(archs)]
		}
		mustAdd(tb, s, n)
		w.Nodes++
		w.CPUMillicores += millis
		w.CPUCores += snapshot.CoresOf(millis)
		w.MemoryBytes += bytes
	}
	// Clusters without nodes report their own status.capacity.
	for c := nodes; c < clusters; c++ {
		w.CPUMillicores += 40000
		w.CPUCores += 40
		w.MemoryBytes += 163936160 << 10
	}
	mustAdd(tb, s, &v3.Setting{ObjectMeta: metav1.ObjectMeta{Name: SettingInstallUUID}, Value: "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11"})
	mustAdd(tb, s, &v3.Setting{ObjectMeta: metav1.ObjectMeta{Name: SettingServerVersion}, Value: "v2.12.1"})
	mustAdd(tb, s, &v3.Setting{ObjectMeta: metav1.ObjectMeta{Name: SettingServerURL}, Value: "https://rancher.example.com"})
	on, off := true, false
	for _, f := range []struct {
		name string
		def  *bool
	}{{"fleet", &on}, {"harvester", &on}, {"multi-cluster-management", &on}, {"rke1-ui", &off}} {
		ft := &v3.Feature{ObjectMeta: metav1.ObjectMeta{Name: f.name}}
		ft.Status.Default = f.def
		mustAdd(tb, s, ft)
	}
	return s, w
}

// buildKubernetes fills Static caches with core/v1 Nodes of one cluster,
// as the kubernetes-mode transform leaves them: role labels, capacity,
// allocatable and system info.
func buildKubernetes(tb testing.TB, nodes int, distinct bool) (*Static, snapshot.Totals) {
	tb.Helper()
	s := NewStatic()
	var w snapshot.Totals // what a snapshot must show, from the integers the objects are made of
	w.Clusters = 1
	for i := range nodes {
		cpu, mem, millis, bytes := shape(i, distinct)
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%08x", i), UID: types.UID(fmt.Sprintf("uid-%d", i))}}
		if i < 3 {
			n.Labels = map[string]string{LabelControlPlane: "true", LabelEtcd: "true"}
		} else {
			n.Labels = map[string]string{LabelWorker: "true"}
		}
		list := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpu),
			corev1.ResourceMemory: resource.MustParse(mem),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
		n.Status.Capacity, n.Status.Allocatable = list, list.DeepCopy()
		n.Status.NodeInfo = corev1.NodeSystemInfo{
			Architecture: "amd64", OperatingSystem: "linux", OSImage: "SUSE Linux Enterprise Server 15 SP6",
			KernelVersion: "6.4.0-150600.23.50-default", ContainerRuntimeVersion: "containerd://2.0.5-k3s1",
			KubeletVersion: "v1.32.4+rke2r1",
		}
		if distinct && i%2 == 1 {
			n.Status.NodeInfo.Architecture = "arm64"
		}
		mustAdd(tb, s, n)
		w.Nodes++
		w.CPUMillicores += millis
		w.CPUCores += snapshot.CoresOf(millis)
		w.MemoryBytes += bytes
	}
	return s, w
}

func mustAdd(tb testing.TB, s *Static, obj runtime.Object) {
	tb.Helper()
	if err := s.Add(obj); err != nil {
		tb.Fatal(err)
	}
}

// build returns the caches of sc and the totals a snapshot of them must show.
func (sc scale) build(tb testing.TB) (*Static, snapshot.Totals) {
	if sc.mode == snapshot.ModeKubernetes {
		return buildKubernetes(tb, sc.nodes, sc.distinct)
	}
	return buildRancher(tb, sc.clusters, sc.nodes, sc.distinct)
}

// gatherer returns a Gatherer over s that logs nowhere.
func (sc scale) gatherer(tb testing.TB, s *Static) *Gatherer {
	tb.Helper()
	install := snapshot.Install{ClusterUUID: "8d7f2b6a-3c51-4e0b-b8d2-5e4a9c1f7d20", Version: "v2.12.1", GitCommit: "4f3c2a1"}
	if sc.mode == snapshot.ModeKubernetes {
		install.InstallUUID = "5e0a1c2d-7b3f-4a9e-8c6d-2f1e0d9c8b7a"
		install.KubernetesVersion = "v1.32.4+rke2r1"
	}
	cfg := s.Config(sc.mode, install)
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	cfg.Log = logrus.NewEntry(logger)
	g, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// TestSnapshotAtScale checks that the benchmarked installations read
// right: every node valid and counted, exact sums, and both payloads valid
// against their schemas and under the 1 MiB a Secret holds. It asserts no
// timing. -short keeps only the 2,000 / 20,000 sizes.
func TestSnapshotAtScale(t *testing.T) {
	key := []byte("scale-test-pseudonym-key")
	for _, sc := range scales {
		if testing.Short() && sc.nodes > 20000 {
			continue
		}
		t.Run(sc.String(), func(t *testing.T) {
			s, w := sc.build(t)
			clusters, nodes, coreNodes := s.Counts()
			if sc.mode == snapshot.ModeRancher && (clusters != sc.clusters || nodes != sc.nodes) ||
				sc.mode == snapshot.ModeKubernetes && coreNodes != sc.nodes {
				t.Fatalf("caches hold %d clusters, %d nodes, %d core nodes; want %+v", clusters, nodes, coreNodes, sc)
			}
			snap, err := sc.gatherer(t, s).Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Problems) > 0 {
				t.Errorf("%d problems, first: %v", len(snap.Problems), snap.Problems[0])
			}
			if got := snap.Totals(); got != w {
				t.Errorf("totals\n got %+v\nwant %+v", got, w)
			}
			if up := snap.Upstream(); up == nil || up.NodeCount() == 0 {
				t.Error("no upstream cluster with nodes")
			}
			out, err := report.New(key).Encode(snap, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if err := report.Validate(out); err != nil {
				t.Errorf("report: %v", err)
			}
			sccOut, err := scc.Encoder{}.Encode(snap, time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			if err := scc.Validate(sccOut); err != nil {
				t.Errorf("scc: %v", err)
			}
			for name, b := range map[string][]byte{"report": out, "scc": sccOut} {
				if len(b) >= 1<<20 {
					t.Errorf("%s payload is %d bytes, a Secret holds 1 MiB", name, len(b))
				}
			}
			t.Logf("report %d bytes, scc %d bytes", len(out), len(sccOut))
		})
	}
}

// fedGatherer returns a Gatherer fed by its Handlers with every object of
// s, as the informers feed it when they sync.
func (sc scale) fedGatherer(tb testing.TB, s *Static) *Gatherer {
	tb.Helper()
	cfg := sc.gatherer(tb, s).cfg
	cfg.Clusters, cfg.Nodes, cfg.Settings, cfg.Features, cfg.CoreNodes = nil, nil, nil, nil, nil
	cfg.UseHandlers = true
	g, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	kinds := []Kind{KindCluster, KindNode, KindSetting, KindFeature, KindCoreNode}
	for i, store := range s.stores {
		h := g.Handlers(kinds[i])
		for _, obj := range store.List() {
			h.OnAdd(obj, true)
		}
	}
	return g
}

// TestFedGathererMatchesListedAtScale: at every benchmarked size, the
// handler-fed gatherer gives the snapshot of the listing one.
func TestFedGathererMatchesListedAtScale(t *testing.T) {
	for _, sc := range scales {
		if testing.Short() && sc.nodes > 20000 {
			continue
		}
		t.Run(sc.String(), func(t *testing.T) {
			s, w := sc.build(t)
			listed, err := sc.gatherer(t, s).Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			fed, err := sc.fedGatherer(t, s).Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if got := fed.Totals(); got != w {
				t.Errorf("totals\n got %+v\nwant %+v", got, w)
			}
			if !reflect.DeepEqual(fed, listed) {
				t.Error("the fed snapshot differs from the listed one")
			}
		})
	}
}
