package controller

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	httpexporter "github.com/rancher/telemetry-manager/pkg/exporters/http"
	sccexporter "github.com/rancher/telemetry-manager/pkg/exporters/scc"
	"github.com/rancher/telemetry-manager/pkg/options"
)

// flagError is one problem Validate must report: the flag it names and
// the sentinel it matches (nil: only the flag name is checked).
type flagError struct {
	flag string
	is   error
}

// badFlags sets each flag to a bad value alone; "every bad flag at once"
// applies all of them.
var badFlags = []struct {
	name   string
	change func(o *Options)
	want   flagError
}{
	{"secret name with capitals and underscore", func(o *Options) { o.SecretName = "Bad_Name" }, flagError{"--secret-name", options.ErrInvalidName}},
	{"secret name too long", func(o *Options) { o.SecretName = strings.Repeat("a", 254) }, flagError{"--secret-name", options.ErrInvalidName}},
	{"secret namespace with a dot", func(o *Options) { o.SecretNamespace = "cattle.telemetry" }, flagError{"--secret-namespace", options.ErrInvalidName}},
	{"config map name", func(o *Options) { o.ConfigMapName = "Bad_Name" }, flagError{"--config-map-name", options.ErrInvalidName}},
	{"lease name", func(o *Options) { o.LeaderElectionID = "lease/1" }, flagError{"--leader-election-id", options.ErrInvalidName}},
	{"lease namespace", func(o *Options) { o.LeaderElectionNamespace = "a.b" }, flagError{"--leader-election-namespace", options.ErrInvalidName}},
	{"exporters empty", func(o *Options) { o.Exporters = "" }, flagError{"--exporters", options.ErrNoExporters}},
	{"exporters only blanks and commas", func(o *Options) { o.Exporters = " , ,," }, flagError{"--exporters", options.ErrNoExporters}},
	{"exporter unknown", func(o *Options) { o.Exporters = "secret,nope" }, flagError{"--exporters", nil}},
	{"http address without port", func(o *Options) { o.MetricsAddress = "8080" }, flagError{"--metrics-address", options.ErrInvalidAddress}},
	{"http port above 65535", func(o *Options) { o.MetricsAddress = ":65536" }, flagError{"--metrics-address", options.ErrInvalidAddress}},
	{"http port negative", func(o *Options) { o.MetricsAddress = ":-1" }, flagError{"--metrics-address", options.ErrInvalidAddress}},
	{"http port by service name", func(o *Options) { o.MetricsAddress = ":http" }, flagError{"--metrics-address", options.ErrInvalidAddress}},
	{"http host unparsable", func(o *Options) { o.MetricsAddress = "bad_host!:8080" }, flagError{"--metrics-address", options.ErrInvalidAddress}},
	{"interval below a second", func(o *Options) { o.Interval = time.Millisecond }, flagError{"--interval", options.ErrInvalidDuration}},
	{"max age negative", func(o *Options) { o.MaxAge = -time.Second }, flagError{"--max-age", options.ErrInvalidDuration}},
	{"debounce negative", func(o *Options) { o.Debounce = -time.Second }, flagError{"--debounce", options.ErrInvalidDuration}},
	{"debounce not below interval", func(o *Options) { o.Interval, o.Debounce = time.Minute, time.Minute }, flagError{"--debounce", options.ErrInvalidDuration}},
	{"exporter interval below a second", func(o *Options) { o.Intervals["secret"] = time.Millisecond }, flagError{"--secret-interval", options.ErrInvalidDuration}},
	{"exporter interval not above debounce", func(o *Options) { o.Intervals["secret"] = time.Second }, flagError{"--secret-interval", options.ErrInvalidDuration}},
	{"http exporter without url", func(o *Options) { o.Exporters, o.HTTP.Secret = "secret,http", "creds" }, flagError{"--http-url: required", nil}},
	{"http exporter without secret", func(o *Options) { o.Exporters, o.HTTP.URL = "http", "https://c.example" }, flagError{"--http-secret: required", nil}},
	{"http url not http", func(o *Options) { o.HTTP.URL = "ftp://c.example" }, flagError{"--http-url", httpexporter.ErrInvalidURL}},
	{"http url without host", func(o *Options) { o.HTTP.URL = "https:///api/v1/reports" }, flagError{"--http-url", httpexporter.ErrInvalidURL}},
	{"http secret name", func(o *Options) { o.HTTP.Secret = "Bad_Name" }, flagError{"--http-secret", options.ErrInvalidName}},
	{"http timeout zero", func(o *Options) { o.HTTP.Timeout = 0 }, flagError{"--http-timeout", options.ErrInvalidDuration}},
	{"mode unknown", func(o *Options) { o.Mode = "x" }, flagError{"--mode", nil}},
	{"log format unknown", func(o *Options) { o.LogFormat = "xml" }, flagError{"--log-format", nil}},
	{"renew not below lease", func(o *Options) { o.RenewDeadline = o.LeaseDuration }, flagError{"--leader-election-renew-deadline 15s: must be less than --leader-election-lease-duration 15s", nil}},
	{"retry above renew over jitter", func(o *Options) { o.RetryPeriod = 9 * time.Second }, flagError{"--leader-election-retry-period 9s", nil}},
	{"non-positive timing", func(o *Options) { o.RetryPeriod = 0 }, flagError{"must all be positive", nil}},
	{"secret request namespace", func(o *Options) { o.SecretRequests.Namespaces = []string{"ok", "Bad_NS"} }, flagError{"--secret-request-namespaces", options.ErrInvalidName}},
	{"secret request selector", func(o *Options) { o.NamespaceSelector = "a in (b" }, flagError{"--secret-request-namespace-selector", nil}},
	{"scc namespace", func(o *Options) { o.SCC.Namespace = "cattle.scc" }, flagError{"--scc-namespace", options.ErrInvalidName}},
	{"scc keepalive below a minute", func(o *Options) { o.SCC.KeepaliveInterval = time.Second }, flagError{"--scc-keepalive-interval", options.ErrInvalidDuration}},
	{"scc CA file missing", func(o *Options) { o.SCC.CAFile = "/nonexistent/ca.pem" }, flagError{"--scc-ca-file", nil}},
	{"scc public key file missing", func(o *Options) { o.SCC.PublicKeyFile = "/nonexistent/key.pem" }, flagError{"--scc-offline-public-key-file", sccexporter.ErrPublicKey}},
}

// flagErrors returns the errors errors.Join put together, one per problem.
func flagErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok { // the joined list itself, not one inside it
		return j.Unwrap()
	}
	return []error{err}
}

// reported reports whether one of the problems names the flag and matches
// its sentinel.
func reported(problems []error, w flagError) bool {
	for _, p := range problems {
		if strings.Contains(p.Error(), w.flag) && (w.is == nil || errors.Is(p, w.is)) {
			return true
		}
	}
	return false
}

func TestValidateAcceptsGoodFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(o *Options)
	}{
		{"defaults", func(*Options) {}},
		{"leader election on with defaults", func(o *Options) { o.LeaderElect = true }},
		{"short test timings", func(o *Options) {
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 2*time.Second, 1500*time.Millisecond, 300*time.Millisecond
		}},
		{"http disabled", func(o *Options) { o.MetricsAddress = "" }},
		{"http on a free port", func(o *Options) { o.MetricsAddress = "127.0.0.1:0" }},
		{"http on ipv6 loopback", func(o *Options) { o.MetricsAddress = "[::1]:8080" }},
		{"http on a host name", func(o *Options) { o.MetricsAddress = "localhost:65535" }},
		{"dotted secret name", func(o *Options) { o.SecretName = "telemetry.v1" }},
		{"exporters with blanks", func(o *Options) { o.Exporters = " secret , " }},
		{"http exporter configured", func(o *Options) {
			o.Exporters, o.HTTP.URL, o.HTTP.Secret = "secret,http", "https://collector.example.com/api/v1/reports", "http-credentials"
		}},
		{"http exporter alone", func(o *Options) {
			o.Exporters, o.HTTP.URL, o.HTTP.Secret = "http", "http://10.0.0.1:8080/api/v1/reports", "creds"
		}},
		{"one second interval", func(o *Options) { o.Interval, o.Debounce = time.Second, 100*time.Millisecond }},
		{"secret request policy", func(o *Options) {
			o.SecretRequests.Namespaces, o.NamespaceSelector = []string{"cattle-scc-system", "team-a"}, "telemetry.cattle.io/target in (yes)"
		}},
		{"scc exporter with defaults", func(o *Options) { o.Exporters = "secret,scc" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			tc.change(o)
			if err := o.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejectsEachBadFlag(t *testing.T) {
	for _, tc := range badFlags {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			tc.change(o)
			err := o.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %s", tc.want.flag)
			}
			if !reported(flagErrors(err), tc.want) {
				t.Fatalf("Validate() = %v\nwant a problem naming %q matching %v", err, tc.want.flag, tc.want.is)
			}
		})
	}
}

func TestValidateReportsEveryBadFlagAtOnce(t *testing.T) {
	o := NewOptions()
	o.Mode = "x"
	o.SecretName, o.SecretNamespace, o.ConfigMapName = "Bad_Name", "a.b", "Bad_Name"
	o.LeaderElectionID, o.LeaderElectionNamespace = "lease/1", "c.d"
	o.Exporters = " , "
	o.MetricsAddress = ":65536"
	o.Interval, o.Debounce, o.MaxAge = time.Minute, time.Minute, -time.Second
	o.RenewDeadline = o.LeaseDuration
	o.LogFormat = "xml"
	want := []flagError{
		{"--mode", nil},
		{"--secret-name", options.ErrInvalidName},
		{"--secret-namespace", options.ErrInvalidName},
		{"--config-map-name", options.ErrInvalidName},
		{"--leader-election-id", options.ErrInvalidName},
		{"--leader-election-namespace", options.ErrInvalidName},
		{"--exporters", options.ErrNoExporters},
		{"--metrics-address", options.ErrInvalidAddress},
		{"--debounce", options.ErrInvalidDuration},
		{"--max-age", options.ErrInvalidDuration},
		{"--leader-election-renew-deadline", nil},
		{"--log-format", nil},
	}
	err := o.Validate()
	problems := flagErrors(err)
	for _, w := range want {
		if !reported(problems, w) {
			t.Errorf("no problem naming %q (matching %v) in\n%v", w.flag, w.is, err)
		}
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(want) {
		t.Errorf("%d lines, want %d (one per bad flag):\n%v", len(lines), len(want), err)
	}
}

// TestCommandsShareTheConnectionRules: the connection concern is one type,
// so a bad namespace or identity name is refused the same way by run and
// by the commands that embed options.Connection.
func TestCommandsShareTheConnectionRules(t *testing.T) {
	o := NewOptions()
	o.SecretNamespace, o.IdentityName = "Bad_NS", "Bad_Identity"
	run := o.Validate()
	conn := o.Connection.Validate()
	for _, flag := range []string{"--secret-namespace", "--identity-name"} {
		for name, err := range map[string]error{"run": run, "connection": conn} {
			if !reported(flagErrors(err), flagError{flag, options.ErrInvalidName}) {
				t.Errorf("%s: %v, want options.ErrInvalidName naming %s", name, err, flag)
			}
		}
	}
}

func TestLeaseNamespaceDefaultsToSecretNamespace(t *testing.T) {
	o := NewOptions()
	o.SecretNamespace = "telemetry"
	if got := o.LeaseNamespace(); got != "telemetry" {
		t.Fatalf("LeaseNamespace() = %q, want the secret namespace", got)
	}
	o.LeaderElectionNamespace = "leases"
	if got := o.LeaseNamespace(); got != "leases" {
		t.Fatalf("LeaseNamespace() = %q, want leases", got)
	}
}

func TestExporterIntervalFlagOverridesInterval(t *testing.T) {
	o := NewOptions()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--interval=2h"}); err != nil {
		t.Fatal(err)
	}
	if got := o.IntervalOf("secret"); got != 2*time.Hour {
		t.Fatalf("IntervalOf(secret) = %s without --secret-interval, want --interval's 2h", got)
	}
	if err := fs.Parse([]string{"--secret-interval=15m"}); err != nil {
		t.Fatal(err)
	}
	if got := o.IntervalOf("secret"); got != 15*time.Minute {
		t.Fatalf("IntervalOf(secret) = %s, want 15m", got)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPExporterDefaultsToADailyInterval(t *testing.T) {
	o := NewOptions()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--interval=2h", "--exporters=secret,http", "--http-url=https://c.example", "--http-secret=creds"}); err != nil {
		t.Fatal(err)
	}
	if got := o.IntervalOf("http"); got != 24*time.Hour {
		t.Fatalf("IntervalOf(http) = %s, want 24h whatever --interval says", got)
	}
	if got := o.IntervalOf("secret"); got != 2*time.Hour {
		t.Fatalf("IntervalOf(secret) = %s, want --interval's 2h", got)
	}
	if err := fs.Parse([]string{"--http-interval=6h"}); err != nil {
		t.Fatal(err)
	}
	if got := o.IntervalOf("http"); got != 6*time.Hour {
		t.Fatalf("IntervalOf(http) = %s, want 6h", got)
	}
	if !o.HTTP.Gzip || o.HTTP.Timeout != 30*time.Second {
		t.Fatalf("http defaults: gzip %v, timeout %s; want true, 30s", o.HTTP.Gzip, o.HTTP.Timeout)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPAddressIsADeprecatedAliasOfMetricsAddress(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, options.DefaultMetricsAddress},
		{[]string{"--metrics-address=127.0.0.1:9090"}, "127.0.0.1:9090"},
		{[]string{"--http-address=127.0.0.1:9091"}, "127.0.0.1:9091"},
		{[]string{"--http-address="}, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o := NewOptions()
			fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
			var out strings.Builder
			fs.SetOutput(&out)
			o.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if o.MetricsAddress != tc.want {
				t.Fatalf("MetricsAddress = %q, want %q", o.MetricsAddress, tc.want)
			}
			deprecated := len(tc.args) > 0 && strings.HasPrefix(tc.args[0], "--http-address")
			if warned := strings.Contains(out.String(), "use --metrics-address"); warned != deprecated {
				t.Fatalf("deprecation warning %q, want one only for --http-address", out.String())
			}
		})
	}
}
