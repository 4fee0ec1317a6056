package leader

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

const ns, name = "telemetry", "telemetry-manager"

func config(client *fake.Clientset, id string) Config {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return Config{
		Namespace: ns, Name: name, Identity: id, Client: client.CoordinationV1(),
		LeaseDuration: time.Second, RenewDeadline: 500 * time.Millisecond, RetryPeriod: 50 * time.Millisecond,
		Log: logrus.NewEntry(log),
	}
}

func holder(t *testing.T, client *fake.Clientset) string {
	t.Helper()
	l, err := client.CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runAsync runs Run and returns the channel of its result.
func runAsync(ctx context.Context, c Config, lead func(context.Context)) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c, lead) }()
	return done
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestShutdownStopsWorkBeforeReleasingLease(t *testing.T) {
	client := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var holderWhileStopping atomic.Value
	var leading []bool
	c := config(client, "a")
	c.OnChange = func(l bool) { leading = append(leading, l) }
	done := runAsync(ctx, c, func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		// An export still in flight: the Lease must still be ours.
		time.Sleep(100 * time.Millisecond)
		holderWhileStopping.Store(holder(t, client))
	})
	<-started
	if h := holder(t, client); h != "a" {
		t.Fatalf("holder while leading = %q, want a", h)
	}
	cancel()
	if err := result(t, done); err != nil {
		t.Fatalf("Run after shutdown = %v, want nil", err)
	}
	if h := holderWhileStopping.Load(); h != "a" {
		t.Fatalf("holder while the work was stopping = %q, want a (released too early)", h)
	}
	if h := holder(t, client); h != "" {
		t.Fatalf("holder after shutdown = %q, want released", h)
	}
	if len(leading) != 2 || !leading[0] || leading[1] {
		t.Fatalf("OnChange calls = %v, want [true false]", leading)
	}
}

func TestLostLeaseStopsWorkThenReturnsErrLost(t *testing.T) {
	client := fake.NewClientset()
	// The fake does not check resourceVersions; the API server would refuse
	// a's updates once the intruder wrote, since a's copy is then stale.
	var intruded atomic.Bool
	client.PrependReactor("update", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		l := action.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if intruded.Load() && ptr.Deref(l.Spec.HolderIdentity, "") != "intruder" {
			return true, nil, apierrors.NewConflict(coordinationv1.Resource("leases"), name, errors.New("stale"))
		}
		return false, nil, nil
	})
	started := make(chan struct{})
	var workReturned atomic.Bool
	done := runAsync(context.Background(), config(client, "a"), func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond)
		workReturned.Store(true)
	})
	<-started

	// Another replica takes the Lease for a long time.
	l, err := client.CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.NewMicroTime(time.Now())
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = ptr.To("intruder"), ptr.To[int32](60), &now
	intruded.Store(true)
	if _, err := client.CoordinationV1().Leases(ns).Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := result(t, done); !errors.Is(err, ErrLost) {
		t.Fatalf("Run after losing the Lease = %v, want ErrLost", err)
	}
	if !workReturned.Load() {
		t.Fatal("Run returned before the work had stopped")
	}
	if h := holder(t, client); h != "intruder" {
		t.Fatalf("holder = %q: the Lease of another replica was released", h)
	}
}

func TestStandbyNeverLeadsWhileLeaseIsHeld(t *testing.T) {
	now := metav1.NewMicroTime(time.Now())
	client := fake.NewClientset(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("other"), LeaseDurationSeconds: ptr.To[int32](60),
			AcquireTime: &now, RenewTime: &now,
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var led atomic.Bool
	if err := Run(ctx, config(client, "b"), func(context.Context) { led.Store(true) }); err != nil {
		t.Fatalf("Run = %v, want nil after shutdown", err)
	}
	if led.Load() {
		t.Fatal("led while another replica held a valid Lease")
	}
	if h := holder(t, client); h != "other" {
		t.Fatalf("holder = %q, want other untouched", h)
	}
}

func TestStandbyTakesOverAfterRelease(t *testing.T) {
	client := fake.NewClientset()
	ctxA, cancelA := context.WithCancel(context.Background())
	startedA := make(chan struct{})
	doneA := runAsync(ctxA, config(client, "a"), func(ctx context.Context) { close(startedA); <-ctx.Done() })
	<-startedA

	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	var ledB atomic.Bool
	doneB := runAsync(ctxB, config(client, "b"), func(ctx context.Context) { ledB.Store(true); <-ctx.Done() })
	time.Sleep(200 * time.Millisecond)
	if ledB.Load() {
		t.Fatal("b leads while a holds the Lease")
	}

	cancelA()
	if err := result(t, doneA); err != nil {
		t.Fatal(err)
	}
	// Released: b takes over within a retry period or so, well before the
	// one-second lease duration would have let it.
	within(t, 800*time.Millisecond, "b to lead", ledB.Load)
	if h := holder(t, client); h != "b" {
		t.Fatalf("holder = %q, want b", h)
	}
	cancelB()
	if err := result(t, doneB); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidTimingsRefused(t *testing.T) {
	c := config(fake.NewClientset(), "a")
	c.RenewDeadline = c.LeaseDuration
	if err := Run(context.Background(), c, func(context.Context) {}); err == nil {
		t.Fatal("Run accepted a renew deadline equal to the lease duration")
	}
}

func TestIdentityIsHostnameAndUnique(t *testing.T) {
	a, err := Identity()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Identity()
	if a == b {
		t.Fatalf("two identities are both %q", a)
	}
}
