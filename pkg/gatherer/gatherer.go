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
)

// Names of the Rancher settings read.
const (
	SettingInstallUUID   = "install-uuid"
	SettingServerURL     = "server-url"
	SettingServerVersion = "server-version"
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
		g.log.WithFields(logrus.Fields{"object": p.Object, "field": p.Field}).Warnf("left out of the report: %v", p.Err)
	}
	g.logged = seen
}

func (g *Gatherer) rancher() (*snapshot.Snapshot, error) {
	install := g.install()
	install.Mode = snapshot.ModeRancher

	s := &snapshot.Snapshot{}
	if v, err := g.setting(SettingInstallUUID); err != nil {
		return nil, err
	} else if v != "" {
		install.InstallUUID = v
	}
	if install.InstallUUID == "" {
		return nil, fmt.Errorf("reading setting %s: %w", SettingInstallUUID, ErrNoInstallUUID)
	}
	for _, name := range []string{SettingServerURL, SettingServerVersion} {
		v, err := g.setting(name)
		if err != nil {
			return nil, err
		}
		if v == "" {
			continue
		}
		if name == SettingServerURL {
			install.ServerURL = v
		} else {
			install.Version = v
		}
	}

	features, err := g.cfg.Features.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing features: %w", err)
	}
	install.Features = []string{}
	for _, f := range features {
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

	memo := newQuantityMemo()
	s.Clusters = make([]snapshot.Cluster, 0, len(clusters))
	for _, c := range clusters {
		sc := snapshot.Cluster{
			Name:     c.Name,
			Upstream: c.Name == snapshot.UpstreamClusterName,
			Driver:   c.Status.Driver,
			Provider: c.Status.Provider,
		}
		if c.Status.Version != nil {
			sc.KubernetesVersion = c.Status.Version.GitVersion
		}
		for _, n := range byCluster[c.Name] {
			node, problems := rancherNode(n, memo)
			if len(problems) > 0 {
				sc.InvalidNodes++
				s.Problems = append(s.Problems, problems...)
				continue
			}
			sc.Nodes = append(sc.Nodes, node)
		}
		delete(byCluster, c.Name)
		s.Problems = append(s.Problems, finishCluster(&sc, "Cluster "+c.Name, c.Status.Capacity, memo)...)
		if sc.Upstream && sc.KubernetesVersion != "" {
			install.KubernetesVersion = sc.KubernetesVersion
		}
		s.Clusters = append(s.Clusters, sc)
	}
	for ns, orphans := range byCluster {
		for _, n := range orphans {
			s.Problems = append(s.Problems, snapshot.Problem{
				Object: "Node " + ns + "/" + n.Name, Field: "metadata.namespace",
				Err: fmt.Errorf("%w: no Cluster %q", ErrNoCluster, ns),
			})
		}
	}
	slices.SortFunc(s.Clusters, func(a, b snapshot.Cluster) int { return strings.Compare(a.Name, b.Name) })
	s.Install = install
	return s, nil
}

func (g *Gatherer) setting(name string) (string, error) {
	st, err := g.cfg.Settings.Get(name)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading setting %s: %w", name, err)
	}
	return st.Effective(), nil
}

// rancherNode reads one v3 Node; any problem makes the whole node invalid.
func rancherNode(n *v3.Node, memo *quantityMemo) (snapshot.Node, []snapshot.Problem) {
	st := n.Status.InternalNodeStatus
	out := snapshot.Node{
		Arch:                    st.NodeInfo.Architecture,
		OS:                      st.NodeInfo.OperatingSystem,
		ContainerRuntimeVersion: st.NodeInfo.ContainerRuntimeVersion,
		KubeletVersion:          st.NodeInfo.KubeletVersion,
		ControlPlane:            n.Spec.ControlPlane,
		Etcd:                    n.Spec.Etcd,
		Worker:                  n.Spec.Worker,
	}
	var problems []snapshot.Problem
	cpuField, cpu := pick(st.Capacity, st.Allocatable, "cpu")
	millis, err := memo.CPU(string(cpu))
	if err != nil {
		problems = append(problems, snapshot.Problem{Object: "Node " + n.Namespace + "/" + n.Name, Field: "status.internalNodeStatus." + cpuField, Err: err})
	}
	memField, mem := pick(st.Capacity, st.Allocatable, "memory")
	bytes, err := memo.Memory(string(mem))
	if err != nil {
		problems = append(problems, snapshot.Problem{Object: "Node " + n.Namespace + "/" + n.Name, Field: "status.internalNodeStatus." + memField, Err: err})
	}
	out.CPUMillis, out.MemoryBytes = millis, bytes
	return out, problems
}

// pick returns capacity[name], or allocatable[name] when capacity lacks it,
// with the field path it came from.
func pick(capacity, allocatable v3.ResourceList, name string) (string, v3.Quantity) {
	if q, ok := capacity[name]; ok || allocatable == nil {
		return "capacity." + name, q
	}
	if q, ok := allocatable[name]; ok {
		return "allocatable." + name, q
	}
	return "capacity." + name, ""
}

// finishCluster sorts the nodes and sums them, or falls back to the cluster's
// own capacity when it has no Node objects at all.
func finishCluster(c *snapshot.Cluster, obj string, capacity v3.ResourceList, memo *quantityMemo) []snapshot.Problem {
	snapshot.SortNodes(c.Nodes)
	if c.Nodes == nil {
		c.Nodes = []snapshot.Node{}
	}
	if len(c.Nodes) > 0 || c.InvalidNodes > 0 {
		c.CapacitySource = snapshot.FromNodes
		for _, n := range c.Nodes {
			c.CPUMillis += n.CPUMillis
			c.CPUCores += snapshot.CoresOf(n.CPUMillis)
			c.MemoryBytes += n.MemoryBytes
		}
		return nil
	}
	c.CapacitySource = snapshot.Unknown
	if len(capacity) == 0 {
		return nil
	}
	var problems []snapshot.Problem
	millis, err := memo.CPU(string(capacity["cpu"]))
	if err != nil {
		problems = append(problems, snapshot.Problem{Object: obj, Field: "status.capacity.cpu", Err: err})
	}
	bytes, err := memo.Memory(string(capacity["memory"]))
	if err != nil {
		problems = append(problems, snapshot.Problem{Object: obj, Field: "status.capacity.memory", Err: err})
	}
	if len(problems) > 0 {
		return problems
	}
	c.CapacitySource = snapshot.FromCluster
	c.CPUMillis, c.MemoryBytes, c.CPUCores = millis, bytes, snapshot.CoresOf(millis)
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
	for _, n := range nodes {
		node, problems := coreNode(n)
		if len(problems) > 0 {
			c.InvalidNodes++
			s.Problems = append(s.Problems, problems...)
			continue
		}
		if c.Provider == "" {
			c.Provider = ProviderOf(node.KubeletVersion)
		}
		c.Nodes = append(c.Nodes, node)
	}
	finishCluster(&c, "", nil, nil)
	s.Clusters = []snapshot.Cluster{c}
	s.Install = install
	return s, nil
}

func coreNode(n *corev1.Node) (snapshot.Node, []snapshot.Problem) {
	info := n.Status.NodeInfo
	_, cp := n.Labels[LabelControlPlane]
	_, master := n.Labels[LabelMaster]
	_, etcd := n.Labels[LabelEtcd]
	_, worker := n.Labels[LabelWorker]
	out := snapshot.Node{
		Arch:                    info.Architecture,
		OS:                      info.OperatingSystem,
		ContainerRuntimeVersion: info.ContainerRuntimeVersion,
		KubeletVersion:          info.KubeletVersion,
		ControlPlane:            cp || master,
		Etcd:                    etcd,
		Worker:                  worker,
	}
	var problems []snapshot.Problem
	if q, ok := n.Status.Capacity[corev1.ResourceCPU]; ok {
		out.CPUMillis = q.MilliValue()
	} else {
		problems = append(problems, snapshot.Problem{Object: "Node " + n.Name, Field: "status.capacity.cpu", Err: ErrNoCPU})
	}
	if q, ok := n.Status.Capacity[corev1.ResourceMemory]; ok {
		out.MemoryBytes = q.Value()
	} else {
		problems = append(problems, snapshot.Problem{Object: "Node " + n.Name, Field: "status.capacity.memory", Err: ErrNoMemory})
	}
	return out, problems
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
