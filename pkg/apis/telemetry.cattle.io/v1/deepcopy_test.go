package v1

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestDeepCopyIsIndependent(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	in := &SecretRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Finalizers: []string{"f"}, Annotations: map[string]string{"a": "b"}},
		Spec:       SecretRequestSpec{SecretType: SecretTypeSCC, TargetSecretRef: SecretReference{Namespace: "ns", Name: "s"}},
		Status: SecretRequestStatus{
			Conditions: []metav1.Condition{{Type: ConditionReady, Status: metav1.ConditionTrue, LastTransitionTime: now}},
			LastSyncTS: &now,
		},
	}
	out := in.DeepCopyObject().(*SecretRequest)
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("copy differs:\n%+v\n%+v", in, out)
	}
	out.Finalizers[0], out.Annotations["a"] = "x", "x"
	out.Status.Conditions[0].Status = metav1.ConditionFalse
	out.Status.LastSyncTS.Time = now.Add(time.Hour)
	if in.Finalizers[0] != "f" || in.Annotations["a"] != "b" || in.Status.Conditions[0].Status != metav1.ConditionTrue || !in.Status.LastSyncTS.Equal(&now) {
		t.Errorf("editing the copy changed the original: %+v", in)
	}
	list := &SecretRequestList{Items: []SecretRequest{*in}}
	if lc := list.DeepCopyObject().(*SecretRequestList); !reflect.DeepEqual(list, lc) || &lc.Items[0] == &list.Items[0] {
		t.Error("list copy is not a deep copy")
	}
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{&SecretRequest{}, &SecretRequestList{}} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || len(gvks) != 1 || gvks[0].GroupVersion() != SchemeGroupVersion {
			t.Errorf("%T kinds %v, %v: want one in %s", obj, gvks, err, SchemeGroupVersion)
		}
	}
	if gvks, _, _ := s.ObjectKinds(&SecretRequest{}); len(gvks) == 1 && gvks[0] != SecretRequestGVK {
		t.Errorf("SecretRequest kind %v, want %v", gvks[0], SecretRequestGVK)
	}
}
