package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeepCopyInto copies in into out.
func (in *SecretRequest) DeepCopyInto(out *SecretRequest) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec = in.Spec
	in.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a deep copy of in.
func (in *SecretRequest) DeepCopy() *SecretRequest {
	if in == nil {
		return nil
	}
	out := new(SecretRequest)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *SecretRequest) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out.
func (in *SecretRequestStatus) DeepCopyInto(out *SecretRequestStatus) {
	*out = *in
	if in.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(in.Conditions))
		for i := range in.Conditions {
			in.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
	if in.LastSyncTS != nil {
		out.LastSyncTS = in.LastSyncTS.DeepCopy()
	}
}

// DeepCopyInto copies in into out.
func (in *SecretRequestList) DeepCopyInto(out *SecretRequestList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]SecretRequest, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of in.
func (in *SecretRequestList) DeepCopy() *SecretRequestList {
	if in == nil {
		return nil
	}
	out := new(SecretRequestList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *SecretRequestList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopy returns a deep copy of in.
func (in *SecretRequestStatus) DeepCopy() *SecretRequestStatus {
	if in == nil {
		return nil
	}
	out := new(SecretRequestStatus)
	in.DeepCopyInto(out)
	return out
}
