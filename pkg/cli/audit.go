package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/identity"
	"github.com/rancher/telemetry-manager/pkg/options"
)

// ErrAudit means the telemetry Secret failed a check.
var ErrAudit = errors.New("audit failed")

// AuditOptions configure the audit command.
type AuditOptions struct {
	options.Connection
	options.Logging
	// SecretName is the telemetry Secret in SecretNamespace.
	SecretName string
	Output     string
}

// NewAuditOptions returns the defaults.
func NewAuditOptions() *AuditOptions {
	return &AuditOptions{
		Connection: options.NewConnection(),
		Logging:    options.NewLogging(),
		SecretName: secret.DefaultName,
		Output:     "text",
	}
}

// AddFlags registers the audit flags.
func (o *AuditOptions) AddFlags(fs *pflag.FlagSet) {
	o.Connection.AddFlags(fs)
	o.Logging.AddFlags(fs)
	fs.StringVar(&o.SecretName, "secret-name", o.SecretName, "name of the telemetry Secret")
	fs.StringVarP(&o.Output, "output", "o", o.Output, "text (a summary) or json (the raw payload)")
}

// Validate reports every problem at once.
func (o *AuditOptions) Validate() error {
	errs := []error{o.Connection.Validate(), o.Logging.Validate()}
	if o.Output != "text" && o.Output != "json" {
		errs = append(errs, fmt.Errorf("--output %q: must be text or json", o.Output))
	}
	if o.SecretName == "" {
		errs = append(errs, errors.New("--secret-name: must not be empty"))
	} else {
		errs = append(errs, options.CheckName("--secret-name", o.SecretName, validation.IsDNS1123Subdomain))
	}
	return errors.Join(errs...)
}

// Audit reads the telemetry Secret, checks its payload against the digest
// annotation and the schema of its format, verifies its signature when it
// may read the identity Secret, and prints a summary (or the raw payload).
// A failed check, a missing or wrong signature included, returns an error
// wrapping ErrAudit. An identity Secret that cannot be read (forbidden, not
// found, invalid) is not a failure: the summary says the signature was not
// checked, and why.
func Audit(ctx context.Context, secrets typedcorev1.SecretsGetter, o *AuditOptions, out io.Writer) error {
	ref := o.SecretNamespace + "/" + o.SecretName
	s, err := secrets.Secrets(o.SecretNamespace).Get(ctx, o.SecretName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%w: reading secret %s: %w", ErrAudit, ref, err)
	}
	key := s.Annotations[secret.AnnotationPayloadKey]
	if key == "" {
		key = secret.DefaultKey
	}
	payload, ok := s.Data[key]
	if !ok {
		return fmt.Errorf("%w: secret %s has no data key %q", ErrAudit, ref, key)
	}
	var problems []error
	want := s.Annotations[secret.AnnotationPayloadDigest]
	got := secret.Digest(payload)
	switch {
	case want == "":
		problems = append(problems, fmt.Errorf("annotation %s is missing", secret.AnnotationPayloadDigest))
	case want != got:
		problems = append(problems, fmt.Errorf("data.%s digest is %s, annotation %s says %s", key, got, secret.AnnotationPayloadDigest, want))
	}
	format := s.Annotations[secret.AnnotationFormat]
	switch format {
	case report.FormatName:
		if err := report.Validate(payload); err != nil {
			problems = append(problems, fmt.Errorf("data.%s does not match the %s schema: %w", key, format, err))
		}
	case scc.FormatName:
		if err := scc.Validate(payload); err != nil {
			problems = append(problems, fmt.Errorf("data.%s does not match the %s schema: %w", key, format, err))
		}
	default:
		problems = append(problems, fmt.Errorf("annotation %s is %q: want %s or %s", secret.AnnotationFormat, format, report.FormatName, scc.FormatName))
	}

	sig, err := checkSignature(ctx, secrets, o, payload, s.Annotations[secret.AnnotationSignature])
	if err != nil {
		problems = append(problems, fmt.Errorf("signature: %w", err))
	}

	if o.Output == "json" {
		if _, err := out.Write(payload); err != nil {
			return err
		}
	} else {
		printSummary(out, ref, s.Annotations, format, payload, sig, problems)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: secret %s: %w", ErrAudit, ref, errors.Join(problems...))
	}
	return nil
}

// checkSignature verifies the payload signature with the signing key derived
// from the identity Secret. It returns what the summary says about the
// signature, and an error when the signature is missing or wrong while the
// identity was readable.
func checkSignature(ctx context.Context, secrets typedcorev1.SecretsGetter, o *AuditOptions, payload []byte, annotation string) (string, error) {
	id, err := identity.Read(ctx, secrets, o.SecretNamespace, o.IdentityName)
	if err != nil {
		// Forbidden, not found, invalid or unreachable: an auditor may
		// be allowed to read the payload but not the key that signs it.
		return "signature not checked: " + err.Error(), nil
	}
	if err := secret.VerifySignature(id.SigningKey(), payload, annotation); err != nil {
		return "signature rejected", err
	}
	return "signature verified", nil
}

func printSummary(out io.Writer, ref string, ann map[string]string, format string, payload []byte, sig string, problems []error) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "Secret:\t%s\n", ref)
	fmt.Fprintf(w, "Format:\t%s (schema %s)\n", format, ann[secret.AnnotationSchemaVersion])
	fmt.Fprintf(w, "Last changed:\t%s\n", lastChanged(ann[secret.AnnotationLastChanged]))
	fmt.Fprintf(w, "Digest:\t%s\n", ann[secret.AnnotationPayloadDigest])
	fmt.Fprintf(w, "Size:\t%d bytes\n", len(payload))
	switch format {
	case report.FormatName:
		var r report.Report
		if err := json.Unmarshal(payload, &r); err == nil {
			t := r.Totals
			fmt.Fprintf(w, "Install UUID:\t%s\n", r.Install.InstallUUID)
			fmt.Fprintf(w, "Mode:\t%s\n", r.Install.Mode)
			fmt.Fprintf(w, "Version:\t%s\n", r.Install.Version)
			fmt.Fprintf(w, "Clusters:\t%d\n", t.Clusters)
			fmt.Fprintf(w, "Nodes:\t%d\n", t.Nodes)
			fmt.Fprintf(w, "CPU cores:\t%d (%d millicores)\n", t.CPUCores, t.CPUMillicores)
			fmt.Fprintf(w, "Memory:\t%s (%d bytes)\n", humanBytes(t.MemoryBytes), t.MemoryBytes)
			fmt.Fprintf(w, "Invalid nodes:\t%d\n", t.InvalidNodes)
			fmt.Fprintf(w, "Node profiles:\t%d\n", len(r.NodeProfiles))
		}
	case scc.FormatName:
		var p struct {
			Version         string                  `json:"version"`
			ManagedSystems  []struct{ Count int64 } `json:"managedSystems"`
			ManagedClusters []struct{ Count int64 } `json:"managedClusters"`
		}
		if err := json.Unmarshal(payload, &p); err == nil {
			var nodes, clusters int64
			for _, m := range p.ManagedSystems {
				nodes += m.Count
			}
			for _, c := range p.ManagedClusters {
				clusters += c.Count
			}
			fmt.Fprintf(w, "Version:\t%s\n", p.Version)
			fmt.Fprintf(w, "Clusters:\t%d\n", clusters)
			fmt.Fprintf(w, "Nodes:\t%d\n", nodes)
		}
	}
	if len(problems) == 0 {
		fmt.Fprintf(w, "Check:\tOK (digest and schema verified, %s)\n", sig)
		return
	}
	fmt.Fprintf(w, "Check:\tFAILED (%s)\n", sig)
	for _, p := range problems {
		fmt.Fprintf(w, "  -\t%v\n", p)
	}
}

func lastChanged(v string) string {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return v
	}
	return fmt.Sprintf("%s (%s ago)", v, time.Since(t).Round(time.Second))
}

func humanBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
