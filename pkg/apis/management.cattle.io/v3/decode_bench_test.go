package v3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// nodeFile is one Rancher v3 Node as the API server returns it (indented
// here for review; compactJSON restores the wire form, about 22 KB):
// managed fields, Rancher and node labels and annotations, taints, custom
// config, ~50 images, conditions, addresses, machine/boot ids and attached
// volumes. Every identifying value in it is made up.
const nodeFile = "testdata/node.json"

// wireDecoder decodes JSON the way the informers do: lasso's client uses
// serializer.NewCodecFactory(scheme).WithoutConversion() and decodes to
// the served version with its JSON serializer (sigs.k8s.io/json).
func wireDecoder(tb testing.TB) runtime.Decoder {
	tb.Helper()
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		tb.Fatal(err)
	}
	cf := serializer.NewCodecFactory(scheme).WithoutConversion()
	info, ok := runtime.SerializerInfoForMediaType(cf.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if !ok {
		tb.Fatal("no JSON serializer")
	}
	return cf.DecoderToVersion(info.Serializer, SchemeGroupVersion)
}

func testScheme(tb testing.TB) *runtime.Scheme {
	tb.Helper()
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		tb.Fatal(err)
	}
	return scheme
}

// codecsDecoder is wireDecoder with Codecs.
func codecsDecoder(tb testing.TB) runtime.Decoder {
	tb.Helper()
	cf := NewCodecs(testScheme(tb))
	info, ok := runtime.SerializerInfoForMediaType(cf.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if !ok {
		tb.Fatal("no JSON serializer")
	}
	return cf.DecoderToVersion(info.Serializer, SchemeGroupVersion)
}

// slimMeta replicates the informer transform that runs before a v3 object
// enters a cache (TransformMeta in this package):
// it drops managed fields, annotations, labels, owner references and
// finalizers. Keep the two in step.
func slimMeta(m metav1.Object) {
	m.SetManagedFields(nil)
	m.SetAnnotations(nil)
	m.SetLabels(nil)
	m.SetOwnerReferences(nil)
	m.SetFinalizers(nil)
}

func compactJSON(tb testing.TB, path string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// decoders are the two ways a typed object is decoded in this project:
// the informer's wire decoder, and encoding/json (payload --from-file).
func decoders(t *testing.T) map[string]func(data []byte, into runtime.Object) error {
	wire := wireDecoder(t)
	codecs := codecsDecoder(t)
	onePass := &jsonDecoder{scheme: testScheme(t)}
	return map[string]func([]byte, runtime.Object) error{
		"wire": func(data []byte, into runtime.Object) error {
			_, _, err := wire.Decode(data, nil, into)
			return err
		},
		"encoding/json": func(data []byte, into runtime.Object) error { return json.Unmarshal(data, into) },
		"codecs": func(data []byte, into runtime.Object) error {
			_, _, err := codecs.Decode(data, nil, into)
			return err
		},
		// The one-pass decoder alone, without the stock decoder behind it.
		"one-pass": func(data []byte, into runtime.Object) error {
			t, ok := into.(target)
			if !ok {
				return fmt.Errorf("%T is not a kind of this package", into)
			}
			_, _, err := onePass.decode(data, nil, t)
			return err
		},
	}
}

func assertAbsent(t *testing.T, what string, got []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			t.Fatalf("%s: empty needle: the testdata lost a field", what)
		}
		if bytes.Contains(got, []byte(s)) {
			t.Errorf("%s still holds %q:\n%s", what, s, got)
		}
	}
}

func TestClusterDropsCredentials(t *testing.T) {
	const doc = `{
		"apiVersion": "management.cattle.io/v3", "kind": "Cluster",
		"metadata": {"name": "c-m-8kq2x7vd", "uid": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
			"annotations": {"field.cattle.io/creatorId": "user-x7k2p"}, "labels": {"provider.cattle.io": "rke2"}},
		"spec": {"displayName": "payments-production-eu", "description": "Payments, EU region",
			"fleetWorkspaceName": "fleet-default"},
		"status": {
			"driver": "imported", "provider": "rke2",
			"version": {"gitVersion": "v1.31.9+rke2r1", "major": "1", "minor": "31"},
			"capacity": {"cpu": "12", "memory": "49180848Ki", "pods": "330"},
			"allocatable": {"cpu": "12", "memory": "49180848Ki", "pods": "330"},
			"nodeCount": 3,
			"serviceAccountToken": "eyJhbGciOiJSUzI1NiIsImtpZCI6IlNFQ1JFVC1UT0tFTiJ9.c2VjcmV0",
			"serviceAccountTokenSecret": "cluster-serviceaccounttoken-q8x2v",
			"caCert": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lCQURBSw==",
			"apiEndpoint": "https://203.0.113.10:6443",
			"agentImage": "rancher/rancher-agent:v2.12.1",
			"conditions": [{"type": "Ready", "status": "True", "message": "cluster agent at 10.0.0.5 connected"}]
		}
	}`
	secrets := []string{
		"payments-production-eu", "Payments, EU region", // spec.displayName, description
		"eyJhbGciOiJSUzI1NiIsImtpZCI6IlNFQ1JFVC1UT0tFTiJ9", "cluster-serviceaccounttoken-q8x2v",
		"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t", "203.0.113.10", "10.0.0.5",
		"serviceAccountToken", "caCert", "apiEndpoint", "displayName",
	}
	for name, decode := range decoders(t) {
		t.Run(name, func(t *testing.T) {
			var c Cluster
			if err := decode([]byte(doc), &c); err != nil {
				t.Fatal(err)
			}
			// Whatever the cache transform leaves: spec and status are
			// checked before it, the whole object after it.
			status, err := json.Marshal(c.Status)
			if err != nil {
				t.Fatal(err)
			}
			assertAbsent(t, "decoded status", status, secrets...)
			slimMeta(&c)
			all, err := json.Marshal(&c)
			if err != nil {
				t.Fatal(err)
			}
			assertAbsent(t, "decoded cluster", all, append(secrets, "user-x7k2p")...)

			if c.Name != "c-m-8kq2x7vd" || c.Status.Driver != "imported" || c.Status.Provider != "rke2" ||
				c.Status.Version.GitVersion != "v1.31.9+rke2r1" ||
				c.Status.Capacity.CPU.Text != "12" || c.Status.Capacity.Memory.Text != "49180848Ki" || len(c.Problems()) != 0 {
				t.Errorf("read fields lost: %s", all)
			}
		})
	}
}

// identifying returns values of the node testdata that name or locate a
// machine, taken from the document itself so that the check follows it.
func identifying(t *testing.T, data []byte) []string {
	t.Helper()
	var u map[string]any
	if err := json.Unmarshal(data, &u); err != nil {
		t.Fatal(err)
	}
	get := func(path ...any) string {
		var v any = u
		for _, p := range path {
			switch k := p.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[k]
			case int:
				l, _ := v.([]any)
				if k >= len(l) {
					return ""
				}
				v = l[k]
			}
		}
		s, _ := v.(string)
		return s
	}
	ins := []any{"status", "internalNodeStatus"}
	at := func(p ...any) []any { return append(append([]any{}, ins...), p...) }
	out := []string{
		get("status", "nodeName"),
		get("spec", "requestedHostname"),
		get("spec", "displayName"),
		get("spec", "customConfig", "address"),
		get("spec", "customConfig", "internalAddress"),
		get("spec", "internalNodeSpec", "providerID"),
		get("spec", "internalNodeSpec", "podCIDR"),
		get("spec", "internalNodeSpec", "taints", 0, "value"),
		get(at("nodeInfo", "machineID")...),
		get(at("nodeInfo", "systemUUID")...),
		get(at("nodeInfo", "bootID")...),
		get(at("images", 0, "names", 0)...),
		get(at("images", 49, "names", 1)...),
		get(at("volumesAttached", 0, "name")...),
		get("status", "nodeLabels", "kubernetes.io/hostname"),
		get("status", "nodeAnnotations", "flannel.alpha.coreos.com/public-ip"),
		get("metadata", "labels", "management.cattle.io/nodename"),
		get("metadata", "ownerReferences", 0, "uid"),
	}
	for i := range 4 {
		out = append(out, get(at("addresses", i, "address")...))
	}
	return out
}

func TestNodeDropsIdentity(t *testing.T) {
	data := compactJSON(t, nodeFile)
	if n := len(data); n < 15<<10 || n > 25<<10 {
		t.Errorf("testdata is %d bytes on the wire, want a full-size node of 15-25 KB", n)
	}
	secrets := identifying(t, data)
	for name, decode := range decoders(t) {
		t.Run(name, func(t *testing.T) {
			var n Node
			if err := decode(data, &n); err != nil {
				t.Fatal(err)
			}
			specStatus, err := json.Marshal([]any{n.Spec, n.Status})
			if err != nil {
				t.Fatal(err)
			}
			assertAbsent(t, "decoded spec and status", specStatus, secrets...)
			slimMeta(&n)
			all, err := json.Marshal(&n)
			if err != nil {
				t.Fatal(err)
			}
			assertAbsent(t, "decoded node after the cache transform", all, secrets...)
			if len(all) > 1<<10 {
				t.Errorf("slim node re-encodes to %d bytes, want under 1 KiB:\n%s", len(all), all)
			}

			st := n.Status.InternalNodeStatus
			if n.Name != "m-7d9f2xk4q" || n.Namespace != "c-m-8kq2x7vd" || !n.Spec.Worker || n.Spec.Etcd || n.Spec.ControlPlane ||
				st.Capacity.CPU.Text != "4" || st.Capacity.Memory.Text != "16393616Ki" || st.Allocatable.CPU.Text != "4" ||
				st.NodeInfo.Architecture != "amd64" || st.NodeInfo.OperatingSystem != "linux" ||
				st.NodeInfo.KubeletVersion != "v1.31.9+rke2r1" || st.NodeInfo.ContainerRuntimeVersion != "containerd://2.0.5-k3s1" ||
				st.NodeInfo.OSImage != "Ubuntu 24.04.2 LTS" || st.NodeInfo.KernelVersion != "6.8.0-1029-aws" {
				t.Errorf("read fields lost: %s", all)
			}
		})
	}
}

// BenchmarkDecodeNode measures decoding one full-size Rancher node (ns/op
// is per node) into the slim type plus the cache transform, against
// encoding/json and a full unstructured object for reference.
func BenchmarkDecodeNode(b *testing.B) {
	data := compactJSON(b, nodeFile)
	wire := wireDecoder(b)
	for _, bc := range []struct {
		name   string
		decode func() error
	}{
		{"slim-wire", func() error {
			n := &Node{}
			if _, _, err := wire.Decode(data, nil, n); err != nil {
				return err
			}
			slimMeta(n)
			return nil
		}},
		{"slim-encoding-json", func() error {
			n := &Node{}
			if err := json.Unmarshal(data, n); err != nil {
				return err
			}
			slimMeta(n)
			return nil
		}},
		{"unstructured", func() error {
			u := &unstructured.Unstructured{}
			return u.UnmarshalJSON(data)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeNodeList measures an informer's initial list: one
// NodeList of listSize full-size nodes through the wire decoder.
func BenchmarkDecodeNodeList(b *testing.B) {
	const listSize = 500
	node := compactJSON(b, nodeFile)
	var buf bytes.Buffer
	buf.WriteString(`{"apiVersion":"management.cattle.io/v3","kind":"NodeList","metadata":{"resourceVersion":"184467209"},"items":[`)
	for i := range listSize {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(bytes.Replace(node, []byte(`"m-7d9f2xk4q"`), fmt.Appendf(nil, `"m-%09d"`, i), 1))
	}
	buf.WriteString(`]}`)
	data := buf.Bytes()
	wire := wireDecoder(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		l := &NodeList{}
		if _, _, err := wire.Decode(data, nil, l); err != nil {
			b.Fatal(err)
		}
		if len(l.Items) != listSize {
			b.Fatalf("%d items", len(l.Items))
		}
		for i := range l.Items {
			slimMeta(&l.Items[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*listSize), "ns/node")
}
