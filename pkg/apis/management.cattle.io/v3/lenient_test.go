package v3

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func nodeDoc(name, spec, status string) string {
	return fmt.Sprintf(`{"apiVersion": "management.cattle.io/v3", "kind": "Node",
		"metadata": {"name": %q, "namespace": "c-abc"}, "spec": %s, "status": %s}`, name, spec, status)
}

func capacityDoc(capacity string) string {
	return `{"internalNodeStatus": {"capacity": ` + capacity + `, "nodeInfo": {"architecture": "amd64"}}}`
}

// problemFields returns "field: got" of each problem, sorted.
func problemFields(ps []Problem) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Field+": "+p.Got.String())
	}
	slices.Sort(out)
	return out
}

func TestQuantityKeepsTextOfStringsAndNumbersAndRecordsOtherTypes(t *testing.T) {
	for _, tc := range []struct {
		capacity string
		cpu, mem Quantity
		problems []string
	}{
		{`{"cpu": "abc", "memory": "8Gi"}`, Q("abc"), Q("8Gi"), []string{}},
		{`{"cpu": 2, "memory": 8589934592}`, Q("2"), Q("8589934592"), []string{}},
		{`{"cpu": 2.5, "memory": 129e6}`, Q("2.5"), Q("129e6"), []string{}},
		{`{"cpu": -1, "memory": "1.5Gi"}`, Q("-1"), Q("1.5Gi"), []string{}},
		{`{"cpu": true, "memory": {"value": 1}}`, Quantity{Bad: KindBool}, Quantity{Bad: KindObject},
			[]string{"status.internalNodeStatus.capacity.cpu: a boolean", "status.internalNodeStatus.capacity.memory: an object"}},
		{`{"cpu": ["1"]}`, Quantity{Bad: KindArray}, Quantity{},
			[]string{"status.internalNodeStatus.capacity.cpu: an array"}},
		{`{"cpu": "` + strings.Repeat("9", MaxStringBytes+1) + `"}`, Quantity{Bad: KindOversize}, Quantity{},
			[]string{"status.internalNodeStatus.capacity.cpu: " + KindOversize.String()}},
		{`"16"`, Quantity{}, Quantity{}, []string{"status.internalNodeStatus.capacity: a string"}},
		{`[]`, Quantity{}, Quantity{}, []string{"status.internalNodeStatus.capacity: an array"}},
	} {
		for name, decode := range decoders(t) {
			t.Run(name+"/"+tc.capacity[:min(len(tc.capacity), 40)], func(t *testing.T) {
				var n Node
				if err := decode([]byte(nodeDoc("m-1", `{}`, capacityDoc(tc.capacity))), &n); err != nil {
					t.Fatal(err)
				}
				c := n.Status.InternalNodeStatus.Capacity
				cpu, _ := c.Get("cpu")
				mem, _ := c.Get("memory")
				if cpu != tc.cpu || mem != tc.mem {
					t.Errorf("cpu, memory = %+v, %+v; want %+v, %+v", cpu, mem, tc.cpu, tc.mem)
				}
				if got := problemFields(n.Problems()); !slices.Equal(got, tc.problems) {
					t.Errorf("problems = %q, want %q", got, tc.problems)
				}
				if n.Status.InternalNodeStatus.NodeInfo.Architecture != "amd64" {
					t.Errorf("a bad quantity lost the rest of the status: %+v", n.Status)
				}
			})
		}
	}
}

// wrongTypes are a value of every JSON type; each case below uses the ones
// that are wrong for its field.
var wrongTypes = map[Kind]string{
	KindString: `"yes"`, KindNumber: `3`, KindBool: `true`, KindObject: `{"a": 1}`, KindArray: `[1, "x"]`,
}

// TestEveryReadFieldAcceptsEveryJSONType puts each JSON type in each field
// the types read, in every kind, through both decoders: the object always
// decodes, and a wrong type is a problem that names the field.
func TestEveryReadFieldAcceptsEveryJSONType(t *testing.T) {
	type field struct {
		kind string // Cluster, Node, Setting, Feature
		path string // dotted path of the field
		want Kind   // the JSON type it has
	}
	fields := []field{
		{"Node", "spec", KindObject},
		{"Node", "spec.etcd", KindBool},
		{"Node", "spec.controlPlane", KindBool},
		{"Node", "spec.worker", KindBool},
		{"Node", "status", KindObject},
		{"Node", "status.internalNodeStatus", KindObject},
		{"Node", "status.internalNodeStatus.capacity", KindObject},
		{"Node", "status.internalNodeStatus.allocatable", KindObject},
		{"Node", "status.internalNodeStatus.nodeInfo", KindObject},
		{"Node", "status.internalNodeStatus.nodeInfo.architecture", KindString},
		{"Node", "status.internalNodeStatus.nodeInfo.operatingSystem", KindString},
		{"Node", "status.internalNodeStatus.nodeInfo.osImage", KindString},
		{"Node", "status.internalNodeStatus.nodeInfo.kernelVersion", KindString},
		{"Node", "status.internalNodeStatus.nodeInfo.containerRuntimeVersion", KindString},
		{"Node", "status.internalNodeStatus.nodeInfo.kubeletVersion", KindString},
		{"Cluster", "status", KindObject},
		{"Cluster", "status.driver", KindString},
		{"Cluster", "status.provider", KindString},
		{"Cluster", "status.version", KindObject},
		{"Cluster", "status.version.gitVersion", KindString},
		{"Cluster", "status.capacity", KindObject},
		{"Cluster", "status.allocatable", KindObject},
		{"Setting", "value", KindString},
		{"Setting", "default", KindString},
		{"Feature", "spec", KindObject},
		{"Feature", "spec.value", KindBool},
		{"Feature", "status", KindObject},
		{"Feature", "status.default", KindBool},
		{"Feature", "status.lockedValue", KindBool},
	}
	for _, f := range fields {
		for got, value := range wrongTypes {
			// Every JSON type but the field's own is wrong.
			if got == f.want {
				continue
			}
			for name, decode := range decoders(t) {
				t.Run(fmt.Sprintf("%s/%s/%s/%s", name, f.kind, f.path, got), func(t *testing.T) {
					doc := objectDoc(f.kind, f.path, value)
					obj, problems := newOf(f.kind)
					if err := decode([]byte(doc), obj); err != nil {
						t.Fatalf("%s failed to decode: %v\n%s", f.kind, err, doc)
					}
					want := []string{f.path + ": " + got.String()}
					if got := problemFields(problems()); !slices.Equal(got, want) {
						t.Errorf("problems = %q, want %q\n%s", got, want, doc)
					}
				})
			}
		}
	}
}

// objectDoc returns a well-formed object of kind with value at path.
func objectDoc(kind, path, value string) string {
	body := map[string]string{
		"Node": `{"spec": {"worker": true}, "status": {"internalNodeStatus": {"capacity": {"cpu": "2", "memory": "4Gi"},
			"nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"}}}}`,
		"Cluster": `{"status": {"driver": "rke2", "version": {"gitVersion": "v1.32.4"}, "capacity": {"cpu": "4"}}}`,
		"Setting": `{"value": "v", "default": "d"}`,
		"Feature": `{"spec": {"value": true}, "status": {"default": false}}`,
	}[kind]
	return fmt.Sprintf(`{"apiVersion": "management.cattle.io/v3", "kind": %q, "metadata": {"name": "x"}, %s`,
		kind, strings.TrimPrefix(setPath(body, strings.Split(path, "."), value), "{"))
}

// setPath replaces (or adds) the value at path in a JSON object written as
// text, without a JSON library: the test must not depend on the decoder it
// checks.
func setPath(obj string, path []string, value string) string {
	key := `"` + path[0] + `": `
	i := strings.Index(obj, key)
	if i < 0 {
		return "{" + key + valueFor(path[1:], value) + ", " + strings.TrimPrefix(obj, "{")
	}
	start := i + len(key)
	end := valueEnd(obj, start)
	inner := obj[start:end]
	if len(path) > 1 && strings.HasPrefix(inner, "{") {
		inner = setPath(inner, path[1:], value)
	} else {
		inner = valueFor(path[1:], value)
	}
	return obj[:start] + inner + obj[end:]
}

func valueFor(path []string, value string) string {
	if len(path) == 0 {
		return value
	}
	return `{"` + path[0] + `": ` + valueFor(path[1:], value) + `}`
}

// valueEnd returns the index just after the JSON value starting at i.
func valueEnd(s string, i int) int {
	depth, inString := 0, false
	for j := i; j < len(s); j++ {
		c := s[j]
		switch {
		case inString:
			if c == '\\' {
				j++
			} else if c == '"' {
				inString = false
				if depth == 0 {
					return j + 1
				}
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return j
			}
			depth--
			if depth == 0 {
				return j + 1
			}
		case depth == 0 && (c == ',' || c == '}'):
			return j
		}
	}
	return len(s)
}

func newOf(kind string) (runtime.Object, func() []Problem) {
	switch kind {
	case "Node":
		n := &Node{}
		return n, n.Problems
	case "Cluster":
		c := &Cluster{}
		return c, c.Problems
	case "Setting":
		s := &Setting{}
		return s, s.Problems
	default:
		f := &Feature{}
		return f, f.Problems
	}
}

// TestWrongTypesKeepTheRestOfTheObject: a wrong-typed field reads as its
// zero value and every other field is still read.
func TestWrongTypesKeepTheRestOfTheObject(t *testing.T) {
	for name, decode := range decoders(t) {
		t.Run(name, func(t *testing.T) {
			var n Node
			doc := nodeDoc("m-1", `{"worker": "yes", "etcd": true}`,
				`{"internalNodeStatus": {"capacity": {"cpu": "4", "memory": "8Gi"}, "nodeInfo": {"architecture": 64, "operatingSystem": "linux"}}}`)
			if err := decode([]byte(doc), &n); err != nil {
				t.Fatal(err)
			}
			st := n.Status.InternalNodeStatus
			if n.Spec.Worker || !n.Spec.Etcd || st.Capacity.CPU.Text != "4" || st.NodeInfo.Architecture != "" || st.NodeInfo.OperatingSystem != "linux" {
				t.Errorf("node = %+v", n)
			}
			want := []string{"spec.worker: a string", "status.internalNodeStatus.nodeInfo.architecture: a number"}
			if got := problemFields(n.Problems()); !slices.Equal(got, want) {
				t.Errorf("problems = %q, want %q", got, want)
			}

			var f Feature
			if err := decode([]byte(`{"kind": "Feature", "metadata": {"name": "fleet"}, "spec": {"value": "true"}, "status": {"default": true, "lockedValue": null}}`), &f); err != nil {
				t.Fatal(err)
			}
			if f.Spec.Value != nil || f.Status.LockedValue != nil || f.Status.Default == nil || !*f.Status.Default || !f.Enabled() {
				t.Errorf("feature = %+v: want the wrong-typed value unset and the default in force", f)
			}

			var s Setting
			if err := decode([]byte(`{"kind": "Setting", "metadata": {"name": "server-version"}, "value": 5, "default": "v2.12.1"}`), &s); err != nil {
				t.Fatal(err)
			}
			if s.Effective() != "v2.12.1" || s.Name != "server-version" || len(s.Problems()) != 1 {
				t.Errorf("setting = %+v (problems %v): want the default in force", s, s.Problems())
			}
		})
	}
}

// TestNodeListWithBadNodesDecodes: the list an informer decodes holds every
// node, the bad ones with their problems.
func TestNodeListWithBadNodesDecodes(t *testing.T) {
	items := []string{
		nodeDoc("m-good", `{"worker": true}`, capacityDoc(`{"cpu": "4", "memory": "16Gi"}`)),
		nodeDoc("m-abc", `{"worker": true}`, capacityDoc(`{"cpu": "abc", "memory": "16Gi"}`)),
		nodeDoc("m-types", `{"worker": "yes"}`, capacityDoc(`{"cpu": true, "memory": [1, 2]}`)),
		nodeDoc("m-status", `[]`, `[]`),
		nodeDoc("m-info", `{"worker": true}`, `{"internalNodeStatus": {"nodeInfo": "x"}}`),
	}
	doc := `{"apiVersion": "management.cattle.io/v3", "kind": "NodeList", "metadata": {"resourceVersion": "42"},
		"items": [` + strings.Join(items, ",") + `]}`
	want := map[string]int{"m-good": 0, "m-abc": 0, "m-types": 3, "m-status": 2, "m-info": 1}
	for name, decode := range decoders(t) {
		t.Run(name, func(t *testing.T) {
			var l NodeList
			if err := decode([]byte(doc), &l); err != nil {
				t.Fatalf("one bad node failed the whole list: %v", err)
			}
			if len(l.Items) != len(want) || l.ResourceVersion != "42" {
				t.Fatalf("got %d items at resourceVersion %q, want %d at 42", len(l.Items), l.ResourceVersion, len(want))
			}
			for _, n := range l.Items {
				if got := len(n.Problems()); got != want[n.Name] || n.Namespace != "c-abc" {
					t.Errorf("%s: %d problems (%v), want %d", n.Name, got, n.Problems(), want[n.Name])
				}
			}
		})
	}
}

func TestDeepCopyKeepsProblems(t *testing.T) {
	var n Node
	if err := decoders(t)["wire"]([]byte(nodeDoc("m-1", `{"worker": 1}`, capacityDoc(`{"cpu": "2"}`))), &n); err != nil {
		t.Fatal(err)
	}
	c := n.DeepCopy()
	if len(c.Problems()) != 1 || c.Status.InternalNodeStatus.Capacity.CPU == n.Status.InternalNodeStatus.Capacity.CPU {
		t.Errorf("copy problems %v, quantities shared: %v", c.Problems(), c.Status.InternalNodeStatus.Capacity.CPU == n.Status.InternalNodeStatus.Capacity.CPU)
	}
}
