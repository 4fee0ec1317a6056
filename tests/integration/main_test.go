// Package integration runs the controller against a real kube-apiserver and
// etcd (tests/testenv) loaded with the sample installation of
// tests/testdata/sample-installation.yaml.
package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	flags "github.com/rancher/telemetry-manager/pkg/options"
	"github.com/rancher/telemetry-manager/tests/fixtures"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

var (
	env    *testenv.Env
	kube   kubernetes.Interface
	client *fixtures.Client
	root   string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	root, err = testenv.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	env, client, err = fixtures.StartSample(ctx, testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	if kube, err = kubernetes.NewForConfig(env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func samplePath() string { return filepath.Join(root, "tests", "testdata", "sample-installation.yaml") }

// Totals of the sample installation, worked out by hand in its header.
var sampleTotals = report.Totals{
	Clusters:      4,
	Nodes:         9,
	CPUCores:      127,
	CPUMillicores: 126000,
	MemoryBytes:   15437428*1024 + 16<<30 + 8e9 + 129e6 + 1610612736 + 448<<30,
	InvalidNodes:  1,
}

// options returns run options writing to a namespace of the test's own, so
// tests do not see each other's Secrets.
func options(t *testing.T) *controller.Options {
	o := controller.NewOptions()
	o.Mode = flags.ModeRancher
	o.SecretNamespace = "tm-" + fmt.Sprintf("%x", time.Now().UnixNano())[6:]
	o.Debounce = 200 * time.Millisecond
	o.Interval = time.Hour
	o.MetricsAddress = "127.0.0.1:0" // tests run side by side: never a fixed port
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	return o
}

// runController builds a controller with the plugins, runs it, and returns it
// with a function that stops it and waits until Run returned, as a process
// that shuts down does; the test's end stops it too. Its log goes to the
// test and to out, when given.
func runController(t *testing.T, cfg *rest.Config, o *controller.Options, out io.Writer, plugins ...controller.Plugin) (*controller.Controller, func()) {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	w := io.Writer(testWriter{t})
	if out != nil {
		w = io.MultiWriter(w, out)
	}
	log.SetOutput(w)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := controller.New(ctx, cfg, o, logrus.NewEntry(log))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for _, p := range plugins {
		if err := c.Register(p); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("controller returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

// start runs a controller until the test ends.
func start(t *testing.T, cfg *rest.Config, o *controller.Options) *controller.Controller {
	t.Helper()
	c, _ := runController(t, cfg, o, nil)
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// eventually polls cond every 100ms until it holds or the bound passes.
// The bound is generous: it only stops a broken test from hanging.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func getSecret(ns, name string) (*corev1.Secret, error) {
	return kube.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
}

// waitPayload waits until the Secret exists and its payload satisfies cond.
func waitPayload(t *testing.T, o *controller.Options, what string, cond func(r report.Report) bool) *corev1.Secret {
	t.Helper()
	var s *corev1.Secret
	eventually(t, what, func() (bool, error) {
		var err error
		s, err = getSecret(o.SecretNamespace, o.SecretName)
		if apierrors.IsNotFound(err) {
			return false, err
		}
		if err != nil {
			return false, err
		}
		var r report.Report
		if err := json.Unmarshal(s.Data[secret.DefaultKey], &r); err != nil {
			return false, err
		}
		return cond(r), fmt.Errorf("payload totals %+v", r.Totals)
	})
	return s
}

func decode(t *testing.T, s *corev1.Secret) report.Report {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal(s.Data[secret.DefaultKey], &r); err != nil {
		t.Fatalf("payload of %s/%s: %v", s.Namespace, s.Name, err)
	}
	return r
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
