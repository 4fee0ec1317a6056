package scc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sccenc "github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/scc/scctest"
	"github.com/rancher/telemetry-manager/pkg/manager"
)

// testKey signs the certificates of these tests; 2048 bits keeps them quick.
var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

// certificate returns an offline certificate as SCC hands it out, for uuid
// and this file's regCode, expiring at expires, signed with key.
func certificate(t *testing.T, key *rsa.PrivateKey, uuid string, expires time.Time) string {
	t.Helper()
	c, err := scctest.Certificate(key, scctest.Offline{UUID: uuid, RegCode: regCode, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writePublicKey(t *testing.T, key *rsa.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func offlineFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	key, err := ReadPublicKey(writePublicKey(t, &testKey.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	f.exp = f.newExporter(Options{PublicKey: key})
	return f
}

func (f *fixture) request() *OfflineRequest {
	f.t.Helper()
	s, err := f.kube.CoreV1().Secrets(testNS).Get(context.Background(), OfflineRequestSecretName, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := DecodeRequest(s.Data[KeyRequest])
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func TestOfflineRequestHoldsProductUUIDServerURLAndPayload(t *testing.T) {
	f := offlineFixture(t)
	f.setEntry(map[string]string{KeyRegistrationType: ModeOffline, KeyRegCode: regCode})
	f.mustExport(snap(3))

	r := f.request()
	if r.Product.Identifier != sccenc.Product || r.Product.Version != "2.12.1" || r.Product.Arch != sccenc.Arch {
		t.Errorf("product %+v, want rancher-prime/2.12.1/unknown", r.Product)
	}
	if r.UUID != installUUID || r.ServerURL != serverURL {
		t.Errorf("uuid %q server_url %q", r.UUID, r.ServerURL)
	}
	if n := countNodes(r.SystemInformation); n != 3 {
		t.Errorf("system_information counts %d nodes, want 3", n)
	}
	if r.Login != "" || r.Password != "" {
		t.Error("the request carries credentials")
	}
	if st := f.status(); st.State != StateOfflineRequestReady || st.Mode != ModeOffline {
		t.Errorf("status %+v, want offline-request-ready", st)
	}
	if len(f.srv.Requests()) != 0 {
		t.Error("offline mode called SCC")
	}
	// New figures regenerate it at once; the same figures after the
	// interval refresh it.
	f.mustExport(snap(4))
	if n := countNodes(f.request().SystemInformation); n != 4 {
		t.Errorf("after a change the request counts %d nodes, want 4", n)
	}
	before := f.request().SystemInformation["timestamp"]
	f.clock.Step(21 * time.Hour)
	f.mustExport(snap(4))
	if after := f.request().SystemInformation["timestamp"]; after == before {
		t.Error("the request was not regenerated after the interval")
	}
}

func TestOfflineCertificateSignedWithConfiguredKeyIsAccepted(t *testing.T) {
	f := offlineFixture(t)
	expires := start.Add(200 * 24 * time.Hour)
	f.setEntry(map[string]string{KeyRegistrationType: ModeOffline, KeyRegCode: regCode, KeyCertificate: certificate(t, testKey, installUUID, expires)})
	f.mustExport(snap(3))
	st := f.status()
	if st.State != StateOfflineRegistered || st.ExpiresAt != expires.Format(time.RFC3339) || st.Product != "SUSE Rancher Prime" || st.Warning != "" {
		t.Errorf("status %+v, want offline-registered until %s", st, expires.Format(time.RFC3339))
	}
}

func TestOfflineCertificateNearExpiryWarns(t *testing.T) {
	f := offlineFixture(t)
	f.setEntry(map[string]string{KeyRegistrationType: ModeOffline, KeyCertificate: certificate(t, testKey, installUUID, start.Add(10*24*time.Hour))})
	f.mustExport(snap(3))
	if st := f.status(); st.State != StateOfflineRegistered || !strings.Contains(st.Warning, "30 days") {
		t.Errorf("status %+v, want offline-registered with a warning", st)
	}
}

func TestOfflineCertificateRefusals(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	later := start.Add(100 * 24 * time.Hour)
	for _, tc := range []struct {
		name  string
		cert  func(t *testing.T) string
		state string
		want  error
	}{
		{"expired", func(t *testing.T) string { return certificate(t, testKey, installUUID, start.Add(-time.Hour)) }, StateExpired, ErrCertExpired},
		{"wrong uuid", func(t *testing.T) string { return certificate(t, testKey, "another-installation", later) }, StateFailed, ErrUUIDMismatch},
		{"bad signature", func(t *testing.T) string { return certificate(t, other, installUUID, later) }, StateFailed, ErrBadSignature},
		{"tampered payload", func(t *testing.T) string {
			raw, _ := base64.StdEncoding.DecodeString(certificate(t, testKey, installUUID, later))
			var doc map[string]string
			_ = json.Unmarshal(raw, &doc)
			doc["payload"] = base64.StdEncoding.EncodeToString([]byte(`{"hashed_uuid":"` + hashHex(installUUID) + `","subscription":{"expires_at":"2099-01-01T00:00:00Z"}}`))
			b, _ := json.Marshal(doc)
			return base64.StdEncoding.EncodeToString(b)
		}, StateFailed, ErrBadSignature},
		{"not base64", func(*testing.T) string { return "%%%" }, StateFailed, ErrCertificate},
		// A signed certificate for another install, or an expired one,
		// with unsigned grant members beside the payload: only the signed
		// payload counts.
		{"forged top-level uuid", func(t *testing.T) string {
			return withTopLevelGrant(t, certificate(t, testKey, "another-installation", later))
		}, StateFailed, ErrUUIDMismatch},
		{"forged top-level expiry", func(t *testing.T) string {
			return withTopLevelGrant(t, certificate(t, testKey, installUUID, start.Add(-time.Hour)))
		}, StateExpired, ErrCertExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := offlineFixture(t)
			f.setEntry(map[string]string{KeyRegistrationType: ModeOffline, KeyRegCode: regCode, KeyCertificate: tc.cert(t)})
			err := f.export(snap(3))
			if kind, _ := retryKindOf(err); kind != manager.KindPermanent || !errors.Is(err, tc.want) || !errors.Is(err, ErrCertificate) {
				t.Fatalf("export: %v (%s), want a permanent %v", err, kind, tc.want)
			}
			st := f.status()
			if st.State != tc.state || st.LastError == "" || !strings.Contains(st.LastError, KeyCertificate) {
				t.Errorf("status %+v, want %s with the error naming key %s", st, tc.state, KeyCertificate)
			}
			// The request stays available to try again.
			if f.request().UUID != installUUID {
				t.Error("offline request missing after a refused certificate")
			}
		})
	}
}

// withTopLevelGrant adds grant members (this install, a far expiry) to the
// certificate's document, beside its signed payload.
func withTopLevelGrant(t *testing.T, cert string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(cert)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["login"], doc["password"], doc["hashed_uuid"] = "forged", "forged", hashHex(installUUID)
	doc["subscription"] = map[string]any{"name": "forged", "expires_at": "2099-01-01T00:00:00Z"}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestDefaultKeyIsSUSEsAndRefusesATestSignature(t *testing.T) {
	_, err := VerifyCertificate(certificate(t, testKey, installUUID, start.Add(time.Hour)), nil, installUUID, "", start)
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "SUSE") {
		t.Fatalf("verify with the default key: %v, want a bad signature with SUSE's key", err)
	}
}

func TestRemovingOfflineEntryDeletesTheRequest(t *testing.T) {
	f := offlineFixture(t)
	f.setEntry(map[string]string{KeyRegistrationType: ModeOffline})
	f.mustExport(snap(3))
	f.deleteEntry()
	f.mustExport(snap(3))
	if _, err := f.kube.CoreV1().Secrets(testNS).Get(context.Background(), OfflineRequestSecretName, metav1.GetOptions{}); err == nil {
		t.Error("offline request secret still there")
	}
	if st := f.status(); st.State != StateUnregistered {
		t.Errorf("state %s, want unregistered", st.State)
	}
}
