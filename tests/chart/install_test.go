package chart

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/rancher/telemetry-manager/pkg/controller"
)

// installed is a release that Helm installed into the test API server.
type installed struct {
	name, namespace string
	objs            []*unstructured.Unstructured
	flags           map[string]string
	args            []string
	serviceAccount  string
}

// install installs a release with helm (server-side apply, as Helm 4 does by
// default) and uninstalls it when the test ends.
func install(t *testing.T, name, valuesFile string) installed {
	t.Helper()
	r := release{name: name, namespace: name, valuesFile: valuesFile}
	if _, err := helm(t, append([]string{"install", "--create-namespace"}, r.args()...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The test's context is gone by now.
		if _, err := helm(&cleanupTB{t}, "uninstall", name, "--namespace", name); err != nil {
			t.Errorf("helm uninstall: %v", err)
		}
	})
	objs := render(t, r)
	d := find(t, objs, "Deployment")
	sa, _, _ := unstructured.NestedString(d.Object, "spec", "template", "spec", "serviceAccountName")
	args := containerArgs(t, objs)
	return installed{name: name, namespace: name, objs: objs, flags: parseArgs(t, args), args: args, serviceAccount: sa}
}

// cleanupTB gives helm a live context inside t.Cleanup, where t.Context is
// already cancelled.
type cleanupTB struct{ *testing.T }

func (c *cleanupTB) Context() context.Context { return context.Background() }

// TestInstalledRelease installs releases with Helm and checks, as the
// ServiceAccount of each, that the RBAC allows what the manager does and
// nothing more; for two of them it then runs the controller with the
// Deployment's own arguments under that identity, until it has written the
// report.
func TestInstalledRelease(t *testing.T) {
	values := ciValues(t)
	for _, tc := range []struct {
		name   string
		values string
		run    bool
	}{
		{"tm-auto", values["default-values"], true},
		{"tm-kubernetes", values["kubernetes-mode"], true},
		{"tm-rancher", values["rancher-mode"], false},
		{"tm-monitored", values["servicemonitor"], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rel := install(t, tc.name, tc.values)
			t.Run("access", func(t *testing.T) { checkAccess(t, rel) })
			if tc.run {
				t.Run("controller", func(t *testing.T) { runController(t, rel) })
			}
		})
	}
}

func checkAccess(t *testing.T, rel installed) {
	ns, f := rel.namespace, rel.flags
	user, groups := serviceAccountUser(ns, rel.serviceAccount)
	readsRancher := f["mode"] == "auto" || f["mode"] == "rancher"
	readsNodes := f["mode"] == "auto" || f["mode"] == "kubernetes"
	elect := f["leader-elect"] == "true"
	payload := slices.Contains(strings.Split(f["exporters"], ","), "secret")

	type want struct {
		access
		allowed bool
	}
	var wants []want
	add := func(ok bool, verb, group, resource, namespace, name string) {
		wants = append(wants, want{access{verb, group, resource, namespace, name}, ok})
	}
	for _, res := range []string{"clusters", "nodes", "settings", "features"} {
		for _, verb := range []string{"get", "list", "watch"} {
			add(readsRancher, verb, "management.cattle.io", res, "", "")
		}
		add(false, "update", "management.cattle.io", res, "", "")
		add(false, "delete", "management.cattle.io", res, "", "")
	}
	add(readsRancher, "list", "management.cattle.io", "nodes", "c-abc", "") // v3 nodes live in the cluster's namespace
	for _, verb := range []string{"get", "list", "watch"} {
		add(readsNodes, verb, "", "nodes", "", "")
	}
	add(false, "patch", "", "nodes", "", "")
	add(true, "get", "", "namespaces", "", "kube-system")
	// SecretRequests read a target namespace's labels for the policy: the
	// selector, or the System project in rancher mode.
	requests := f["secret-requests"] == "true"
	add(requests && (readsRancher || f["secret-request-namespace-selector"] != ""), "get", "", "namespaces", "", "default")
	for _, verb := range []string{"get", "list", "watch", "update"} {
		add(requests, verb, "telemetry.cattle.io", "secretrequests", "", "")
	}
	add(false, "delete", "telemetry.cattle.io", "secretrequests", "", "")
	add(false, "create", "telemetry.cattle.io", "secretrequests", "", "")
	add(requests && readsRancher, "list", "management.cattle.io", "projects", "local", "")
	add(false, "update", "management.cattle.io", "projects", "local", "")
	// Secrets of SecretRequests only in the listed target namespaces.
	var targets []string
	if v := f["secret-request-namespaces"]; requests && v != "" {
		targets = strings.Split(v, ",")
	}
	for _, target := range targets {
		for _, verb := range []string{"get", "list", "watch", "patch", "delete"} {
			add(true, verb, "", "secrets", target, "")
		}
		add(false, "create", "", "secrets", target, "")
		add(false, "update", "", "secrets", target, "")
	}
	add(len(targets) > 0 && slices.Contains(targets, "default"), "list", "", "secrets", "default", "")
	add(false, "list", "", "namespaces", "", "")
	add(false, "create", "", "namespaces", "", "")

	add(true, "get", "", "secrets", ns, "telemetry-identity")
	add(true, "update", "", "secrets", ns, "telemetry-identity")
	add(true, "create", "", "secrets", ns, "")
	add(true, "list", "", "secrets", ns, "")
	add(true, "watch", "", "secrets", ns, "")
	add(payload, "patch", "", "secrets", ns, f["secret-name"])
	add(false, "patch", "", "secrets", ns, "telemetry-identity")
	add(false, "update", "", "secrets", ns, f["secret-name"])
	add(false, "delete", "", "secrets", ns, f["secret-name"])
	add(false, "get", "", "secrets", ns, "someone-elses")
	add(false, "list", "", "secrets", "kube-system", "")
	add(false, "list", "", "secrets", "", "")

	add(true, "get", "", "configmaps", ns, f["config-map-name"])
	add(true, "list", "", "configmaps", ns, "")
	add(true, "watch", "", "configmaps", ns, "")
	add(false, "update", "", "configmaps", ns, f["config-map-name"])
	add(false, "patch", "", "configmaps", ns, f["config-map-name"])
	// The lifecycle events: created once, then read and replaced.
	add(true, "create", "", "configmaps", ns, "")
	add(true, "get", "", "configmaps", ns, f["events-configmap"])
	add(true, "update", "", "configmaps", ns, f["events-configmap"])
	add(false, "patch", "", "configmaps", ns, f["events-configmap"])
	add(false, "delete", "", "configmaps", ns, f["events-configmap"])
	add(false, "list", "", "configmaps", "kube-system", "")

	lease := f["leader-election-id"]
	if lease == "" {
		lease = "telemetry-manager"
	}
	add(elect, "create", "coordination.k8s.io", "leases", ns, "")
	add(elect, "get", "coordination.k8s.io", "leases", ns, lease)
	add(elect, "update", "coordination.k8s.io", "leases", ns, lease)
	add(false, "update", "coordination.k8s.io", "leases", ns, "another-lease")
	add(false, "delete", "coordination.k8s.io", "leases", ns, lease)
	add(false, "create", "coordination.k8s.io", "leases", "kube-system", "")

	add(false, "create", "", "events", ns, "")
	add(false, "list", "", "pods", ns, "")

	// The authorizer sees new RBAC objects through its informers, a moment
	// after Helm created them.
	eventually(t, "the release's RBAC to take effect", func() (bool, error) {
		for _, a := range []access{
			{"get", "", "namespaces", "", "kube-system"},
			{"get", "", "secrets", ns, "telemetry-identity"},
		} {
			if ok, err := allowed(t, user, groups, a); !ok {
				return false, fmt.Errorf("%s not yet allowed (%v)", a, err)
			}
		}
		return true, nil
	})
	var wg sync.WaitGroup
	for _, w := range wants {
		wg.Go(func() {
			got, err := allowed(t, user, groups, w.access)
			if err != nil {
				t.Error(err)
			} else if got != w.allowed {
				t.Errorf("%s: %s allowed=%v, want %v", user, w.access, got, w.allowed)
			}
		})
	}
	wg.Wait()
}

// forbiddenRecorder records every request the API server refused with 403.
type forbiddenRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (f *forbiddenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := f.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusForbidden {
		f.mu.Lock()
		f.seen = append(f.seen, req.Method+" "+req.URL.Path)
		f.mu.Unlock()
	}
	return resp, err
}

func (f *forbiddenRecorder) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// runController runs the controller as the release's ServiceAccount with the
// Deployment's arguments (serving HTTP on a free port) until the payload
// Secret is written and /readyz answers, then checks that the API server
// refused none of its requests.
func runController(t *testing.T, rel installed) {
	args := slices.Concat(rel.args, []string{"--metrics-address=127.0.0.1:0"})
	o := runOptions(t, args)
	if o.DisableTelemetry {
		t.Fatal("telemetry is disabled in this release")
	}
	o.Debounce = 100 * time.Millisecond

	user, groups := serviceAccountUser(rel.namespace, rel.serviceAccount)
	cfg := env.ConfigFor(user, groups...)
	rec := &forbiddenRecorder{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })

	log := logrus.New()
	log.SetOutput(io.Discard)
	log.AddHook(&testHook{t: t})
	ctx, cancel := context.WithCancel(context.Background())
	c, err := controller.New(ctx, rest.CopyConfig(cfg), o, logrus.NewEntry(log).WithField("release", rel.name))
	if err != nil {
		cancel()
		t.Fatalf("controller.New as %s: %v (refused: %v)", user, err, rec.list())
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("controller did not stop within 30s")
		}
	}
	defer stop()

	eventually(t, "the payload Secret", func() (bool, error) {
		s, err := client.Kube.CoreV1().Secrets(rel.namespace).Get(ctx, o.SecretName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, err
		}
		if err != nil {
			return false, err
		}
		var payload map[string]any
		if err := json.Unmarshal(s.Data["payload"], &payload); err != nil {
			return false, fmt.Errorf("payload: %w", err)
		}
		return len(payload) > 0, nil
	})
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		eventually(t, path+" answering 200", func() (bool, error) {
			resp, err := hc.Get("http://" + c.HTTPAddr() + path)
			if err != nil {
				return false, err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.StatusCode == http.StatusOK, fmt.Errorf("status %d", resp.StatusCode)
		})
	}
	stop()
	if refused := rec.list(); len(refused) > 0 {
		t.Errorf("the API server refused requests of %s under the chart's RBAC:\n  %v", user, refused)
	}
}

// testHook forwards warnings and errors of the controller to the test log.
type testHook struct{ t *testing.T }

func (h *testHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h *testHook) Fire(e *logrus.Entry) error {
	s, _ := e.String()
	h.t.Logf("controller %s", s)
	return nil
}

// eventually polls cond every 100ms until it holds; the bound only stops a
// broken test from hanging.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last: %v)", what, last)
}

// TestHelmUpgrade installs the defaults, then upgrades through the other
// ci/ files: Helm's server-side apply must take every change (mode, leader
// election on and off, renamed ConfigMap and ServiceAccount), and the
// Role must follow.
func TestHelmUpgrade(t *testing.T) {
	t.Parallel()
	values := ciValues(t)
	const name = "tm-upgrade"
	install(t, name, values["default-values"])
	for _, step := range []string{"ha", "kubernetes-mode", "servicemonitor", "disabled", "rancher-mode"} {
		r := release{name: name, namespace: name, valuesFile: values[step]}
		began := time.Now()
		if _, err := helm(t, append([]string{"upgrade"}, r.args()...)...); err != nil {
			t.Fatalf("upgrade to %s: %v", step, err)
		}
		t.Logf("upgraded to %s in %v", step, time.Since(began).Round(time.Millisecond))
		role, err := client.Kube.RbacV1().Roles(name).Get(t.Context(), "tm-upgrade-telemetry-manager", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("after the upgrade to %s: %v", step, err)
		}
		var want []string
		for _, o := range render(t, r) {
			if o.GetKind() == "Role" {
				want = ruleSet(t, []*unstructured.Unstructured{o})
			}
		}
		u, err := runtimeToUnstructured(role)
		if err != nil {
			t.Fatal(err)
		}
		if got := ruleSet(t, []*unstructured.Unstructured{u}); !slices.Equal(got, want) {
			t.Errorf("after the upgrade to %s the Role has\n  %s\nwant\n  %s", step, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

func runtimeToUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetKind("Role")
	return u, nil
}
