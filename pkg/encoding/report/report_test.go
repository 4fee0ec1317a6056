package report

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/internal/jsonutil"
	"github.com/rancher/telemetry-manager/pkg/encoding/internal/schematest"
	"github.com/rancher/telemetry-manager/pkg/encoding/internal/testsnap"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/vocab"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testKey = []byte("0123456789abcdef0123456789abcdef")

var decode = schematest.Decode[Report]

func TestGolden(t *testing.T) {
	tests := []struct {
		name  string
		snap  *snapshot.Snapshot
		limit int
		// what the limit must lead to
		aggregated bool
		bucketing  Bucketing
	}{
		{name: "sample", snap: testsnap.Sample(), limit: MaxBytes, bucketing: profileLadder[0]},
		{name: "no-local", snap: testsnap.NoLocal(), limit: MaxBytes, bucketing: profileLadder[0]},
		{name: "empty", snap: testsnap.Empty(), limit: MaxBytes, bucketing: profileLadder[0]},
		// Limits that force the coarse forms, so their shape is reviewed too.
		{name: "bucketed", snap: nearShapes(), limit: 3400, bucketing: profileLadder[1]},
		{name: "aggregated", snap: testsnap.Large(40, 100, false), limit: 4600, aggregated: true, bucketing: profileLadder[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(testKey).encode(tt.snap, tt.limit)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if err := Validate(got); err != nil {
				t.Fatalf("output does not validate: %v\n%s", err, got)
			}
			r := decode(t, got)
			if r.ClustersAggregated != tt.aggregated || r.Bucketing != tt.bucketing {
				t.Errorf("limit %d gave aggregated=%v bucketing=%+v (%d bytes), want aggregated=%v bucketing=%+v",
					tt.limit, r.ClustersAggregated, r.Bucketing, len(got), tt.aggregated, tt.bucketing)
			}
			schematest.Golden(t, filepath.Join("testdata", tt.name+".golden.json"), got, *update)
		})
	}
}

// nearShapes is the sample with local nodes whose memory differs by a few
// MiB: three profiles exactly, one once memory is bucketed.
func nearShapes() *snapshot.Snapshot {
	s := testsnap.Sample()
	s.Events = snapshot.Events{} // the limit below is for the rest
	local := &s.Clusters[3]
	testsnap.ChangeOne(local, 0, func(n *snapshot.Node) { n.MemoryBytes = 15437000 * testsnap.Ki })
	testsnap.ChangeOne(local, 1, func(n *snapshot.Node) { n.MemoryBytes = 15436000 * testsnap.Ki })
	local.MemoryBytes = 0
	for _, n := range local.Shapes {
		local.MemoryBytes += n.MemoryBytes * int64(n.Count)
	}
	return s
}

// TestSampleFigures checks the figures of the sample against values worked
// out by hand, so the golden file is not the only witness.
func TestSampleFigures(t *testing.T) {
	got, err := New(testKey).Encode(testsnap.Sample(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, got)
	wantTotals := Totals{
		Clusters:      4,
		Nodes:         9,
		CPUCores:      2 + 2 + 4 + 2 + 4 + 4 + 8 + 4*3, // ceil per node; AKS from its capacity
		CPUMillicores: 1500*2 + 4000 + 2000 + 4000*2 + 8000 + 3500*3,
		MemoryBytes:   2*7680<<20 + 16<<30 + 8<<30 + 2*16<<30 + 32<<30 + 3*15437428<<10,
		InvalidNodes:  1,
	}
	if r.Totals != wantTotals {
		t.Errorf("totals = %+v, want %+v", r.Totals, wantTotals)
	}
	var local *Cluster
	for i := range r.Clusters {
		if r.Clusters[i].Upstream {
			local = &r.Clusters[i]
		}
	}
	if local == nil || local.ID != ClusterID(testKey, "local") || local.CPUCores != 12 || local.Nodes != 3 ||
		local.Roles != (Roles{3, 3, 3}) || local.MemoryBytes != 3*15807926272 {
		t.Errorf("local cluster = %+v", local)
	}
	want := NodeProfile{Arch: "amd64", OS: "linux", Runtime: "containerd", KubeletMinor: "v1.32",
		CPUCores: 4, MemoryMiB: 15076, Role: "control-plane+etcd+worker", Upstream: true, Count: 3}
	found := false
	for _, p := range r.NodeProfiles {
		found = found || p == want
	}
	if !found {
		t.Errorf("no profile %+v in %+v", want, r.NodeProfiles)
	}
}

func TestNoKey(t *testing.T) {
	for _, e := range []*Encoder{New(nil), {}, New([]byte{})} {
		if _, err := e.Encode(testsnap.Sample(), time.Time{}); !errors.Is(err, ErrNoKey) {
			t.Errorf("Encode with empty key: err = %v, want ErrNoKey", err)
		}
	}
}

func TestClusterIDs(t *testing.T) {
	mac := hmac.New(sha256.New, testKey)
	mac.Write([]byte("c-m-8kq2x7vd"))
	want := hex.EncodeToString(mac.Sum(nil))[:IDHexLen]
	if got := ClusterID(testKey, "c-m-8kq2x7vd"); got != want {
		t.Errorf("ClusterID = %s, want %s", got, want)
	}

	ids := func(key []byte) []string {
		t.Helper()
		out, err := New(key).Encode(testsnap.Sample(), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range decode(t, out).Clusters {
			ids = append(ids, c.ID)
		}
		return ids
	}
	a, again, other := ids(testKey), ids(bytes.Clone(testKey)), ids([]byte("another key"))
	if !reflect.DeepEqual(a, again) {
		t.Errorf("same key gave different ids: %v, %v", a, again)
	}
	for _, id := range other {
		for _, id2 := range a {
			if id == id2 {
				t.Errorf("id %s is the same under two keys", id)
			}
		}
	}
	if len(a) != 4 {
		t.Errorf("got %d ids, want 4", len(a))
	}
}

func TestNewCopiesKey(t *testing.T) {
	key := bytes.Clone(testKey)
	e := New(key)
	key[0] ^= 0xff
	if !bytes.Equal(e.Key, testKey) {
		t.Error("New kept a reference to the caller's key")
	}
}

// TestNoPII puts names where a careless encoder would pick them up and
// checks that none reaches the payload, in any form.
func TestNoPII(t *testing.T) {
	s := testsnap.Sample()
	s.Clusters[0].Name = "my-secret-cluster"
	s.Clusters[1].Name = "c-m-hostname-prod-db01"
	s.Install.ServerURL = "https://rancher.secret-corp.example:8443"
	s.Problems = append(s.Problems, snapshot.Problem{Object: "Node my-secret-cluster/ip-10-1-2-3", Field: "status.nodeName", Err: errors.New("worker-07.secret-corp.example")})
	for _, limit := range []int{MaxBytes, aggregatedLimit} { // exact and aggregated forms
		out, err := New(testKey).encode(s, limit)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := decode(t, out).ClustersAggregated, limit != MaxBytes; got != want {
			t.Fatalf("limit %d: aggregated = %v, want %v", limit, got, want)
		}
		for _, secret := range []string{"my-secret-cluster", "secret", "hostname", "c-m-", "c-5xz9q", "c-q7w2e", "ip-10-1-2-3", "10.1.2.3", "rancher.", "8443", "worker-07", "m-7d9f2", "local\""} {
			if bytes.Contains(out, []byte(secret)) {
				t.Errorf("limit %d: payload contains %q:\n%s", limit, secret, out)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	for name, s := range map[string]*snapshot.Snapshot{
		"sample":   testsnap.Sample(),
		"no-local": testsnap.NoLocal(),
		"distinct": testsnap.Large(300, 3000, true),
	} {
		t.Run(name, func(t *testing.T) {
			before := testsnap.Clone(s)
			want, err := New(testKey).Encode(s, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			again, err := New(testKey).Encode(s, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, again) {
				t.Error("same snapshot gave different bytes")
			}
			if !reflect.DeepEqual(s, before) {
				t.Error("Encode modified the snapshot")
			}
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 5 {
				got, err := New(testKey).Encode(testsnap.Shuffled(s, r), time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("shuffle %d gave different bytes", i)
				}
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	_, err := New(testKey).encode(testsnap.Sample(), 1000)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	t.Log(err)
}

// TestScale encodes the largest installations the project plans for and
// checks they fit, validate, and keep exact totals.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("large snapshots")
	}
	tests := []struct {
		name            string
		clusters, nodes int
		distinct        bool
	}{
		{"60000-clusters-distinct", 60000, 60000, true},
		{"60000-clusters-uniform", 60000, 120000, false},
		{"60000-nodes-distinct", 2000, 60000, true},
		{"60000-nodes-uniform", 500, 60000, false},
		{"2000-clusters-20000-nodes-distinct", 2000, 20000, true},
		{"500-clusters-5000-nodes-distinct", 500, 5000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testsnap.Large(tt.clusters, tt.nodes, tt.distinct)
			out, err := New(testKey).Encode(s, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) > MaxBytes {
				t.Fatalf("%d bytes, over MaxBytes %d", len(out), MaxBytes)
			}
			if err := Validate(out); err != nil {
				t.Fatal(err)
			}
			r := decode(t, out)
			checkSums(t, s, &r)
			t.Logf("%d bytes, %d clusters, %d groups, %d profiles, aggregated=%v, bucketing=%+v",
				len(out), len(r.Clusters), len(r.ClusterGroups), len(r.NodeProfiles), r.ClustersAggregated, r.Bucketing)
		})
	}
}

// TestKeepsClustersAt2000 checks that the older documented sizing, 2,000
// clusters with 20,000 nodes of all-distinct shapes (10 a cluster on
// average, some with none), keeps one entry per cluster under MaxBytes:
// only the node profiles are bucketed. Not skipped by -short: it is the
// case MaxBytes and the layout are chosen for.
func TestKeepsClustersAt2000(t *testing.T) {
	s := testsnap.Large(2000, 20000, true)
	out, err := New(testKey).Encode(s, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > MaxBytes {
		t.Fatalf("%d bytes, over MaxBytes %d", len(out), MaxBytes)
	}
	if err := Validate(out); err != nil {
		t.Fatal(err)
	}
	r := decode(t, out)
	if r.ClustersAggregated || len(r.Clusters) != 2000 || len(r.ClusterGroups) != 0 {
		t.Fatalf("aggregated=%v with %d clusters and %d groups, want 2000 clusters one by one",
			r.ClustersAggregated, len(r.Clusters), len(r.ClusterGroups))
	}
	checkSums(t, s, &r)
	clusterBytes, err := jsonutil.AtLeast(r.Clusters, 2, MaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes (%d under MaxBytes), clusters %d bytes (%.0f a cluster), %d profiles, bucketing=%+v",
		len(out), MaxBytes-len(out), clusterBytes, float64(clusterBytes)/2000, len(r.NodeProfiles), r.Bucketing)
}

// checkSums checks that totals are exact and the lists add up to them.
func checkSums(t *testing.T, s *snapshot.Snapshot, r *Report) {
	t.Helper()
	st := s.Totals()
	want := Totals{int64(st.Clusters), int64(st.Nodes), st.CPUCores, st.CPUMillicores, st.MemoryBytes, int64(st.InvalidNodes)}
	if r.Totals != want {
		t.Errorf("totals = %+v, want %+v", r.Totals, want)
	}
	var sum Totals
	for _, c := range r.Clusters {
		sum.Clusters++
		sum.Nodes += c.Nodes
		sum.CPUCores += c.CPUCores
		sum.CPUMillicores += c.CPUMillicores
		sum.MemoryBytes += c.MemoryBytes
		sum.InvalidNodes += c.InvalidNodes
	}
	for _, g := range r.ClusterGroups {
		sum.Clusters += g.Count
		sum.Nodes += g.Nodes
		sum.CPUCores += g.CPUCores
		sum.CPUMillicores += g.CPUMillicores
		sum.MemoryBytes += g.MemoryBytes
		sum.InvalidNodes += g.InvalidNodes
		if g.Nodes < g.Count*g.NodesMin || g.Nodes > g.Count*g.NodesMax {
			t.Errorf("group %+v: nodes outside its bucket", g)
		}
	}
	if sum != want {
		t.Errorf("clusters and groups add up to %+v, want %+v", sum, want)
	}
	var profiled int64
	for _, p := range r.NodeProfiles {
		profiled += p.Count
	}
	if profiled != want.Nodes {
		t.Errorf("node profiles count %d nodes, want %d", profiled, want.Nodes)
	}
}

func TestSchemaAcceptsEveryForm(t *testing.T) {
	// Every form the size ladder reaches must produce a valid document.
	// Each limit just below the last payload's size gives the next smaller
	// form, so this walks every form some limit leads to, in order.
	s := testsnap.Large(50, 400, true)
	type form struct {
		aggregated bool
		bucketing  Bucketing
	}
	var seen []form
	for limit := MaxBytes; ; {
		out, err := New(testKey).encode(s, limit)
		if errors.Is(err, ErrTooLarge) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > limit {
			t.Fatalf("limit %d: %d bytes", limit, len(out))
		}
		if err := Validate(out); err != nil {
			t.Errorf("limit %d: %v", limit, err)
		}
		r := decode(t, out)
		checkSums(t, s, &r)
		seen = append(seen, form{r.ClustersAggregated, r.Bucketing})
		limit = len(out) - 1
	}
	want := []form{{false, profileLadder[0]}, {false, profileLadder[1]}, {true, profileLadder[1]}}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("forms reached %+v, want %+v", seen, want)
	}
}

func TestSchemaRejects(t *testing.T) {
	valid, err := New(testKey).Encode(testsnap.Sample(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	schematest.Rejects(t, valid, Validate, ErrInvalid, []schematest.Mutation{
		{Name: "null clusters", Mutate: func(d map[string]any) { d["clusters"] = nil }},
		{Name: "null nodeProfiles", Mutate: func(d map[string]any) { d["nodeProfiles"] = nil }},
		{Name: "null clusterGroups", Mutate: func(d map[string]any) { d["clusterGroups"] = nil }},
		{Name: "null features", Mutate: func(d map[string]any) { schematest.Obj(d, "install")["features"] = nil }},
		{Name: "extra top-level key", Mutate: func(d map[string]any) { d["hostname"] = "x" }},
		{Name: "extra cluster key", Mutate: func(d map[string]any) { schematest.Item(d, "clusters")["name"] = "local" }},
		{Name: "extra profile key", Mutate: func(d map[string]any) { schematest.Item(d, "nodeProfiles")["ip"] = "10.0.0.1" }},
		{Name: "missing totals field", Mutate: func(d map[string]any) { delete(schematest.Obj(d, "totals"), "memoryBytes") }},
		{Name: "missing bucketing", Mutate: func(d map[string]any) { delete(d, "bucketing") }},
		{Name: "raw name as id", Mutate: func(d map[string]any) { schematest.Item(d, "clusters")["id"] = "local" }},
		{Name: "negative count", Mutate: func(d map[string]any) { schematest.Obj(d, "totals")["nodes"] = -1 }},
		{Name: "fractional count", Mutate: func(d map[string]any) { schematest.Obj(d, "totals")["nodes"] = 1.5 }},
		{Name: "count as string", Mutate: func(d map[string]any) { schematest.Obj(d, "totals")["nodes"] = "9" }},
		{Name: "wrong schema version", Mutate: func(d map[string]any) { d["schemaVersion"] = "1" }},
		{Name: "missing otherValues", Mutate: func(d map[string]any) { delete(d, "otherValues") }},
		{Name: "otherValues of an unknown field", Mutate: func(d map[string]any) { d["otherValues"] = map[string]any{"node.hostname": 1} }},
		{Name: "zero otherValues count", Mutate: func(d map[string]any) { d["otherValues"] = map[string]any{FieldNodeArch: 0} }},
		{Name: "unknown mode", Mutate: func(d map[string]any) { schematest.Obj(d, "install")["mode"] = "" }},
		{Name: "unknown capacity source", Mutate: func(d map[string]any) { schematest.Item(d, "clusters")["capacitySource"] = "" }},
		{Name: "bad kubelet minor", Mutate: func(d map[string]any) { schematest.Item(d, "nodeProfiles")["kubeletMinor"] = "v1.32.4" }},
		{Name: "unknown role", Mutate: func(d map[string]any) { schematest.Item(d, "nodeProfiles")["role"] = "master" }},
		{Name: "zero profile count", Mutate: func(d map[string]any) { schematest.Item(d, "nodeProfiles")["count"] = 0 }},
		{Name: "duplicate feature", Mutate: func(d map[string]any) { schematest.Obj(d, "install")["features"] = []any{"a", "a"} }},
		{Name: "clusters while aggregated", Mutate: func(d map[string]any) { d["clustersAggregated"] = true }},
		{Name: "groups while not aggregated", Mutate: func(d map[string]any) {
			d["clusterGroups"] = []any{map[string]any{
				"upstream": false, "kubernetesVersion": "", "driver": "", "provider": "", "nodesMin": 0, "nodesMax": 0,
				"count": 1, "nodes": 0, "invalidNodes": 0, "roles": map[string]any{"controlPlane": 0, "etcd": 0, "worker": 0},
				"cpuCores": 0, "cpuMillicores": 0, "memoryBytes": 0,
			}}
		}},
		{Name: "memory bucket 0", Mutate: func(d map[string]any) { schematest.Obj(d, "bucketing")["memoryMiB"] = 0 }},
	}, map[string]string{
		"array": "[]",
		"empty": "",
	})
}

func TestSchemaAccessor(t *testing.T) {
	schematest.Accessor(t, Schema, SchemaID)
}

func TestRole(t *testing.T) {
	tests := []struct {
		c, e, w bool
		want    string
	}{
		{true, true, true, "control-plane+etcd+worker"},
		{true, true, false, "control-plane+etcd"},
		{true, false, true, "control-plane+worker"},
		{false, true, true, "etcd+worker"},
		{true, false, false, "control-plane"},
		{false, true, false, "etcd"},
		{false, false, true, "worker"},
		{false, false, false, "none"},
	}
	for _, tt := range tests {
		if got := Role(tt.c, tt.e, tt.w); got != tt.want {
			t.Errorf("Role(%v, %v, %v) = %q, want %q", tt.c, tt.e, tt.w, got, tt.want)
		}
		if !strings.Contains(string(schema), `"`+tt.want+`"`) {
			t.Errorf("schema does not list role %q", tt.want)
		}
	}
}

func TestRounding(t *testing.T) {
	for _, tt := range []struct{ n, want int64 }{{0, 0}, {1, 1}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {48, 64}, {64, 64}, {65, 128}} {
		if got := ceilPow2(tt.n); got != tt.want {
			t.Errorf("ceilPow2(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct{ n, step, want int64 }{{0, 1024, 0}, {1, 1024, 1024}, {1024, 1024, 1024}, {15076, 1024, 15360}, {15076, 4096, 16384}, {15076, 1, 15076}} {
		if got := roundUp(tt.n, tt.step); got != tt.want {
			t.Errorf("roundUp(%d, %d) = %d, want %d", tt.n, tt.step, got, tt.want)
		}
	}
	for _, tt := range []struct{ n, lo, hi int64 }{{0, 0, 0}, {1, 1, 1}, {2, 2, 3}, {3, 2, 3}, {4, 4, 7}, {7, 4, 7}, {1000, 512, 1023}} {
		if lo, hi := nodeBucket(tt.n); lo != tt.lo || hi != tt.hi {
			t.Errorf("nodeBucket(%d) = %d-%d, want %d-%d", tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestCapacitySourceNeverArbitrary(t *testing.T) {
	s := testsnap.Sample()
	s.Clusters[0].CapacitySource = "from-somewhere"
	out, err := New(testKey).Encode(s, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(out); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("from-somewhere")) {
		t.Error("arbitrary capacity source exported")
	}
}

func TestFormat(t *testing.T) {
	var e snapshot.Encoder = New(testKey)
	if e.Format() != "report" || e.SchemaVersion() != "4" {
		t.Errorf("Format, SchemaVersion = %q, %q", e.Format(), e.SchemaVersion())
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, bc := range []struct {
		name            string
		clusters, nodes int
		distinct        bool
	}{
		{"500c-5000n-distinct", 500, 5000, true},
		{"2000c-20000n-uniform", 2000, 20000, false},
		{"2000c-20000n-distinct", 2000, 20000, true},
		{"2000c-60000n-distinct", 2000, 60000, true},
		{"60000c-60000n-distinct", 60000, 60000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := testsnap.Large(bc.clusters, bc.nodes, bc.distinct)
			e := New(testKey)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				out, err := e.Encode(s, time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "bytes/payload")
		})
	}
}

// TestLadderNested checks what profileLevels relies on: bucketing a
// bucketed shape again by the next rung gives the same as bucketing the
// exact shape by it.
func TestLadderNested(t *testing.T) {
	for i := 1; i < len(profileLadder); i++ {
		prev, next := profileLadder[i-1], profileLadder[i]
		if next.MemoryMiB%prev.MemoryMiB != 0 {
			t.Errorf("rung %d: memory step %d does not divide %d", i, prev.MemoryMiB, next.MemoryMiB)
		}
		if prev.CPUCores == CoresPowerOfTwo && next.CPUCores != CoresPowerOfTwo {
			t.Errorf("rung %d: cores become finer", i)
		}
	}
	s := testsnap.Large(100, 3000, true)
	exact, _ := exactProfiles(s, others{})
	levels := profileLevels(exact)
	for i, b := range profileLadder {
		if got, want := levels(i), bucket(exact, b); !reflect.DeepEqual(got, want) {
			t.Errorf("rung %d derived from the rung before differs from rounding the exact shapes", i)
		}
	}
}

// TestSchemaMatchesTypes keeps schema.json and the Go types in step.
func TestSchemaMatchesTypes(t *testing.T) {
	for pointer, v := range map[string]any{
		"/$defs/clusterStates": ClusterStates{},
		"/$defs/nodeStates":    NodeStates{},
		"/$defs/readiness":     Readiness{},
		"/$defs/install":       Install{},
		"/$defs/totals":        Totals{},
		"/$defs/roles":         Roles{},
		"/$defs/cluster":       Cluster{},
		"/$defs/clusterGroup":  ClusterGroup{},
		"/$defs/nodeProfile":   NodeProfile{},
		"/$defs/bucketing":     Bucketing{},
		"/$defs/events":        Events{},
		"/$defs/event":         Event{},
	} {
		schematest.CheckStruct(t, schema, pointer, reflect.TypeOf(v))
	}
	// The document requires the members of version 2 always, and those
	// of each later version unless it is an earlier one: together, every
	// field.
	var doc struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
		AllOf      []struct {
			Else struct {
				Required []string `json:"required"`
			} `json:"else"`
		} `json:"allOf"`
	}
	if err := json.Unmarshal(schema, &doc); err != nil {
		t.Fatal(err)
	}
	var fields []string
	for f := range reflect.TypeOf(Report{}).Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	slices.Sort(fields)
	if got := slices.Sorted(maps.Keys(doc.Properties)); !slices.Equal(got, fields) {
		t.Errorf("schema properties %v, Report fields %v", got, fields)
	}
	if len(doc.AllOf) != 2 {
		t.Fatalf("schema allOf has %d entries, want the conditions of versions 3 and 4", len(doc.AllOf))
	}
	required := slices.Clone(doc.Required)
	for _, c := range doc.AllOf {
		required = append(required, c.Else.Required...)
	}
	slices.Sort(required)
	if !slices.Equal(required, fields) {
		t.Errorf("schema requires %v (version 4), Report writes %v", required, fields)
	}
}

func TestNilSnapshot(t *testing.T) {
	if _, err := New(testKey).Encode(nil, time.Time{}); err == nil {
		t.Error("Encode(nil) succeeded")
	}
}

func BenchmarkValidate(b *testing.B) {
	out, err := New(testKey).Encode(testsnap.Large(60000, 60000, true), time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "bytes/payload")
}

// hostileValues are values of the kind a careless gatherer or a hostile
// object puts in a field: each would identify someone or something if it
// left the cluster.
var hostileValues = []string{
	"provider-bob@corp.example",
	"v1.30.5-eks-10.88.7.6-hostsecret",
	"10.88.7.6",
	"fd00::10:88:7:6",
	"worker-07.secret-corp.example",
	"Bob's laptop",
}

// hostile returns the sample with value in every string field the report
// exports, and the replacements the report must count for it.
// aggregatedLimit is a size limit that makes the sample's clusters, and
// those of hostile, aggregated.
const aggregatedLimit = 3900

func hostile(value string) (*snapshot.Snapshot, map[string]int64) {
	s := testsnap.Sample()
	for i := range s.Events.Items {
		e := &s.Events.Items[i]
		if e.Type == snapshot.ClusterUpgraded {
			e.FromVersion, e.ToVersion = value, value
		}
	}
	s.Install.InstallUUID = value
	s.Install.ClusterUUID = value
	s.Install.Version = value
	s.Install.GitCommit = value
	s.Install.KubernetesVersion = value
	s.Install.Features = append(s.Install.Features, value, value+"2")
	nodes := 0
	for i := range s.Clusters {
		c := &s.Clusters[i]
		c.KubernetesVersion, c.Driver, c.Provider = value, value, value
		for j := range c.Shapes {
			n := &c.Shapes[j]
			n.Arch, n.OS, n.ContainerRuntimeVersion, n.KubeletVersion = value, value, value+"://1.0", value
			nodes += n.Count
		}
	}
	n, c := int64(nodes), int64(len(s.Clusters))
	return s, map[string]int64{
		FieldInstallUUID: 1, FieldClusterUUID: 1, FieldVersion: 1, FieldGitCommit: 1, FieldKubernetesVersion: 1,
		FieldFeatures:                 2,
		FieldClusterKubernetesVersion: c, FieldClusterDriver: c, FieldClusterProvider: c,
		FieldNodeArch: n, FieldNodeOS: n, FieldNodeRuntime: n, FieldNodeKubeletVersion: n,
		FieldEventVersion: 2,
	}
}

// TestHostileValuesBecomeOther checks that free text in any exported field
// is written as "other" and counted by field, in the exact and the
// aggregated form, and that no part of it reaches the payload.
func TestHostileValuesBecomeOther(t *testing.T) {
	for _, value := range hostileValues {
		for _, limit := range []int{MaxBytes, aggregatedLimit} {
			t.Run(fmt.Sprintf("%s/limit-%d", value, limit), func(t *testing.T) {
				s, wantCounts := hostile(value)
				// This starts with v1.MINOR, which is all a profile
				// exports of a kubelet version: not replaced. An address
				// (10.88.7.6) has no major version 1, and is.
				if value == "v1.30.5-eks-10.88.7.6-hostsecret" {
					delete(wantCounts, FieldNodeKubeletVersion)
				}
				out, err := New(testKey).encode(s, limit)
				if err != nil {
					t.Fatal(err)
				}
				if err := Validate(out); err != nil {
					t.Fatalf("payload does not validate: %v", err)
				}
				r := decode(t, out)
				if got, want := r.ClustersAggregated, limit != MaxBytes; got != want {
					t.Fatalf("aggregated = %v, want %v", got, want)
				}
				if !reflect.DeepEqual(r.OtherValues, wantCounts) {
					t.Errorf("otherValues = %v, want %v", r.OtherValues, wantCounts)
				}
				if bytes.Contains(out, []byte(value)) || bytes.Contains(out, []byte("corp")) || bytes.Contains(out, []byte("10.88.7")) {
					t.Errorf("payload contains the hostile value:\n%s", out)
				}
				in := r.Install
				for name, got := range map[string]string{"installUUID": in.InstallUUID, "clusterUUID": in.ClusterUUID,
					"version": in.Version, "gitCommit": in.GitCommit, "kubernetesVersion": in.KubernetesVersion} {
					if got != vocab.Other {
						t.Errorf("install.%s = %q, want other", name, got)
					}
				}
				if want := []string{"fleet", "harvester", "multi-cluster-management", vocab.Other}; !reflect.DeepEqual(in.Features, want) {
					t.Errorf("features = %v, want %v (two replaced names are one other)", in.Features, want)
				}
				for _, p := range r.NodeProfiles {
					if p.Arch != vocab.Other || p.OS != vocab.Other || p.Runtime != vocab.Other {
						t.Errorf("profile %+v: arch, os and runtime should be other", p)
					}
				}
			})
		}
	}
}

// TestOversizedValues checks that a 700 KB node architecture or server
// version, which made the payload too large before, is replaced and the
// report still goes out under MaxBytes.
func TestOversizedValues(t *testing.T) {
	huge := strings.Repeat("x", 700<<10)
	tests := []struct {
		name   string
		change func(s *snapshot.Snapshot)
		want   map[string]int64
	}{
		{"arch of one node", func(s *snapshot.Snapshot) {
			testsnap.ChangeOne(&s.Clusters[3], 0, func(n *snapshot.Node) { n.Arch = huge })
		}, map[string]int64{FieldNodeArch: 1}},
		{"server version", func(s *snapshot.Snapshot) { s.Install.Version = "v2.12.1-" + huge }, map[string]int64{FieldVersion: 1}},
		{"cluster driver", func(s *snapshot.Snapshot) { s.Clusters[0].Driver = huge }, map[string]int64{FieldClusterDriver: 1}},
		{"feature name", func(s *snapshot.Snapshot) { s.Install.Features = append(s.Install.Features, huge) }, map[string]int64{FieldFeatures: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testsnap.Sample()
			tt.change(s)
			out, err := New(testKey).Encode(s, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) > MaxBytes {
				t.Fatalf("%d bytes, over MaxBytes", len(out))
			}
			if err := Validate(out); err != nil {
				t.Fatal(err)
			}
			if got := decode(t, out).OtherValues; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("otherValues = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSampleReplacesNothing checks that a realistic installation loses no
// value: otherValues is an empty object.
func TestSampleReplacesNothing(t *testing.T) {
	for name, s := range map[string]*snapshot.Snapshot{"sample": testsnap.Sample(), "no-local": testsnap.NoLocal(),
		"empty": testsnap.Empty(), "distinct": testsnap.Large(300, 3000, true)} {
		out, err := New(testKey).Encode(s, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte(`"otherValues": {}`)) {
			t.Errorf("%s: otherValues is not an empty object:\n%s", name, out)
		}
	}
}

// TestSchemaRefusesHostileValues hand-edits a valid payload, writing each
// hostile value verbatim into each string field, as a payload that skipped
// vocab would: the schema, and so audit, must refuse every one.
func TestSchemaRefusesHostileValues(t *testing.T) {
	valid, err := New(testKey).Encode(testsnap.Sample(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]func(d map[string]any, v string){
		"install.installUUID":       func(d map[string]any, v string) { schematest.Obj(d, "install")["installUUID"] = v },
		"install.clusterUUID":       func(d map[string]any, v string) { schematest.Obj(d, "install")["clusterUUID"] = v },
		"install.version":           func(d map[string]any, v string) { schematest.Obj(d, "install")["version"] = v },
		"install.gitCommit":         func(d map[string]any, v string) { schematest.Obj(d, "install")["gitCommit"] = v },
		"install.kubernetesVersion": func(d map[string]any, v string) { schematest.Obj(d, "install")["kubernetesVersion"] = v },
		"install.features":          func(d map[string]any, v string) { schematest.Obj(d, "install")["features"] = []any{v} },
		"cluster.kubernetesVersion": func(d map[string]any, v string) { schematest.Item(d, "clusters")["kubernetesVersion"] = v },
		"cluster.driver":            func(d map[string]any, v string) { schematest.Item(d, "clusters")["driver"] = v },
		"cluster.provider":          func(d map[string]any, v string) { schematest.Item(d, "clusters")["provider"] = v },
		"node.arch":                 func(d map[string]any, v string) { schematest.Item(d, "nodeProfiles")["arch"] = v },
		"node.os":                   func(d map[string]any, v string) { schematest.Item(d, "nodeProfiles")["os"] = v },
		"node.runtime":              func(d map[string]any, v string) { schematest.Item(d, "nodeProfiles")["runtime"] = v },
		"node.kubeletMinor":         func(d map[string]any, v string) { schematest.Item(d, "nodeProfiles")["kubeletMinor"] = v },
	}
	var cases []schematest.Mutation
	for _, v := range append(slices.Clone(hostileValues), strings.Repeat("a", 700<<10)) {
		for field, set := range fields {
			cases = append(cases, schematest.Mutation{
				Name:   fmt.Sprintf("%s %.30s", field, v),
				Mutate: func(d map[string]any) { set(d, v) },
			})
		}
	}
	// Aggregated payloads carry the same fields in clusterGroups.
	aggregated, err := New(testKey).encode(testsnap.Sample(), aggregatedLimit)
	if err != nil {
		t.Fatal(err)
	}
	schematest.Rejects(t, valid, Validate, ErrInvalid, cases, nil)
	var groupCases []schematest.Mutation
	for _, field := range []string{"kubernetesVersion", "driver", "provider"} {
		for _, v := range hostileValues {
			groupCases = append(groupCases, schematest.Mutation{
				Name:   fmt.Sprintf("clusterGroup.%s %.30s", field, v),
				Mutate: func(d map[string]any) { schematest.Item(d, "clusterGroups")[field] = v },
			})
		}
	}
	schematest.Rejects(t, aggregated, Validate, ErrInvalid, groupCases, nil)
}

// TestSchemaStatesVocab keeps schema.json and package vocab in step: every
// cleaned field states its kind's rule, and otherValues admits exactly the
// fields the encoder counts.
func TestSchemaStatesVocab(t *testing.T) {
	for pointer, field := range map[string]string{
		"/$defs/install/properties/installUUID":            FieldInstallUUID,
		"/$defs/install/properties/clusterUUID":            FieldClusterUUID,
		"/$defs/install/properties/version":                FieldVersion,
		"/$defs/install/properties/gitCommit":              FieldGitCommit,
		"/$defs/install/properties/features/items":         FieldFeatures,
		"/$defs/install/properties/kubernetesVersion":      FieldKubernetesVersion,
		"/$defs/cluster/properties/kubernetesVersion":      FieldClusterKubernetesVersion,
		"/$defs/cluster/properties/driver":                 FieldClusterDriver,
		"/$defs/cluster/properties/provider":               FieldClusterProvider,
		"/$defs/clusterGroup/properties/kubernetesVersion": FieldClusterKubernetesVersion,
		"/$defs/clusterGroup/properties/driver":            FieldClusterDriver,
		"/$defs/clusterGroup/properties/provider":          FieldClusterProvider,
		"/$defs/nodeProfile/properties/arch":               FieldNodeArch,
		"/$defs/nodeProfile/properties/os":                 FieldNodeOS,
		"/$defs/nodeProfile/properties/runtime":            FieldNodeRuntime,
		"/$defs/nodeProfile/properties/kubeletMinor":       FieldNodeKubeletVersion,
	} {
		schematest.CheckRule(t, schema, pointer, vocab.RuleOf(fields[field]))
	}
	var doc struct {
		Defs struct {
			OtherValues struct {
				Properties map[string]any `json:"properties"`
			} `json:"otherValues"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &doc); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(doc.Defs.OtherValues.Properties))
	if want := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, want) {
		t.Errorf("schema otherValues admits %v, the encoder counts %v", got, want)
	}
	schematest.CheckStringsBounded(t, schema)
}

// TestEventsAreCleaned checks that an event can carry no free text out: a
// cluster id that is not a pseudonym is written as zeros, a version that
// is free text as "other" (counted), negative counts as 0, and no more
// than MaxEvents are written.
func TestEventsAreCleaned(t *testing.T) {
	s := testsnap.Sample()
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.FixedZone("CET", 3600))
	s.Events = snapshot.Events{Items: []snapshot.Event{
		{Seq: 1, Time: at, Type: snapshot.ClusterUpgraded, ClusterID: "c-m-prod-db01.corp.example", FromVersion: "v1.30.1", ToVersion: "v1.31.0+db01.corp.example"},
		{Seq: 2, Time: at, Type: snapshot.NodePoolShrunk, ClusterID: strings.Repeat("ab", 16), FromNodes: -3, ToNodes: 2},
	}}
	for i := range MaxEvents {
		s.Events.Items = append(s.Events.Items, snapshot.Event{Seq: uint64(i + 3), Time: at, Type: snapshot.NodePoolGrown, ClusterID: strings.Repeat("cd", 16), ToNodes: i})
	}
	out, err := New(testKey).Encode(s, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"prod", "db01", "corp.example", "c-m-"} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("payload contains %q", leak)
		}
	}
	r := decode(t, out)
	ev := r.Events.Items
	if len(ev) != MaxEvents {
		t.Fatalf("%d events written, want %d", len(ev), MaxEvents)
	}
	if ev[0].ClusterID != strings.Repeat("0", IDHexLen) || ev[0].Time != "2026-12-01T07:00:00Z" || ev[0].FromVersion != "v1.30.1" || ev[0].ToVersion != "other" {
		t.Errorf("first event = %+v", ev[0])
	}
	if ev[1].ClusterID != strings.Repeat("ab", 16) || ev[1].FromNodes != 0 || ev[1].ToNodes != 2 {
		t.Errorf("second event = %+v", ev[1])
	}
	if r.OtherValues[FieldEventVersion] != 1 {
		t.Errorf("otherValues[%s] = %d, want 1", FieldEventVersion, r.OtherValues[FieldEventVersion])
	}
}
