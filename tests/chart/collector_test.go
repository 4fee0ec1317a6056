package chart

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rancher/telemetry-manager/pkg/collector/server"
	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// collectorRelease is the collector chart rendered with a values file and
// --set assignments, into namespace ns (the documented one when empty).
func collectorRelease(ns, valuesFile string, set ...string) release {
	return release{chart: collectorDir, name: "telemetry-collector", namespace: ns, valuesFile: valuesFile, set: set}
}

// withKeys is the --set every collector rendering needs.
const withKeys = "signingKeys.existingSecret=collector-keys"

// TestCollectorSchemaRejects checks that helm refuses values of the
// collector chart that the schema (or a template check) rules out, naming
// the culprit.
func TestCollectorSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string // in helm's error
	}{
		{"no signing keys", nil, "signingKeys.existingSecret"},
		{"unknown top-level key", []string{withKeys, "ingress.enabled=true"}, "ingress"},
		{"unknown database key", []string{withKeys, "database.mysql.url=x"}, "mysql"},
		{"unknown database type", []string{withKeys, "database.type=mysql"}, "type"},
		{"postgres without its secret", []string{withKeys, "database.type=postgres"}, "database.postgres.existingSecret"},
		{"replicas not a number", []string{withKeys, "replicas=many"}, "replicas"},
		{"negative replicas", []string{withKeys, "replicas=-1"}, "replicas"},
		{"max body zero", []string{withKeys, "maxBody=0"}, "maxBody"},
		{"max decompressed not a number", []string{withKeys, "maxDecompressed=2MiB"}, "maxDecompressed"},
		{"rate zero", []string{withKeys, "rate=0"}, "rate"},
		{"rate zero as text", []string{withKeys, "rate=0.0"}, "rate"},
		{"rate not a number", []string{withKeys, "rate=fast"}, "rate"},
		{"rate above a million", []string{withKeys, "rate=2000000"}, "rate"},
		{"burst zero", []string{withKeys, "rateBurst=0"}, "rateBurst"},
		{"retention zero", []string{withKeys, "retention=0s"}, "retention"},
		{"retention not a Go duration", []string{withKeys, "retention=1year"}, "retention"},
		{"active window a bare number", []string{withKeys, "activeWindow=7"}, "activeWindow"},
		{"claim size not a quantity", []string{withKeys, "database.sqlite.persistence.size=lots"}, "size"},
		{"storage class invalid", []string{withKeys, "database.sqlite.persistence.storageClass=Fast_SSD"}, "storageClass"},
		{"secret name invalid", []string{"signingKeys.existingSecret=Bad_Name"}, "existingSecret"},
		{"secret key invalid", []string{withKeys, "signingKeys.key=a/b"}, "key"},
		{"port out of range", []string{withKeys, "service.port=70000"}, "port"},
		{"unknown service type", []string{withKeys, "service.type=ExternalName"}, "type"},
		{"bad log level", []string{withKeys, "logLevel=verbose"}, "logLevel"},
		{"boolean as string", []string{withKeys, "serviceMonitor.enabled=yes"}, "enabled"},
		{"extra arg not a flag", []string{withKeys, "extraArgs={debug}"}, "extraArgs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, append([]string{"template"}, collectorRelease("", "", tc.set...).args()...)...)
			if err == nil {
				t.Fatalf("helm template --set %s succeeded, want a refusal:\n%s", strings.Join(tc.set, ","), out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the refusal does not name %q: %v", tc.want, err)
			}
		})
	}
}

// TestCollectorSchemaAccepts checks values the schema must not refuse.
func TestCollectorSchemaAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
	}{
		{"fractional rate", []string{withKeys, "rate=0.5"}},
		{"durations", []string{withKeys, "retention=720h", "activeWindow=1h30m", "reloadInterval=500ms"}},
		{"no storage class", []string{withKeys, "database.sqlite.persistence.storageClass=-"}},
		{"scaled to zero", []string{withKeys, "replicas=0"}},
		{"postgres", []string{withKeys, "database.type=postgres", "database.postgres.existingSecret=db", "replicas=5"}},
		{"load balancer", []string{withKeys, "service.type=LoadBalancer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := helm(t, append([]string{"template"}, collectorRelease("", "", tc.set...).args()...)...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCollectorArgs checks the exact arguments of the defaults.
func TestCollectorArgs(t *testing.T) {
	got := containerArgs(t, render(t, collectorRelease("", "", withKeys)))
	want := []string{
		"--listen=:8090",
		"--database=sqlite:/var/lib/telemetry-collector/telemetry-collector.db",
		"--signing-keys-file=/etc/telemetry-collector/signing-keys/keys",
		"--reload-interval=10s",
		"--max-body=1048576",
		"--max-decompressed=2097152",
		"--rate=60",
		"--rate-burst=10",
		"--retention=8760h",
		"--active-window=168h",
		"--shutdown-timeout=30s",
		"--log-level=info",
		"--log-format=json",
	}
	if !slices.Equal(got, want) {
		t.Errorf("args:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// podOf returns the pod spec of the Deployment.
func podOf(t testing.TB, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	pod, _, err := unstructured.NestedMap(find(t, objs, "Deployment").Object, "spec", "template", "spec")
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// volumeOf returns the pod volume mounted at the directory of file, and
// whether the mount is read-only.
func volumeOf(t testing.TB, objs []*unstructured.Unstructured, file string) (vol map[string]any, readOnly bool) {
	t.Helper()
	mounts, _, _ := unstructured.NestedSlice(container(t, objs), "volumeMounts")
	for _, m := range mounts {
		m := m.(map[string]any)
		if m["mountPath"] != filepath.Dir(file) {
			continue
		}
		volumes, _, _ := unstructured.NestedSlice(podOf(t, objs), "volumes")
		for _, v := range volumes {
			if v := v.(map[string]any); v["name"] == m["name"] {
				ro, _ := m["readOnly"].(bool)
				return v, ro
			}
		}
		t.Fatalf("mount %v names no volume", m)
	}
	t.Fatalf("nothing is mounted at %s, the directory of %s", filepath.Dir(file), file)
	return nil, false
}

// TestCollectorDatabase checks what each storage choice renders: the
// replicas, the update strategy, the claim, the volume and how the URL
// reaches the collector.
func TestCollectorDatabase(t *testing.T) {
	for _, tc := range []struct {
		name         string
		set          []string
		replicas     int64
		recreate     bool
		claim        string // the PersistentVolumeClaim rendered, if any
		storageClass any    // of the rendered claim; nil: not set
		volume       string // "claim:<name>", "emptyDir" or "" (no data volume)
		postgres     bool
	}{
		{"sqlite on a new claim", nil, 1, true, "telemetry-collector-data", nil, "claim:telemetry-collector-data", false},
		{"sqlite forces one replica", []string{"replicas=4"}, 1, true, "telemetry-collector-data", nil, "claim:telemetry-collector-data", false},
		{"sqlite scaled to zero", []string{"replicas=0"}, 0, true, "telemetry-collector-data", nil, "claim:telemetry-collector-data", false},
		{"sqlite on a storage class", []string{"database.sqlite.persistence.storageClass=fast", "database.sqlite.persistence.size=20Gi"}, 1, true, "telemetry-collector-data", "fast", "claim:telemetry-collector-data", false},
		{"sqlite with no storage class", []string{"database.sqlite.persistence.storageClass=-"}, 1, true, "telemetry-collector-data", "", "claim:telemetry-collector-data", false},
		{"sqlite on an existing claim", []string{"database.sqlite.persistence.existingClaim=reports"}, 1, true, "", nil, "claim:reports", false},
		{"sqlite in an emptyDir", []string{"database.sqlite.persistence.enabled=false"}, 1, true, "", nil, "emptyDir", false},
		{"postgres with replicas", []string{"database.type=postgres", "database.postgres.existingSecret=db", "database.postgres.key=dsn", "replicas=3"}, 3, false, "", nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, collectorRelease("", "", append([]string{withKeys}, tc.set...)...))
			d := find(t, objs, "Deployment")
			if got, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); got != tc.replicas {
				t.Errorf("replicas = %d, want %d", got, tc.replicas)
			}
			strategy, _, _ := unstructured.NestedString(d.Object, "spec", "strategy", "type")
			if (strategy == "Recreate") != tc.recreate {
				t.Errorf("strategy %q, want Recreate: %v", strategy, tc.recreate)
			}

			var claims []*unstructured.Unstructured
			for _, o := range objs {
				if o.GetKind() == "PersistentVolumeClaim" {
					claims = append(claims, o)
				}
			}
			switch {
			case tc.claim == "" && len(claims) > 0:
				t.Errorf("rendered the claim %s, want none", claims[0].GetName())
			case tc.claim != "" && (len(claims) != 1 || claims[0].GetName() != tc.claim):
				t.Errorf("rendered %d claims, want only %s", len(claims), tc.claim)
			case tc.claim != "":
				sc, found, _ := unstructured.NestedFieldNoCopy(claims[0].Object, "spec", "storageClassName")
				if !found {
					sc = nil
				}
				if sc != tc.storageClass {
					t.Errorf("storageClassName = %#v, want %#v", sc, tc.storageClass)
				}
				if claims[0].GetAnnotations()["helm.sh/resource-policy"] != "keep" {
					t.Error("the claim is not kept on uninstall")
				}
			}

			args := containerArgs(t, objs)
			flags := collectorFlags(t, args)
			env, _, _ := unstructured.NestedSlice(container(t, objs), "env")
			if tc.postgres {
				if v, ok := flags["database"]; ok {
					t.Errorf("--database=%s in the arguments, want the URL in the environment only", v)
				}
				ref := envSecretRef(env, server.DatabaseEnv)
				if ref == nil || ref["name"] != "db" || ref["key"] != "dsn" {
					t.Errorf("%s comes from %v, want the Secret db, key dsn", server.DatabaseEnv, ref)
				}
				return
			}
			if envSecretRef(env, server.DatabaseEnv) != nil {
				t.Errorf("%s is set with SQLite", server.DatabaseEnv)
			}
			file, ok := strings.CutPrefix(flags["database"], "sqlite:")
			if !ok {
				t.Fatalf("--database=%s, want sqlite:<file>", flags["database"])
			}
			vol, ro := volumeOf(t, objs, file)
			if ro {
				t.Error("the SQLite directory is mounted read-only")
			}
			switch kind, name, _ := strings.Cut(tc.volume, ":"); kind {
			case "claim":
				if got, _, _ := unstructured.NestedString(vol, "persistentVolumeClaim", "claimName"); got != name {
					t.Errorf("the SQLite directory is on %v, want the claim %s", vol, name)
				}
			case "emptyDir":
				if _, ok := vol["emptyDir"]; !ok {
					t.Errorf("the SQLite directory is on %v, want an emptyDir", vol)
				}
			}
		})
	}
}

// envSecretRef returns the secretKeyRef of the environment variable name.
func envSecretRef(env []any, name string) map[string]any {
	for _, e := range env {
		e := e.(map[string]any)
		if e["name"] == name {
			ref, _, _ := unstructured.NestedMap(e, "valueFrom", "secretKeyRef")
			return ref
		}
	}
	return nil
}

// TestCollectorSecretsMounted checks that the signing keys and the tokens
// come from the Secrets the values name, mounted read-only as whole
// directories (a subPath mount would never see a rotation).
func TestCollectorSecretsMounted(t *testing.T) {
	objs := render(t, collectorRelease("", "", withKeys, "signingKeys.key=signing", "tokens.existingSecret=collector-tokens", "tokens.key=bearer"))
	flags := collectorFlags(t, containerArgs(t, objs))
	for _, tc := range []struct{ flag, secret, key string }{
		{"signing-keys-file", "collector-keys", "signing"},
		{"tokens-file", "collector-tokens", "bearer"},
	} {
		file := flags[tc.flag]
		if file == "" {
			t.Errorf("--%s is not passed", tc.flag)
			continue
		}
		vol, ro := volumeOf(t, objs, file)
		if !ro {
			t.Errorf("--%s: its directory is writable", tc.flag)
		}
		name, _, _ := unstructured.NestedString(vol, "secret", "secretName")
		items, _, _ := unstructured.NestedSlice(vol, "secret", "items")
		want := []any{map[string]any{"key": tc.key, "path": filepath.Base(file)}}
		if name != tc.secret || fmt.Sprint(items) != fmt.Sprint(want) {
			t.Errorf("--%s=%s is the Secret %s items %v, want %s key %s", tc.flag, file, name, items, tc.secret, tc.key)
		}
	}
	mounts, _, _ := unstructured.NestedSlice(container(t, objs), "volumeMounts")
	for _, m := range mounts {
		if sp, ok := m.(map[string]any)["subPath"]; ok {
			t.Errorf("mount %v uses subPath %v", m, sp)
		}
	}
	if _, found := collectorFlags(t, containerArgs(t, render(t, collectorRelease("", "", withKeys))))["tokens-file"]; found {
		t.Error("--tokens-file is passed without tokens.existingSecret")
	}
}

// collectorFlags checks that args are --flag=value arguments and returns
// them by name.
func collectorFlags(t testing.TB, args []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			t.Fatalf("argument %q: want --flag=value", a)
		}
		out[name] = value
	}
	return out
}

// envRef is a $(NAME) reference in a container argument.
var envRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expandArgs expands $(NAME) in args as the kubelet does for the variables
// in env ($$ is a literal $; a reference to an unknown variable stays).
func expandArgs(args []string, env map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = envRef.ReplaceAllStringFunc(a, func(ref string) string {
			if ref == "$$" {
				return "$"
			}
			if v, ok := env[envRef.FindStringSubmatch(ref)[1]]; ok {
				return v
			}
			return ref
		})
	}
	return out
}

// containerEnv returns the container's environment, with secretValue
// standing in for every variable read from a Secret.
func containerEnv(t testing.TB, objs []*unstructured.Unstructured, secretValue string) map[string]string {
	t.Helper()
	env, _, _ := unstructured.NestedSlice(container(t, objs), "env")
	out := map[string]string{}
	for _, e := range env {
		e := e.(map[string]any)
		name, _ := e["name"].(string)
		if v, ok := e["value"].(string); ok {
			out[name] = v
		} else if envSecretRef(env, name) != nil {
			out[name] = secretValue
		}
	}
	return out
}

// collectorOptions parses args with the collector's flags, takes the
// store from env as the command does when --database is not given, and
// validates them as the command does.
func collectorOptions(t testing.TB, args []string, env map[string]string) *server.Options {
	t.Helper()
	o := server.NewOptions()
	fs := pflag.NewFlagSet("telemetry-collector", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("telemetry-collector refuses the chart's arguments: %v\nargs: %v", err, args)
	}
	if !fs.Changed("database") {
		o.DatabaseFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}
	if fs.NArg() > 0 {
		t.Fatalf("unexpected arguments %v", fs.Args())
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("telemetry-collector rejects the chart's arguments: %v\nargs: %v", err, args)
	}
	return o
}

// TestCollectorArgsAccepted parses the arguments of every ci/ file, with
// the environment expanded as the kubelet expands it, with the collector's
// own flags and validation.
func TestCollectorArgsAccepted(t *testing.T) {
	for name, path := range ciValuesOf(t, collectorDir) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, collectorRelease("", path))
			const url = "postgres://collector:secret@postgres.db:5432/telemetry?sslmode=require"
			env := containerEnv(t, objs, url)
			o := collectorOptions(t, expandArgs(containerArgs(t, objs), env), env)
			if envSecretRef(mustEnv(t, objs), server.DatabaseEnv) != nil && o.Database != url {
				t.Errorf("--database is %q, want the URL of the Secret", o.Database)
			}
		})
	}
}

func mustEnv(t testing.TB, objs []*unstructured.Unstructured) []any {
	t.Helper()
	env, _, _ := unstructured.NestedSlice(container(t, objs), "env")
	return env
}

// TestExpandArgs checks the stand-in for the kubelet's expansion.
func TestExpandArgs(t *testing.T) {
	got := expandArgs([]string{"--a=$(X)", "--b=$$(X)", "--c=$(Y)", "--d=$(X)$(X)"}, map[string]string{"X": "v"})
	if want := []string{"--a=v", "--b=$(X)", "--c=$(Y)", "--d=vv"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// listenHook hands over the address the collector listens on, from its
// "serving" log line.
type listenHook struct{ addr chan string }

func (h *listenHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *listenHook) Fire(e *logrus.Entry) error {
	if addr, ok := e.Data["listen"].(string); ok {
		select {
		case h.addr <- addr:
		default:
		}
	}
	return nil
}

// TestCollectorRunsWithChartArgs runs the collector in-process with the
// Deployment's arguments of each ci/ file, expanded as the kubelet does, on
// a real database: the SQLite file (its directory moved to a temporary one,
// as the volume would be) or a real PostgreSQL server whose URL stands in
// for the Secret. The signing keys file is where the chart mounts it, moved
// likewise. It must answer /healthz and /readyz.
func TestCollectorRunsWithChartArgs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	rendered := map[string][]*unstructured.Unstructured{}
	var pg *testenv.Postgres
	for name, path := range ciValuesOf(t, collectorDir) {
		rendered[name] = render(t, collectorRelease("", path))
		if pg == nil && envSecretRef(mustEnv(t, rendered[name]), server.DatabaseEnv) != nil {
			pg = testenv.StartPostgresT(t)
		}
	}
	for _, name := range sortedKeys(rendered) {
		objs := rendered[name]
		t.Run(name, func(t *testing.T) {
			env := containerEnv(t, objs, "")
			if envSecretRef(mustEnv(t, objs), server.DatabaseEnv) != nil {
				env[server.DatabaseEnv] = pg.NewDatabase(t)
			}
			args := expandArgs(containerArgs(t, objs), env)
			o := collectorOptions(t, args, env)

			// The pod's directories, moved under a temporary one.
			dir := t.TempDir()
			moved := func(p string) string { return filepath.Join(dir, p) }
			if file, ok := strings.CutPrefix(o.Database, "sqlite:"); ok {
				if err := os.MkdirAll(filepath.Dir(moved(file)), 0o700); err != nil {
					t.Fatal(err)
				}
				o.Database = "sqlite:" + moved(file)
			}
			o.SigningKeysFile = moved(o.SigningKeysFile)
			if err := os.MkdirAll(filepath.Dir(o.SigningKeysFile), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(o.SigningKeysFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if o.TokensFile != "" {
				o.TokensFile = moved(o.TokensFile)
				if err := os.MkdirAll(filepath.Dir(o.TokensFile), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(o.TokensFile, []byte("a-token-of-some-length\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			o.Listen = "127.0.0.1:0"

			log := logrus.New()
			log.SetOutput(io.Discard)
			hook := &listenHook{addr: make(chan string, 1)}
			log.AddHook(hook)
			log.AddHook(&testHook{t: t})
			entry := logrus.NewEntry(log)
			open := func(ctx context.Context, spec string) (store.Store, error) {
				return store.Open(ctx, spec, store.NewOptions(), entry.WithField("component", "store"))
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- server.Run(ctx, o, open, entry) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("the collector returned %v", err)
				}
			}()

			var addr string
			select {
			case addr = <-hook.addr:
			case err := <-done:
				done <- err
				t.Fatalf("the collector stopped before serving: %v", err)
			case <-time.After(time.Minute):
				t.Fatal("the collector did not start serving within a minute")
			}
			hc := &http.Client{Timeout: 5 * time.Second}
			for _, p := range []string{"/healthz", "/readyz"} {
				eventually(t, p+" answering 200", func() (bool, error) {
					resp, err := hc.Get("http://" + addr + p)
					if err != nil {
						return false, err
					}
					defer resp.Body.Close()
					_, _ = io.Copy(io.Discard, resp.Body)
					return resp.StatusCode == http.StatusOK, fmt.Errorf("status %d", resp.StatusCode)
				})
			}
		})
	}
}

// TestCollectorNotes renders NOTES.txt and checks it tells how to reach the
// page and how to point the manager at the collector, and warns of an
// emptyDir and of replicas that SQLite ignores.
func TestCollectorNotes(t *testing.T) {
	const ns = "tc-notes"
	notes := func(set ...string) string {
		t.Helper()
		out, err := helm(t, append([]string{"install", "--dry-run=client"}, collectorRelease(ns, "", append([]string{withKeys}, set...)...).args()...)...)
		if err != nil {
			t.Fatal(err)
		}
		_, n, ok := strings.Cut(out, "NOTES:")
		if !ok {
			t.Fatalf("no NOTES in:\n%s", out)
		}
		return n
	}
	n := notes()
	for _, want := range []string{
		"kubectl -n " + ns + " port-forward svc/telemetry-collector 8090:8090",
		"--set exporters.http.url=http://telemetry-collector." + ns + ":8090/api/v1/reports",
		"--set exporters.http.enabled=true",
		"PersistentVolumeClaim telemetry-collector-data",
	} {
		if !strings.Contains(n, want) {
			t.Errorf("NOTES lack %q:\n%s", want, n)
		}
	}
	if strings.Contains(n, "WARNING") {
		t.Errorf("NOTES warn with the defaults:\n%s", n)
	}
	if n := notes("database.sqlite.persistence.enabled=false", "replicas=3"); !strings.Contains(n, "EVERY REPORT IS LOST") || !strings.Contains(n, "replicas=3 was asked") {
		t.Errorf("with an emptyDir and replicas=3, NOTES do not warn of both:\n%s", n)
	}
	if n := notes("database.type=postgres", "database.postgres.existingSecret=db", "replicas=3", "service.port=9000"); !strings.Contains(n, "PostgreSQL") || !strings.Contains(n, "shared by 3 replica(s)") || !strings.Contains(n, "."+ns+":9000/api/v1/reports") {
		t.Errorf("with PostgreSQL, NOTES do not say so:\n%s", n)
	}
}

// TestCollectorCIValuesRenderEveryKind checks that the ci/ files of the
// collector chart together render every template.
func TestCollectorCIValuesRenderEveryKind(t *testing.T) {
	seen := map[string]bool{}
	for _, path := range ciValuesOf(t, collectorDir) {
		for _, o := range render(t, collectorRelease("", path)) {
			seen[o.GetKind()] = true
		}
	}
	var kinds []string
	for k := range seen {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	want := []string{"Deployment", "PersistentVolumeClaim", "Service", "ServiceMonitor"}
	if !slices.Equal(kinds, want) {
		t.Errorf("the ci/ values files render %v, want %v", kinds, want)
	}
}
