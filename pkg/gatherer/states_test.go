package gatherer

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// decodeCluster reads a v3 Cluster named c-1 whose status.conditions is
// conditions, as the informer's decoder does.
func decodeCluster(t *testing.T, conditions, rv string) *v3.Cluster {
	t.Helper()
	doc := `{"kind": "Cluster", "metadata": {"name": "c-1", "resourceVersion": "` + rv + `"},
		"status": {"driver": "rke2", "version": {"gitVersion": "v1.32.4"}, "conditions": ` + conditions + `}}`
	c := &v3.Cluster{}
	if err := json.Unmarshal([]byte(doc), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// conds writes a conditions list of type=status pairs, each with the times
// and texts Rancher writes.
func conds(pairs ...string) string {
	out := make([]string, 0, len(pairs))
	for _, p := range pairs {
		typ, status, _ := strings.Cut(p, "=")
		out = append(out, fmt.Sprintf(`{"type": %q, "status": %q, "lastUpdateTime": "2026-01-02T03:04:05Z", "reason": "r", "message": "worker-07.corp.example"}`, typ, status))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func TestClusterStateFromConditions(t *testing.T) {
	tests := []struct {
		name       string
		conditions string
		want       snapshot.ClusterState
		problem    bool // status.conditions is one of the problems
	}{
		{"ready", conds("Provisioned=True", "Connected=True", "Updated=True", "Ready=True"), snapshot.StateReady, false},
		{"ready without Connected and Updated", conds("Provisioned=True", "Ready=True"), snapshot.StateReady, false},
		{"ready, Provisioned absent", conds("Ready=True"), snapshot.StateReady, false},
		{"not ready", conds("Provisioned=True", "Connected=True", "Updated=True", "Ready=False"), snapshot.StateNotReady, false},
		{"provisioning: Provisioned Unknown", conds("Provisioned=Unknown", "Ready=Unknown"), snapshot.StateProvisioning, false},
		{"provisioning: Provisioned False", conds("Provisioned=False", "Ready=False", "Connected=False"), snapshot.StateProvisioning, false},
		{"provisioning: no conditions yet", `[]`, snapshot.StateProvisioning, false},
		{"provisioning: conditions absent", `null`, snapshot.StateProvisioning, false},
		{"upgrading: Updated Unknown", conds("Provisioned=True", "Updated=Unknown", "Ready=True"), snapshot.StateUpgrading, false},
		{"upgrading: Updated False", conds("Provisioned=True", "Updated=False", "Ready=False"), snapshot.StateUpgrading, false},
		{"unavailable: agent disconnected", conds("Provisioned=True", "Connected=False", "Updated=Unknown", "Ready=True"), snapshot.StateUnavailable, false},
		{"unavailable: Ready Unknown", conds("Provisioned=True", "Ready=Unknown"), snapshot.StateUnavailable, false},
		{"unavailable: Ready absent", conds("Provisioned=True"), snapshot.StateUnavailable, false},
		{"an odd status is Unknown", conds("Provisioned=True", "Ready=Maybe"), snapshot.StateUnavailable, false},
		{"the last of a type listed twice counts", conds("Provisioned=True", "Ready=False", "Ready=True"), snapshot.StateReady, false},
		{"unreadable: not an array", `"Ready"`, snapshot.StateUnavailable, true},
		{"unreadable: an element not an object", `[1]`, snapshot.StateUnavailable, true},
		{"unreadable: a status not a string", `[{"type": "Ready", "status": true}]`, snapshot.StateUnavailable, true},
		{"unreadable: a type not a string", `[{"type": ["Ready"], "status": "True"}]`, snapshot.StateUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFed(t, snapshot.ModeRancher)
			f.add(setting(SettingInstallUUID, "u-1", ""), decodeCluster(t, tt.conditions, "1"))
			s := f.snapshot(t)
			if len(s.Clusters) != 1 || s.Clusters[0].State != tt.want {
				t.Fatalf("clusters %+v, want one of state %s", s.Clusters, tt.want)
			}
			i := slices.IndexFunc(s.Problems, func(p snapshot.Problem) bool {
				return p.Object == "Cluster c-1" && p.Field == "status.conditions" && errors.Is(p.Err, ErrWrongType)
			})
			if got := i >= 0; got != tt.problem {
				t.Errorf("status.conditions a problem = %v, want %v (problems %v)", got, tt.problem, s.Problems)
			}
		})
	}
}

func TestClusterStateChangeTriggersAndTimesDoNot(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	f.add(setting(SettingInstallUUID, "u-1", ""))
	ready := decodeCluster(t, conds("Provisioned=True", "Ready=True"), "1")
	f.add(ready)
	before := f.changes
	touched := decodeCluster(t, strings.ReplaceAll(conds("Provisioned=True", "Ready=True"), "03:04:05", "03:09:05"), "2")
	f.update(ready, touched)
	if f.changes != before {
		t.Fatalf("a condition whose times moved called OnChange %d times", f.changes-before)
	}
	upgrading := decodeCluster(t, conds("Provisioned=True", "Updated=Unknown", "Ready=True"), "3")
	f.update(touched, upgrading)
	if f.changes != before+1 {
		t.Fatalf("a state change called OnChange %d times, want 1", f.changes-before)
	}
	if got := f.snapshot(t).Clusters[0].State; got != snapshot.StateUpgrading {
		t.Errorf("state = %s, want upgrading", got)
	}
}

// decodeNode reads a v3 Node of cluster local with the given roles whose
// Ready condition has status ready ("" for no conditions) and the given
// heartbeat time.
func decodeNode(t *testing.T, name, rv, ready, heartbeat string, roles ...string) *v3.Node {
	t.Helper()
	spec := map[string]bool{}
	for _, r := range roles {
		spec[r] = true
	}
	specJSON, _ := json.Marshal(spec)
	conditions := "[]"
	if ready != "" {
		conditions = fmt.Sprintf(`[{"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": %q},
			{"type": "Ready", "status": %q, "lastHeartbeatTime": %q, "reason": "KubeletReady", "message": "kubelet is posting ready status"}]`, heartbeat, ready, heartbeat)
	}
	doc := fmt.Sprintf(`{"kind": "Node", "metadata": {"name": %q, "namespace": "local", "resourceVersion": %q}, "spec": %s,
		"status": {"internalNodeStatus": {"capacity": {"cpu": "2", "memory": "4Gi"}, "conditions": %s}}}`, name, rv, specJSON, conditions)
	n := &v3.Node{}
	if err := json.Unmarshal([]byte(doc), n); err != nil {
		t.Fatal(err)
	}
	return n
}

func readiness(ready, notReady, unknown int) snapshot.ReadyCounts {
	return snapshot.ReadyCounts{Ready: ready, NotReady: notReady, Unknown: unknown}
}

func TestNodeStatesThroughHandlers(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	f.add(setting(SettingInstallUUID, "u-1", ""), cluster("local", "v1.32.4", "rke2", v3.ResourceList{}))
	cp := decodeNode(t, "m-1", "1", "True", "2026-01-02T03:04:05Z", "controlPlane", "etcd")
	w1 := decodeNode(t, "m-2", "1", "True", "2026-01-02T03:04:05Z", "worker")
	w2 := decodeNode(t, "m-3", "1", "False", "2026-01-02T03:04:05Z", "worker")
	w3 := decodeNode(t, "m-4", "1", "", "", "worker")
	orphan := decodeNode(t, "m-5", "1", "True", "2026-01-02T03:04:05Z", "worker")
	orphan.Namespace = "c-gone"
	f.add(cp, w1, w2, w3, orphan)
	want := snapshot.NodeStates{
		All:          readiness(2, 1, 1),
		ControlPlane: readiness(1, 0, 0),
		Etcd:         readiness(1, 0, 0),
		Worker:       readiness(1, 1, 1),
	}
	if got := f.snapshot(t).NodeStates; got != want {
		t.Fatalf("node states\n%+v\nwant\n%+v", got, want)
	}

	before := f.changes
	beat := decodeNode(t, "m-2", "2", "True", "2026-01-02T03:05:05Z", "worker")
	f.update(w1, beat)
	if f.changes != before {
		t.Fatalf("a heartbeat called OnChange %d times", f.changes-before)
	}
	down := decodeNode(t, "m-2", "3", "Unknown", "2026-01-02T03:06:05Z", "worker")
	f.update(beat, down)
	if f.changes != before+1 {
		t.Fatalf("a readiness change called OnChange %d times, want 1", f.changes-before)
	}
	f.remove(w2)
	want.All, want.Worker = readiness(1, 0, 2), readiness(0, 0, 2)
	if got := f.snapshot(t).NodeStates; got != want {
		t.Fatalf("after a node went unknown and one was deleted, node states\n%+v\nwant\n%+v", got, want)
	}
}

func TestNodeWithUnreadableConditionsIsUnknownAndValid(t *testing.T) {
	f := newFed(t, snapshot.ModeRancher)
	f.add(setting(SettingInstallUUID, "u-1", ""), cluster("local", "v1.32.4", "rke2", v3.ResourceList{}))
	n := &v3.Node{}
	doc := `{"kind": "Node", "metadata": {"name": "m-1", "namespace": "local"}, "spec": {"worker": true},
		"status": {"internalNodeStatus": {"capacity": {"cpu": "2", "memory": "4Gi"}, "conditions": [{"type": "Ready", "status": 1}]}}}`
	if err := json.Unmarshal([]byte(doc), n); err != nil {
		t.Fatal(err)
	}
	f.add(n)
	s := f.snapshot(t)
	if tot := s.Totals(); tot.Nodes != 1 || tot.InvalidNodes != 0 || len(s.Problems) != 0 {
		t.Errorf("totals %+v, problems %v: want one valid node and no problem", tot, s.Problems)
	}
	if want := readiness(0, 0, 1); s.NodeStates.All != want || s.NodeStates.Worker != want {
		t.Errorf("node states %+v, want one unknown worker", s.NodeStates)
	}
}

func coreNodeReady(name, rv string, status corev1.ConditionStatus, heartbeat int, labels ...string) *corev1.Node {
	n := coreNodeObj(name, "2", "4Gi", labels...)
	n.ResourceVersion = rv
	n.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: status, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.Unix(int64(1000+heartbeat), 0),
	}}
	return n
}

func TestCoreNodeStates(t *testing.T) {
	f := newFed(t, snapshot.ModeKubernetes)
	a := coreNodeReady("a", "1", corev1.ConditionTrue, 0, LabelControlPlane, LabelEtcd)
	b := coreNodeReady("b", "1", corev1.ConditionFalse, 0, LabelWorker)
	f.add(a, b)
	s := f.snapshot(t)
	want := snapshot.NodeStates{All: readiness(1, 1, 0), ControlPlane: readiness(1, 0, 0), Etcd: readiness(1, 0, 0), Worker: readiness(0, 1, 0)}
	if s.NodeStates != want || s.Clusters[0].State != snapshot.StateReady {
		t.Fatalf("node states %+v, cluster state %s; want %+v and ready", s.NodeStates, s.Clusters[0].State, want)
	}
	before := f.changes
	beat := coreNodeReady("b", "2", corev1.ConditionFalse, 10, LabelWorker)
	f.update(b, beat)
	if f.changes != before {
		t.Fatalf("a heartbeat called OnChange %d times", f.changes-before)
	}
	f.update(beat, coreNodeReady("b", "3", corev1.ConditionTrue, 20, LabelWorker))
	if f.changes != before+1 {
		t.Fatalf("a readiness change called OnChange %d times, want 1", f.changes-before)
	}
	if got := f.snapshot(t).NodeStates.Worker; got != readiness(1, 0, 0) {
		t.Errorf("workers %+v, want one ready", got)
	}
}

func TestExtensionsInTheSnapshot(t *testing.T) {
	f := newFed(t, snapshot.ModeKubernetes)
	pairs := []snapshot.Extension{{Key: "a", Value: "1"}, {Key: "example.com/b", Value: "two"}}
	problem := snapshot.Problem{Object: "ConfigMap ns/ext", Field: `data.extensions.json["bad key"]`, Err: errors.New("invalid extension key")}
	if !f.SetExtensions(pairs, 1, []snapshot.Problem{problem}) || f.changes != 1 {
		t.Fatalf("first extensions: OnChange called %d times, want 1", f.changes)
	}
	if f.SetExtensions(slices.Clone(pairs), 1, []snapshot.Problem{problem}) || f.changes != 1 {
		t.Fatalf("the same extensions again called OnChange (%d calls)", f.changes)
	}
	s := f.snapshot(t)
	if !slices.Equal(s.Extensions, pairs) || s.ExtensionsRefused != 1 || !slices.ContainsFunc(s.Problems, func(p snapshot.Problem) bool { return p.Field == problem.Field }) {
		t.Fatalf("snapshot extensions %v, refused %d, problems %v", s.Extensions, s.ExtensionsRefused, s.Problems)
	}
	if !f.SetExtensions(nil, 0, nil) || f.changes != 2 {
		t.Fatalf("removing the extensions: OnChange called %d times, want 2", f.changes)
	}
	if s := f.snapshot(t); len(s.Extensions) != 0 || s.ExtensionsRefused != 0 || len(s.Problems) != 0 {
		t.Errorf("after removal: extensions %v, refused %d, problems %v", s.Extensions, s.ExtensionsRefused, s.Problems)
	}
}
