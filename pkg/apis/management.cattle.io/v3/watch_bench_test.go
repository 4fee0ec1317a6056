package v3

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	restclientwatch "k8s.io/client-go/rest/watch"
)

// watchFrames returns n MODIFIED watch events of the node testdata, each
// with its own name and resourceVersion, as the API server writes them
// (one JSON object and a newline each).
func watchFrames(tb testing.TB, n int) []byte {
	tb.Helper()
	node := compactJSON(tb, nodeFile)
	var buf bytes.Buffer
	for i := range n {
		obj := bytes.Replace(node, []byte(`"m-7d9f2xk4q"`), fmt.Appendf(nil, `"m-%09d"`, i), 1)
		buf.WriteString(`{"type":"MODIFIED","object":`)
		buf.Write(obj)
		buf.WriteString("}\n")
	}
	return buf.Bytes()
}

// loopReader replays data forever.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		r.off = 0
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}

func (r *loopReader) Close() error { return nil }

// watchDecoder builds client-go's watch decoding path (the one
// rest.Request.Watch builds) over r for the negotiated serializer ns.
func watchDecoder(tb testing.TB, ns runtime.NegotiatedSerializer, r io.ReadCloser) *restclientwatch.Decoder {
	tb.Helper()
	neg := runtime.NewClientNegotiator(ns, SchemeGroupVersion)
	objectDecoder, streamSerializer, framer, err := neg.StreamDecoder(runtime.ContentTypeJSON, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return restclientwatch.NewDecoder(streaming.NewDecoder(framer.NewFrameReader(r), streamSerializer), objectDecoder)
}

func stockSerializer(tb testing.TB) runtime.NegotiatedSerializer {
	tb.Helper()
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		tb.Fatal(err)
	}
	return serializer.NewCodecFactory(scheme).WithoutConversion()
}

// BenchmarkWatchDecode decodes watch events of a full-size Rancher node
// (one event per op) through client-go's watch decoder and the cache
// transform, with the stock codec lasso configures and with Codecs.
func BenchmarkWatchDecode(b *testing.B) {
	const frames = 64
	data := watchFrames(b, frames)
	for _, bc := range []struct {
		name string
		ns   runtime.NegotiatedSerializer
	}{
		{"stock", stockSerializer(b)},
		{"codecs", codecsFor(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := watchDecoder(b, bc.ns, &loopReader{data: data})
			b.SetBytes(int64(len(data) / frames))
			b.ReportAllocs()
			for b.Loop() {
				_, obj, err := d.Decode()
				if err != nil {
					b.Fatal(err)
				}
				n, ok := obj.(*Node)
				if !ok || n.Status.InternalNodeStatus.NodeInfo.Architecture != "amd64" {
					b.Fatalf("decoded %#v", obj)
				}
				if _, err := TransformMeta(n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func codecsFor(tb testing.TB) runtime.NegotiatedSerializer {
	tb.Helper()
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		tb.Fatal(err)
	}
	return NewCodecs(scheme)
}
