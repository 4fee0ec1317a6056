package chart

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// charts are the charts of charts/, by name, with what differs between
// their pods.
var charts = []struct {
	name string
	dir  func() string // set by TestMain
	// token: the pod mounts a ServiceAccount token (the manager calls the
	// Kubernetes API, the collector does not).
	token bool
}{
	{"telemetry-manager", func() string { return chartDir }, true},
	{"telemetry-collector", func() string { return collectorDir }, false},
}

// TestLint lints each chart strictly with each values file of its ci/.
func TestLint(t *testing.T) {
	for _, c := range charts {
		for name, path := range ciValuesOf(t, c.dir()) {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				out, err := helm(t, "lint", "--strict", c.dir(), "--namespace", releaseNamespace, "--values", path)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out, "0 chart(s) failed") {
					t.Fatalf("helm lint did not pass:\n%s", out)
				}
			})
		}
	}
}

// clusterScoped are the kinds the chart renders without a namespace.
var clusterScoped = []string{"ClusterRole", "ClusterRoleBinding"}

// TestTemplate renders each values file of each chart into a namespace
// other than the documented one, and checks what every object must have:
// the release namespace (and never a hard-coded one), the common labels, and
// a restricted pod.
func TestTemplate(t *testing.T) {
	const ns = "tm-elsewhere"
	for _, c := range charts {
		for name, path := range ciValuesOf(t, c.dir()) {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				checkTemplate(t, release{chart: c.dir(), namespace: ns, valuesFile: path}, c.token)
			})
		}
	}
}

// checkTemplate renders r and checks its objects; token says whether the
// pod mounts a ServiceAccount token.
func checkTemplate(t *testing.T, r release, token bool) {
	t.Helper()
	ns := r.namespace
	out, err := helm(t, append([]string{"template"}, r.args()...)...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, releaseNamespace) {
		t.Errorf("rendered into namespace %s, the output still names %s: a template hard-codes it instead of using .Release.Namespace", ns, releaseNamespace)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		id := o.GetKind() + " " + o.GetName()
		if slices.Contains(clusterScoped, o.GetKind()) {
			if o.GetNamespace() != "" {
				t.Errorf("%s: cluster-scoped, but has namespace %q", id, o.GetNamespace())
			}
		} else if o.GetNamespace() != ns {
			t.Errorf("%s: namespace %q, want the release namespace %q", id, o.GetNamespace(), ns)
		}
		if o.GetKind() == "Namespace" {
			t.Errorf("%s: the chart must not create namespaces (the release namespace exists)", id)
		}
		labels := o.GetLabels()
		for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
			if labels[l] == "" {
				t.Errorf("%s: label %s missing", id, l)
			}
		}
	}
	checkRestrictedPod(t, find(t, objs, "Deployment"), token)
}

// checkRestrictedPod checks the settings of the "restricted" Pod Security
// Standard, plus a read-only root filesystem, and whether the pod mounts a
// ServiceAccount token.
func checkRestrictedPod(t *testing.T, d *unstructured.Unstructured, token bool) {
	t.Helper()
	pod, _, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec")
	want := func(what string, got any, ok bool, wantV any) {
		t.Helper()
		if !ok || got != wantV {
			t.Errorf("Deployment: %s = %v, want %v", what, got, wantV)
		}
	}
	v, ok, _ := unstructured.NestedBool(pod, "securityContext", "runAsNonRoot")
	want("pod runAsNonRoot", v, ok, true)
	u, ok, _ := unstructured.NestedInt64(pod, "securityContext", "runAsUser")
	want("pod runAsUser", u, ok, int64(65534))
	s, ok, _ := unstructured.NestedString(pod, "securityContext", "seccompProfile", "type")
	want("pod seccompProfile", s, ok, "RuntimeDefault")
	v, ok, _ = unstructured.NestedBool(pod, "automountServiceAccountToken")
	want("automountServiceAccountToken", v, ok, token)

	containers, _, _ := unstructured.NestedSlice(pod, "containers")
	for _, c := range containers {
		c := c.(map[string]any)
		v, ok, _ := unstructured.NestedBool(c, "securityContext", "allowPrivilegeEscalation")
		want("allowPrivilegeEscalation", v, ok, false)
		v, ok, _ = unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem")
		want("readOnlyRootFilesystem", v, ok, true)
		v, ok, _ = unstructured.NestedBool(c, "securityContext", "runAsNonRoot")
		want("container runAsNonRoot", v, ok, true)
		drop, _, _ := unstructured.NestedStringSlice(c, "securityContext", "capabilities", "drop")
		if !slices.Equal(drop, []string{"ALL"}) {
			t.Errorf("Deployment: capabilities.drop = %v, want [ALL]", drop)
		}
		if add, found, _ := unstructured.NestedStringSlice(c, "securityContext", "capabilities", "add"); found {
			t.Errorf("Deployment: capabilities.add = %v, want none", add)
		}
		for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
			p, _, _ := unstructured.NestedString(c, probe, "httpGet", "path")
			port, _, _ := unstructured.NestedFieldNoCopy(c, probe, "httpGet", "port")
			if p != path || port != "http" {
				t.Errorf("Deployment: %s = %v on port %v, want %s on port http", probe, p, port, path)
			}
		}
	}
}

// TestNotes renders NOTES.txt (helm install --dry-run=client contacts no
// server) and checks it tells how to read the telemetry Secret.
func TestNotes(t *testing.T) {
	const ns = "tm-notes"
	out, err := helm(t, append([]string{"install", "--dry-run=client"}, release{namespace: ns}.args()...)...)
	if err != nil {
		t.Fatal(err)
	}
	_, notes, ok := strings.Cut(out, "NOTES:")
	if !ok {
		t.Fatalf("no NOTES in:\n%s", out)
	}
	for _, want := range []string{
		"telemetry-manager audit --secret-namespace " + ns,
		"kubectl -n " + ns + " get secret telemetry -o jsonpath='{.data.payload}' | base64 -d",
		"kubectl -n " + ns + " patch configmap telemetry-manager",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}

	out, err = helm(t, append([]string{"install", "--dry-run=client"}, release{namespace: ns, set: []string{"telemetry.disabled=true"}}.args()...)...)
	if err != nil {
		t.Fatal(err)
	}
	_, notes, _ = strings.Cut(out, "NOTES:")
	if !strings.Contains(notes, "DISABLED") {
		t.Errorf("with telemetry.disabled=true, NOTES do not say so:\n%s", notes)
	}
}

// TestCIValuesRenderEveryKind checks that the ci/ files together render every
// template, so that lint, the dry run and the RBAC checks see all of them.
func TestCIValuesRenderEveryKind(t *testing.T) {
	seen := map[string]bool{}
	for _, path := range ciValues(t) {
		for _, o := range render(t, release{valuesFile: path}) {
			seen[o.GetKind()] = true
		}
	}
	var kinds []string
	for k := range seen {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	want := []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount", "ServiceMonitor"}
	if !slices.Equal(kinds, want) {
		t.Errorf("the ci/ values files render %v, want %v", kinds, want)
	}
}
