package sources

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/gatherer"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// answer is what the fake discovery returns for one ServerVersion call.
type answer struct {
	version string
	err     error
}

// scriptedDiscovery returns a fake discovery whose every ServerVersion call
// takes the next answer from the channel, so the test knows each read.
func scriptedDiscovery(answers <-chan answer) *fakediscovery.FakeDiscovery {
	d := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	d.AddReactor("get", "version", func(clienttesting.Action) (bool, runtime.Object, error) {
		a := <-answers
		if a.err != nil {
			return true, nil, a.err
		}
		// Read by ServerVersion in this goroutine, after the reactor.
		d.FakedServerVersion = &version.Info{GitVersion: a.version}
		return true, nil, nil
	})
	return d
}

// kubeGatherer is a real kubernetes-mode gatherer started at v1.30.0, as
// Connect seeds it.
func kubeGatherer(t *testing.T) *gatherer.Gatherer {
	t.Helper()
	g, err := gatherer.New(gatherer.NewStatic().Config(snapshot.ModeKubernetes, snapshot.Install{InstallUUID: "u", KubernetesVersion: "v1.30.0"}))
	if err != nil {
		t.Fatal(err)
	}
	g.SetKubernetesVersion("v1.30.0")
	return g
}

func snapshotVersion(t *testing.T, g *gatherer.Gatherer) string {
	t.Helper()
	s, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return s.Install.KubernetesVersion
}

func TestVersionEveryIsIntervalCappedAtTenMinutes(t *testing.T) {
	for _, tc := range []struct {
		interval, want time.Duration
	}{
		{time.Second, time.Second},
		{5 * time.Minute, 5 * time.Minute},
		{10 * time.Minute, 10 * time.Minute},
		{time.Hour, 10 * time.Minute},
	} {
		if got := versionEvery(tc.interval); got != tc.want {
			t.Errorf("versionEvery(%s) = %s, want %s", tc.interval, got, tc.want)
		}
	}
}

func TestVersionWatchTriggersOnlyWhenTheVersionChanged(t *testing.T) {
	answers := make(chan answer)
	g := kubeGatherer(t)
	clk := clocktesting.NewFakeClock(t0)
	var triggers atomic.Int32
	triggered := make(chan struct{}, 10)
	w := &VersionWatch{
		discovery: scriptedDiscovery(answers), set: g.SetKubernetesVersion,
		changed: func() { triggers.Add(1); triggered <- struct{}{} },
		every:   versionEvery(time.Hour), clock: clk, log: logrus.NewEntry(logrus.New()),
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); w.Run(ctx) }()
	defer func() { cancel(); <-stopped }()

	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond) // until Run's ticker exists
	}
	// Unchanged: read, no trigger. The next read only starts once this one
	// is done, so its trigger is the only one.
	clk.Step(10 * time.Minute)
	answers <- answer{version: "v1.30.0"}
	clk.Step(10 * time.Minute)
	answers <- answer{version: "v1.31.2"}
	<-triggered
	if n := triggers.Load(); n != 1 {
		t.Fatalf("%d triggers, want 1 (the unchanged read triggers nothing)", n)
	}
	if v := snapshotVersion(t, g); v != "v1.31.2" {
		t.Fatalf("snapshot Kubernetes version = %s, want the upgraded v1.31.2", v)
	}
	// A failed read keeps the last version and triggers nothing.
	clk.Step(10 * time.Minute)
	answers <- answer{err: errors.New("connection refused")}
	clk.Step(10 * time.Minute)
	answers <- answer{version: "v1.32.0"}
	<-triggered
	if n := triggers.Load(); n != 2 {
		t.Fatalf("%d triggers, want 2", n)
	}
	if v := snapshotVersion(t, g); v != "v1.32.0" {
		t.Fatalf("snapshot Kubernetes version = %s, want v1.32.0", v)
	}
}

func TestVersionWatchLogsFailuresAtMostHourly(t *testing.T) {
	answers := make(chan answer, 1)
	log, hook := logtest.NewNullLogger()
	clk := clocktesting.NewFakeClock(t0)
	w := &VersionWatch{
		discovery: scriptedDiscovery(answers), set: kubeGatherer(t).SetKubernetesVersion, changed: func() {},
		every: time.Minute, clock: clk, log: logrus.NewEntry(log),
	}
	fail := func() {
		answers <- answer{err: errors.New("connection refused")}
		w.check()
	}
	fail()
	fail()
	clk.Step(versionLogEvery - time.Minute)
	fail()
	if n := len(hook.AllEntries()); n != 1 {
		t.Fatalf("3 failures within the hour logged %d times, want once", n)
	}
	clk.Step(time.Minute)
	fail()
	if n := len(hook.AllEntries()); n != 2 {
		t.Fatalf("a failure an hour later: %d entries, want 2", n)
	}
	// A success ends the failure streak: the next failure is news.
	answers <- answer{version: "v1.30.0"}
	w.check()
	fail()
	if n := len(hook.AllEntries()); n != 3 {
		t.Fatalf("first failure after a success: %d entries, want 3", n)
	}
	if e := hook.LastEntry(); e.Level != logrus.WarnLevel || e.Data[logrus.ErrorKey] == nil {
		t.Errorf("entry = %v %v, want a warning with the error", e.Level, e.Data)
	}
}
