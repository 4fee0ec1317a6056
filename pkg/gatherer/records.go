package gatherer

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// A record is what the gatherer keeps of one object: the fields it reads,
// parsed once when the informer delivers the object, and the problems
// found in them. Records compare by their facts, the raw values read, so
// that an update which changes only fields the gatherer never reads (a
// heartbeat, a resourceVersion) is seen as no change.

// nodeFacts are the read fields of a node of either mode, as written in
// the object. They are comparable, and the node's record is derived from
// them alone.
type nodeFacts struct {
	arch, os, runtime, kubelet string
	controlPlane, etcd, worker bool
	// ready is the status of the Ready condition: one byte, so that a
	// readiness change is a change of the record and a heartbeat, which
	// moves only the condition's times, is none.
	ready snapshot.Readiness
	// cpuField and memField are the JSON paths the quantities came from
	// (capacity, or allocatable when capacity lacks them).
	cpuField, memField string
	cpu, mem           v3.Quantity
}

// nodeRecord is one node. It is also what the node informers cache in
// place of the Node (see NodeTransform), so that a node costs one record
// and no object. An informer reads only its identity (object, group, name,
// core, rv), which never changes once the record is made; the gatherer
// writes the rest under its lock.
type nodeRecord struct {
	object string // "Node c-abc/m-1", or "Node m-1" for a core Node
	group  string // the owning cluster's name
	name   string // object name, the order of nodes within a cluster
	core   bool   // a core/v1 Node of kubernetes mode

	facts     nodeFacts
	typeProbs []v3.Problem // wrong-typed fields found while decoding

	// shape is what a valid node contributes; it is valid when problems is
	// empty. Its strings are interned.
	shape    snapshot.Node
	problems []snapshot.Problem

	// src and rv identify the object the record was read from, so that a
	// resync of an unchanged lister parses nothing (see Gatherer.resync).
	// src is nil for a record an informer caches: it keeps no object.
	src any
	rv  string
}

// GetObjectMeta gives an informer the record's name, namespace and
// resourceVersion: all it reads of what it stores.
func (r *nodeRecord) GetObjectMeta() metav1.Object {
	m := &metav1.ObjectMeta{Name: r.name, ResourceVersion: r.rv}
	if !r.core {
		m.Namespace = r.group
	}
	return m
}

// GetObjectKind and DeepCopyObject make a record a runtime.Object, as
// cached objects are. The record's slices are never changed in place, so
// a copy may share them.
func (r *nodeRecord) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (r *nodeRecord) DeepCopyObject() runtime.Object {
	c := *r
	return &c
}

// NodeTransform is the cache transform of the v3 and core Node informers:
// it reads the Node into its record, which the cache then holds instead of
// the object, and the informer hands to the gatherer's handlers. Other
// objects pass unchanged.
func NodeTransform(obj any) (any, error) {
	var r *nodeRecord
	switch n := obj.(type) {
	case *v3.Node:
		r = v3NodeRecord(n)
	case *corev1.Node:
		r = coreNodeRecord(n)
	default:
		return obj, nil
	}
	r.src = nil
	return r, nil
}

// adopt takes over the derived fields and interned strings of old, a
// record of the same facts, so that r replaces it at no cost and the
// strings r was read with are let go. The identity fields are r's own:
// an informer may be reading them.
func (r *nodeRecord) adopt(old *nodeRecord) {
	r.facts, r.typeProbs = old.facts, old.typeProbs
	r.shape, r.problems = old.shape, old.problems
}

func (r *nodeRecord) valid() bool { return len(r.problems) == 0 }

// sameAs reports whether r and o hold the same facts of the same node.
func (r *nodeRecord) sameAs(o *nodeRecord) bool {
	return r.object == o.object && r.group == o.group && r.facts == o.facts && slices.Equal(r.typeProbs, o.typeProbs)
}

// v3NodeRecord reads a Rancher node.
func v3NodeRecord(n *v3.Node) *nodeRecord {
	st := &n.Status.InternalNodeStatus
	f := nodeFacts{
		arch: st.NodeInfo.Architecture, os: st.NodeInfo.OperatingSystem,
		runtime: st.NodeInfo.ContainerRuntimeVersion, kubelet: st.NodeInfo.KubeletVersion,
		controlPlane: n.Spec.ControlPlane, etcd: n.Spec.Etcd, worker: n.Spec.Worker,
		ready: readinessOf(st.Conditions.Ready),
	}
	f.cpuField, f.cpu = pick(st.Capacity, st.Allocatable, "cpu")
	f.memField, f.mem = pick(st.Capacity, st.Allocatable, "memory")
	return &nodeRecord{
		object: "Node " + n.Namespace + "/" + n.Name, group: n.Namespace, name: n.Name,
		facts: f, typeProbs: n.Problems(), src: n, rv: n.ResourceVersion,
	}
}

// coreNodeRecord reads a core/v1 Node with the rules of a v3 Node: roles
// from the node-role labels, quantities as text, all in the one cluster of
// kubernetes mode.
func coreNodeRecord(n *corev1.Node) *nodeRecord {
	info := n.Status.NodeInfo
	_, cp := n.Labels[LabelControlPlane]
	_, master := n.Labels[LabelMaster]
	_, etcd := n.Labels[LabelEtcd]
	_, worker := n.Labels[LabelWorker]
	f := nodeFacts{
		arch: info.Architecture, os: info.OperatingSystem,
		runtime: info.ContainerRuntimeVersion, kubelet: info.KubeletVersion,
		controlPlane: cp || master, etcd: etcd, worker: worker,
		ready: coreReadiness(n.Status.Conditions),
	}
	capacity, allocatable := coreResources(n.Status.Capacity), coreResources(n.Status.Allocatable)
	f.cpuField, f.cpu = pick(capacity, allocatable, "cpu")
	f.memField, f.mem = pick(capacity, allocatable, "memory")
	return &nodeRecord{
		object: "Node " + n.Name, group: snapshot.UpstreamClusterName, name: n.Name, core: true,
		facts: f, src: n, rv: n.ResourceVersion,
	}
}

// readinessOf maps the status of a Ready condition.
func readinessOf(s v3.ConditionStatus) snapshot.Readiness {
	switch s {
	case v3.ConditionTrue:
		return snapshot.ReadinessReady
	case v3.ConditionFalse:
		return snapshot.ReadinessNotReady
	}
	return snapshot.ReadinessUnknown
}

// coreReadiness reads the Ready condition of a core Node; the last one
// counts when it is listed twice, as for a v3 Node.
func coreReadiness(conds []corev1.NodeCondition) snapshot.Readiness {
	r := snapshot.ReadinessUnknown
	for i := range conds {
		if conds[i].Type != corev1.NodeReady {
			continue
		}
		switch conds[i].Status {
		case corev1.ConditionTrue:
			r = snapshot.ReadinessReady
		case corev1.ConditionFalse:
			r = snapshot.ReadinessNotReady
		default:
			r = snapshot.ReadinessUnknown
		}
	}
	return r
}

// derive interns the facts' strings and parses the facts into the shape
// and problems, with prefix the JSON path of the quantity lists' parent.
// Any problem makes the node invalid.
func (r *nodeRecord) derive(prefix string, strs *interner) {
	r.problems = typeProblems(r.object, r.typeProbs)
	f := &r.facts
	f.arch, f.os, f.runtime, f.kubelet = strs.get(f.arch), strs.get(f.os), strs.get(f.runtime), strs.get(f.kubelet)
	f.cpu.Text, f.mem.Text = strs.get(f.cpu.Text), strs.get(f.mem.Text)
	millis, err := ParseCPU(f.cpu.Text)
	if err != nil && f.cpu.Bad == v3.KindNone { // a wrong type is reported already
		r.problems = append(r.problems, snapshot.Problem{Object: r.object, Field: prefix + f.cpuField, Err: err})
	}
	bytes, err := ParseMemory(f.mem.Text)
	if err != nil && f.mem.Bad == v3.KindNone {
		r.problems = append(r.problems, snapshot.Problem{Object: r.object, Field: prefix + f.memField, Err: err})
	}
	if len(r.problems) > 0 {
		return
	}
	r.shape = snapshot.Node{
		Arch:                    f.arch,
		OS:                      f.os,
		ContainerRuntimeVersion: f.runtime,
		KubeletVersion:          f.kubelet,
		ControlPlane:            f.controlPlane,
		Etcd:                    f.etcd,
		Worker:                  f.worker,
		CPUMillis:               millis,
		MemoryBytes:             bytes,
	}
}

// release gives back the interned strings of the record.
func (r *nodeRecord) release(strs *interner) {
	f := &r.facts
	for _, s := range [...]string{f.arch, f.os, f.runtime, f.kubelet, f.cpu.Text, f.mem.Text} {
		strs.put(s)
	}
}

// pick returns capacity[name], or allocatable[name] when capacity lacks it,
// with the field path it came from.
func pick(capacity, allocatable v3.ResourceList, name string) (string, v3.Quantity) {
	if q, ok := capacity.Get(name); ok {
		return "capacity." + name, q
	}
	if q, ok := allocatable.Get(name); ok {
		return "allocatable." + name, q
	}
	return "capacity." + name, v3.Quantity{}
}

// coreResources writes the cpu and memory of a core resource list as text,
// so that they are checked by the same parser as Rancher's.
func coreResources(l corev1.ResourceList) v3.ResourceList {
	var out v3.ResourceList
	if q, ok := l[corev1.ResourceCPU]; ok {
		out.CPU = &v3.Quantity{Text: q.String()}
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		out.Memory = &v3.Quantity{Text: q.String()}
	}
	return out
}

// clusterFacts are the read fields of a v3 Cluster.
type clusterFacts struct {
	driver, provider, version string
	hasCPU, hasMem            bool
	cpu, mem                  v3.Quantity
	conds                     clusterConditions
}

// clusterConditions are the statuses of the conditions a cluster's state
// is derived from, and whether the list could be read.
type clusterConditions struct {
	ready, provisioned, updated, connected v3.ConditionStatus
	unreadable                             bool
}

// state applies the cluster state rule, first match wins (the README's
// table states the same):
//
//  1. conditions that cannot be read (a wrong JSON type): unavailable, and
//     the field is one of the snapshot's problems;
//  2. Provisioned not True and Ready not True: provisioning (a cluster
//     with no conditions yet is one);
//  3. Connected False (Rancher lost the cluster's agent): unavailable;
//  4. Updated False or Unknown (Rancher is applying a change, such as an
//     upgrade): upgrading;
//  5. Ready True: ready;
//  6. Ready False: notReady;
//  7. otherwise (Ready Unknown or absent): unavailable.
func (c clusterConditions) state() snapshot.ClusterState {
	switch {
	case c.unreadable:
		return snapshot.StateUnavailable
	case c.provisioned != v3.ConditionTrue && c.ready != v3.ConditionTrue:
		return snapshot.StateProvisioning
	case c.connected == v3.ConditionFalse:
		return snapshot.StateUnavailable
	case c.updated == v3.ConditionFalse || c.updated == v3.ConditionUnknown:
		return snapshot.StateUpgrading
	case c.ready == v3.ConditionTrue:
		return snapshot.StateReady
	case c.ready == v3.ConditionFalse:
		return snapshot.StateNotReady
	}
	return snapshot.StateUnavailable
}

// clusterRecord is one v3 Cluster.
type clusterRecord struct {
	name      string
	facts     clusterFacts
	typeProbs []v3.Problem

	// problems are the wrong-typed fields, always reported.
	problems []snapshot.Problem
	// state is what the conditions say.
	state snapshot.ClusterState
	// capacity is status.capacity, read only while the cluster has no Node
	// objects: capOK says it parsed, capProblems why not.
	capMillis, capBytes int64
	capOK               bool
	capEmpty            bool
	capProblems         []snapshot.Problem

	src any
	rv  string
}

func (r *clusterRecord) sameAs(o *clusterRecord) bool {
	return r.name == o.name && r.facts == o.facts && slices.Equal(r.typeProbs, o.typeProbs)
}

func newClusterRecord(c *v3.Cluster) *clusterRecord {
	cs := &c.Status.Conditions
	f := clusterFacts{
		driver: c.Status.Driver, provider: c.Status.Provider, version: c.Status.Version.GitVersion,
		conds: clusterConditions{ready: cs.Ready, provisioned: cs.Provisioned, updated: cs.Updated, connected: cs.Connected, unreadable: cs.Bad},
	}
	var cpu, mem v3.Quantity
	cpu, f.hasCPU = c.Status.Capacity.Get("cpu")
	mem, f.hasMem = c.Status.Capacity.Get("memory")
	f.cpu, f.mem = cpu, mem
	return &clusterRecord{name: c.Name, facts: f, typeProbs: c.Problems(), src: c, rv: c.ResourceVersion}
}

// derive parses the facts, interning the strings.
func (r *clusterRecord) derive(strs *interner) {
	obj := "Cluster " + r.name
	f := &r.facts
	f.driver, f.provider, f.version = strs.get(f.driver), strs.get(f.provider), strs.get(f.version)
	r.problems = typeProblems(obj, r.typeProbs)
	r.state = f.conds.state()
	r.capEmpty = !f.hasCPU && !f.hasMem
	if r.capEmpty {
		return
	}
	var err error
	r.capMillis, err = parseCPU(f.cpu.Text, MaxClusterMillicores)
	if err != nil && f.cpu.Bad == v3.KindNone {
		r.capProblems = append(r.capProblems, snapshot.Problem{Object: obj, Field: "status.capacity.cpu", Err: err})
	}
	r.capBytes, err = parseMemory(f.mem.Text, MaxClusterBytes)
	if err != nil && f.mem.Bad == v3.KindNone {
		r.capProblems = append(r.capProblems, snapshot.Problem{Object: obj, Field: "status.capacity.memory", Err: err})
	}
	r.capOK = len(r.capProblems) == 0 && f.cpu.Bad == v3.KindNone && f.mem.Bad == v3.KindNone
}

func (r *clusterRecord) release(strs *interner) {
	strs.put(r.facts.driver)
	strs.put(r.facts.provider)
	strs.put(r.facts.version)
}

// settingRecord is one of the Settings read (see v3.ReadSettings).
type settingRecord struct {
	value     string // effective value
	typeProbs []v3.Problem
	problems  []snapshot.Problem
	src       any
	rv        string
}

func newSettingRecord(s *v3.Setting) *settingRecord {
	ps := s.Problems()
	return &settingRecord{value: s.Effective(), typeProbs: ps, problems: typeProblems("Setting "+s.Name, ps), src: s, rv: s.ResourceVersion}
}

// unreadable reports whether the Setting had a wrong-typed field.
func (r *settingRecord) unreadable() bool { return len(r.problems) > 0 }

func (r *settingRecord) sameAs(o *settingRecord) bool {
	return r.value == o.value && slices.Equal(r.typeProbs, o.typeProbs)
}

// featureRecord is one v3 Feature.
type featureRecord struct {
	enabled   bool
	typeProbs []v3.Problem
	problems  []snapshot.Problem
	src       any
	rv        string
}

func newFeatureRecord(f *v3.Feature) *featureRecord {
	ps := f.Problems()
	return &featureRecord{enabled: f.Enabled(), typeProbs: ps, problems: typeProblems("Feature "+f.Name, ps), src: f, rv: f.ResourceVersion}
}

func (r *featureRecord) sameAs(o *featureRecord) bool {
	return r.enabled == o.enabled && slices.Equal(r.typeProbs, o.typeProbs)
}

// typeProblems turns the wrong-typed fields of a decoded object into
// snapshot problems.
func typeProblems(object string, ps []v3.Problem) []snapshot.Problem {
	if len(ps) == 0 {
		return nil
	}
	out := make([]snapshot.Problem, 0, len(ps))
	for _, p := range ps {
		out = append(out, snapshot.Problem{
			Object: object, Field: p.Field,
			Err: fmt.Errorf("%w: %s, want %s", ErrWrongType, p.Got, p.Want),
		})
	}
	return out
}

// interner keeps one copy of each distinct string the records hold
// (architectures, versions, drivers: installations have few of them), with
// a count of the records holding it, so that a value no record holds any
// more is dropped.
type interner struct {
	m map[string]*interned
}

type interned struct {
	s    string
	refs int
}

func newInterner() *interner { return &interner{m: map[string]*interned{}} }

// get returns the kept copy of s and counts one more holder.
func (t *interner) get(s string) string {
	if s == "" {
		return ""
	}
	e, ok := t.m[s]
	if !ok {
		e = &interned{s: s}
		t.m[s] = e
	}
	e.refs++
	return e.s
}

// put counts one holder of s less.
func (t *interner) put(s string) {
	if s == "" {
		return
	}
	if e, ok := t.m[s]; ok {
		if e.refs--; e.refs <= 0 {
			delete(t.m, s)
		}
	}
}

// wide is a non-negative sum in 128 bits. Per-cluster figures are kept in
// it as nodes come and go, so that they never wrap; whether a sum fits in
// the 64 bits a snapshot carries is decided when a snapshot is composed.
type wide struct{ hi, lo uint64 }

func (w *wide) add(v int64) {
	var carry uint64
	w.lo, carry = bits.Add64(w.lo, uint64(v), 0)
	w.hi += carry
}

func (w *wide) sub(v int64) {
	var borrow uint64
	w.lo, borrow = bits.Sub64(w.lo, uint64(v), 0)
	w.hi -= borrow
}

func (w *wide) addWide(o wide) {
	var carry uint64
	w.lo, carry = bits.Add64(w.lo, o.lo, 0)
	w.hi += o.hi + carry
}

// int64 returns the sum and whether it fits in an int64.
func (w wide) int64() (int64, bool) {
	return int64(w.lo), w.hi == 0 && w.lo <= math.MaxInt64
}

// wideSums are a cluster's running figures.
type wideSums struct{ millis, cores, bytes wide }

func (s *wideSums) add(n *snapshot.Node) {
	s.millis.add(n.CPUMillis)
	s.cores.add(snapshot.CoresOf(n.CPUMillis))
	s.bytes.add(n.MemoryBytes)
}

func (s *wideSums) sub(n *snapshot.Node) {
	s.millis.sub(n.CPUMillis)
	s.cores.sub(snapshot.CoresOf(n.CPUMillis))
	s.bytes.sub(n.MemoryBytes)
}

func (s *wideSums) addAll(o wideSums) {
	s.millis.addWide(o.millis)
	s.cores.addWide(o.cores)
	s.bytes.addWide(o.bytes)
}

// narrow returns the sums in 64 bits, and false when one does not fit.
func (s *wideSums) narrow() (sums, bool) {
	m, ok1 := s.millis.int64()
	c, ok2 := s.cores.int64()
	b, ok3 := s.bytes.int64()
	return sums{millis: m, cores: c, bytes: b}, ok1 && ok2 && ok3
}
