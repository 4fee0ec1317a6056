package gatherer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

func cluster(name, version, driver string, capacity v3.ResourceList) *v3.Cluster {
	c := &v3.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}}
	c.Status.Driver = driver
	c.Status.Provider = driver
	c.Status.Version = v3.VersionInfo{GitVersion: version}
	c.Status.Capacity = capacity
	return c
}

func node(ns, name, arch, cpu, mem string, roles ...string) *v3.Node {
	n := &v3.Node{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, r := range roles {
		switch r {
		case "etcd":
			n.Spec.Etcd = true
		case "controlplane":
			n.Spec.ControlPlane = true
		case "worker":
			n.Spec.Worker = true
		}
	}
	st := &n.Status.InternalNodeStatus
	st.Capacity = v3.Resources(cpu, mem)
	st.NodeInfo = v3.NodeInfo{Architecture: arch, OperatingSystem: "linux", ContainerRuntimeVersion: "containerd://1.7.27", KubeletVersion: "v1.32.4+rke2r1"}
	return n
}

func setting(name, value, def string) *v3.Setting {
	return &v3.Setting{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, Default: def}
}

func feature(name string, value, def, locked *bool) *v3.Feature {
	f := &v3.Feature{ObjectMeta: metav1.ObjectMeta{Name: name}}
	f.Spec.Value, f.Status.Default, f.Status.LockedValue = value, def, locked
	return f
}

func ptr[T any](v T) *T { return &v }

func newRancher(t *testing.T, log *logrus.Entry, objs ...runtime.Object) *Gatherer {
	t.Helper()
	s := NewStatic()
	objs = append(objs, setting(SettingInstallUUID, "", "6c3b4f44-1a6e-4e43-9d3d-5b7d0d1f2a10"))
	for _, o := range objs {
		if err := s.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := s.Config(snapshot.ModeRancher, snapshot.Install{ClusterUUID: "ks-uid", Version: "v2.12.0", GitCommit: "abc123"})
	cfg.Log = log
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// sampleObjects is the sample installation used across the tests: an upstream
// cluster with three nodes, a downstream cluster with a node whose CPU is
// "abc", and a downstream cluster with no Node objects but a capacity.
func sampleObjects() []runtime.Object {
	return []runtime.Object{
		cluster("local", "v1.32.4+rke2r1", "rke2", v3.ResourceList{}),
		cluster("c-m-abcd1234", "v1.31.2+k3s1", "k3s", v3.ResourceList{}),
		cluster("c-xyz12", "v1.30.5-eks-ce1d5eb", "EKS", v3.Resources("16", "64Gi")),
		node("local", "m-1", "amd64", "3500m", "15437428Ki", "etcd", "controlplane", "worker"),
		node("local", "m-2", "amd64", "4", "16Gi", "etcd", "controlplane", "worker"),
		node("local", "m-3", "amd64", "4", "8G", "etcd", "controlplane", "worker"),
		node("c-m-abcd1234", "m-4", "arm64", "500m", "129e6", "worker"),
		node("c-m-abcd1234", "m-5", "arm64", "2", "1.5Gi", "controlplane", "etcd"),
		node("c-m-abcd1234", "m-bad", "arm64", "abc", "2Gi", "worker"),
		setting(SettingServerURL, "https://rancher.example.com", ""),
		setting(SettingServerVersion, "", "v2.12.1"),
		feature("fleet", nil, ptr(true), nil),
		feature("harvester", ptr(true), ptr(false), nil),
		feature("multi-cluster-management", ptr(true), ptr(true), ptr(false)),
		feature("unset", nil, nil, nil),
	}
}

func TestSnapshotSampleInstallationTotals(t *testing.T) {
	g := newRancher(t, nil, sampleObjects()...)
	s, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	got := s.Totals()
	want := snapshot.Totals{
		Clusters:      3,
		Nodes:         5,
		CPUCores:      4 + 4 + 4 + 1 + 2 + 16,
		CPUMillicores: 3500 + 4000 + 4000 + 500 + 2000 + 16000,
		MemoryBytes:   15437428*1024 + 16<<30 + 8e9 + 129e6 + 1610612736 + 64<<30,
		InvalidNodes:  1,
	}
	if got != want {
		t.Fatalf("totals = %+v\nwant     %+v", got, want)
	}
	if s.Install.InstallUUID != "6c3b4f44-1a6e-4e43-9d3d-5b7d0d1f2a10" || s.Install.ServerURL != "https://rancher.example.com" ||
		s.Install.Version != "v2.12.1" || s.Install.KubernetesVersion != "v1.32.4+rke2r1" || s.Install.ClusterUUID != "ks-uid" {
		t.Fatalf("install = %+v", s.Install)
	}
	if want := []string{"fleet", "harvester"}; !slices.Equal(s.Install.Features, want) {
		t.Fatalf("features = %v, want %v", s.Install.Features, want)
	}
	byName := map[string]snapshot.Cluster{}
	for _, c := range s.Clusters {
		byName[c.Name] = c
	}
	if c := byName["c-xyz12"]; c.CapacitySource != snapshot.FromCluster || c.CPUCores != 16 {
		t.Fatalf("cluster without nodes = %+v, want capacity from the cluster", c)
	}
	if c := byName["local"]; !c.Upstream || c.CapacitySource != snapshot.FromNodes || c.NodeCount() != 3 {
		t.Fatalf("local = %+v", c)
	}
	if c := byName["c-m-abcd1234"]; c.InvalidNodes != 1 || c.NodeCount() != 2 {
		t.Fatalf("downstream = %+v, want 2 valid and 1 invalid node", c)
	}
}

func TestSnapshotBadQuantityIsInvalidAndNamed(t *testing.T) {
	g := newRancher(t, nil, sampleObjects()...)
	s, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Problems) != 1 {
		t.Fatalf("problems = %v, want exactly one", s.Problems)
	}
	p := s.Problems[0]
	if !errors.Is(p, ErrBadCPU) || p.Object != "Node c-m-abcd1234/m-bad" || p.Field != "status.internalNodeStatus.capacity.cpu" {
		t.Fatalf("problem = %q (object %q, field %q), want ErrBadCPU on m-bad's CPU", p.Error(), p.Object, p.Field)
	}
}

func TestSnapshotProblemsLoggedOnce(t *testing.T) {
	logger, hook := logtest.NewNullLogger()
	g := newRancher(t, logrus.NewEntry(logger), sampleObjects()...)
	for range 3 {
		if _, err := g.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(hook.AllEntries()); n != 1 {
		t.Fatalf("logged %d entries over three snapshots, want 1", n)
	}
}

func TestSnapshotMissingQuantities(t *testing.T) {
	g := newRancher(t, nil,
		cluster("local", "v1.32.4", "rke2", v3.ResourceList{}),
		node("local", "no-cpu", "amd64", "", "1Gi"),
		node("local", "no-mem", "amd64", "1", ""),
		node("local", "bad-mem", "amd64", "1", "lots"),
		node("local", "ok", "amd64", "1", "1Gi"),
	)
	s, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []error{ErrNoCPU, ErrNoMemory, ErrBadMemory} {
		found := false
		for _, p := range s.Problems {
			found = found || errors.Is(p, want)
		}
		if !found {
			t.Errorf("no problem matches %v in %v", want, s.Problems)
		}
	}
	if tot := s.Totals(); tot.Nodes != 1 || tot.InvalidNodes != 3 || tot.CPUCores != 1 {
		t.Fatalf("totals = %+v, want one valid and three invalid nodes", tot)
	}
}

func TestSnapshotNoLocalCluster(t *testing.T) {
	g := newRancher(t, nil, cluster("c-abc", "v1.30.1", "imported", v3.ResourceList{}), node("c-abc", "n", "amd64", "2", "4Gi", "worker"))
	s, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.Upstream() != nil || len(s.Clusters) != 1 || s.Totals().CPUCores != 2 {
		t.Fatalf("snapshot = %+v", s)
	}
}

func TestSnapshotNoClusters(t *testing.T) {
	g := newRancher(t, nil)
	s, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.Clusters == nil || len(s.Clusters) != 0 || s.Totals() != (snapshot.Totals{}) {
		t.Fatalf("snapshot = %+v, want an empty, non-nil cluster list", s)
	}
}

func TestSnapshotOrphanNodeIsAProblem(t *testing.T) {
	g := newRancher(t, nil, cluster("local", "v1", "rke2", v3.ResourceList{}), node("c-gone", "n", "amd64", "2", "4Gi"))
	s, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Problems) != 1 || !errors.Is(s.Problems[0], ErrNoCluster) {
		t.Fatalf("problems = %v, want ErrNoCluster", s.Problems)
	}
	if tot := s.Totals(); tot.InvalidNodes != 1 || tot.Nodes != 0 || s.OrphanNodes != 1 {
		t.Fatalf("totals = %+v, orphans %d: want the orphan counted as an invalid node", tot, s.OrphanNodes)
	}
	if got := s.InvalidObjects(); got["Node"] != 1 {
		t.Fatalf("invalid objects = %v, want one Node", got)
	}
}

func TestSnapshotNeedsInstallUUID(t *testing.T) {
	s := NewStatic()
	g, err := New(s.Config(snapshot.ModeRancher, snapshot.Install{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Snapshot(); !errors.Is(err, ErrNoInstallUUID) {
		t.Fatalf("error = %v, want ErrNoInstallUUID", err)
	}
}

func TestSnapshotIsIndependentOfListOrder(t *testing.T) {
	objs := sampleObjects()
	a, err := newRancher(t, nil, objs...).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(objs)-1; i < j; i, j = i+1, j-1 {
		objs[i], objs[j] = objs[j], objs[i]
	}
	b, err := newRancher(t, nil, objs...).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Clusters {
		ca, cb := a.Clusters[i], b.Clusters[i]
		if ca.Name != cb.Name || len(ca.Shapes) != len(cb.Shapes) {
			t.Fatalf("cluster %d differs: %s vs %s", i, ca.Name, cb.Name)
		}
		for k := range ca.Shapes {
			if ca.Shapes[k] != cb.Shapes[k] {
				t.Fatalf("cluster %s node %d differs", ca.Name, k)
			}
		}
	}
}

func TestFeatureEnabled(t *testing.T) {
	tests := []struct {
		name               string
		value, def, locked *bool
		want               bool
	}{
		{name: "locked wins over value", value: ptr(true), locked: ptr(false), want: false},
		{name: "value wins over default", value: ptr(false), def: ptr(true), want: false},
		{name: "default when no value", def: ptr(true), want: true},
		{name: "unset is off", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := feature("f", tt.value, tt.def, tt.locked).Enabled(); got != tt.want {
				t.Fatalf("Enabled() = %v, want %v", got, tt.want)
			}
		})
	}
}

func coreNodeObj(name, cpu, mem string, labels ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for _, l := range labels {
		n.Labels[l] = "true"
	}
	n.Status.Capacity = corev1.ResourceList{}
	if cpu != "" {
		n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		n.Status.Capacity[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	n.Status.NodeInfo = corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux", KubeletVersion: "v1.31.2+k3s1"}
	return n
}

func TestSnapshotKubernetesMode(t *testing.T) {
	s := NewStatic()
	for _, n := range []*corev1.Node{
		coreNodeObj("cp", "3500m", "8G", LabelControlPlane, LabelEtcd),
		coreNodeObj("old-master", "2", "4Gi", LabelMaster),
		coreNodeObj("w", "500m", "129e6", LabelWorker),
		coreNodeObj("no-cpu", "", "1Gi"),
	} {
		if err := s.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	g, err := New(s.Config(snapshot.ModeKubernetes, snapshot.Install{InstallUUID: "u", KubernetesVersion: "v1.31.2+k3s1"}))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Clusters) != 1 {
		t.Fatalf("clusters = %d, want 1", len(snap.Clusters))
	}
	c := snap.Clusters[0]
	if !c.Upstream || c.Provider != "k3s" || c.KubernetesVersion != "v1.31.2+k3s1" {
		t.Fatalf("cluster = %+v", c)
	}
	tot := snap.Totals()
	if tot.Nodes != 3 || tot.InvalidNodes != 1 || tot.CPUMillicores != 6000 || tot.CPUCores != 4+2+1 || tot.MemoryBytes != 8e9+4<<30+129e6 {
		t.Fatalf("totals = %+v", tot)
	}
	cp := 0
	for _, n := range c.Shapes {
		if n.ControlPlane {
			cp += n.Count
		}
	}
	if cp != 2 {
		t.Fatalf("control-plane nodes = %d, want 2 (control-plane and master labels)", cp)
	}
}

func TestNewRejectsMissingCaches(t *testing.T) {
	if _, err := New(Config{Mode: snapshot.ModeRancher}); err == nil {
		t.Fatal("New accepted rancher mode without caches")
	}
	if _, err := New(Config{Mode: "other"}); err == nil {
		t.Fatal("New accepted an unknown mode")
	}
}

// TestEightExbibyteNodesDoNotWrap: eight nodes of 1Ei wrapped
// totals.memoryBytes to -9223372036854775808. Each is now out of range.
func TestEightExbibyteNodesDoNotWrap(t *testing.T) {
	objs := []runtime.Object{cluster("local", "v1.32.4", "rke2", v3.ResourceList{})}
	for i := range 8 {
		objs = append(objs, node("local", fmt.Sprintf("m-%d", i), "amd64", "4", "1Ei"))
	}
	objs = append(objs, node("local", "ok", "amd64", "4", "16Gi"))
	s, err := newRancher(t, nil, objs...).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	tot := s.Totals()
	if tot.MemoryBytes != 16<<30 || tot.Nodes != 1 || tot.InvalidNodes != 8 {
		t.Fatalf("totals = %+v, want only the 16Gi node summed and 8 invalid", tot)
	}
	for _, p := range s.Problems {
		if !errors.Is(p, ErrOutOfRange) || p.Field != "status.internalNodeStatus.capacity.memory" {
			t.Errorf("problem %v: want ErrOutOfRange on capacity.memory", p)
		}
	}
}

// TestSumOverflowMakesTheNodeInvalid: nodes at the bound are valid one by
// one, and the one whose figures would overflow the sums is left out.
func TestSumOverflowMakesTheNodeInvalid(t *testing.T) {
	n := int(math.MaxInt64/MaxNodeBytes) + 1 // nodes of 4Pi that fit, plus one
	objs := []runtime.Object{cluster("local", "v1.32.4", "rke2", v3.ResourceList{})}
	for i := range n {
		objs = append(objs, node("local", fmt.Sprintf("m-%04d", i), "amd64", "1", "4Pi"))
	}
	s, err := newRancher(t, nil, objs...).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	tot := s.Totals()
	if tot.Nodes != n-1 || tot.InvalidNodes != 1 || tot.MemoryBytes != int64(n-1)*MaxNodeBytes || tot.MemoryBytes < 0 {
		t.Fatalf("totals = %+v, want %d nodes summed and one left out", tot, n-1)
	}
	if len(s.Problems) != 1 || !errors.Is(s.Problems[0], ErrOutOfRange) {
		t.Fatalf("problems = %v, want one ErrOutOfRange", s.Problems)
	}
}

// TestSumOverflowAcrossClusters: the installation's sums are checked too,
// cluster capacities included.
func TestSumOverflowAcrossClusters(t *testing.T) {
	s, err := newRancher(t, nil,
		cluster("c-a", "v1", "imported", v3.Resources("4", "4Ei")),
		cluster("c-b", "v1", "imported", v3.Resources("4", "4Ei")),
		cluster("c-c", "v1", "imported", v3.Resources("4", "4Gi")),
	).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	tot := s.Totals()
	if tot.MemoryBytes != 4<<60+4<<30 || len(s.Problems) != 1 || !errors.Is(s.Problems[0], ErrOutOfRange) {
		t.Fatalf("totals = %+v, problems %v: want c-b's capacity refused", tot, s.Problems)
	}
	if s.Problems[0].Object != "Cluster c-b" || s.Clusters[1].CapacitySource != snapshot.Unknown {
		t.Fatalf("problem %v, c-b %+v", s.Problems[0], s.Clusters[1])
	}
}

// TestKubernetesModeUsesTheSameRules: core Nodes skipped the range checks,
// so cpu -4 and memory -1Gi counted as valid and 8Ei wrapped.
func TestKubernetesModeUsesTheSameRules(t *testing.T) {
	st := NewStatic()
	alloc := coreNodeObj("alloc-only", "", "", LabelWorker)
	alloc.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("2Gi")}
	for _, n := range []*corev1.Node{
		coreNodeObj("neg-cpu", "-4", "8Gi"),
		coreNodeObj("neg-mem", "4", "-1Gi"),
		coreNodeObj("huge-mem", "4", "8Ei"),
		coreNodeObj("huge-cpu", "12345678901234567890", "8Gi"),
		coreNodeObj("zero", "0", "8Gi"),
		coreNodeObj("ok", "4", "8Gi"),
		alloc,
	} {
		if err := st.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	g, err := New(st.Config(snapshot.ModeKubernetes, snapshot.Install{InstallUUID: "u"}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	tot := s.Totals()
	if tot.Nodes != 2 || tot.InvalidNodes != 5 || tot.CPUMillicores != 6000 || tot.MemoryBytes != 10<<30 {
		t.Fatalf("totals = %+v, want ok and alloc-only summed, five invalid", tot)
	}
	for _, p := range s.Problems {
		if !errors.Is(p, ErrOutOfRange) {
			t.Errorf("problem %v: want ErrOutOfRange", p)
		}
	}
}

// TestWrongTypedFieldsMakeTheNodeInvalid: a node decoded with a wrong-typed
// field is invalid, with a problem naming the field; the others count.
func TestWrongTypedFieldsMakeTheNodeInvalid(t *testing.T) {
	decode := func(doc string) *v3.Node {
		n := &v3.Node{}
		if err := json.Unmarshal([]byte(doc), n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	good := `{"kind": "Node", "metadata": {"name": "ok", "namespace": "local"}, "spec": {"worker": true},
		"status": {"internalNodeStatus": {"capacity": {"cpu": "2", "memory": "4Gi"}}}}`
	yes := `{"kind": "Node", "metadata": {"name": "yes", "namespace": "local"}, "spec": {"worker": "yes"},
		"status": {"internalNodeStatus": {"capacity": {"cpu": "2", "memory": "4Gi"}}}}`
	statusArray := `{"kind": "Node", "metadata": {"name": "arr", "namespace": "local"}, "status": []}`
	s, err := newRancher(t, nil, cluster("local", "v1", "rke2", v3.ResourceList{}), decode(good), decode(yes), decode(statusArray)).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if tot := s.Totals(); tot.Nodes != 1 || tot.InvalidNodes != 2 || tot.CPUMillicores != 2000 {
		t.Fatalf("totals = %+v", tot)
	}
	want := map[string]bool{"Node local/yes spec.worker": false, "Node local/arr status": false}
	for _, p := range s.Problems {
		key := p.Object + " " + p.Field
		if _, ok := want[key]; ok && errors.Is(p, ErrWrongType) {
			want[key] = true
		}
	}
	for k, found := range want {
		if !found {
			t.Errorf("no ErrWrongType problem for %s in %v", k, s.Problems)
		}
	}
	// The node without a status also lacks CPU and memory: three problems,
	// but it is one invalid object.
	if got := s.InvalidObjects()["Node"]; got != 2 {
		t.Errorf("invalid Node objects = %d, want 2", got)
	}
}

// TestWrongTypedSettingsAndFeatures: a wrong-typed Setting value reads as
// unset and a wrong-typed Feature value is ignored, each with a problem.
func TestWrongTypedSettingsAndFeatures(t *testing.T) {
	var st v3.Setting
	if err := json.Unmarshal([]byte(`{"kind": "Setting", "metadata": {"name": "server-version"}, "value": {"v": 1}, "default": "v2.12.1"}`), &st); err != nil {
		t.Fatal(err)
	}
	var f v3.Feature
	if err := json.Unmarshal([]byte(`{"kind": "Feature", "metadata": {"name": "fleet"}, "spec": {"value": "false"}, "status": {"default": true}}`), &f); err != nil {
		t.Fatal(err)
	}
	var c v3.Cluster
	if err := json.Unmarshal([]byte(`{"kind": "Cluster", "metadata": {"name": "local"}, "status": {"driver": 7, "version": "v1"}}`), &c); err != nil {
		t.Fatal(err)
	}
	s, err := newRancher(t, nil, &st, &f, &c).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.Install.Version != "v2.12.1" || !slices.Equal(s.Install.Features, []string{"fleet"}) || s.Clusters[0].Driver != "" {
		t.Fatalf("install = %+v, cluster %+v", s.Install, s.Clusters[0])
	}
	got := s.InvalidObjects()
	if got["Setting"] != 1 || got["Feature"] != 1 || got["Cluster"] != 1 || len(s.Problems) != 4 {
		t.Fatalf("invalid objects = %v, problems %v", got, s.Problems)
	}
}

// TestOversizeServerVersionIsOther: a server-version too long to keep is
// reported as other, never as the manager's own version.
func TestOversizeServerVersionIsOther(t *testing.T) {
	var st v3.Setting
	doc := `{"kind": "Setting", "metadata": {"name": "server-version"}, "value": "v2.12.1-` + strings.Repeat("x", 700<<10) + `"}`
	if err := json.Unmarshal([]byte(doc), &st); err != nil {
		t.Fatal(err)
	}
	s, err := newRancher(t, nil, &st).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.Install.Version != OtherValue || len(s.Problems) != 1 || !errors.Is(s.Problems[0], ErrWrongType) {
		t.Fatalf("version %q, problems %v: want other and one problem", s.Install.Version[:min(len(s.Install.Version), 20)], s.Problems)
	}
}
