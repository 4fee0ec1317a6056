package faults

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/options"
)

// holdAWrite starts the manager through a write proxy, waits for its first
// payload, then arms the proxy and adds a node: the export that follows is
// held in flight. It returns the manager, the proxy, the Secret as it was
// before and the node count the held write carries.
func holdAWrite(t *testing.T, ns string, extra ...string) (*manager, *writeProxy, *corev1.Secret, int64) {
	t.Helper()
	p := startProxy(t)
	m := startManager(t, p.kubeconfig(t), ns, extra...)
	nodes := initialPayload(t, ns)
	before, err := getSecret(ns)
	if err != nil {
		t.Fatal(err)
	}
	p.arm()
	addNode(t)
	path := p.waitHeld(t, 60*time.Second)
	t.Logf("holding the write %s", path)
	return m, p, before, nodes + 1
}

// checkUnchanged checks that the payload Secret of ns is still before, and
// passes the audit.
func checkUnchanged(t *testing.T, ns string, before *corev1.Secret) {
	t.Helper()
	after, err := getSecret(ns)
	if err != nil {
		t.Fatalf("the payload Secret after the fault: %v", err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the payload Secret changed (resourceVersion %s, was %s)", after.ResourceVersion, before.ResourceVersion)
	}
	audit(t, ns)
}

// watchSecret records every event of the payload Secret of ns after
// resourceVersion.
// stop ends the watch and returns the events.
func watchSecret(t *testing.T, ns, resourceVersion string) (stop func() []watch.Event) {
	t.Helper()
	w, err := kube.CoreV1().Secrets(ns).Watch(context.Background(), metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", secret.DefaultName).String(),
		ResourceVersion: resourceVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		events  []watch.Event
		stopped atomic.Bool // what the closing of the watch itself reports is not an event
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.ResultChan() {
			if !stopped.Load() {
				events = append(events, e)
			}
		}
	}()
	return func() []watch.Event {
		stopped.Store(true)
		w.Stop()
		<-done
		return events
	}
}

// TestSIGTERMDuringAnExport: SIGTERM while a Secret write is in flight. The
// manager gives the write up (it never reaches the API server), exits 0,
// and the Secret keeps the last good payload. A manager started after
// exports the change, so nothing is lost.
func TestSIGTERMDuringAnExport(t *testing.T) {
	ns := namespace(t)
	m, p, before, nodes := holdAWrite(t, ns)
	if code := m.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code after SIGTERM during an export = %d, want 0", code)
	}
	if n := m.count("shutting down: waiting for running exports"); n != 1 {
		t.Errorf("the shutdown was logged %d times, want once", n)
	}
	if n := p.abandonedWrites(); n != 1 {
		t.Errorf("%d held writes were given up by the manager, want 1", n)
	}
	p.releaseAll()
	checkUnchanged(t, ns, before)

	startManager(t, env.KubeconfigPath, ns)
	waitNodes(t, ns, nodes, exportBound)
	audit(t, ns)
}

// TestSIGKILLDuringAWrite: SIGKILL while a Secret write is in flight. The
// Secret keeps the last good payload; the manager started after reads it,
// never deletes it or writes a broken one, and writes the change.
func TestSIGKILLDuringAWrite(t *testing.T) {
	ns := namespace(t)
	m, p, before, nodes := holdAWrite(t, ns)
	stop := watchSecret(t, ns, before.ResourceVersion)
	if code := m.signal(syscall.SIGKILL); code != -1 {
		t.Fatalf("exit code after SIGKILL = %d, want -1 (killed)", code)
	}
	// The killed process's connection is closed: the held write goes nowhere.
	eventually(t, 10*time.Second, "the held write to be given up", func() (bool, error) {
		return p.abandonedWrites() == 1, nil
	})
	p.releaseAll()
	checkUnchanged(t, ns, before)

	startManager(t, env.KubeconfigPath, ns)
	waitNodes(t, ns, nodes, exportBound)
	audit(t, ns)
	events := stop()
	if len(events) == 0 {
		t.Error("no update of the payload Secret was seen after the restart")
	}
	for _, e := range events {
		s, ok := e.Object.(*corev1.Secret)
		if e.Type != watch.Modified || !ok {
			t.Errorf("the payload Secret had a %s event after the kill (%v); want only updates", e.Type, e.Object)
			continue
		}
		var r report.Report
		if err := json.Unmarshal(s.Data[secret.DefaultKey], &r); err != nil || r.Totals.Nodes < nodes-1 {
			t.Errorf("version %s of the payload Secret: %d nodes, %v; want a whole payload", s.ResourceVersion, r.Totals.Nodes, err)
		}
	}
}

// TestLeaseStolenWhileAnExportIsInFlight: another holder takes the Lease
// while the leader's Secret write is held. Once the old leader sees it has
// lost the Lease it gives the write up, and nothing it sends reaches the
// API server after the theft: no Secret, no ConfigMap, no Lease update is
// accepted.
func TestLeaseStolenWhileAnExportIsInFlight(t *testing.T) {
	ns := namespace(t)
	m, p, before, _ := holdAWrite(t, ns, "--leader-elect",
		"--leader-election-lease-duration", "8s", "--leader-election-renew-deadline", "5s",
		"--leader-election-retry-period", "1s")
	leases := kube.CoordinationV1().Leases(ns)
	l, err := leases.Get(context.Background(), options.DefaultLeaderElectionID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "thief" {
		t.Fatalf("the Lease has holder %v before the theft", l.Spec.HolderIdentity)
	}
	now := metav1.NewMicroTime(time.Now())
	l.Spec = coordinationv1.LeaseSpec{HolderIdentity: ptr.To("thief"), LeaseDurationSeconds: ptr.To[int32](3600),
		AcquireTime: &now, RenewTime: &now, LeaseTransitions: ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)}
	stolen := time.Now()
	if _, err := leases.Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the old leader to stop exporting", func() (bool, error) {
		return m.count("lost the Lease: exporting stopped") > 0, nil
	})
	// Only now is the held write let go; the old leader gave it up.
	p.releaseAll()
	time.Sleep(3 * time.Second)
	// A renewal the old leader tried before it noticed is refused by the
	// API server (the Lease's resourceVersion moved on): an attempt, not a
	// write.
	for _, w := range p.writesSince(stolen) {
		if w.code < 300 {
			t.Errorf("the old leader wrote after losing the Lease: %s %s at +%v answered %d", w.method, w.path, w.at.Sub(stolen).Round(time.Millisecond), w.code)
			continue
		}
		t.Logf("refused after the theft: %s %s at +%v answered %d", w.method, w.path, w.at.Sub(stolen).Round(time.Millisecond), w.code)
	}
	if n := p.abandonedWrites(); n != 1 {
		t.Errorf("%d held writes were given up, want 1", n)
	}
	checkUnchanged(t, ns, before)
	got, err := leases.Get(context.Background(), options.DefaultLeaderElectionID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := ptr.Deref(got.Spec.HolderIdentity, ""); h != "thief" {
		t.Errorf("the Lease is held by %q after the theft, want thief", h)
	}
}
