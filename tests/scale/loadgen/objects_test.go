package loadgen

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestGeneratedNodeIsAboutTenKilobytesOfJSON(t *testing.T) {
	for _, s := range []Shapes{Uniform, Distinct} {
		t.Run(string(s), func(t *testing.T) {
			b, err := json.Marshal(Node(12345, 45, s).Object)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(b); n < 9_000 || n > 11_500 {
				t.Errorf("node is %d bytes of JSON, want about 10 KB (9,000 to 11,500)", n)
			}
		})
	}
}

func TestGeneratedNodeCarriesWhatARealNodeCarries(t *testing.T) {
	n := Node(7, 3, Uniform)
	if got, want := n.GetNamespace(), ClusterName(3); got != want {
		t.Errorf("namespace %q, want the cluster's name %q", got, want)
	}
	for _, path := range [][]string{
		{"status", "internalNodeStatus", "images"},
		{"status", "internalNodeStatus", "conditions"},
		{"status", "internalNodeStatus", "addresses"},
	} {
		l, ok, err := unstructured.NestedSlice(n.Object, path...)
		if err != nil || !ok || len(l) < 3 {
			t.Errorf("%v: %d entries (found %v, err %v), want at least 3", path, len(l), ok, err)
		}
	}
	if len(n.GetLabels()) == 0 || len(n.GetAnnotations()) == 0 {
		t.Errorf("labels %v, annotations %v: want both", n.GetLabels(), n.GetAnnotations())
	}
	for _, f := range []string{"cpu", "memory"} {
		if _, ok, _ := unstructured.NestedString(n.Object, "status", "internalNodeStatus", "capacity", f); !ok {
			t.Errorf("status.internalNodeStatus.capacity.%s missing", f)
		}
	}
	if _, ok, _ := unstructured.NestedString(n.Object, "status", "internalNodeStatus", "nodeInfo", "kubeletVersion"); !ok {
		t.Error("status.internalNodeStatus.nodeInfo.kubeletVersion missing")
	}
}

// shapeKey is what a node's shape is made of.
func shapeKey(t *testing.T, n *unstructured.Unstructured) [3]string {
	t.Helper()
	get := func(path ...string) string {
		v, ok, err := unstructured.NestedString(n.Object, path...)
		if err != nil || !ok {
			t.Fatalf("%s: %v missing (err %v)", n.GetName(), path, err)
		}
		return v
	}
	return [3]string{
		get("status", "internalNodeStatus", "capacity", "cpu"),
		get("status", "internalNodeStatus", "capacity", "memory"),
		get("status", "internalNodeStatus", "nodeInfo", "kubeletVersion"),
	}
}

func TestShapes(t *testing.T) {
	const n = 2000
	tests := []struct {
		name   string
		shapes Shapes
		want   int // distinct shapes among n nodes
	}{
		{"uniform nodes share one shape", Uniform, 1},
		{"distinct nodes all differ", Distinct, n},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[[3]string]bool{}
			cpus, kubelets := map[string]bool{}, map[string]bool{}
			for i := 0; i < n; i++ {
				k := shapeKey(t, Node(i, ClusterOf(i, 20), tc.shapes))
				seen[k] = true
				cpus[k[0]], kubelets[k[2]] = true, true
			}
			if len(seen) != tc.want {
				t.Errorf("%d distinct shapes among %d nodes, want %d", len(seen), n, tc.want)
			}
			if tc.shapes == Distinct && (len(cpus) < 10 || len(kubelets) < 10) {
				t.Errorf("distinct shapes vary %d CPU counts and %d kubelet versions, want at least 10 of each", len(cpus), len(kubelets))
			}
		})
	}
}

func TestNodeNamesAreUniqueAndSpreadOverClusters(t *testing.T) {
	const nodes, clusters = 1000, 7
	names := map[string]bool{}
	perCluster := map[string]int{}
	for i := 0; i < nodes; i++ {
		n := Node(i, ClusterOf(i, clusters), Uniform)
		names[n.GetName()] = true
		perCluster[n.GetNamespace()]++
	}
	if len(names) != nodes {
		t.Errorf("%d distinct names for %d nodes", len(names), nodes)
	}
	if len(perCluster) != clusters {
		t.Errorf("nodes in %d clusters, want %d", len(perCluster), clusters)
	}
	for c, k := range perCluster {
		if k < nodes/clusters || k > nodes/clusters+1 {
			t.Errorf("cluster %s has %d nodes, want %d or %d", c, k, nodes/clusters, nodes/clusters+1)
		}
	}
}

func TestHeartbeatChangesOnlyTheHeartbeatTime(t *testing.T) {
	before := Node(42, 1, Distinct)
	after := before.DeepCopy()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := Heartbeat(after, at); err != nil {
		t.Fatal(err)
	}
	conds, _, _ := unstructured.NestedSlice(after.Object, "status", "internalNodeStatus", "conditions")
	var beat any
	for _, c := range conds {
		if m := c.(map[string]any); m["type"] == HeartbeatCondition {
			beat = m["lastHeartbeatTime"]
		}
	}
	if beat != "2026-01-02T03:04:05Z" {
		t.Errorf("heartbeat %v, want 2026-01-02T03:04:05Z", beat)
	}
	// Put the old time back: what remains must be the node as it was.
	old, _, _ := unstructured.NestedSlice(before.Object, "status", "internalNodeStatus", "conditions")
	for i, c := range conds {
		if m := c.(map[string]any); m["type"] == HeartbeatCondition {
			m["lastHeartbeatTime"] = old[i].(map[string]any)["lastHeartbeatTime"]
		}
	}
	if err := unstructured.SetNestedSlice(after.Object, conds, "status", "internalNodeStatus", "conditions"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Object, after.Object) {
		t.Error("the heartbeat changed more than the heartbeat time")
	}
}

func TestHeartbeatWithoutTheConditionIsAnError(t *testing.T) {
	n := Node(1, 0, Uniform)
	unstructured.RemoveNestedField(n.Object, "status", "internalNodeStatus", "conditions")
	if err := Heartbeat(n, time.Now()); !errors.Is(err, ErrNoHeartbeat) {
		t.Errorf("err %v, want ErrNoHeartbeat", err)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{Clusters: 0, Nodes: -1, Workers: 0, Shapes: "round"}.Validate()
	if !errors.Is(err, ErrCounts) || !errors.Is(err, ErrShapes) {
		t.Fatalf("err %v, want ErrCounts and ErrShapes", err)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 4 {
		t.Errorf("%d problems reported, want 4: %v", n, err)
	}
	if err := (Config{Clusters: 1, Nodes: 0, Workers: 1, Shapes: Uniform}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
