package chart

import (
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// mapperMu serialises Reset of the shared RESTMapper with lookups.
var mapperMu sync.Mutex

// resourceFor maps an object to its dynamic client. served is false when
// the API server does not serve its kind, even after a fresh discovery.
func resourceFor(t testing.TB, o *unstructured.Unstructured) (r dynamic.ResourceInterface, served bool) {
	t.Helper()
	gvk := o.GroupVersionKind()
	mapperMu.Lock()
	m, err := client.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		if rm, ok := client.Mapper.(meta.ResettableRESTMapper); ok {
			rm.Reset()
			m, err = client.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
	}
	mapperMu.Unlock()
	if meta.IsNoMatchError(err) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("%s %s: %v", gvk, o.GetName(), err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return client.Dynamic.Resource(m.Resource).Namespace(o.GetNamespace()), true
	}
	return client.Dynamic.Resource(m.Resource), true
}

// TestServerDryRun sends every object rendered with each ci/ values file of
// each chart to
// the real API server in a server-side dry run with strict field
// validation: the server runs defaulting, validation and admission, and
// rejects unknown or duplicate fields, but stores nothing. A kind the server
// does not serve would be skipped; tests/chart/testdata holds a stand-in
// ServiceMonitor CRD (installed by TestMain) so that the ServiceMonitor is
// validated too, which the test checks.
func TestServerDryRun(t *testing.T) {
	if err := client.EnsureNamespace(t.Context(), releaseNamespace); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	validated := map[string]bool{}
	t.Run("values", func(t *testing.T) {
		for _, c := range charts {
			for name, path := range ciValuesOf(t, c.dir()) {
				t.Run(c.name+"/"+name, func(t *testing.T) {
					t.Parallel()
					dryRunCreate(t, render(t, release{chart: c.dir(), valuesFile: path}), func(kind string) {
						mu.Lock()
						validated[c.name+"/"+kind] = true
						mu.Unlock()
					})
				})
			}
		}
	})
	for _, c := range charts {
		if !validated[c.name+"/ServiceMonitor"] {
			t.Errorf("no ServiceMonitor of %s went to the API server: its stand-in CRD is not served or no ci/ file enables serviceMonitor", c.name)
		}
	}
}

// dryRunCreate creates objs in a server-side dry run with strict field
// validation, calling sent with the kind of each object the server serves.
func dryRunCreate(t *testing.T, objs []*unstructured.Unstructured, sent func(kind string)) {
	t.Helper()
	for _, o := range objs {
		id := o.GetKind() + " " + o.GetName()
		r, served := resourceFor(t, o)
		if !served {
			t.Logf("%s: kind %s not served by the test API server; skipped", id, o.GroupVersionKind())
			continue
		}
		sent(o.GetKind())
		_, err := r.Create(t.Context(), o, metav1.CreateOptions{
			DryRun:          []string{metav1.DryRunAll},
			FieldValidation: metav1.FieldValidationStrict,
			FieldManager:    "chart-test",
		})
		if err != nil {
			t.Errorf("%s: rejected by the API server: %v", id, err)
		}
	}
}
