package v3

import (
	"bytes"
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Quantity is the raw text of a resource quantity, as written in the object.
// It accepts a JSON string or a JSON number, so 2, "2", "3500m" and "abc" all
// decode; parsing and validation happen in the gatherer.
type Quantity string

// UnmarshalJSON keeps the text of a string or a number.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*q = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*q = Quantity(s)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*q = Quantity(b)
	default:
		// Objects, arrays and booleans are kept as their text: the gatherer
		// reports them as a bad format instead of the whole list failing.
		*q = Quantity(b)
	}
	return nil
}

// ResourceList maps a resource name (cpu, memory, pods, ...) to its raw quantity.
type ResourceList map[string]Quantity

// Cluster is a cluster managed by Rancher. The upstream cluster is named "local".
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status ClusterStatus `json:"status,omitempty"`
}

// ClusterStatus holds the read fields of a Cluster's status. It deliberately
// omits serviceAccountToken, caCert, apiEndpoint and every other credential or
// address: they are never decoded.
type ClusterStatus struct {
	Driver      string       `json:"driver,omitempty"`
	Provider    string       `json:"provider,omitempty"`
	Version     *VersionInfo `json:"version,omitempty"`
	Capacity    ResourceList `json:"capacity,omitempty"`
	Allocatable ResourceList `json:"allocatable,omitempty"`
	NodeCount   int64        `json:"nodeCount,omitempty"`
}

// VersionInfo is the Kubernetes version of a cluster.
type VersionInfo struct {
	GitVersion string `json:"gitVersion,omitempty"`
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

// NodeSpec holds the roles of a node. Hostnames are never decoded.
type NodeSpec struct {
	Etcd         bool `json:"etcd,omitempty"`
	ControlPlane bool `json:"controlPlane,omitempty"`
	Worker       bool `json:"worker,omitempty"`
}

// NodeStatus holds the part of the node's status that telemetry reads.
type NodeStatus struct {
	InternalNodeStatus InternalNodeStatus `json:"internalNodeStatus,omitempty"`
}

// InternalNodeStatus mirrors the read fields of core/v1 NodeStatus. Addresses,
// images, conditions and daemon endpoints are never decoded.
type InternalNodeStatus struct {
	Capacity    ResourceList `json:"capacity,omitempty"`
	Allocatable ResourceList `json:"allocatable,omitempty"`
	NodeInfo    NodeInfo     `json:"nodeInfo,omitempty"`
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
}

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

// FeatureSpec is the value a user chose for a feature, if any.
type FeatureSpec struct {
	Value *bool `json:"value,omitempty"`
}

// FeatureStatus holds the default and the locked value of a feature.
type FeatureStatus struct {
	Default     *bool `json:"default,omitempty"`
	LockedValue *bool `json:"lockedValue,omitempty"`
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
