package sources

import (
	"context"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// NamedSecret caches one Secret, chosen by namespace and name, that
// telemetry-manager reads but does not write, such as the http exporter's
// credentials. Users create those Secrets, so they lack the label that the
// Secrets caches select on; instead the informer lists and watches with the
// field selector metadata.name=<name>. Its RBAC is get, list and watch on
// that one resourceName: the API server authorizes a list or watch by
// resource name when its field selector names the object.
//
// A cache, rather than a GET at each export, so that a change of the
// Secret (created, rotated, fixed) is heard at once and can trigger an
// export, and reading it costs no API call. Only this one Secret, slimmed
// like the others, enters memory.
type NamedSecret struct {
	namespace, name string
	informer        toolscache.SharedIndexInformer
	lister          listerscorev1.SecretNamespaceLister

	mu        sync.Mutex
	onChanged []func()
}

// newNamedSecret returns the cache of namespace/name, not started.
func newNamedSecret(kube kubernetes.Interface, namespace, name string) *NamedSecret {
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	si := f.Core().V1().Secrets()
	n := &NamedSecret{namespace: namespace, name: name, informer: si.Informer(), lister: si.Lister().Secrets(namespace)}
	// Fails only once the informer runs; it has not started.
	utilruntimeMust(n.informer.SetTransform(slimSecret))
	_, _ = n.informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { n.changed() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Secret)
			s, ok2 := newObj.(*corev1.Secret)
			if ok1 && ok2 && o.ResourceVersion == s.ResourceVersion {
				return // a resync: nothing changed
			}
			n.changed()
		},
		DeleteFunc: func(any) { n.changed() },
	})
	return n
}

// NamedSecret returns a cache of the Secret namespace/name, started with
// the other caches; its health shows in Ready and CacheSynced (kind
// Secret). Call it before Start. WaitForSync does not wait for it, so a
// Secret the controller may not read delays no other exporter: Get says
// so instead.
func (s *Sources) NamedSecret(namespace, name string) *NamedSecret {
	kube := s.cacheKube
	if kube == nil {
		kube = s.Kube
	}
	n := newNamedSecret(kube, namespace, name)
	c := newCacheStatus("Secret", secretsResource, n.informer, s.clock, s.log.WithFields(map[string]any{"namespace": namespace, "secret": name}))
	utilruntimeMust(n.informer.SetWatchErrorHandlerWithContext(c.watchError))
	s.caches = append(s.caches, c)
	s.named = append(s.named, n)
	return n
}

// OnChange calls f whenever the Secret is created, changed (a new
// resourceVersion) or deleted. f must not block. Register before Start.
func (n *NamedSecret) OnChange(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onChanged = append(n.onChanged, f)
}

func (n *NamedSecret) changed() {
	n.mu.Lock()
	fs := slices.Clone(n.onChanged)
	n.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Get returns the Secret as cached; a missing one is a NotFound error. Before
// the cache has listed, the error wraps ErrNotSynced.
func (n *NamedSecret) Get() (*corev1.Secret, error) {
	if !n.informer.HasSynced() {
		return nil, fmt.Errorf("reading secret %s/%s: cache %w", n.namespace, n.name, ErrNotSynced)
	}
	return n.lister.Get(n.name)
}

// HasSynced reports whether the cache has listed once.
func (n *NamedSecret) HasSynced() bool { return n.informer.HasSynced() }

// run runs the informer until ctx ends.
func (n *NamedSecret) run(ctx context.Context) { n.informer.Run(ctx.Done()) }
