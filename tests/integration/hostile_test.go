package integration

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/tests/fixtures"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// hostileObjects have a wrong JSON type in fields the manager reads, in
// every kind it reads. Rancher's CRDs keep unknown fields, so the API server
// accepts each of them; one of them used to fail the typed LIST, and the
// cache never synced.
const hostileObjects = `
- apiVersion: management.cattle.io/v3
  kind: Node
  metadata: {name: m-worker-yes, namespace: local}
  spec: {worker: "yes"}
  status: {internalNodeStatus: {capacity: {cpu: "4", memory: 16Gi}}}
- apiVersion: management.cattle.io/v3
  kind: Node
  metadata: {name: m-status-array, namespace: local}
  spec: {worker: true}
  status: []
- apiVersion: management.cattle.io/v3
  kind: Node
  metadata: {name: m-nodeinfo-string, namespace: local}
  spec: {worker: true}
  status: {internalNodeStatus: {capacity: {cpu: "4", memory: 16Gi}, nodeInfo: "x"}}
- apiVersion: management.cattle.io/v3
  kind: Node
  metadata: {name: m-cpu-object, namespace: local}
  spec: {worker: true}
  status: {internalNodeStatus: {capacity: {cpu: {value: 4}, memory: [1]}}}
- apiVersion: management.cattle.io/v3
  kind: Node
  metadata: {name: m-orphan, namespace: c-no-such-cluster}
  spec: {worker: true}
  status: {internalNodeStatus: {capacity: {cpu: "4", memory: 16Gi}}}
- apiVersion: management.cattle.io/v3
  kind: Cluster
  metadata: {name: c-status-array}
  status: []
- apiVersion: management.cattle.io/v3
  kind: Cluster
  metadata: {name: c-wrong-fields}
  status: {driver: 5, version: "v1.30.0", nodeCount: "3", capacity: "lots"}
- apiVersion: management.cattle.io/v3
  kind: Setting
  metadata: {name: server-url}
  value: {url: "https://rancher.example.com"}
  default: ""
- apiVersion: management.cattle.io/v3
  kind: Setting
  metadata: {name: ui-banners}
  value: [1, 2]
- apiVersion: management.cattle.io/v3
  kind: Feature
  metadata: {name: hostile-feature}
  spec: {value: "true"}
  status: {default: "x", lockedValue: 1}
`

// TestHostileObjectsOnTheRealAPIServer loads the sample installation and
// objects with wrong-typed fields into an API server of its own (they would
// change the shared sample's figures), and checks that the caches sync, the
// payload is written, and exactly the hostile nodes count as invalid.
func TestHostileObjectsOnTheRealAPIServer(t *testing.T) {
	ctx := t.Context()
	own, c, err := fixtures.StartSample(ctx, testenv.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = own.Stop() })
	loosenSchemas(t, c, "settings.management.cattle.io", "features.management.cattle.io")
	var objs []map[string]any
	if err := yaml.Unmarshal([]byte(hostileObjects), &objs); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		// A schema change takes a moment to reach the API server's
		// validation: retry until it accepts.
		eventually(t, "the API server to accept a hostile object", func() (bool, error) {
			err := c.Apply(ctx, &unstructured.Unstructured{Object: o})
			return err == nil, err
		})
	}
	// The API server keeps each wrong type as written.
	node, err := c.Dynamic.Resource(v3.NodeResource).Namespace("local").Get(ctx, "m-worker-yes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedFieldNoCopy(node.Object, "spec", "worker"); v != "yes" {
		t.Fatalf("stored spec.worker = %#v, want the string \"yes\"", v)
	}

	o := options(t)
	ctl := start(t, own.Config, o)
	ownKube, err := kubernetes.NewForConfig(own.Config)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleTotals
	want.Clusters += 2     // c-status-array, c-wrong-fields: counted, with no figures
	want.InvalidNodes += 5 // every hostile node, the orphan included
	var r report.Report
	eventually(t, "a payload with the hostile nodes counted as invalid", func() (bool, error) {
		s, err := ownKube.CoreV1().Secrets(o.SecretNamespace).Get(ctx, o.SecretName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if err := json.Unmarshal(s.Data[secret.DefaultKey], &r); err != nil {
			return false, err
		}
		return r.Totals == want, fmt.Errorf("totals %+v, want %+v", r.Totals, want)
	})
	for _, cl := range r.Clusters {
		if cl.ID == report.ClusterID(identityKey(t, ownKube, o.SecretNamespace), "c-wrong-fields") &&
			(cl.Driver != "" || cl.KubernetesVersion != "" || cl.CapacitySource != "unknown") {
			t.Errorf("c-wrong-fields = %+v, want no driver, no version, unknown capacity", cl)
		}
	}
	// spec.value "true" is a string and the default "x" no boolean:
	// nothing sets the feature, so it is off.
	if slices.Contains(r.Install.Features, "hostile-feature") {
		t.Errorf("features = %v: a feature with only wrong-typed values counts as enabled", r.Install.Features)
	}

	// Objects with problems, by kind: the five hostile nodes and the
	// sample's node with CPU "abc"; both hostile clusters; server-url (the
	// unread ui-banners Setting is not kept, so neither is its problem);
	// the hostile feature.
	eventually(t, "invalid_objects by kind", func() (bool, error) {
		code, body, err := httpGet("http://" + ctl.HTTPAddr() + "/metrics")
		if err != nil || code != http.StatusOK {
			return false, fmt.Errorf("%d %v", code, err)
		}
		for _, want := range []string{
			`telemetry_manager_invalid_objects{kind="Node"} 6`,
			`telemetry_manager_invalid_objects{kind="Cluster"} 2`,
			`telemetry_manager_invalid_objects{kind="Setting"} 1`,
			`telemetry_manager_invalid_objects{kind="Feature"} 1`,
		} {
			if !strings.Contains(body, want+"\n") {
				return false, fmt.Errorf("no %s in\n%s", want, grepLines(body, "invalid_objects"))
			}
		}
		return true, nil
	})

	resp, err := http.Get("http://" + ctl.HTTPAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d %s, want 200: every cache synced", resp.StatusCode, body)
	}
}

func identityKey(t *testing.T, kube kubernetes.Interface, namespace string) []byte {
	t.Helper()
	s, err := kube.CoreV1().Secrets(namespace).Get(context.Background(), "telemetry-identity", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		t.Fatal("no identity secret")
	}
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(string(s.Data["hmacKey"]))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// loosenSchemas replaces the schema of each CRD by one that keeps any field
// of any type, as the CRDs of Rancher versions without structural schemas
// do. The stand-ins of tests/crds type Setting and Feature fields, like
// recent Rancher versions, so a wrong type could not be stored otherwise.
func loosenSchemas(t *testing.T, c *fixtures.Client, names ...string) {
	t.Helper()
	for _, name := range names {
		crd, err := c.Dynamic.Resource(crdResource).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for i := range versions {
			v := versions[i].(map[string]any)
			v["schema"] = map[string]any{"openAPIV3Schema": map[string]any{
				"type": "object", "x-kubernetes-preserve-unknown-fields": true,
			}}
		}
		if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Dynamic.Resource(crdResource).Update(t.Context(), crd, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func grepLines(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
