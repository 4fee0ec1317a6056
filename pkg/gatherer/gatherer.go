// Package gatherer turns the objects the informers deliver into records,
// parsed once, keeps per-cluster aggregates of them, and composes Snapshots
// from those. It makes no API call, and a snapshot parses nothing: its cost
// grows with the clusters and the distinct node shapes, not with the nodes.
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
	"k8s.io/client-go/tools/cache"

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

// Config is what a Gatherer reads.
//
// The gatherer keeps a record of every object it reads (see Handlers).
// Records are fed either by registering Handlers on the informers, or, when
// the listers below are set, by reading the listers at each Snapshot
// (Static, the file and test path, does that); both go through the same
// record code. Rancher mode reads Clusters, Nodes, Settings and Features;
// kubernetes mode reads CoreNodes.
type Config struct {
	Mode snapshot.Mode

	// UseHandlers says that the records are fed by Handlers registered on
	// the informers; the listers are then left nil.
	UseHandlers bool

	// Listers, all of the mode's, unless UseHandlers. With them, Snapshot
	// first brings the records up to date with the listers: objects that are
	// the same (pointer and resourceVersion) as last time are not read
	// again.
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

	// OnChange is called, after the change is recorded and outside any
	// lock, each time an event of Handlers changed what a snapshot would
	// show: a record, and so a cluster's figures, the problems or the
	// install information. An event whose object differs only in fields
	// the gatherer does not read (a status heartbeat, a new
	// resourceVersion) does not call it. It runs in the informer's
	// goroutine, so it must not block. Resyncs from listers never call it.
	OnChange func()

	// Census, if set, is told of each change of a cluster's record or node
	// count what the cluster is now, with the gatherer's lock held (so in
	// order, and before OnChange): the lifecycle events are read from it
	// (package events). In kubernetes mode the cluster is
	// snapshot.UpstreamClusterName.
	Census Census

	Log *logrus.Entry
}

// Census follows the clusters; *events.Log is one.
type Census interface {
	// Observe says what the cluster named name is now: whether it exists,
	// its raw Kubernetes version ("" when unknown) and how many Node
	// objects it has, valid or not. It must not block or call the
	// gatherer.
	Observe(name string, present bool, version string, nodes int)
}

// Kind names the kinds whose informers take Handlers.
type Kind string

const (
	KindCluster  Kind = "Cluster"  // management.cattle.io/v3 Cluster
	KindNode     Kind = "Node"     // management.cattle.io/v3 Node
	KindSetting  Kind = "Setting"  // management.cattle.io/v3 Setting
	KindFeature  Kind = "Feature"  // management.cattle.io/v3 Feature
	KindCoreNode Kind = "CoreNode" // core/v1 Node
)

// Gatherer keeps records of the objects it reads and composes snapshots
// from them. It is safe for concurrent use.
type Gatherer struct {
	cfg     Config
	log     *logrus.Entry
	listers bool // records are resynced from the listers at each snapshot

	mu     sync.Mutex
	logged map[string]struct{} // problems already logged, so each is logged once
	// kubeVersion overrides cfg.Install.KubernetesVersion once set (see
	// SetKubernetesVersion).
	kubeVersion string

	strs     *interner
	nodes    map[string]*nodeRecord // v3 and core Nodes, by Problem object name
	groups   map[string]*group      // v3 Clusters and their Nodes, by cluster name
	core     *group                 // the core Nodes of kubernetes mode
	names    []string               // sorted names of the groups that have a Cluster; nil when stale
	settings map[string]*settingRecord
	features map[string]*featureRecord

	// profiles counts the valid nodes of the groups that are clusters (all
	// but orphans) by profile; sortedProfiles lists them, nil when stale.
	profiles       map[snapshot.Profile]int
	sortedProfiles []snapshot.ProfileCount

	// ext are the operator's extensions as last set (see SetExtensions).
	ext extensionSet
}

// extensionSet is what SetExtensions was given.
type extensionSet struct {
	pairs    []snapshot.Extension
	refused  int
	problems []snapshot.Problem
}

func (e *extensionSet) equal(o *extensionSet) bool {
	return e.refused == o.refused && slices.Equal(e.pairs, o.pairs) &&
		slices.EqualFunc(e.problems, o.problems, func(a, b snapshot.Problem) bool { return a.Error() == b.Error() })
}

// SetExtensions records the operator's extensions: the pairs that passed
// their checks, sorted by key, how many were refused and why. Snapshots
// carry them from now on; when they differ from the last ones,
// Config.OnChange is called, outside the lock. It reports whether they
// changed. Safe for concurrent use.
func (g *Gatherer) SetExtensions(pairs []snapshot.Extension, refused int, problems []snapshot.Problem) bool {
	e := extensionSet{pairs: slices.Clone(pairs), refused: refused, problems: slices.Clone(problems)}
	g.mu.Lock()
	changed := !g.ext.equal(&e)
	if changed {
		g.ext = e
	}
	g.mu.Unlock()
	if changed && g.cfg.OnChange != nil {
		g.cfg.OnChange()
	}
	return changed
}

// group is a cluster's aggregate: its Cluster record (nil while none
// exists: its nodes are orphans), its nodes, and the figures of the valid
// ones, updated as nodes come and go.
type group struct {
	cluster *clusterRecord
	nodes   map[string]*nodeRecord // by object name
	invalid int
	shapes  map[snapshot.Node]int // valid nodes by shape
	sums    wideSums              // of the valid nodes
	roles   snapshot.Roles        // of the valid nodes
	states  snapshot.NodeStates   // every node, valid or not, by readiness and role

	sorted   []snapshot.Shape // shapes sorted; nil when stale
	provider *string          // kubernetes mode's provider guess; nil when stale
}

func newGroup() *group {
	return &group{nodes: map[string]*nodeRecord{}, shapes: map[snapshot.Node]int{}}
}

func (gr *group) add(r *nodeRecord) {
	gr.nodes[r.object] = r
	gr.states.Add(r.facts.ready, r.facts.controlPlane, r.facts.etcd, r.facts.worker, 1)
	if r.valid() {
		gr.shapes[r.shape]++
		gr.sums.add(&r.shape)
		gr.roles.Add(&r.shape, 1)
	} else {
		gr.invalid++
	}
	gr.sorted, gr.provider = nil, nil
}

func (gr *group) remove(r *nodeRecord) {
	delete(gr.nodes, r.object)
	gr.states.Add(r.facts.ready, r.facts.controlPlane, r.facts.etcd, r.facts.worker, -1)
	if r.valid() {
		if gr.shapes[r.shape]--; gr.shapes[r.shape] <= 0 {
			delete(gr.shapes, r.shape)
		}
		gr.sums.sub(&r.shape)
		gr.roles.Add(&r.shape, -1)
	} else {
		gr.invalid--
	}
	gr.sorted, gr.provider = nil, nil
}

// sortedShapes returns the shapes, sorted; the slice is shared.
func (gr *group) sortedShapes() []snapshot.Shape {
	if gr.sorted == nil {
		gr.sorted = make([]snapshot.Shape, 0, len(gr.shapes))
		for n, c := range gr.shapes {
			gr.sorted = append(gr.sorted, snapshot.Shape{Node: n, Count: c})
		}
		snapshot.SortShapes(gr.sorted)
	}
	return gr.sorted
}

// byName returns the nodes in name order.
func (gr *group) byName() []*nodeRecord {
	out := make([]*nodeRecord, 0, len(gr.nodes))
	for _, r := range gr.nodes {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *nodeRecord) int { return strings.Compare(a.name, b.name) })
	return out
}

// firstProvider returns the provider of the first valid node, in name
// order, whose kubelet version names one.
func (gr *group) firstProvider() string {
	if gr.provider == nil {
		var best *nodeRecord
		p := ""
		for _, r := range gr.nodes {
			if !r.valid() || (best != nil && r.name >= best.name) {
				continue
			}
			if v := ProviderOf(r.shape.KubeletVersion); v != "" {
				best, p = r, v
			}
		}
		gr.provider = &p
	}
	return *gr.provider
}

// SetCensus sets Config.Census; call it before the informers start, so
// that the census sees every object.
func (g *Gatherer) SetCensus(c Census) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cfg.Census = c
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
	if g.cfg.Census != nil {
		g.observeCore()
	}
	return true
}

// New returns a Gatherer for cfg.
func New(cfg Config) (*Gatherer, error) {
	var errs []error
	switch cfg.Mode {
	case snapshot.ModeRancher:
		set := 0
		for _, l := range []bool{cfg.Clusters != nil, cfg.Nodes != nil, cfg.Settings != nil, cfg.Features != nil} {
			if l {
				set++
			}
		}
		if cfg.UseHandlers && set != 0 || !cfg.UseHandlers && set != 4 {
			errs = append(errs, errors.New("rancher mode needs cluster, node, setting and feature caches, or UseHandlers and none"))
		}
	case snapshot.ModeKubernetes:
		if cfg.UseHandlers == (cfg.CoreNodes != nil) {
			errs = append(errs, errors.New("kubernetes mode needs a core node cache, or UseHandlers and none"))
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
	g := &Gatherer{
		cfg: cfg, log: log.WithField("component", "gatherer"), logged: map[string]struct{}{},
		strs: newInterner(), nodes: map[string]*nodeRecord{}, groups: map[string]*group{}, core: newGroup(),
		settings: map[string]*settingRecord{}, features: map[string]*featureRecord{},
		profiles: map[snapshot.Profile]int{},
	}
	g.listers = !cfg.UseHandlers
	return g, nil
}

// Mode returns the mode the gatherer reads in.
func (g *Gatherer) Mode() snapshot.Mode { return g.cfg.Mode }

// Handlers returns the event handlers to register on the informer of kind.
// Each event is read into the object's record at once; Config.OnChange is
// called when the record changed. Objects of another type are ignored.
func (g *Gatherer) Handlers(kind Kind) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { g.event(kind, obj, false) },
		UpdateFunc: func(_, obj any) { g.event(kind, obj, false) },
		DeleteFunc: func(obj any) { g.event(kind, obj, true) },
	}
}

func (g *Gatherer) event(kind Kind, obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	g.mu.Lock()
	changed := g.apply(kind, obj, deleted)
	if changed && g.cfg.Census != nil {
		g.observe(kind, obj)
	}
	g.mu.Unlock()
	if changed && g.cfg.OnChange != nil {
		g.cfg.OnChange()
	}
}

// apply records one object, or its deletion, and reports whether a record
// changed. Called with mu held.
func (g *Gatherer) apply(kind Kind, obj any, deleted bool) bool {
	switch o := obj.(type) {
	case *v3.Cluster:
		if kind != KindCluster {
			return false
		}
		if deleted {
			return g.deleteCluster(o.Name)
		}
		return g.putCluster(newClusterRecord(o))
	case *v3.Node:
		if kind != KindNode {
			return false
		}
		r := v3NodeRecord(o)
		if deleted {
			return g.deleteNode(r.object)
		}
		return g.putNode(r)
	case *corev1.Node:
		if kind != KindCoreNode {
			return false
		}
		r := coreNodeRecord(o)
		if deleted {
			return g.deleteNode(r.object)
		}
		return g.putNode(r)
	case *nodeRecord: // read by NodeTransform already
		if o.core != (kind == KindCoreNode) || !o.core && kind != KindNode {
			return false
		}
		if deleted {
			return g.deleteNode(o.object)
		}
		return g.putNode(o)
	case *v3.Setting:
		if kind != KindSetting || !v3.ReadSettings[o.Name] {
			return false
		}
		if deleted {
			return g.deleteSetting(o.Name)
		}
		return g.putSetting(o.Name, newSettingRecord(o))
	case *v3.Feature:
		if kind != KindFeature {
			return false
		}
		if deleted {
			return g.deleteFeature(o.Name)
		}
		return g.putFeature(o.Name, newFeatureRecord(o))
	}
	return false
}

// observe tells the census about the cluster that the changed obj is or
// belongs to. Called with mu held.
func (g *Gatherer) observe(kind Kind, obj any) {
	var name string
	switch o := obj.(type) {
	case *v3.Cluster:
		name = o.Name
	case *v3.Node:
		name = o.Namespace
	case *nodeRecord:
		name = o.group
		if o.core {
			name = ""
		}
	case *corev1.Node:
		name = ""
	default:
		return
	}
	if kind == KindCoreNode || name == "" {
		g.observeCore()
		return
	}
	gr := g.groups[name]
	if gr == nil {
		g.cfg.Census.Observe(name, false, "", 0)
		return
	}
	version := ""
	if gr.cluster != nil {
		version = gr.cluster.facts.version
	}
	g.cfg.Census.Observe(name, gr.cluster != nil, version, len(gr.nodes))
}

// observeCore tells the census about the cluster of kubernetes mode.
// Called with mu held.
func (g *Gatherer) observeCore() {
	if g.cfg.Mode != snapshot.ModeKubernetes {
		return
	}
	version := g.cfg.Install.KubernetesVersion
	if g.kubeVersion != "" {
		version = g.kubeVersion
	}
	g.cfg.Census.Observe(snapshot.UpstreamClusterName, true, version, len(g.core.nodes))
}

// prefix is the JSON path of a node's quantity lists' parent, with a dot.
func (g *Gatherer) prefix(r *nodeRecord) string {
	if r.core {
		return "status."
	}
	return "status.internalNodeStatus."
}

func (g *Gatherer) groupOf(r *nodeRecord) *group {
	if r.core {
		return g.core
	}
	gr, ok := g.groups[r.group]
	if !ok {
		gr = newGroup()
		g.groups[r.group] = gr
	}
	return gr
}

func (g *Gatherer) putNode(r *nodeRecord) bool {
	old := g.nodes[r.object]
	if old == r {
		return false // a resync of the informer: the record it caches
	}
	if old != nil && old.sameAs(r) {
		// r replaces old, which an informer may still be reading the
		// identity of: old is never changed.
		r.adopt(old)
		g.nodes[r.object] = r
		g.groupOf(r).nodes[r.object] = r
		return false
	}
	r.derive(g.prefix(r), g.strs)
	if old != nil {
		g.dropNode(old)
	}
	g.nodes[r.object] = r
	gr := g.groupOf(r)
	gr.add(r)
	if gr == g.core || gr.cluster != nil {
		g.countProfile(r, 1)
	}
	return true
}

// countProfile adds d to the count of r's profile, if r is valid.
func (g *Gatherer) countProfile(r *nodeRecord, d int) {
	if !r.valid() {
		return
	}
	p := snapshot.ProfileOf(&r.shape, r.core || r.group == snapshot.UpstreamClusterName)
	if g.profiles[p] += d; g.profiles[p] <= 0 {
		delete(g.profiles, p)
	}
	g.sortedProfiles = nil
}

// countProfiles adds d to the profile counts of every node of gr.
func (g *Gatherer) countProfiles(gr *group, d int) {
	for _, r := range gr.nodes {
		g.countProfile(r, d)
	}
}

// profileList returns the profile counts, sorted; the slice is shared.
func (g *Gatherer) profileList() []snapshot.ProfileCount {
	if g.sortedProfiles == nil {
		g.sortedProfiles = snapshot.SortedProfiles(g.profiles)
	}
	return g.sortedProfiles
}

func (g *Gatherer) deleteNode(object string) bool {
	old, ok := g.nodes[object]
	if !ok {
		return false
	}
	g.dropNode(old)
	return true
}

func (g *Gatherer) dropNode(r *nodeRecord) {
	delete(g.nodes, r.object)
	gr := g.groupOf(r)
	if gr == g.core || gr.cluster != nil {
		g.countProfile(r, -1)
	}
	gr.remove(r)
	r.release(g.strs)
	if gr != g.core && gr.cluster == nil && len(gr.nodes) == 0 {
		delete(g.groups, r.group)
	}
}

func (g *Gatherer) putCluster(r *clusterRecord) bool {
	gr, ok := g.groups[r.name]
	if !ok {
		gr = newGroup()
		g.groups[r.name] = gr
	}
	old := gr.cluster
	if old != nil && old.sameAs(r) {
		old.src, old.rv = r.src, r.rv
		return false
	}
	r.derive(g.strs)
	if old != nil {
		old.release(g.strs)
	}
	gr.cluster = r
	if old == nil {
		g.names = nil
		// The nodes that were orphans belong to a cluster now.
		g.countProfiles(gr, 1)
	}
	return true
}

func (g *Gatherer) deleteCluster(name string) bool {
	gr, ok := g.groups[name]
	if !ok || gr.cluster == nil {
		return false
	}
	g.countProfiles(gr, -1)
	gr.cluster.release(g.strs)
	gr.cluster, g.names = nil, nil
	if len(gr.nodes) == 0 {
		delete(g.groups, name)
	}
	return true
}

func (g *Gatherer) putSetting(name string, r *settingRecord) bool {
	old := g.settings[name]
	if old != nil && old.sameAs(r) {
		old.src, old.rv = r.src, r.rv
		return false
	}
	g.settings[name] = r
	return true
}

func (g *Gatherer) deleteSetting(name string) bool {
	if _, ok := g.settings[name]; !ok {
		return false
	}
	delete(g.settings, name)
	return true
}

func (g *Gatherer) putFeature(name string, r *featureRecord) bool {
	old := g.features[name]
	if old != nil && old.sameAs(r) {
		old.src, old.rv = r.src, r.rv
		return false
	}
	g.features[name] = r
	return true
}

func (g *Gatherer) deleteFeature(name string) bool {
	if _, ok := g.features[name]; !ok {
		return false
	}
	delete(g.features, name)
	return true
}

// unchanged reports whether obj is the very object a record was read from:
// an informer replaces an object on every change, and a resourceVersion
// names one state of it.
func unchanged(src, obj any, oldRV, rv string) bool {
	return rv != "" && rv == oldRV && src == obj
}

// resync brings the records up to date with the listers. Called with mu
// held.
func (g *Gatherer) resync() error {
	if g.cfg.Mode == snapshot.ModeKubernetes {
		nodes, err := g.cfg.CoreNodes.List(labels.Everything())
		if err != nil {
			return fmt.Errorf("listing nodes: %w", err)
		}
		seen := make(map[string]bool, len(nodes))
		for _, n := range nodes {
			key := "Node " + n.Name
			seen[key] = true
			if old := g.nodes[key]; old != nil && unchanged(old.src, n, old.rv, n.ResourceVersion) {
				continue
			}
			g.apply(KindCoreNode, n, false)
		}
		g.forgetNodes(seen)
		return nil
	}
	clusters, err := g.cfg.Clusters.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing clusters: %w", err)
	}
	nodes, err := g.cfg.Nodes.List("", labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	features, err := g.cfg.Features.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing features: %w", err)
	}
	for _, name := range []string{SettingInstallUUID, SettingServerURL, SettingServerVersion} {
		st, err := g.cfg.Settings.Get(name)
		switch {
		case apierrors.IsNotFound(err):
			g.deleteSetting(name)
		case err != nil:
			return fmt.Errorf("reading setting %s: %w", name, err)
		default:
			if old := g.settings[name]; old == nil || !unchanged(old.src, st, old.rv, st.ResourceVersion) {
				g.apply(KindSetting, st, false)
			}
		}
	}
	seenFeatures := make(map[string]bool, len(features))
	for _, f := range features {
		seenFeatures[f.Name] = true
		if old := g.features[f.Name]; old == nil || !unchanged(old.src, f, old.rv, f.ResourceVersion) {
			g.apply(KindFeature, f, false)
		}
	}
	for name := range g.features {
		if !seenFeatures[name] {
			g.deleteFeature(name)
		}
	}
	seenClusters := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		seenClusters[c.Name] = true
		if gr := g.groups[c.Name]; gr != nil && gr.cluster != nil && unchanged(gr.cluster.src, c, gr.cluster.rv, c.ResourceVersion) {
			continue
		}
		g.apply(KindCluster, c, false)
	}
	for name, gr := range g.groups {
		if gr.cluster != nil && !seenClusters[name] {
			g.deleteCluster(name)
		}
	}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		key := "Node " + n.Namespace + "/" + n.Name
		seen[key] = true
		if old := g.nodes[key]; old != nil && unchanged(old.src, n, old.rv, n.ResourceVersion) {
			continue
		}
		g.apply(KindNode, n, false)
	}
	g.forgetNodes(seen)
	return nil
}

// forgetNodes drops the node records not in seen.
func (g *Gatherer) forgetNodes(seen map[string]bool) {
	for key, r := range g.nodes {
		if !seen[key] {
			g.dropNode(r)
		}
	}
}

// Snapshot composes the records into a snapshot; it parses nothing (but
// for the objects a resync from listers finds changed). Bad objects never
// fail it: they are left out, listed in Snapshot.Problems and logged once
// while they stay bad. It fails only when a lister fails or the install
// UUID is unknown.
func (g *Gatherer) Snapshot() (*snapshot.Snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.listers {
		if err := g.resync(); err != nil {
			return nil, err
		}
	}
	install := g.cfg.Install
	if g.kubeVersion != "" {
		install.KubernetesVersion = g.kubeVersion
	}
	var (
		s   *snapshot.Snapshot
		err error
	)
	switch g.cfg.Mode {
	case snapshot.ModeRancher:
		s, err = g.rancher(install)
	default:
		s, err = g.kubernetes(install)
	}
	if err != nil {
		return nil, err
	}
	// Shared between snapshots: SetExtensions replaces, never changes, them.
	s.Extensions, s.ExtensionsRefused = g.ext.pairs, g.ext.refused
	s.Problems = append(s.Problems, g.ext.problems...)
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
// Called with mu held.
func (g *Gatherer) logProblems(problems []snapshot.Problem) {
	seen := make(map[string]struct{}, len(problems))
	for _, p := range problems {
		key := p.Error()
		seen[key] = struct{}{}
		if _, ok := g.logged[key]; ok {
			continue
		}
		log := g.log.WithFields(logrus.Fields{"object": p.Object, "field": p.Field})
		if p.Kind() == "Node" {
			// Any problem makes a node invalid (see nodeRecord.derive).
			log.Warnf("invalid node left out of the sums: %v", p.Err)
		} else {
			log.Warnf("field ignored: %v", p.Err)
		}
	}
	g.logged = seen
}

// OtherValue is exported in place of a value that exists but cannot be
// read or is not in its vocabulary.
const OtherValue = "other"

// clusterNames returns the names of the clusters that have a Cluster
// object, sorted.
func (g *Gatherer) clusterNames() []string {
	if g.names == nil {
		g.names = make([]string, 0, len(g.groups))
		for name, gr := range g.groups {
			if gr.cluster != nil {
				g.names = append(g.names, name)
			}
		}
		slices.Sort(g.names)
	}
	return g.names
}

func (g *Gatherer) rancher(install snapshot.Install) (*snapshot.Snapshot, error) {
	install.Mode = snapshot.ModeRancher
	s := &snapshot.Snapshot{}
	setting := func(name string) (string, bool) {
		r, ok := g.settings[name]
		if !ok {
			return "", false
		}
		s.Problems = append(s.Problems, r.problems...)
		return r.value, r.unreadable()
	}
	if v, _ := setting(SettingInstallUUID); v != "" {
		install.InstallUUID = v
	}
	if install.InstallUUID == "" {
		return nil, fmt.Errorf("reading setting %s: %w", SettingInstallUUID, ErrNoInstallUUID)
	}
	install.ServerURL, _ = setting(SettingServerURL)
	switch v, unreadable := setting(SettingServerVersion); {
	case v != "":
		install.Version = v
	case unreadable:
		// Rancher's version is there but cannot be read: say so rather
		// than report the manager's own version as Rancher's.
		install.Version = OtherValue
	}
	install.Features = []string{}
	for name, f := range g.features {
		s.Problems = append(s.Problems, f.problems...)
		if f.enabled {
			install.Features = append(install.Features, name)
		}
	}
	slices.Sort(install.Features)

	names := g.clusterNames()
	// The sums are checked one node at a time, in name order, only when
	// one of them would not fit: then the same nodes are refused whatever
	// order the objects came in.
	var total wideSums
	checked := false
	for _, name := range names {
		gr := g.groups[name]
		if len(gr.nodes) > 0 {
			if _, ok := gr.sums.narrow(); !ok {
				checked = true
			}
			total.addAll(gr.sums)
		} else if c := gr.cluster; c.capOK {
			total.millis.add(c.capMillis)
			total.cores.add(snapshot.CoresOf(c.capMillis))
			total.bytes.add(c.capBytes)
		}
	}
	if _, ok := total.narrow(); !ok {
		checked = true
	}
	var running sums
	s.Clusters = make([]snapshot.Cluster, 0, len(names))
	for _, name := range names {
		gr := g.groups[name]
		c := gr.cluster
		sc := snapshot.Cluster{
			Name:              name,
			Upstream:          name == snapshot.UpstreamClusterName,
			Driver:            c.facts.driver,
			Provider:          c.facts.provider,
			KubernetesVersion: c.facts.version,
			State:             c.state,
		}
		s.NodeStates.AddAll(gr.states)
		s.Problems = append(s.Problems, c.problems...)
		s.Problems = g.compose(&sc, gr, checked, &running, s.Problems)
		if len(gr.nodes) == 0 {
			s.Problems = finishCapacity(&sc, c, &running, s.Problems)
		}
		if sc.Upstream && sc.KubernetesVersion != "" {
			install.KubernetesVersion = sc.KubernetesVersion
		}
		s.Clusters = append(s.Clusters, sc)
	}
	for ns, gr := range g.groups {
		if gr.cluster != nil {
			continue
		}
		for _, n := range gr.nodes {
			s.OrphanNodes++
			s.Problems = append(s.Problems, snapshot.Problem{
				Object: n.object, Field: "metadata.namespace",
				Err: fmt.Errorf("%w: no Cluster %q", ErrNoCluster, ns),
			})
		}
	}
	if !checked {
		// Checked, some nodes may have been refused: ProfilesOf counts
		// what compose kept instead.
		s.Profiles = g.profileList()
	}
	s.Install = install
	return s, nil
}

// compose fills the node figures of sc from its group and returns problems
// with those of its invalid nodes. Unchecked, the group's aggregates are
// used as they are: the caller made sure no sum overflows. Checked, the
// nodes are added one by one in name order, and a node whose figures would
// overflow the cluster's or the running installation's sums is invalid.
func (g *Gatherer) compose(sc *snapshot.Cluster, gr *group, checked bool, running *sums, problems []snapshot.Problem) []snapshot.Problem {
	sc.Shapes = []snapshot.Shape{}
	if len(gr.nodes) == 0 {
		sc.CapacitySource = snapshot.Unknown
		return problems
	}
	sc.CapacitySource = snapshot.FromNodes
	if !checked {
		sum, _ := gr.sums.narrow()
		running.add(sum.millis, sum.cores, sum.bytes)
		sc.CPUMillis, sc.CPUCores, sc.MemoryBytes = sum.millis, sum.cores, sum.bytes
		// Shared with the group and earlier snapshots: the group never
		// changes a slice it handed out (a change makes a new one).
		sc.Shapes = gr.sortedShapes()
		sc.Nodes, sc.Roles = len(gr.nodes)-gr.invalid, gr.roles
		sc.InvalidNodes = gr.invalid
		if gr.invalid > 0 {
			for _, r := range gr.nodes {
				problems = append(problems, r.problems...)
			}
		}
		return problems
	}
	var cluster sums
	counts := map[snapshot.Node]int{}
	for _, r := range gr.byName() {
		if !r.valid() {
			sc.InvalidNodes++
			problems = append(problems, r.problems...)
			continue
		}
		millis, bytes := r.shape.CPUMillis, r.shape.MemoryBytes
		cores := snapshot.CoresOf(millis)
		if !cluster.add(millis, cores, bytes) {
			sc.InvalidNodes++
			problems = append(problems, overflow(r, g.prefix(r)))
			continue
		}
		if !running.add(millis, cores, bytes) {
			// running.add changed nothing; take the node back out of
			// the cluster so both stay consistent.
			cluster.millis, cluster.cores, cluster.bytes = cluster.millis-millis, cluster.cores-cores, cluster.bytes-bytes
			sc.InvalidNodes++
			problems = append(problems, overflow(r, g.prefix(r)))
			continue
		}
		if sc.Provider == "" && g.cfg.Mode == snapshot.ModeKubernetes {
			sc.Provider = ProviderOf(r.shape.KubeletVersion)
		}
		counts[r.shape]++
	}
	sc.CPUMillis, sc.CPUCores, sc.MemoryBytes = cluster.millis, cluster.cores, cluster.bytes
	for n, c := range counts {
		sc.Nodes += c
		sc.Roles.Add(&n, c)
		sc.Shapes = append(sc.Shapes, snapshot.Shape{Node: n, Count: c})
	}
	snapshot.SortShapes(sc.Shapes)
	return problems
}

func overflow(r *nodeRecord, prefix string) snapshot.Problem {
	return snapshot.Problem{Object: r.object, Field: prefix + "capacity",
		Err: fmt.Errorf("%w: adding this node overflows the sums", ErrOutOfRange)}
}

// finishCapacity falls back to the cluster's own capacity when it has no
// Node objects at all.
func finishCapacity(sc *snapshot.Cluster, c *clusterRecord, running *sums, problems []snapshot.Problem) []snapshot.Problem {
	if c.capEmpty {
		return problems
	}
	problems = append(problems, c.capProblems...)
	if !c.capOK {
		return problems
	}
	cores := snapshot.CoresOf(c.capMillis)
	if !running.add(c.capMillis, cores, c.capBytes) {
		return append(problems, snapshot.Problem{Object: "Cluster " + c.name, Field: "status.capacity",
			Err: fmt.Errorf("%w: adding this cluster's capacity overflows the sums", ErrOutOfRange)})
	}
	sc.CapacitySource = snapshot.FromCluster
	sc.CPUMillis, sc.MemoryBytes, sc.CPUCores = c.capMillis, c.capBytes, cores
	return problems
}

func (g *Gatherer) kubernetes(install snapshot.Install) (*snapshot.Snapshot, error) {
	install.Mode = snapshot.ModeKubernetes
	if install.InstallUUID == "" {
		return nil, ErrNoInstallUUID
	}
	if install.Features == nil {
		install.Features = []string{}
	}
	s := &snapshot.Snapshot{}
	c := snapshot.Cluster{
		Name:              snapshot.UpstreamClusterName,
		Upstream:          true,
		KubernetesVersion: install.KubernetesVersion,
		Driver:            "kubernetes",
		// The cluster the manager runs in answers its API server: it has
		// no conditions to say otherwise.
		State: snapshot.StateReady,
	}
	s.NodeStates = g.core.states
	_, fits := g.core.sums.narrow()
	var running sums
	s.Problems = g.compose(&c, g.core, !fits, &running, s.Problems)
	if fits {
		c.Provider = g.core.firstProvider()
		s.Profiles = g.profileList()
	}
	s.Clusters = []snapshot.Cluster{c}
	s.Install = install
	return s, nil
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
