// Package report encodes a snapshot as the telemetry report: our own
// versioned format, described by schema.json in this package.
//
// The report names nothing: clusters are known by a keyed pseudonym, nodes
// only by their shape. It carries no timestamp, so a stable installation
// gives the same bytes every time and its Secret is not rewritten.
//
// Layout: objects are indented, and each element of a list is written
// compactly on its own line (jsonutil.Marshal), so a cluster costs one line
// of about 300 bytes.
//
// Size: the payload is kept under MaxBytes. When the exact form is too large
// the encoder first coarsens the node profiles (memory rounded up to 1024,
// then 4096, 16384 and 65536 MiB multiples, cores rounded up to a power of
// two), then, if the per-cluster list is what does not fit, replaces it by
// cluster groups (clustersAggregated), and states the bucket sizes it used in
// "bucketing". Totals are always exact. If nothing fits, Encode returns an
// error wrapping ErrTooLarge.
//
// Free text never leaves: every string is cleaned by package vocab, which
// keeps a value of a known vocabulary or bounded pattern and replaces
// anything else by "other". otherValues counts the replacements by field
// (OtherValues), so a reader knows what was withheld and an oversized value
// cannot make the payload too large.
package report

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/internal/jsonutil"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/vocab"
)

const (
	// FormatName is the name of this payload format.
	FormatName = "report"
	// Version is the version of schema.json; it is written as schemaVersion.
	// Version 2 added otherValues and bounded every string; version 3
	// added clusterStates, nodeStates, extensions and extensionsRefused;
	// version 4 added events. Decode reads all three.
	Version = "4"
	// Version3 and Version2 are the earlier versions, which Decode still
	// reads.
	Version3 = "3"
	Version2 = "2"
	// MaxBytes is the largest payload Encode returns: 640 KiB. Kubernetes
	// rejects a Secret whose data values add up to more than 1 MiB, so this
	// leaves 384 KiB for any other data key; annotations and labels have
	// their own limit (256 KiB), and the whole object stays well under
	// etcd's default 1.5 MiB request limit. It keeps one entry per cluster
	// at 2,000 clusters with all-distinct node shapes
	// (TestKeepsClustersAt2000).
	MaxBytes = 640 << 10
	// IDHexLen is the length of a cluster id: the first 128 bits of
	// HMAC-SHA256(key, cluster name) in lowercase hex. 128 bits keep
	// collisions out of reach at any cluster count and save 32 bytes per
	// cluster over the full MAC.
	IDHexLen = 32
)

// Bucketing of node profile CPU cores.
const (
	CoresExact      = "exact"      // cpuCores is the node's core count
	CoresPowerOfTwo = "powerOfTwo" // cpuCores is rounded up to a power of two
)

var (
	// ErrNoKey is returned when the encoder has no key to make cluster ids
	// with: raw cluster names are never exported instead.
	ErrNoKey = errors.New("report: no cluster id key")
	// ErrTooLarge is returned when the payload exceeds MaxBytes even in its
	// coarsest form.
	ErrTooLarge = errors.New("report: payload too large")
)

// Report is the payload document. Field order is the order in the JSON.
type Report struct {
	SchemaVersion string  `json:"schemaVersion"`
	Install       Install `json:"install"`
	Totals        Totals  `json:"totals"`
	// Clusters has one entry per cluster, sorted by ID; it is empty when
	// ClustersAggregated is true.
	Clusters []Cluster `json:"clusters"`
	// ClustersAggregated says that the clusters did not fit one by one and
	// are counted in ClusterGroups instead.
	ClustersAggregated bool `json:"clustersAggregated"`
	// ClusterGroups is empty unless ClustersAggregated is true.
	ClusterGroups []ClusterGroup `json:"clusterGroups"`
	NodeProfiles  []NodeProfile  `json:"nodeProfiles"`
	Bucketing     Bucketing      `json:"bucketing"`
	// OtherValues counts, by field (one of the Field constants), the values that were
	// replaced because they were in no vocabulary and matched no pattern:
	// one per install field, per cluster, per feature flag or per node. A
	// field with none is left out; JSON writes the keys sorted.
	OtherValues map[string]int64 `json:"otherValues"`
	// ClusterStates counts the clusters by what their conditions say.
	// Absent (zero) in version 2, as the three below.
	ClusterStates ClusterStates `json:"clusterStates"`
	// NodeStates counts the nodes of every cluster, valid or not, by
	// readiness, and by readiness within each role.
	NodeStates NodeStates `json:"nodeStates"`
	// Extensions are the operator's key/value pairs; JSON writes the keys
	// sorted.
	Extensions map[string]string `json:"extensions"`
	// ExtensionsRefused counts the pairs that were refused (see the
	// manager's log for each key and why).
	ExtensionsRefused int64 `json:"extensionsRefused"`
	// Events are the lifecycle events the exporter had not delivered
	// before. Absent (zero) before version 4.
	Events Events `json:"events"`
}

// Events are the lifecycle events of one report.
type Events struct {
	Items             []Event `json:"items"`
	Dropped           int64   `json:"dropped"`
	LossWindowSeconds int64   `json:"lossWindowSeconds"`
}

// Event is one lifecycle event.
type Event struct {
	Seq         int64  `json:"seq"`
	Time        string `json:"time"` // RFC 3339, UTC, seconds
	Type        string `json:"type"`
	ClusterID   string `json:"clusterId"`
	FromVersion string `json:"fromVersion"`
	ToVersion   string `json:"toVersion"`
	FromNodes   int64  `json:"fromNodes"`
	ToNodes     int64  `json:"toNodes"`
}

// MaxEvents is how many events a report carries (events.MaxPerReport);
// an encoder given more keeps the first ones, and the schema refuses more.
const MaxEvents = 256

// ClusterStates counts clusters by state.
type ClusterStates struct {
	Ready        int64 `json:"ready"`
	NotReady     int64 `json:"notReady"`
	Provisioning int64 `json:"provisioning"`
	Upgrading    int64 `json:"upgrading"`
	Unavailable  int64 `json:"unavailable"`
}

// Readiness counts nodes by the status of their Ready condition: True,
// False, or Unknown (also absent or unreadable).
type Readiness struct {
	Ready    int64 `json:"ready"`
	NotReady int64 `json:"notReady"`
	Unknown  int64 `json:"unknown"`
}

// NodeStates counts nodes by readiness: all of them, and those of each role
// (a node with several roles counts in each).
type NodeStates struct {
	All          Readiness `json:"all"`
	ControlPlane Readiness `json:"controlPlane"`
	Etcd         Readiness `json:"etcd"`
	Worker       Readiness `json:"worker"`
}

// AppendJSON writes the report as encoding/json would, its long lists
// without reflection. Members are in the order of the struct's fields.
func (r *Report) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonutil.AppendStringMember(b, "schemaVersion", r.SchemaVersion, true)
	b = value(jsonutil.AppendKey(b, "install", false), r.Install)
	b = value(jsonutil.AppendKey(b, "totals", false), r.Totals)
	b = jsonutil.AppendList(jsonutil.AppendKey(b, "clusters", false), r.Clusters)
	b = jsonutil.AppendBool(b, "clustersAggregated", r.ClustersAggregated, false)
	b = value(jsonutil.AppendKey(b, "clusterGroups", false), r.ClusterGroups)
	b = jsonutil.AppendList(jsonutil.AppendKey(b, "nodeProfiles", false), r.NodeProfiles)
	b = value(jsonutil.AppendKey(b, "bucketing", false), r.Bucketing)
	b = value(jsonutil.AppendKey(b, "otherValues", false), r.OtherValues)
	b = value(jsonutil.AppendKey(b, "clusterStates", false), r.ClusterStates)
	b = value(jsonutil.AppendKey(b, "nodeStates", false), r.NodeStates)
	b = value(jsonutil.AppendKey(b, "extensions", false), r.Extensions)
	b = jsonutil.AppendInt(b, "extensionsRefused", r.ExtensionsRefused, false)
	b = value(jsonutil.AppendKey(b, "events", false), r.Events)
	return append(b, '}')
}

// AppendLayout appends r in the payload layout, as jsonutil.Marshal lays
// out what AppendJSON writes: the long lists are written laid out at once.
func (r *Report) AppendLayout(b []byte) []byte {
	return r.appendLayout(b,
		func(b []byte) []byte { return jsonutil.LayoutList(b, r.Clusters, 1) },
		func(b []byte) []byte { return jsonutil.LayoutList(b, r.NodeProfiles, 1) })
}

// listWriter appends one of the report's long lists, laid out as the value
// of a top-level member.
type listWriter func(b []byte) []byte

// appendLayout is AppendLayout with the long lists written by clusters and
// profiles, which may have been encoded already.
func (r *Report) appendLayout(b []byte, clusters, profiles listWriter) []byte {
	b = append(b, '{')
	b = jsonutil.AppendString(jsonutil.LayoutKey(b, 1, "schemaVersion", true), r.SchemaVersion)
	b = laidOut(jsonutil.LayoutKey(b, 1, "install", false), r.Install)
	b = laidOut(jsonutil.LayoutKey(b, 1, "totals", false), r.Totals)
	b = clusters(jsonutil.LayoutKey(b, 1, "clusters", false))
	b = strconv.AppendBool(jsonutil.LayoutKey(b, 1, "clustersAggregated", false), r.ClustersAggregated)
	b = laidOut(jsonutil.LayoutKey(b, 1, "clusterGroups", false), r.ClusterGroups)
	b = profiles(jsonutil.LayoutKey(b, 1, "nodeProfiles", false))
	b = laidOut(jsonutil.LayoutKey(b, 1, "bucketing", false), r.Bucketing)
	b = laidOut(jsonutil.LayoutKey(b, 1, "otherValues", false), r.OtherValues)
	b = laidOut(jsonutil.LayoutKey(b, 1, "clusterStates", false), r.ClusterStates)
	b = laidOut(jsonutil.LayoutKey(b, 1, "nodeStates", false), r.NodeStates)
	b = laidOut(jsonutil.LayoutKey(b, 1, "extensions", false), r.Extensions)
	b = strconv.AppendInt(jsonutil.LayoutKey(b, 1, "extensionsRefused", false), r.ExtensionsRefused, 10)
	b = laidOut(jsonutil.LayoutKey(b, 1, "events", false), r.Events)
	return jsonutil.LayoutEnd(b, 0)
}

// laidOut appends one of the report's small members as the value of a
// top-level member.
func laidOut(b []byte, v any) []byte {
	return jsonutil.LayoutCompact(b, value(nil, v), 1)
}

// value appends one of the report's small members. They are plain
// strings, numbers, booleans and maps of them, which always encode.
func value(b []byte, v any) []byte {
	b, err := jsonutil.AppendValue(b, v)
	if err != nil {
		panic(fmt.Sprintf("report: encoding %T: %v", v, err))
	}
	return b
}

// The fields OtherValues counts replacements of, and the vocabulary each is
// cleaned as.
const (
	FieldInstallUUID              = "install.installUUID"
	FieldClusterUUID              = "install.clusterUUID"
	FieldVersion                  = "install.version"
	FieldGitCommit                = "install.gitCommit"
	FieldFeatures                 = "install.features"
	FieldKubernetesVersion        = "install.kubernetesVersion"
	FieldClusterKubernetesVersion = "cluster.kubernetesVersion"
	FieldClusterDriver            = "cluster.driver"
	FieldClusterProvider          = "cluster.provider"
	FieldNodeArch                 = "node.arch"
	FieldNodeOS                   = "node.os"
	FieldNodeRuntime              = "node.runtime"
	FieldNodeKubeletVersion       = "node.kubeletVersion"
)

// fields maps each field OtherValues may count to the kind it is cleaned
// as.
var fields = map[string]vocab.Kind{
	FieldInstallUUID:              vocab.UUID,
	FieldClusterUUID:              vocab.UUID,
	FieldVersion:                  vocab.Version,
	FieldGitCommit:                vocab.Commit,
	FieldFeatures:                 vocab.Feature,
	FieldKubernetesVersion:        vocab.Version,
	FieldClusterKubernetesVersion: vocab.Version,
	FieldEventVersion:             vocab.Version,
	FieldClusterDriver:            vocab.Driver,
	FieldClusterProvider:          vocab.Provider,
	FieldNodeArch:                 vocab.Arch,
	FieldNodeOS:                   vocab.OS,
	FieldNodeRuntime:              vocab.Runtime,
	FieldNodeKubeletVersion:       vocab.KubeletMinor,
}

// others counts replaced values by field.
type others map[string]int64

// clean returns the exported value of s for field and counts it if it was
// replaced.
func (o others) clean(field, s string) string {
	v, replaced := vocab.Clean(fields[field], s)
	if replaced {
		o[field]++
	}
	return v
}

// Install describes the installation.
type Install struct {
	InstallUUID       string   `json:"installUUID"`
	ClusterUUID       string   `json:"clusterUUID"`
	Version           string   `json:"version"`
	GitCommit         string   `json:"gitCommit"`
	Mode              string   `json:"mode"`
	Features          []string `json:"features"` // sorted, unique
	KubernetesVersion string   `json:"kubernetesVersion"`
}

// Totals are exact installation-wide sums, whatever the bucketing.
type Totals struct {
	Clusters      int64 `json:"clusters"`
	Nodes         int64 `json:"nodes"`
	CPUCores      int64 `json:"cpuCores"`
	CPUMillicores int64 `json:"cpuMillicores"`
	MemoryBytes   int64 `json:"memoryBytes"`
	InvalidNodes  int64 `json:"invalidNodes"`
}

// Roles counts nodes by role; a node with several roles counts in each.
type Roles struct {
	ControlPlane int64 `json:"controlPlane"`
	Etcd         int64 `json:"etcd"`
	Worker       int64 `json:"worker"`
}

// Cluster is one cluster, known by its pseudonym.
type Cluster struct {
	ID                string `json:"id"`
	Upstream          bool   `json:"upstream"`
	KubernetesVersion string `json:"kubernetesVersion"`
	Driver            string `json:"driver"`
	Provider          string `json:"provider"`
	CapacitySource    string `json:"capacitySource"` // nodes, cluster or unknown
	Nodes             int64  `json:"nodes"`
	InvalidNodes      int64  `json:"invalidNodes"`
	Roles             Roles  `json:"roles"`
	CPUCores          int64  `json:"cpuCores"`
	CPUMillicores     int64  `json:"cpuMillicores"`
	MemoryBytes       int64  `json:"memoryBytes"`
}

// AppendJSON writes the cluster as encoding/json would, without
// reflection: reports list thousands of them.
func (c *Cluster) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonutil.AppendStringMember(b, "id", c.ID, true)
	b = jsonutil.AppendBool(b, "upstream", c.Upstream, false)
	b = jsonutil.AppendStringMember(b, "kubernetesVersion", c.KubernetesVersion, false)
	b = jsonutil.AppendStringMember(b, "driver", c.Driver, false)
	b = jsonutil.AppendStringMember(b, "provider", c.Provider, false)
	b = jsonutil.AppendStringMember(b, "capacitySource", c.CapacitySource, false)
	b = jsonutil.AppendInt(b, "nodes", c.Nodes, false)
	b = jsonutil.AppendInt(b, "invalidNodes", c.InvalidNodes, false)
	b = jsonutil.AppendKey(b, "roles", false)
	b = c.Roles.append(b)
	b = jsonutil.AppendInt(b, "cpuCores", c.CPUCores, false)
	b = jsonutil.AppendInt(b, "cpuMillicores", c.CPUMillicores, false)
	b = jsonutil.AppendInt(b, "memoryBytes", c.MemoryBytes, false)
	return append(b, '}')
}

func (r Roles) append(b []byte) []byte {
	b = append(b, '{')
	b = jsonutil.AppendInt(b, "controlPlane", r.ControlPlane, true)
	b = jsonutil.AppendInt(b, "etcd", r.Etcd, false)
	b = jsonutil.AppendInt(b, "worker", r.Worker, false)
	return append(b, '}')
}

// ClusterGroup counts the clusters that share upstream flag, Kubernetes
// version, driver, provider and node count bucket (0, 1, 2-3, 4-7, ...:
// NodesMin to NodesMax inclusive); the other fields are sums over them.
type ClusterGroup struct {
	Upstream          bool   `json:"upstream"`
	KubernetesVersion string `json:"kubernetesVersion"`
	Driver            string `json:"driver"`
	Provider          string `json:"provider"`
	NodesMin          int64  `json:"nodesMin"`
	NodesMax          int64  `json:"nodesMax"`
	Count             int64  `json:"count"`
	Nodes             int64  `json:"nodes"`
	InvalidNodes      int64  `json:"invalidNodes"`
	Roles             Roles  `json:"roles"`
	CPUCores          int64  `json:"cpuCores"`
	CPUMillicores     int64  `json:"cpuMillicores"`
	MemoryBytes       int64  `json:"memoryBytes"`
}

// NodeProfile counts the valid nodes of one shape.
type NodeProfile struct {
	Arch         string `json:"arch"`
	OS           string `json:"os"`
	Runtime      string `json:"runtime"`      // e.g. containerd
	KubeletMinor string `json:"kubeletMinor"` // e.g. v1.32, or unknown
	CPUCores     int64  `json:"cpuCores"`     // see Bucketing.CPUCores
	MemoryMiB    int64  `json:"memoryMiB"`    // see Bucketing.MemoryMiB
	Role         string `json:"role"`         // e.g. control-plane+etcd, or none
	Upstream     bool   `json:"upstream"`
	Count        int64  `json:"count"`
}

// AppendJSON writes the profile as encoding/json would, without
// reflection: reports list thousands of them.
func (p *NodeProfile) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonutil.AppendStringMember(b, "arch", p.Arch, true)
	b = jsonutil.AppendStringMember(b, "os", p.OS, false)
	b = jsonutil.AppendStringMember(b, "runtime", p.Runtime, false)
	b = jsonutil.AppendStringMember(b, "kubeletMinor", p.KubeletMinor, false)
	b = jsonutil.AppendInt(b, "cpuCores", p.CPUCores, false)
	b = jsonutil.AppendInt(b, "memoryMiB", p.MemoryMiB, false)
	b = jsonutil.AppendStringMember(b, "role", p.Role, false)
	b = jsonutil.AppendBool(b, "upstream", p.Upstream, false)
	b = jsonutil.AppendInt(b, "count", p.Count, false)
	return append(b, '}')
}

// Bucketing states how node profile figures were rounded.
type Bucketing struct {
	// MemoryMiB: node profile memoryMiB is rounded up to a multiple of it;
	// 1 is exact.
	MemoryMiB int64 `json:"memoryMiB"`
	// CPUCores is CoresExact or CoresPowerOfTwo.
	CPUCores string `json:"cpuCores"`
}

// profileLadder lists the node profile bucketings, finest first.
var profileLadder = []Bucketing{
	{MemoryMiB: 1, CPUCores: CoresExact},
	{MemoryMiB: 1024, CPUCores: CoresPowerOfTwo},
	{MemoryMiB: 4096, CPUCores: CoresPowerOfTwo},
	{MemoryMiB: 16384, CPUCores: CoresPowerOfTwo},
	{MemoryMiB: 65536, CPUCores: CoresPowerOfTwo},
}

// Encoder encodes reports. Key is the per-install secret that cluster ids
// are made with; it must not change once the encoder is used. An Encoder is
// safe for concurrent use.
type Encoder struct {
	Key []byte

	// ids maps the cluster names of the last encode to their ids, so that
	// only a new cluster costs an HMAC. Each encode publishes a new map
	// and never changes a published one.
	mu  sync.Mutex
	ids map[string]string
}

var _ snapshot.Encoder = (*Encoder)(nil)

// New returns an encoder with a copy of key.
func New(key []byte) *Encoder {
	return &Encoder{Key: bytes.Clone(key)}
}

// Format returns "report".
func (e *Encoder) Format() string { return FormatName }

// SchemaVersion returns the version of schema.json.
func (e *Encoder) SchemaVersion() string { return Version }

// Encode renders the snapshot; the report has no timestamp, so now is
// ignored. It does not modify s.
func (e *Encoder) Encode(s *snapshot.Snapshot, _ time.Time) ([]byte, error) {
	return e.encode(s, MaxBytes)
}

// encode is Encode with the size limit as a parameter, so tests can reach
// the coarse forms with small snapshots.
func (e *Encoder) encode(s *snapshot.Snapshot, limit int) ([]byte, error) {
	if len(e.Key) == 0 {
		return nil, ErrNoKey
	}
	if s == nil {
		return nil, errors.New("report: nil snapshot")
	}
	t := s.Totals()
	o := others{}
	r := Report{
		SchemaVersion: Version,
		Install:       install(&s.Install, o),
		Totals: Totals{
			Clusters:      int64(t.Clusters),
			Nodes:         int64(t.Nodes),
			CPUCores:      t.CPUCores,
			CPUMillicores: t.CPUMillicores,
			MemoryBytes:   t.MemoryBytes,
			InvalidNodes:  int64(t.InvalidNodes),
		},
	}
	r.ClusterStates = clusterStates(s.Clusters)
	r.NodeStates = nodeStates(&s.NodeStates)
	r.Extensions, r.ExtensionsRefused = extensions(s)
	r.Events = events(&s.Events, o)
	clusters := e.clusters(s, o) // unsorted: written in order when they fit
	exact, names := exactProfiles(s, o)
	profileCounts := profileLevels(exact)
	r.OtherValues = o

	// Try the finest form first: clusters one by one with the finest node
	// profiles that fit, then cluster groups with the finest profiles that
	// fit. AtLeast bounds skip candidates that cannot fit without writing
	// (or sorting) them whole; the final length check is the one that
	// decides. A bound only says whether a list fits, which does not depend
	// on its order, so the choice is deterministic.
	for _, aggregated := range []bool{false, true} {
		var listBytes int
		var clusterList listWriter
		if aggregated {
			r.Clusters, r.ClusterGroups = []Cluster{}, groups(clusters)
			var err error
			if listBytes, err = jsonutil.AtLeast(r.ClusterGroups, 2, limit); err != nil {
				return nil, fmt.Errorf("encoding report clusters: %w", err)
			}
			clusterList = func(b []byte) []byte { return jsonutil.LayoutList(b, r.Clusters, 1) }
		} else {
			// The bytes that bound the list's size are the ones written.
			var enc jsonutil.Encoded
			r.Clusters, r.ClusterGroups = clusters, []ClusterGroup{}
			if enc, listBytes = jsonutil.EncodeList(clusters, 2, limit); listBytes <= limit {
				order := sortedOrder(clusters, compareClusters)
				clusterList = func(b []byte) []byte { return enc.Layout(b, order, 1) }
			}
		}
		if listBytes > limit {
			continue
		}
		r.ClustersAggregated = aggregated
		for i, b := range profileLadder {
			profiles := profileList(profileCounts(i), names)
			enc, profileBytes := jsonutil.EncodeList(profiles, 2, limit-listBytes)
			if listBytes+profileBytes > limit {
				continue
			}
			order := sortedOrder(profiles, compareProfiles)
			r.NodeProfiles, r.Bucketing = profiles, b
			// The lists' bounds are most of the document.
			out := r.appendLayout(make([]byte, 0, listBytes+profileBytes+4096), clusterList,
				func(b []byte) []byte { return enc.Layout(b, order, 1) })
			if out = append(out, '\n'); len(out) <= limit {
				return out, nil
			}
		}
	}
	last := profileLadder[len(profileLadder)-1]
	return nil, fmt.Errorf("%w: over %d bytes for %d clusters and %d node shapes, even with clusters aggregated and node memory bucketed to %d MiB",
		ErrTooLarge, limit, len(clusters), len(profileCounts(0)), last.MemoryMiB)
}

// clusterStates counts the clusters by state; a state the gatherer did not
// read counts as unavailable.
func clusterStates(clusters []snapshot.Cluster) ClusterStates {
	var out ClusterStates
	for i := range clusters {
		switch clusters[i].State {
		case snapshot.StateReady:
			out.Ready++
		case snapshot.StateNotReady:
			out.NotReady++
		case snapshot.StateProvisioning:
			out.Provisioning++
		case snapshot.StateUpgrading:
			out.Upgrading++
		default:
			out.Unavailable++
		}
	}
	return out
}

func nodeStates(s *snapshot.NodeStates) NodeStates {
	r := func(c snapshot.ReadyCounts) Readiness {
		return Readiness{Ready: int64(c.Ready), NotReady: int64(c.NotReady), Unknown: int64(c.Unknown)}
	}
	return NodeStates{All: r(s.All), ControlPlane: r(s.ControlPlane), Etcd: r(s.Etcd), Worker: r(s.Worker)}
}

// MaxExtensions is how many extensions a report carries; the extensions
// reader keeps no more.
const MaxExtensions = 64

// extensions returns the snapshot's extensions as the schema admits them:
// a pair whose key or value breaks the schema's rules (which the
// extensions reader already checked), or beyond MaxExtensions, is left out
// and counted as refused.
func extensions(s *snapshot.Snapshot) (map[string]string, int64) {
	keyRule, valueRule := vocab.ExtensionKeyRule(), vocab.RuleOf(vocab.Extension)
	out := make(map[string]string, len(s.Extensions))
	refused := int64(s.ExtensionsRefused)
	for _, e := range s.Extensions {
		if _, dup := out[e.Key]; dup || len(out) == MaxExtensions || !keyRule.Allows(e.Key) || !valueRule.Allows(e.Value) {
			refused++
			continue
		}
		out[e.Key] = e.Value
	}
	return out, refused
}

// events returns the snapshot's events as the report writes them. The
// event log cleans versions already; they are cleaned again, and counted
// in otherValues if replaced, so that no snapshot can carry free text out.
func events(ev *snapshot.Events, o others) Events {
	out := Events{Items: make([]Event, 0, min(len(ev.Items), MaxEvents)), Dropped: int64(ev.Dropped),
		LossWindowSeconds: int64(ev.LossWindow / time.Second)}
	for i := range ev.Items {
		if i == MaxEvents {
			break
		}
		e := &ev.Items[i]
		id := e.ClusterID
		if !isClusterID(id) {
			id = strings.Repeat("0", IDHexLen) // not a pseudonym: never written as it is
		}
		out.Items = append(out.Items, Event{
			Seq: int64(e.Seq), Time: e.Time.UTC().Format(eventTime), Type: string(e.Type), ClusterID: id,
			FromVersion: cleanEventVersion(o, e.FromVersion), ToVersion: cleanEventVersion(o, e.ToVersion),
			FromNodes: int64(max(e.FromNodes, 0)), ToNodes: int64(max(e.ToNodes, 0)),
		})
	}
	return out
}

// eventTime is the layout of Event.Time.
const eventTime = "2006-01-02T15:04:05Z"

// FieldEventVersion counts the event versions that were replaced.
const FieldEventVersion = "event.version"

func cleanEventVersion(o others, v string) string {
	if v == "" {
		return ""
	}
	return o.clean(FieldEventVersion, v)
}

// isClusterID reports whether s has the form of a cluster id.
func isClusterID(s string) bool {
	if len(s) != IDHexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func install(in *snapshot.Install, o others) Install {
	features := make([]string, 0, len(in.Features))
	for _, f := range in.Features {
		features = append(features, o.clean(FieldFeatures, f))
	}
	// Sorted and unique after cleaning: two replaced names are one "other".
	slices.Sort(features)
	features = slices.Compact(features)
	return Install{
		InstallUUID:       o.clean(FieldInstallUUID, in.InstallUUID),
		ClusterUUID:       o.clean(FieldClusterUUID, in.ClusterUUID),
		Version:           o.clean(FieldVersion, in.Version),
		GitCommit:         o.clean(FieldGitCommit, in.GitCommit),
		Mode:              string(in.Mode),
		Features:          features,
		KubernetesVersion: o.clean(FieldKubernetesVersion, in.KubernetesVersion),
	}
}

// clusterID returns the pseudonym of a cluster name.
func clusterID(mac hash.Hash, name string) string {
	mac.Reset()
	mac.Write([]byte(name))
	sum := mac.Sum(nil)
	return hex.EncodeToString(sum[:IDHexLen/2])
}

// ClusterID returns the id the report gives the cluster named name under
// key: the first 128 bits of HMAC-SHA256(key, name) in lowercase hex. It lets
// an operator who holds the key find a cluster in a report.
func ClusterID(key []byte, name string) string {
	return clusterID(hmac.New(sha256.New, key), name)
}

func (e *Encoder) clusters(s *snapshot.Snapshot, o others) []Cluster {
	mac := hmac.New(sha256.New, e.Key)
	e.mu.Lock()
	known := e.ids
	e.mu.Unlock()
	ids := make(map[string]string, len(s.Clusters))
	defer func() {
		e.mu.Lock()
		e.ids = ids
		e.mu.Unlock()
	}()
	out := make([]Cluster, 0, len(s.Clusters))
	// Clusters share few versions, drivers and providers: clean each once.
	memo := cleanMemo{}
	clean := func(field, v string) string { return memo.clean(o, field, v, 1) }
	for i := range s.Clusters {
		c := &s.Clusters[i]
		kept := c.RoleCounts()
		roles := Roles{ControlPlane: int64(kept.ControlPlane), Etcd: int64(kept.Etcd), Worker: int64(kept.Worker)}
		nodes := int64(c.NodeCount())
		id, ok := known[c.Name]
		if !ok {
			id = clusterID(mac, c.Name)
		}
		ids[c.Name] = id
		out = append(out, Cluster{
			ID:                id,
			Upstream:          c.Upstream,
			KubernetesVersion: clean(FieldClusterKubernetesVersion, c.KubernetesVersion),
			Driver:            clean(FieldClusterDriver, c.Driver),
			Provider:          clean(FieldClusterProvider, c.Provider),
			CapacitySource:    capacitySource(c.CapacitySource),
			Nodes:             nodes,
			InvalidNodes:      int64(c.InvalidNodes),
			Roles:             roles,
			CPUCores:          c.CPUCores,
			CPUMillicores:     c.CPUMillis,
			MemoryBytes:       c.MemoryBytes,
		})
	}
	return out
}

// sortedOrder returns the indices of s in the order cmp sorts it, so that
// the elements are never moved: sorting them would copy two for every
// comparison, and a Cluster is 15 words.
func sortedOrder[T any](s []T, cmp func(a, b *T) int) []int32 {
	idx := make([]int32, len(s))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int { return cmp(&s[i], &s[j]) })
	return idx
}

// compareClusters orders clusters by id. Ids are unique but for an HMAC
// collision or a duplicate name; the other fields break such ties so the
// order never depends on the input.
func compareClusters(a, b *Cluster) int {
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return cmp.Or(
		compareBool(a.Upstream, b.Upstream),
		cmp.Compare(a.KubernetesVersion, b.KubernetesVersion),
		cmp.Compare(a.Driver, b.Driver),
		cmp.Compare(a.Provider, b.Provider),
		cmp.Compare(a.CapacitySource, b.CapacitySource),
		cmp.Compare(a.Nodes, b.Nodes),
		cmp.Compare(a.InvalidNodes, b.InvalidNodes),
		cmp.Compare(a.Roles.ControlPlane, b.Roles.ControlPlane),
		cmp.Compare(a.Roles.Etcd, b.Roles.Etcd),
		cmp.Compare(a.Roles.Worker, b.Roles.Worker),
		cmp.Compare(a.CPUCores, b.CPUCores),
		cmp.Compare(a.CPUMillicores, b.CPUMillicores),
		cmp.Compare(a.MemoryBytes, b.MemoryBytes),
	)
}

// capacitySource maps anything but the known sources to "unknown", so a
// gatherer bug cannot put an arbitrary string in the payload.
func capacitySource(c snapshot.CapacitySource) string {
	switch c {
	case snapshot.FromNodes, snapshot.FromCluster:
		return string(c)
	default:
		return string(snapshot.Unknown)
	}
}

type groupKey struct {
	upstream                            bool
	kubernetesVersion, driver, provider string
	nodesMin                            int64
}

// groups aggregates clusters by upstream flag, Kubernetes version, driver,
// provider and node count bucket, sorted by those fields.
func groups(clusters []Cluster) []ClusterGroup {
	index := map[groupKey]int{}
	out := []ClusterGroup{}
	for i := range clusters {
		c := &clusters[i]
		lo, hi := nodeBucket(c.Nodes)
		k := groupKey{c.Upstream, c.KubernetesVersion, c.Driver, c.Provider, lo}
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, ClusterGroup{
				Upstream:          c.Upstream,
				KubernetesVersion: c.KubernetesVersion,
				Driver:            c.Driver,
				Provider:          c.Provider,
				NodesMin:          lo,
				NodesMax:          hi,
			})
		}
		g := &out[j]
		g.Count++
		g.Nodes += c.Nodes
		g.InvalidNodes += c.InvalidNodes
		g.Roles.ControlPlane += c.Roles.ControlPlane
		g.Roles.Etcd += c.Roles.Etcd
		g.Roles.Worker += c.Roles.Worker
		g.CPUCores += c.CPUCores
		g.CPUMillicores += c.CPUMillicores
		g.MemoryBytes += c.MemoryBytes
	}
	slices.SortFunc(out, func(a, b ClusterGroup) int {
		return cmp.Or(
			compareBool(a.Upstream, b.Upstream),
			cmp.Compare(a.KubernetesVersion, b.KubernetesVersion),
			cmp.Compare(a.Driver, b.Driver),
			cmp.Compare(a.Provider, b.Provider),
			cmp.Compare(a.NodesMin, b.NodesMin),
		)
	})
	return out
}

// nodeBucket returns the power-of-two range n falls in: 0-0, 1-1, 2-3,
// 4-7, ...
func nodeBucket(n int64) (lo, hi int64) {
	if n <= 0 {
		return 0, 0
	}
	lo = 1 << (bits.Len64(uint64(n)) - 1)
	return lo, 2*lo - 1
}

// profileKey is a node shape before bucketing. Its strings are indices
// into the names exactProfiles returns, and its role the role bits: a key
// of integers hashes and compares several times faster than one of
// strings, and the profile maps of 60,000 distinct nodes are hashed once
// per node and bucketing level.
type profileKey struct {
	arch, os, runtime, kubeletMinor uint32
	cores, mib                      int64
	roles                           uint8 // control-plane, etcd, worker bits, as roleBits
	upstream                        bool
}

// roleBits packs a node's roles as the index of their name in roles.
func roleBits(controlPlane, etcd, worker bool) uint8 {
	return uint8(b2i(controlPlane)<<2 | b2i(etcd)<<1 | b2i(worker))
}

// cleanMemo keeps the cleaned form of each (field, value) pair seen.
type cleanMemo map[[2]string]cleaned

type cleaned struct {
	value    string
	replaced bool
}

// clean returns the value of v that may be exported as field, and counts
// count replacements in o when it was replaced.
func (m cleanMemo) clean(o others, field, v string, count int64) string {
	k := [2]string{field, v}
	r, ok := m[k]
	if !ok {
		r.value, r.replaced = vocab.Clean(fields[field], v)
		m[k] = r
	}
	if r.replaced {
		o[field] += count
	}
	return r.value
}

// exactProfiles counts the valid nodes by exact shape, and in o the nodes
// whose arch, OS, runtime or kubelet version was replaced. It returns the
// cleaned strings the keys index.
func exactProfiles(s *snapshot.Snapshot, o others) (map[profileKey]int64, []string) {
	profiles := snapshot.ProfilesOf(s)
	// Cleaning rarely merges profiles: one key each, and no rehash.
	out := make(map[profileKey]int64, len(profiles))
	// Installations have few distinct values: clean and index each once,
	// count it for every node.
	memo := cleanMemo{}
	var names []string
	index := map[string]uint32{}
	nameOf := func(v string) uint32 {
		i, ok := index[v]
		if !ok {
			i = uint32(len(names))
			index[v] = i
			names = append(names, v)
		}
		return i
	}
	nodeFields := [4]string{FieldNodeArch, FieldNodeOS, FieldNodeRuntime, FieldNodeKubeletVersion}
	// Profiles are sorted by these four strings first, so runs of them
	// share them: the last ones are kept cleaned.
	var last struct {
		in       [4]string
		out      [4]uint32
		replaced [4]bool
		ok       bool
	}
	for _, p := range profiles {
		count := int64(p.Count)
		if in := [4]string{p.Arch, p.OS, p.ContainerRuntimeVersion, p.KubeletVersion}; !last.ok || in != last.in {
			last.in, last.ok = in, true
			for f, field := range nodeFields {
				r, ok := memo[[2]string{field, in[f]}]
				if !ok {
					r.value, r.replaced = vocab.Clean(fields[field], in[f])
					memo[[2]string{field, in[f]}] = r
				}
				last.out[f], last.replaced[f] = nameOf(r.value), r.replaced
			}
		}
		for f, field := range nodeFields {
			if last.replaced[f] {
				o[field] += count
			}
		}
		out[profileKey{
			arch:         last.out[0],
			os:           last.out[1],
			runtime:      last.out[2],
			kubeletMinor: last.out[3],
			cores:        p.CPUCores,
			mib:          p.MemoryMiB,
			roles:        roleBits(p.ControlPlane, p.Etcd, p.Worker),
			upstream:     p.Upstream,
		}] += count
	}
	return out, names
}

// profileLevels returns a function giving the profile counts bucketed as
// profileLadder[i] says, computed on first use. Each level is derived from
// the one before, which is exact because every rung's memory step divides
// the next and power-of-two rounding is idempotent (TestLadderNested), and
// cheap because each level has no more keys than the one before.
func profileLevels(exact map[profileKey]int64) func(i int) map[profileKey]int64 {
	levels := []map[profileKey]int64{exact}
	return func(i int) map[profileKey]int64 {
		for len(levels) <= i {
			levels = append(levels, bucket(levels[len(levels)-1], profileLadder[len(levels)]))
		}
		return levels[i]
	}
}

// bucket rounds the shapes as b says and merges those that become equal.
func bucket(counts map[profileKey]int64, b Bucketing) map[profileKey]int64 {
	out := make(map[profileKey]int64, len(counts)/4)
	for k, n := range counts {
		k.mib = roundUp(k.mib, b.MemoryMiB)
		if b.CPUCores == CoresPowerOfTwo {
			k.cores = ceilPow2(k.cores)
		}
		out[k] += n
	}
	return out
}

// profileList lists the counted shapes, unsorted (see compareProfiles),
// with the strings their keys index in names.
func profileList(counts map[profileKey]int64, names []string) []NodeProfile {
	out := make([]NodeProfile, 0, len(counts))
	for k, n := range counts {
		out = append(out, NodeProfile{
			Arch:         names[k.arch],
			OS:           names[k.os],
			Runtime:      names[k.runtime],
			KubeletMinor: names[k.kubeletMinor],
			CPUCores:     k.cores,
			MemoryMiB:    k.mib,
			Role:         roles[k.roles],
			Upstream:     k.upstream,
			Count:        n,
		})
	}
	return out
}

// compareProfiles orders node profiles by every field but the count, which
// no two profiles share the rest of.
func compareProfiles(a, b *NodeProfile) int {
	return cmp.Or(
		cmp.Compare(a.Arch, b.Arch),
		cmp.Compare(a.OS, b.OS),
		cmp.Compare(a.Runtime, b.Runtime),
		cmp.Compare(a.KubeletMinor, b.KubeletMinor),
		cmp.Compare(a.CPUCores, b.CPUCores),
		cmp.Compare(a.MemoryMiB, b.MemoryMiB),
		cmp.Compare(a.Role, b.Role),
		compareBool(a.Upstream, b.Upstream),
	)
}

// roles are the role names by control-plane, etcd and worker bits.
var roles = [8]string{
	0b000: "none",
	0b001: "worker",
	0b010: "etcd",
	0b011: "etcd+worker",
	0b100: "control-plane",
	0b101: "control-plane+worker",
	0b110: "control-plane+etcd",
	0b111: "control-plane+etcd+worker",
}

// Role joins the roles a node has, in the order control-plane, etcd,
// worker, with "+"; a node with none is "none".
func Role(controlPlane, etcd, worker bool) string {
	return roles[roleBits(controlPlane, etcd, worker)]
}

// roundUp rounds n up to a multiple of step; steps below 2 leave it alone.
func roundUp(n, step int64) int64 {
	if step <= 1 || n <= 0 {
		return n
	}
	return (n + step - 1) / step * step
}

// ceilPow2 rounds n up to a power of two; 0 stays 0.
func ceilPow2(n int64) int64 {
	if n <= 1 {
		return n
	}
	return 1 << bits.Len64(uint64(n-1))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func compareBool(a, b bool) int {
	return cmp.Compare(b2i(a), b2i(b))
}
