// Package gatherer reads the shared informer caches and builds a Snapshot.
// It makes no API call: every figure comes from the caches, so a snapshot
// costs CPU, never API server load.
package gatherer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Errors about whole objects, for errors.Is.
var (
	// ErrNoCluster marks a v3 Node whose namespace names no Cluster.
	ErrNoCluster = errors.New("owning cluster not found")
	// ErrNoInstallUUID means the install UUID is not known yet.
	ErrNoInstallUUID = errors.New("install UUID not set")
	// ErrWrongType marks a field whose JSON type is not the one its kind
	// has, e.g. spec.worker: "yes".
	ErrWrongType = errors.New("wrong JSON type")
)

// Names of the Rancher settings read.
const (
	SettingInstallUUID   = v3.SettingInstallUUID
	SettingServerURL     = v3.SettingServerURL
	SettingServerVersion = v3.SettingServerVersion
)

// Labels that carry the roles of a core/v1 Node.
const (
	LabelControlPlane = "node-role.kubernetes.io/control-plane"
	LabelMaster       = "node-role.kubernetes.io/master"
	LabelEtcd         = "node-role.kubernetes.io/etcd"
	LabelWorker       = "node-role.kubernetes.io/worker"
)

// ClusterLister lists v3 Clusters (a wrangler NonNamespacedCache fits).
type ClusterLister interface {
	List(selector labels.Selector) ([]*v3.Cluster, error)
}

// NodeLister lists v3 Nodes of every namespace (a wrangler Cache fits).
type NodeLister interface {
	List(namespace string, selector labels.Selector) ([]*v3.Node, error)
}

// SettingGetter reads one v3 Setting.
type SettingGetter interface {
	Get(name string) (*v3.Setting, error)
}

// FeatureLister lists v3 Features.
type FeatureLister interface {
	List(selector labels.Selector) ([]*v3.Feature, error)
}

// CoreNodeLister lists core/v1 Nodes.
type CoreNodeLister interface {
	List(selector labels.Selector) ([]*corev1.Node, error)
}

// Config is what a Gatherer reads. Rancher mode needs Clusters, Nodes,
// Settings and Features; kubernetes mode needs CoreNodes.
type Config struct {
	Mode snapshot.Mode

	Clusters  ClusterLister
	Nodes     NodeLister
	Settings  SettingGetter
	Features  FeatureLister
	CoreNodes CoreNodeLister

	// Install holds what the caches do not: the cluster UUID (UID of the
	// kube-system namespace), the build's version and commit, the Kubernetes
	// version from discovery and, in kubernetes mode, the install UUID kept in
	// the telemetry namespace. Rancher settings override Version, ServerURL
	// and InstallUUID when they are set.
	Install snapshot.Install

	Log *logrus.Entry
}

// Gatherer builds snapshots from caches. It is safe for concurrent use.
type Gatherer struct {
	cfg Config
	log *logrus.Entry

	mu     sync.Mutex
	logged map[string]struct{} // problems already logged, so each is logged once
	// kubeVersion overrides cfg.Install.KubernetesVersion once set (see
	// SetKubernetesVersion); guarded by mu.
	kubeVersion string
}

// SetKubernetesVersion records the upstream Kubernetes version read from
// discovery, so that an upgrade of the cluster the manager runs in shows in
// the next snapshot. It reports whether the version changed. Safe for
// concurrent use.
func (g *Gatherer) SetKubernetesVersion(v string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.kubeVersion == v {
		return false
	}
	g.kubeVersion = v
	return true
}

// install returns the configured install information with the latest
// Kubernetes version from discovery.
func (g *Gatherer) install() snapshot.Install {
	g.mu.Lock()
	defer g.mu.Unlock()
	in := g.cfg.Install
	if g.kubeVersion != "" {
		in.KubernetesVersion = g.kubeVersion
	}
	return in
}

// New returns a Gatherer for cfg.
func New(cfg Config) (*Gatherer, error) {
	var errs []error
	switch cfg.Mode {
	case snapshot.ModeRancher:
		if cfg.Clusters == nil || cfg.Nodes == nil || cfg.Settings == nil || cfg.Features == nil {
			errs = append(errs, errors.New("rancher mode needs cluster, node, setting and feature caches"))
		}
	case snapshot.ModeKubernetes:
		if cfg.CoreNodes == nil {
			errs = append(errs, errors.New("kubernetes mode needs a core node cache"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown mode %q (valid: %s, %s)", cfg.Mode, snapshot.ModeRancher, snapshot.ModeKubernetes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	return &Gatherer{cfg: cfg, log: log.WithField("component", "gatherer"), logged: map[string]struct{}{}}, nil
}

// Mode returns the mode the gatherer reads in.
func (g *Gatherer) Mode() snapshot.Mode { return g.cfg.Mode }

// Snapshot reads the caches once. Bad objects never fail it: they are left
// out, listed in Snapshot.Problems and logged once while they stay bad. It
// fails only when a cache cannot be listed or the install UUID is unknown.
func (g *Gatherer) Snapshot() (*snapshot.Snapshot, error) {
	var (
		s   *snapshot.Snapshot
		err error
	)
	switch g.cfg.Mode {
	case snapshot.ModeRancher:
		s, err = g.rancher()
	default:
		s, err = g.kubernetes()
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(s.Problems, func(a, b snapshot.Problem) int {
		if c := strings.Compare(a.Object, b.Object); c != 0 {
			return c
		}
		return strings.Compare(a.Field, b.Field)
	})
	g.logProblems(s.Problems)
	return s, nil
}

// logProblems logs each problem the first time it is seen, and forgets the
// ones that are gone so that they are logged again if they come back.
func (g *Gatherer) logProblems(problems []snapshot.Problem) {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen := make(map[string]struct{}, len(problems))
	for _, p := range problems {
		key := p.Error()
		seen[key] = struct{}{}
		if _, ok := g.logged[key]; ok {
			continue
		}
		log := g.log.WithFields(logrus.Fields{"object": p.Object, "field": p.Field})
		if p.Kind() == "Node" {
			// Any problem makes a node invalid (see addNode).
			log.Warnf("invalid node left out of the sums: %v", p.Err)
		} else {
			log.Warnf("field ignored: %v", p.Err)
		}
	}
	g.logged = seen
}

func (g *Gatherer) rancher() (*snapshot.Snapshot, error) {
	install := g.install()
	install.Mode = snapshot.ModeRancher

	s := &snapshot.Snapshot{}
	if v, _, err := g.setting(s, SettingInstallUUID); err != nil {
		return nil, err
	} else if v != "" {
		install.InstallUUID = v
	}
	if install.InstallUUID == "" {
		return nil, fmt.Errorf("reading setting %s: %w", SettingInstallUUID, ErrNoInstallUUID)
	}
	for _, name := range []string{SettingServerURL, SettingServerVersion} {
		v, unreadable, err := g.setting(s, name)
		if err != nil {
			return nil, err
		}
		switch {
		case name == SettingServerURL:
			install.ServerURL = v
		case v != "":
			install.Version = v
		case unreadable:
			// Rancher's version is there but cannot be read: say so
			// rather than report the manager's own version as Rancher's.
			install.Version = OtherValue
		}
	}

	features, err := g.cfg.Features.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing features: %w", err)
	}
	install.Features = []string{}
	for _, f := range features {
		s.Problems = append(s.Problems, typeProblems("Feature "+f.Name, f.Problems())...)
		if f.Enabled() {
			install.Features = append(install.Features, f.Name)
		}
	}
	slices.Sort(install.Features)

	clusters, err := g.cfg.Clusters.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing clusters: %w", err)
	}
	nodes, err := g.cfg.Nodes.List("", labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}

	byCluster := make(map[string][]*v3.Node, len(clusters))
	for _, n := range nodes {
		byCluster[n.Namespace] = append(byCluster[n.Namespace], n)
	}
	// Objects are read in name order, so that when a sum would overflow the
	// same object is refused whatever order the caches list them in.
	slices.SortFunc(clusters, func(a, b *v3.Cluster) int { return strings.Compare(a.Name, b.Name) })

	memo := newQuantityMemo()
	var total sums
	s.Clusters = make([]snapshot.Cluster, 0, len(clusters))
	for _, c := range clusters {
		obj := "Cluster " + c.Name
		sc := snapshot.Cluster{
			Name:              c.Name,
			Upstream:          c.Name == snapshot.UpstreamClusterName,
			Driver:            c.Status.Driver,
			Provider:          c.Status.Provider,
			KubernetesVersion: c.Status.Version.GitVersion,
		}
		s.Problems = append(s.Problems, typeProblems(obj, c.Problems())...)
		members := byCluster[c.Name]
		slices.SortFunc(members, func(a, b *v3.Node) int { return strings.Compare(a.Name, b.Name) })
		for _, n := range members {
			object := "Node " + n.Namespace + "/" + n.Name
			in := nodeInput{
				object: object, prefix: "status.internalNodeStatus.",
				capacity: n.Status.InternalNodeStatus.Capacity, allocatable: n.Status.InternalNodeStatus.Allocatable,
				info:         n.Status.InternalNodeStatus.NodeInfo,
				controlPlane: n.Spec.ControlPlane, etcd: n.Spec.Etcd, worker: n.Spec.Worker,
				problems: typeProblems(object, n.Problems()),
			}
			s.Problems = append(s.Problems, addNode(&sc, &total, in, memo)...)
		}
		delete(byCluster, c.Name)
		s.Problems = append(s.Problems, finishCluster(&sc, &total, obj, c.Status.Capacity, memo)...)
		if sc.Upstream && sc.KubernetesVersion != "" {
			install.KubernetesVersion = sc.KubernetesVersion
		}
		s.Clusters = append(s.Clusters, sc)
	}
	for ns, orphans := range byCluster {
		for _, n := range orphans {
			s.OrphanNodes++
			s.Problems = append(s.Problems, snapshot.Problem{
				Object: "Node " + ns + "/" + n.Name, Field: "metadata.namespace",
				Err: fmt.Errorf("%w: no Cluster %q", ErrNoCluster, ns),
			})
		}
	}
	s.Install = install
	return s, nil
}

// OtherValue is exported in place of a value that exists but cannot be
// read or is not in its vocabulary.
const OtherValue = "other"

// setting returns the effective value of a Setting, "" when it is missing.
// A wrong-typed value is a problem of the Setting and reads as unset;
// unreadable reports whether the Setting had such a problem.
func (g *Gatherer) setting(s *snapshot.Snapshot, name string) (value string, unreadable bool, err error) {
	st, err := g.cfg.Settings.Get(name)
	if apierrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading setting %s: %w", name, err)
	}
	problems := typeProblems("Setting "+name, st.Problems())
	s.Problems = append(s.Problems, problems...)
	return st.Effective(), len(problems) > 0, nil
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

// nodeInput is what one node of either mode contributes: v3 Nodes and core
// Nodes go through the same rules (addNode).
type nodeInput struct {
	object string // "Node c-abc/m-1"
	// prefix is the JSON path of the quantity lists' parent, with a dot.
	prefix                     string
	capacity, allocatable      v3.ResourceList
	info                       v3.NodeInfo
	controlPlane, etcd, worker bool
	problems                   []snapshot.Problem // found while decoding
}

// addNode reads one node into the cluster. Any problem makes the whole node
// invalid: it is counted in InvalidNodes and left out of every sum. So is a
// node whose figures would overflow the cluster's or the installation's sums.
func addNode(c *snapshot.Cluster, total *sums, in nodeInput, memo *quantityMemo) []snapshot.Problem {
	problems := in.problems
	cpuField, cpu := pick(in.capacity, in.allocatable, "cpu")
	millis, err := memo.CPU(cpu.Text)
	if err != nil && cpu.Bad == v3.KindNone { // a wrong type is reported already
		problems = append(problems, snapshot.Problem{Object: in.object, Field: in.prefix + cpuField, Err: err})
	}
	memField, mem := pick(in.capacity, in.allocatable, "memory")
	bytes, err := memo.Memory(mem.Text)
	if err != nil && mem.Bad == v3.KindNone {
		problems = append(problems, snapshot.Problem{Object: in.object, Field: in.prefix + memField, Err: err})
	}
	if len(problems) == 0 {
		cores := snapshot.CoresOf(millis)
		cluster := sums{c.CPUMillis, c.CPUCores, c.MemoryBytes}
		if !cluster.add(millis, cores, bytes) || !total.add(millis, cores, bytes) {
			// total.add changes nothing when it fails, and it runs only
			// after cluster.add succeeded, so both stay consistent.
			c.InvalidNodes++
			return []snapshot.Problem{{Object: in.object, Field: in.prefix + "capacity",
				Err: fmt.Errorf("%w: adding this node overflows the sums", ErrOutOfRange)}}
		}
		c.CPUMillis, c.CPUCores, c.MemoryBytes = cluster.millis, cluster.cores, cluster.bytes
		c.Nodes = append(c.Nodes, snapshot.Node{
			Arch:                    in.info.Architecture,
			OS:                      in.info.OperatingSystem,
			ContainerRuntimeVersion: in.info.ContainerRuntimeVersion,
			KubeletVersion:          in.info.KubeletVersion,
			ControlPlane:            in.controlPlane,
			Etcd:                    in.etcd,
			Worker:                  in.worker,
			CPUMillis:               millis,
			MemoryBytes:             bytes,
		})
		return nil
	}
	c.InvalidNodes++
	return problems
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

// finishCluster sorts the nodes, or falls back to the cluster's own capacity
// when it has no Node objects at all.
func finishCluster(c *snapshot.Cluster, total *sums, obj string, capacity v3.ResourceList, memo *quantityMemo) []snapshot.Problem {
	snapshot.SortNodes(c.Nodes)
	if c.Nodes == nil {
		c.Nodes = []snapshot.Node{}
	}
	if len(c.Nodes) > 0 || c.InvalidNodes > 0 {
		c.CapacitySource = snapshot.FromNodes
		return nil
	}
	c.CapacitySource = snapshot.Unknown
	if capacity.Empty() {
		return nil
	}
	var problems []snapshot.Problem
	cpu, _ := capacity.Get("cpu")
	millis, err := parseCPU(cpu.Text, MaxClusterMillicores)
	if err != nil && cpu.Bad == v3.KindNone {
		problems = append(problems, snapshot.Problem{Object: obj, Field: "status.capacity.cpu", Err: err})
	}
	mem, _ := capacity.Get("memory")
	bytes, err := parseMemory(mem.Text, MaxClusterBytes)
	if err != nil && mem.Bad == v3.KindNone {
		problems = append(problems, snapshot.Problem{Object: obj, Field: "status.capacity.memory", Err: err})
	}
	if len(problems) > 0 || cpu.Bad != v3.KindNone || mem.Bad != v3.KindNone {
		return problems
	}
	cores := snapshot.CoresOf(millis)
	if !total.add(millis, cores, bytes) {
		return []snapshot.Problem{{Object: obj, Field: "status.capacity",
			Err: fmt.Errorf("%w: adding this cluster's capacity overflows the sums", ErrOutOfRange)}}
	}
	c.CapacitySource = snapshot.FromCluster
	c.CPUMillis, c.MemoryBytes, c.CPUCores = millis, bytes, cores
	return nil
}

func (g *Gatherer) kubernetes() (*snapshot.Snapshot, error) {
	install := g.install()
	install.Mode = snapshot.ModeKubernetes
	if install.InstallUUID == "" {
		return nil, ErrNoInstallUUID
	}
	if install.Features == nil {
		install.Features = []string{}
	}
	nodes, err := g.cfg.CoreNodes.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	s := &snapshot.Snapshot{}
	c := snapshot.Cluster{
		Name:              snapshot.UpstreamClusterName,
		Upstream:          true,
		KubernetesVersion: install.KubernetesVersion,
		Driver:            "kubernetes",
	}
	memo := newQuantityMemo()
	var total sums
	slices.SortFunc(nodes, func(a, b *corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	for _, n := range nodes {
		s.Problems = append(s.Problems, addNode(&c, &total, coreNode(n), memo)...)
		if c.Provider == "" && len(c.Nodes) > 0 {
			c.Provider = ProviderOf(c.Nodes[len(c.Nodes)-1].KubeletVersion)
		}
	}
	finishCluster(&c, &total, "", v3.ResourceList{}, memo)
	s.Clusters = []snapshot.Cluster{c}
	s.Install = install
	return s, nil
}

// coreNode reads a core/v1 Node with the rules of a v3 Node: roles from the
// node-role labels, quantities as text.
func coreNode(n *corev1.Node) nodeInput {
	info := n.Status.NodeInfo
	_, cp := n.Labels[LabelControlPlane]
	_, master := n.Labels[LabelMaster]
	_, etcd := n.Labels[LabelEtcd]
	_, worker := n.Labels[LabelWorker]
	return nodeInput{
		object: "Node " + n.Name, prefix: "status.",
		capacity: coreResources(n.Status.Capacity), allocatable: coreResources(n.Status.Allocatable),
		info: v3.NodeInfo{
			Architecture:            info.Architecture,
			OperatingSystem:         info.OperatingSystem,
			ContainerRuntimeVersion: info.ContainerRuntimeVersion,
			KubeletVersion:          info.KubeletVersion,
		},
		controlPlane: cp || master, etcd: etcd, worker: worker,
	}
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

// ProviderOf guesses the distribution from a kubelet version such as
// v1.32.4+rke2r1, v1.31.2+k3s1 or v1.30.5-eks-ce1d5eb; "" when unknown.
func ProviderOf(kubeletVersion string) string {
	switch v := strings.ToLower(kubeletVersion); {
	case strings.Contains(v, "+rke2"):
		return "rke2"
	case strings.Contains(v, "+k3s"):
		return "k3s"
	case strings.Contains(v, "-eks-"):
		return "eks"
	case strings.Contains(v, "-gke."):
		return "gke"
	case strings.Contains(v, "+rke"):
		return "rke"
	}
	return ""
}
