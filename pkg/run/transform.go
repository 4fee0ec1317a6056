package run

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/gatherer"
)

// The transforms below run before an object enters a cache. They drop what
// the gatherer never reads (managed fields, annotations, labels, owner
// references), so that a cache of 60,000 Rancher nodes holds only the few
// fields telemetry needs. The typed v3 objects already decode nothing else.

func slimMeta(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		m.SetAnnotations(nil)
		m.SetLabels(nil)
		m.SetOwnerReferences(nil)
		m.SetFinalizers(nil)
	}
	return obj, nil
}

// slimSecret keeps the annotations and labels the secret exporter checks.
func slimSecret(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// roleLabels are the only labels of a core Node the gatherer reads.
var roleLabels = []string{gatherer.LabelControlPlane, gatherer.LabelMaster, gatherer.LabelEtcd, gatherer.LabelWorker}

// slimCoreNode keeps a core Node's role labels, capacity and system info.
func slimCoreNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	var labels map[string]string
	for _, l := range roleLabels {
		if v, ok := n.Labels[l]; ok {
			if labels == nil {
				labels = map[string]string{}
			}
			labels[l] = v
		}
	}
	slim := &corev1.Node{TypeMeta: n.TypeMeta}
	slim.Name, slim.UID, slim.ResourceVersion, slim.Labels = n.Name, n.UID, n.ResourceVersion, labels
	slim.Status.Capacity = n.Status.Capacity
	slim.Status.Allocatable = n.Status.Allocatable
	info := n.Status.NodeInfo
	slim.Status.NodeInfo = corev1.NodeSystemInfo{
		Architecture:            info.Architecture,
		OperatingSystem:         info.OperatingSystem,
		OSImage:                 info.OSImage,
		KernelVersion:           info.KernelVersion,
		ContainerRuntimeVersion: info.ContainerRuntimeVersion,
		KubeletVersion:          info.KubeletVersion,
	}
	return slim, nil
}

// readQuantities are the only resources the gatherer reads from a capacity
// or allocatable list; pods, hugepages and storage entries are dropped.
var readQuantities = []string{"cpu", "memory"}

func slimResources(l v3.ResourceList) v3.ResourceList {
	if l == nil {
		return nil
	}
	var out v3.ResourceList
	for _, name := range readQuantities {
		if q, ok := l[name]; ok {
			if out == nil {
				out = make(v3.ResourceList, len(readQuantities))
			}
			out[name] = q
		}
	}
	return out
}

// slimV3Node is slimMeta plus only the cpu and memory quantities.
func slimV3Node(obj any) (any, error) {
	if n, ok := obj.(*v3.Node); ok {
		st := &n.Status.InternalNodeStatus
		st.Capacity, st.Allocatable = slimResources(st.Capacity), slimResources(st.Allocatable)
	}
	return slimMeta(obj)
}

// slimCluster is slimMeta plus only the cpu and memory quantities.
func slimCluster(obj any) (any, error) {
	if c, ok := obj.(*v3.Cluster); ok {
		c.Status.Capacity, c.Status.Allocatable = slimResources(c.Status.Capacity), slimResources(c.Status.Allocatable)
	}
	return slimMeta(obj)
}
