package v3

import "k8s.io/apimachinery/pkg/runtime"

// The deep copies below are written by hand: the types are few and small, and
// every reference field (maps, pointers, slices) is copied explicitly.

// deepCopy copies the list. The problems of a decoded object are never
// modified, so copies share them.
func (in ResourceList) deepCopy() ResourceList {
	out := in
	if in.CPU != nil {
		q := *in.CPU
		out.CPU = &q
	}
	if in.Memory != nil {
		q := *in.Memory
		out.Memory = &q
	}
	return out
}

func copyBool(in *bool) *bool {
	if in == nil {
		return nil
	}
	v := *in
	return &v
}

// DeepCopyInto copies the receiver into out.
func (in *Cluster) DeepCopyInto(out *Cluster) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Status.Capacity = in.Status.Capacity.deepCopy()
	out.Status.Allocatable = in.Status.Allocatable.deepCopy()
}

// DeepCopy returns a deep copy of the Cluster.
func (in *Cluster) DeepCopy() *Cluster {
	if in == nil {
		return nil
	}
	out := new(Cluster)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *Cluster) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (in *ClusterList) DeepCopyObject() runtime.Object {
	if in == nil {
		return nil
	}
	out := &ClusterList{TypeMeta: in.TypeMeta}
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]Cluster, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}

// DeepCopyInto copies the receiver into out.
func (in *Node) DeepCopyInto(out *Node) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Status.InternalNodeStatus.Capacity = in.Status.InternalNodeStatus.Capacity.deepCopy()
	out.Status.InternalNodeStatus.Allocatable = in.Status.InternalNodeStatus.Allocatable.deepCopy()
}

// DeepCopy returns a deep copy of the Node.
func (in *Node) DeepCopy() *Node {
	if in == nil {
		return nil
	}
	out := new(Node)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *Node) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (in *NodeList) DeepCopyObject() runtime.Object {
	if in == nil {
		return nil
	}
	out := &NodeList{TypeMeta: in.TypeMeta}
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]Node, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}

// DeepCopyInto copies the receiver into out.
func (in *Setting) DeepCopyInto(out *Setting) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
}

// DeepCopy returns a deep copy of the Setting.
func (in *Setting) DeepCopy() *Setting {
	if in == nil {
		return nil
	}
	out := new(Setting)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *Setting) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (in *SettingList) DeepCopyObject() runtime.Object {
	if in == nil {
		return nil
	}
	out := &SettingList{TypeMeta: in.TypeMeta}
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]Setting, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}

// DeepCopyInto copies the receiver into out.
func (in *Feature) DeepCopyInto(out *Feature) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec.Value = copyBool(in.Spec.Value)
	out.Status.Default = copyBool(in.Status.Default)
	out.Status.LockedValue = copyBool(in.Status.LockedValue)
}

// DeepCopy returns a deep copy of the Feature.
func (in *Feature) DeepCopy() *Feature {
	if in == nil {
		return nil
	}
	out := new(Feature)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *Feature) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (in *FeatureList) DeepCopyObject() runtime.Object {
	if in == nil {
		return nil
	}
	out := &FeatureList{TypeMeta: in.TypeMeta}
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]Feature, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}
