package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
)

// replica is a controller run in-process that a test may stop on its own.
type replica struct {
	name string
	c    *controller.Controller
	stop context.CancelFunc
	done chan error // receives Run's result once
	err  error
	ok   bool // Run has returned
}

// launch runs a controller like start does, but leaves stopping it and
// checking Run's result to the test; it is stopped at the end anyway.
func launch(t *testing.T, name string, o *controller.Options) *replica {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetOutput(testWriter{t})
	ctx, cancel := context.WithCancel(context.Background())
	c, err := controller.New(ctx, env.Config, o, logrus.NewEntry(log).WithField("replica", name))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &replica{name: name, c: c, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		r.wait(t)
	})
	return r
}

// wait returns Run's result, waiting for it up to a generous bound.
func (r *replica) wait(t *testing.T) error {
	t.Helper()
	if r.ok {
		return r.err
	}
	select {
	case r.err = <-r.done:
		r.ok = true
	case <-time.After(30 * time.Second):
		t.Fatalf("replica %s: Run did not return", r.name)
	}
	return r.err
}

func (r *replica) runs() int {
	st, _ := r.c.Manager.Status("secret")
	return st.Runs
}

// electionOptions are options with leader election at short test timings.
func electionOptions(t *testing.T) *controller.Options {
	o := options(t)
	o.MetricsAddress = "127.0.0.1:0"
	o.Interval = time.Second // the leader exports continuously
	o.LeaderElect = true
	o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 2*time.Second, 1500*time.Millisecond, 300*time.Millisecond
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	return o
}

func leaseHolder(o *controller.Options) (string, error) {
	l, err := kube.CoordinationV1().Leases(o.LeaseNamespace()).Get(context.Background(), o.LeaderElectionID, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return ptr.Deref(l.Spec.HolderIdentity, ""), nil
}

func TestLeaderElectionOneExportsStandbyTakesOver(t *testing.T) {
	o := electionOptions(t)
	oB := *o
	replicas := []*replica{launch(t, "a", o), launch(t, "b", &oB)}

	// Both replicas sync their caches and are ready: the standby is warm.
	for _, r := range replicas {
		eventually(t, "replica "+r.name+" ready", func() (bool, error) {
			code, _, err := httpGet("http://" + r.c.HTTPAddr() + "/readyz")
			return code == http.StatusOK, err
		})
	}

	var leader, standby *replica
	eventually(t, "a leader that exports", func() (bool, error) {
		holder, err := leaseHolder(o)
		if err != nil {
			return false, err
		}
		for i, r := range replicas {
			if r.c.LeaderIdentity == holder {
				leader, standby = r, replicas[1-i]
				return r.runs() > 0, nil
			}
		}
		return false, fmt.Errorf("holder %q is neither replica", holder)
	})
	t.Logf("leader %s (%s), standby %s", leader.name, leader.c.LeaderIdentity, standby.name)
	waitPayload(t, o, "the leader's payload", func(r report.Report) bool { return r.Totals == sampleTotals })

	// A few more runs of the leader; the standby never runs.
	first := leader.runs()
	eventually(t, "three more runs of the leader", func() (bool, error) { return leader.runs() >= first+3, nil })
	if n := standby.runs(); n != 0 {
		t.Fatalf("standby %s ran its exporter %d times", standby.name, n)
	}
	if st, _ := standby.c.Manager.Status("secret"); st.Running {
		t.Fatalf("standby %s has a running exporter", standby.name)
	}
	if g := gauge(t, leader.c.Metrics, "telemetry_manager_leader", ""); g != 1 {
		t.Fatalf("leader gauge of the leader = %v", g)
	}
	if g := gauge(t, standby.c.Metrics, "telemetry_manager_leader", ""); g != 0 {
		t.Fatalf("leader gauge of the standby = %v", g)
	}

	// Shut the leader down, as SIGTERM would: it stops exporting, releases
	// the Lease and returns nil.
	stopped := time.Now()
	leader.stop()
	if err := leader.wait(t); err != nil {
		t.Fatalf("leader returned %v on shutdown, want nil", err)
	}
	if st, _ := leader.c.Manager.Status("secret"); st.Running || st.InFlight {
		t.Fatalf("stopped leader still exporting: %+v", st)
	}
	s, err := getSecret(o.SecretNamespace, o.SecretName)
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.CoreV1().Secrets(o.SecretNamespace).Delete(context.Background(), o.SecretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// Only the standby can bring the Secret back.
	eventually(t, "the standby to take over and restore the Secret", func() (bool, error) {
		holder, err := leaseHolder(o)
		if err != nil || holder != standby.c.LeaderIdentity {
			return false, fmt.Errorf("holder %q, err %v", holder, err)
		}
		now, err := getSecret(o.SecretNamespace, o.SecretName)
		if err != nil {
			return false, err
		}
		return now.UID != s.UID && standby.runs() > 0, nil
	})
	t.Logf("standby %s took over and restored the Secret %s after the leader stopped", standby.name, time.Since(stopped).Round(10*time.Millisecond))
	if g := gauge(t, standby.c.Metrics, "telemetry_manager_leader", ""); g != 1 {
		t.Fatalf("leader gauge of the new leader = %v", g)
	}
}

func TestLeaderLostLeaseStopsExportingAndExits(t *testing.T) {
	o := electionOptions(t)
	a := launch(t, "a", o)
	eventually(t, "a to lead and export", func() (bool, error) {
		holder, err := leaseHolder(o)
		return err == nil && holder == a.c.LeaderIdentity && a.runs() > 0, err
	})

	// Someone else takes the Lease for a minute: a can no longer renew.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := kube.CoordinationV1().Leases(o.LeaseNamespace()).Get(context.Background(), o.LeaderElectionID, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NewMicroTime(time.Now())
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds = ptr.To("intruder"), ptr.To[int32](60)
		l.Spec.AcquireTime, l.Spec.RenewTime = &now, &now
		_, err = kube.CoordinationV1().Leases(o.LeaseNamespace()).Update(context.Background(), l, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	lost := time.Now()
	var runErr error
	eventually(t, "a to give up", func() (bool, error) {
		select {
		case runErr = <-a.done:
			a.err, a.ok = runErr, true
			return true, nil
		default:
			return false, nil
		}
	})
	t.Logf("a returned %v %s after the Lease was taken", runErr, time.Since(lost).Round(10*time.Millisecond))
	if !errors.Is(runErr, controller.ErrLostLeadership) {
		t.Fatalf("Run after losing the Lease = %v, want ErrLostLeadership", runErr)
	}
	// Stopped before Run returned: nothing runs, and the Lease is left to
	// its holder.
	st, _ := a.c.Manager.Status("secret")
	if st.Running || st.InFlight {
		t.Fatalf("exporter still active after Run returned: %+v", st)
	}
	runs := st.Runs
	if err := kube.CoreV1().Secrets(o.SecretNamespace).Delete(context.Background(), o.SecretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // two intervals
	if st, _ := a.c.Manager.Status("secret"); st.Runs != runs {
		t.Fatalf("exporter ran %d more times after losing the Lease", st.Runs-runs)
	}
	if _, err := getSecret(o.SecretNamespace, o.SecretName); !apierrors.IsNotFound(err) {
		t.Fatalf("Secret after losing the Lease: %v, want it left deleted", err)
	}
	if holder, err := leaseHolder(o); err != nil || holder != "intruder" {
		t.Fatalf("holder = %q (%v), want intruder untouched", holder, err)
	}
}
