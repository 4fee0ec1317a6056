package loadgen

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rancher/telemetry-manager/tests/testenv"
)

// TestLoadAndHeartbeatsAgainstTheAPIServer loads a few hundred nodes into a
// real API server, then checks that the statuses arrived through the status
// subresource and that one heartbeat round updates every node and changes
// nothing but the heartbeat time.
func TestLoadAndHeartbeatsAgainstTheAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an API server")
	}
	crds, err := testenv.RancherCRDs()
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.StartT(t, testenv.Options{CRDs: crds})
	cl, err := NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Clusters: 3, Nodes: 300, Shapes: Distinct, Workers: 8, Progress: t.Logf}
	if err := cl.Load(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	// A second load of the same objects is a no-op, not an error.
	if err := cl.Load(t.Context(), cfg); err != nil {
		t.Fatalf("second load: %v", err)
	}

	list := func() map[string]unstructured.Unstructured {
		t.Helper()
		l, err := cl.Dynamic.Resource(NodesResource).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]unstructured.Unstructured{}
		for _, n := range l.Items {
			out[n.GetNamespace()+"/"+n.GetName()] = n
		}
		return out
	}
	before := list()
	if len(before) != cfg.Nodes {
		t.Fatalf("%d nodes stored, want %d", len(before), cfg.Nodes)
	}
	for i := 0; i < cfg.Nodes; i++ {
		c := ClusterOf(i, cfg.Clusters)
		want := Node(i, c, cfg.Shapes)
		got, ok := before[ClusterName(c)+"/"+NodeName(i)]
		if !ok {
			t.Fatalf("node %s/%s missing", ClusterName(c), NodeName(i))
		}
		if !reflect.DeepEqual(got.Object["status"], want.Object["status"]) {
			t.Fatalf("node %s: stored status differs from the generated one", NodeName(i))
		}
	}
	clusters, err := cl.Dynamic.Resource(ClustersResource).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(clusters.Items) != cfg.Clusters {
		t.Errorf("%d clusters stored, want %d", len(clusters.Items), cfg.Clusters)
	}
	for _, s := range Settings() {
		if _, err := cl.Dynamic.Resource(SettingsResource).Get(t.Context(), s.GetName(), metav1.GetOptions{}); err != nil {
			t.Errorf("setting %s: %v", s.GetName(), err)
		}
	}

	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	n, err := cl.Heartbeats(t.Context(), 8, at, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if n != cfg.Nodes {
		t.Errorf("%d heartbeats, want %d", n, cfg.Nodes)
	}
	after := list()
	for key, old := range before {
		got := after[key]
		if got.GetResourceVersion() == old.GetResourceVersion() {
			t.Errorf("node %s was not updated", key)
			continue
		}
		want := old.DeepCopy()
		if err := Heartbeat(want, at); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Object["status"], want.Object["status"]) || !reflect.DeepEqual(got.Object["spec"], want.Object["spec"]) {
			t.Errorf("node %s: the update changed more than the heartbeat time", key)
		}
	}
}

// TestExpiredContinue: a 410 for an expired continue token gives the token
// it carries; other errors and a 410 without one give none.
func TestExpiredContinue(t *testing.T) {
	expired := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired,
		ListMeta: metav1.ListMeta{Continue: "next-token"},
	}}
	if next, ok := expiredContinue(fmt.Errorf("listing: %w", expired)); !ok || next != "next-token" {
		t.Fatalf("expiredContinue(410 with a token) = %q, %v", next, ok)
	}
	bare := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired}}
	for _, err := range []error{nil, errors.New("boom"), bare, apierrors.NewNotFound(NodesResource.GroupResource(), "x")} {
		if next, ok := expiredContinue(err); ok {
			t.Errorf("expiredContinue(%v) = %q, true", err, next)
		}
	}
}
