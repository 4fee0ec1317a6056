package run

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rancher/telemetry-manager/pkg/exporters"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
)

// Modes accepted by --mode.
const (
	ModeAuto       = "auto"
	ModeRancher    = "rancher"
	ModeKubernetes = "kubernetes"
)

// Options configure the run command.
type Options struct {
	Kubeconfig       string
	Mode             string
	Interval         time.Duration
	MaxAge           time.Duration
	Debounce         time.Duration
	SecretNamespace  string
	SecretName       string
	IdentityName     string
	CreateNamespace  bool
	Exporters        string
	LogLevel         string
	LogFormat        string
	DisableTelemetry bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Kubeconfig:      os.Getenv("KUBECONFIG"),
		Mode:            ModeAuto,
		Interval:        time.Hour,
		MaxAge:          24 * time.Hour,
		Debounce:        2 * time.Second,
		SecretNamespace: secret.DefaultNamespace,
		SecretName:      secret.DefaultName,
		IdentityName:    "telemetry-identity",
		CreateNamespace: true,
		Exporters:       strings.Join(exporters.Defaults(), ","),
		LogLevel:        "info",
		LogFormat:       "text",
	}
}

// AddFlags registers the flags of the run command.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.AddConnectionFlags(fs)
	fs.DurationVar(&o.Interval, "interval", o.Interval, "how often each exporter runs; changes to clusters and nodes also trigger a run within seconds")
	fs.DurationVar(&o.MaxAge, "max-age", o.MaxAge, "rewrite an unchanged payload once it is this old (0: never)")
	fs.DurationVar(&o.Debounce, "debounce", o.Debounce, "how long to collect cache changes before exporting them")
	fs.StringVar(&o.SecretName, "secret-name", o.SecretName, "name of the Secret the secret exporter writes")
	fs.BoolVar(&o.CreateNamespace, "create-namespace", o.CreateNamespace, "create the telemetry namespace when it is missing")
	fs.StringVar(&o.Exporters, "exporters", o.Exporters, "comma-separated exporters to run (valid: "+strings.Join(exporters.Names(), ", ")+")")
	fs.BoolVar(&o.DisableTelemetry, "disable-telemetry", o.DisableTelemetry, "gather and export nothing")
	o.AddLogFlags(fs)
}

// AddConnectionFlags registers the flags that say which cluster to read and how.
func (o *Options) AddConnectionFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file (default $KUBECONFIG, else in-cluster)")
	fs.StringVar(&o.Mode, "mode", o.Mode, "what to read: auto (detect by discovery), rancher or kubernetes")
	fs.StringVar(&o.SecretNamespace, "secret-namespace", o.SecretNamespace, "telemetry namespace: holds the payload and identity Secrets")
}

// AddLogFlags registers --log-level and --log-format.
func (o *Options) AddLogFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "log level: trace, debug, info, warn, error")
	fs.StringVar(&o.LogFormat, "log-format", o.LogFormat, "log format: text or json")
}

// Validate reports every problem at once.
func (o *Options) Validate() error {
	var errs []error
	switch o.Mode {
	case ModeAuto, ModeRancher, ModeKubernetes:
	default:
		errs = append(errs, fmt.Errorf("--mode %q: must be auto, rancher or kubernetes", o.Mode))
	}
	if o.Interval < time.Second {
		errs = append(errs, fmt.Errorf("--interval %s: must be at least 1s", o.Interval))
	}
	if o.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("--max-age %s: must not be negative", o.MaxAge))
	}
	if o.Debounce < 0 {
		errs = append(errs, fmt.Errorf("--debounce %s: must not be negative", o.Debounce))
	}
	if o.SecretNamespace == "" {
		errs = append(errs, errors.New("--secret-namespace: must not be empty"))
	}
	if o.SecretName == "" {
		errs = append(errs, errors.New("--secret-name: must not be empty"))
	}
	if _, err := exporters.Select(o.Exporters); err != nil {
		errs = append(errs, fmt.Errorf("--exporters: %w", err))
	}
	if err := o.ValidateLog(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidateLog checks --log-level and --log-format.
func (o *Options) ValidateLog() error {
	var errs []error
	switch o.LogLevel {
	case "trace", "debug", "info", "warn", "warning", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: must be trace, debug, info, warn or error", o.LogLevel))
	}
	switch o.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: must be text or json", o.LogFormat))
	}
	return errors.Join(errs...)
}

// ValidateConnection checks only the connection and log flags (for payload and audit).
func (o *Options) ValidateConnection() error {
	var errs []error
	switch o.Mode {
	case ModeAuto, ModeRancher, ModeKubernetes:
	default:
		errs = append(errs, fmt.Errorf("--mode %q: must be auto, rancher or kubernetes", o.Mode))
	}
	if o.SecretNamespace == "" {
		errs = append(errs, errors.New("--secret-namespace: must not be empty"))
	}
	errs = append(errs, o.ValidateLog())
	return errors.Join(errs...)
}
