package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/events"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/optout"
)

// eventCluster is a v3 Cluster of the test's own, with its Kubernetes
// version in status.
func eventCluster(name, version string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "management.cattle.io/v3", "kind": "Cluster",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"displayName": name + " display"},
		"status": map[string]any{
			"driver":  "imported",
			"version": map[string]any{"gitVersion": version},
			"conditions": []any{
				map[string]any{"type": "Ready", "status": "True"},
				map[string]any{"type": "Provisioned", "status": "True"},
			},
		},
	}}
}

func eventNode(cluster, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "management.cattle.io/v3", "kind": "Node",
		"metadata": map[string]any{"name": name, "namespace": cluster},
		"spec":     map[string]any{"worker": true},
		"status": map[string]any{"internalNodeStatus": map[string]any{
			"capacity":    map[string]any{"cpu": "2", "memory": "4Gi"},
			"allocatable": map[string]any{"cpu": "2", "memory": "4Gi"},
			"nodeInfo":    map[string]any{"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "v1.31.2"},
		}},
	}}
}

// payloadLog records the events of every payload the Secret held, from a
// watch, so that an event sent twice is seen.
type payloadLog struct {
	mu       sync.Mutex
	payloads [][]report.Event
	errs     []string
}

func watchPayloads(t *testing.T, o *controller.Options) *payloadLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := kube.CoreV1().Secrets(o.SecretNamespace).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + o.SecretName})
	if err != nil {
		t.Fatal(err)
	}
	l := &payloadLog{}
	go func() {
		defer w.Stop()
		var last string
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*corev1.Secret)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			data := string(s.Data[secret.DefaultKey])
			if data == last {
				continue // an annotation or label write: the same payload
			}
			last = data
			var r report.Report
			l.mu.Lock()
			if err := json.Unmarshal([]byte(data), &r); err != nil {
				l.errs = append(l.errs, err.Error())
			} else {
				l.payloads = append(l.payloads, r.Events.Items)
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// delivered returns every event of every payload, in the order written.
func (l *payloadLog) delivered() []report.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []report.Event
	for _, p := range l.payloads {
		out = append(out, p...)
	}
	return out
}

// describe returns an event as "type from->to" with versions or counts.
func describe(e report.Event) string {
	if e.Type == "clusterUpgraded" || e.Type == "clusterCreated" && e.ToVersion != "" {
		return fmt.Sprintf("%s %s->%s", e.Type, e.FromVersion, e.ToVersion)
	}
	return fmt.Sprintf("%s %d->%d", e.Type, e.FromNodes, e.ToNodes)
}

// ofCluster returns the descriptions of the events of cluster id.
func ofCluster(evs []report.Event, id string) []string {
	var out []string
	for _, e := range evs {
		if e.ClusterID == id {
			out = append(out, describe(e))
		}
	}
	return out
}

// waitEvents waits until the payloads delivered hold exactly want for id.
func waitEvents(t *testing.T, l *payloadLog, id string, want ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("events %q", want), func() (bool, error) {
		got := ofCluster(l.delivered(), id)
		return slices.Equal(got, want), fmt.Errorf("events delivered: %q", got)
	})
}

// TestLifecycleEventsAreDeliveredOnce: creating, upgrading, scaling and
// deleting a v3 Cluster gives exactly those events, each in one payload
// of the Secret; every event carries the cluster's pseudonym only.
func TestLifecycleEventsAreDeliveredOnce(t *testing.T) {
	o := options(t)
	o.MetricsAddress = ""
	o.Events.FlushInterval = time.Second
	ctx := context.Background()
	c := start(t, env.Config, o)
	waitPayload(t, o, "the first payload", func(r report.Report) bool { return r.Totals == sampleTotals })
	payloads := watchPayloads(t, o)

	name := "c-ev-" + o.SecretNamespace[3:]
	id := report.ClusterID(c.Sources.Identity.Key, name)
	cl := eventCluster(name, "v1.30.4")
	t.Cleanup(func() {
		_ = client.Delete(ctx, eventCluster(name, ""))
		for _, n := range []string{"m-1", "m-2"} {
			_ = client.Delete(ctx, eventNode(name, n))
		}
	})
	if err := client.Apply(ctx, cl); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, payloads, id, "clusterCreated ->v1.30.4")

	if err := client.Apply(ctx, eventCluster(name, "v1.31.2")); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, payloads, id, "clusterCreated ->v1.30.4", "clusterUpgraded v1.30.4->v1.31.2")

	if err := client.Apply(ctx, eventNode(name, "m-1"), eventNode(name, "m-2")); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, payloads, id, "clusterCreated ->v1.30.4", "clusterUpgraded v1.30.4->v1.31.2", "nodePoolGrown 0->2")

	if err := client.Delete(ctx, eventNode(name, "m-2")); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, payloads, id, "clusterCreated ->v1.30.4", "clusterUpgraded v1.30.4->v1.31.2", "nodePoolGrown 0->2", "nodePoolShrunk 2->1")

	if err := client.Delete(ctx, eventCluster(name, "")); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, payloads, id, "clusterCreated ->v1.30.4", "clusterUpgraded v1.30.4->v1.31.2", "nodePoolGrown 0->2", "nodePoolShrunk 2->1", "clusterDeleted 1->0")

	// Later writes carry none of them again.
	if err := client.Delete(ctx, eventNode(name, "m-1")); err != nil {
		t.Fatal(err)
	}
	waitPayload(t, o, "the sample's totals again", func(r report.Report) bool { return r.Totals == sampleTotals && len(r.Events.Items) == 0 })
	all := payloads.delivered()
	seen := map[int64]int{}
	for _, e := range all {
		if seen[e.Seq]++; seen[e.Seq] > 1 {
			t.Errorf("event %d (%s) delivered %d times", e.Seq, describe(e), seen[e.Seq])
		}
		if e.ClusterID != id {
			t.Errorf("event %d of another cluster: %s %s", e.Seq, e.ClusterID, describe(e))
		}
	}
	if len(payloads.errs) > 0 {
		t.Errorf("payloads that did not decode: %v", payloads.errs)
	}
	// The saved state names no cluster.
	eventually(t, "the events saved", func() (bool, error) {
		cm, err := kube.CoreV1().ConfigMaps(o.SecretNamespace).Get(ctx, o.Events.ConfigMap, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		raw := cm.Data[events.StateKey]
		if strings.Contains(raw, name) {
			t.Fatalf("the saved events name the cluster: %s", raw)
		}
		var st events.State
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return false, err
		}
		return st.Cursors["secret"] >= uint64(len(all)) && len(st.Events) == 0, fmt.Errorf("state %+v", st)
	})
}

// TestUndeliveredEventsSurviveARestart: an event recorded while exporting
// is switched off is saved; a new process delivers it once telemetry is
// switched on again, with the cluster created while no process ran, and
// does not send again what was delivered before the restart.
func TestUndeliveredEventsSurviveARestart(t *testing.T) {
	o := options(t)
	o.MetricsAddress = ""
	o.Events.FlushInterval = time.Second
	ctx := context.Background()
	c, stop := runController(t, env.Config, o, nil)
	waitPayload(t, o, "the first payload", func(r report.Report) bool { return r.Totals == sampleTotals })
	payloads := watchPayloads(t, o)
	key := c.Sources.Identity.Key
	a, b := "c-ev-a"+o.SecretNamespace[3:], "c-ev-b"+o.SecretNamespace[3:]
	t.Cleanup(func() {
		_ = client.Delete(ctx, eventCluster(a, ""))
		_ = client.Delete(ctx, eventCluster(b, ""))
	})
	if err := client.Apply(ctx, eventCluster(a, "v1.30.4")); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, payloads, report.ClusterID(key, a), "clusterCreated ->v1.30.4")

	cms := kube.CoreV1().ConfigMaps(o.SecretNamespace)
	sw := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.SecretNamespace, Name: o.ConfigMapName},
		Data:       map[string]string{optout.Key: "true"},
	}
	if _, err := cms.Create(ctx, sw, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "telemetry switched off", func() (bool, error) { return c.Manager.Paused(), nil })
	if err := client.Apply(ctx, eventCluster(a, "v1.31.2")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the upgrade saved", func() (bool, error) {
		n := savedEvents(ctx, o)
		return n == 1, fmt.Errorf("%d events saved", n)
	})
	stop()

	// While nothing runs.
	if err := client.Apply(ctx, eventCluster(b, "v1.32.1")); err != nil {
		t.Fatal(err)
	}
	c2, _ := runController(t, env.Config, o, nil)
	if string(c2.Sources.Identity.Key) != string(key) {
		t.Fatal("the restarted controller has another identity")
	}
	eventually(t, "the saved event loaded and the new cluster found", func() (bool, error) {
		n := c2.Events.Stats().Buffered
		return n == 2, fmt.Errorf("%d events buffered", n)
	})
	sw.Data[optout.Key] = "false"
	if _, err := cms.Update(ctx, sw, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, payloads, report.ClusterID(key, a), "clusterCreated ->v1.30.4", "clusterUpgraded v1.30.4->v1.31.2")
	waitEvents(t, payloads, report.ClusterID(key, b), "clusterCreated ->v1.32.1")
	seqs := map[int64]bool{}
	for _, e := range payloads.delivered() {
		if seqs[e.Seq] {
			t.Errorf("event %d delivered twice", e.Seq)
		}
		seqs[e.Seq] = true
	}
}

// savedEvents returns how many events the events ConfigMap holds.
func savedEvents(ctx context.Context, o *controller.Options) int {
	cm, err := kube.CoreV1().ConfigMaps(o.SecretNamespace).Get(ctx, o.Events.ConfigMap, metav1.GetOptions{})
	if err != nil {
		return -1
	}
	var st events.State
	if err := json.Unmarshal([]byte(cm.Data[events.StateKey]), &st); err != nil {
		return -1
	}
	return len(st.Events)
}
