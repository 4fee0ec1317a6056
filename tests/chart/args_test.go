package chart

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/exporters"
)

// parseArgs checks that args are "run" followed by --flag=value arguments
// and returns the flags by name (the last value wins, as with pflag).
func parseArgs(t testing.TB, args []string) map[string]string {
	t.Helper()
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("args %v: want the run command first", args)
	}
	out := map[string]string{}
	for _, a := range args[1:] {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			t.Fatalf("argument %q: want --flag=value", a)
		}
		out[name] = value
	}
	return out
}

// runOptions parses args (as the Deployment passes them) with the flags of
// `telemetry-manager run`, then validates them as the command does.
func runOptions(t testing.TB, args []string) *controller.Options {
	t.Helper()
	parseArgs(t, args)
	o := controller.NewOptions()
	fs := pflag.NewFlagSet("telemetry-manager run", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		t.Fatalf("telemetry-manager run refuses the chart's arguments: %v\nargs: %v", err, args)
	}
	if fs.NArg() > 0 {
		t.Fatalf("unexpected arguments %v", fs.Args())
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("telemetry-manager run rejects the chart's arguments: %v\nargs: %v", err, args)
	}
	return o
}

// TestDeploymentArgs checks the exact arguments of the defaults.
func TestDeploymentArgs(t *testing.T) {
	got := containerArgs(t, render(t, release{}))
	want := []string{
		"run",
		"--mode=auto",
		"--secret-namespace=" + releaseNamespace,
		"--create-namespace=false",
		"--secret-name=telemetry",
		"--exporters=secret",
		"--interval=1h",
		"--max-age=24h",
		"--config-map-name=telemetry-manager",
		"--events-configmap=telemetry-events",
		"--events-buffer-size=500",
		"--events-flush-interval=10s",
		"--leader-elect=true",
		"--leader-election-namespace=" + releaseNamespace,
		"--leader-election-id=telemetry-manager",
		"--leader-election-lease-duration=15s",
		"--leader-election-renew-deadline=10s",
		"--leader-election-retry-period=2s",
		"--secret-requests=true",
		"--metrics-address=:8080",
		"--disable-telemetry=false",
		"--log-level=info",
		"--log-format=json",
	}
	if !slices.Equal(got, want) {
		t.Errorf("args:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestSecretExporterValuesReachTheCommand: the secret exporter's interval
// and namespace values render flags the real command takes.
func TestSecretExporterValuesReachTheCommand(t *testing.T) {
	args := containerArgs(t, render(t, release{set: []string{"exporters.secret.interval=15m", "exporters.secret.namespace=reports"}}))
	o := runOptions(t, args)
	if got := o.IntervalOf("secret"); got != 15*time.Minute {
		t.Errorf("secret exporter interval = %s, want 15m (args %v)", got, args)
	}
	if got := o.TargetNamespace(o.SecretNamespace); got != "reports" {
		t.Errorf("secret target namespace = %q, want reports", got)
	}
}

// TestExtensionsConfigMapReachesTheCommand: extensions.configMap renders
// --extensions-configmap, which the defaults leave out.
func TestExtensionsConfigMapReachesTheCommand(t *testing.T) {
	if o := runOptions(t, containerArgs(t, render(t, release{}))); o.ExtensionsConfigMap != "" {
		t.Errorf("default --extensions-configmap = %q, want none", o.ExtensionsConfigMap)
	}
	args := containerArgs(t, render(t, release{set: []string{"extensions.configMap=telemetry-extensions"}}))
	if o := runOptions(t, args); o.ExtensionsConfigMap != "telemetry-extensions" {
		t.Errorf("--extensions-configmap = %q, want telemetry-extensions (args %v)", o.ExtensionsConfigMap, args)
	}
}

// TestHTTPExporterValuesReachTheCommand: the http exporter's values render
// flags the real command takes, and a CA ConfigMap is mounted where
// --http-ca-file points.
func TestHTTPExporterValuesReachTheCommand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		set    []string
		caFile string
		mount  bool
	}{
		{"defaults", nil, "", false},
		{"CA file", []string{"exporters.http.caFile=/etc/ssl/private-ca.pem"}, "/etc/ssl/private-ca.pem", false},
		{"CA ConfigMap", []string{"exporters.http.caConfigMap=collector-ca"}, "/etc/telemetry-manager/http-ca/ca.crt", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set := append([]string{
				"exporters.http.enabled=true", "exporters.http.url=https://collector.example.com/api/v1/reports",
				"exporters.http.secretName=http-credentials", "exporters.http.gzip=false", "exporters.http.timeout=10s",
			}, tc.set...)
			objs := render(t, release{set: set})
			o := runOptions(t, containerArgs(t, objs))
			if o.Exporters != "secret,http" {
				t.Errorf("--exporters=%s, want secret,http", o.Exporters)
			}
			if o.HTTP.URL != "https://collector.example.com/api/v1/reports" || o.HTTP.Secret != "http-credentials" ||
				o.HTTP.Gzip || o.HTTP.Timeout != 10*time.Second || o.HTTP.CAFile != tc.caFile {
				t.Errorf("http options %+v, want the values", o.HTTP)
			}
			if got := o.IntervalOf("http"); got != 24*time.Hour {
				t.Errorf("http interval = %s, want 24h", got)
			}
			d := find(t, objs, "Deployment")
			volumes, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
			if got := len(volumes) == 1; got != tc.mount {
				t.Errorf("volumes %v, want the CA ConfigMap mounted: %v", volumes, tc.mount)
			}
			if tc.mount {
				cm, _, _ := unstructured.NestedString(volumes[0].(map[string]any), "configMap", "name")
				if cm != "collector-ca" {
					t.Errorf("volume of ConfigMap %q, want collector-ca", cm)
				}
			}
		})
	}
	// Off by default: no --http-* flag at all.
	for _, a := range containerArgs(t, render(t, release{})) {
		if strings.HasPrefix(a, "--http-") {
			t.Errorf("http exporter off, yet the chart passes %s", a)
		}
	}
}

// TestDeploymentArgsAccepted parses the arguments rendered with each ci/
// file with the flags of the real command, so a misspelt or removed flag, or
// a value the command refuses, fails here and not in a crash-looping pod.
func TestDeploymentArgsAccepted(t *testing.T) {
	for name, path := range ciValues(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := runOptions(t, containerArgs(t, render(t, release{valuesFile: path})))
			if o.SecretNamespace != releaseNamespace || o.LeaseNamespace() != releaseNamespace {
				t.Errorf("secret namespace %q, lease namespace %q: want the release namespace %q", o.SecretNamespace, o.LeaseNamespace(), releaseNamespace)
			}
			if o.CreateNamespace {
				t.Error("--create-namespace is true: the chart's release namespace exists, and the manager has no right to create namespaces")
			}
		})
	}
}

// TestDisableTelemetryArg checks that telemetry.disabled renders
// --disable-telemetry, and that the command takes it.
func TestDisableTelemetryArg(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    release
		want bool
	}{
		{"default", release{}, false},
		{"set", release{set: []string{"telemetry.disabled=true"}}, true},
		{"ci/disabled.yaml", release{valuesFile: ciValues(t)["disabled"]}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := containerArgs(t, render(t, tc.r))
			if tc.want && !slices.Contains(args, "--disable-telemetry=true") {
				t.Errorf("args %v lack --disable-telemetry=true", args)
			}
			if o := runOptions(t, args); o.DisableTelemetry != tc.want {
				t.Errorf("DisableTelemetry = %v, want %v", o.DisableTelemetry, tc.want)
			}
		})
	}
}

// TestExportersFollowTable checks that values.yaml has exporters.<name>
// for every exporter of pkg/exporters, enabled by default exactly when the
// table says so, and that the chart passes the enabled ones in table order.
func TestExportersFollowTable(t *testing.T) {
	values := readValues(t)
	chartExporters, _ := values["exporters"].(map[string]any)
	for _, e := range exporters.Table {
		v, ok := chartExporters[e.Name].(map[string]any)
		if !ok {
			t.Errorf("values.yaml has no exporters.%s", e.Name)
			continue
		}
		if v["enabled"] != e.Default {
			t.Errorf("exporters.%s.enabled = %v, the table's default is %v", e.Name, v["enabled"], e.Default)
		}
	}
	for name := range chartExporters {
		if !slices.Contains(exporters.Names(), name) {
			t.Errorf("values.yaml has exporters.%s, pkg/exporters has no such exporter", name)
		}
	}
	flags := parseArgs(t, containerArgs(t, render(t, release{})))
	if got, want := flags["exporters"], strings.Join(exporters.Defaults(), ","); got != want {
		t.Errorf("--exporters=%s, want the defaults %s", got, want)
	}
	flags = parseArgs(t, containerArgs(t, render(t, release{set: []string{"exporters.secret.enabled=false"}})))
	if got := flags["exporters"]; got != "" {
		t.Errorf("with every exporter off, --exporters=%s, want empty", got)
	}
}

// TestSecretRequestValuesReachTheCommand: the SecretRequest policy values
// render flags the real command takes, and the switch turns them off.
func TestSecretRequestValuesReachTheCommand(t *testing.T) {
	args := containerArgs(t, render(t, release{set: []string{
		"secretRequests.namespaces={cattle-scc-system,team-a}", "secretRequests.namespaceSelector=telemetry.cattle.io/target=yes",
	}}))
	o := runOptions(t, args)
	if !o.SecretRequests.Enabled || !slices.Equal(o.SecretRequests.Namespaces, []string{"cattle-scc-system", "team-a"}) ||
		o.NamespaceSelector != "telemetry.cattle.io/target=yes" {
		t.Errorf("secret requests = %+v, want enabled with both namespaces and the selector (args %v)", o.SecretRequests, args)
	}
	args = containerArgs(t, render(t, release{set: []string{"secretRequests.enabled=false", "secretRequests.namespaces={team-a}"}}))
	if o := runOptions(t, args); o.SecretRequests.Enabled || len(o.SecretRequests.Namespaces) > 0 {
		t.Errorf("secret requests = %+v, want disabled and no namespaces (args %v)", o.SecretRequests, args)
	}
}
