package options

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// SecretRequests says whether SecretRequests are served and which
// namespaces they may target.
type SecretRequests struct {
	// Enabled runs the SecretRequest controller, when its CRD is served.
	Enabled bool
	// Namespaces may be targets, in either mode.
	Namespaces []string
	// NamespaceSelector is a label selector: the namespaces it matches may
	// be targets, in either mode. Empty selects none.
	NamespaceSelector string
}

// NewSecretRequests returns the defaults: enabled, no namespace beyond the
// mode's defaults.
func NewSecretRequests() SecretRequests { return SecretRequests{Enabled: true} }

// AddFlags registers --secret-requests, --secret-request-namespaces and
// --secret-request-namespace-selector.
func (o *SecretRequests) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Enabled, "secret-requests", o.Enabled, "serve SecretRequests (telemetry.cattle.io/v1) when their CRD is installed")
	fs.StringSliceVar(&o.Namespaces, "secret-request-namespaces", o.Namespaces, "namespaces a SecretRequest may target, besides the mode's defaults (rancher: the System project's namespaces; kubernetes, when neither this nor the selector is set: --secret-namespace and cattle-scc-system)")
	fs.StringVar(&o.NamespaceSelector, "secret-request-namespace-selector", o.NamespaceSelector, "label selector of the namespaces a SecretRequest may target, besides the mode's defaults")
}

// Validate checks the namespace names and the selector.
func (o *SecretRequests) Validate() error {
	var errs []error
	for _, ns := range o.Namespaces {
		errs = append(errs, CheckName("--secret-request-namespaces", ns, validation.IsDNS1123Label))
	}
	if strings.TrimSpace(o.NamespaceSelector) != "" {
		if _, err := labels.Parse(o.NamespaceSelector); err != nil {
			errs = append(errs, fmt.Errorf("--secret-request-namespace-selector %q: %w", o.NamespaceSelector, err))
		}
	}
	return errors.Join(errs...)
}
