package secretrequest

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	telemetryv1 "github.com/rancher/telemetry-manager/pkg/apis/telemetry.cattle.io/v1"
)

func spec(typ, ns, name string) telemetryv1.SecretRequestSpec {
	return telemetryv1.SecretRequestSpec{SecretType: typ, TargetSecretRef: telemetryv1.SecretReference{Namespace: ns, Name: name}}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec telemetryv1.SecretRequestSpec
		want string // "" valid
	}{
		{"rancher-scc-metrics is valid", spec("scc", "cattle-scc-system", "rancher-scc-metrics"), ""},
		{"wrong type", spec("report", "ns", "s"), `spec.secretType "report" is not supported: must be "scc"`},
		{"empty type", spec("", "ns", "s"), `spec.secretType "" is not supported: must be "scc"`},
		{"missing namespace", spec("scc", "", "s"), "spec.targetSecretRef.namespace must be set"},
		{"missing name", spec("scc", "ns", ""), "spec.targetSecretRef.name must be set"},
		{"namespace not a DNS label", spec("scc", "Bad_NS", "s"), `spec.targetSecretRef.namespace "Bad_NS" is not a valid namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		{"every problem at once", spec("x", "", ""), `spec.secretType "x" is not supported: must be "scc"; spec.targetSecretRef.namespace must be set; spec.targetSecretRef.name must be set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.spec)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate = %v\nwant %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) || !IsInvalid(err) {
				t.Errorf("Validate = %v: does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestValidateBadName(t *testing.T) {
	err := Validate(spec("scc", "ns", "UPPER"))
	if err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate = %v, want ErrInvalid for an invalid Secret name", err)
	}
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func TestPolicy(t *testing.T) {
	kube := fake.NewClientset(
		namespace("cattle-scc-system", map[string]string{LabelProjectID: "p-system"}),
		namespace("team-a", map[string]string{"telemetry": "yes"}),
		namespace("apps", map[string]string{LabelProjectID: "p-apps"}),
	)
	system := func(context.Context) (string, error) { return "p-system", nil }
	noSystem := func(context.Context) (string, error) { return "", ErrNoSystemProject }
	tests := []struct {
		name      string
		rancher   bool
		list      []string
		selector  string
		project   func(context.Context) (string, error)
		namespace string
		allowed   bool
		message   string
	}{
		{name: "kubernetes default: telemetry namespace", namespace: "cattle-telemetry-system", allowed: true},
		{name: "kubernetes default: cattle-scc-system", namespace: "cattle-scc-system", allowed: true},
		{name: "kubernetes default: others refused", namespace: "apps",
			message: `spec.targetSecretRef.namespace "apps" is not allowed: allowed are the namespaces cattle-telemetry-system, cattle-scc-system`},
		{name: "a list replaces the kubernetes default", list: []string{"team-b"}, namespace: "cattle-scc-system",
			message: `spec.targetSecretRef.namespace "cattle-scc-system" is not allowed: allowed are the namespaces team-b`},
		{name: "listed namespace, even missing", list: []string{"team-b"}, namespace: "team-b", allowed: true},
		{name: "selector matches", selector: "telemetry=yes", namespace: "team-a", allowed: true},
		{name: "selector does not match", selector: "telemetry=yes", namespace: "apps",
			message: `spec.targetSecretRef.namespace "apps" is not allowed: allowed are namespaces labelled "telemetry=yes"`},
		{name: "selector: missing namespace", selector: "telemetry=yes", namespace: "gone",
			message: `spec.targetSecretRef.namespace "gone" is not allowed (it does not exist): allowed are namespaces labelled "telemetry=yes"`},
		{name: "rancher: System project namespace", rancher: true, project: system, namespace: "cattle-scc-system", allowed: true},
		{name: "rancher: other project refused", rancher: true, project: system, namespace: "apps",
			message: `spec.targetSecretRef.namespace "apps" is not allowed: allowed are the namespaces of Rancher's System project (label field.cattle.io/projectId)`},
		{name: "rancher: no System project", rancher: true, project: noSystem, namespace: "cattle-scc-system",
			message: `spec.targetSecretRef.namespace "cattle-scc-system" is not allowed (no System project): allowed are the namespaces of Rancher's System project (label field.cattle.io/projectId)`},
		{name: "rancher and selector: either allows", rancher: true, project: system, selector: "telemetry=yes", namespace: "team-a", allowed: true},
		{name: "rancher and list: no kubernetes default", rancher: true, project: system, list: []string{"team-b"}, namespace: "cattle-telemetry-system",
			message: `spec.targetSecretRef.namespace "cattle-telemetry-system" is not allowed (it does not exist): allowed are the namespaces team-b, and the namespaces of Rancher's System project (label field.cattle.io/projectId)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy(tt.rancher, "cattle-telemetry-system", tt.list, tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			p.NamespaceClient = kube.CoreV1().Namespaces()
			p.SystemProject = tt.project
			err = p.Check(context.Background(), tt.namespace)
			if tt.allowed {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want allowed", tt.namespace, err)
				}
				return
			}
			if !errors.Is(err, ErrNotAllowed) {
				t.Fatalf("Check(%s) = %v, want ErrNotAllowed", tt.namespace, err)
			}
			if err.Error() != tt.message {
				t.Errorf("Check(%s) message\n got %s\nwant %s", tt.namespace, err, tt.message)
			}
		})
	}
}

func TestPolicyReadErrorIsNotInvalid(t *testing.T) {
	p, err := NewPolicy(true, "t", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	p.NamespaceClient = fake.NewClientset(namespace("ns", nil)).CoreV1().Namespaces()
	p.SystemProject = func(context.Context) (string, error) { return "", errors.New("connection refused") }
	err = p.Check(context.Background(), "ns")
	if err == nil || IsInvalid(err) {
		t.Fatalf("Check = %v: want an error to retry, not an invalid request", err)
	}
}

func TestNewPolicyBadSelector(t *testing.T) {
	if _, err := NewPolicy(false, "t", nil, "a in (b"); err == nil {
		t.Fatal("NewPolicy accepted a broken selector")
	}
}

func TestSystemProjectID(t *testing.T) {
	tests := []struct {
		name, raw, want string
		none            bool
	}{
		{name: "found", raw: `{"items":[{"metadata":{"name":"p-default"},"spec":{"displayName":"Default"}},{"metadata":{"name":"p-sys"},"spec":{"displayName":"System"}}]}`, want: "p-sys"},
		{name: "none", raw: `{"items":[{"metadata":{"name":"p-default"},"spec":{"displayName":"Default"}}]}`, none: true},
		{name: "empty list", raw: `{"items":[]}`, none: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := systemProjectID([]byte(tt.raw))
			if tt.none {
				if !errors.Is(err, ErrNoSystemProject) {
					t.Fatalf("systemProjectID = %q, %v; want ErrNoSystemProject", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("systemProjectID = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
