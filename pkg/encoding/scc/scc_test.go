package scc

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/internal/schematest"
	"github.com/rancher/telemetry-manager/pkg/encoding/internal/testsnap"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/vocab"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var now = time.Date(2025, 6, 1, 12, 30, 0, 0, time.UTC)

var decode = schematest.Decode[Payload]

func TestGolden(t *testing.T) {
	tests := []struct {
		name  string
		snap  *snapshot.Snapshot
		limit int
		step  int64 // the memory rounding the limit must lead to
	}{
		{name: "sample", snap: testsnap.Sample(), limit: MaxBytes, step: 1},
		{name: "no-local", snap: testsnap.NoLocal(), limit: MaxBytes, step: 1},
		{name: "empty", snap: testsnap.Empty(), limit: MaxBytes, step: 1},
		// A limit that forces memory rounding, so its shape is reviewed too.
		{name: "bucketed", snap: spread(), limit: 2000, step: 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encode(tt.snap, now, tt.limit)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if err := Validate(got); err != nil {
				t.Fatalf("output does not validate: %v\n%s", err, got)
			}
			p := decode(t, got)
			for _, m := range p.ManagedSystems {
				if m.Memory%tt.step != 0 {
					t.Errorf("memory %d is not a multiple of %d", m.Memory, tt.step)
				}
			}
			if tt.step > 1 && len(p.ManagedSystems) >= len(exactSystems(tt.snap)) {
				t.Errorf("rounding merged no systems")
			}
			schematest.Golden(t, filepath.Join("testdata", tt.name+".golden.json"), got, *update)
		})
	}
}

// spread is an installation whose downstream nodes share a CPU size but
// spread over 16 to 20 GiB of memory: 40 systems exactly, few once memory
// is rounded.
func spread() *snapshot.Snapshot {
	s := testsnap.Sample()
	var nodes []snapshot.Node
	for i := range 40 {
		nodes = append(nodes, testsnap.Node("amd64", "linux", "containerd://1.7.27", "v1.32.4", "w", 8000, (16000+int64(i)*100)<<20))
	}
	s.Clusters = []snapshot.Cluster{
		testsnap.Cluster("c-m-spread01", "v1.32.4", "rke2", "rke2", nodes...),
		s.Clusters[3], // local
	}
	return s
}

// TestSample checks the sample against values worked out by hand.
func TestSample(t *testing.T) {
	out, err := Encoder{}.Encode(testsnap.Sample(), now)
	if err != nil {
		t.Fatal(err)
	}
	p := decode(t, out)
	want := Payload{
		Version: "2.12.1",
		Subscription: Subscription{
			InstallUUID: "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11",
			ClusterUUID: "8d7f2b6a-3c51-4e0b-b8d2-5e4a9c1f7d20",
			Product:     "rancher-prime",
			Version:     "v2.12.1",
			Arch:        "unknown",
			Git:         "4f3c2a1",
			ServerURL:   "https://rancher.example.com",
		},
		FeatureFlags: []string{"fleet", "harvester", "multi-cluster-management"},
		ManagedSystems: []ManagedSystem{
			{Arch: "amd64", CPU: 4, Memory: 15076, Count: 3, Upstream: true}, // 3500m, 15437428Ki
			{Arch: "amd64", CPU: 2, Memory: 7680, Count: 2},
			{Arch: "amd64", CPU: 2, Memory: 8192, Count: 1},
			{Arch: "amd64", CPU: 4, Memory: 16384, Count: 1},
			{Arch: "arm64", CPU: 4, Memory: 16384, Count: 2},
		},
		ManagedClusters: []ManagedCluster{
			{Count: 1, Nodes: 3, Upstream: true},
			{Count: 1, Nodes: 0}, // AKS, capacity from the cluster
			{Count: 2, Nodes: 3},
		},
		Timestamp: "2025-06-01T12:30:00Z",
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("payload =\n%+v\nwant\n%+v", p, want)
	}
}

func TestTimestampIsUTC(t *testing.T) {
	out, err := Encoder{}.Encode(testsnap.Sample(), now.In(time.FixedZone("CEST", 2*3600)))
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, out).Timestamp; got != "2025-06-01T12:30:00Z" {
		t.Errorf("timestamp = %s", got)
	}
}

func TestSubscriptionAlwaysComplete(t *testing.T) {
	s := testsnap.Empty()
	s.Install = snapshot.Install{Version: "2.10.0"} // everything else empty
	out, err := Encoder{}.Encode(s, now)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]any
	_ = json.Unmarshal(out, &doc) // other top-level values are not objects
	for _, k := range []string{"installuuid", "clusteruuid", "product", "version", "arch", "git", "server_url"} {
		if _, ok := doc["subscription"][k].(string); !ok {
			t.Errorf("subscription.%s missing or not a string: %v", k, doc["subscription"][k])
		}
	}
	for _, k := range []string{`"feature_flags": []`, `"managedSystems": []`, `"managedClusters": []`} {
		if !bytes.Contains(out, []byte(k)) {
			t.Errorf("payload lacks %s:\n%s", k, out)
		}
	}
	if err := Validate(out); err != nil {
		t.Error(err)
	}
}

func TestProductVersion(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"2.9.0", "2.9.0"},
		{"v2.12.1", "2.12.1"},
		{"2.9.0-alpha4", "2.9.0"},
		{"v2.12.1+up1", "2.12.1"},
		{"2.10.3-rc1.abc", "2.10.3"},
		{"v2.11.0-rc2+build.7", "2.11.0"},
		{"V2.8.5", "2.8.5"},
		{" 2.8.5\n", "2.8.5"},
		{"10.20.30", "10.20.30"},
		{"v2.12.1-" + strings.Repeat("x", 700<<10), "2.12.1"},
		{"dev", ""},
		{"02.9.0", ""},
		{"1234567.0.0", ""},
		{"", ""},
		{"v2.9-head", ""},
		{"2.9", ""},
		{"2.9.0.1", ""},
		{"2.9.x", ""},
		{"vv2.9.0", ""},
		{"release-2.9.0", ""},
		{"2.9.0alpha4", ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw[:min(len(tt.raw), 40)], func(t *testing.T) {
			got, err := ProductVersion(tt.raw)
			if tt.want == "" {
				if !errors.Is(err, ErrBadVersion) {
					t.Errorf("ProductVersion(%q) = %q, %v; want ErrBadVersion", tt.raw, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ProductVersion(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestBadVersion(t *testing.T) {
	s := testsnap.Sample()
	s.Install.Version = "dev"
	_, err := Encoder{}.Encode(s, now)
	if !errors.Is(err, ErrBadVersion) {
		t.Fatalf("err = %v, want ErrBadVersion", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(`"dev"`)) {
		t.Errorf("error %q does not name the version", err)
	}
}

// TestBadVersionErrorBounded checks that an oversized version without
// X.Y.Z gives an error that quotes only its start.
func TestBadVersionErrorBounded(t *testing.T) {
	_, err := ProductVersion("build-" + strings.Repeat("x", 700<<10))
	if !errors.Is(err, ErrBadVersion) {
		t.Fatalf("err = %v, want ErrBadVersion", err)
	}
	if len(err.Error()) > 200 || !strings.Contains(err.Error(), `"build-x`) {
		t.Errorf("error of %d bytes does not quote just the start of the version: %.300s", len(err.Error()), err)
	}
}

// TestNoNames checks that cluster names and other identifying strings in
// the snapshot never reach the payload. The server URL is the one address
// the format carries, on purpose.
func TestNoNames(t *testing.T) {
	s := testsnap.Sample()
	s.Clusters[0].Name = "my-secret-cluster"
	s.Problems = append(s.Problems, snapshot.Problem{Object: "Node my-secret-cluster/ip-10-1-2-3", Field: "status.nodeName", Err: errors.New("worker-07.secret-corp.example")})
	out, err := Encoder{}.Encode(s, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"my-secret-cluster", "secret", "c-m-", "c-5xz9q", "c-q7w2e", "ip-10-1-2-3", "worker-07", "m-7d9f2", "local", "EKS", "v1.3"} {
		if bytes.Contains(out, []byte(secret)) {
			t.Errorf("payload contains %q:\n%s", secret, out)
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
			want, err := Encoder{}.Encode(s, now)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Encoder{}.Encode(s, now)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, again) {
				t.Error("same snapshot gave different bytes")
			}
			if !reflect.DeepEqual(s, before) {
				t.Error("Encode modified the snapshot")
			}
			r := rand.New(rand.NewPCG(3, 4))
			for i := range 5 {
				got, err := Encoder{}.Encode(testsnap.Shuffled(s, r), now)
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
	_, err := encode(testsnap.Sample(), now, 500)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	t.Log(err)
}

func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("large snapshots")
	}
	tests := []struct {
		name            string
		clusters, nodes int
		distinct        bool
	}{
		{"60000-nodes-distinct", 2000, 60000, true},
		{"60000-nodes-uniform", 500, 60000, false},
		{"60000-clusters-distinct", 60000, 60000, true},
		{"2000-clusters-20000-nodes-distinct", 2000, 20000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testsnap.Large(tt.clusters, tt.nodes, tt.distinct)
			out, err := Encoder{}.Encode(s, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) > MaxBytes {
				t.Fatalf("%d bytes, over MaxBytes %d", len(out), MaxBytes)
			}
			if err := Validate(out); err != nil {
				t.Fatal(err)
			}
			p := decode(t, out)
			var systems, clusters, nodes int64
			for _, m := range p.ManagedSystems {
				systems += m.Count
			}
			for _, c := range p.ManagedClusters {
				clusters += c.Count
				nodes += c.Count * c.Nodes
			}
			if st := s.Totals(); systems != int64(st.Nodes) || nodes != int64(st.Nodes) || clusters != int64(st.Clusters) {
				t.Errorf("systems %d, clusters %d with %d nodes; want %d nodes, %d clusters", systems, clusters, nodes, st.Nodes, st.Clusters)
			}
			t.Logf("%d bytes, %d managedSystems, %d managedClusters", len(out), len(p.ManagedSystems), len(p.ManagedClusters))
		})
	}
}

func TestSchemaRejects(t *testing.T) {
	valid, err := Encoder{}.Encode(testsnap.Sample(), now)
	if err != nil {
		t.Fatal(err)
	}
	schematest.Rejects(t, valid, Validate, ErrInvalid, []schematest.Mutation{
		{Name: "null feature_flags", Mutate: func(d map[string]any) { d["feature_flags"] = nil }},
		{Name: "null managedSystems", Mutate: func(d map[string]any) { d["managedSystems"] = nil }},
		{Name: "null managedClusters", Mutate: func(d map[string]any) { d["managedClusters"] = nil }},
		{Name: "dev version", Mutate: func(d map[string]any) { d["version"] = "dev" }},
		{Name: "pre-release version", Mutate: func(d map[string]any) { d["version"] = "2.9.0-alpha4" }},
		{Name: "v-prefixed version", Mutate: func(d map[string]any) { d["version"] = "v2.9.0" }},
		{Name: "missing subscription field", Mutate: func(d map[string]any) { delete(schematest.Obj(d, "subscription"), "server_url") }},
		{Name: "null subscription field", Mutate: func(d map[string]any) { schematest.Obj(d, "subscription")["git"] = nil }},
		{Name: "missing subscription", Mutate: func(d map[string]any) { delete(d, "subscription") }},
		{Name: "wrong product", Mutate: func(d map[string]any) { schematest.Obj(d, "subscription")["product"] = "rancher" }},
		{Name: "extra top-level key", Mutate: func(d map[string]any) { d["clusters"] = []any{} }},
		{Name: "extra subscription key", Mutate: func(d map[string]any) { schematest.Obj(d, "subscription")["hostname"] = "x" }},
		{Name: "extra system key", Mutate: func(d map[string]any) { schematest.Item(d, "managedSystems")["name"] = "node-1" }},
		{Name: "camel-cased key", Mutate: func(d map[string]any) { d["featureFlags"] = d["feature_flags"]; delete(d, "feature_flags") }},
		{Name: "negative cpu", Mutate: func(d map[string]any) { schematest.Item(d, "managedSystems")["cpu"] = -1 }},
		{Name: "zero count", Mutate: func(d map[string]any) { schematest.Item(d, "managedClusters")["count"] = 0 }},
		{Name: "two upstream entries", Mutate: func(d map[string]any) {
			d["managedClusters"] = append(d["managedClusters"].([]any), map[string]any{"count": 1, "nodes": 7, "upstream": true})
		}},
		{Name: "bad timestamp", Mutate: func(d map[string]any) { d["timestamp"] = "yesterday" }},
		{Name: "missing timestamp", Mutate: func(d map[string]any) { delete(d, "timestamp") }},
	}, map[string]string{
		"null": "null",
	})
}

func TestSchemaAccessor(t *testing.T) {
	schematest.Accessor(t, Schema, SchemaID)
}

func TestFormat(t *testing.T) {
	var e snapshot.Encoder = Encoder{}
	if e.Format() != "scc" || e.SchemaVersion() != "1" {
		t.Errorf("Format, SchemaVersion = %q, %q", e.Format(), e.SchemaVersion())
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, bc := range []struct {
		name            string
		clusters, nodes int
		distinct        bool
	}{
		{"2000c-20000n-uniform", 2000, 20000, false},
		{"2000c-20000n-distinct", 2000, 20000, true},
		{"2000c-60000n-distinct", 2000, 60000, true},
		{"60000c-60000n-distinct", 60000, 60000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := testsnap.Large(bc.clusters, bc.nodes, bc.distinct)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				out, err := Encoder{}.Encode(s, now)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "bytes/payload")
		})
	}
}

// TestLadderNested checks what encode relies on when it derives each
// memory step from the one before.
func TestLadderNested(t *testing.T) {
	for i := 1; i < len(memoryLadder); i++ {
		if memoryLadder[i]%memoryLadder[i-1] != 0 {
			t.Errorf("step %d does not divide %d", memoryLadder[i-1], memoryLadder[i])
		}
	}
	exact := exactSystems(testsnap.Large(100, 3000, true))
	derived := exact
	for _, step := range memoryLadder[1:] {
		derived = roundMemory(derived, step)
		if want := roundMemory(exact, step); !reflect.DeepEqual(derived, want) {
			t.Errorf("step %d derived from the step before differs from rounding the exact shapes", step)
		}
	}
}

// TestSchemaMatchesTypes keeps schema.json and the Go types in step.
func TestSchemaMatchesTypes(t *testing.T) {
	for pointer, v := range map[string]any{
		"":                                  Payload{},
		"/properties/subscription":          Subscription{},
		"/properties/managedSystems/items":  ManagedSystem{},
		"/properties/managedClusters/items": ManagedCluster{},
	} {
		schematest.CheckStruct(t, schema, pointer, reflect.TypeOf(v))
	}
}

func TestNilSnapshot(t *testing.T) {
	if _, err := (Encoder{}).Encode(nil, now); err == nil {
		t.Error("Encode(nil) succeeded")
	}
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

// TestHostileValuesBecomeOther checks that free text in any string the
// payload carries is written as "other", and no part of it leaves.
func TestHostileValuesBecomeOther(t *testing.T) {
	for _, value := range hostileValues {
		t.Run(value, func(t *testing.T) {
			s := testsnap.Sample()
			s.Install.InstallUUID, s.Install.ClusterUUID, s.Install.GitCommit = value, value, value
			s.Install.Version = "v2.12.1-" + value
			s.Install.Features = append(s.Install.Features, value, value+"2")
			for i := range s.Clusters {
				for j := range s.Clusters[i].Shapes {
					s.Clusters[i].Shapes[j].Arch = value
				}
			}
			out, err := Encoder{}.Encode(s, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(out); err != nil {
				t.Fatalf("payload does not validate: %v", err)
			}
			if bytes.Contains(out, []byte(value)) || bytes.Contains(out, []byte("corp")) || bytes.Contains(out, []byte("10.88.7")) {
				t.Errorf("payload contains the hostile value:\n%s", out)
			}
			p := decode(t, out)
			sub := p.Subscription
			if sub.InstallUUID != vocab.Other || sub.ClusterUUID != vocab.Other || sub.Git != vocab.Other || sub.Version != vocab.Other {
				t.Errorf("subscription = %+v, want other in installuuid, clusteruuid, git and version", sub)
			}
			if p.Version != "2.12.1" {
				t.Errorf("version = %q, want the X.Y.Z of the raw version, 2.12.1", p.Version)
			}
			if want := []string{"fleet", "harvester", "multi-cluster-management", vocab.Other}; !reflect.DeepEqual(p.FeatureFlags, want) {
				t.Errorf("feature_flags = %v, want %v (two replaced names are one other)", p.FeatureFlags, want)
			}
			for _, m := range p.ManagedSystems {
				if m.Arch != vocab.Other {
					t.Errorf("system %+v: arch should be other", m)
				}
			}
		})
	}
}

func TestServerURLIsCut(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"userinfo, query and fragment", "https://admin:s3cret@Rancher.Example.com:8443/r?token=abc#frag", "https://rancher.example.com:8443/r"},
		{"unchanged", "https://rancher.example.com", "https://rancher.example.com"},
		{"not a URL", "rancher at bob's", ""},
		{"other scheme", "ldap://rancher.example.com", ""},
		{"oversized", "https://rancher.example.com/" + strings.Repeat("a", 700<<10), ""},
		{"unset", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testsnap.Sample()
			s.Install.ServerURL = tt.in
			out, err := Encoder{}.Encode(s, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(out); err != nil {
				t.Fatal(err)
			}
			// Consumers read every subscription field as a string: the key is
			// always written.
			var doc struct {
				Subscription map[string]any `json:"subscription"`
			}
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatal(err)
			}
			if got, ok := doc.Subscription["server_url"].(string); !ok || got != tt.want {
				t.Errorf("server_url = %#v, want %q", doc.Subscription["server_url"], tt.want)
			}
			for _, secret := range []string{"admin", "s3cret", "token", "frag"} {
				if bytes.Contains(out, []byte(secret)) {
					t.Errorf("payload contains %q", secret)
				}
			}
		})
	}
}

// TestOversizedValues checks that a 700 KB node architecture or server
// version, which made the payload too large before, is replaced and the
// payload still goes out under MaxBytes.
func TestOversizedValues(t *testing.T) {
	huge := strings.Repeat("x", 700<<10)
	for name, change := range map[string]func(s *snapshot.Snapshot){
		"arch of one node": func(s *snapshot.Snapshot) {
			testsnap.ChangeOne(&s.Clusters[3], 0, func(n *snapshot.Node) { n.Arch = huge })
		},
		"server version": func(s *snapshot.Snapshot) { s.Install.Version = "v2.12.1-" + huge },
		"feature name":   func(s *snapshot.Snapshot) { s.Install.Features = append(s.Install.Features, huge) },
		"install uuid":   func(s *snapshot.Snapshot) { s.Install.InstallUUID = huge },
	} {
		t.Run(name, func(t *testing.T) {
			s := testsnap.Sample()
			change(s)
			out, err := Encoder{}.Encode(s, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) > MaxBytes {
				t.Fatalf("%d bytes, over MaxBytes", len(out))
			}
			if err := Validate(out); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte(`"other"`)) {
				t.Errorf("no value was replaced:\n%.2000s", out)
			}
		})
	}
}

// TestSchemaRefusesHostileValues hand-edits a valid payload, writing each
// hostile value verbatim into each string field, as a payload that skipped
// vocab would: the schema, and so audit, must refuse every one.
func TestSchemaRefusesHostileValues(t *testing.T) {
	valid, err := Encoder{}.Encode(testsnap.Sample(), now)
	if err != nil {
		t.Fatal(err)
	}
	sub := func(key string) func(d map[string]any, v string) {
		return func(d map[string]any, v string) { schematest.Obj(d, "subscription")[key] = v }
	}
	fields := map[string]func(d map[string]any, v string){
		"version":                  func(d map[string]any, v string) { d["version"] = v },
		"subscription.installuuid": sub("installuuid"),
		"subscription.clusteruuid": sub("clusteruuid"),
		"subscription.version":     sub("version"),
		"subscription.git":         sub("git"),
		"feature_flags":            func(d map[string]any, v string) { d["feature_flags"] = []any{v} },
		"managedSystems.arch":      func(d map[string]any, v string) { schematest.Item(d, "managedSystems")["arch"] = v },
		"timestamp":                func(d map[string]any, v string) { d["timestamp"] = "2025-06-01T12:30:00" + v + "Z" },
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
	for _, u := range []string{"https://admin:pw@rancher.example.com", "https://rancher.example.com/?token=abc",
		"https://rancher.example.com/#bob", "ftp://rancher.example.com", "bob@corp.example",
		"https://rancher.example.com/" + strings.Repeat("a", 3000)} {
		cases = append(cases, schematest.Mutation{
			Name:   fmt.Sprintf("subscription.server_url %.40s", u),
			Mutate: func(d map[string]any) { schematest.Obj(d, "subscription")["server_url"] = u },
		})
	}
	schematest.Rejects(t, valid, Validate, ErrInvalid, cases, nil)
}

// TestSchemaStatesVocab keeps schema.json and package vocab in step.
func TestSchemaStatesVocab(t *testing.T) {
	for pointer, rule := range map[string]vocab.Rule{
		"/properties/version":                              vocab.CoreRule(),
		"/properties/subscription/properties/installuuid":  vocab.RuleOf(vocab.UUID),
		"/properties/subscription/properties/clusteruuid":  vocab.RuleOf(vocab.UUID),
		"/properties/subscription/properties/version":      vocab.RuleOf(vocab.Version),
		"/properties/subscription/properties/git":          vocab.RuleOf(vocab.Commit),
		"/properties/subscription/properties/server_url":   vocab.RuleOf(vocab.ServerURL),
		"/properties/feature_flags/items":                  vocab.RuleOf(vocab.Feature),
		"/properties/managedSystems/items/properties/arch": vocab.RuleOf(vocab.Arch),
	} {
		schematest.CheckRule(t, schema, pointer, rule)
	}
	schematest.CheckStringsBounded(t, schema)
}
