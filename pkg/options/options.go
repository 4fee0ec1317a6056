// Package options holds the command-line options of every command, one type
// per concern: which cluster to read (Connection), how to log (Logging),
// what to export and how often (Export), where to serve metrics and health
// (Serving), and leader election (LeaderElection). Each type has defaults,
// AddFlags and a Validate that reports every problem at once; the commands
// compose the concerns they need, so that a flag means the same everywhere.
package options

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/leaderelection"

	"github.com/rancher/telemetry-manager/pkg/exporters"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/identity"
)

// Flag errors, for errors.Is; each message names the flag and its value.
var (
	// ErrInvalidName marks a Secret, ConfigMap, Lease or namespace name that
	// Kubernetes would refuse.
	ErrInvalidName = errors.New("not a valid Kubernetes name")
	// ErrNoExporters means --exporters selects none.
	ErrNoExporters = errors.New("no exporter selected")
	// ErrInvalidAddress marks a --metrics-address that cannot be listened on.
	ErrInvalidAddress = errors.New("not a valid host:port address")
	// ErrInvalidDuration marks a duration out of its range.
	ErrInvalidDuration = errors.New("duration out of range")
)

// Modes accepted by --mode.
const (
	ModeAuto       = "auto"
	ModeRancher    = "rancher"
	ModeKubernetes = "kubernetes"
)

// Defaults of the options that have a name of their own.
const (
	DefaultConfigMapName    = "telemetry-manager"
	DefaultMetricsAddress   = ":8080"
	DefaultLeaderElectionID = "telemetry-manager"
)

// Connection says which cluster to read and where telemetry keeps its
// Secrets there.
type Connection struct {
	Kubeconfig string
	Mode       string
	// SecretNamespace is the telemetry namespace: the payload and identity
	// Secrets, and the switch ConfigMap.
	SecretNamespace string
	IdentityName    string
}

// NewConnection returns the defaults.
func NewConnection() Connection {
	return Connection{
		Kubeconfig:      os.Getenv("KUBECONFIG"),
		Mode:            ModeAuto,
		SecretNamespace: secret.DefaultNamespace,
		IdentityName:    identity.DefaultName,
	}
}

// AddFlags registers --kubeconfig, --secret-namespace and --identity-name.
func (o *Connection) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file (default $KUBECONFIG, else in-cluster)")
	fs.StringVar(&o.SecretNamespace, "secret-namespace", o.SecretNamespace, "telemetry namespace: holds the payload and identity Secrets")
	fs.StringVar(&o.IdentityName, "identity-name", o.IdentityName, "name of the identity Secret in --secret-namespace: its key makes cluster ids and signs payloads")
}

// AddModeFlag registers --mode, for the commands that read an installation.
func (o *Connection) AddModeFlag(fs *pflag.FlagSet) {
	fs.StringVar(&o.Mode, "mode", o.Mode, "what to read: auto (detect by discovery), rancher or kubernetes")
}

// Validate checks the mode, the namespace and the identity Secret's name.
func (o *Connection) Validate() error {
	var errs []error
	switch o.Mode {
	case ModeAuto, ModeRancher, ModeKubernetes:
	default:
		errs = append(errs, fmt.Errorf("--mode %q: must be auto, rancher or kubernetes", o.Mode))
	}
	if o.SecretNamespace == "" {
		errs = append(errs, errors.New("--secret-namespace: must not be empty"))
	} else {
		errs = append(errs, CheckName("--secret-namespace", o.SecretNamespace, validation.IsDNS1123Label))
	}
	if o.IdentityName == "" {
		errs = append(errs, errors.New("--identity-name: must not be empty"))
	} else {
		errs = append(errs, CheckName("--identity-name", o.IdentityName, validation.IsDNS1123Subdomain))
	}
	return errors.Join(errs...)
}

// Logging says how to log.
type Logging struct {
	LogLevel  string
	LogFormat string
}

// NewLogging returns the defaults.
func NewLogging() Logging { return Logging{LogLevel: "info", LogFormat: "text"} }

// AddFlags registers --log-level and --log-format.
func (o *Logging) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "log level: trace, debug, info, warn, error")
	fs.StringVar(&o.LogFormat, "log-format", o.LogFormat, "log format: text or json")
}

// Validate checks --log-level and --log-format.
func (o *Logging) Validate() error {
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

// Export says what the controller exports, where and how often.
type Export struct {
	Interval   time.Duration
	MaxAge     time.Duration
	Debounce   time.Duration
	SecretName string
	// SecretTargetNamespace is the namespace of the Secret the secret
	// exporter writes; empty means the telemetry namespace.
	SecretTargetNamespace string
	CreateNamespace       bool
	Exporters             string
	DisableTelemetry      bool
	// ConfigMapName is the ConfigMap in the telemetry namespace whose key
	// "disabled" switches exporting off and on at run time.
	ConfigMapName string
	// ExtensionsConfigMap is the ConfigMap in the telemetry namespace
	// whose key extensions.json holds the operator's extensions; empty
	// means none.
	ExtensionsConfigMap string
	// Events configures the lifecycle events.
	Events Events
	// Intervals are the exporters' own intervals (--NAME-interval), by
	// exporter name; 0 or absent means Interval.
	Intervals map[string]time.Duration
	// HTTP configures the http exporter.
	HTTP HTTP
}

// NewExport returns the defaults.
func NewExport() Export {
	intervals := map[string]time.Duration{}
	for _, e := range exporters.Table {
		if e.Interval > 0 {
			intervals[e.Name] = e.Interval
		}
	}
	return Export{
		Interval:        time.Hour,
		MaxAge:          24 * time.Hour,
		Debounce:        2 * time.Second,
		SecretName:      secret.DefaultName,
		CreateNamespace: true,
		Exporters:       strings.Join(exporters.Defaults(), ","),
		ConfigMapName:   DefaultConfigMapName,
		Intervals:       intervals,
		HTTP:            NewHTTP(),
		Events:          NewEvents(),
	}
}

// IntervalOf returns how often the named exporter runs: its own interval
// when set, else Interval.
func (o *Export) IntervalOf(name string) time.Duration {
	if d := o.Intervals[name]; d > 0 {
		return d
	}
	return o.Interval
}

// TargetNamespace returns the namespace of the secret exporter's Secret:
// the flag's, else def (the telemetry namespace).
func (o *Export) TargetNamespace(def string) string {
	if o.SecretTargetNamespace != "" {
		return o.SecretTargetNamespace
	}
	return def
}

// SwitchKey is the key of the switch ConfigMap that disables telemetry.
const SwitchKey = "disabled"

// AddFlags registers the export flags.
func (o *Export) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.Interval, "interval", o.Interval, "how often each exporter runs; changes to clusters and nodes also trigger a run within seconds")
	fs.DurationVar(&o.MaxAge, "max-age", o.MaxAge, "rewrite an unchanged payload once it is this old (0: never)")
	fs.DurationVar(&o.Debounce, "debounce", o.Debounce, "how long to collect cache changes before exporting them; less than --interval")
	fs.StringVar(&o.SecretName, "secret-name", o.SecretName, "name of the Secret the secret exporter writes")
	fs.StringVar(&o.SecretTargetNamespace, "secret-target-namespace", o.SecretTargetNamespace, "namespace of the Secret the secret exporter writes (default: --secret-namespace)")
	fs.BoolVar(&o.CreateNamespace, "create-namespace", o.CreateNamespace, "create the telemetry namespace when it is missing")
	fs.StringVar(&o.Exporters, "exporters", o.Exporters, "comma-separated exporters to run, at least one (valid: "+strings.Join(exporters.Names(), ", ")+")")
	fs.BoolVar(&o.DisableTelemetry, "disable-telemetry", o.DisableTelemetry, "gather and export nothing, open no connection (the hard switch; see --config-map-name for the runtime one)")
	if o.Intervals == nil {
		o.Intervals = map[string]time.Duration{}
	}
	for _, e := range exporters.Table {
		d := o.Intervals[e.Name]
		o.Intervals[e.Name] = d
		usage := "how often the " + e.Name + " exporter runs (default: --interval)"
		if e.Interval > 0 {
			usage = "how often the " + e.Name + " exporter runs (0: --interval)"
		}
		fs.Var(durationValue{o.Intervals, e.Name}, e.Name+"-interval", usage)
	}
	o.HTTP.AddFlags(fs)
	fs.StringVar(&o.ConfigMapName, "config-map-name", o.ConfigMapName, "ConfigMap in --secret-namespace whose key \""+SwitchKey+"\" (\"true\" or \"false\") stops and resumes exporting at runtime; a missing ConfigMap means enabled")
	fs.StringVar(&o.ExtensionsConfigMap, "extensions-configmap", o.ExtensionsConfigMap, "ConfigMap in --secret-namespace whose key \"extensions.json\" holds a JSON object of extension key to value that reports carry; changes apply without a restart (empty: none)")
	o.Events.AddFlags(fs)
}

// Validate checks the durations, the names and the exporter list.
func (o *Export) Validate() error {
	var errs []error
	if o.Interval < time.Second {
		errs = append(errs, fmt.Errorf("--interval %s: %w: must be at least 1s", o.Interval, ErrInvalidDuration))
	}
	if o.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("--max-age %s: %w: must not be negative", o.MaxAge, ErrInvalidDuration))
	}
	switch {
	case o.Debounce < 0:
		errs = append(errs, fmt.Errorf("--debounce %s: %w: must not be negative", o.Debounce, ErrInvalidDuration))
	case o.Debounce >= o.Interval && o.Interval >= time.Second:
		errs = append(errs, fmt.Errorf("--debounce %s: %w: must be less than --interval %s", o.Debounce, ErrInvalidDuration, o.Interval))
	}
	for _, name := range exporters.Names() {
		switch d := o.Intervals[name]; {
		case d == 0:
		case d < time.Second:
			errs = append(errs, fmt.Errorf("--%s-interval %s: %w: must be at least 1s (or 0: --interval)", name, d, ErrInvalidDuration))
		case o.Debounce >= d:
			errs = append(errs, fmt.Errorf("--%s-interval %s: %w: must be more than --debounce %s", name, d, ErrInvalidDuration, o.Debounce))
		}
	}
	if o.SecretName == "" {
		errs = append(errs, errors.New("--secret-name: must not be empty"))
	} else {
		errs = append(errs, CheckName("--secret-name", o.SecretName, validation.IsDNS1123Subdomain))
	}
	if o.SecretTargetNamespace != "" {
		errs = append(errs, CheckName("--secret-target-namespace", o.SecretTargetNamespace, validation.IsDNS1123Label))
	}
	errs = append(errs, CheckName("--config-map-name", o.ConfigMapName, validation.IsDNS1123Subdomain))
	if o.ExtensionsConfigMap != "" {
		errs = append(errs, CheckName("--extensions-configmap", o.ExtensionsConfigMap, validation.IsDNS1123Subdomain))
	}
	errs = append(errs, o.Events.Validate())
	selected, err := exporters.Select(o.Exporters)
	if err != nil {
		errs = append(errs, fmt.Errorf("--exporters: %w", err))
	} else if len(selected) == 0 {
		errs = append(errs, fmt.Errorf("--exporters %q: %w (valid: %s)", o.Exporters, ErrNoExporters, strings.Join(exporters.Names(), ", ")))
	}
	errs = append(errs, o.HTTP.Validate(o.Selected("http")))
	return errors.Join(errs...)
}

// Selected reports whether --exporters selects the named exporter.
func (o *Export) Selected(name string) bool {
	selected, err := exporters.Select(o.Exporters)
	if err != nil {
		return false
	}
	for _, e := range selected {
		if e.Name == name {
			return true
		}
	}
	return false
}

// Serving says where /metrics, /healthz and /readyz are served.
type Serving struct {
	// MetricsAddress serves /metrics, /healthz and /readyz; empty disables it.
	MetricsAddress string
}

// NewServing returns the defaults.
func NewServing() Serving { return Serving{MetricsAddress: DefaultMetricsAddress} }

// AddFlags registers --metrics-address and its deprecated former name
// --http-address, which sets the same value (the last one given wins).
func (o *Serving) AddFlags(fs *pflag.FlagSet) {
	const usage = "host:port serving /metrics, /healthz and /readyz; port 0 picks a free one (empty: none)"
	fs.StringVar(&o.MetricsAddress, "metrics-address", o.MetricsAddress, usage)
	fs.StringVar(&o.MetricsAddress, "http-address", o.MetricsAddress, usage)
	// Fails only for a flag that does not exist.
	_ = fs.MarkDeprecated("http-address", "use --metrics-address")
}

// Validate checks the address.
func (o *Serving) Validate() error {
	if o.MetricsAddress == "" {
		return nil
	}
	return checkAddress("--metrics-address", o.MetricsAddress)
}

// LeaderElection says whether and how replicas elect the one that exports.
type LeaderElection struct {
	LeaderElect bool
	// LeaderElectionNamespace holds the Lease; empty means the telemetry
	// namespace.
	LeaderElectionNamespace string
	// LeaderElectionID is the name of the Lease.
	LeaderElectionID string
	LeaseDuration    time.Duration
	RenewDeadline    time.Duration
	RetryPeriod      time.Duration
}

// NewLeaderElection returns the defaults.
func NewLeaderElection() LeaderElection {
	return LeaderElection{
		LeaderElectionID: DefaultLeaderElectionID,
		LeaseDuration:    15 * time.Second,
		RenewDeadline:    10 * time.Second,
		RetryPeriod:      2 * time.Second,
	}
}

// AddFlags registers the leader election flags.
func (o *LeaderElection) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "export only while holding a Lease, so that one of several replicas exports")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "namespace of the Lease (default: --secret-namespace)")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "name of the Lease")
	fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", o.LeaseDuration, "how long other replicas wait after the last renewal before taking the Lease")
	fs.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", o.RenewDeadline, "how long the leader retries renewing before it stops exporting and exits")
	fs.DurationVar(&o.RetryPeriod, "leader-election-retry-period", o.RetryPeriod, "how often replicas try to acquire or renew the Lease")
}

// LeaseNamespace returns the namespace of the Lease: the flag's, else def.
func (o *LeaderElection) LeaseNamespace(def string) string {
	if o.LeaderElectionNamespace != "" {
		return o.LeaderElectionNamespace
	}
	return def
}

// Validate checks the Lease's name and namespace and the timings. They are
// checked even without --leader-elect, so that a chart that always passes
// them learns of a mistake before turning election on.
func (o *LeaderElection) Validate() error {
	errs := []error{
		// A Lease name, like a Secret's, is a DNS-1123 subdomain.
		CheckName("--leader-election-id", o.LeaderElectionID, validation.IsDNS1123Subdomain),
	}
	if o.LeaderElectionNamespace != "" {
		errs = append(errs, CheckName("--leader-election-namespace", o.LeaderElectionNamespace, validation.IsDNS1123Label))
	}
	switch {
	case o.LeaseDuration <= 0 || o.RenewDeadline <= 0 || o.RetryPeriod <= 0:
		errs = append(errs, fmt.Errorf("--leader-election-lease-duration %s, --leader-election-renew-deadline %s, --leader-election-retry-period %s: must all be positive",
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod))
	default:
		if o.RenewDeadline >= o.LeaseDuration {
			errs = append(errs, fmt.Errorf("--leader-election-renew-deadline %s: must be less than --leader-election-lease-duration %s", o.RenewDeadline, o.LeaseDuration))
		}
		// client-go also wants the deadline to exceed the jittered retry period.
		if jittered := time.Duration(leaderelection.JitterFactor * float64(o.RetryPeriod)); o.RenewDeadline <= jittered {
			errs = append(errs, fmt.Errorf("--leader-election-retry-period %s: must be less than --leader-election-renew-deadline %s divided by %.1f", o.RetryPeriod, o.RenewDeadline, leaderelection.JitterFactor))
		}
	}
	return errors.Join(errs...)
}

// CheckName checks a name with one of apimachinery's validation functions
// and returns nil, or one error wrapping ErrInvalidName with every reason.
func CheckName(flag, value string, check func(string) []string) error {
	reasons := check(value)
	if len(reasons) == 0 {
		return nil
	}
	return fmt.Errorf("%s %q: %w: %s", flag, value, ErrInvalidName, strings.Join(reasons, "; "))
}

// checkAddress checks a host:port to listen on: the host empty (every
// interface), an IP or a DNS name; the port a number from 0 to 65535, where
// 0 asks for any free port (tests use it; the controller's HTTPAddr tells
// which).
func checkAddress(flag, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w: %w", flag, addr, ErrInvalidAddress, err)
	}
	var errs []string
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && n == 0) {
		errs = append(errs, fmt.Sprintf("port %q must be a number from 0 to 65535 (0: any free port)", port))
	}
	if host != "" && net.ParseIP(host) == nil {
		if reasons := validation.IsDNS1123Subdomain(host); len(reasons) > 0 {
			errs = append(errs, fmt.Sprintf("host %q is neither an IP address nor a DNS name", host))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s %q: %w: %s", flag, addr, ErrInvalidAddress, strings.Join(errs, "; "))
	}
	return nil
}

// durationValue is a pflag value that keeps a duration in a map entry, so
// that the flags of every exporter in the table write into one map.
type durationValue struct {
	m    map[string]time.Duration
	name string
}

func (v durationValue) String() string {
	if v.m == nil {
		return "0s"
	}
	return v.m[v.name].String()
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	v.m[v.name] = d
	return nil
}

func (v durationValue) Type() string { return "duration" }
