package v3

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// FuzzDecode feeds arbitrary documents to the informer's wire decoder for
// every kind read. Whatever a document holds, a syntactically valid JSON
// object of the kind decodes (wrong types are problems, never errors), no
// kept string exceeds MaxStringBytes, and decoding never panics.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"Node","metadata":{"name":"m"},"spec":{"worker":"yes"},"status":[]}`,
		`{"kind":"Node","status":{"internalNodeStatus":{"capacity":{"cpu":{},"memory":[1]},"nodeInfo":"x"}}}`,
		`{"kind":"Cluster","status":{"driver":5,"version":"v1","capacity":"lots","nodeCount":"3"}}`,
		`{"kind":"Setting","value":{"a":1},"default":null}`,
		`{"kind":"Feature","spec":{"value":"true"},"status":{"default":"x","lockedValue":1}}`,
	} {
		f.Add([]byte(seed))
	}
	wire := wireDecoder(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, obj := range []runtime.Object{&Node{}, &Cluster{}, &Setting{}, &Feature{}} {
			// The wire decoder refuses documents that are not JSON objects
			// of a known kind; only a panic or a kept oversize string is a
			// finding.
			if _, _, err := wire.Decode(data, nil, obj); err != nil {
				continue
			}
			checkBounded(t, obj)
		}
	})
}

func checkBounded(t *testing.T, obj runtime.Object) {
	t.Helper()
	var strs []string
	switch o := obj.(type) {
	case *Node:
		i := o.Status.InternalNodeStatus.NodeInfo
		strs = []string{i.Architecture, i.OperatingSystem, i.OSImage, i.KernelVersion, i.ContainerRuntimeVersion, i.KubeletVersion}
		for _, l := range []ResourceList{o.Status.InternalNodeStatus.Capacity, o.Status.InternalNodeStatus.Allocatable} {
			for _, name := range readQuantities {
				if q, ok := l.Get(name); ok {
					strs = append(strs, q.Text)
				}
			}
		}
	case *Cluster:
		strs = []string{o.Status.Driver, o.Status.Provider, o.Status.Version.GitVersion}
	case *Setting:
		strs = []string{o.Value, o.Default}
	}
	for _, s := range strs {
		if len(s) > MaxStringBytes {
			t.Fatalf("%T kept a string of %d bytes", obj, len(s))
		}
	}
}

// FuzzCodecs decodes arbitrary documents with Codecs and with the stock
// decoder, into nil and into each kind: both must fail, or both give the
// same object.
func FuzzCodecs(f *testing.F) {
	for _, tc := range codecDocs {
		f.Add([]byte(tc.doc))
	}
	f.Add(compactJSON(f, nodeFile))
	stock, codecs := stockDecoder(f), codecsDecoder(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, newInto := range newObjects {
			compareDecoders(t, stock, codecs, data, newInto)
		}
	})
}
