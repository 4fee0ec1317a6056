package v3

import (
	"bytes"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "sigs.k8s.io/json"
)

// Quantity is the raw text of a resource quantity, as written in the object.
// It accepts a JSON string or a JSON number, so 2, "2", "3500m" and "abc" all
// decode; parsing and validation happen in the gatherer. Any other JSON type
// decodes to "" and is recorded in Bad.
type Quantity struct {
	Text string
	Bad  Kind
}

// Q returns the quantity written as text.
func Q(text string) Quantity { return Quantity{Text: text} }

// UnmarshalJSON keeps the text of a string or a number.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	*q = Quantity{}
	switch k := kindOf(b); k {
	case KindString:
		var s String
		if err := s.UnmarshalJSON(b); err != nil {
			return err
		}
		q.Text, q.Bad = s.Value, s.Bad
	case KindNumber:
		b = bytes.TrimSpace(b)
		if len(b) > MaxStringBytes {
			q.Bad = KindOversize
			return nil
		}
		q.Text = string(b)
	case KindNone:
	default:
		q.Bad = k
	}
	return nil
}

// MarshalJSON writes the text as a JSON string.
func (q Quantity) MarshalJSON() ([]byte, error) { return jsonString(q.Text), nil }

// ResourceList holds the quantities of a capacity or allocatable list that
// telemetry reads: cpu and memory. Pods, hugepages, storage and every other
// resource are never decoded.
type ResourceList struct {
	CPU    *Quantity `json:"cpu,omitempty"`
	Memory *Quantity `json:"memory,omitempty"`

	problems problems
}

// Resources returns a list with the quantities given as text; "" leaves a
// quantity out.
func Resources(cpu, memory string) ResourceList {
	var l ResourceList
	if cpu != "" {
		l.CPU = &Quantity{Text: cpu}
	}
	if memory != "" {
		l.Memory = &Quantity{Text: memory}
	}
	return l
}

// readQuantities are the only resources read from a capacity or allocatable list.
var readQuantities = []string{"cpu", "memory"}

// Get returns the named quantity ("cpu" or "memory") and whether the list has it.
func (l ResourceList) Get(name string) (Quantity, bool) {
	var q *Quantity
	switch name {
	case "cpu":
		q = l.CPU
	case "memory":
		q = l.Memory
	}
	if q == nil {
		return Quantity{}, false
	}
	return *q, true
}

// Empty reports whether the list has neither cpu nor memory.
func (l ResourceList) Empty() bool { return l.CPU == nil && l.Memory == nil }

// UnmarshalJSON accepts every JSON type; see the package comment.
func (l *ResourceList) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return l.read(b, i, 0) })
}

func (l *ResourceList) read(b []byte, i, depth int) (int, error) {
	*l = ResourceList{}
	end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		var q **Quantity
		switch string(key) {
		case "cpu":
			q = &l.CPU
		case "memory":
			q = &l.Memory
		default:
			return skipValue(b, i, depth)
		}
		*q = new(Quantity)
		return readLeaf(b, i, depth, *q)
	})
	if err != nil {
		return 0, err
	}
	l.problems.object("", k)
	for _, name := range readQuantities {
		if q, ok := l.Get(name); ok {
			l.problems.check(name, q.Bad, "a quantity (string or number)")
		}
	}
	return end, nil
}

// Cluster is a cluster managed by Rancher. The upstream cluster is named "local".
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status ClusterStatus `json:"status,omitempty"`
}

// Problems lists the fields of the cluster that had the wrong JSON type.
func (c *Cluster) Problems() []Problem {
	return nest("status", c.Status.problems)
}

// ClusterStatus holds the read fields of a Cluster's status. It deliberately
// omits serviceAccountToken, caCert, apiEndpoint and every other credential or
// address: they are never decoded.
type ClusterStatus struct {
	Driver      string       `json:"driver,omitempty"`
	Provider    string       `json:"provider,omitempty"`
	Version     VersionInfo  `json:"version,omitempty"`
	Capacity    ResourceList `json:"capacity,omitempty"`
	Allocatable ResourceList `json:"allocatable,omitempty"`
	// Conditions are the statuses of the Ready, Provisioned, Updated and
	// Connected conditions.
	Conditions Conditions `json:"conditions,omitempty"`

	problems problems
}

// UnmarshalJSON accepts every JSON type; see the package comment.
func (s *ClusterStatus) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return s.read(b, i, 0) })
}

func (s *ClusterStatus) read(b []byte, i, depth int) (int, error) {
	*s = ClusterStatus{}
	var driver, provider String
	end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		switch string(key) {
		case "driver":
			return readLeaf(b, i, depth, &driver)
		case "provider":
			return readLeaf(b, i, depth, &provider)
		case "version":
			return s.Version.read(b, i, depth)
		case "capacity":
			return s.Capacity.read(b, i, depth)
		case "allocatable":
			return s.Allocatable.read(b, i, depth)
		case "conditions":
			return s.Conditions.read(b, i, depth)
		}
		return skipValue(b, i, depth)
	})
	if err != nil {
		return 0, err
	}
	s.Driver, s.Provider = driver.Value, provider.Value
	s.problems.object("", k)
	s.problems.string("driver", driver)
	s.problems.string("provider", provider)
	s.problems.nest("version", &s.Version.problems)
	s.problems.nest("capacity", &s.Capacity.problems)
	s.problems.nest("allocatable", &s.Allocatable.problems)
	s.problems.nest("conditions", &s.Conditions.problems)
	return end, nil
}

// VersionInfo is the Kubernetes version of a cluster.
type VersionInfo struct {
	GitVersion string `json:"gitVersion,omitempty"`

	problems problems
}

// UnmarshalJSON accepts every JSON type; see the package comment.
func (v *VersionInfo) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return v.read(b, i, 0) })
}

func (v *VersionInfo) read(b []byte, i, depth int) (int, error) {
	*v = VersionInfo{}
	var git String
	end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		if string(key) == "gitVersion" {
			return readLeaf(b, i, depth, &git)
		}
		return skipValue(b, i, depth)
	})
	if err != nil {
		return 0, err
	}
	v.GitVersion = git.Value
	v.problems.object("", k)
	v.problems.string("gitVersion", git)
	return end, nil
}

// ClusterList is a list of Clusters.
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Cluster `json:"items"`
}

// Node is a machine of a managed cluster. Its namespace is the name of the
// cluster that owns it.
type Node struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NodeSpec   `json:"spec,omitempty"`
	Status NodeStatus `json:"status,omitempty"`
}

// Problems lists the fields of the node that had the wrong JSON type.
func (n *Node) Problems() []Problem {
	return append(nest("spec", n.Spec.problems), nest("status", n.Status.problems)...)
}

// NodeSpec holds the roles of a node. Hostnames are never decoded.
type NodeSpec struct {
	Etcd         bool `json:"etcd,omitempty"`
	ControlPlane bool `json:"controlPlane,omitempty"`
	Worker       bool `json:"worker,omitempty"`

	problems problems
}

// UnmarshalJSON accepts every JSON type; see the package comment.
func (s *NodeSpec) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return s.read(b, i, 0) })
}

func (s *NodeSpec) read(b []byte, i, depth int) (int, error) {
	*s = NodeSpec{}
	var etcd, controlPlane, worker Bool
	end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		switch string(key) {
		case "etcd":
			return readLeaf(b, i, depth, &etcd)
		case "controlPlane":
			return readLeaf(b, i, depth, &controlPlane)
		case "worker":
			return readLeaf(b, i, depth, &worker)
		}
		return skipValue(b, i, depth)
	})
	if err != nil {
		return 0, err
	}
	s.Etcd, s.ControlPlane, s.Worker = etcd.Value, controlPlane.Value, worker.Value
	s.problems.object("", k)
	s.problems.bool("etcd", etcd)
	s.problems.bool("controlPlane", controlPlane)
	s.problems.bool("worker", worker)
	return end, nil
}

// NodeStatus holds the part of the node's status that telemetry reads.
type NodeStatus struct {
	InternalNodeStatus InternalNodeStatus `json:"internalNodeStatus,omitempty"`

	problems problems
}

// UnmarshalJSON accepts every JSON type; see the package comment.
func (s *NodeStatus) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return s.read(b, i, 0) })
}

func (s *NodeStatus) read(b []byte, i, depth int) (int, error) {
	*s = NodeStatus{}
	end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		if string(key) == "internalNodeStatus" {
			return s.InternalNodeStatus.read(b, i, depth)
		}
		return skipValue(b, i, depth)
	})
	if err != nil {
		return 0, err
	}
	s.problems.object("", k)
	s.problems.nest("internalNodeStatus", &s.InternalNodeStatus.problems)
	return end, nil
}

// InternalNodeStatus mirrors the read fields of core/v1 NodeStatus. Addresses,
// images and daemon endpoints are never decoded, and of the conditions only
// the status of Ready.
type InternalNodeStatus struct {
	Capacity    ResourceList `json:"capacity,omitempty"`
	Allocatable ResourceList `json:"allocatable,omitempty"`
	NodeInfo    NodeInfo     `json:"nodeInfo,omitempty"`
	// Conditions is read for Ready only. A list that cannot be read is no
	// problem of the node: its readiness is unknown (Ready stays absent).
	Conditions Conditions `json:"conditions,omitempty"`

	problems problems
}

// UnmarshalJSON accepts every JSON type; see the package comment.
func (s *InternalNodeStatus) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return s.read(b, i, 0) })
}

func (s *InternalNodeStatus) read(b []byte, i, depth int) (int, error) {
	*s = InternalNodeStatus{}
	end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		switch string(key) {
		case "capacity":
			return s.Capacity.read(b, i, depth)
		case "allocatable":
			return s.Allocatable.read(b, i, depth)
		case "nodeInfo":
			return s.NodeInfo.read(b, i, depth)
		case "conditions":
			end, err := s.Conditions.read(b, i, depth)
			if s.Conditions.Bad {
				s.Conditions = Conditions{}
			}
			return end, err
		}
		return skipValue(b, i, depth)
	})
	if err != nil {
		return 0, err
	}
	s.problems.object("", k)
	s.problems.nest("capacity", &s.Capacity.problems)
	s.problems.nest("allocatable", &s.Allocatable.problems)
	s.problems.nest("nodeInfo", &s.NodeInfo.problems)
	return end, nil
}

// NodeInfo is the system information of a node. Machine and boot ids and the
// system UUID are never decoded.
type NodeInfo struct {
	Architecture            string `json:"architecture,omitempty"`
	OperatingSystem         string `json:"operatingSystem,omitempty"`
	OSImage                 string `json:"osImage,omitempty"`
	KernelVersion           string `json:"kernelVersion,omitempty"`
	ContainerRuntimeVersion string `json:"containerRuntimeVersion,omitempty"`
	KubeletVersion          string `json:"kubeletVersion,omitempty"`

	problems problems
}

// UnmarshalJSON accepts every JSON type; see the package comment.
func (n *NodeInfo) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return n.read(b, i, 0) })
}

func (n *NodeInfo) read(b []byte, i, depth int) (int, error) {
	*n = NodeInfo{}
	var arch, os, image, kernel, runtime, kubelet String
	end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		var v *String
		switch string(key) {
		case "architecture":
			v = &arch
		case "operatingSystem":
			v = &os
		case "osImage":
			v = &image
		case "kernelVersion":
			v = &kernel
		case "containerRuntimeVersion":
			v = &runtime
		case "kubeletVersion":
			v = &kubelet
		default:
			return skipValue(b, i, depth)
		}
		return readLeaf(b, i, depth, v)
	})
	if err != nil {
		return 0, err
	}
	*n = NodeInfo{
		Architecture:            arch.Value,
		OperatingSystem:         os.Value,
		OSImage:                 image.Value,
		KernelVersion:           kernel.Value,
		ContainerRuntimeVersion: runtime.Value,
		KubeletVersion:          kubelet.Value,
	}
	n.problems.object("", k)
	n.problems.string("architecture", arch)
	n.problems.string("operatingSystem", os)
	n.problems.string("osImage", image)
	n.problems.string("kernelVersion", kernel)
	n.problems.string("containerRuntimeVersion", runtime)
	n.problems.string("kubeletVersion", kubelet)
	return end, nil
}

// NodeList is a list of Nodes.
type NodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Node `json:"items"`
}

// Setting is a Rancher setting. Its effective value is Value when non-empty,
// else Default.
type Setting struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Value   string `json:"value"`
	Default string `json:"default,omitempty"`

	problems problems
}

// UnmarshalJSON accepts every JSON type in value and default; see the
// package comment.
func (s *Setting) UnmarshalJSON(b []byte) error {
	var raw struct {
		metav1.TypeMeta `json:",inline"`
		ObjectMeta      metav1.ObjectMeta `json:"metadata"`
		Value           String            `json:"value"`
		Default         String            `json:"default"`
	}
	if err := utiljson.UnmarshalCaseSensitivePreserveInts(b, &raw); err != nil {
		return err
	}
	*s = Setting{TypeMeta: raw.TypeMeta, ObjectMeta: raw.ObjectMeta, Value: raw.Value.Value, Default: raw.Default.Value}
	s.problems.string("value", raw.Value)
	s.problems.string("default", raw.Default)
	return nil
}

// Problems lists the fields of the setting that had the wrong JSON type.
func (s *Setting) Problems() []Problem { return nest("", s.problems) }

// Effective returns the value in force: Value when set, else Default.
func (s *Setting) Effective() string {
	if s.Value != "" {
		return s.Value
	}
	return s.Default
}

// SettingList is a list of Settings.
type SettingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Setting `json:"items"`
}

// Feature is a Rancher feature flag.
type Feature struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   FeatureSpec   `json:"spec,omitempty"`
	Status FeatureStatus `json:"status,omitempty"`
}

// Problems lists the fields of the feature that had the wrong JSON type.
func (f *Feature) Problems() []Problem {
	return append(nest("spec", f.Spec.problems), nest("status", f.Status.problems)...)
}

// FeatureSpec is the value a user chose for a feature, if any.
type FeatureSpec struct {
	Value *bool `json:"value,omitempty"`

	problems problems
}

// UnmarshalJSON accepts every JSON type; see the package comment.
func (s *FeatureSpec) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return s.read(b, i, 0) })
}

func (s *FeatureSpec) read(b []byte, i, depth int) (int, error) {
	*s = FeatureSpec{}
	var value OptionalBool
	end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		if string(key) == "value" {
			return readLeaf(b, i, depth, &value)
		}
		return skipValue(b, i, depth)
	})
	if err != nil {
		return 0, err
	}
	s.Value = value.Ptr()
	s.problems.object("", k)
	s.problems.optionalBool("value", value)
	return end, nil
}

// FeatureStatus holds the default and the locked value of a feature.
type FeatureStatus struct {
	Default     *bool `json:"default,omitempty"`
	LockedValue *bool `json:"lockedValue,omitempty"`

	problems problems
}

// UnmarshalJSON accepts every JSON type; see the package comment.
func (s *FeatureStatus) UnmarshalJSON(b []byte) error {
	return decodeWhole(b, func(i int) (int, error) { return s.read(b, i, 0) })
}

func (s *FeatureStatus) read(b []byte, i, depth int) (int, error) {
	*s = FeatureStatus{}
	var def, locked OptionalBool
	end, k, err := readObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		switch string(key) {
		case "default":
			return readLeaf(b, i, depth, &def)
		case "lockedValue":
			return readLeaf(b, i, depth, &locked)
		}
		return skipValue(b, i, depth)
	})
	if err != nil {
		return 0, err
	}
	s.Default, s.LockedValue = def.Ptr(), locked.Ptr()
	s.problems.object("", k)
	s.problems.optionalBool("default", def)
	s.problems.optionalBool("lockedValue", locked)
	return end, nil
}

// Enabled reports whether the feature is on: the locked value when set, else
// the user's value when set, else the default; unset everywhere means off.
func (f *Feature) Enabled() bool {
	switch {
	case f.Status.LockedValue != nil:
		return *f.Status.LockedValue
	case f.Spec.Value != nil:
		return *f.Spec.Value
	case f.Status.Default != nil:
		return *f.Status.Default
	}
	return false
}

// FeatureList is a list of Features.
type FeatureList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Feature `json:"items"`
}
