package sources

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/rancher/telemetry-manager/pkg/gatherer"
)

// The transforms below run before an object enters a cache and drop what
// telemetry never reads. Those of the Rancher kinds live with their types,
// in pkg/apis/management.cattle.io/v3.

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
