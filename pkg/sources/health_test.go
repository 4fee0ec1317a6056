package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
)

// fakeInformer is an informer whose sync state the test sets; nothing else
// of it is used by cacheStatus.
type fakeInformer struct {
	toolscache.SharedIndexInformer
	hasSynced bool
}

func (f *fakeInformer) HasSynced() bool { return f.hasSynced }

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newTestStatus(kind string, gvr schema.GroupVersionResource, clk *clocktesting.FakePassiveClock, log *logrus.Logger) (*cacheStatus, *fakeInformer) {
	inf := &fakeInformer{}
	return newCacheStatus(kind, gvr, inf, clk, logrus.NewEntry(log)), inf
}

// listErr wraps err as the reflector wraps the error of its LIST.
func listErr(err error) error { return fmt.Errorf("failed to list *v3.Node: %w", err) }

func forbidden(resource string) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: v3.SchemeGroupVersion.Group, Resource: resource}, "",
		errors.New(`user "tm" cannot list resource`))
}

func TestCacheWarningAtMostOncePerMinutePerKind(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	clk := clocktesting.NewFakePassiveClock(t0)
	nodes, _ := newTestStatus("Node", v3.NodeResource, clk, log)
	settings, _ := newTestStatus("Setting", v3.SettingResource, clk, log)

	for range 3 {
		nodes.watchError(context.Background(), nil, listErr(forbidden("nodes")))
	}
	if n := len(hook.AllEntries()); n != 1 {
		t.Fatalf("3 failures within a second logged %d times, want once", n)
	}
	e := hook.LastEntry()
	if e.Level != logrus.WarnLevel || e.Data["verb"] != verbList || e.Data["resource"] != "management.cattle.io/v3 nodes" || e.Data["kind"] != "Node" {
		t.Errorf("warning = %v %q %v, want warn with verb list, resource and kind", e.Level, e.Message, e.Data)
	}
	if !strings.Contains(e.Message, "forbids list on management.cattle.io/v3 nodes") {
		t.Errorf("message %q does not name the verb and the resource", e.Message)
	}

	settings.watchError(context.Background(), nil, listErr(apierrors.NewNotFound(v3.SettingResource.GroupResource(), "")))
	if n := len(hook.AllEntries()); n != 2 {
		t.Fatalf("another kind's first failure: %d entries, want 2 (kinds are throttled apart)", n)
	}

	clk.SetTime(t0.Add(cacheLogEvery - time.Second))
	nodes.watchError(context.Background(), nil, listErr(forbidden("nodes")))
	if n := len(hook.AllEntries()); n != 2 {
		t.Fatalf("failure 59s after the warning logged again (%d entries)", n)
	}
	clk.SetTime(t0.Add(cacheLogEvery))
	nodes.watchError(context.Background(), nil, listErr(forbidden("nodes")))
	if n := len(hook.AllEntries()); n != 3 {
		t.Fatalf("failure a minute after the warning: %d entries, want 3", n)
	}
}

func TestCacheProblemSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		errs     []error // handed to the error handler in order
		synced   bool
		want     string // the whole message; empty means no problem
		wantKind func(error) bool
	}{
		{"no error yet", nil, false, "Node (management.cattle.io/v3 nodes): not synced yet", nil},
		{"list forbidden names the verb", []error{listErr(forbidden("nodes"))}, false,
			"Node (management.cattle.io/v3 nodes): list forbidden: " + listErr(forbidden("nodes")).Error(), apierrors.IsForbidden},
		{"watch forbidden names the verb", []error{forbidden("nodes")}, false,
			"Node (management.cattle.io/v3 nodes): watch forbidden: " + forbidden("nodes").Error(), apierrors.IsForbidden},
		{"missing resource is not found", []error{listErr(apierrors.NewNotFound(v3.NodeResource.GroupResource(), ""))}, false,
			"Node (management.cattle.io/v3 nodes): not found: " + listErr(apierrors.NewNotFound(v3.NodeResource.GroupResource(), "")).Error(), apierrors.IsNotFound},
		{"decode error shown as is", []error{listErr(errors.New("json: cannot unmarshal string"))}, false,
			"Node (management.cattle.io/v3 nodes): list failed: failed to list *v3.Node: json: cannot unmarshal string", nil},
		{"last error wins", []error{listErr(forbidden("nodes")), listErr(errors.New("connection refused"))}, false,
			"Node (management.cattle.io/v3 nodes): list failed: failed to list *v3.Node: connection refused", nil},
		{"end of a watch is no error", []error{io.EOF, io.ErrUnexpectedEOF, apierrors.NewResourceExpired("too old")}, false,
			"Node (management.cattle.io/v3 nodes): not synced yet", nil},
		{"synced has no problem", []error{listErr(forbidden("nodes"))}, true, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := logtest.NewNullLogger()
			c, inf := newTestStatus("Node", v3.NodeResource, clocktesting.NewFakePassiveClock(t0), log)
			for _, err := range tc.errs {
				c.watchError(context.Background(), nil, err)
			}
			inf.hasSynced = tc.synced
			err := c.problem()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("problem() = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("problem() = %v\nwant %s", err, tc.want)
			}
			if !errors.Is(err, ErrNotSynced) {
				t.Errorf("problem() does not match ErrNotSynced")
			}
			if tc.wantKind != nil && !tc.wantKind(err) {
				t.Errorf("problem() does not unwrap to the API error")
			}
		})
	}
}

func TestCacheErrorForgottenOnceSynced(t *testing.T) {
	log, _ := logtest.NewNullLogger()
	c, inf := newTestStatus("Node", v3.NodeResource, clocktesting.NewFakePassiveClock(t0), log)
	c.watchError(context.Background(), nil, listErr(forbidden("nodes")))
	inf.hasSynced = true
	if err := c.problem(); err != nil {
		t.Fatalf("synced: problem() = %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr != nil {
		t.Fatalf("last error %v kept after the sync", c.lastErr)
	}
}

// settingsStore is a settings cache the test fills; every Get is reported on
// gets, so the test knows when the waiter looked.
type settingsStore struct {
	value chan string // the value Get returns next ("" means not found)
	gets  chan struct{}
}

func (s *settingsStore) Get(name string) (*v3.Setting, error) {
	v := <-s.value
	s.gets <- struct{}{}
	if v == "" {
		return nil, apierrors.NewNotFound(v3.SettingResource.GroupResource(), name)
	}
	return &v3.Setting{Value: v}, nil
}

func TestReadyListsEveryCacheNotSynced(t *testing.T) {
	log, _ := logtest.NewNullLogger()
	clk := clocktesting.NewFakePassiveClock(t0)
	nodes, _ := newTestStatus("Node", v3.NodeResource, clk, log)
	features, _ := newTestStatus("Feature", v3.FeatureResource, clk, log)
	clusters, clustersInf := newTestStatus("Cluster", v3.ClusterResource, clk, log)
	clustersInf.hasSynced = true
	nodes.watchError(context.Background(), nil, listErr(forbidden("nodes")))
	features.watchError(context.Background(), nil, listErr(apierrors.NewNotFound(v3.FeatureResource.GroupResource(), "")))
	s := &Sources{caches: []*cacheStatus{clusters, nodes, features}}

	err := s.Ready()
	if !errors.Is(err, ErrNotSynced) {
		t.Fatalf("Ready() = %v, want ErrNotSynced", err)
	}
	msg := err.Error()
	for _, want := range []string{"Node (management.cattle.io/v3 nodes): list forbidden: ", "; Feature (management.cattle.io/v3 features): not found: "} {
		if !strings.Contains(msg, want) {
			t.Errorf("Ready() = %q, want it to contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "Cluster") || strings.Contains(msg, "\n") {
		t.Errorf("Ready() = %q: names a synced cache or spans lines", msg)
	}
	if got := s.CacheSynced(); !got["Cluster"] || got["Node"] || got["Feature"] {
		t.Errorf("CacheSynced() = %v, want only Cluster synced", got)
	}
}

func TestWaitForInstallUUIDLogsOnceAndEndsWithTheSetting(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	store := &settingsStore{value: make(chan string), gets: make(chan struct{})}
	s := &Sources{settings: store, settingChanged: make(chan struct{}, 1), log: logrus.NewEntry(log)}

	done := make(chan error, 1)
	go func() { done <- s.WaitForInstallUUID(context.Background()) }()
	// The Setting is missing at first, and stays empty for two more events.
	for range 3 {
		store.value <- ""
		<-store.gets
		s.settingEvent()
	}
	store.value <- "8d8c5a8e-2a1f-4c7e-9b3d-6f0e1a2b3c4d"
	<-store.gets
	if err := <-done; err != nil {
		t.Fatalf("WaitForInstallUUID() = %v", err)
	}
	var waiting int
	for _, e := range hook.AllEntries() {
		if strings.Contains(e.Message, "waiting for setting install-uuid") {
			waiting++
		}
	}
	if waiting != 1 {
		t.Fatalf("logged the wait %d times, want once", waiting)
	}
}

func TestReadyWaitsForInstallUUID(t *testing.T) {
	store := &settingsStore{value: make(chan string, 1), gets: make(chan struct{}, 1)}
	s := &Sources{settings: store}
	store.value <- ""
	if err := s.Ready(); !errors.Is(err, ErrWaitingForInstallUUID) {
		t.Fatalf("Ready() without the Setting = %v, want ErrWaitingForInstallUUID", err)
	}
	<-store.gets
	store.value <- "8d8c5a8e"
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready() with the Setting = %v, want nil", err)
	}
}

func TestWaitForInstallUUIDEndsWithTheContext(t *testing.T) {
	store := &settingsStore{value: make(chan string, 1), gets: make(chan struct{}, 1)}
	log, _ := logtest.NewNullLogger()
	s := &Sources{settings: store, settingChanged: make(chan struct{}, 1), log: logrus.NewEntry(log)}
	store.value <- ""
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WaitForInstallUUID(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitForInstallUUID(cancelled) = %v, want context.Canceled", err)
	}
}
