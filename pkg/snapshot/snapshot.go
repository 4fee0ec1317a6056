// Package snapshot is the typed in-memory model of what an installation
// manages, as read from the informer caches at one moment. The gatherer
// builds it; encoders turn it into payload bytes. It holds no API objects and
// nothing an encoder must not see: Cluster.Name exists only as the input to
// the pseudonymous cluster id and is never exported.
package snapshot

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Mode is the kind of installation the gatherer reads.
type Mode string

const (
	// ModeRancher reads management.cattle.io/v3 Clusters, Nodes, Settings and Features.
	ModeRancher Mode = "rancher"
	// ModeKubernetes reads core/v1 Nodes of the cluster the manager runs in.
	ModeKubernetes Mode = "kubernetes"
)

// CapacitySource says where a cluster's CPU and memory figures come from.
type CapacitySource string

const (
	// FromNodes means the figures are sums over the cluster's valid nodes.
	FromNodes CapacitySource = "nodes"
	// FromCluster means the cluster has no Node objects and its
	// status.capacity was used instead.
	FromCluster CapacitySource = "cluster"
	// Unknown means neither nodes nor a cluster capacity were available.
	Unknown CapacitySource = "unknown"
)

// UpstreamClusterName is the name of the cluster the management server runs in.
const UpstreamClusterName = "local"

// Snapshot is one consistent reading of the caches.
type Snapshot struct {
	Install  Install
	Clusters []Cluster // sorted by Name
	// Problems lists every object that was left out or read only in part,
	// sorted by Object then Field. Nodes with a problem are not in any sum.
	Problems []Problem
	// OrphanNodes counts the nodes that belong to no cluster (a v3 Node
	// whose namespace names no Cluster). They are invalid: in no cluster's
	// figures, but counted in Totals().InvalidNodes.
	OrphanNodes int
	// Profiles counts the valid nodes of every cluster by profile, sorted
	// (see SortProfiles), or is nil when the maker of the snapshot did not
	// count them: then ProfilesOf derives them from the clusters' Shapes.
	// The gatherer keeps these counts up to date as nodes come and go, so
	// encoders read a few profiles instead of every shape. Read-only: it
	// may be shared between snapshots.
	Profiles []ProfileCount
	// NodeStates counts the nodes of every cluster, valid or not, by
	// readiness and role. Orphan nodes are not counted.
	NodeStates NodeStates
	// Extensions are the operator's key/value pairs that passed their
	// checks, sorted by key; each refused pair is one of Problems and is
	// counted in ExtensionsRefused.
	Extensions        []Extension
	ExtensionsRefused int
	// Events are the lifecycle events that the exporter given this
	// snapshot has not delivered yet (see Snapshot.WithEvents); the
	// gatherer's snapshots carry none.
	Events Events
}

// Extension is one operator-supplied key/value pair.
type Extension struct {
	Key, Value string
}

// ClusterState is what a cluster's conditions say of it (see the README's
// cluster state table).
type ClusterState string

// Cluster states.
const (
	StateReady        ClusterState = "ready"
	StateNotReady     ClusterState = "notReady"
	StateProvisioning ClusterState = "provisioning"
	StateUpgrading    ClusterState = "upgrading"
	StateUnavailable  ClusterState = "unavailable"
)

// Readiness is the status of a node's Ready condition.
type Readiness uint8

// Node readiness: Ready is True, False, or Unknown (also when the condition
// is absent or cannot be read).
const (
	ReadinessUnknown Readiness = iota
	ReadinessReady
	ReadinessNotReady
)

// ReadyCounts counts nodes by readiness.
type ReadyCounts struct {
	Ready, NotReady, Unknown int
}

func (c *ReadyCounts) add(r Readiness, d int) {
	switch r {
	case ReadinessReady:
		c.Ready += d
	case ReadinessNotReady:
		c.NotReady += d
	default:
		c.Unknown += d
	}
}

// NodeStates counts nodes by readiness: all of them, and those of each
// role (a node with several roles counts in each).
type NodeStates struct {
	All, ControlPlane, Etcd, Worker ReadyCounts
}

// Add counts d nodes of readiness r and the roles given.
func (s *NodeStates) Add(r Readiness, controlPlane, etcd, worker bool, d int) {
	s.All.add(r, d)
	if controlPlane {
		s.ControlPlane.add(r, d)
	}
	if etcd {
		s.Etcd.add(r, d)
	}
	if worker {
		s.Worker.add(r, d)
	}
}

// AddAll adds the counts of o.
func (s *NodeStates) AddAll(o NodeStates) {
	for _, p := range [...][2]*ReadyCounts{{&s.All, &o.All}, {&s.ControlPlane, &o.ControlPlane}, {&s.Etcd, &o.Etcd}, {&s.Worker, &o.Worker}} {
		p[0].Ready += p[1].Ready
		p[0].NotReady += p[1].NotReady
		p[0].Unknown += p[1].Unknown
	}
}

// Profile is what the payloads show of a valid node: its shape with CPU
// in whole cores and memory in whole MiB, both rounded up, and whether its
// cluster is the upstream one.
type Profile struct {
	Arch                    string
	OS                      string
	ContainerRuntimeVersion string
	KubeletVersion          string
	ControlPlane            bool
	Etcd                    bool
	Worker                  bool
	CPUCores                int64 // CoresOf(CPUMillis)
	MemoryMiB               int64 // MiBOf(MemoryBytes)
	Upstream                bool
}

// ProfileOf returns the profile of node n of a cluster that is upstream or
// not.
func ProfileOf(n *Node, upstream bool) Profile {
	return Profile{
		Arch: n.Arch, OS: n.OS, ContainerRuntimeVersion: n.ContainerRuntimeVersion, KubeletVersion: n.KubeletVersion,
		ControlPlane: n.ControlPlane, Etcd: n.Etcd, Worker: n.Worker,
		CPUCores: CoresOf(n.CPUMillis), MemoryMiB: MiBOf(n.MemoryBytes), Upstream: upstream,
	}
}

// ProfileCount is a profile and how many valid nodes have it.
type ProfileCount struct {
	Profile
	Count int
}

// ProfilesOf returns s.Profiles, or when it is nil the profiles counted
// from the clusters' Shapes, sorted. Both give the same counts for the same
// nodes.
func ProfilesOf(s *Snapshot) []ProfileCount {
	if s.Profiles != nil {
		return s.Profiles
	}
	counts := map[Profile]int{}
	for i := range s.Clusters {
		c := &s.Clusters[i]
		for j := range c.Shapes {
			counts[ProfileOf(&c.Shapes[j].Node, c.Upstream)] += c.Shapes[j].Count
		}
	}
	return SortedProfiles(counts)
}

// SortedProfiles lists counts sorted (see SortProfiles), leaving out
// profiles counted zero times.
func SortedProfiles(counts map[Profile]int) []ProfileCount {
	out := make([]ProfileCount, 0, len(counts))
	for p, n := range counts {
		if n > 0 {
			out = append(out, ProfileCount{Profile: p, Count: n})
		}
	}
	SortProfiles(out)
	return out
}

// SortProfiles orders profiles by every field of their Profile; the
// counts of distinct profiles never decide.
func SortProfiles(ps []ProfileCount) {
	slices.SortFunc(ps, func(a, b ProfileCount) int {
		x, y := &a.Profile, &b.Profile
		return cmp.Or(
			strings.Compare(x.Arch, y.Arch),
			strings.Compare(x.OS, y.OS),
			strings.Compare(x.ContainerRuntimeVersion, y.ContainerRuntimeVersion),
			strings.Compare(x.KubeletVersion, y.KubeletVersion),
			cmpBool(x.ControlPlane, y.ControlPlane),
			cmpBool(x.Etcd, y.Etcd),
			cmpBool(x.Worker, y.Worker),
			cmp.Compare(x.CPUCores, y.CPUCores),
			cmp.Compare(x.MemoryMiB, y.MemoryMiB),
			cmpBool(x.Upstream, y.Upstream),
			cmp.Compare(a.Count, b.Count),
		)
	})
}

// InvalidObjects counts the objects that have at least one problem, by
// kind: a node with a bad CPU and a bad memory counts once.
func (s *Snapshot) InvalidObjects() map[string]int {
	out := map[string]int{}
	seen := make(map[string]bool, len(s.Problems))
	for _, p := range s.Problems {
		if seen[p.Object] {
			continue
		}
		seen[p.Object] = true
		out[p.Kind()]++
	}
	return out
}

// Install describes the installation itself.
type Install struct {
	InstallUUID string
	ClusterUUID string // UID of the kube-system namespace
	// Version is the product version as built or as the server-version
	// setting says (raw: may carry pre-release or build parts).
	Version           string
	GitCommit         string
	ServerURL         string // only for the SCC payload, which Rancher consumers expect
	Mode              Mode
	Features          []string // names of enabled feature flags, sorted
	KubernetesVersion string   // of the upstream cluster
}

// Cluster is one managed cluster with its valid nodes, counted by shape.
type Cluster struct {
	// Name is the object name (local, c-xxxxx). It is an internal key: encoders
	// export only a keyed pseudonym of it.
	Name              string
	Upstream          bool
	KubernetesVersion string
	Driver            string
	Provider          string
	CapacitySource    CapacitySource
	// CPUMillis and MemoryBytes are the sums over the valid nodes, or the cluster's
	// status.capacity when CapacitySource is FromCluster.
	CPUMillis   int64
	MemoryBytes int64
	// CPUCores is the sum of each node's ceil(millicores/1000), or
	// ceil(CPUMillis/1000) for a cluster-sourced capacity.
	CPUCores int64
	// Shapes counts the valid nodes by shape: each distinct Node once, with
	// how many valid nodes have it, sorted by Node (see SortShapes). Its cost
	// grows with the distinct shapes, not with the nodes. The gatherer shares
	// this slice between snapshots: it is read-only.
	Shapes []Shape
	// Nodes is how many valid nodes the cluster has: the sum of the
	// Shapes' counts, as the gatherer keeps it. Read it with NodeCount,
	// which sums the Shapes when it is not kept (zero).
	Nodes int
	// Roles counts the valid nodes of each role, kept with Nodes; read it
	// with RoleCounts.
	Roles        Roles
	InvalidNodes int
	// State is what the cluster's conditions say; "" when the maker of the
	// snapshot did not read them.
	State ClusterState
}

// Roles counts nodes by role; a node may have several.
type Roles struct {
	ControlPlane, Etcd, Worker int
}

// Add counts count nodes of the roles n has.
func (r *Roles) Add(n *Node, count int) {
	if n.ControlPlane {
		r.ControlPlane += count
	}
	if n.Etcd {
		r.Etcd += count
	}
	if n.Worker {
		r.Worker += count
	}
}

// RoleCounts returns how many valid nodes of each role the cluster has:
// Roles when the counts are kept (Nodes is set), else counted from the
// Shapes.
func (c *Cluster) RoleCounts() Roles {
	if c.Nodes > 0 {
		return c.Roles
	}
	var r Roles
	for i := range c.Shapes {
		r.Add(&c.Shapes[i].Node, c.Shapes[i].Count)
	}
	return r
}

// Shape is a node shape and how many valid nodes of a cluster have it.
type Shape struct {
	Node
	Count int
}

// NodeCount returns how many valid nodes the cluster has: Nodes when it is
// kept, else the sum of the Shapes' counts.
func (c *Cluster) NodeCount() int {
	if c.Nodes > 0 {
		return c.Nodes
	}
	n := 0
	for i := range c.Shapes {
		n += c.Shapes[i].Count
	}
	return n
}

// Node is the shape of a valid machine of a cluster: every field an encoder
// reads. It carries no name, address or label.
type Node struct {
	Arch                    string
	OS                      string
	ContainerRuntimeVersion string // e.g. containerd://1.7.27
	KubeletVersion          string // e.g. v1.32.4+rke2r1
	ControlPlane            bool
	Etcd                    bool
	Worker                  bool
	CPUMillis               int64
	MemoryBytes             int64
}

// Problem is an object, or a field of one, that could not be read.
type Problem struct {
	Object string // kind and key, e.g. "Node c-abc/m-1"
	Field  string // JSON path of the field, e.g. "status.internalNodeStatus.capacity.cpu"
	Err    error
}

func (p Problem) Error() string {
	if p.Field == "" {
		return p.Object + ": " + p.Err.Error()
	}
	return p.Object + " " + p.Field + ": " + p.Err.Error()
}

func (p Problem) Unwrap() error { return p.Err }

// Kind returns the kind of the object: the first word of Object.
func (p Problem) Kind() string {
	kind, _, _ := strings.Cut(p.Object, " ")
	return kind
}

// Totals are the installation-wide sums.
type Totals struct {
	Clusters      int
	Nodes         int // valid nodes only; they are the ones summed
	CPUCores      int64
	CPUMillicores int64
	MemoryBytes   int64
	InvalidNodes  int
}

// Totals sums the clusters. The gatherer checks every sum as it builds a
// snapshot, so they cannot overflow here.
func (s *Snapshot) Totals() Totals {
	t := Totals{Clusters: len(s.Clusters), InvalidNodes: s.OrphanNodes}
	for i := range s.Clusters {
		c := &s.Clusters[i]
		t.Nodes += c.NodeCount()
		t.CPUCores += c.CPUCores
		t.CPUMillicores += c.CPUMillis
		t.MemoryBytes += c.MemoryBytes
		t.InvalidNodes += c.InvalidNodes
	}
	return t
}

// Upstream returns the upstream cluster, or nil when there is none.
func (s *Snapshot) Upstream() *Cluster {
	for i := range s.Clusters {
		if s.Clusters[i].Upstream {
			return &s.Clusters[i]
		}
	}
	return nil
}

// CoresOf returns a node's core count: ceil(millicores/1000), so 500m is 1
// core and 3500m is 4.
func CoresOf(millis int64) int64 {
	if millis <= 0 {
		return 0
	}
	return (millis + 999) / 1000
}

// MiBOf returns ceil(bytes/1048576).
func MiBOf(bytes int64) int64 {
	if bytes <= 0 {
		return 0
	}
	return (bytes + (1<<20 - 1)) >> 20
}

// Encoder turns a snapshot into payload bytes. Encoders are pure and
// deterministic: the same snapshot and time give the same bytes.
type Encoder interface {
	// Format is the name of the payload format, e.g. "report" or "scc".
	Format() string
	// SchemaVersion is the version of the format's JSON schema.
	SchemaVersion() string
	// Encode renders the snapshot. Formats without a timestamp ignore now.
	Encode(s *Snapshot, now time.Time) ([]byte, error)
}

// SortShapes orders shapes by every field of their Node, so that the same
// set of nodes always gives the same slice whatever order the caches listed
// them in. A cluster's shapes are distinct, so their counts never decide.
func SortShapes(shapes []Shape) {
	slices.SortFunc(shapes, func(a, b Shape) int {
		return cmp.Or(CompareNodes(a.Node, b.Node), cmp.Compare(a.Count, b.Count))
	})
}

// ShapesOf counts nodes by shape, sorted (see SortShapes).
func ShapesOf(nodes []Node) []Shape {
	index := make(map[Node]int, len(nodes))
	out := []Shape{}
	for _, n := range nodes {
		i, ok := index[n]
		if !ok {
			i = len(out)
			index[n] = i
			out = append(out, Shape{Node: n})
		}
		out[i].Count++
	}
	SortShapes(out)
	return out
}

// CompareNodes orders two nodes by every field.
func CompareNodes(a, b Node) int {
	return cmp.Or(
		strings.Compare(a.Arch, b.Arch),
		strings.Compare(a.OS, b.OS),
		strings.Compare(a.ContainerRuntimeVersion, b.ContainerRuntimeVersion),
		strings.Compare(a.KubeletVersion, b.KubeletVersion),
		cmpBool(a.ControlPlane, b.ControlPlane),
		cmpBool(a.Etcd, b.Etcd),
		cmpBool(a.Worker, b.Worker),
		cmp.Compare(a.CPUMillis, b.CPUMillis),
		cmp.Compare(a.MemoryBytes, b.MemoryBytes),
	)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
