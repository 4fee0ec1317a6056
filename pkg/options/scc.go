package options

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	sccexporter "github.com/rancher/telemetry-manager/pkg/exporters/scc"
)

// SCC says where the scc exporter finds its Secrets and how it talks to
// SUSE Customer Center. How often it checks is --scc-interval, made by
// Export like every exporter's.
type SCC struct {
	// Namespace holds scc-registration, the credentials, the offline
	// request and the status ConfigMap.
	Namespace string
	// CAFile is a PEM file of CAs trusted besides the system's (an RMT's).
	CAFile string
	// PublicKeyFile is a PEM RSA public key that verifies offline
	// certificates instead of SUSE's.
	PublicKeyFile     string
	KeepaliveInterval time.Duration
}

// NewSCC returns the defaults.
func NewSCC() SCC {
	return SCC{Namespace: sccexporter.DefaultNamespace, KeepaliveInterval: sccexporter.DefaultKeepaliveInterval}
}

// AddFlags registers the --scc-* flags.
func (o *SCC) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Namespace, "scc-namespace", o.Namespace, "namespace of the scc exporter: Secret scc-registration, the credentials, the offline request and the status ConfigMap")
	fs.StringVar(&o.CAFile, "scc-ca-file", o.CAFile, "PEM file of CA certificates the scc exporter trusts besides the system's (a private RMT)")
	fs.StringVar(&o.PublicKeyFile, "scc-offline-public-key-file", o.PublicKeyFile, "PEM RSA public key that verifies offline certificates (default: SUSE's)")
	fs.DurationVar(&o.KeepaliveInterval, "scc-keepalive-interval", o.KeepaliveInterval, "time between SCC keepalives, plus up to 3h of jitter; also how often the offline request is regenerated")
}

// Validate checks the flags; the files are read, so that a bad one stops
// the start.
func (o *SCC) Validate() error {
	var errs []error
	errs = append(errs, CheckName("--scc-namespace", o.Namespace, validation.IsDNS1123Label))
	if o.KeepaliveInterval < time.Minute {
		errs = append(errs, fmt.Errorf("--scc-keepalive-interval %s: %w: must be at least 1m", o.KeepaliveInterval, ErrInvalidDuration))
	}
	if o.CAFile != "" {
		if _, err := os.Stat(o.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("--scc-ca-file: %w", err))
		}
	}
	if o.PublicKeyFile != "" {
		if _, err := sccexporter.ReadPublicKey(o.PublicKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("--scc-offline-public-key-file: %w", err))
		}
	}
	return errors.Join(errs...)
}
