package integration

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	flags "github.com/rancher/telemetry-manager/pkg/options"
)

// createCoreNode creates a core/v1 Node and sets its status through the
// status subresource, as a kubelet would.
func createCoreNode(t *testing.T, name, cpu, mem string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	n, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	n.Status.NodeInfo = corev1.NodeSystemInfo{Architecture: "arm64", OperatingSystem: "linux", KubeletVersion: "v1.36.3+k3s1", ContainerRuntimeVersion: "containerd://2.1.4"}
	if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestKubernetesModeReportsCoreNodes(t *testing.T) {
	createCoreNode(t, "cp-1", "3500m", "8G", map[string]string{"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/etcd": "true"})
	createCoreNode(t, "worker-1", "500m", "129e6", map[string]string{"node-role.kubernetes.io/worker": "true"})

	o := options(t)
	o.Mode = flags.ModeKubernetes
	start(t, env.Config, o)
	s := waitPayload(t, o, "the kubernetes-mode payload", func(r report.Report) bool { return r.Totals.Nodes == 2 })
	r := decode(t, s)
	want := report.Totals{Clusters: 1, Nodes: 2, CPUCores: 4 + 1, CPUMillicores: 4000, MemoryBytes: 8e9 + 129e6}
	if r.Totals != want {
		t.Fatalf("totals = %+v, want %+v", r.Totals, want)
	}
	if r.Install.Mode != "kubernetes" || r.Install.InstallUUID == "" || r.Install.KubernetesVersion != "v1.36.3" {
		t.Fatalf("install = %+v, want kubernetes mode with a generated install UUID and the server's version", r.Install)
	}
	if len(r.Clusters) != 1 || !r.Clusters[0].Upstream || r.Clusters[0].Roles.ControlPlane != 1 || r.Clusters[0].Roles.Worker != 1 || r.Clusters[0].Provider != "k3s" {
		t.Fatalf("clusters = %+v", r.Clusters)
	}

	// The install UUID is kept in the telemetry namespace: a restart keeps it.
	first := r.Install.InstallUUID
	o2 := *o
	o2.SecretName = "telemetry-again"
	start(t, env.Config, &o2)
	again := decode(t, waitPayload(t, &o2, "the second payload", func(report.Report) bool { return true }))
	if again.Install.InstallUUID != first {
		t.Fatalf("install UUID changed across controllers: %s then %s", first, again.Install.InstallUUID)
	}
	if again.Clusters[0].ID != r.Clusters[0].ID {
		t.Fatalf("cluster id changed across controllers: %s then %s", r.Clusters[0].ID, again.Clusters[0].ID)
	}
}
