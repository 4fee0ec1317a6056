package integration

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rancher/telemetry-manager/pkg/cli"
	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/identity"
)

// startStoppable runs a controller and returns a function that stops it and
// waits until it returned, as a process that shuts down does. The test's
// end stops it too.
func startStoppable(t *testing.T, cfg *rest.Config, o *controller.Options) (*controller.Controller, func()) {
	t.Helper()
	return runController(t, cfg, o, nil)
}

// forgeries rewrite the payload to claim ten times the nodes, with the
// payload-digest annotation matching the forged bytes, as someone who may
// edit the Secret but does not hold the signing key would. The content
// digest is either left alone (it still describes the real content, so a
// digest check cannot tell) or rewritten too (the report has no timestamp,
// so its content digest is its payload digest).
var forgeries = []struct {
	name          string
	contentDigest bool
}{
	{"payload and payload digest rewritten", false},
	{"payload and both digests rewritten", true},
}

func forge(t *testing.T, s *corev1.Secret, contentDigest bool) {
	t.Helper()
	orig := s.Data[secret.DefaultKey]
	forged := bytes.Replace(orig, []byte(`"nodes": 9,`), []byte(`"nodes": 90,`), 1)
	if bytes.Equal(forged, orig) {
		t.Fatalf("test set-up: no totals.nodes of 9 in\n%s", orig)
	}
	edited := s.DeepCopy()
	edited.Data[secret.DefaultKey] = forged
	edited.Annotations[secret.AnnotationPayloadDigest] = secret.Digest(forged)
	if contentDigest {
		edited.Annotations[secret.AnnotationContentDigest] = secret.Digest(forged)
	}
	if _, err := kube.CoreV1().Secrets(s.Namespace).Update(context.Background(), edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// signingKey reads the signing key of the install, as an auditor does.
func signingKey(t *testing.T, o *controller.Options) []byte {
	t.Helper()
	id, err := identity.Read(context.Background(), kube.CoreV1(), o.SecretNamespace, o.IdentityName)
	if err != nil {
		t.Fatal(err)
	}
	return id.SigningKey()
}

// waitRestored waits until the Secret holds want's payload again, with its
// digest and a signature that verifies.
func waitRestored(t *testing.T, o *controller.Options, want *corev1.Secret) *corev1.Secret {
	t.Helper()
	key := signingKey(t, o)
	var now *corev1.Secret
	eventually(t, "the forged payload to be restored", func() (bool, error) {
		var err error
		if now, err = getSecret(o.SecretNamespace, o.SecretName); err != nil {
			return false, err
		}
		p := now.Data[secret.DefaultKey]
		if err := secret.VerifySignature(key, p, now.Annotations[secret.AnnotationSignature]); err != nil {
			return false, err
		}
		return bytes.Equal(p, want.Data[secret.DefaultKey]) && now.Annotations[secret.AnnotationPayloadDigest] == secret.Digest(p), nil
	})
	return now
}

func TestForgedPayloadWithMatchingDigestsIsRestored(t *testing.T) {
	for _, tt := range forgeries {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t) // interval one hour: only the watch on the Secret can explain a restore
			start(t, env.Config, o)
			s := waitPayload(t, o, "the payload", func(r report.Report) bool { return r.Totals == sampleTotals })
			if err := secret.VerifySignature(signingKey(t, o), s.Data[secret.DefaultKey], s.Annotations[secret.AnnotationSignature]); err != nil {
				t.Fatalf("the written payload is not signed with the install's key: %v", err)
			}
			forge(t, s, tt.contentDigest)
			now := waitRestored(t, o, s)
			if now.Annotations[secret.AnnotationLastChanged] != s.Annotations[secret.AnnotationLastChanged] {
				t.Errorf("last-changed %s, want the original %s: the content never changed",
					now.Annotations[secret.AnnotationLastChanged], s.Annotations[secret.AnnotationLastChanged])
			}
		})
	}
}

func TestPayloadForgedWhileStoppedIsRestoredByNextController(t *testing.T) {
	for _, tt := range forgeries {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t)
			_, stop := startStoppable(t, env.Config, o)
			s := waitPayload(t, o, "the payload", func(r report.Report) bool { return r.Totals == sampleTotals })
			stop()
			forge(t, s, tt.contentDigest)
			startStoppable(t, env.Config, o)
			now := waitRestored(t, o, s)
			// With the content digest rewritten the new controller cannot tell
			// a forgery from a change while it was down, and dates it now.
			if !tt.contentDigest && now.Annotations[secret.AnnotationLastChanged] != s.Annotations[secret.AnnotationLastChanged] {
				t.Errorf("last-changed %s, want the original %s: the content never changed",
					now.Annotations[secret.AnnotationLastChanged], s.Annotations[secret.AnnotationLastChanged])
			}
		})
	}
}

func TestRestartedControllerWritesNothingWhenNothingChanged(t *testing.T) {
	o := options(t)
	_, stop := startStoppable(t, env.Config, o)
	s := waitPayload(t, o, "the payload", func(r report.Report) bool { return r.Totals == sampleTotals })
	stop()

	c, _ := startStoppable(t, env.Config, o)
	eventually(t, "a successful run of the restarted exporter", func() (bool, error) {
		st, _ := c.Manager.Status("secret")
		return !st.LastSuccess.IsZero(), st.LastError
	})
	now, err := getSecret(o.SecretNamespace, o.SecretName)
	if err != nil {
		t.Fatal(err)
	}
	if now.ResourceVersion != s.ResourceVersion {
		t.Fatalf("resourceVersion went from %s to %s: the restarted controller rewrote an unchanged payload\nannotations before %v\nafter %v",
			s.ResourceVersion, now.ResourceVersion, s.Annotations, now.Annotations)
	}
}

func TestAuditVerifiesSignatureAndRefusesForgery(t *testing.T) {
	o := options(t)
	_, stop := startStoppable(t, env.Config, o)
	s := waitPayload(t, o, "the payload", func(r report.Report) bool { return r.Totals == sampleTotals })
	stop() // nothing restores the forgery below

	auditCmd := func() ([]byte, error) {
		return exec.Command(binary(t), "audit", "--kubeconfig", env.KubeconfigPath, "--secret-namespace", o.SecretNamespace).CombinedOutput()
	}
	out, err := auditCmd()
	if err != nil || !strings.Contains(string(out), "signature verified") {
		t.Fatalf("audit of the exporter's Secret: %v\n%s", err, out)
	}

	forge(t, s, false)
	out, err = auditCmd()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("audit of a forged payload: exit %v, want non-zero\n%s", err, out)
	}
	if !strings.Contains(string(out), "signature") || strings.Contains(string(out), "signature verified") {
		t.Fatalf("audit output does not blame the signature:\n%s", out)
	}
}

func TestAuditWithoutAccessToIdentitySaysSignatureNotChecked(t *testing.T) {
	o := options(t)
	start(t, env.Config, o)
	waitPayload(t, o, "the payload", func(r report.Report) bool { return r.Totals == sampleTotals })

	// The auditor may read the telemetry Secret, and nothing else.
	user := "auditor-" + o.SecretNamespace
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "telemetry-auditor", Namespace: o.SecretNamespace},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{o.SecretName}, Verbs: []string{"get"}}},
	}
	if _, err := kube.RbacV1().Roles(o.SecretNamespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "telemetry-auditor", Namespace: o.SecretNamespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := kube.RbacV1().RoleBindings(o.SecretNamespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	auditor, err := kubernetes.NewForConfig(env.ConfigFor(user))
	if err != nil {
		t.Fatal(err)
	}
	ao := cli.NewAuditOptions()
	ao.SecretNamespace = o.SecretNamespace
	var out bytes.Buffer
	eventually(t, "the auditor's role to take effect", func() (bool, error) {
		out.Reset()
		err := cli.Audit(ctx, auditor.CoreV1(), ao, &out)
		return err == nil, err
	})
	i := strings.Index(out.String(), "signature not checked: ")
	if i < 0 || !strings.Contains(out.String()[i:], "forbidden") {
		t.Fatalf("audit as %s does not say the signature was not checked because the identity is forbidden:\n%s", user, out.String())
	}
}
