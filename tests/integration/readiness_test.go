package integration

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/tests/fixtures"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// startLogged runs a controller until the test ends, like start, and also
// keeps its log for the test to read.
func startLogged(t *testing.T, cfg *rest.Config, o *controller.Options) (*controller.Controller, *testenv.SyncBuffer) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	c, _ := runController(t, cfg, o, logs)
	return c, logs
}

// waitReadyz waits until /readyz answers code with a body containing want.
func waitReadyz(t *testing.T, c *controller.Controller, code int, want string) string {
	t.Helper()
	var body string
	eventually(t, fmt.Sprintf("/readyz %d with %q", code, want), func() (bool, error) {
		got, b, err := httpGet("http://" + c.HTTPAddr() + "/readyz")
		body = b
		return got == code && strings.Contains(b, want), fmt.Errorf("%d %q %v", got, b, err)
	})
	return body
}

// rancherCRDsWithout returns the stand-in Rancher CRD files but the one of
// resource.
func rancherCRDsWithout(t *testing.T, resource string) []string {
	t.Helper()
	all, err := testenv.RancherCRDs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range all {
		if !strings.HasSuffix(filepath.Base(p), "_"+resource+".yaml") {
			out = append(out, p)
		}
	}
	if len(out) != len(all)-1 {
		t.Fatalf("no CRD file for %s among %v", resource, all)
	}
	return out
}

func TestReadyzNamesTheKindWhoseCRDIsMissing(t *testing.T) {
	fresh := testenv.StartT(t, testenv.Options{CRDs: rancherCRDsWithout(t, "features")})
	o := options(t) // --mode rancher
	c, _ := startLogged(t, fresh.Config, o)

	body := waitReadyz(t, c, http.StatusServiceUnavailable, "Feature (management.cattle.io/v3 features): not found")
	if !strings.HasPrefix(body, "not ready: ") {
		t.Errorf("readyz body %q does not start with \"not ready: \"", body)
	}
	eventually(t, "the other caches synced", func() (bool, error) {
		synced := gauge(t, c.Metrics, "telemetry_manager_cache_synced", `kind="Cluster"`) == 1 &&
			gauge(t, c.Metrics, "telemetry_manager_cache_synced", `kind="Setting"`) == 1
		return synced, nil
	})
	if v := gauge(t, c.Metrics, "telemetry_manager_cache_synced", `kind="Feature"`); v != 0 {
		t.Errorf(`cache_synced{kind="Feature"} = %v, want 0`, v)
	}
	_, body, _ = httpGet("http://" + c.HTTPAddr() + "/readyz")
	for _, synced := range []string{"Cluster (", "Setting ("} {
		if strings.Contains(body, synced) {
			t.Errorf("readyz names the synced %s cache: %q", synced, body)
		}
	}
}

// bindRole grants user the rules, cluster-wide, until the test ends.
func bindRole(t *testing.T, user string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: rules}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().ClusterRoleBindings().Delete(ctx, user, metav1.DeleteOptions{})
		_ = kube.RbacV1().ClusterRoles().Delete(ctx, user, metav1.DeleteOptions{})
	})
}

func TestReadyzAndLogNameTheForbiddenVerb(t *testing.T) {
	for _, tc := range []struct {
		name      string
		nodeVerbs []string
		verb      string
		// notReady: the cache cannot sync, so /readyz names it. Without
		// watch alone the lists succeed and the cache syncs, but the
		// failing watch is still logged.
		notReady bool
	}{
		// client-go lists through a watch when the server allows it, so a
		// missing list alone goes unnoticed; without both it fails to list.
		{"no list and no watch", []string{"get"}, "list", true},
		{"no watch", []string{"get", "list"}, "watch", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options(t)
			user := "rbac-" + o.SecretNamespace
			all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
			bindRole(t, user, []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "create"}},
				{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: all},
				{APIGroups: []string{v3.SchemeGroupVersion.Group}, Resources: []string{"clusters", "settings", "features"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{v3.SchemeGroupVersion.Group}, Resources: []string{"nodes"}, Verbs: tc.nodeVerbs},
			})
			c, logs := startLogged(t, env.ConfigFor(user), o)

			eventually(t, "the warning naming verb and resource", func() (bool, error) {
				l := logs.String()
				return strings.Contains(l, "RBAC forbids "+tc.verb+" on management.cattle.io/v3 nodes") &&
					strings.Contains(l, `resource="management.cattle.io/v3 nodes"`) && strings.Contains(l, "verb="+tc.verb), nil
			})
			if !tc.notReady {
				return
			}
			waitReadyz(t, c, http.StatusServiceUnavailable, "Node (management.cattle.io/v3 nodes): list forbidden: ")
			if v := gauge(t, c.Metrics, "telemetry_manager_cache_synced", `kind="Node"`); v != 0 {
				t.Errorf(`cache_synced{kind="Node"} = %v, want 0`, v)
			}
			if _, err := getSecret(o.SecretNamespace, o.SecretName); !apierrors.IsNotFound(err) {
				t.Errorf("payload Secret: %v, want not found while a cache cannot sync", err)
			}
		})
	}
}

func TestRancherModeWaitsForInstallUUIDSetting(t *testing.T) {
	crds, err := testenv.RancherCRDs()
	if err != nil {
		t.Fatal(err)
	}
	fresh := testenv.StartT(t, testenv.Options{CRDs: crds})
	freshKube, err := kubernetes.NewForConfig(fresh.Config)
	if err != nil {
		t.Fatal(err)
	}
	o := options(t) // --mode rancher
	c, logs := startLogged(t, fresh.Config, o)

	waitReadyz(t, c, http.StatusServiceUnavailable, "waiting for setting install-uuid")
	eventually(t, "the manager to log that it waits", func() (bool, error) {
		return strings.Contains(logs.String(), "waiting for setting install-uuid"), nil
	})
	// The caches have synced (readyz waits for them first), and nothing is
	// written while the install UUID is unknown.
	ctx := context.Background()
	if _, err := freshKube.CoreV1().Secrets(o.SecretNamespace).Get(ctx, o.SecretName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("payload Secret before the install-uuid Setting: %v, want not found", err)
	}

	const uuid = "0b5c7d4e-1f2a-4b3c-8d9e-a1b2c3d4e5f6"
	fc, err := fixtures.NewClient(fresh.Config)
	if err != nil {
		t.Fatal(err)
	}
	setting := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v3.SchemeGroupVersion.String(), "kind": "Setting",
		"metadata": map[string]any{"name": "install-uuid"}, "value": uuid,
	}}
	if err := fc.Apply(ctx, setting); err != nil {
		t.Fatal(err)
	}
	var r report.Report
	eventually(t, "the payload Secret", func() (bool, error) {
		s, err := freshKube.CoreV1().Secrets(o.SecretNamespace).Get(ctx, o.SecretName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return jsonUnmarshal(s.Data[secret.DefaultKey], &r) == nil, nil
	})
	if r.Install.InstallUUID != uuid {
		t.Fatalf("payload install UUID = %q, want the Setting's %q", r.Install.InstallUUID, uuid)
	}
	waitReadyz(t, c, http.StatusOK, "ok")
	if n := strings.Count(logs.String(), "waiting for setting install-uuid"); n != 1 {
		t.Errorf("logged the wait %d times, want once", n)
	}
}
