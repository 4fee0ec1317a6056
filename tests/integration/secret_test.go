package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rancher/telemetry-manager/pkg/cli"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
)

func TestSecretHoldsSampleTotals(t *testing.T) {
	o := options(t)
	start(t, env.Config, o)
	s := waitPayload(t, o, "the payload", func(report.Report) bool { return true })
	r := decode(t, s)
	if r.Totals != sampleTotals {
		t.Fatalf("totals = %+v\nwant     %+v", r.Totals, sampleTotals)
	}
	if r.Install.InstallUUID != "8d8c5a8e-2a1f-4c7e-9b3d-6f0e1a2b3c4d" || r.Install.Mode != "rancher" || r.Install.Version != "v2.12.1" {
		t.Fatalf("install = %+v", r.Install)
	}
	ks, err := kube.CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Install.ClusterUUID != string(ks.UID) {
		t.Fatalf("clusterUUID = %q, want the kube-system UID %q", r.Install.ClusterUUID, ks.UID)
	}
	if got := s.Annotations[secret.AnnotationPayloadDigest]; got != secret.Digest(s.Data[secret.DefaultKey]) {
		t.Fatalf("digest annotation %q does not match the payload", got)
	}
	for _, leak := range []string{"Production", "Edge Stores", "machine-", "example", "192.168.", "10.0.0.", "not-a-real"} {
		if bytes.Contains(s.Data[secret.DefaultKey], []byte(leak)) {
			t.Errorf("payload contains %q, which identifies a machine or a person", leak)
		}
	}

	ao := cli.NewAuditOptions()
	ao.SecretNamespace, ao.SecretName = o.SecretNamespace, o.SecretName
	var out bytes.Buffer
	if err := cli.Audit(context.Background(), kube.CoreV1(), ao, &out); err != nil {
		t.Fatalf("audit failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Clusters:", "127 (126000 millicores)", "Invalid nodes:", "OK"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("audit view lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadQuantityNodeCountedInvalidOthersReported(t *testing.T) {
	o := options(t)
	start(t, env.Config, o)
	r := decode(t, waitPayload(t, o, "the payload", func(report.Report) bool { return true }))
	if r.Totals.InvalidNodes != 1 {
		t.Fatalf("invalidNodes = %d, want 1 (machine-edge-3 has cpu \"abc\")", r.Totals.InvalidNodes)
	}
	var edge *report.Cluster
	for i := range r.Clusters {
		if r.Clusters[i].Nodes == 2 && r.Clusters[i].InvalidNodes == 1 {
			edge = &r.Clusters[i]
		}
	}
	if edge == nil {
		t.Fatalf("no cluster with 2 valid nodes and 1 invalid node in %+v", r.Clusters)
	}
	if edge.CPUMillicores != 2500 || edge.CPUCores != 3 {
		t.Fatalf("edge cluster cpu = %dm / %d cores, want 2500m / 3 cores from its two valid nodes", edge.CPUMillicores, edge.CPUCores)
	}
}

func extraNode(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "management.cattle.io/v3",
		"kind":       "Node",
		"metadata":   map[string]any{"name": name, "namespace": "c-m-4hd8w2lz"},
		"spec":       map[string]any{"worker": true},
		"status": map[string]any{"internalNodeStatus": map[string]any{
			"capacity": map[string]any{"cpu": "1500m", "memory": "4Gi"},
			"nodeInfo": map[string]any{"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "v1.30.12+rke2r1", "containerRuntimeVersion": "containerd://1.7.27"},
		}},
	}}
}

func TestNodeAddAndRemoveChangePayloadWithinSeconds(t *testing.T) {
	o := options(t) // interval one hour: only the cache events can explain a change
	start(t, env.Config, o)
	waitPayload(t, o, "the first payload", func(r report.Report) bool { return r.Totals == sampleTotals })

	n := extraNode("machine-added")
	if err := client.Apply(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	added := waitPayload(t, o, "the added node", func(r report.Report) bool { return r.Totals.Nodes == sampleTotals.Nodes+1 })
	if got := decode(t, added).Totals; got.CPUMillicores != sampleTotals.CPUMillicores+1500 || got.CPUCores != sampleTotals.CPUCores+2 {
		t.Fatalf("totals after adding a 1500m node = %+v", got)
	}

	if err := client.Delete(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	waitPayload(t, o, "the removed node", func(r report.Report) bool { return r.Totals == sampleTotals })
}

func TestNoWriteWhileNothingChanges(t *testing.T) {
	o := options(t)
	o.Interval = time.Second
	c := start(t, env.Config, o)
	s := waitPayload(t, o, "the payload", func(report.Report) bool { return true })
	rv := s.ResourceVersion
	runs := func() int { st, _ := c.Manager.Status("secret"); return st.Runs }
	first := runs()
	eventually(t, "five more exporter runs", func() (bool, error) { return runs() >= first+5, nil })

	s, err := getSecret(o.SecretNamespace, o.SecretName)
	if err != nil {
		t.Fatal(err)
	}
	if s.ResourceVersion != rv {
		t.Fatalf("resourceVersion went from %s to %s over %d runs with nothing changed", rv, s.ResourceVersion, runs()-first)
	}
}

func TestMaxAgeRewritesUnchangedPayload(t *testing.T) {
	o := options(t)
	o.Interval = time.Second
	o.MaxAge = 2 * time.Second
	start(t, env.Config, o)
	s := waitPayload(t, o, "the payload", func(report.Report) bool { return true })
	eventually(t, "a rewrite after max age", func() (bool, error) {
		now, err := getSecret(o.SecretNamespace, o.SecretName)
		if err != nil {
			return false, err
		}
		return now.Annotations[secret.AnnotationLastChanged] != s.Annotations[secret.AnnotationLastChanged], nil
	})
}

func TestForeignLabelsAnnotationsAndDataSurvive(t *testing.T) {
	o := options(t)
	start(t, env.Config, o)
	waitPayload(t, o, "the payload", func(r report.Report) bool { return r.Totals == sampleTotals })

	patch := []byte(`{"metadata":{"labels":{"team":"audit"},"annotations":{"audit.example/checked":"yes"}},"data":{"notes":"a2VlcA=="}}`)
	if _, err := kube.CoreV1().Secrets(o.SecretNamespace).Patch(context.Background(), o.SecretName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "auditor"}); err != nil {
		t.Fatal(err)
	}
	// A content change makes the exporter write again.
	n := extraNode("machine-foreign")
	if err := client.Apply(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Delete(context.Background(), n) })
	s := waitPayload(t, o, "the rewritten payload", func(r report.Report) bool { return r.Totals.Nodes == sampleTotals.Nodes+1 })
	if s.Labels["team"] != "audit" || s.Annotations["audit.example/checked"] != "yes" || string(s.Data["notes"]) != "keep" {
		t.Fatalf("foreign fields lost: labels %v annotations %v data keys %v", s.Labels, s.Annotations, keys(s.Data))
	}
	if s.Labels[secret.LabelPartOf] != secret.PartOf {
		t.Fatalf("own label lost: %v", s.Labels)
	}
}

func TestDeletedSecretIsRestored(t *testing.T) {
	o := options(t)
	start(t, env.Config, o)
	s := waitPayload(t, o, "the payload", func(report.Report) bool { return true })
	if err := kube.CoreV1().Secrets(o.SecretNamespace).Delete(context.Background(), o.SecretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Secret to come back", func() (bool, error) {
		now, err := getSecret(o.SecretNamespace, o.SecretName)
		if apierrors.IsNotFound(err) {
			return false, err
		}
		if err != nil {
			return false, err
		}
		return now.UID != s.UID && bytes.Equal(now.Data[secret.DefaultKey], s.Data[secret.DefaultKey]), nil
	})
}

func TestEditedPayloadIsRestored(t *testing.T) {
	o := options(t)
	start(t, env.Config, o)
	s := waitPayload(t, o, "the payload", func(report.Report) bool { return true })
	edited := s.DeepCopy()
	edited.Data[secret.DefaultKey] = []byte(`{"totals":{"nodes":1}}`)
	if _, err := kube.CoreV1().Secrets(o.SecretNamespace).Update(context.Background(), edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the payload to be restored", func() (bool, error) {
		now, err := getSecret(o.SecretNamespace, o.SecretName)
		if err != nil {
			return false, err
		}
		return bytes.Equal(now.Data[secret.DefaultKey], s.Data[secret.DefaultKey]) &&
			now.Annotations[secret.AnnotationPayloadDigest] == secret.Digest(now.Data[secret.DefaultKey]), nil
	})
}

func TestAuditFailsOnTamperedPayload(t *testing.T) {
	o := options(t)
	o.Exporters = "" // nothing would restore the tampered payload
	if err := kube.CoreV1().Namespaces().Delete(context.Background(), o.SecretNamespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if err := client.EnsureNamespace(context.Background(), o.SecretNamespace); err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"schemaVersion":"1"}`)
	_, err := kube.CoreV1().Secrets(o.SecretNamespace).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: o.SecretName, Annotations: map[string]string{
			secret.AnnotationPayloadDigest: secret.Digest([]byte("something else")),
			secret.AnnotationFormat:        report.FormatName,
		}},
		Data: map[string][]byte{secret.DefaultKey: payload},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ao := cli.NewAuditOptions()
	ao.SecretNamespace, ao.SecretName = o.SecretNamespace, o.SecretName
	var out bytes.Buffer
	err = cli.Audit(context.Background(), kube.CoreV1(), ao, &out)
	if err == nil {
		t.Fatalf("audit passed a payload that matches neither its digest nor its schema:\n%s", out.String())
	}
	for _, want := range []string{"digest", "schema", "FAILED"} {
		if !strings.Contains(out.String()+err.Error(), want) {
			t.Errorf("audit output does not mention %q: %v\n%s", want, err, out.String())
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
