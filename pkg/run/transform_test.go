package run

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/gatherer"
)

func TestSlimV3NodeKeepsOnlyWhatTheGathererReads(t *testing.T) {
	n := &v3.Node{ObjectMeta: metav1.ObjectMeta{
		Name: "m-1", Namespace: "c-abc", ResourceVersion: "7",
		Labels:        map[string]string{"kubernetes.io/hostname": "h"},
		Annotations:   map[string]string{"a": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}},
	}}
	n.Status.InternalNodeStatus.Capacity = v3.ResourceList{"cpu": "abc", "memory": "8G", "pods": "110", "hugepages-2Mi": "0"}
	n.Status.InternalNodeStatus.Allocatable = v3.ResourceList{"pods": "110"}
	out, err := slimV3Node(n)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*v3.Node)
	if s.Labels != nil || s.Annotations != nil || s.ManagedFields != nil {
		t.Fatalf("metadata kept: %+v", s.ObjectMeta)
	}
	if s.Name != "m-1" || s.Namespace != "c-abc" || s.ResourceVersion != "7" {
		t.Fatalf("identity lost: %+v", s.ObjectMeta)
	}
	c := s.Status.InternalNodeStatus.Capacity
	if len(c) != 2 || c["cpu"] != "abc" || c["memory"] != "8G" {
		t.Fatalf("capacity = %v, want cpu and memory only, unparsed", c)
	}
	if s.Status.InternalNodeStatus.Allocatable != nil {
		t.Fatalf("allocatable = %v, want nil when it has neither cpu nor memory", s.Status.InternalNodeStatus.Allocatable)
	}
}

func TestSlimCoreNodeKeepsRoleLabelsAndCapacity(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{
		gatherer.LabelWorker: "true", "kubernetes.io/hostname": "secret-host",
	}}}
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.1.2.3"}}
	n.Status.NodeInfo.MachineID = "m"
	out, err := slimCoreNode(n)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*corev1.Node)
	if len(s.Labels) != 1 || s.Labels[gatherer.LabelWorker] != "true" {
		t.Fatalf("labels = %v, want the worker role only", s.Labels)
	}
	if s.Status.Addresses != nil || s.Status.NodeInfo.MachineID != "" {
		t.Fatal("addresses or machine id kept")
	}
	if q := s.Status.Capacity[corev1.ResourceCPU]; q.MilliValue() != 2000 {
		t.Fatalf("capacity lost: %v", s.Status.Capacity)
	}
}
