package sources

import (
	"k8s.io/apimachinery/pkg/api/meta"
)

// The transforms below run before an object enters a cache and drop what
// telemetry never reads. Those of the Rancher kinds live with their types,
// in pkg/apis/management.cattle.io/v3; the Node caches of both modes hold
// the gatherer's records instead of objects (gatherer.NodeTransform).

// slimSecret keeps the annotations and labels the secret exporter checks.
func slimSecret(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
