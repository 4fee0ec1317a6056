package cli

import (
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

func samplePath(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "tests", "testdata", "sample-installation.yaml")
}

func load(in string) (*Dump, error) {
	return Load("in.yaml", strings.NewReader(in), DefaultLoadOptions())
}

func TestLoadFileReadsList(t *testing.T) {
	s, err := LoadFile(samplePath(t), DefaultLoadOptions())
	if err != nil {
		t.Fatal(err)
	}
	clusters, nodes, core := s.Counts()
	if clusters != 4 || nodes != 10 || core != 0 || s.KubeSystem == nil {
		t.Fatalf("counts = %d clusters, %d nodes, %d core nodes, kube-system %v", clusters, nodes, core, s.KubeSystem != nil)
	}
}

func TestLoadReadsSeveralDocumentsAndSkipsOtherKinds(t *testing.T) {
	in := `apiVersion: v1
kind: Node
metadata: {name: a}
status: {capacity: {cpu: "2", memory: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ignored}
---
apiVersion: v1
kind: Node
metadata: {name: b}
`
	s, err := load(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, core := s.Counts(); core != 2 {
		t.Fatalf("core nodes = %d, want 2", core)
	}
	g := s.Config(snapshot.ModeKubernetes, snapshot.Install{InstallUUID: "u"})
	if g.CoreNodes == nil {
		t.Fatal("no core node cache")
	}
}

// The same three objects written in each way kubectl writes them, and by hand.
const (
	listYAML = `apiVersion: v1
items:
- apiVersion: management.cattle.io/v3
  kind: Cluster
  metadata:
    name: local
  status:
    description: |
      - not an item
      items:
- apiVersion: management.cattle.io/v3
  kind: Node
  metadata:
    name: m-1
    namespace: local
# a comment between items
- apiVersion: v1
  kind: Namespace
  metadata:
    name: kube-system
    uid: ks-uid
kind: List
metadata:
  resourceVersion: ""
`
	indentedListYAML = `kind: List
apiVersion: v1
items:
  - apiVersion: management.cattle.io/v3
    kind: Cluster
    metadata: {name: local}
  - apiVersion: management.cattle.io/v3
    kind: Node
    metadata: {name: m-1, namespace: local}
  -
    apiVersion: v1
    kind: Namespace
    metadata: {name: kube-system, uid: ks-uid}
`
	flowListYAML = `{apiVersion: v1, kind: List, items: [
  {apiVersion: management.cattle.io/v3, kind: Cluster, metadata: {name: local}},
  {apiVersion: management.cattle.io/v3, kind: Node, metadata: {name: m-1, namespace: local}},
  {apiVersion: v1, kind: Namespace, metadata: {name: kube-system, uid: ks-uid}}]}
`
	listJSON = `{
    "apiVersion": "v1",
    "items": [
        {"apiVersion": "management.cattle.io/v3", "kind": "Cluster", "metadata": {"name": "local"}},
        {"apiVersion": "management.cattle.io/v3", "kind": "Node", "metadata": {"name": "m-1", "namespace": "local"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "uid": "ks-uid"}}
    ],
    "kind": "List",
    "metadata": {"resourceVersion": ""}
}
`
	documentsJSON = `{"apiVersion": "management.cattle.io/v3", "kind": "Cluster", "metadata": {"name": "local"}}
{"apiVersion": "management.cattle.io/v3", "kind": "Node", "metadata": {"name": "m-1", "namespace": "local"}}
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "uid": "ks-uid"}}
`
	documentsYAML = `---
apiVersion: management.cattle.io/v3
kind: Cluster
metadata: {name: local}
...
--- # a node
apiVersion: management.cattle.io/v3
kind: Node
metadata: {name: m-1, namespace: local}
---
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system, uid: ks-uid}
`
)

func TestLoadReadsEveryWayOfWritingObjects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"kubectl yaml list", listYAML},
		{"indented yaml list", indentedListYAML},
		{"flow yaml list", flowListYAML},
		{"kubectl json list", listJSON},
		{"json documents", documentsJSON},
		{"yaml documents", documentsYAML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := load(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			clusters, nodes, _ := d.Counts()
			if clusters != 1 || nodes != 1 || d.KubeSystem == nil || d.KubeSystem.UID != "ks-uid" {
				t.Fatalf("read %d clusters, %d nodes, kube-system %+v; want 1, 1 and uid ks-uid", clusters, nodes, d.KubeSystem)
			}
		})
	}
}

func TestLoadErrorsNameFileDocumentAndObject(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{name: "bad yaml", in: "kind: [", want: []string{"in.yaml", "document 1"}},
		{name: "bad field", in: "apiVersion: management.cattle.io/v3\nkind: Cluster\nmetadata: {name: c-1, labels: 5}\n", want: []string{"in.yaml", "document 1", "Cluster c-1"}},
		{name: "no name", in: "apiVersion: management.cattle.io/v3\nkind: Setting\nmetadata: {}\n", want: []string{"in.yaml", "Setting", "metadata.name"}},
		{name: "bad list item", in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: node-1}\n  spec: {unschedulable: 3}\n", want: []string{"item 0", "Node node-1"}},
		{name: "bad json list item", in: `{"kind": "List", "apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-2"}, "spec": {"unschedulable": 3}}]}`, want: []string{"document 1 item 1", "Node node-2"}},
		{name: "json garbage", in: `{"kind": "List", "items": [{]}`, want: []string{"in.yaml", "document 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.in)
			if !errors.Is(err, ErrInput) {
				t.Fatalf("error = %v, want ErrInput", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

const (
	v3Node    = "apiVersion: management.cattle.io/v3\nkind: Node\nmetadata: {name: m-1, namespace: c-abc}\n"
	v3Cluster = "apiVersion: management.cattle.io/v3\nkind: Cluster\nmetadata: {name: c-abc}\n"
)

func TestLoadRefusesDuplicatesAndContradictions(t *testing.T) {
	tests := []struct {
		name, in string
		sentinel error
		want     []string
	}{
		{"same object in two documents", v3Cluster + "---\n" + v3Node + "---\n" + v3Node, ErrDuplicate,
			[]string{"in.yaml: document 2 and document 3: duplicate Node c-abc/m-1"}},
		{"same object twice in a list", "apiVersion: v1\nkind: List\nitems:\n" + item(v3Node) + item(v3Node), ErrDuplicate,
			[]string{"document 1 item 0 and document 1 item 1", "Node c-abc/m-1"}},
		{"same object twice in a json list", `{"apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}], "kind": "List"}`, ErrDuplicate,
			[]string{"document 1 item 0 and document 1 item 1", "Node n"}},
		{"same object in a list and a document", "apiVersion: v1\nkind: List\nitems:\n" + item(v3Cluster) + "---\n" + v3Cluster, ErrDuplicate,
			[]string{"document 1 item 0 and document 2", "Cluster c-abc"}},
		{"same kind of a skipped kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: x}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: x}\n", ErrDuplicate,
			[]string{"document 1 and document 2", "Deployment x/d"}},
		{"namespace on a cluster", "apiVersion: management.cattle.io/v3\nkind: Cluster\nmetadata: {name: c-abc, namespace: fleet}\n", ErrScope,
			[]string{"document 1", "Cluster fleet/c-abc", "metadata.namespace"}},
		{"namespace on a setting", "apiVersion: management.cattle.io/v3\nkind: Setting\nmetadata: {name: install-uuid, namespace: x}\n", ErrScope, []string{"Setting x/install-uuid"}},
		{"namespace on a feature", "apiVersion: management.cattle.io/v3\nkind: Feature\nmetadata: {name: fleet, namespace: x}\n", ErrScope, []string{"Feature x/fleet"}},
		{"namespace on a core node", "apiVersion: v1\nkind: Node\nmetadata: {name: node-1, namespace: x}\n", ErrScope, []string{"Node x/node-1"}},
		{"namespace on a namespace", "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system, namespace: x, uid: u}\n", ErrScope, []string{"Namespace x/kube-system"}},
		{"kube-system without uid", "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n", ErrMissingField, []string{"Namespace kube-system", "metadata.uid"}},
		{"v3 node without namespace", "apiVersion: management.cattle.io/v3\nkind: Node\nmetadata: {name: m-1}\n", ErrScope, []string{"Node m-1", "metadata.namespace"}},
		{"duplicate yaml key", "apiVersion: v1\nkind: Node\nmetadata:\n  name: a\n  name: b\n", ErrDuplicate, []string{"document 1", `"name"`}},
		{"duplicate json key", `{"apiVersion": "v1", "kind": "Node", "kind": "Namespace", "metadata": {"name": "a"}}`, ErrDuplicate, []string{"document 1", `"kind"`}},
		{"two items arrays", "apiVersion: v1\nitems:\n" + item(v3Cluster) + "items:\n- {kind: x}\nkind: List\n", ErrDuplicate, []string{"document 1", `"items"`}},
		{"items outside a list", "apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\nitems:\n" + item(v3Cluster), ErrNotList, []string{"document 1", `"Node"`}},
		{"items outside a json list", `{"apiVersion": "v1", "items": [], "kind": "Node", "metadata": {"name": "n"}}`, ErrNotList, []string{"document 1"}},
		{"two identity secrets", "apiVersion: v1\nkind: Secret\nmetadata: {name: telemetry-identity}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: telemetry-identity, namespace: cattle-telemetry-system}\n", ErrDuplicate,
			[]string{"document 1 and document 2", "identity Secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.in)
			if !errors.Is(err, ErrInput) || !errors.Is(err, tt.sentinel) {
				t.Fatalf("error = %v, want ErrInput and %v", err, tt.sentinel)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// item indents a document as an entry of a block sequence.
func item(doc string) string {
	return "- " + strings.ReplaceAll(strings.TrimSuffix(doc, "\n"), "\n", "\n  ") + "\n"
}

func TestLoadAcceptsSameNameInDifferentScopes(t *testing.T) {
	in := v3Node + "---\n" + strings.ReplaceAll(v3Node, "c-abc", "c-def") + "---\napiVersion: v1\nkind: Node\nmetadata: {name: m-1}\n" +
		"---\napiVersion: v1\nkind: Secret\nmetadata: {name: other, namespace: cattle-telemetry-system}\ndata: {hmacKey: not base64}\n"
	d, err := load(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, nodes, core := d.Counts(); nodes != 2 || core != 1 {
		t.Fatalf("read %d v3 nodes and %d core nodes, want 2 and 1", nodes, core)
	}
	if d.Identity != nil {
		t.Fatalf("kept Secret %s as the identity", d.Identity.Name)
	}
}

func TestLoadRefusesAliases(t *testing.T) {
	tests := []struct{ name, in string }{
		{"reused string", "apiVersion: v1\nkind: Node\nmetadata:\n  name: &n node-1\n  labels: {a: *n}\n"},
		{"merge key", "apiVersion: v1\nkind: Node\nmetadata: &m {name: n}\nspec:\n  <<: *m\n"},
		{"alias in a list item", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: &x n, labels: {a: *x}}\n"},
		{"billion laughs", laughs(9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.in)
			if !errors.Is(err, ErrInput) || !errors.Is(err, ErrAlias) {
				t.Fatalf("error = %v, want ErrAlias", err)
			}
			if !strings.Contains(err.Error(), "document 1") {
				t.Errorf("error %q does not name the document", err)
			}
		})
	}
}

// laughs returns a document of levels aliases, each used ten times by the next.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= levels; i++ {
		b.WriteString("l" + itoa(i) + ": &l" + itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*l" + itoa(i-1))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// zeros is an endless input, like /dev/zero.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestLoadBoundsInput(t *testing.T) {
	small := LoadOptions{MaxInputBytes: 64 << 10, MaxObjectBytes: 4 << 10}
	bigItem := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: n}\n  status: {nodeInfo: {osImage: " + strings.Repeat("x", 5<<10) + "}}\n"
	tests := []struct {
		name string
		in   io.Reader
		want string
	}{
		{"endless input", zeros{}, "bytes for one object"},
		{"endless documents", repeat("---\nkind: Foo\n"), "limit of 65536 bytes (--max-input-bytes)"},
		{"yaml line over the object limit", strings.NewReader("kind: " + strings.Repeat("x", 5<<10)), "document 1: too large: more than the limit of 4096 bytes for one object"},
		{"yaml list item over the object limit", strings.NewReader(bigItem), "document 1 item 0: too large"},
		{"json object over the object limit", strings.NewReader(`{"kind": "` + strings.Repeat("x", 5<<10) + `"}`), "document 1: too large"},
		{"json list item over the object limit", strings.NewReader(`{"items": [{}, {"kind": "` + strings.Repeat("x", 5<<10) + `"}]}`), "document 1 item 1: too large"},
		{"endless json documents", repeat(`{"kind": "Foo"}`), "limit of 65536 bytes (--max-input-bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("in.yaml", tt.in, small)
			if !errors.Is(err, ErrInput) || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error = %v, want ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), "in.yaml") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the file and %q", err, tt.want)
			}
		})
	}
}

// repeat returns an endless input made of s again and again.
func repeat(s string) io.Reader { return &repeater{s: s} }

type repeater struct {
	s string
	i int
}

func (r *repeater) Read(p []byte) (int, error) {
	for n := range p {
		p[n] = r.s[r.i%len(r.s)]
		r.i++
	}
	return len(p), nil
}

func TestLoadReadsListsLargerThanOneObject(t *testing.T) {
	o := LoadOptions{MaxInputBytes: 1 << 20, MaxObjectBytes: 1 << 10}
	var y, j strings.Builder
	y.WriteString("apiVersion: v1\nitems:\n")
	j.WriteString(`{"apiVersion": "v1", "items": [`)
	for i := 0; i < 200; i++ {
		name := "node-" + itoa(i)
		y.WriteString("- apiVersion: v1\n  kind: Node\n  metadata: {name: " + name + "}\n")
		if i > 0 {
			j.WriteString(", ")
		}
		j.WriteString(`{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "` + name + `"}}`)
	}
	y.WriteString("kind: List\n")
	j.WriteString(`], "kind": "List"}`)
	for name, in := range map[string]string{"yaml": y.String(), "json": j.String()} {
		t.Run(name, func(t *testing.T) {
			if len(in) < 10*int(o.MaxObjectBytes) {
				t.Fatalf("the list is only %d bytes", len(in))
			}
			d, err := Load("in", strings.NewReader(in), o)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, core := d.Counts(); core != 200 {
				t.Fatalf("read %d nodes, want 200", core)
			}
		})
	}
}
