package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
)

// TestSecretTargetInAnotherNamespace: the secret exporter writes into a
// namespace other than the telemetry one, restores the Secret there when it
// is deleted or edited, caches only Secrets labelled as written by
// telemetry-manager, and an event on another Secret triggers no run.
func TestSecretTargetInAnotherNamespace(t *testing.T) {
	ctx := context.Background()
	o := options(t)
	o.SecretTargetNamespace = o.SecretNamespace + "-target"
	for _, ns := range []string{o.SecretNamespace, o.SecretTargetNamespace} {
		if err := client.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		// A Helm release Secret and another unlabelled one: never cached.
		for _, name := range []string{"sh.helm.release.v1.x.v1", "other"} {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{"release": bytes.Repeat([]byte("x"), 64<<10)}}
			if _, err := kube.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := start(t, env.Config, o)
	target := *o
	target.SecretNamespace = o.SecretTargetNamespace
	first := waitPayload(t, &target, "the payload in the target namespace", func(r report.Report) bool { return r.Totals == sampleTotals })
	if _, err := getSecret(o.SecretNamespace, o.SecretName); !apierrors.IsNotFound(err) {
		t.Errorf("payload Secret in the telemetry namespace: %v, want none", err)
	}

	// Only the payload Secret is cached: the identity Secret, the Helm
	// release and the others are not labelled as written by
	// telemetry-manager.
	eventually(t, "one cached Secret", func() (bool, error) {
		code, body, err := httpGet("http://" + c.HTTPAddr() + "/metrics")
		if err != nil || code != http.StatusOK {
			return false, fmt.Errorf("%d %v", code, err)
		}
		v, ok := sample(body, `telemetry_manager_cache_objects{kind="Secret"}`)
		return ok && v == 1, fmt.Errorf("cache_objects{kind=Secret} = %v", v)
	})

	// An event on another labelled Secret is no reason to export.
	before, _ := c.Manager.Status("secret")
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "labelled", Namespace: o.SecretTargetNamespace,
		Labels: map[string]string{secret.LabelManagedBy: secret.FieldManager}}}
	if _, err := kube.CoreV1().Secrets(o.SecretTargetNamespace).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Watch for a run for ten debounce windows: one triggered by the
	// Secret would have started within one.
	for deadline := time.Now().Add(10 * o.Debounce); time.Now().Before(deadline); time.Sleep(o.Debounce / 4) {
		if st, _ := c.Manager.Status("secret"); st.Runs != before.Runs || st.InFlight {
			t.Fatalf("an unrelated Secret triggered a run: runs %d -> %d", before.Runs, st.Runs)
		}
	}

	if err := kube.CoreV1().Secrets(o.SecretTargetNamespace).Delete(ctx, o.SecretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	restored := waitPayload(t, &target, "the deleted payload restored in the target namespace", func(r report.Report) bool { return r.Totals == sampleTotals })
	if !bytes.Equal(restored.Data[secret.DefaultKey], first.Data[secret.DefaultKey]) {
		t.Errorf("restored payload differs from the one deleted")
	}

	edited := restored.DeepCopy()
	edited.Data[secret.DefaultKey] = []byte(`{"forged": true}`)
	if _, err := kube.CoreV1().Secrets(o.SecretTargetNamespace).Update(ctx, edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the edited payload restored in the target namespace", func() (bool, error) {
		s, err := getSecret(o.SecretTargetNamespace, o.SecretName)
		if err != nil {
			return false, err
		}
		return bytes.Equal(s.Data[secret.DefaultKey], first.Data[secret.DefaultKey]), nil
	})
}
