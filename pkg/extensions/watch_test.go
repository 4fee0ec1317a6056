package extensions

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/rancher/telemetry-manager/pkg/gatherer"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// fakeInformer hands the events a test sends to the registered handler,
// as a ConfigMap informer would.
type fakeInformer struct {
	handler toolscache.ResourceEventHandler
}

func (f *fakeInformer) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	f.handler = h
	return nil, nil
}

func configMap(namespace, name, rv, doc string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, ResourceVersion: rv}}
	if doc != "" {
		cm.Data = map[string]string{Key: doc}
	}
	return cm
}

// TestConfigMapChangesReachTheGatherer: each change of the ConfigMap is
// read into the gatherer's snapshot and asks for an export, without a
// restart; other ConfigMaps and resyncs change nothing.
func TestConfigMapChangesReachTheGatherer(t *testing.T) {
	changes := 0
	g, err := gatherer.New(gatherer.Config{
		Mode: snapshot.ModeKubernetes, UseHandlers: true,
		Install:  snapshot.Install{InstallUUID: "5e0a1c2d-7b3f-4a9e-8c6d-2f1e0d9c8b7a"},
		OnChange: func() { changes++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	inf := &fakeInformer{}
	if err := Watch(inf, "cattle-telemetry", "ext", func(r Result) { g.SetExtensions(r.Pairs, r.Refused, r.Problems) }); err != nil {
		t.Fatal(err)
	}
	extensions := func() ([]snapshot.Extension, int) {
		t.Helper()
		s, err := g.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return s.Extensions, s.ExtensionsRefused
	}

	v1 := configMap("cattle-telemetry", "ext", "1", `{"team": "platform", "bad key": "x"}`)
	inf.handler.OnAdd(v1, true)
	if got, refused := extensions(); !slices.Equal(got, []snapshot.Extension{{Key: "team", Value: "platform"}}) || refused != 1 || changes != 1 {
		t.Fatalf("after add: extensions %v, refused %d, %d changes", got, refused, changes)
	}
	inf.handler.OnUpdate(v1, v1) // a resync
	inf.handler.OnAdd(configMap("cattle-telemetry", "other", "1", `{"x": "y"}`), false)
	inf.handler.OnAdd(configMap("default", "ext", "1", `{"x": "y"}`), false)
	if changes != 1 {
		t.Fatalf("a resync or another ConfigMap asked for %d exports", changes-1)
	}
	v2 := configMap("cattle-telemetry", "ext", "2", `{"team": "data", "tier": "gold"}`)
	inf.handler.OnUpdate(v1, v2)
	if got, refused := extensions(); !slices.Equal(got, []snapshot.Extension{{Key: "team", Value: "data"}, {Key: "tier", Value: "gold"}}) || refused != 0 || changes != 2 {
		t.Fatalf("after update: extensions %v, refused %d, %d changes", got, refused, changes)
	}
	inf.handler.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "cattle-telemetry/ext", Obj: v2})
	if got, refused := extensions(); len(got) != 0 || refused != 0 || changes != 3 {
		t.Fatalf("after delete: extensions %v, refused %d, %d changes", got, refused, changes)
	}
	inf.handler.OnAdd(configMap("cattle-telemetry", "ext", "4", ""), false)
	if got, _ := extensions(); len(got) != 0 || changes != 3 {
		t.Fatalf("a ConfigMap without the key: extensions %v, %d changes", got, changes)
	}
}
