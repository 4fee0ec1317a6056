package sources

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rancher/telemetry-manager/pkg/gatherer"
)

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
