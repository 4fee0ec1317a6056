package sources

import (
	"context"
	"errors"
	"testing"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
)

func TestSecretsGetNamesWhyItCannotAnswer(t *testing.T) {
	s := NewSecrets(fake.NewClientset(), clock.RealClock{}, logrus.NewEntry(logrus.New()))
	if _, err := s.Get("elsewhere", "telemetry"); !errors.Is(err, ErrNoSecretWatch) {
		t.Fatalf("Get in an unwatched namespace = %v, want ErrNoSecretWatch", err)
	}
	s.Watch("cattle-telemetry-system")
	if _, err := s.Get("cattle-telemetry-system", "telemetry"); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("Get before the cache listed = %v, want ErrNotSynced", err)
	}
}

// TestSecretsCacheOnlyLabelledSecrets: Secrets telemetry-manager did not
// write never enter the cache, and a namespace watched after Start is
// cached too.
func TestSecretsCacheOnlyLabelledSecrets(t *testing.T) {
	ours := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "telemetry", Namespace: "late",
		Labels: map[string]string{secret.LabelManagedBy: secret.FieldManager}}}
	helm := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.x.v1", Namespace: "late"}}
	kube := fake.NewClientset(ours, helm)
	s := NewSecrets(kube, clock.RealClock{}, logrus.NewEntry(logrus.New()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	s.Watch("late")
	if !toolscache.WaitForCacheSync(ctx.Done(), func() bool { return s.HasSynced("late") }) {
		t.Fatal("cache never synced")
	}
	if _, err := s.Get("late", "telemetry"); err != nil {
		t.Fatalf("Get(own Secret) = %v", err)
	}
	if _, err := s.Get("late", helm.Name); !apierrors.IsNotFound(err) {
		t.Fatalf("Get(Helm release Secret) = %v, want NotFound: it must not be cached", err)
	}
	if n := len(s.statuses()[0].informer.GetStore().ListKeys()); n != 1 {
		t.Fatalf("%d Secrets cached, want 1", n)
	}
}
