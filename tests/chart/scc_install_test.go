package chart

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/rancher/telemetry-manager/pkg/controller"
	sccexporter "github.com/rancher/telemetry-manager/pkg/exporters/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/scc/scctest"
)

// TestSCCInstalledReleaseRegistersUnderTheChartsRBAC installs a release
// with the scc exporter on and runs the controller as its ServiceAccount
// with the Deployment's arguments: it registers with a stand-in SCC,
// deregisters when scc-registration goes, and the API server refuses none
// of its requests. The Role grants no other Secret of the SCC namespace.
func TestSCCInstalledReleaseRegistersUnderTheChartsRBAC(t *testing.T) {
	const code = "CHART-REGCODE"
	srv := scctest.New(code)
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	const sccNS = "tm-scc-target"
	ctx := context.Background()
	if _, err := client.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sccNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	values := filepath.Join(dir, "values.yaml")
	text := fmt.Sprintf("mode: kubernetes\nexporters:\n  scc:\n    enabled: true\n    namespace: %s\n    caFile: %s\n", sccNS, ca)
	if err := os.WriteFile(values, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	rel := install(t, "tm-scc", values)

	user, groups := serviceAccountUser(rel.namespace, rel.serviceAccount)
	for _, a := range []access{
		{"get", "", "secrets", sccNS, "other-secret"},
		{"list", "", "secrets", sccNS, ""},
		{"get", "", "secrets", "default", sccexporter.EntrySecretName},
		{"delete", "", "secrets", sccNS, sccexporter.EntrySecretName},
		{"get", "", "configmaps", sccNS, "other-configmap"},
	} {
		if ok, err := allowed(t, user, groups, a); err != nil || ok {
			t.Errorf("%s allowed=%v (%v), want refused", a, ok, err)
		}
	}

	o := runOptions(t, slices.Concat(rel.args, []string{"--metrics-address=127.0.0.1:0"}))
	o.Debounce = 100 * time.Millisecond
	cfg := env.ConfigFor(user, groups...)
	rec := &forbiddenRecorder{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.AddHook(&testHook{t: t})
	runCtx, cancel := context.WithCancel(ctx)
	c, err := controller.New(runCtx, rest.CopyConfig(cfg), o, logrus.NewEntry(log).WithField("release", rel.name))
	if err != nil {
		cancel()
		t.Fatalf("controller.New as %s: %v (refused: %v)", user, err, rec.list())
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller returned %v", err)
		}
		if refused := rec.list(); len(refused) > 0 {
			t.Errorf("the API server refused requests of %s under the chart's RBAC:\n  %v", user, refused)
		}
	}()

	entry := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: sccNS, Name: sccexporter.EntrySecretName},
		StringData: map[string]string{"regCode": code, "registrationUrl": srv.URL},
	}
	if _, err := client.Kube.CoreV1().Secrets(sccNS).Create(ctx, entry, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	status := func() (sccexporter.Status, error) { return sccexporter.ReadStatus(ctx, client.Kube.CoreV1(), sccNS) }
	eventually(t, "registered", func() (bool, error) {
		st, err := status()
		return err == nil && st.State == sccexporter.StateRegistered && len(srv.Systems()) == 1, fmt.Errorf("status %+v: %v", st, err)
	})
	if err := client.Kube.CoreV1().Secrets(sccNS).Delete(ctx, sccexporter.EntrySecretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deregistered and credentials deleted", func() (bool, error) {
		st, err := status()
		if err != nil {
			return false, err
		}
		_, err = client.Kube.CoreV1().Secrets(sccNS).Get(ctx, sccexporter.CredentialsSecretName, metav1.GetOptions{})
		return st.State == sccexporter.StateUnregistered && len(srv.Deleted()) == 1 && apierrors.IsNotFound(err), fmt.Errorf("status %+v: %v", st, err)
	})
}
