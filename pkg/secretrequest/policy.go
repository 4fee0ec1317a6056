package secretrequest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	telemetryv1 "github.com/rancher/telemetry-manager/pkg/apis/telemetry.cattle.io/v1"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
)

// Sentinels of an invalid request. A request that wraps one of them is
// reported in its Failure condition and not retried until it changes.
var (
	// ErrInvalid means the spec itself is wrong.
	ErrInvalid = errors.New("invalid SecretRequest")
	// ErrNotAllowed means the target namespace is not allowed by policy.
	ErrNotAllowed = errors.New("target namespace not allowed")
	// ErrNoSystemProject means Rancher's System project was not found.
	ErrNoSystemProject = errors.New("no System project")
	// ErrNoAccess means the manager may not read Secrets in the target
	// namespace: its RBAC does not cover it.
	ErrNoAccess = errors.New("no access to the target namespace")
)

// Rancher's names for projects.
const (
	// LabelProjectID is the Namespace label holding the id of its project.
	LabelProjectID = "field.cattle.io/projectId"
	// SystemProjectName is the spec.displayName of Rancher's System project.
	SystemProjectName = "System"
	// LocalCluster is the namespace of the local cluster's Projects.
	LocalCluster = "local"
	// DefaultSCCNamespace is the namespace of Rancher's scc-operator, a
	// default target in kubernetes mode.
	DefaultSCCNamespace = "cattle-scc-system"
)

// Validate checks what a spec says on its own: the secret type and the
// target's namespace and name. The error, wrapping ErrInvalid, lists every
// problem, each naming its field.
func Validate(spec telemetryv1.SecretRequestSpec) error {
	var problems []string
	if spec.SecretType != telemetryv1.SecretTypeSCC {
		problems = append(problems, fmt.Sprintf("spec.secretType %q is not supported: must be %q", spec.SecretType, telemetryv1.SecretTypeSCC))
	}
	ref := spec.TargetSecretRef
	switch {
	case ref.Namespace == "":
		problems = append(problems, "spec.targetSecretRef.namespace must be set")
	default:
		if r := validation.IsDNS1123Label(ref.Namespace); len(r) > 0 {
			problems = append(problems, fmt.Sprintf("spec.targetSecretRef.namespace %q is not a valid namespace name: %s", ref.Namespace, strings.Join(r, ", ")))
		}
	}
	switch {
	case ref.Name == "":
		problems = append(problems, "spec.targetSecretRef.name must be set")
	default:
		if r := validation.IsDNS1123Subdomain(ref.Name); len(r) > 0 {
			problems = append(problems, fmt.Sprintf("spec.targetSecretRef.name %q is not a valid Secret name: %s", ref.Name, strings.Join(r, ", ")))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &invalidError{sentinel: ErrInvalid, msg: strings.Join(problems, "; ")}
}

// invalidError is a problem of the request, with the exact text of its
// Failure condition.
type invalidError struct {
	sentinel error
	msg      string
}

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return e.sentinel }

// IsInvalid reports whether err is a problem of the request (invalid or not
// allowed), as opposed to a failure to read what the policy needs.
func IsInvalid(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotAllowed) || errors.Is(err, ErrNoAccess)
}

// CheckAccess lists (at most one of) the Secrets telemetry-manager wrote in
// namespace, as its cache will. A refusal is an error wrapping ErrNoAccess
// that says what to grant: without the check, a cache that can never sync
// would hold up readiness and hide the cause.
func CheckAccess(ctx context.Context, secrets typedcorev1.SecretsGetter, namespace string) error {
	_, err := secrets.Secrets(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{secret.LabelManagedBy: secret.FieldManager}.String(), Limit: 1,
	})
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err):
		return &invalidError{sentinel: ErrNoAccess, msg: fmt.Sprintf(
			"spec.targetSecretRef.namespace %q: telemetry-manager may not list Secrets there: grant it get, list, watch, patch and delete on secrets in that namespace (chart: secretRequests.namespaces)", namespace)}
	default:
		return fmt.Errorf("checking access to Secrets in namespace %s: %w", namespace, err)
	}
}

// NamespaceGetter reads one Namespace.
type NamespaceGetter interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Namespace, error)
}

// Policy says which namespaces a SecretRequest may target: those listed,
// those whose labels match Selector and, in rancher mode, those of the
// System project.
type Policy struct {
	// Namespaces are allowed by name.
	Namespaces []string
	// Selector allows the namespaces whose labels it matches; nil allows
	// none.
	Selector labels.Selector
	// Rancher allows the namespaces of the System project.
	Rancher bool
	// NamespaceClient reads a namespace's labels.
	NamespaceClient NamespaceGetter
	// SystemProject returns the id (metadata.name) of the System project;
	// an error wrapping ErrNoSystemProject when there is none.
	SystemProject func(ctx context.Context) (string, error)
}

// NewPolicy returns the policy of a mode: the listed namespaces and the
// selector in either mode; in rancher mode the System project's namespaces;
// in kubernetes mode, when neither a list nor a selector is given, the
// telemetry namespace and cattle-scc-system.
func NewPolicy(rancher bool, telemetryNamespace string, namespaces []string, selector string) (*Policy, error) {
	p := &Policy{Rancher: rancher, Namespaces: slices.Clone(namespaces)}
	if strings.TrimSpace(selector) != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return nil, fmt.Errorf("namespace selector %q: %w", selector, err)
		}
		p.Selector = sel
	}
	if !rancher && len(p.Namespaces) == 0 && p.Selector == nil {
		p.Namespaces = []string{telemetryNamespace, DefaultSCCNamespace}
	}
	return p, nil
}

// Check returns nil when namespace may be a target. A namespace that is not
// allowed gives an error wrapping ErrNotAllowed whose text says what is
// allowed; any other error is a failure to read the namespace or the
// projects, to be retried.
func (p *Policy) Check(ctx context.Context, namespace string) error {
	if slices.Contains(p.Namespaces, namespace) {
		return nil
	}
	if p.Selector == nil && !p.Rancher {
		return p.notAllowed(namespace, "")
	}
	ns, err := p.NamespaceClient.Get(ctx, namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return p.notAllowed(namespace, "it does not exist")
	}
	if err != nil {
		return fmt.Errorf("reading namespace %s for the SecretRequest policy: %w", namespace, err)
	}
	if p.Selector != nil && p.Selector.Matches(labels.Set(ns.Labels)) {
		return nil
	}
	if p.Rancher {
		id, err := p.SystemProject(ctx)
		if errors.Is(err, ErrNoSystemProject) {
			return p.notAllowed(namespace, err.Error())
		}
		if err != nil {
			return err
		}
		if ns.Labels[LabelProjectID] == id {
			return nil
		}
	}
	return p.notAllowed(namespace, "")
}

// Describe says in words which namespaces are allowed.
func (p *Policy) Describe() string {
	var parts []string
	if len(p.Namespaces) > 0 {
		parts = append(parts, "the namespaces "+strings.Join(p.Namespaces, ", "))
	}
	if p.Selector != nil {
		parts = append(parts, fmt.Sprintf("namespaces labelled %q", p.Selector.String()))
	}
	if p.Rancher {
		parts = append(parts, "the namespaces of Rancher's System project (label "+LabelProjectID+")")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", and ")
}

func (p *Policy) notAllowed(namespace, why string) error {
	msg := fmt.Sprintf("spec.targetSecretRef.namespace %q is not allowed", namespace)
	if why != "" {
		msg += " (" + why + ")"
	}
	return &invalidError{sentinel: ErrNotAllowed, msg: msg + ": allowed are " + p.Describe()}
}

// SystemProjectFrom returns a SystemProject function that lists the
// Projects of the local cluster (management.cattle.io/v3, namespace
// "local") through c and picks the one whose spec.displayName is "System".
// Each call lists them again: it runs only when a request is checked.
func SystemProjectFrom(c rest.Interface) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		raw, err := c.Get().AbsPath("/apis/management.cattle.io/v3/namespaces", LocalCluster, "projects").DoRaw(ctx)
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%w: management.cattle.io/v3 projects are not served", ErrNoSystemProject)
		}
		if err != nil {
			return "", fmt.Errorf("listing projects of cluster %s: %w", LocalCluster, err)
		}
		return systemProjectID(raw)
	}
}

// systemProjectID picks the System project from a ProjectList.
func systemProjectID(raw []byte) (string, error) {
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				DisplayName string `json:"displayName"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", fmt.Errorf("decoding projects of cluster %s: %w", LocalCluster, err)
	}
	for _, p := range list.Items {
		if p.Spec.DisplayName == SystemProjectName && p.Metadata.Name != "" {
			return p.Metadata.Name, nil
		}
	}
	return "", fmt.Errorf("%w: no Project in namespace %s has spec.displayName %q", ErrNoSystemProject, LocalCluster, SystemProjectName)
}
