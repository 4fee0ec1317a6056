package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	telemetryv1 "github.com/rancher/telemetry-manager/pkg/apis/telemetry.cattle.io/v1"
	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	flags "github.com/rancher/telemetry-manager/pkg/options"
	"github.com/rancher/telemetry-manager/pkg/secretrequest"
)

// requestTest is one test's SecretRequests: options allowing its own
// target namespaces, and a client of the requests it made (all removed,
// finalizer included, when the test ends).
type requestTest struct {
	t     *testing.T
	o     *controller.Options
	res   dynamic.ResourceInterface
	names []string
}

// newRequestTest installs the SecretRequest CRD and returns options whose
// policy allows the namespaces "<telemetry namespace>-<suffix>", created.
func newRequestTest(t *testing.T, suffixes ...string) *requestTest {
	t.Helper()
	ctx := context.Background()
	crd := filepath.Join(root, "charts", "telemetry-manager", "crds", "telemetry.cattle.io_secretrequests.yaml")
	if err := env.InstallCRDs(ctx, crd); err != nil {
		t.Fatal(err)
	}
	o := options(t)
	if err := client.EnsureNamespace(ctx, o.SecretNamespace); err != nil {
		t.Fatal(err)
	}
	for _, s := range suffixes {
		ns := o.SecretNamespace + "-" + s
		o.SecretRequests.Namespaces = append(o.SecretRequests.Namespaces, ns)
		if err := client.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	rt := &requestTest{t: t, o: o, res: client.Dynamic.Resource(telemetryv1.SecretRequestResource)}
	t.Cleanup(rt.cleanup)
	return rt
}

// ns returns the namespace of suffix.
func (rt *requestTest) ns(suffix string) string { return rt.o.SecretNamespace + "-" + suffix }

// name returns a request name of this test's own.
func (rt *requestTest) name(s string) string { return rt.o.SecretNamespace + "-" + s }

func (rt *requestTest) run(plugins ...controller.Plugin) (*controller.Controller, func()) {
	rt.t.Helper()
	if len(plugins) == 0 {
		plugins = []controller.Plugin{secretrequest.ForOptions(rt.o)}
	}
	return runController(rt.t, env.Config, rt.o, nil, plugins...)
}

func (rt *requestTest) create(name, typ, ns, secretName string) {
	rt.t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": telemetryv1.SchemeGroupVersion.String(), "kind": "SecretRequest",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"secretType": typ, "targetSecretRef": map[string]any{"namespace": ns, "name": secretName}},
	}}
	if _, err := rt.res.Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		rt.t.Fatal(err)
	}
	rt.names = append(rt.names, name)
}

func (rt *requestTest) get(name string) (*telemetryv1.SecretRequest, error) {
	u, err := rt.res.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var req telemetryv1.SecretRequest
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// setTarget changes the request's target.
func (rt *requestTest) setTarget(name, ns, secretName string) {
	rt.t.Helper()
	patch := fmt.Sprintf(`{"spec":{"targetSecretRef":{"namespace":%q,"name":%q}}}`, ns, secretName)
	if _, err := rt.res.Patch(context.Background(), name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		rt.t.Fatal(err)
	}
}

func (rt *requestTest) delete(name string) {
	rt.t.Helper()
	if err := rt.res.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		rt.t.Fatal(err)
	}
}

// cleanup removes the test's requests, finalizer included, so that the
// controllers of later tests do not see them.
func (rt *requestTest) cleanup() {
	ctx := context.Background()
	for _, n := range rt.names {
		_, _ = rt.res.Patch(ctx, n, "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		_ = rt.res.Delete(ctx, n, metav1.DeleteOptions{})
	}
}

// condition returns the condition of type typ, or nil.
func condition(req *telemetryv1.SecretRequest, typ string) *metav1.Condition {
	return meta.FindStatusCondition(req.Status.Conditions, typ)
}

// waitCondition waits until the request's condition typ has status want
// (for the request's current generation) and returns the request.
func (rt *requestTest) waitCondition(name, typ string, want metav1.ConditionStatus) *telemetryv1.SecretRequest {
	rt.t.Helper()
	var req *telemetryv1.SecretRequest
	eventually(rt.t, fmt.Sprintf("SecretRequest %s condition %s=%s", name, typ, want), func() (bool, error) {
		var err error
		if req, err = rt.get(name); err != nil {
			return false, err
		}
		c := condition(req, typ)
		if c == nil {
			return false, fmt.Errorf("no condition %s (status %+v)", typ, req.Status)
		}
		return c.Status == want && c.ObservedGeneration == req.Generation, fmt.Errorf("condition %+v", *c)
	})
	return req
}

// waitSCCSecret waits until ns/name holds an scc payload and returns it.
func waitSCCSecret(t *testing.T, ns, name string) []byte {
	t.Helper()
	var payload []byte
	eventually(t, "scc payload in "+ns+"/"+name, func() (bool, error) {
		s, err := getSecret(ns, name)
		if err != nil {
			return false, err
		}
		payload = s.Data[secret.DefaultKey]
		return len(payload) > 0, fmt.Errorf("keys %v", slices.Collect(mapsKeys(s.Data)))
	})
	return payload
}

func mapsKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func waitSecretGone(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "Secret "+ns+"/"+name+" removed", func() (bool, error) {
		_, err := getSecret(ns, name)
		return apierrors.IsNotFound(err), err
	})
}

var xyz = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

// checkSCCPayload checks the payload as a consumer reads it: valid against
// the scc schema, every subscription field present as a string, version
// X.Y.Z.
func checkSCCPayload(t *testing.T, payload []byte) {
	t.Helper()
	if err := scc.Validate(payload); err != nil {
		t.Fatalf("payload fails the scc schema: %v\n%s", err, payload)
	}
	var doc struct {
		Version      string         `json:"version"`
		Subscription map[string]any `json:"subscription"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil {
		t.Fatal(err)
	}
	if !xyz.MatchString(doc.Version) {
		t.Errorf("version %q is not X.Y.Z", doc.Version)
	}
	for _, k := range []string{"installuuid", "clusteruuid", "product", "version", "arch", "git", "server_url"} {
		v, ok := doc.Subscription[k]
		if _, isString := v.(string); !ok || !isString {
			t.Errorf("subscription.%s = %#v, want a string", k, v)
		}
	}
}

// TestSecretRequestRancherSCCMetrics: the request Rancher's scc-operator
// makes (rancher-scc-metrics, type scc) gets its Secret with the scc
// payload under key payload, a finalizer, and Ready and Done conditions.
func TestSecretRequestRancherSCCMetrics(t *testing.T) {
	rt := newRequestTest(t, "scc")
	c, _ := rt.run()
	name := "rancher-scc-metrics"
	rt.create(name, "scc", rt.ns("scc"), "rancher-scc-metrics")
	checkSCCPayload(t, waitSCCSecret(t, rt.ns("scc"), "rancher-scc-metrics"))

	req := rt.waitCondition(name, telemetryv1.ConditionReady, metav1.ConditionTrue)
	for typ, want := range map[string]metav1.ConditionStatus{
		telemetryv1.ConditionDone: metav1.ConditionTrue, telemetryv1.ConditionFailure: metav1.ConditionFalse,
		telemetryv1.ConditionProgressing: metav1.ConditionFalse,
	} {
		if cond := condition(req, typ); cond == nil || cond.Status != want {
			t.Errorf("condition %s = %+v, want %s", typ, cond, want)
		}
	}
	if req.Status.LastSyncTS == nil {
		t.Error("status.lastSyncTS not set")
	}
	if !slices.Contains(req.Finalizers, secretrequest.Finalizer) {
		t.Errorf("finalizers %v, want %s", req.Finalizers, secretrequest.Finalizer)
	}
	if st, ok := c.Manager.Status(secretrequest.IDPrefix + name); !ok || st.Interval != rt.o.Interval {
		t.Errorf("manager status %+v, %v: want registered with --interval %s", st, ok, rt.o.Interval)
	}
}

// TestSecretRequestInvalid: each invalid request gets a Failure condition
// saying exactly what is wrong and no Secret; its exporter is not retried
// (no run until it changes), and a fix is picked up.
func TestSecretRequestInvalid(t *testing.T) {
	rt := newRequestTest(t, "ok")
	// In kubernetes mode the policy is the list alone, so the message is
	// the same whether or not Projects are served.
	rt.o.Mode = flags.ModeKubernetes
	c, _ := rt.run()
	outside := rt.o.SecretNamespace + "-outside"
	tests := []struct {
		name, typ, ns, secret string
		message               string
	}{
		{"type", "report", rt.ns("ok"), "s", `spec.secretType "report" is not supported: must be "scc"`},
		{"nons", "scc", "", "s", "spec.targetSecretRef.namespace must be set"},
		{"outside", "scc", outside, "s", fmt.Sprintf(`spec.targetSecretRef.namespace %q is not allowed: allowed are the namespaces %s`, outside, rt.ns("ok"))},
	}
	for _, tt := range tests {
		rt.create(rt.name(tt.name), tt.typ, tt.ns, tt.secret)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := rt.waitCondition(rt.name(tt.name), telemetryv1.ConditionFailure, metav1.ConditionTrue)
			if got := condition(req, telemetryv1.ConditionFailure).Message; got != tt.message {
				t.Errorf("Failure message\n got %s\nwant %s", got, tt.message)
			}
			if cond := condition(req, telemetryv1.ConditionReady); cond == nil || cond.Status != metav1.ConditionFalse {
				t.Errorf("Ready = %+v, want False", cond)
			}
		})
	}
	if _, err := getSecret(rt.ns("ok"), "s"); !apierrors.IsNotFound(err) {
		t.Errorf("Secret of the wrong-type request: %v, want NotFound", err)
	}
	// No hot loop: the failing exporters do not run again.
	id := secretrequest.IDPrefix + rt.name("type")
	st, _ := c.Manager.Status(id)
	stays(t, 2*time.Second, "no retry of an invalid request", func() (bool, error) {
		now, _ := c.Manager.Status(id)
		return now.Runs == st.Runs, fmt.Errorf("runs %d, then %d", st.Runs, now.Runs)
	})
	// A fix is picked up.
	patch := `{"spec":{"secretType":"scc"}}`
	if _, err := rt.res.Patch(context.Background(), rt.name("type"), "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	checkSCCPayload(t, waitSCCSecret(t, rt.ns("ok"), "s"))
	rt.waitCondition(rt.name("type"), telemetryv1.ConditionReady, metav1.ConditionTrue)
}

// TestSecretRequestTargetUpdateMovesSecret: a new target gets the Secret
// and the old one is removed.
func TestSecretRequestTargetUpdateMovesSecret(t *testing.T) {
	rt := newRequestTest(t, "a", "b")
	rt.run()
	name := rt.name("move")
	rt.create(name, "scc", rt.ns("a"), "first")
	waitSCCSecret(t, rt.ns("a"), "first")
	rt.waitCondition(name, telemetryv1.ConditionReady, metav1.ConditionTrue)

	rt.setTarget(name, rt.ns("b"), "second")
	checkSCCPayload(t, waitSCCSecret(t, rt.ns("b"), "second"))
	waitSecretGone(t, rt.ns("a"), "first")
	req := rt.waitCondition(name, telemetryv1.ConditionReady, metav1.ConditionTrue)
	if got := req.Annotations[secretrequest.AnnotationWritten]; got != rt.ns("b")+"/second" {
		t.Errorf("annotation %s = %q, want only the new target", secretrequest.AnnotationWritten, got)
	}
}

// TestSecretRequestDeletion: deleting a request stops its exporter,
// removes its Secret, then its finalizer; the Secret is not written back.
func TestSecretRequestDeletion(t *testing.T) {
	rt := newRequestTest(t, "del")
	c, _ := rt.run()
	name := rt.name("del")
	rt.create(name, "scc", rt.ns("del"), "payload")
	waitSCCSecret(t, rt.ns("del"), "payload")
	rt.waitCondition(name, telemetryv1.ConditionReady, metav1.ConditionTrue)

	rt.delete(name)
	eventually(t, "the request gone, finalizer removed", func() (bool, error) {
		_, err := rt.get(name)
		return apierrors.IsNotFound(err), err
	})
	waitSecretGone(t, rt.ns("del"), "payload")
	eventually(t, "the exporter deleted", func() (bool, error) { return !c.Manager.Has(secretrequest.IDPrefix + name), nil })
	stays(t, 2*time.Second, "the Secret not written back", func() (bool, error) {
		_, err := getSecret(rt.ns("del"), "payload")
		return apierrors.IsNotFound(err), err
	})
}

// TestSecretRequestsTwoAtOnce: two requests get their own Secrets and
// exporters; deleting one leaves the other.
func TestSecretRequestsTwoAtOnce(t *testing.T) {
	rt := newRequestTest(t, "one", "two")
	c, _ := rt.run()
	one, two := rt.name("one"), rt.name("two")
	rt.create(one, "scc", rt.ns("one"), "payload")
	rt.create(two, "scc", rt.ns("two"), "payload")
	checkSCCPayload(t, waitSCCSecret(t, rt.ns("one"), "payload"))
	checkSCCPayload(t, waitSCCSecret(t, rt.ns("two"), "payload"))
	rt.waitCondition(one, telemetryv1.ConditionReady, metav1.ConditionTrue)
	rt.waitCondition(two, telemetryv1.ConditionReady, metav1.ConditionTrue)

	rt.delete(one)
	waitSecretGone(t, rt.ns("one"), "payload")
	if _, err := getSecret(rt.ns("two"), "payload"); err != nil {
		t.Fatalf("the other request's Secret: %v", err)
	}
	if !c.Manager.Has(secretrequest.IDPrefix + two) {
		t.Error("the other request's exporter is gone")
	}
}

// TestSecretRequestControllerRestarted: changes made while the controller
// is stopped (a target moved, a request deleted) converge once it runs
// again: the old Secrets are removed, the new one written, the finalizer
// removed.
func TestSecretRequestControllerRestarted(t *testing.T) {
	rt := newRequestTest(t, "a", "b")
	_, stop := rt.run()
	moved, deleted := rt.name("moved"), rt.name("deleted")
	rt.create(moved, "scc", rt.ns("a"), "moved")
	rt.create(deleted, "scc", rt.ns("a"), "deleted")
	waitSCCSecret(t, rt.ns("a"), "moved")
	waitSCCSecret(t, rt.ns("a"), "deleted")
	rt.waitCondition(moved, telemetryv1.ConditionReady, metav1.ConditionTrue)
	rt.waitCondition(deleted, telemetryv1.ConditionReady, metav1.ConditionTrue)
	stop()

	rt.setTarget(moved, rt.ns("b"), "moved")
	rt.delete(deleted)
	if req, err := rt.get(deleted); err != nil || req.DeletionTimestamp == nil {
		t.Fatalf("deleted request while stopped: %+v, %v: want held by its finalizer", req, err)
	}

	rt.run()
	checkSCCPayload(t, waitSCCSecret(t, rt.ns("b"), "moved"))
	waitSecretGone(t, rt.ns("a"), "moved")
	waitSecretGone(t, rt.ns("a"), "deleted")
	eventually(t, "the deleted request gone", func() (bool, error) {
		_, err := rt.get(deleted)
		return apierrors.IsNotFound(err), err
	})
	rt.waitCondition(moved, telemetryv1.ConditionReady, metav1.ConditionTrue)
}

// TestSecretRequestStatusWriteDoesNotRetrigger: neither the controller's
// own status writes nor a metadata or status edit by someone else runs the
// exporter again or moves its schedule.
func TestSecretRequestStatusWriteDoesNotRetrigger(t *testing.T) {
	rt := newRequestTest(t, "st")
	c, _ := rt.run()
	name := rt.name("st")
	id := secretrequest.IDPrefix + name
	rt.create(name, "scc", rt.ns("st"), "payload")
	waitSCCSecret(t, rt.ns("st"), "payload")
	rt.waitCondition(name, telemetryv1.ConditionReady, metav1.ConditionTrue)
	var before struct {
		runs int
		next time.Time
	}
	eventually(t, "the first run finished and the next one scheduled", func() (bool, error) {
		st, _ := c.Manager.Status(id)
		before.runs, before.next = st.Runs, st.NextRun
		return st.Runs >= 1 && !st.NextRun.IsZero(), fmt.Errorf("status %+v", st)
	})

	ctx := context.Background()
	if _, err := rt.res.Patch(ctx, name, "application/merge-patch+json", []byte(`{"metadata":{"annotations":{"example.com/note":"x"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.res.Patch(ctx, name, "application/merge-patch+json", []byte(`{"status":{"lastSyncTS":"2001-01-01T00:00:00Z"}}`), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	stays(t, 3*time.Second, "no run and the same schedule after metadata and status writes", func() (bool, error) {
		st, _ := c.Manager.Status(id)
		return st.Runs == before.runs && st.NextRun.Equal(before.next), fmt.Errorf("runs %d next %s, before %d %s", st.Runs, st.NextRun, before.runs, before.next)
	})
}

// TestSecretRequestSystemProject: in rancher mode, without a list or a
// selector, the namespaces of the System project (the Project of the local
// cluster named "System") are allowed and others are not.
func TestSecretRequestSystemProject(t *testing.T) {
	ctx := context.Background()
	if err := env.InstallCRDs(ctx, filepath.Join(root, "tests", "crds", "management.cattle.io_projects.yaml")); err != nil {
		t.Fatal(err)
	}
	rt := newRequestTest(t)
	system, other := rt.o.SecretNamespace+"-system", rt.o.SecretNamespace+"-other"
	projectID := "p-" + rt.o.SecretNamespace[3:]
	projects := client.Dynamic.Resource(schema.GroupVersionResource{Group: "management.cattle.io", Version: "v3", Resource: "projects"}).Namespace("local")
	if err := client.EnsureNamespace(ctx, "local"); err != nil {
		t.Fatal(err)
	}
	for id, display := range map[string]string{projectID: "System", projectID + "d": "Default"} {
		p := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "management.cattle.io/v3", "kind": "Project",
			"metadata": map[string]any{"name": id, "namespace": "local"},
			"spec":     map[string]any{"displayName": display, "clusterName": "local"},
		}}
		if _, err := projects.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = projects.Delete(context.Background(), id, metav1.DeleteOptions{}) })
	}
	for ns, project := range map[string]string{system: projectID, other: projectID + "d"} {
		if err := client.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, secretrequest.LabelProjectID, project)
		if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rt.run()
	rt.create(rt.name("system"), "scc", system, "payload")
	rt.create(rt.name("other"), "scc", other, "payload")
	checkSCCPayload(t, waitSCCSecret(t, system, "payload"))
	req := rt.waitCondition(rt.name("other"), telemetryv1.ConditionFailure, metav1.ConditionTrue)
	want := fmt.Sprintf(`spec.targetSecretRef.namespace %q is not allowed: allowed are the namespaces of Rancher's System project (label field.cattle.io/projectId)`, other)
	if got := condition(req, telemetryv1.ConditionFailure).Message; got != want {
		t.Errorf("Failure message\n got %s\nwant %s", got, want)
	}
}

// TestSecretRequestInvalidatedRemovesSecret: a request edited into an
// invalid one reports why, and its Secret is removed.
func TestSecretRequestInvalidatedRemovesSecret(t *testing.T) {
	rt := newRequestTest(t, "inv")
	rt.run()
	name := rt.name("inv")
	rt.create(name, "scc", rt.ns("inv"), "payload")
	waitSCCSecret(t, rt.ns("inv"), "payload")
	rt.waitCondition(name, telemetryv1.ConditionReady, metav1.ConditionTrue)

	if _, err := rt.res.Patch(context.Background(), name, "application/merge-patch+json", []byte(`{"spec":{"secretType":"report"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	req := rt.waitCondition(name, telemetryv1.ConditionFailure, metav1.ConditionTrue)
	if got, want := condition(req, telemetryv1.ConditionFailure).Message, `spec.secretType "report" is not supported: must be "scc"`; got != want {
		t.Errorf("Failure message %q, want %q", got, want)
	}
	waitSecretGone(t, rt.ns("inv"), "payload")
}

// TestSecretRequestServedOnlyByTheLeader: a replica that does not hold the
// Lease writes neither the Secret nor the request's status or finalizer;
// once it leads, it does.
func TestSecretRequestServedOnlyByTheLeader(t *testing.T) {
	ctx := context.Background()
	rt := newRequestTest(t, "lead")
	rt.o.LeaderElect = true
	rt.o.LeaseDuration, rt.o.RenewDeadline, rt.o.RetryPeriod = 2*time.Second, 1500*time.Millisecond, 300*time.Millisecond
	// Another replica holds the Lease for an hour.
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: rt.o.LeaderElectionID, Namespace: rt.o.SecretNamespace},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("another-replica"), LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime: &now, RenewTime: &now,
		},
	}
	leases := kube.CoordinationV1().Leases(rt.o.SecretNamespace)
	if _, err := leases.Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, _ := rt.run()
	name := rt.name("lead")
	rt.create(name, "scc", rt.ns("lead"), "payload")
	eventually(t, "the standby to register the request's exporter", func() (bool, error) {
		return c.Manager.Has(secretrequest.IDPrefix + name), nil
	})
	stays(t, 3*time.Second, "no Secret, status or finalizer from a standby", func() (bool, error) {
		req, err := rt.get(name)
		if err != nil {
			return false, err
		}
		_, err = getSecret(rt.ns("lead"), "payload")
		return len(req.Status.Conditions) == 0 && len(req.Finalizers) == 0 && apierrors.IsNotFound(err),
			fmt.Errorf("status %+v, finalizers %v, secret %v", req.Status, req.Finalizers, err)
	})

	// The other replica is gone: this one leads and serves the request.
	if err := leases.Delete(ctx, lease.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	checkSCCPayload(t, waitSCCSecret(t, rt.ns("lead"), "payload"))
	rt.waitCondition(name, telemetryv1.ConditionReady, metav1.ConditionTrue)
}

// TestSecretRequestSameTarget: a second request for a Secret another
// request already writes is refused, saying which; once the first is
// deleted, the second gets the Secret.
func TestSecretRequestSameTarget(t *testing.T) {
	rt := newRequestTest(t, "same")
	rt.run()
	first, second := rt.name("first"), rt.name("second")
	rt.create(first, "scc", rt.ns("same"), "payload")
	rt.waitCondition(first, telemetryv1.ConditionReady, metav1.ConditionTrue)
	rt.create(second, "scc", rt.ns("same"), "payload")
	req := rt.waitCondition(second, telemetryv1.ConditionFailure, metav1.ConditionTrue)
	want := fmt.Sprintf("spec.targetSecretRef %s/payload is already the target of SecretRequest %q", rt.ns("same"), first)
	if got := condition(req, telemetryv1.ConditionFailure).Message; got != want {
		t.Errorf("Failure message\n got %s\nwant %s", got, want)
	}

	rt.delete(first)
	rt.waitCondition(second, telemetryv1.ConditionReady, metav1.ConditionTrue)
	checkSCCPayload(t, waitSCCSecret(t, rt.ns("same"), "payload"))
	stays(t, 2*time.Second, "the Secret kept for the second request", func() (bool, error) {
		_, err := getSecret(rt.ns("same"), "payload")
		return err == nil, err
	})
}
