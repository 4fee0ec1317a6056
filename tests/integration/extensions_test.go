package integration

import (
	"context"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/extensions"
)

// TestExtensionsConfigMapEditsReachThePayload: the extensions of
// --extensions-configmap are in the payload, refused pairs are counted, and
// an edit or a deletion of the ConfigMap shows without a restart.
func TestExtensionsConfigMapEditsReachThePayload(t *testing.T) {
	o := options(t)
	o.MetricsAddress = ""
	o.ExtensionsConfigMap = "telemetry-extensions"
	ctx := context.Background()
	cms := kube.CoreV1().ConfigMaps(o.SecretNamespace)
	start(t, env.Config, o) // creates the namespace
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.SecretNamespace, Name: o.ExtensionsConfigMap},
		Data:       map[string]string{extensions.Key: `{"team": "platform", "owner": "bob@corp.example"}`},
	}
	// The namespace exists once the controller made it.
	eventually(t, "the ConfigMap created", func() (bool, error) {
		created, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		if err == nil {
			cm = created
		}
		return err == nil, err
	})
	waitPayload(t, o, "the extensions", func(r report.Report) bool {
		return maps.Equal(r.Extensions, map[string]string{"team": "platform"}) && r.ExtensionsRefused == 1
	})

	cm.Data[extensions.Key] = `{"team": "data", "example.com/tier": "gold"}`
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPayload(t, o, "the edited extensions", func(r report.Report) bool {
		return maps.Equal(r.Extensions, map[string]string{"team": "data", "example.com/tier": "gold"}) && r.ExtensionsRefused == 0
	})

	if err := cms.Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPayload(t, o, "no extensions after the deletion", func(r report.Report) bool {
		return len(r.Extensions) == 0 && r.Extensions != nil
	})
}
