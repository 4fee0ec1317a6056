package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/optout"
)

// setSwitch creates or updates the switch ConfigMap with disabled=value.
func setSwitch(t *testing.T, o *controller.Options, value string) {
	t.Helper()
	ctx := context.Background()
	cms := kube.CoreV1().ConfigMaps(o.SecretNamespace)
	cm, err := cms.Get(ctx, o.ConfigMapName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: o.SecretNamespace, Name: o.ConfigMapName}}
		cm.Data = map[string]string{optout.Key: value}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	} else if err == nil {
		cm.Data = map[string]string{optout.Key: value}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// stays checks that cond holds for the whole of d.
func stays(t *testing.T, d time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ok, err := cond(); !ok {
			t.Fatalf("%s no longer holds (%v)", what, err)
		}
	}
}

func secretGone(o *controller.Options) func() (bool, error) {
	return func() (bool, error) {
		_, err := getSecret(o.SecretNamespace, o.SecretName)
		return apierrors.IsNotFound(err), err
	}
}

func TestSwitchStopsAndResumesExporting(t *testing.T) {
	o := options(t)
	o.MetricsAddress = ""
	o.Interval = time.Second // an enabled exporter would run every second
	c := start(t, env.Config, o)
	waitPayload(t, o, "the payload", func(report.Report) bool { return true })
	if g := gauge(t, c.Metrics, "telemetry_manager_telemetry_enabled", ""); g != 1 {
		t.Fatalf("telemetry_enabled = %v before the switch exists", g)
	}

	setSwitch(t, o, "true")
	flipped := time.Now()
	eventually(t, "the exporters to stop", func() (bool, error) {
		st, _ := c.Manager.Status("secret")
		return c.Manager.Paused() && !st.Running && gauge(t, c.Metrics, "telemetry_manager_telemetry_enabled", "") == 0, nil
	})
	t.Logf("exporters stopped %s after the switch", time.Since(flipped).Round(10*time.Millisecond))

	// Deleting the Secret would have it restored within the debounce; and
	// the one-second interval would rewrite it.
	if err := kube.CoreV1().Secrets(o.SecretNamespace).Delete(context.Background(), o.SecretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	stays(t, 3*time.Second, "the Secret staying deleted while disabled", secretGone(o))

	setSwitch(t, o, "false")
	flipped = time.Now()
	waitPayload(t, o, "the Secret to come back", func(r report.Report) bool { return r.Totals == sampleTotals })
	t.Logf("Secret restored %s after the switch", time.Since(flipped).Round(10*time.Millisecond))
	if st, _ := c.Manager.Status("secret"); c.Manager.Paused() || !st.Running || gauge(t, c.Metrics, "telemetry_manager_telemetry_enabled", "") != 1 {
		t.Fatal("exporter or telemetry_enabled not back")
	}
}

func TestSwitchDisabledAtStartExportsNothing(t *testing.T) {
	o := options(t)
	o.MetricsAddress = ""
	o.Interval = time.Second
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.SecretNamespace}}
	if _, err := kube.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setSwitch(t, o, "true")

	c := start(t, env.Config, o)
	eventually(t, "the switch to be read", func() (bool, error) { return c.Manager.Paused(), nil })
	if g := gauge(t, c.Metrics, "telemetry_manager_telemetry_enabled", ""); g != 0 {
		t.Fatalf("telemetry_enabled = %v", g)
	}
	// Never written, not even once at start.
	stays(t, 3*time.Second, "no Secret while disabled from the start", secretGone(o))

	// A value that is neither true nor false is ignored: still disabled.
	setSwitch(t, o, "maybe")
	stays(t, time.Second, "no Secret after an invalid switch value", secretGone(o))

	setSwitch(t, o, "false")
	waitPayload(t, o, "the first payload once enabled", func(report.Report) bool { return true })
}

func TestSwitchMissingConfigMapMeansEnabled(t *testing.T) {
	o := options(t)
	o.MetricsAddress = ""
	o.ConfigMapName = "no-such-switch"
	c := start(t, env.Config, o)
	waitPayload(t, o, "the payload", func(report.Report) bool { return true })
	if g := gauge(t, c.Metrics, "telemetry_manager_telemetry_enabled", ""); g != 1 {
		t.Fatalf("telemetry_enabled = %v", g)
	}
}

// countingTransport counts the requests that reach the API server.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(req)
}

func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestDisableTelemetryOpensNoConnection(t *testing.T) {
	var requests atomic.Int64
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, &requests} })

	o := options(t)
	o.DisableTelemetry = true
	o.MetricsAddress = freeAddress(t)
	log := logrus.New()
	log.SetOutput(testWriter{t})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- controller.Run(ctx, cfg, o, logrus.NewEntry(log)) }()

	// Probes pass, and the metrics say telemetry is off.
	base := "http://" + o.MetricsAddress
	for _, path := range []string{"/healthz", "/readyz"} {
		eventually(t, path+" answering 200", func() (bool, error) {
			code, body, err := httpGet(base + path)
			return code == http.StatusOK, fmt.Errorf("%d %q %v", code, body, err)
		})
	}
	_, body, err := httpGet(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := sample(body, "telemetry_manager_telemetry_enabled"); !ok || v != 0 {
		t.Fatalf("telemetry_enabled = %v (found %v), want 0", v, ok)
	}
	time.Sleep(2 * time.Second)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}

	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the API server with telemetry disabled", n)
	}
	if _, err := kube.CoreV1().Namespaces().Get(context.Background(), o.SecretNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace %s: %v, want never created", o.SecretNamespace, err)
	}
	if _, err := getSecret(o.SecretNamespace, o.SecretName); !apierrors.IsNotFound(err) {
		t.Fatalf("Secret: %v, want never written", err)
	}
}
