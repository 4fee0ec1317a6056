package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	telemetryv1 "github.com/rancher/telemetry-manager/pkg/apis/telemetry.cattle.io/v1"
	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/secretrequest"
)

// TestExporterRegisteredAtRunTime: the SecretRequest plugin registers an
// exporter while the manager runs; it is scheduled at once with its own
// interval, paused and resumed by the opt-out switch like the exporters
// registered at start, restores its Secret, and stops for good once its
// request is deleted. A plugin cannot be registered once the controller
// runs.
func TestExporterRegisteredAtRunTime(t *testing.T) {
	ctx := context.Background()
	rt := newRequestTest(t, "req")
	rt.o.Interval = 30 * time.Minute
	c, _ := rt.run()
	name, target := rt.name("a"), rt.ns("req")
	id := secretrequest.IDPrefix + name
	rt.create(name, telemetryv1.SecretTypeSCC, target, "scc-payload")
	exists := func() (bool, error) {
		_, err := getSecret(target, "scc-payload")
		return err == nil, err
	}
	eventually(t, "the run-time exporter's Secret", exists)
	if err := c.Register(secretrequest.ForOptions(rt.o)); !errors.Is(err, controller.ErrStarted) {
		t.Errorf("Register while running = %v, want ErrStarted", err)
	}
	if st, ok := c.Manager.Status(id); !ok || st.Interval != 30*time.Minute {
		t.Fatalf("status = %+v, %v: want registered with its own interval", st, ok)
	}

	// Paused by the switch: a deleted Secret stays deleted.
	setSwitch(t, rt.o, "true")
	eventually(t, "the run-time exporter paused", func() (bool, error) {
		st, _ := c.Manager.Status(id)
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
	setSwitch(t, rt.o, "false")
	eventually(t, "the Secret restored once resumed", exists)

	// Deleted: never writes again.
	rt.delete(name)
	eventually(t, "the exporter deleted", func() (bool, error) { return !c.Manager.Has(id), nil })
	waitSecretGone(t, target, "scc-payload")
	stays(t, 2*time.Second, "no write after Delete", func() (bool, error) {
		_, err := getSecret(target, "scc-payload")
		return apierrors.IsNotFound(err), err
	})
}
