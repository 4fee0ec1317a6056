package v3

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTransformMetaKeepsOnlyWhatTheGathererReads(t *testing.T) {
	n := &Node{ObjectMeta: metav1.ObjectMeta{
		Name: "m-1", Namespace: "c-abc", ResourceVersion: "7",
		Labels:        map[string]string{"kubernetes.io/hostname": "h"},
		Annotations:   map[string]string{"a": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}},
	}}
	n.Status.InternalNodeStatus.Capacity = Resources("abc", "8G")
	out, err := TransformMeta(n)
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
	if c.CPU.Text != "abc" || c.Memory.Text != "8G" {
		t.Fatalf("capacity = %+v, want cpu and memory, unparsed", c)
	}
}

func TestTransformSettingDropsValuesOfSettingsNotRead(t *testing.T) {
	read := &Setting{ObjectMeta: metav1.ObjectMeta{Name: SettingServerURL, Labels: map[string]string{"a": "b"}}, Value: "https://r.example.com", Default: "d"}
	other := &Setting{ObjectMeta: metav1.ObjectMeta{Name: "cacerts"}, Value: "-----BEGIN CERTIFICATE-----...", Default: "x"}
	for _, s := range []*Setting{read, other} {
		if _, err := TransformSetting(s); err != nil {
			t.Fatal(err)
		}
	}
	if read.Value != "https://r.example.com" || read.Default != "d" || read.Labels != nil {
		t.Errorf("read setting = %+v, want its value and default kept and labels dropped", read)
	}
	if other.Value != "" || other.Default != "" || other.Name != "cacerts" {
		t.Errorf("unread setting = %+v, want value and default dropped, name kept", other)
	}
}
