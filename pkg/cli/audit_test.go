package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/identity"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

const auditNamespace = "cattle-telemetry-system"

var installKey = bytes.Repeat([]byte{7}, 32)

type clientCache struct{ c *fake.Clientset }

func (l clientCache) Get(ns, name string) (*corev1.Secret, error) {
	return l.c.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
}

// installation returns a clientset holding an identity Secret with
// installKey and the telemetry Secret as the exporter writes it.
func installation(t *testing.T) *fake.Clientset {
	t.Helper()
	c := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: identity.DefaultName, Namespace: auditNamespace},
		Data: map[string][]byte{
			identity.KeyHMAC:        []byte(hex.EncodeToString(installKey)),
			identity.KeyInstallUUID: []byte("install-1"),
		},
	})
	exp, err := secret.New(secret.Options{
		Encoder: scc.Encoder{}, SigningKey: identity.Identity{Key: installKey}.SigningKey(),
		Secrets: c.CoreV1(), Namespaces: c.CoreV1(), CreateNamespace: true, Cache: clientCache{c},
		Clock: clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &snapshot.Snapshot{
		Install:  snapshot.Install{InstallUUID: "install-1", ClusterUUID: "cluster-1", Version: "v2.12.1", Mode: snapshot.ModeRancher},
		Clusters: []snapshot.Cluster{{Name: "local", Upstream: true, Shapes: []snapshot.Shape{{Count: 3}}}},
	}
	if err := exp.Export(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return c
}

// edit changes the telemetry Secret as someone with write access could.
func edit(t *testing.T, c *fake.Clientset, change func(*corev1.Secret)) {
	t.Helper()
	ctx := context.Background()
	s, err := c.CoreV1().Secrets(auditNamespace).Get(ctx, secret.DefaultName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	change(s)
	if _, err := c.CoreV1().Secrets(auditNamespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func audit(t *testing.T, c *fake.Clientset) (string, error) {
	t.Helper()
	o := NewAuditOptions()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := Audit(context.Background(), c.CoreV1(), o, &out)
	return out.String(), err
}

func TestAuditVerifiesSignatureOfExporterPayload(t *testing.T) {
	out, err := audit(t, installation(t))
	if err != nil {
		t.Fatalf("audit failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "signature verified") {
		t.Fatalf("audit does not say the signature was verified:\n%s", out)
	}
}

func TestAuditFailsForgedPayload(t *testing.T) {
	tests := []struct {
		name   string
		change func(*corev1.Secret)
		want   error
	}{
		{"signature removed", func(s *corev1.Secret) { delete(s.Annotations, secret.AnnotationSignature) }, secret.ErrUnsigned},
		{"signed with another key", func(s *corev1.Secret) {
			s.Annotations[secret.AnnotationSignature] = secret.Sign([]byte("another key"), s.Data[secret.DefaultKey])
		}, secret.ErrBadSignature},
		{"signed with the pseudonym key itself", func(s *corev1.Secret) {
			s.Annotations[secret.AnnotationSignature] = secret.Sign(installKey, s.Data[secret.DefaultKey])
		}, secret.ErrBadSignature},
		{"payload rewritten with its digest, signature kept", func(s *corev1.Secret) {
			p := bytes.Replace(s.Data[secret.DefaultKey], []byte(`"count":3`), []byte(`"count":30`), 1)
			s.Data[secret.DefaultKey] = p
			s.Annotations[secret.AnnotationPayloadDigest] = secret.Digest(p)
		}, secret.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := installation(t)
			edit(t, c, tt.change)
			out, err := audit(t, c)
			if !errors.Is(err, ErrAudit) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want ErrAudit wrapping %v\n%s", err, tt.want, out)
			}
			if !strings.Contains(out, "FAILED") || !strings.Contains(out, "signature:") || strings.Contains(out, "signature verified") {
				t.Fatalf("audit output does not report the bad signature:\n%s", out)
			}
		})
	}
}

func TestAuditSaysWhenSignatureCouldNotBeChecked(t *testing.T) {
	forbidIdentity := func(t *testing.T, c *fake.Clientset) {
		c.PrependReactor("get", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.(k8stesting.GetAction).GetName() != identity.DefaultName {
				return false, nil, nil
			}
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, identity.DefaultName, errors.New("user auditor may not"))
		})
	}
	deleteIdentity := func(t *testing.T, c *fake.Clientset) {
		if err := c.CoreV1().Secrets(auditNamespace).Delete(context.Background(), identity.DefaultName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	breakIdentity := func(t *testing.T, c *fake.Clientset) {
		s, err := c.CoreV1().Secrets(auditNamespace).Get(context.Background(), identity.DefaultName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Data[identity.KeyHMAC] = []byte("not hex")
		if _, err := c.CoreV1().Secrets(auditNamespace).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		identity func(*testing.T, *fake.Clientset)
		unsigned bool
		why      string
	}{
		{name: "identity secret forbidden", identity: forbidIdentity, why: "forbidden"},
		{name: "identity secret missing", identity: deleteIdentity, why: "identity secret missing"},
		{name: "identity secret invalid", identity: breakIdentity, why: "data.hmacKey"},
		{name: "identity secret forbidden, payload unsigned", identity: forbidIdentity, unsigned: true, why: "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := installation(t)
			if tt.unsigned {
				edit(t, c, func(s *corev1.Secret) { delete(s.Annotations, secret.AnnotationSignature) })
			}
			tt.identity(t, c)
			out, err := audit(t, c)
			if err != nil {
				t.Fatalf("audit failed because the signature could not be checked: %v\n%s", err, out)
			}
			i := strings.Index(out, "signature not checked: ")
			if i < 0 || !strings.Contains(out[i:], tt.why) {
				t.Fatalf("audit does not say the signature was not checked because of %q:\n%s", tt.why, out)
			}
		})
	}
}

func TestAuditOptionsRefuseEmptyIdentityName(t *testing.T) {
	o := NewAuditOptions()
	o.IdentityName = ""
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--identity-name") {
		t.Fatalf("Validate() = %v, want an error naming --identity-name", err)
	}
}
