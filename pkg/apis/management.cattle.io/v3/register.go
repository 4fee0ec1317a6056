package v3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of the Rancher management objects.
const GroupName = "management.cattle.io"

// SchemeGroupVersion is the group and version of the types in this package.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v3"}

// Kinds and resources read by the gatherer.
var (
	ClusterGVK = SchemeGroupVersion.WithKind("Cluster")
	NodeGVK    = SchemeGroupVersion.WithKind("Node")
	SettingGVK = SchemeGroupVersion.WithKind("Setting")
	FeatureGVK = SchemeGroupVersion.WithKind("Feature")

	ClusterResource = SchemeGroupVersion.WithResource("clusters")
	NodeResource    = SchemeGroupVersion.WithResource("nodes")
	SettingResource = SchemeGroupVersion.WithResource("settings")
	FeatureResource = SchemeGroupVersion.WithResource("features")
)

var (
	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&Cluster{}, &ClusterList{},
		&Node{}, &NodeList{},
		&Setting{}, &SettingList{},
		&Feature{}, &FeatureList{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
