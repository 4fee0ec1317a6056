package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/internal/jsonutil"
	"github.com/rancher/telemetry-manager/pkg/encoding/internal/testsnap"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// reflected encodes v through encoding/json's reflection, HTML escaping
// off, as the payload is written.
func reflected(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// hostileStrings are values the hand-written marshallers must escape as
// encoding/json does; the encoders only ever write cleaned values, but the
// types must not depend on it.
var hostileStrings = []string{
	"", "rke2", "v1.32", `quo"te`, `back\slash`, "<script>&amp;", "tab\there", "\x00\x01\x1f",
	"ünïcode", "line\u2028sep\u2029", "bad\xffutf8", "\U0001F600", "/slash",
}

// TestClusterAppendJSONIsEncodingJSON: Cluster.AppendJSON writes exactly
// what reflection writes, for every hostile string and extreme number.
func TestClusterAppendJSONIsEncodingJSON(t *testing.T) {
	type plain Cluster // no methods: encoded by reflection
	for i, s := range hostileStrings {
		c := Cluster{
			ID: s, Upstream: i%2 == 0, KubernetesVersion: s, Driver: s + "d", Provider: "p" + s, CapacitySource: s,
			Nodes: int64(i), InvalidNodes: -int64(i), Roles: Roles{ControlPlane: 1 << 62, Etcd: -1 << 63, Worker: int64(i)},
			CPUCores: 1<<63 - 1, CPUMillicores: 0, MemoryBytes: 4 << 50,
		}
		got := c.AppendJSON([]byte("prefix"))
		if want := "prefix" + reflected(t, plain(c)); string(got) != want {
			t.Errorf("string %q:\ngot  %s\nwant %s", s, got, want)
		}
	}
}

// TestNodeProfileAppendJSONIsEncodingJSON: the same for NodeProfile.
func TestNodeProfileAppendJSONIsEncodingJSON(t *testing.T) {
	type plain NodeProfile
	for i, s := range hostileStrings {
		p := NodeProfile{
			Arch: s, OS: s, Runtime: "r" + s, KubeletMinor: s + "k", CPUCores: int64(i) << 40, MemoryMiB: -1 << 63,
			Role: s, Upstream: i%3 == 0, Count: 1<<63 - 1,
		}
		got := p.AppendJSON(nil)
		if want := reflected(t, plain(p)); string(got) != want {
			t.Errorf("string %q:\ngot  %s\nwant %s", s, got, want)
		}
	}
}

// TestRememberedIDsAreTheKeyedIDs: an encoder that remembers the ids of
// the clusters it encoded before gives the bytes a fresh encoder gives, as
// clusters come and go, and never an id made with another key.
func TestRememberedIDsAreTheKeyedIDs(t *testing.T) {
	key := []byte("remembered-ids-key")
	used := New(key)
	for i, s := range []*snapshot.Snapshot{testsnap.Sample(), testsnap.Large(50, 400, true), testsnap.NoLocal(), testsnap.Large(60, 500, true), testsnap.Sample()} {
		got, err := used.Encode(s, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := New(key).Encode(s, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("snapshot %d: the used encoder's payload differs from a fresh one's", i)
		}
		other, err := New([]byte("another-key")).Encode(s, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, other) {
			t.Fatalf("snapshot %d: two keys gave the same payload", i)
		}
	}
}

// TestReportAppendJSONIsEncodingJSON: a whole report written by AppendJSON
// is what reflection writes, for every kind of snapshot, with clusters one
// by one and aggregated, and with nil lists.
func TestReportAppendJSONIsEncodingJSON(t *testing.T) {
	type plain Report
	aggregated := false
	for i, s := range []*snapshot.Snapshot{testsnap.Sample(), testsnap.Empty(), testsnap.NoLocal(), testsnap.Large(300, 3000, true)} {
		for _, limit := range []int{MaxBytes, 60000} {
			out, err := New([]byte("k")).encode(s, limit)
			if err != nil {
				t.Fatal(err)
			}
			var r Report
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatal(err)
			}
			aggregated = aggregated || r.ClustersAggregated
			if got, want := string(r.AppendJSON(nil)), reflected(t, plain(r)); got != want {
				t.Errorf("snapshot %d, limit %d:\ngot  %.300s\nwant %.300s", i, limit, got, want)
			}
		}
	}
	if !aggregated {
		t.Error("no report had its clusters aggregated")
	}
	var empty Report // nil lists and map
	if got, want := string(empty.AppendJSON(nil)), reflected(t, plain(empty)); got != want {
		t.Errorf("zero report:\ngot  %s\nwant %s", got, want)
	}
}

// TestAppendLayoutIsLaidOutAppendJSON: Report.AppendLayout writes exactly
// the layout of what AppendJSON writes, for empty, nil, hostile and
// aggregated members alike.
func TestAppendLayoutIsLaidOutAppendJSON(t *testing.T) {
	reports := []Report{
		{},
		{Clusters: []Cluster{}, ClusterGroups: []ClusterGroup{}, NodeProfiles: []NodeProfile{}, OtherValues: others{}},
	}
	for i, s := range hostileStrings {
		reports = append(reports, Report{
			SchemaVersion:      s,
			Install:            Install{InstallUUID: s, Features: []string{s, "a"}, Mode: "rancher"},
			Totals:             Totals{Nodes: int64(i)},
			Clusters:           []Cluster{{ID: s, Nodes: int64(i)}, {ID: "b", Driver: s}},
			ClustersAggregated: i%2 == 1,
			ClusterGroups:      []ClusterGroup{{KubernetesVersion: s, NodesMin: int64(i)}},
			NodeProfiles:       []NodeProfile{{Arch: s, Count: int64(i)}},
			Bucketing:          Bucketing{MemoryMiB: int64(i)},
			OtherValues:        others{s: int64(i), "x": 1},
		})
	}
	for _, snap := range []*snapshot.Snapshot{testsnap.Sample(), testsnap.Empty(), testsnap.Large(300, 3000, true)} {
		out, err := New(testKey).Encode(snap, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(out)
		if err != nil {
			t.Fatal(err)
		}
		// The encoder writes its pre-encoded lists as AppendLayout does.
		if got := append(r.AppendLayout(nil), '\n'); !bytes.Equal(got, out) {
			t.Errorf("%d clusters: the payload is not the layout of its own report", len(snap.Clusters))
		}
		reports = append(reports, r)
	}
	for i := range reports {
		r := &reports[i]
		want := jsonutil.LayoutCompact(nil, r.AppendJSON(nil), 0)
		if got := r.AppendLayout(nil); !bytes.Equal(got, want) {
			t.Errorf("report %d:\ngot  %s\nwant %s", i, got, want)
		}
	}
}
