package testenv

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestEnv(t *testing.T) {
	crds, err := RancherCRDs()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := Start(ctx, Options{CRDs: crds, Users: []string{"alice"}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start took %v", time.Since(began))
	stopped := false
	defer func() {
		if !stopped {
			_ = env.Stop()
		}
	}()

	t.Run("node status subresource", func(t *testing.T) {
		cs := kubernetes.NewForConfigOrDie(env.Config)
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "c-abc"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		dyn := dynamic.NewForConfigOrDie(env.Config)
		nodes := dyn.Resource(schema.GroupVersionResource{Group: "management.cattle.io", Version: "v3", Resource: "nodes"}).Namespace("c-abc")
		node := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "management.cattle.io/v3",
			"kind":       "Node",
			"metadata":   map[string]any{"name": "m-1", "namespace": "c-abc"},
			"spec":       map[string]any{"worker": true, "requestedHostname": "h1"},
		}}
		created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The status given on create is dropped (status subresource); set it
		// through the subresource.
		if err := unstructured.SetNestedField(created.Object, map[string]any{
			"cpu": "abc", "memory": int64(8 << 30), "pods": "110",
		}, "status", "internalNodeStatus", "capacity"); err != nil {
			t.Fatal(err)
		}
		if _, err := nodes.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := nodes.Get(ctx, "m-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cpu, _, _ := unstructured.NestedString(got.Object, "status", "internalNodeStatus", "capacity", "cpu")
		if cpu != "abc" {
			t.Fatalf("status.internalNodeStatus.capacity.cpu = %q, want abc; object %v", cpu, got.Object)
		}
		mem, _, _ := unstructured.NestedInt64(got.Object, "status", "internalNodeStatus", "capacity", "memory")
		if mem != 8<<30 {
			t.Fatalf("memory = %d, want %d", mem, int64(8<<30))
		}
		if w, _, _ := unstructured.NestedBool(got.Object, "spec", "worker"); !w {
			t.Fatalf("spec.worker lost: %v", got.Object)
		}
	})

	t.Run("feature and setting shapes", func(t *testing.T) {
		dyn := dynamic.NewForConfigOrDie(env.Config)
		features := dyn.Resource(schema.GroupVersionResource{Group: "management.cattle.io", Version: "v3", Resource: "features"})
		f := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "management.cattle.io/v3", "kind": "Feature",
			"metadata": map[string]any{"name": "fleet"},
			"spec":     map[string]any{"value": nil},
		}}
		f, err := features.Create(ctx, f, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(f.Object, map[string]any{"default": true, "dynamic": false, "lockedValue": nil, "description": "x"}, "status")
		f, err = features.UpdateStatus(ctx, f, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d, ok, _ := unstructured.NestedBool(f.Object, "status", "default"); !ok || !d {
			t.Fatalf("feature status not stored: %v", f.Object)
		}
		settings := dyn.Resource(schema.GroupVersionResource{Group: "management.cattle.io", Version: "v3", Resource: "settings"})
		s := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "management.cattle.io/v3", "kind": "Setting",
			"metadata": map[string]any{"name": "server-version"},
			"value":    "v2.12.0", "default": "", "customized": false, "source": "env",
		}}
		s, err = settings.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v, _, _ := unstructured.NestedString(s.Object, "value"); v != "v2.12.0" {
			t.Fatalf("setting value = %q", v)
		}
		clusters := dyn.Resource(schema.GroupVersionResource{Group: "management.cattle.io", Version: "v3", Resource: "clusters"})
		c := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "management.cattle.io/v3", "kind": "Cluster",
			"metadata": map[string]any{"name": "local"},
			"spec":     map[string]any{"displayName": "local"},
		}}
		if _, err := clusters.Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("identities", func(t *testing.T) {
		for _, tc := range []struct {
			user   string
			groups []string
		}{{"alice", nil}, {"bob", nil}, {"carol", []string{"team"}}} {
			cs := kubernetes.NewForConfigOrDie(env.ConfigFor(tc.user, tc.groups...))
			_, err := cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s: list secrets: err = %v, want Forbidden", tc.user, err)
			}
		}
		// The admin kubeconfig works.
		cfg, err := clientcmd.BuildConfigFromFlags("", env.KubeconfigPath)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Insecure || len(cfg.CAData) == 0 {
			t.Fatalf("kubeconfig must verify TLS with CA data")
		}
		if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("install CRDs again", func(t *testing.T) {
		if err := env.InstallCRDs(ctx, crds...); err != nil {
			t.Fatal(err)
		}
	})

	apiPID, etcdPID := env.PIDs()
	dir := env.Dir
	began = time.Now()
	if err := env.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %v", time.Since(began))
	stopped = true
	if err := env.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for name, pid := range map[string]int{"kube-apiserver": apiPID, "etcd": etcdPID} {
		if pid == 0 {
			t.Fatalf("%s pid unknown", name)
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists: kill(0) = %v", name, pid, err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", dir, err)
	}
}

func TestStopAfterEtcdDied(t *testing.T) {
	env := StartT(t, Options{})
	_, etcdPID := env.PIDs()
	if err := syscall.Kill(etcdPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-env.etcd.done
	if err := env.Stop(); err != nil {
		t.Fatal(err)
	}
	apiPID, _ := env.PIDs()
	if err := syscall.Kill(apiPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kube-apiserver (pid %d) still exists: %v", apiPID, err)
	}
}

func TestStartFailureReportsLogs(t *testing.T) {
	dir := t.TempDir()
	// A fake etcd that fails at once.
	if err := os.WriteFile(dir+"/etcd-"+EtcdVersion, []byte("#!/bin/sh\necho boom: bad flag >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/kube-apiserver-"+KubeVersion+"-v", []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{BinDir: dir})
	if err == nil {
		t.Fatal("Start succeeded with a failing etcd")
	}
	if !strings.Contains(err.Error(), "boom: bad flag") {
		t.Fatalf("error lacks the log tail: %v", err)
	}
	t.Logf("error: %v", err)
}

// TestPortCollisionRetry gives kube-apiserver and etcd a port that is taken
// on their first attempt: Start must retry on fresh ports.
func TestPortCollisionRetry(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ports, err := freePorts(n)
		if err == nil && (calls == 1 || calls == 3) {
			ports[0] = busyPort // etcd's client port, then the apiserver's port
		}
		return ports, err
	}
	defer func() { pickPorts = freePorts }()
	env := StartT(t, Options{})
	if calls != 4 {
		t.Fatalf("ports picked %d times, want 4 (one retry each)", calls)
	}
	if _, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}
