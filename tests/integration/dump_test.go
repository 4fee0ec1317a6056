package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
)

// dumpYAML lists the resources the way `kubectl get ... -o yaml` writes
// them: one List whose items are the whole objects.
func dumpYAML(t *testing.T, namespace string, resources ...schema.GroupVersionResource) []byte {
	t.Helper()
	var items []any
	for _, r := range resources {
		var l *unstructured.UnstructuredList
		var err error
		switch r.Resource {
		case "secrets":
			l, err = client.Dynamic.Resource(r).Namespace(namespace).List(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=telemetry-identity"})
		case "namespaces":
			l, err = client.Dynamic.Resource(r).List(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=kube-system"})
		default:
			l, err = client.Dynamic.Resource(r).List(t.Context(), metav1.ListOptions{})
		}
		if err != nil {
			t.Fatalf("listing %s: %v", r.Resource, err)
		}
		for _, it := range l.Items {
			items = append(items, it.Object)
		}
	}
	out, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items, "metadata": map[string]any{"resourceVersion": ""}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	secretsResource    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	namespacesResource = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// TestPayloadFromDumpIsByteIdenticalToTheLiveSecret: a dump of the
// installation with its identity Secret renders the very bytes the live
// manager wrote (the report has no timestamp), so an auditor can reproduce
// a payload offline.
func TestPayloadFromDumpIsByteIdenticalToTheLiveSecret(t *testing.T) {
	o := options(t)
	start(t, env.Config, o)
	live := waitPayload(t, o, "the live payload", func(r report.Report) bool { return r.Totals == sampleTotals })

	dump := dumpYAML(t, o.SecretNamespace,
		v3.ClusterResource, v3.NodeResource, v3.SettingResource, v3.FeatureResource, namespacesResource, secretsResource)
	path := filepath.Join(t.TempDir(), "dump.yaml")
	if err := os.WriteFile(path, dump, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "payload", "--from-file", path, "--secret-namespace", o.SecretNamespace)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("payload --from-file: %v\n%s", err, stderr.String())
	}
	if want := live.Data[secret.DefaultKey]; !bytes.Equal(out, want) {
		t.Fatalf("payload from the dump differs from the live Secret's:\n--- dump\n%s\n--- live\n%s", out, want)
	}
	if strings.Contains(stderr.String(), "this run only") {
		t.Errorf("stderr says the ids are keyed for this run only although the dump holds the identity:\n%s", stderr.String())
	}

	// Without the identity Secret the ids cannot match, and it says so.
	noIdentity := dumpYAML(t, o.SecretNamespace, v3.ClusterResource, v3.NodeResource, v3.SettingResource, v3.FeatureResource, namespacesResource)
	if err := os.WriteFile(path, noIdentity, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(binary(t), "payload", "--from-file", path)
	stderr.Reset()
	cmd.Stderr = &stderr
	if out, err = cmd.Output(); err != nil {
		t.Fatalf("payload --from-file without identity: %v\n%s", err, stderr.String())
	}
	if bytes.Equal(out, live.Data[secret.DefaultKey]) || !strings.Contains(stderr.String(), "this run only") {
		t.Errorf("without the identity: equal bytes %v, stderr:\n%s", bytes.Equal(out, live.Data[secret.DefaultKey]), stderr.String())
	}
}
