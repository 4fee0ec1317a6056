package gatherer

import (
	"fmt"

	"github.com/rancher/wrangler/v3/pkg/generic"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Static holds objects that do not come from an API server (a file, a test)
// in the same cache types that informers fill, so the gatherer reads them the
// same way.
type Static struct {
	Clusters  *generic.NonNamespacedCache[*v3.Cluster]
	Nodes     *generic.Cache[*v3.Node]
	Settings  *generic.NonNamespacedCache[*v3.Setting]
	Features  *generic.NonNamespacedCache[*v3.Feature]
	CoreNodes *generic.NonNamespacedCache[*corev1.Node]
	// KubeSystem is the kube-system Namespace, if one was added.
	KubeSystem *corev1.Namespace

	stores []cache.Indexer
}

// NewStatic returns empty static caches.
func NewStatic() *Static {
	s := &Static{}
	clusters := s.indexer(false)
	nodes := s.indexer(true)
	settings := s.indexer(false)
	features := s.indexer(false)
	coreNodes := s.indexer(false)
	s.Clusters = generic.NewNonNamespacedCache[*v3.Cluster](clusters, v3.ClusterResource.GroupResource())
	s.Nodes = generic.NewCache[*v3.Node](nodes, v3.NodeResource.GroupResource())
	s.Settings = generic.NewNonNamespacedCache[*v3.Setting](settings, v3.SettingResource.GroupResource())
	s.Features = generic.NewNonNamespacedCache[*v3.Feature](features, v3.FeatureResource.GroupResource())
	s.CoreNodes = generic.NewNonNamespacedCache[*corev1.Node](coreNodes, corev1.Resource("nodes"))
	return s
}

func (s *Static) indexer(namespaced bool) cache.Indexer {
	idx := cache.Indexers{}
	if namespaced {
		idx[cache.NamespaceIndex] = cache.MetaNamespaceIndexFunc
	}
	i := cache.NewIndexer(cache.MetaNamespaceKeyFunc, idx)
	s.stores = append(s.stores, i)
	return i
}

// Add stores an object; kinds the gatherer does not read are refused.
func (s *Static) Add(obj runtime.Object) error {
	var store cache.Indexer
	switch o := obj.(type) {
	case *v3.Cluster:
		store = s.stores[0]
	case *v3.Node:
		store = s.stores[1]
	case *v3.Setting:
		store = s.stores[2]
	case *v3.Feature:
		store = s.stores[3]
	case *corev1.Node:
		store = s.stores[4]
	case *corev1.Namespace:
		if o.Name != "kube-system" {
			return nil
		}
		s.KubeSystem = o
		return nil
	default:
		return fmt.Errorf("unsupported kind %T", obj)
	}
	return store.Add(obj)
}

// Counts returns how many v3 Clusters and v3 Nodes and core Nodes it holds.
func (s *Static) Counts() (clusters, nodes, coreNodes int) {
	return len(s.stores[0].ListKeys()), len(s.stores[1].ListKeys()), len(s.stores[4].ListKeys())
}

// Config returns a gatherer configuration reading these caches in mode.
func (s *Static) Config(mode snapshot.Mode, install snapshot.Install) Config {
	if s.KubeSystem != nil && install.ClusterUUID == "" {
		install.ClusterUUID = string(s.KubeSystem.UID)
	}
	return Config{
		Mode:      mode,
		Clusters:  s.Clusters,
		Nodes:     s.Nodes,
		Settings:  s.Settings,
		Features:  s.Features,
		CoreNodes: s.CoreNodes,
		Install:   install,
	}
}
