package options

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	httpexporter "github.com/rancher/telemetry-manager/pkg/exporters/http"
)

// HTTP says where and how the http exporter sends the report. Its
// interval is --http-interval, made by Export like every exporter's.
type HTTP struct {
	// URL receives the POST.
	URL string
	// Secret is the credentials Secret in the telemetry namespace: keys
	// token (optional) and signingKey.
	Secret string
	// CAFile is a PEM file of CAs trusted besides the system's.
	CAFile  string
	Timeout time.Duration
	Gzip    bool
}

// NewHTTP returns the defaults.
func NewHTTP() HTTP {
	return HTTP{Timeout: httpexporter.DefaultTimeout, Gzip: true}
}

// AddFlags registers the --http-* flags of the http exporter.
func (o *HTTP) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.URL, "http-url", o.URL, "collector URL the http exporter POSTs the report to, e.g. https://collector.example.com/api/v1/reports")
	fs.StringVar(&o.Secret, "http-secret", o.Secret, "Secret in --secret-namespace holding the http exporter's signingKey (required) and token (optional)")
	fs.StringVar(&o.CAFile, "http-ca-file", o.CAFile, "PEM file of CA certificates the http exporter trusts besides the system's")
	fs.DurationVar(&o.Timeout, "http-timeout", o.Timeout, "bound of each request of the http exporter, from connecting to reading the answer")
	fs.BoolVar(&o.Gzip, "http-gzip", o.Gzip, "gzip the body the http exporter sends (Content-Encoding: gzip)")
}

// Validate checks the flags. With the exporter selected, --http-url and
// --http-secret are required; flags that are set are checked either way.
func (o *HTTP) Validate(selected bool) error {
	var errs []error
	switch {
	case o.URL == "" && selected:
		errs = append(errs, errors.New("--http-url: required by the http exporter"))
	case o.URL != "":
		if err := httpexporter.ValidateURL(o.URL); err != nil {
			errs = append(errs, fmt.Errorf("--http-url: %w", err))
		}
	}
	switch {
	case o.Secret == "" && selected:
		errs = append(errs, errors.New("--http-secret: required by the http exporter"))
	case o.Secret != "":
		errs = append(errs, CheckName("--http-secret", o.Secret, validation.IsDNS1123Subdomain))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--http-timeout %s: %w: must be positive", o.Timeout, ErrInvalidDuration))
	}
	return errors.Join(errs...)
}
