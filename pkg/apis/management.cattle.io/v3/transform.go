package v3

import "k8s.io/apimachinery/pkg/api/meta"

// The transforms below are informer transforms: they run before an object
// enters a cache and drop what the gatherer never reads, so that a cache of
// 60,000 Rancher nodes holds only the few fields telemetry needs. The types
// of this package already decode nothing else of the object's body (a
// ResourceList keeps only cpu and memory).

// TransformMeta drops managed fields, annotations, labels, owner references
// and finalizers. It suits Clusters, Nodes and Features, and any object whose
// metadata telemetry reads only for its name.
func TransformMeta(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		m.SetAnnotations(nil)
		m.SetLabels(nil)
		m.SetOwnerReferences(nil)
		m.SetFinalizers(nil)
	}
	return obj, nil
}

// TransformCluster is TransformMeta, the Cluster transform.
func TransformCluster(obj any) (any, error) { return TransformMeta(obj) }

// Names of the Settings whose values telemetry reads.
const (
	SettingInstallUUID   = "install-uuid"
	SettingServerURL     = "server-url"
	SettingServerVersion = "server-version"
)

// ReadSettings are the only Settings whose values telemetry reads.
var ReadSettings = map[string]bool{SettingInstallUUID: true, SettingServerURL: true, SettingServerVersion: true}

// TransformSetting is TransformMeta that also drops the value and default of
// every Setting telemetry does not read: Rancher keeps certificates and
// other large values in settings, and the cache need not hold them.
func TransformSetting(obj any) (any, error) {
	if s, ok := obj.(*Setting); ok && !ReadSettings[s.Name] {
		s.Value, s.Default, s.problems = "", "", nil
	}
	return TransformMeta(obj)
}
