package integration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rancher/wrangler/v3/pkg/generic"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
)

// requestPlugin is a controller of the kind the SecretRequest controller
// is: it watches ConfigMaps named "request-<id>" with a key "target"
// (namespace/name) and, for each, registers at run time a secret exporter
// writing the scc payload there; deleting the ConfigMap deletes it.
type requestPlugin struct{ interval time.Duration }

func (requestPlugin) Name() string { return "requests" }

func (p requestPlugin) Register(h controller.Hooks) error {
	cms := generic.NewController[*corev1.ConfigMap, *corev1.ConfigMapList](
		corev1.SchemeGroupVersion.WithKind("ConfigMap"), "configmaps", true, h.Factory)
	// OnChange, not OnRemove: OnRemove would put a finalizer on every
	// ConfigMap. A deleted object comes as nil with its key.
	cms.OnChange(context.Background(), "requests", func(key string, cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
		_, name, _ := strings.Cut(key, "/")
		if !strings.HasPrefix(name, "request-") {
			return cm, nil
		}
		id := "request/" + name
		if cm == nil || cm.DeletionTimestamp != nil {
			// Its metrics series go with it (the manager's OnDelete).
			_ = h.Manager.Delete(id)
			return cm, nil
		}
		ns, name, _ := strings.Cut(cm.Data["target"], "/")
		h.Sources.Secrets.Watch(ns)
		exp, err := secret.New(secret.Options{
			Namespace: ns, Name: name, Encoder: scc.Encoder{}, CreateNamespace: true,
			Secrets: h.Sources.Kube.CoreV1(), Namespaces: h.Sources.Kube.CoreV1(), Cache: h.Sources.Secrets,
			SigningKey: h.Sources.Identity.SigningKey(), Clock: clock.RealClock{}, Log: h.Log,
		})
		if err != nil {
			return cm, err
		}
		if h.Manager.Has(id) {
			return cm, nil
		}
		h.OwnSecret(id, exp)
		h.Metrics.AddExporter(id)
		return cm, h.Manager.Register(id, exp, p.interval)
	})
	return nil
}

// TestExporterRegisteredAtRunTime: a plugin's controller registers an
// exporter while the manager runs; it is scheduled at once, paused and
// resumed by the opt-out switch like the exporters registered at start,
// restores its Secret, and stops for good once deleted.
func TestExporterRegisteredAtRunTime(t *testing.T) {
	ctx := context.Background()
	o := options(t)
	target := o.SecretNamespace + "-req"
	if err := client.EnsureNamespace(ctx, o.SecretNamespace); err != nil {
		t.Fatal(err)
	}
	c, _ := runController(t, env.Config, o, nil, requestPlugin{interval: 30 * time.Minute})
	req := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "request-a", Namespace: o.SecretNamespace}, Data: map[string]string{"target": target + "/scc-payload"}}
	if _, err := kube.CoreV1().ConfigMaps(o.SecretNamespace).Create(ctx, req, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exists := func() (bool, error) {
		_, err := getSecret(target, "scc-payload")
		return err == nil, err
	}
	eventually(t, "the run-time exporter's Secret", exists)
	if err := c.Register(requestPlugin{}); !errors.Is(err, controller.ErrStarted) {
		t.Errorf("Register while running = %v, want ErrStarted", err)
	}
	if st, ok := c.Manager.Status("request/request-a"); !ok || st.Interval != 30*time.Minute {
		t.Fatalf("status = %+v, %v: want registered with its own interval", st, ok)
	}

	// Paused by the switch: a deleted Secret stays deleted.
	setSwitch(t, o, "true")
	eventually(t, "the run-time exporter paused", func() (bool, error) {
		st, _ := c.Manager.Status("request/request-a")
		return !st.Running, nil
	})
	if err := kube.CoreV1().Secrets(target).Delete(ctx, "scc-payload", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	stays(t, 2*time.Second, "the Secret staying deleted while disabled", func() (bool, error) {
		ok, err := exists()
		return !ok, err
	})
	// Resumed: restored.
	setSwitch(t, o, "false")
	eventually(t, "the Secret restored once resumed", exists)

	// Deleted: never writes again.
	if err := kube.CoreV1().ConfigMaps(o.SecretNamespace).Delete(ctx, req.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the exporter deleted", func() (bool, error) { return !c.Manager.Has("request/request-a"), nil })
	if err := kube.CoreV1().Secrets(target).Delete(ctx, "scc-payload", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	stays(t, 2*time.Second, "no write after Delete", func() (bool, error) {
		_, err := getSecret(target, "scc-payload")
		return apierrors.IsNotFound(err), err
	})
}
