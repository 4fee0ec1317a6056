package integration

import (
	"context"
	"fmt"
	"k8s.io/apimachinery/pkg/api/meta"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
)

// updateNodeStatus applies f to the status of a v3 Node through the status
// subresource and returns the new resourceVersion.
func updateNodeStatus(t *testing.T, namespace, name string, f func(status map[string]any)) string {
	t.Helper()
	ctx := context.Background()
	r := client.Dynamic.Resource(v3.NodeResource).Namespace(namespace)
	n, err := r.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status, _, _ := unstructured.NestedMap(n.Object, "status")
	if status == nil {
		status = map[string]any{}
	}
	f(status)
	if err := unstructured.SetNestedMap(n.Object, status, "status"); err != nil {
		t.Fatal(err)
	}
	out, err := r.UpdateStatus(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out.GetResourceVersion()
}

// TestHeartbeatTriggersNoExport: a status update that changes only fields
// the manager never reads (a condition's heartbeat) triggers no run; one
// that changes the node's readiness or capacity does, and the payload
// follows.
func TestHeartbeatTriggersNoExport(t *testing.T) {
	o := options(t)
	c := start(t, env.Config, o)
	waitPayload(t, o, "the payload", func(r report.Report) bool { return r.Totals == sampleTotals })
	// Let the runs that follow the first write settle.
	eventually(t, "the exporter idle", func() (bool, error) {
		st, _ := c.Manager.Status("secret")
		return !st.InFlight && !st.NextRun.IsZero() && time.Until(st.NextRun) > time.Minute, fmt.Errorf("status %+v", st)
	})
	// The sample's nodes have no conditions: a Ready condition of the
	// node's Kubernetes status is a readiness change, which exports.
	ready := func(heartbeat time.Time) []any {
		return []any{map[string]any{"type": "Ready", "status": "True", "reason": "KubeletReady",
			"lastHeartbeatTime": heartbeat.UTC().Format(time.RFC3339)}}
	}
	updateNodeStatus(t, "local", "machine-local-2", func(st map[string]any) {
		_ = unstructured.SetNestedSlice(st, ready(time.Now().Add(-time.Minute)), "internalNodeStatus", "conditions")
	})
	waitPayload(t, o, "the node ready", func(r report.Report) bool { return r.NodeStates.All.Ready == 1 })
	eventually(t, "the exporter idle after the readiness change", func() (bool, error) {
		st, _ := c.Manager.Status("secret")
		return !st.InFlight && !st.NextRun.IsZero() && time.Until(st.NextRun) > time.Minute, fmt.Errorf("status %+v", st)
	})
	before, _ := c.Manager.Status("secret")

	var rv string
	for i := range 20 {
		rv = updateNodeStatus(t, "local", "machine-local-2", func(st map[string]any) {
			beat := time.Now().Add(time.Duration(i) * time.Second)
			st["conditions"] = []any{map[string]any{"type": "Ready", "status": "True",
				"lastHeartbeatTime": beat.UTC().Format(time.RFC3339)}}
			_ = unstructured.SetNestedSlice(st, ready(beat), "internalNodeStatus", "conditions")
		})
	}
	// The last heartbeat has reached the cache once the node's
	// resourceVersion there is the one written.
	eventually(t, "the heartbeats in the cache", func() (bool, error) {
		n, err := c.Sources.Factory.SharedCacheFactory().ForKind(v3.NodeGVK)
		if err != nil {
			return false, err
		}
		obj, ok, err := n.GetStore().GetByKey("local/machine-local-2")
		if err != nil || !ok {
			return false, err
		}
		// The cache holds the gatherer's record of the node, which
		// answers for its resourceVersion as an object would.
		m, err := meta.Accessor(obj)
		if err != nil {
			return false, err
		}
		return m.GetResourceVersion() == rv, nil
	})
	stays(t, 10*o.Debounce, "no run after heartbeats", func() (bool, error) {
		st, _ := c.Manager.Status("secret")
		return st.Runs == before.Runs && !st.InFlight, fmt.Errorf("runs %d -> %d", before.Runs, st.Runs)
	})

	// A read field does trigger: the node's memory grows by 1 GiB.
	t.Cleanup(func() {
		updateNodeStatus(t, "local", "machine-local-2", func(st map[string]any) {
			_ = unstructured.SetNestedField(st, "16Gi", "internalNodeStatus", "capacity", "memory")
			delete(st, "conditions")
			unstructured.RemoveNestedField(st, "internalNodeStatus", "conditions")
		})
	})
	updateNodeStatus(t, "local", "machine-local-2", func(st map[string]any) {
		_ = unstructured.SetNestedField(st, "17Gi", "internalNodeStatus", "capacity", "memory")
	})
	want := sampleTotals.MemoryBytes + 1<<30
	waitPayload(t, o, "the capacity change", func(r report.Report) bool { return r.Totals.MemoryBytes == want })
}
