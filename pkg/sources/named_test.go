package sources

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// TestNamedSecretListsOnlyItsSecret: the cache asks for its one Secret by
// field selector (which RBAC on a resourceName allows), answers NotFound
// before it exists, and hears its creation and rotation.
func TestNamedSecretListsOnlyItsSecret(t *testing.T) {
	kube := fake.NewClientset()
	src := &Sources{Kube: kube, clock: clock.RealClock{}, log: logrus.NewEntry(logrus.New())}
	n := src.NamedSecret("cattle-telemetry-system", "http-credentials")
	changes := make(chan struct{}, 10)
	n.OnChange(func() { changes <- struct{}{} })
	if _, err := n.Get(); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("Get before the cache listed = %v, want ErrNotSynced", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.run(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), n.HasSynced) {
		t.Fatal("cache never synced")
	}
	if _, err := n.Get(); !apierrors.IsNotFound(err) {
		t.Fatalf("Get of a missing Secret = %v, want NotFound", err)
	}
	if problem := src.caches[0].problem(); problem != nil {
		t.Fatalf("cache health = %v, want synced", problem)
	}
	for _, a := range kube.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok {
			if got := l.GetListRestrictions().Fields.String(); got != "metadata.name=http-credentials" {
				t.Fatalf("list field selector %q, want metadata.name=http-credentials", got)
			}
		}
	}

	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cattle-telemetry-system", Name: "http-credentials"},
		Data: map[string][]byte{"signingKey": []byte("k1")}}
	if _, err := kube.CoreV1().Secrets(sec.Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changes)
	sec.Data["signingKey"] = []byte("k2")
	sec.ResourceVersion = "2"
	if _, err := kube.CoreV1().Secrets(sec.Namespace).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changes)
	got, err := n.Get()
	if err != nil || string(got.Data["signingKey"]) != "k2" {
		t.Fatalf("Get after the rotation = %v, %v; want the rotated key", got, err)
	}
}

func waitChange(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no change heard")
	}
}
