package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rancher/telemetry-manager/pkg/encoding/internal/jsonutil"
)

// oracle is the JSON schema validator over schema.json, which Validate
// must agree with.
var oracle = jsonutil.NewValidator(SchemaID, schema, ErrInvalid)

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// variant is the document base with old replaced, once, by new.
func variant(t testing.TB, base []byte, old, new string) []byte {
	t.Helper()
	if bytes.Count(base, []byte(old)) == 0 {
		t.Fatalf("%q is not in the document", old)
	}
	return bytes.Replace(base, []byte(old), []byte(new), 1)
}

// agree checks that Validate and the oracle give the same verdict on doc,
// and, when both accept, that Decode gives what json.Unmarshal gives.
func agree(t *testing.T, doc []byte) (error, error) {
	t.Helper()
	got, want := Validate(doc), oracle.Validate(doc)
	if got != nil && want == nil && numericSchemaVersion(doc) {
		// The one known difference: the schema validator compares a number
		// with the const "2" by its text, and takes 2 for "2"; JSON Schema
		// (and encoding/json into Report) does not.
		return got, want
	}
	if (got == nil) != (want == nil) {
		t.Fatalf("Validate = %v, the schema validator says %v, for\n%s", got, want, clip(string(doc), 2000))
	}
	if got != nil && !errors.Is(got, ErrInvalid) {
		t.Fatalf("Validate = %v, does not wrap ErrInvalid", got)
	}
	if got == nil {
		var std Report
		stdErr := json.Unmarshal(doc, &std)
		r, err := Decode(doc)
		if (stdErr == nil) != (err == nil) {
			t.Fatalf("Decode error %v, json.Unmarshal error %v, for\n%s", err, stdErr, clip(string(doc), 2000))
		}
		if err != nil && !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Decode of a valid document = %v, want ErrOutOfRange", err)
		}
		if err == nil && !reflect.DeepEqual(r, std) && !hasDuplicates(doc) {
			t.Fatalf("Decode = %+v, json.Unmarshal = %+v", r, std)
		}
	}
	return got, want
}

// numericSchemaVersion reports whether doc is an object whose
// schemaVersion is a number.
func numericSchemaVersion(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return false
	}
	_, ok := m["schemaVersion"].(json.Number)
	return ok
}

// hasDuplicates reports whether some object of doc names a member twice,
// which json.Unmarshal merges into a struct where the schema takes the
// last one.
func hasDuplicates(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			top := &stack[len(stack)-1]
			if s, ok := tok.(string); ok && top.key {
				if top.keys[s] {
					return true
				}
				top.keys[s] = true
				top.key = false
				continue
			}
			if d, ok := tok.(json.Delim); !ok || d == '{' || d == '[' {
				top.key = true
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, keys: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].key = true
			}
		}
	}
}

func TestValidatorMatchesSchema(t *testing.T) {
	sample := readGolden(t, "sample")
	aggregated := readGolden(t, "aggregated")
	v := func(old, new string) []byte { return variant(t, sample, old, new) }
	const nodes = `"nodes": 9,`
	const id = `"id":"3b743070a96c7301c5dfed73096ccd7d"`
	v2 := version2(t, sample)
	valid := map[string][]byte{
		"sample":                            sample,
		"aggregated":                        aggregated,
		"bucketed":                          readGolden(t, "bucketed"),
		"empty":                             readGolden(t, "empty"),
		"no local cluster":                  readGolden(t, "no-local"),
		"an integer written as 9.0":         v(nodes, `"nodes": 9.0,`),
		"an integer written as 0.9e1":       v(nodes, `"nodes": 0.9e1,`),
		"an integer written as 90E-1":       v(nodes, `"nodes": 90E-1,`),
		"minus zero":                        v(nodes, `"nodes": -0,`),
		"zero with a huge exponent":         v(nodes, `"nodes": 0e999999999,`),
		"an integer beyond int64":           v(nodes, `"nodes": 99999999999999999999,`),
		"an exponent of a million":          v(nodes, `"nodes": 1e1000000,`),
		"a member named twice, last valid":  v(nodes, `"nodes": -1, "nodes": 9,`),
		"an object named twice, last valid": v(`"totals": {`, `"totals": {"x": 1}, "totals": {`),
		"an escaped member name":            v(`"schemaVersion"`, `"schema\u0056ersion"`),
		"an escaped value":                  v(`"mode": "rancher"`, `"mode": "ranch\u0065r"`),
		"whitespace around the document":    append(append([]byte(" \t\r\n"), sample...), " \n"...),
		"no features": v(`"features": [
      "fleet",
      "harvester",
      "multi-cluster-management"
    ]`, `"features": []`),
		"otherValues with every field":         v(`"otherValues": {}`, `"otherValues": {"cluster.driver":1,"cluster.kubernetesVersion":2,"cluster.provider":3,"install.clusterUUID":1,"install.features":1,"install.gitCommit":1,"install.installUUID":1,"install.kubernetesVersion":1,"install.version":1,"node.arch":1,"node.kubeletVersion":1,"node.os":1,"node.runtime":1,"event.version":1}`),
		"empty strings where allowed":          v(`"version": "v2.12.1"`, `"version": ""`),
		"schema version 2":                     v2,
		"schema version 3":                     version3(t, sample),
		"256 events":                           v(`"items": [`, `"items": [`+manyEvents(253)+`,`),
		"64 extensions":                        v(`"team": "platform"`, manyExtensions(63)),
		"an extension value that is a version": v(`"team": "platform"`, `"team": "v1.32.4+rke2r1"`),
		"an extension key of a long prefix":    v(`"team": "platform"`, `"`+strings.Repeat("a", 63)+`.`+strings.Repeat("b", 63)+`/team": "platform"`),
	}
	for name, doc := range valid {
		t.Run("accepts "+name, func(t *testing.T) {
			if got, _ := agree(t, doc); got != nil {
				t.Errorf("Validate = %v, want nil", got)
			}
		})
	}

	invalid := []struct {
		name, at string
		doc      []byte
	}{
		{"not JSON", "", []byte(`{"schemaVersion": "4",`)},
		{"empty", "", nil},
		{"trailing data", "", append(append([]byte(nil), sample...), "{}"...)},
		{"trailing garbage after a schema error", "", append(v(nodes, `"nodes": -1,`), ']')},
		{"a syntax error after a schema error", "", v(`"bucketing": {`, `"bucketing": {,`)},
		{"an array", "at /:", []byte(`[]`)},
		{"wrong schemaVersion", "at /schemaVersion:", v(`"schemaVersion": "4"`, `"schemaVersion": "1"`)},
		{"schemaVersion a number", "at /schemaVersion:", v(`"schemaVersion": "4"`, `"schemaVersion": 4`)},
		{"version 2 with a version 3 member", "at /", variant(t, version3(t, sample), `"schemaVersion": "3"`, `"schemaVersion": "2"`)},
		{"version 3 with events", "at /", v(`"schemaVersion": "4"`, `"schemaVersion": "3"`)},
		{"version 4 without events", "at /:", v(`"events"`, `"eventsX"`)},
		{"an event seq of 0", "at /events/items/0/seq:", v(`"seq":3`, `"seq":0`)},
		{"an unknown event type", "at /events/items/0/type:", v(`"type":"clusterCreated"`, `"type":"clusterRenamed"`)},
		{"an event time with a zone", "at /events/items/0/time:", v(`"2026-11-30T09:15:00Z"`, `"2026-11-30T09:15:00+01:00"`)},
		{"an event time that is free text", "at /events/items/0/time:", v(`"2026-11-30T09:15:00Z"`, `"db1.corp.example"`)},
		{"an event cluster id that is a name", "at /events/items/0/clusterId:", v(`"clusterId":"7f0c3b1e9a2d4c5b8e6f1a0b2c3d4e5f"`, `"clusterId":"c-m-8kq2x7vd"`)},
		{"an event version that is a host name", "at /events/items/1/toVersion:", v(`"toVersion":"v1.31.5"`, `"toVersion":"db1.corp.example"`)},
		{"a negative event node count", "at /events/items/2/toNodes:", v(`"toNodes":4`, `"toNodes":-4`)},
		{"an unknown event member", "at /events/items/0:", v(`"seq":3`, `"seq":3,"clusterName":"prod"`)},
		{"a negative dropped count", "at /events/dropped:", v(`"dropped": 2`, `"dropped": -2`)},
		{"too many events", "at /events/items", v(`"items": [`, `"items": [`+manyEvents(257)+`,`)},
		{"version 3 without clusterStates", "at /:", v(`"clusterStates"`, `"clusterStatesX"`)},
		{"version 3 without extensionsRefused", "at /:", variant(t, variant(t, v2, `"schemaVersion": "2"`, `"schemaVersion": "3"`), `"otherValues": {}`, `"otherValues": {}, "clusterStates": {"ready":0,"notReady":0,"provisioning":0,"upgrading":0,"unavailable":0}, "nodeStates": {"all":{"ready":0,"notReady":0,"unknown":0},"controlPlane":{"ready":0,"notReady":0,"unknown":0},"etcd":{"ready":0,"notReady":0,"unknown":0},"worker":{"ready":0,"notReady":0,"unknown":0}}, "extensions": {}`)},
		{"a negative cluster state count", "at /clusterStates/upgrading:", v(`"upgrading": 1`, `"upgrading": -1`)},
		{"an unknown cluster state", "at /clusterStates:", v(`"upgrading": 1`, `"upgrading": 1, "deleting": 0`)},
		{"a missing readiness", "at /nodeStates/etcd:", v(`"etcd": {
      "ready": 4,`, `"etcd": {
      "readyX": 4,`)},
		{"an extension key with two slashes", "at /extensions:", v(`"team": "platform"`, `"a/b/c": "platform"`)},
		{"an extension key with an upper-case prefix", "at /extensions:", v(`"example.com/tier"`, `"Example.com/tier"`)},
		{"an extension name over 63 characters", "at /extensions:", v(`"team": "platform"`, `"`+strings.Repeat("t", 64)+`": "platform"`)},
		{"an extension value that is a host name", "at /extensions/team:", v(`"team": "platform"`, `"team": "db1.corp.example"`)},
		{"an extension value that is an e-mail", "at /extensions/team:", v(`"team": "platform"`, `"team": "bob@corp.example"`)},
		{"an extension value that is an address", "at /extensions/team:", v(`"team": "platform"`, `"team": "10.0.0.1"`)},
		{"an extension value over 64 bytes", "at /extensions/team:", v(`"team": "platform"`, `"team": "`+strings.Repeat("p", 65)+`"`)},
		{"an extension value not a string", "at /extensions/team:", v(`"team": "platform"`, `"team": 1`)},
		{"extensions an array", "at /extensions:", v(`"extensions": {`, `"extensions": [], "x": {`)},
		{"too many extensions", "at /extensions:", v(`"team": "platform"`, manyExtensions(65))},
		{"a negative extensionsRefused", "at /extensionsRefused:", v(`"extensionsRefused": 1`, `"extensionsRefused": -1`)},
		{"an unknown top-level member", "at /:", v(`"schemaVersion"`, `"hostname": "x", "schemaVersion"`)},
		{"a missing top-level member", "at /:", v(`"bucketing"`, `"bucketingX"`)},
		{"a member named twice, last invalid", "at /totals/nodes:", v(nodes, `"nodes": 9, "nodes": -1,`)},
		{"install not an object", "at /install:", v(`"install": {`, `"install": 1, "x": {`)},
		{"installUUID not a UUID", "at /install/installUUID:", v(`0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11`, `0B5C5F0E-6d0a-4f7e-9a43-1c9f3f6f2a11`)},
		{"clusterUUID too long", "at /install/clusterUUID:", v(`8d7f2b6a-3c51-4e0b-b8d2-5e4a9c1f7d20`, `8d7f2b6a-3c51-4e0b-b8d2-5e4a9c1f7d200`)},
		{"version outside the grammar", "at /install/version:", v(`"version": "v2.12.1"`, `"version": "v2.12.1-foo"`)},
		{"version too long", "at /install/version:", v(`"version": "v2.12.1"`, `"version": "`+strings.Repeat("1", 65)+`"`)},
		{"gitCommit not hex", "at /install/gitCommit:", v(`"gitCommit": "4f3c2a1"`, `"gitCommit": "4f3c2ag"`)},
		{"unknown mode", "at /install/mode:", v(`"mode": "rancher"`, `"mode": "rke"`)},
		{"mode null", "at /install/mode:", v(`"mode": "rancher"`, `"mode": null`)},
		{"a feature outside the pattern", "at /install/features/0:", v(`"fleet"`, `"Fleet"`)},
		{"a feature not a string", "at /install/features/0:", v(`"fleet"`, `7`)},
		{"features not unique", "at /install/features:", v(`"harvester"`, `"fleet"`)},
		{"features null", "at /install/features:", v(`"features": [`, `"features": null, "x": [`)},
		{"kubernetesVersion with a space", "at /install/kubernetesVersion:", v(`"v1.32.4+rke2r1"`, `"v1.32.4 rke2r1"`)},
		{"a negative total", "at /totals/nodes:", v(nodes, `"nodes": -9,`)},
		{"a fractional total", "at /totals/nodes:", v(nodes, `"nodes": 9.5,`)},
		{"a total as a string", "at /totals/nodes:", v(nodes, `"nodes": "9",`)},
		{"a total with a huge exponent", "at /totals/nodes:", v(nodes, `"nodes": 1e1000001,`)},
		{"a total with a tiny exponent", "at /totals/nodes:", v(nodes, `"nodes": 1e-1000001,`)},
		{"a total with an exponent beyond int64", "at /totals/nodes:", v(nodes, `"nodes": 1e99999999999999999999,`)},
		{"a missing total", "at /totals:", v(`"invalidNodes": 1`, `"invalid": 1`)},
		{"a cluster id not hex", "at /clusters/0/id:", v(id, `"id":"local"`)},
		{"a cluster id too long", "at /clusters/0/id:", v(id, `"id":"3b743070a96c7301c5dfed73096ccd7d0"`)},
		{"upstream not a boolean", "at /clusters/0/upstream:", v(`"upstream":false`, `"upstream":0`)},
		{"an unknown driver", "at /clusters/0/driver:", v(`"driver":"AKS"`, `"driver":"aks"`)},
		{"an unknown provider", "at /clusters/0/provider:", v(`"provider":"aks"`, `"provider":"AKS"`)},
		{"an unknown capacity source", "at /clusters/0/capacitySource:", v(`"capacitySource":"cluster"`, `"capacitySource":""`)},
		{"a negative role count", "at /clusters/0/roles/etcd:", v(`"etcd":0`, `"etcd":-1`)},
		{"an unknown role member", "at /clusters/0/roles:", v(`"etcd":0`, `"etcd":0,"master":0`)},
		{"an unknown cluster member", "at /clusters/0:", v(id, id+`,"name":"local"`)},
		{"a cluster not an object", "at /clusters/0:", v(`"clusters": [`, `"clusters": [1,`)},
		{"clusters null", "at /clusters:", v(`"clusters": [`, `"clusters": null, "x": [`)},
		{"clusters while aggregated", "at /clusters:", v(`"clustersAggregated": false`, `"clustersAggregated": true`)},
		{"clustersAggregated not a boolean", "at /clustersAggregated:", v(`"clustersAggregated": false`, `"clustersAggregated": "false"`)},
		{"groups while not aggregated", "at /clusterGroups:", variant(t, aggregated, `"clustersAggregated": true`, `"clustersAggregated": false`)},
		{"a zero group count", "at /clusterGroups/0/count:", variant(t, aggregated, `"count":`, `"count":0,"x":`)},
		{"a negative nodesMax", "at /clusterGroups/0/nodesMax:", variant(t, aggregated, `"nodesMax":`, `"nodesMax":-1,"x":`)},
		{"an unknown arch", "at /nodeProfiles/0/arch:", v(`"arch":"amd64"`, `"arch":"x86_64"`)},
		{"an unknown os", "at /nodeProfiles/0/os:", v(`"os":"linux"`, `"os":"Linux"`)},
		{"an unknown runtime", "at /nodeProfiles/0/runtime:", v(`"runtime":"containerd"`, `"runtime":"crio"`)},
		{"a kubelet version", "at /nodeProfiles/0/kubeletMinor:", v(`"kubeletMinor":"v1.`, `"kubeletMinor":"v1.3.`)},
		{"an unknown role", "at /nodeProfiles/0/role:", v(`"role":"`, `"role":"master","x":"`)},
		{"a zero profile count", "at /nodeProfiles/0/count:", v(`"count":`, `"count":0,"x":`)},
		{"a zero memory bucket", "at /bucketing/memoryMiB:", v(`"memoryMiB": 1`, `"memoryMiB": 0`)},
		{"an unknown core bucketing", "at /bucketing/cpuCores:", v(`"cpuCores": "exact"`, `"cpuCores": "log"`)},
		{"otherValues of an unknown field", "at /otherValues:", v(`"otherValues": {}`, `"otherValues": {"node.hostname": 1}`)},
		{"a zero otherValues count", "at /otherValues/node.arch:", v(`"otherValues": {}`, `"otherValues": {"node.arch": 0}`)},
		{"otherValues an array", "at /otherValues:", v(`"otherValues": {}`, `"otherValues": []`)},
		{"a control character in a string", "", v(`"fleet"`, "\"fl\teet\"")},
		{"a non-ASCII feature", "at /install/features/0:", v(`"fleet"`, `"flëet"`)},
		{"invalid UTF-8 in a feature", "at /install/features/0:", v(`"fleet"`, "\"fl\xffeet\"")},
	}
	for _, tt := range invalid {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			got, _ := agree(t, tt.doc)
			if got == nil {
				t.Fatal("Validate accepted it")
			}
			if tt.at == "" {
				if !errors.Is(got, ErrSyntax) {
					t.Errorf("Validate = %v, want ErrSyntax", got)
				}
				return
			}
			var se *SchemaError
			if !errors.As(got, &se) || !strings.Contains(got.Error(), tt.at) {
				t.Errorf("Validate = %v, want a *SchemaError %s", got, tt.at)
			}
		})
	}
}

// version2 is a version 3 document written as version 2: without the
// members version 3 added.
func version2(t testing.TB, doc []byte) []byte {
	t.Helper()
	head, _, ok := bytes.Cut(doc, []byte(`,
  "clusterStates"`))
	if !ok {
		t.Fatal("the document has no clusterStates")
	}
	return append(bytes.Replace(head, []byte(`"schemaVersion": "4"`), []byte(`"schemaVersion": "2"`), 1), "\n}\n"...)
}

// version3 turns a version 4 document into version 3: no events.
func version3(t testing.TB, doc []byte) []byte {
	t.Helper()
	head, _, ok := bytes.Cut(doc, []byte(`,
  "events"`))
	if !ok {
		t.Fatal("the document has no events")
	}
	return append(bytes.Replace(head, []byte(`"schemaVersion": "4"`), []byte(`"schemaVersion": "3"`), 1), "\n}\n"...)
}

// manyEvents writes n events, to put before the others.
func manyEvents(n int) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"seq":%d,"time":"2026-11-30T09:15:00Z","type":"nodePoolGrown","clusterId":"7f0c3b1e9a2d4c5b8e6f1a0b2c3d4e5f","fromVersion":"","toVersion":"","fromNodes":%d,"toNodes":%d}`, i+1, i, i+1)
	}
	return sb.String()
}

// manyExtensions writes n extension members, to replace one.
func manyExtensions(n int) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, `"key-%02d": "v%d"`, i, i)
	}
	return sb.String()
}

func TestDecodeReadsVersion3(t *testing.T) {
	r, err := Decode(version3(t, readGolden(t, "sample")))
	if err != nil {
		t.Fatal(err)
	}
	if r.SchemaVersion != Version3 || r.Events.Items != nil || len(r.Extensions) != 2 || r.Totals.Clusters != 4 {
		t.Errorf("Decode of version 3 = schemaVersion %q, events %+v, extensions %v, totals %+v", r.SchemaVersion, r.Events, r.Extensions, r.Totals)
	}
}

func TestDecodeReadsEvents(t *testing.T) {
	r, err := Decode(readGolden(t, "sample"))
	if err != nil {
		t.Fatal(err)
	}
	want := Events{Dropped: 2, LossWindowSeconds: 10, Items: []Event{
		{Seq: 3, Time: "2026-11-30T09:15:00Z", Type: "clusterCreated", ClusterID: "7f0c3b1e9a2d4c5b8e6f1a0b2c3d4e5f", ToVersion: "v1.31.9+rke2r1", ToNodes: 3},
		{Seq: 4, Time: "2026-11-30T09:35:00Z", Type: "clusterUpgraded", ClusterID: "0b5e2d7c9f1a3e4d6c8b0a2f4e6d8c1a", FromVersion: "v1.30.9", ToVersion: "v1.31.5"},
		{Seq: 5, Time: "2026-11-30T09:57:00Z", Type: "nodePoolGrown", ClusterID: "7f0c3b1e9a2d4c5b8e6f1a0b2c3d4e5f", FromNodes: 3, ToNodes: 4},
	}}
	if !reflect.DeepEqual(r.Events, want) {
		t.Errorf("events = %+v\nwant %+v", r.Events, want)
	}
}

func TestDecodeReadsVersion2(t *testing.T) {
	r, err := Decode(version2(t, readGolden(t, "sample")))
	if err != nil {
		t.Fatal(err)
	}
	if r.SchemaVersion != Version2 || r.Extensions != nil || r.NodeStates != (NodeStates{}) || r.Totals.Clusters != 4 {
		t.Errorf("Decode of version 2 = schemaVersion %q, extensions %v, nodeStates %+v, totals %+v", r.SchemaVersion, r.Extensions, r.NodeStates, r.Totals)
	}
}

func TestDecodeNamesTheFieldOutOfRange(t *testing.T) {
	doc := variant(t, readGolden(t, "sample"), `"nodes": 9,`, `"nodes": 99999999999999999999,`)
	_, err := Decode(doc)
	var re *RangeError
	if !errors.As(err, &re) || re.Field != "totals.nodes" || re.Pointer != "/totals/nodes" {
		t.Errorf("Decode = %v, want a *RangeError of totals.nodes", err)
	}
}

func FuzzValidateAgreesWithSchema(f *testing.F) {
	for _, name := range []string{"sample", "aggregated", "bucketed", "empty", "no-local"} {
		f.Add(readGolden(f, name))
	}
	// The schema validator computes 10^e for an exponent e: a few of
	// 5 digits take it seconds. TestValidatorMatchesSchema has those.
	bigExponent := regexp.MustCompile(`[eE][-+]?0*[0-9]{5}`)
	f.Fuzz(func(t *testing.T, doc []byte) {
		if bigExponent.Match(doc) {
			t.Skip("exponent too slow for the schema validator")
		}
		agree(t, doc)
	})
}

func BenchmarkDecode(b *testing.B) {
	doc := readGolden(b, "sample")
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := Decode(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateBySchema(b *testing.B) {
	doc := readGolden(b, "sample")
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if err := oracle.Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestValidatorAgreesOnMutations runs the fuzz test's check over a fixed
// set of small random edits of the sample: bytes JSON is made of, changed,
// dropped or inserted.
func TestValidatorAgreesOnMutations(t *testing.T) {
	sample := readGolden(t, "sample")
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`0123456789eE.-+"{}[],: \tfnu`)
	for range 3000 {
		doc := bytes.Clone(sample)
		for range 1 + rng.IntN(4) {
			i := rng.IntN(len(doc))
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				doc[i] = c
			case 1:
				doc = append(doc[:i], doc[i+1:]...)
			default:
				doc = append(doc[:i], append([]byte{c}, doc[i:]...)...)
			}
		}
		agree(t, doc)
	}
}
