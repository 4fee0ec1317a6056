// Package chart tests the Helm charts in charts/telemetry-manager and
// charts/telemetry-collector, the Dockerfile and the static builds it runs.
//
// The chart is linted and rendered by the helm binary that
// scripts/build-testbin builds, and every rendered object goes through a
// server-side dry run on the real API server of tests/testenv; the RBAC it
// renders is installed by Helm and then checked with access reviews and by
// running the controller under the chart's ServiceAccount.
package chart

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/rancher/telemetry-manager/tests/fixtures"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

const (
	// helmVersion is the helm that scripts/build-testbin builds by default.
	helmVersion = "v4.3.1"
	// releaseNamespace is the namespace the chart documents for installs.
	releaseNamespace = "cattle-telemetry-system"
	releaseName      = "telemetry-manager"
)

var (
	env      *testenv.Env
	client   *fixtures.Client
	root     string // module root
	chartDir string // charts/telemetry-manager
	// collectorDir is charts/telemetry-collector.
	collectorDir string
	helmHome     string // HELM_*_HOME of every helm run, so no user state is read or written
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	if root, err = testenv.ModuleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	chartDir = filepath.Join(root, "charts", "telemetry-manager")
	collectorDir = filepath.Join(root, "charts", "telemetry-collector")
	if helmHome, err = os.MkdirTemp("", "telemetry-chart-helm-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(helmHome)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// The sample installation holds the Rancher objects the controller reads
	// in TestControllerRunsWithChartRBAC.
	env, client, err = fixtures.StartSample(ctx, testenv.Options{
		CRDs: []string{filepath.Join("testdata", "monitoring.coreos.com_servicemonitors.yaml")},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	return m.Run()
}

// helmPath returns the helm binary, built once per test binary:
// $TELEMETRY_TESTBIN_DIR/helm-<version> when that variable is set, else the
// one in the directory scripts/build-testbin prints (the way tests/testenv
// finds kube-apiserver and etcd). A missing binary is built into that
// directory.
var helmPath = sync.OnceValues(func() (string, error) {
	version := helmVersion
	if v := os.Getenv("HELM_VERSION"); v != "" {
		version = v // scripts/build-testbin honours the same variable
	}
	return testenv.Binary(context.Background(), "helm", version, nil)
})

// helm runs the helm binary and returns its stdout; an error carries stderr.
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin, err := helmPath()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
		"KUBECONFIG="+env.KubeconfigPath,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// ciValues returns the values files of charts/telemetry-manager/ci by name
// (without .yaml).
func ciValues(t testing.TB) map[string]string {
	t.Helper()
	return ciValuesOf(t, chartDir)
}

// ciValuesOf returns the values files of a chart's ci/ by name (without
// .yaml).
func ciValuesOf(t testing.TB, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no values files in %s/ci", dir)
	}
	out := map[string]string{}
	for _, p := range paths {
		out[strings.TrimSuffix(filepath.Base(p), ".yaml")] = p
	}
	return out
}

// release names one rendering of a chart (charts/telemetry-manager unless
// chart is set): a release name, its namespace, a values file (optional) and
// --set assignments.
type release struct {
	chart           string
	name, namespace string
	valuesFile      string
	set             []string
}

func (r release) args() []string {
	name, ns, dir := r.name, r.namespace, r.chart
	if name == "" {
		name = releaseName
	}
	if ns == "" {
		ns = releaseNamespace
	}
	if dir == "" {
		dir = chartDir
	}
	args := []string{name, dir, "--namespace", ns}
	if r.valuesFile != "" {
		args = append(args, "--values", r.valuesFile)
	}
	for _, s := range r.set {
		args = append(args, "--set", s)
	}
	return args
}

// render runs helm template and decodes the objects.
func render(t testing.TB, r release) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template"}, r.args()...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatalf("decoding helm template output: %v\n%s", err, out)
	}
	return objs
}

// decode splits a multi-document YAML stream into objects, with integers
// as int64 (as the API machinery decodes them).
func decode(s string) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(s)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(j)) == 0 || string(bytes.TrimSpace(j)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
}

// find returns the only object of kind, failing the test when there is not
// exactly one.
func find(t testing.TB, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s, rendered %d", kind, len(found))
	}
	return found[0]
}

// has reports whether objs hold an object of kind.
func has(objs []*unstructured.Unstructured, kind string) bool {
	for _, o := range objs {
		if o.GetKind() == kind {
			return true
		}
	}
	return false
}

// containerArgs returns the args of the only container of the Deployment.
func containerArgs(t testing.TB, objs []*unstructured.Unstructured) []string {
	t.Helper()
	raw, _, err := unstructured.NestedStringSlice(container(t, objs), "args")
	if err != nil {
		t.Fatalf("container args: %v", err)
	}
	return raw
}

// container returns the only container of the Deployment.
func container(t testing.TB, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	d := find(t, objs, "Deployment")
	containers, _, err := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if err != nil || len(containers) != 1 {
		t.Fatalf("want one container in the Deployment, got %d (%v)", len(containers), err)
	}
	return containers[0].(map[string]any)
}
