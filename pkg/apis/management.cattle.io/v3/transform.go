package v3

import "k8s.io/apimachinery/pkg/api/meta"

// The transforms below are informer transforms: they run before an object
// enters a cache and drop what the gatherer never reads, so that a cache of
// 60,000 Rancher nodes holds only the few fields telemetry needs. The types
// of this package already decode nothing else of the object's body.

// TransformMeta drops managed fields, annotations, labels, owner references
// and finalizers. It suits Settings and Features, and any object whose
// metadata telemetry reads only for its name.
func TransformMeta(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		m.SetAnnotations(nil)
		m.SetLabels(nil)
		m.SetOwnerReferences(nil)
		m.SetFinalizers(nil)
	}
	return obj, nil
}

// TransformNode is TransformMeta that also keeps only the cpu and memory
// quantities of a Node's capacity and allocatable lists.
func TransformNode(obj any) (any, error) {
	if n, ok := obj.(*Node); ok {
		st := &n.Status.InternalNodeStatus
		st.Capacity, st.Allocatable = readOnly(st.Capacity), readOnly(st.Allocatable)
	}
	return TransformMeta(obj)
}

// TransformCluster is TransformMeta that also keeps only the cpu and memory
// quantities of a Cluster's capacity and allocatable lists.
func TransformCluster(obj any) (any, error) {
	if c, ok := obj.(*Cluster); ok {
		c.Status.Capacity, c.Status.Allocatable = readOnly(c.Status.Capacity), readOnly(c.Status.Allocatable)
	}
	return TransformMeta(obj)
}

// readQuantities are the only resources the gatherer reads from a capacity
// or allocatable list; pods, hugepages and storage entries are dropped.
var readQuantities = []string{"cpu", "memory"}

func readOnly(l ResourceList) ResourceList {
	var out ResourceList
	for _, name := range readQuantities {
		if q, ok := l[name]; ok {
			if out == nil {
				out = make(ResourceList, len(readQuantities))
			}
			out[name] = q
		}
	}
	return out
}
