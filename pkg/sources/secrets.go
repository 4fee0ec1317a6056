package sources

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
)

// ErrNoSecretWatch means a Secret was asked for in a namespace that is not
// watched.
var ErrNoSecretWatch = errors.New("namespace not watched")

// secretsResource is the resource of the Secret caches, for cache health.
var secretsResource = corev1.SchemeGroupVersion.WithResource("secrets")

// Secrets caches the Secrets that telemetry-manager writes, wherever they
// are: one informer per namespace that holds a target, each selecting only
// Secrets labelled as written by telemetry-manager, so that Helm release
// Secrets, the identity Secret and every other Secret never enter memory.
// A watch per namespace, rather than one across the cluster, keeps the
// RBAC it needs to the namespaces that hold targets: a label cannot narrow
// what a cluster-wide list of Secrets may read.
//
// Namespaces are added with Watch, before or after Start. Secrets
// implements secret.SecretCache.
type Secrets struct {
	kube     kubernetes.Interface
	selector string
	clock    clock.PassiveClock
	log      *logrus.Entry

	mu        sync.Mutex
	watches   map[string]*secretWatch // by namespace
	ctx       context.Context         // set by Start
	onChanged []func(namespace, name string, current *corev1.Secret)
}

type secretWatch struct {
	informer toolscache.SharedIndexInformer
	lister   listerscorev1.SecretNamespaceLister
	status   *cacheStatus
}

// NewSecrets returns the Secret caches of kube.
func NewSecrets(kube kubernetes.Interface, clk clock.PassiveClock, log *logrus.Entry) *Secrets {
	return &Secrets{
		kube:     kube,
		selector: labels.Set{secret.LabelManagedBy: secret.FieldManager}.String(),
		clock:    clk,
		log:      log,
		watches:  map[string]*secretWatch{},
	}
}

// OnChange calls f with the namespace and name of every Secret added,
// changed (a new resourceVersion) or deleted in a watched namespace,
// including losing the label, and the Secret as cached now (nil once
// deleted). f must not block or modify the Secret. Register before Start.
func (s *Secrets) OnChange(f func(namespace, name string, current *corev1.Secret)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChanged = append(s.onChanged, f)
}

// Watch makes sure the Secrets of namespace are cached. After Start the new
// informer starts at once; HasSynced tells when it has listed.
func (s *Secrets) Watch(namespace string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.watches[namespace]; ok {
		return
	}
	f := informers.NewSharedInformerFactoryWithOptions(s.kube, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = s.selector }))
	si := f.Core().V1().Secrets()
	inf := si.Informer()
	// Both fail only once the informer runs; it has not started.
	utilruntimeMust(inf.SetTransform(slimSecret))
	w := &secretWatch{
		informer: inf,
		lister:   si.Lister().Secrets(namespace),
		status:   newCacheStatus("Secret", secretsResource, inf, s.clock, s.log.WithField("namespace", namespace)),
	}
	utilruntimeMust(inf.SetWatchErrorHandlerWithContext(w.status.watchError))
	_, _ = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.changed(obj, false) },
		UpdateFunc: s.updated,
		DeleteFunc: func(obj any) { s.changed(obj, true) },
	})
	s.watches[namespace] = w
	if s.ctx != nil {
		go inf.Run(s.ctx.Done())
	}
}

func (s *Secrets) updated(oldObj, newObj any) {
	o, ok1 := oldObj.(*corev1.Secret)
	n, ok2 := newObj.(*corev1.Secret)
	if ok1 && ok2 && o.ResourceVersion == n.ResourceVersion {
		return // a resync: nothing changed
	}
	s.changed(newObj, false)
}

func (s *Secrets) changed(obj any, deleted bool) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	current := sec
	if deleted {
		current = nil
	}
	s.mu.Lock()
	fs := slices.Clone(s.onChanged)
	s.mu.Unlock()
	for _, f := range fs {
		f(sec.Namespace, sec.Name, current)
	}
}

// Start runs every informer, and those Watch adds later, until ctx ends.
func (s *Secrets) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
	for _, w := range s.watches {
		go w.informer.Run(ctx.Done())
	}
}

// Get returns a Secret from the cache of its namespace; an absent one is a
// NotFound error, as from a lister. A namespace not watched is an error
// wrapping ErrNoSecretWatch.
func (s *Secrets) Get(namespace, name string) (*corev1.Secret, error) {
	s.mu.Lock()
	w := s.watches[namespace]
	s.mu.Unlock()
	if w == nil {
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, ErrNoSecretWatch)
	}
	if !w.informer.HasSynced() {
		// An empty cache would read as a missing Secret and cause a
		// needless write; the run is retried instead.
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, ErrNotSynced)
	}
	return w.lister.Get(name)
}

// HasSynced reports whether the cache of namespace has listed once.
func (s *Secrets) HasSynced(namespace string) bool {
	s.mu.Lock()
	w := s.watches[namespace]
	s.mu.Unlock()
	return w != nil && w.informer.HasSynced()
}

// statuses returns the cache health of every watched namespace, sorted.
func (s *Secrets) statuses() []*cacheStatus {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*cacheStatus, 0, len(s.watches))
	for _, ns := range slices.Sorted(maps.Keys(s.watches)) {
		out = append(out, s.watches[ns].status)
	}
	return out
}

// waitForSync blocks until every watched namespace has listed, or ctx ends.
func (s *Secrets) waitForSync(ctx context.Context) bool {
	s.mu.Lock()
	fns := make([]toolscache.InformerSynced, 0, len(s.watches))
	for _, w := range s.watches {
		fns = append(fns, w.informer.HasSynced)
	}
	s.mu.Unlock()
	return toolscache.WaitForCacheSync(ctx.Done(), fns...)
}

var _ secret.SecretCache = (*Secrets)(nil)
