package chart

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestCollectorInstallRestricted installs the collector chart with Helm into
// a namespace that enforces the restricted Pod Security Standard, checks
// that the pod the Deployment would create is admitted there (and that a
// pod breaking the standard is not, so that admission is known to run),
// then moves the release to PostgreSQL with replicas, as the README
// describes, and checks the Deployment and the kept claim.
func TestCollectorInstallRestricted(t *testing.T) {
	t.Parallel()
	const ns = "tc-restricted"
	kube := client.Kube
	_, err := kube.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns,
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Pods run as the namespace's default ServiceAccount, which the
	// controller manager (not running here) would create.
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	values := ciValuesOf(t, collectorDir)
	r := collectorRelease(ns, values["sqlite-default"])
	if _, err := helm(t, append([]string{"install"}, r.args()...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := helm(&cleanupTB{t}, "uninstall", r.name, "--namespace", ns); err != nil {
			t.Errorf("helm uninstall: %v", err)
		}
	})

	d, err := kube.AppsV1().Deployments(ns).Get(t.Context(), "telemetry-collector", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("with SQLite: %d replicas, strategy %s; want 1 and Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if _, err := kube.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "telemetry-collector-data", metav1.GetOptions{}); err != nil {
		t.Errorf("the SQLite claim: %v", err)
	}
	admitted(t, ns, d)

	// The same pod without its restrictions is refused: admission runs.
	bad := d.DeepCopy()
	sc := bad.Spec.Template.Spec.Containers[0].SecurityContext
	sc.AllowPrivilegeEscalation = ptr.To(true)
	sc.Capabilities = nil
	_, err = kube.CoreV1().Pods(ns).Create(t.Context(), podFrom(ns, bad), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("a pod breaking the restricted standard: %v, want a refusal by Pod Security admission", err)
	}

	// Move to PostgreSQL with replicas.
	r = collectorRelease(ns, values["postgres-replicas"])
	if _, err := helm(t, append([]string{"upgrade"}, r.args()...)...); err != nil {
		t.Fatal(err)
	}
	d, err = kube.AppsV1().Deployments(ns).Get(t.Context(), "telemetry-collector", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 3 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("with PostgreSQL: %d replicas, strategy %s; want 3 and RollingUpdate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("with PostgreSQL the pod still mounts the claim %s", v.PersistentVolumeClaim.ClaimName)
		}
	}
	if _, err := kube.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "telemetry-collector-data", metav1.GetOptions{}); err != nil {
		t.Errorf("the SQLite claim is gone after the move (helm.sh/resource-policy: keep): %v", err)
	}
	admitted(t, ns, d)
}

// podFrom returns the pod d's ReplicaSet would create.
func podFrom(ns string, d *appsv1.Deployment) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-admission-check", Namespace: ns, Labels: d.Spec.Template.Labels},
		Spec:       d.Spec.Template.Spec,
	}
}

// admitted creates the pod of d in a dry run, which must pass admission.
func admitted(t *testing.T, ns string, d *appsv1.Deployment) {
	t.Helper()
	if _, err := client.Kube.CoreV1().Pods(ns).Create(t.Context(), podFrom(ns, d), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the collector's pod in a namespace enforcing restricted: %v", err)
	}
}
