package v3

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTransformNodeKeepsOnlyWhatTheGathererReads(t *testing.T) {
	n := &Node{ObjectMeta: metav1.ObjectMeta{
		Name: "m-1", Namespace: "c-abc", ResourceVersion: "7",
		Labels:        map[string]string{"kubernetes.io/hostname": "h"},
		Annotations:   map[string]string{"a": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}},
	}}
	n.Status.InternalNodeStatus.Capacity = ResourceList{"cpu": "abc", "memory": "8G", "pods": "110", "hugepages-2Mi": "0"}
	n.Status.InternalNodeStatus.Allocatable = ResourceList{"pods": "110"}
	out, err := TransformNode(n)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*Node)
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

func TestTransformClusterKeepsCPUAndMemory(t *testing.T) {
	c := &Cluster{ObjectMeta: metav1.ObjectMeta{Name: "c-1", Annotations: map[string]string{"a": "b"}}}
	c.Status.Capacity = ResourceList{"cpu": "16", "memory": "64Gi", "pods": "110"}
	out, err := TransformCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*Cluster)
	if len(s.Status.Capacity) != 2 || s.Status.Capacity["cpu"] != "16" || s.Annotations != nil {
		t.Fatalf("cluster = %+v", s)
	}
}
