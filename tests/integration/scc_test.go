package integration

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rancher/telemetry-manager/pkg/controller"
	sccexporter "github.com/rancher/telemetry-manager/pkg/exporters/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/scc/scctest"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// sccOptions returns run options with the scc exporter pointed at srv, in
// an SCC namespace of the test's own, which it creates.
func sccOptions(t *testing.T, srv *scctest.Server) *controller.Options {
	t.Helper()
	o := options(t)
	o.Exporters = "secret,scc"
	o.SCC.Namespace = "scc-" + o.SecretNamespace[3:]
	o.SCC.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(o.SCC.CAFile, srv.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.SCC.Namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return o
}

func sccStatus(o *controller.Options) (sccexporter.Status, error) {
	return sccexporter.ReadStatus(context.Background(), kube.CoreV1(), o.SCC.Namespace)
}

func onlySystem(srv *scctest.Server) (scctest.System, error) {
	systems := srv.Systems()
	if len(systems) != 1 {
		return scctest.System{}, fmt.Errorf("%d systems", len(systems))
	}
	return systems[0], nil
}

// TestSCCOnlineLifecycle: a scc-registration Secret registers the system and
// activates the product; a node added sends a keepalive with the new
// figures; a restarted controller goes on with the stored credentials and
// System-Token; deleting scc-registration deregisters and wipes them.
func TestSCCOnlineLifecycle(t *testing.T) {
	const code = "INTEGRATION-REGCODE"
	srv := scctest.New(code)
	defer srv.Close()
	o := sccOptions(t, srv)
	ctx := context.Background()
	logs := &testenv.SyncBuffer{}
	c, stop := runController(t, env.Config, o, logs)

	eventually(t, "state unregistered without scc-registration", func() (bool, error) {
		st, err := sccStatus(o)
		return err == nil && st.State == sccexporter.StateUnregistered && len(srv.Requests()) == 0, err
	})
	entry := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.SCC.Namespace, Name: sccexporter.EntrySecretName},
		StringData: map[string]string{"regCode": code, "registrationType": "online", "registrationUrl": srv.URL},
	}
	if _, err := kube.CoreV1().Secrets(o.SCC.Namespace).Create(ctx, entry, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var sys scctest.System
	eventually(t, "registered with the product activated", func() (bool, error) {
		st, err := sccStatus(o)
		if err != nil {
			return false, err
		}
		sys, err = onlySystem(srv)
		return st.State == sccexporter.StateRegistered && err == nil && len(sys.Products) == 1 &&
			st.SystemID == fmt.Sprint(sys.ID) && st.ExpiresAt != "", fmt.Errorf("status %+v, system %+v, %v", st, sys, err)
	})
	if sys.Products[0].Identifier != "rancher-prime" || sys.Products[0].Arch != "unknown" || sys.Hostname == "" {
		t.Errorf("system %+v", sys)
	}
	if got := gauge(t, c.Metrics, "telemetry_manager_scc_state", `state="registered"`); got != 1 {
		t.Errorf("telemetry_manager_scc_state{state=registered} = %v, want 1", got)
	}
	creds, err := getSecret(o.SCC.Namespace, sccexporter.CredentialsSecretName)
	if err != nil {
		t.Fatal(err)
	}
	if string(creds.Data[sccexporter.KeyLogin]) != sys.Login || string(creds.Data[sccexporter.KeySystemToken]) != sys.Token {
		t.Error("credentials secret does not hold the login and the latest System-Token")
	}

	node := extraNode("scc-keepalive-node")
	if err := client.Apply(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Delete(context.Background(), node) })
	eventually(t, "a keepalive after the payload change", func() (bool, error) {
		s, err := onlySystem(srv)
		return err == nil && s.Keepalives == 1, err
	})

	stop()
	_, stop = runController(t, env.Config, o, logs)
	if err := client.Delete(ctx, node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a keepalive of the restarted controller with the stored token", func() (bool, error) {
		s, err := onlySystem(srv)
		return err == nil && s.Keepalives == 2, err
	})
	if n := srv.Count(http.MethodPost, "/connect/subscriptions/systems", http.StatusCreated); n != 1 {
		t.Errorf("%d announces, want 1: the restart registered anew", n)
	}
	if n := srv.Count(http.MethodPut, "/connect/systems", http.StatusUnauthorized); n != 0 {
		t.Errorf("%d keepalives refused (stale System-Token)", n)
	}

	if err := kube.CoreV1().Secrets(o.SCC.Namespace).Delete(ctx, sccexporter.EntrySecretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deregistered and credentials wiped", func() (bool, error) {
		st, err := sccStatus(o)
		if err != nil {
			return false, err
		}
		_, err = getSecret(o.SCC.Namespace, sccexporter.CredentialsSecretName)
		return st.State == sccexporter.StateUnregistered && len(srv.Systems()) == 0 && len(srv.Deleted()) == 1 &&
			apierrors.IsNotFound(err), fmt.Errorf("status %+v, credentials: %v", st, err)
	})
	stop()
	for name, secret := range map[string]string{"password": sys.Password, "regCode": code} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows the %s", name)
		}
	}
	for _, s := range append(srv.Systems(), srv.Deleted()...) {
		if strings.Contains(logs.String(), s.Token) {
			t.Error("the log shows a System-Token")
		}
	}
}

// TestSCCOfflineRequestOutCertificateIn: an offline scc-registration makes
// the request Secret; a certificate for the request's UUID, signed with the
// configured key, makes the state offline-registered, and one signed with
// another key is refused with state failed.
func TestSCCOfflineRequestOutCertificateIn(t *testing.T) {
	srv := scctest.New()
	defer srv.Close()
	o := sccOptions(t, srv)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	o.SCC.PublicKeyFile = filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(o.SCC.PublicKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start(t, env.Config, o)
	entry := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.SCC.Namespace, Name: sccexporter.EntrySecretName},
		StringData: map[string]string{"registrationType": "offline"},
	}
	if _, err := kube.CoreV1().Secrets(o.SCC.Namespace).Create(ctx, entry, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var req *sccexporter.OfflineRequest
	eventually(t, "the offline request and state offline-request-ready", func() (bool, error) {
		s, err := getSecret(o.SCC.Namespace, sccexporter.OfflineRequestSecretName)
		if err != nil {
			return false, err
		}
		if req, err = sccexporter.DecodeRequest(s.Data[sccexporter.KeyRequest]); err != nil {
			return false, err
		}
		st, err := sccStatus(o)
		return err == nil && st.State == sccexporter.StateOfflineRequestReady, fmt.Errorf("status %+v: %v", st, err)
	})
	if req.UUID == "" || req.ServerURL != "https://rancher.example.com" || req.Product.Identifier != "rancher-prime" || req.SystemInformation["managedSystems"] == nil {
		t.Errorf("offline request %+v", req)
	}
	expires := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name   string
		signer *rsa.PrivateKey
		state  string
	}{
		{"another key", mustKey(t), sccexporter.StateFailed},
		{"the configured key", key, sccexporter.StateOfflineRegistered},
	} {
		entry.StringData = map[string]string{"registrationType": "offline", "certificate": offlineCertificate(t, tc.signer, req.UUID, expires)}
		if _, err := kube.CoreV1().Secrets(o.SCC.Namespace).Update(ctx, entry, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "state "+tc.state+" with a certificate of "+tc.name, func() (bool, error) {
			st, err := sccStatus(o)
			return err == nil && st.State == tc.state, fmt.Errorf("status %+v: %v", st, err)
		})
	}
	if st, _ := sccStatus(o); st.ExpiresAt != expires.Format(time.RFC3339) || st.LastError != "" {
		t.Errorf("status %+v, want the certificate's expiry and no error", st)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("offline mode sent %d requests to SCC", n)
	}
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// offlineCertificate returns a certificate as SCC hands it out, for uuid,
// signed with key.
func offlineCertificate(t *testing.T, key *rsa.PrivateKey, uuid string, expires time.Time) string {
	t.Helper()
	c, err := scctest.Certificate(key, scctest.Offline{UUID: uuid, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
