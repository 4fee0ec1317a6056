// Package sources connects to an API server and builds what the gatherer
// and the exporters read: the clients, one lasso shared controller factory
// with its typed caches, the informer transforms, the install information
// that does not live in caches (kube-system UID, Kubernetes version,
// identity), and the health of every cache.
package sources

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/rancher/lasso/pkg/cache"
	"github.com/rancher/lasso/pkg/client"
	"github.com/rancher/lasso/pkg/controller"
	"github.com/rancher/wrangler/v3/pkg/generated/controllers/core"
	"github.com/rancher/wrangler/v3/pkg/generic"
	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	telemetryv1 "github.com/rancher/telemetry-manager/pkg/apis/telemetry.cattle.io/v1"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/gatherer"
	"github.com/rancher/telemetry-manager/pkg/identity"
	"github.com/rancher/telemetry-manager/pkg/options"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/version"
)

// RestConfig loads --kubeconfig, else $KUBECONFIG, else the in-cluster config.
func RestConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig, no KUBECONFIG and not in a cluster: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}

// DetectMode returns rancher when management.cattle.io/v3 serves clusters and
// nodes, else kubernetes. A forced mode is returned as is.
func DetectMode(d discovery.DiscoveryInterface, forced string) (snapshot.Mode, error) {
	switch forced {
	case options.ModeRancher:
		return snapshot.ModeRancher, nil
	case options.ModeKubernetes:
		return snapshot.ModeKubernetes, nil
	}
	list, err := d.ServerResourcesForGroupVersion(v3.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return snapshot.ModeKubernetes, nil
	}
	if err != nil {
		return "", fmt.Errorf("discovering %s: %w", v3.SchemeGroupVersion, err)
	}
	var names []string
	for _, r := range list.APIResources {
		names = append(names, r.Name)
	}
	if slices.Contains(names, "clusters") && slices.Contains(names, "nodes") {
		return snapshot.ModeRancher, nil
	}
	return snapshot.ModeKubernetes, nil
}

// Scheme returns the scheme of every type the manager reads or writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntimeMust(clientgoscheme.AddToScheme(s))
	utilruntimeMust(v3.AddToScheme(s))
	utilruntimeMust(telemetryv1.AddToScheme(s))
	return s
}

func utilruntimeMust(err error) {
	if err != nil {
		panic(err)
	}
}

// Sources are the shared informer caches and clients of one API server.
type Sources struct {
	Mode    snapshot.Mode
	Kube    kubernetes.Interface
	Factory controller.SharedControllerFactory
	// Secrets caches the Secrets telemetry-manager writes, in the telemetry
	// namespace and in every namespace Watch was asked for.
	Secrets  *Secrets
	Gatherer *gatherer.Gatherer
	Identity identity.Identity
	// Ephemeral is true when the identity was made up for this process
	// because the identity Secret could not be created or read.
	Ephemeral bool
	// ConfigMaps caches the ConfigMaps of the telemetry namespace; nil
	// unless Options.ConfigMaps asked for them.
	ConfigMaps generic.ControllerInterface[*corev1.ConfigMap, *corev1.ConfigMapList]
	// Reachability follows whether the API server answers; the caches'
	// requests wait for it while it does not (see Reachability).
	Reachability *Reachability
	// cacheKube is Kube with the requests held while the API server is
	// unreachable, for the informers of Secrets.
	cacheKube kubernetes.Interface

	// handlers are the gatherer's registrations: the records are complete
	// once each has processed its informer's first list.
	handlers []toolscache.ResourceEventHandlerRegistration
	// onChange are called when the gatherer's records changed.
	mu       sync.Mutex
	onChange []func()
	// caches are every informer, by kind, for readiness and metrics.
	caches []*cacheStatus
	// named are the caches of single Secrets (NamedSecret).
	named []*NamedSecret
	clock clock.PassiveClock
	log   *logrus.Entry

	// settings reads the install-uuid Setting in rancher mode; nil in
	// kubernetes mode, where the identity Secret holds the install UUID.
	settings gatherer.SettingGetter
	// settingChanged receives a value (without blocking the informer) when
	// the install-uuid Setting is added, changed or deleted.
	settingChanged chan struct{}
	// released makes the first sync hand memory back once.
	released sync.Once
}

// Options say what Connect reads.
type Options struct {
	Mode         string // auto, rancher, kubernetes
	Namespace    string // telemetry namespace: identity Secret, watched Secrets
	IdentityName string
	// CreateIdentity creates the identity Secret (and fills missing keys);
	// without it a missing Secret gives an ephemeral identity.
	CreateIdentity bool
	// CreateNamespace creates the telemetry namespace when it is missing.
	CreateNamespace bool
	// ConfigMaps caches the ConfigMaps of the telemetry namespace (for the
	// runtime switch).
	ConfigMaps bool
	Log        *logrus.Entry
	// Clock throttles the warnings of caches that cannot sync. Default real.
	Clock clock.PassiveClock
}

// Connect builds the clients and caches of one API server, reads the install
// information that does not live in caches (kube-system UID, Kubernetes
// version, identity) and returns the sources ready to Start.
func Connect(ctx context.Context, cfg *rest.Config, o Options) (*Sources, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "telemetry-manager/" + version.Version
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building client: %w", err)
	}
	mode, err := DetectMode(kube.Discovery(), o.Mode)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	log.WithField("mode", mode).Info("reading installation")

	install := snapshot.Install{Version: version.Version, GitCommit: version.GitCommit}
	if v, err := kube.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("reading the server version: %w", err)
	} else {
		install.KubernetesVersion = v.GitVersion
	}
	ks, err := kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading namespace kube-system (its UID is the cluster UUID): %w", err)
	}
	install.ClusterUUID = string(ks.UID)

	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	src := &Sources{Mode: mode, Kube: kube, clock: clk, log: log.WithField("component", "cache")}
	// Every cache reads through cacheCfg; setup calls, writes and the
	// probe use cfg and fail fast.
	src.Reachability = NewReachability(kube.Discovery().RESTClient(), clock.RealClock{}, log)
	cacheCfg := rest.CopyConfig(cfg)
	cacheCfg.Wrap(src.Reachability.Wrap)
	if src.cacheKube, err = kubernetes.NewForConfig(cacheCfg); err != nil {
		return nil, fmt.Errorf("building client: %w", err)
	}
	if o.CreateIdentity {
		src.Identity, err = identity.Load(ctx, kube.CoreV1(), o.Namespace, o.IdentityName)
		if apierrors.IsNotFound(err) && o.CreateNamespace {
			// The telemetry namespace itself is missing.
			if err = secret.EnsureNamespace(ctx, kube.CoreV1(), o.Namespace, log); err == nil {
				src.Identity, err = identity.Load(ctx, kube.CoreV1(), o.Namespace, o.IdentityName)
			}
		}
	} else {
		src.Identity, err = identity.Read(ctx, kube.CoreV1(), o.Namespace, o.IdentityName)
	}
	if err != nil {
		if o.CreateIdentity || !errors.Is(err, identity.ErrMissing) {
			return nil, err
		}
		src.Identity, src.Ephemeral = EphemeralIdentity(), true
	}
	if mode == snapshot.ModeKubernetes {
		// In rancher mode the install UUID is Rancher's own, from the
		// install-uuid Setting: the identity's random one would make the
		// same installation look like another one.
		install.InstallUUID = src.Identity.InstallUUID
	}

	scheme := Scheme()
	configMapGVK := corev1.SchemeGroupVersion.WithKind("ConfigMap")
	stockClients, err := client.NewSharedClientFactory(cacheCfg, &client.SharedClientFactoryOptions{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("building client factory: %w", err)
	}
	clients, err := newRancherClients(stockClients, cacheCfg, scheme)
	if err != nil {
		return nil, err
	}
	src.Factory = controller.NewSharedControllerFactory(cache.NewSharedCachedFactory(clients, &cache.SharedCacheFactoryOptions{
		// ConfigMaps are read only in the telemetry namespace, which is
		// all that the chart's Role allows. Secrets have caches of their
		// own, per namespace (Secrets).
		KindNamespace: map[schema.GroupVersionKind]string{configMapGVK: o.Namespace},
	}), nil)
	coreFactory, err := core.NewFactoryFromConfigWithOptions(cacheCfg, &core.FactoryOptions{SharedControllerFactory: src.Factory})
	if err != nil {
		return nil, fmt.Errorf("building core factory: %w", err)
	}
	src.Secrets = NewSecrets(src.cacheKube, clk, src.log)
	src.Secrets.Watch(o.Namespace)
	if o.ConfigMaps {
		// Not watched for changes: the switch has a handler of its own,
		// and a ConfigMap is no reason to export.
		src.ConfigMaps = coreFactory.Core().V1().ConfigMap()
		inf := src.ConfigMaps.Informer()
		utilruntimeMust(inf.SetTransform(slimSecret))
		src.follow("ConfigMap", corev1.SchemeGroupVersion.WithResource("configmaps"), inf)
	}

	// The gatherer keeps a record of each object, read once per event by
	// its handlers; OnChange hears only of changes to what it reads.
	src.Gatherer, err = gatherer.New(gatherer.Config{
		Mode: mode, Install: install, Log: log, UseHandlers: true, OnChange: src.changed,
	})
	if err != nil {
		return nil, err
	}
	if mode == snapshot.ModeRancher {
		clusters := generic.NewNonNamespacedController[*v3.Cluster, *v3.ClusterList](v3.ClusterGVK, v3.ClusterResource.Resource, src.Factory)
		nodes := generic.NewController[*v3.Node, *v3.NodeList](v3.NodeGVK, v3.NodeResource.Resource, true, src.Factory)
		settings := generic.NewNonNamespacedController[*v3.Setting, *v3.SettingList](v3.SettingGVK, v3.SettingResource.Resource, src.Factory)
		features := generic.NewNonNamespacedController[*v3.Feature, *v3.FeatureList](v3.FeatureGVK, v3.FeatureResource.Resource, src.Factory)
		src.watch(gatherer.KindCluster, v3.ClusterResource, clusters.Informer(), v3.TransformCluster)
		src.watch(gatherer.KindNode, v3.NodeResource, nodes.Informer(), gatherer.NodeTransform)
		src.watch(gatherer.KindSetting, v3.SettingResource, settings.Informer(), v3.TransformSetting)
		src.watch(gatherer.KindFeature, v3.FeatureResource, features.Informer(), v3.TransformMeta)
		src.settings = settings.Cache()
		src.settingChanged = make(chan struct{}, 1)
		_, _ = settings.Informer().AddEventHandler(toolscache.FilteringResourceEventHandler{
			FilterFunc: isInstallUUIDSetting,
			Handler: toolscache.ResourceEventHandlerFuncs{
				AddFunc:    func(any) { src.settingEvent() },
				UpdateFunc: func(any, any) { src.settingEvent() },
				DeleteFunc: func(any) { src.settingEvent() },
			},
		})
	} else {
		nodes := coreFactory.Core().V1().Node()
		src.watch(gatherer.KindCoreNode, corev1.SchemeGroupVersion.WithResource("nodes"), nodes.Informer(), gatherer.NodeTransform)
	}
	// Seeds the version the periodic re-read compares with, so that
	// its first read does not count as a change.
	src.Gatherer.SetKubernetesVersion(install.KubernetesVersion)
	return src, nil
}

// watch strips what the gatherer never reads before objects enter the
// cache, and feeds the gatherer's handler of kind.
func (s *Sources) watch(kind gatherer.Kind, gvr schema.GroupVersionResource, inf toolscache.SharedIndexInformer, transform toolscache.TransformFunc) {
	// SetTransform fails only after the informer started; these are new.
	utilruntimeMust(inf.SetTransform(transform))
	reg, err := inf.AddEventHandler(s.Gatherer.Handlers(kind))
	utilruntimeMust(err)
	s.handlers = append(s.handlers, reg)
	s.follow(string(kind), gvr, inf)
}

// follow records the informer's list and watch errors, for readiness,
// metrics and throttled warnings.
func (s *Sources) follow(kind string, gvr schema.GroupVersionResource, inf toolscache.SharedIndexInformer) {
	c := newCacheStatus(kind, gvr, inf, s.clock, s.log)
	// Fails only after the informer started; these are new.
	utilruntimeMust(inf.SetWatchErrorHandlerWithContext(c.watchError))
	s.caches = append(s.caches, c)
}

func isInstallUUIDSetting(obj any) bool {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, err := meta.Accessor(obj)
	return err == nil && m.GetName() == gatherer.SettingInstallUUID
}

func (s *Sources) settingEvent() {
	select {
	case s.settingChanged <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// allCaches returns the health of every cache, the per-namespace Secret
// caches included.
func (s *Sources) allCaches() []*cacheStatus {
	return append(slices.Clone(s.caches), s.Secrets.statuses()...)
}

// CacheSynced reports, by kind, whether each cache has synced; a kind with
// a cache per namespace (Secret) is synced when all of them are.
func (s *Sources) CacheSynced() map[string]bool {
	out := map[string]bool{}
	for _, c := range s.allCaches() {
		synced, seen := out[c.kind]
		out[c.kind] = c.synced() && (synced || !seen)
	}
	return out
}

// Ready returns nil once every cache has synced and, in rancher mode, the
// install-uuid Setting is known. Else it says why not: each cache not
// synced with its last list or watch error (matching ErrNotSynced), or
// ErrWaitingForInstallUUID.
func (s *Sources) Ready() error {
	var problems notReady
	if s.Reachability != nil {
		if err := s.Reachability.Err(); err != nil {
			problems = append(problems, err)
		}
	}
	for _, c := range s.allCaches() {
		if err := c.problem(); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return problems
	}
	if !s.installUUIDKnown() {
		return ErrWaitingForInstallUUID
	}
	return nil
}

// installUUIDKnown reports whether the install UUID is known: always in
// kubernetes mode, once the install-uuid Setting has a value in rancher
// mode.
func (s *Sources) installUUIDKnown() bool {
	if s.settings == nil {
		return true
	}
	st, err := s.settings.Get(gatherer.SettingInstallUUID)
	return err == nil && st.Effective() != ""
}

// WaitForInstallUUID blocks, in rancher mode, until the install-uuid
// Setting has a value or ctx ends; it logs once that it waits. It returns
// at once in kubernetes mode. Call it once the caches have synced.
func (s *Sources) WaitForInstallUUID(ctx context.Context) error {
	logged := false
	for !s.installUUIDKnown() {
		if !logged {
			s.log.WithField("setting", gatherer.SettingInstallUUID).
				Info("waiting for setting install-uuid: nothing is exported until Rancher has set it")
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.settingChanged:
		}
	}
	if logged {
		s.log.WithField("setting", gatherer.SettingInstallUUID).Info("setting install-uuid found")
	}
	return nil
}

// CacheObjects returns the number of objects in each cache, by kind. It
// counts keys, which the caches hold already, so it is cheap at any scale.
func (s *Sources) CacheObjects() map[string]int {
	out := make(map[string]int, len(s.caches)+1)
	for _, c := range s.allCaches() {
		out[c.kind] += len(c.informer.GetStore().ListKeys())
	}
	return out
}

// OnChange calls f whenever what the gatherer reads changed: an object
// added or deleted, or a read field changed. A status heartbeat, a new
// resourceVersion with the same read fields, calls nothing. Secret events
// have their own hook (Secrets.OnChange), so that they trigger only the
// exporter that owns the Secret. f must not block.
func (s *Sources) OnChange(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = append(s.onChange, f)
}

func (s *Sources) changed() {
	s.mu.Lock()
	fs := slices.Clone(s.onChange)
	s.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Start starts the caches.
func (s *Sources) Start(ctx context.Context) error {
	if s.Reachability != nil {
		go s.Reachability.Run(ctx)
	}
	s.Secrets.Start(ctx)
	for _, n := range s.named {
		go n.run(ctx)
	}
	return s.Factory.Start(ctx, 1)
}

// WaitForSync blocks until every cache is synced, or ctx ends.
func (s *Sources) WaitForSync(ctx context.Context) error {
	synced := s.Factory.SharedCacheFactory().WaitForCacheSync(ctx)
	var missing []string
	for gvk, ok := range synced {
		if !ok {
			missing = append(missing, gvk.Kind)
		}
	}
	if !s.Secrets.waitForSync(ctx) {
		missing = append(missing, "Secret")
	}
	records := make([]toolscache.InformerSynced, len(s.handlers))
	for i, h := range s.handlers {
		records[i] = h.HasSynced
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), records...) {
		missing = append(missing, "gatherer records")
	}
	if len(missing) > 0 {
		return fmt.Errorf("caches not synced: %v", missing)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The first list decodes every object whole before the transforms
	// slim it (a Node to its record): garbage many times what the caches
	// keep. It is handed back to the OS once, so the process shows its
	// steady size from the start instead of after the scavenger's minutes.
	s.released.Do(releaseMemory)
	return nil
}

// releaseMemory returns freed memory to the OS; a variable for tests.
var releaseMemory = debug.FreeOSMemory

// EphemeralIdentity returns an identity that lives only for this process.
func EphemeralIdentity() identity.Identity {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return identity.Identity{Key: key, InstallUUID: string(uuid.NewUUID())}
}
