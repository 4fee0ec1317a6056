package gatherer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Benchmarks at the sizes of DESIGN section 11 (see scales in
// scale_test.go). The objects are built once per size, outside the timer,
// in the same wrangler caches the informers fill.

// BenchmarkSnapshot measures one Gatherer.Snapshot of a gatherer fed by
// its handlers: composing records and aggregates, parsing nothing.
func BenchmarkSnapshot(b *testing.B) {
	for _, sc := range scales {
		b.Run(sc.String(), func(b *testing.B) {
			s, _ := sc.build(b)
			g := sc.fedGatherer(b, s)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Snapshot(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sc.nodes), "ns/node")
		})
	}
}

// BenchmarkSnapshotListed measures one Snapshot of a gatherer that reads
// listers (the Static path of files and tests): every object is read again
// at each snapshot, as each one is new to it.
func BenchmarkSnapshotListed(b *testing.B) {
	for _, sc := range scales {
		b.Run(sc.String(), func(b *testing.B) {
			s, _ := sc.build(b)
			g := sc.gatherer(b, s)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Snapshot(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBaselineIterate is the baseline of BenchmarkSnapshotEncode: a
// bare iteration over the same cached objects, listing the informer store
// and touching each object.
func BenchmarkBaselineIterate(b *testing.B) {
	for _, sc := range scales {
		b.Run(sc.String(), func(b *testing.B) {
			s, _ := sc.build(b)
			store := s.stores[1]
			if sc.mode == snapshot.ModeKubernetes {
				store = s.stores[4]
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for _, obj := range store.List() {
					switch o := obj.(type) {
					case *v3.Node:
						n += len(o.Name) + len(o.Status.InternalNodeStatus.NodeInfo.Architecture)
					case *corev1.Node:
						n += len(o.Name) + len(o.Status.NodeInfo.Architecture)
					}
				}
			}
			if n == 0 {
				b.Fatal("touched nothing")
			}
		})
	}
}

// BenchmarkNodeUpdate measures one node update through the handlers at the
// largest size: a heartbeat (new resourceVersion, same read fields, so no
// record changes) and a capacity change (the record and its cluster's
// aggregate change).
func BenchmarkNodeUpdate(b *testing.B) {
	sc := scale{snapshot.ModeRancher, 2000, 60000, true}
	s, _ := sc.build(b)
	g := sc.fedGatherer(b, s)
	h := g.Handlers(KindNode)
	obj, ok, err := s.stores[1].GetByKey("local/m-00000000")
	if err != nil || !ok {
		b.Fatalf("node not found: %v", err)
	}
	n := obj.(*v3.Node)
	versions := func(change bool) [2]*v3.Node {
		var out [2]*v3.Node
		for i := range out {
			c := n.DeepCopy()
			c.ResourceVersion = fmt.Sprint(i + 1)
			if change && i == 1 {
				c.Status.InternalNodeStatus.Capacity = v3.Resources("7", "9Gi")
			}
			out[i] = c
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		change bool
	}{{"heartbeat", false}, {"capacity-change", true}} {
		b.Run(tt.name, func(b *testing.B) {
			v := versions(tt.change)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				h.OnUpdate(v[i%2], v[(i+1)%2])
				i++
			}
		})
	}
}

// BenchmarkSnapshotEncode measures what one export run costs before any
// I/O: the snapshot, the report payload and its content digest (what the
// secret exporter compares before it writes), and the scc payload.
// BenchmarkBaselineIterate is its baseline.
func BenchmarkSnapshotEncode(b *testing.B) {
	key := []byte("bench-pseudonym-key")
	reportEnc, err := encoding.ByFormat("report", key)
	if err != nil {
		b.Fatal(err)
	}
	sccEnc, err := encoding.ByFormat("scc", key)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2025, 7, 1, 9, 0, 0, 0, time.UTC)
	for _, sc := range scales {
		b.Run(sc.String(), func(b *testing.B) {
			s, _ := sc.build(b)
			g := sc.fedGatherer(b, s)
			b.ReportAllocs()
			var reportBytes, sccBytes int
			for b.Loop() {
				snap, err := g.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				out, err := reportEnc.Encode(snap, time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				_ = secret.Digest(out)
				sccOut, err := sccEnc.Encode(snap, now)
				if err != nil {
					b.Fatal(err)
				}
				reportBytes, sccBytes = len(out), len(sccOut)
			}
			b.ReportMetric(float64(reportBytes), "bytes/report")
			b.ReportMetric(float64(sccBytes), "bytes/scc")
		})
	}
}

// nodeJSON is one full-size Rancher v3 Node as the API returns it (see
// the v3 package's testdata), compacted to its wire form.
const nodeJSON = "../apis/management.cattle.io/v3/testdata/node.json"

// memoryObjects is how many nodes BenchmarkCacheMemory decodes: enough for
// a stable per-object figure without holding gigabytes of unstructured
// maps.
const memoryObjects = 2000

// heapInUse returns the live heap after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkCacheMemory reports what the cache retains per Rancher node:
// memoryObjects full-size node documents (each with its own name and uid)
// are decoded as the informer decodes them into the slim v3.Node, passed
// through the cache transform and kept, and the retained heap is divided
// by their number.
//
//   - B/object: slim nodes kept in a slice (the objects alone);
//   - B/object-cached: the same nodes in a wrangler cache (NewStatic), so
//     with the store's keys and its namespace index;
//   - B/object-record: the gatherer's record of each node, fed by its
//     handlers, with the objects dropped (in production the facts' strings
//     are shared with the cached object);
//   - B/object-unstructured: the same documents as full map[string]any
//     unstructured objects, untransformed, for reference;
//   - bytes/json: the size of one document on the wire.
//
// ns/op is decoding memoryObjects nodes (each document copied with its own
// name and uid first), transforming them and keeping them in a slice.
func BenchmarkCacheMemory(b *testing.B) {
	raw, err := os.ReadFile(nodeJSON)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		b.Fatal(err)
	}
	doc := buf.Bytes()
	// doc(i) is node i's document; it is garbage once decoded.
	nameAt := bytes.Index(doc, []byte(`"m-7d9f2xk4q"`))
	uidAt := bytes.Index(doc, []byte(`"3f6e1c2a-9b7d-4e0a-8c51-6d2f4a7b9e13"`))
	if nameAt < 0 || uidAt < 0 || uidAt < nameAt {
		b.Fatal("testdata node lost its name or uid")
	}
	docOf := func(i int) []byte {
		d := make([]byte, 0, len(doc)+8)
		d = append(d, doc[:nameAt]...)
		d = fmt.Appendf(d, `"m-%09d"`, i)
		d = append(d, doc[nameAt+len(`"m-7d9f2xk4q"`):uidAt]...)
		d = fmt.Appendf(d, `"3f6e1c2a-9b7d-4e0a-8c51-%012d"`, i)
		return append(d, doc[uidAt+len(`"3f6e1c2a-9b7d-4e0a-8c51-6d2f4a7b9e13"`):]...)
	}

	// The decoder lasso's client uses for typed objects.
	scheme := k8sruntime.NewScheme()
	if err := v3.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	cf := serializer.NewCodecFactory(scheme).WithoutConversion()
	info, ok := k8sruntime.SerializerInfoForMediaType(cf.SupportedMediaTypes(), k8sruntime.ContentTypeJSON)
	if !ok {
		b.Fatal("no JSON serializer")
	}
	dec := cf.DecoderToVersion(info.Serializer, v3.SchemeGroupVersion)
	decodeSlim := func(i int) *v3.Node {
		n := &v3.Node{}
		if _, _, err := dec.Decode(docOf(i), nil, n); err != nil {
			b.Fatal(err)
		}
		if _, err := v3.TransformMeta(n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	// Warm the decoder's and the runtime's caches before any baseline.
	if n := decodeSlim(0); n.Status.InternalNodeStatus.Capacity.CPU.Text != "4" || n.Namespace == "" {
		b.Fatalf("decoded node lost its fields: %+v", n)
	}

	// Reference: the same documents as full unstructured objects.
	unstr := make([]*unstructured.Unstructured, memoryObjects)
	before := heapInUse()
	for i := range unstr {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(docOf(i)); err != nil {
			b.Fatal(err)
		}
		unstr[i] = u
	}
	perUnstructured := float64(heapInUse()-before) / memoryObjects
	runtime.KeepAlive(unstr)
	unstr = nil

	// What the manager keeps of a node: the record NodeTransform makes of
	// the decoded object, held by an informer's indexer (with its namespace
	// index) and by the gatherer, which its handlers fed.
	g, err := New(Config{Mode: snapshot.ModeRancher, UseHandlers: true})
	if err != nil {
		b.Fatal(err)
	}
	h := g.Handlers(KindNode)
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	before = heapInUse()
	for i := range memoryObjects {
		rec, err := NodeTransform(decodeSlim(i))
		if err != nil {
			b.Fatal(err)
		}
		if err := idx.Add(rec); err != nil {
			b.Fatal(err)
		}
		h.OnAdd(rec, true)
	}
	perKept := float64(heapInUse()-before) / memoryObjects
	if len(idx.ListKeys()) != memoryObjects || len(g.nodes) != memoryObjects {
		b.Fatalf("indexer holds %d nodes, gatherer %d", len(idx.ListKeys()), len(g.nodes))
	}
	runtime.KeepAlive(idx)
	runtime.KeepAlive(g)
	idx, g = nil, nil

	b.ReportAllocs()
	var perSlim float64
	for b.Loop() {
		b.StopTimer()
		kept := make([]*v3.Node, memoryObjects)
		before := heapInUse()
		b.StartTimer()
		for i := range kept {
			kept[i] = decodeSlim(i)
		}
		b.StopTimer()
		perSlim = float64(heapInUse()-before) / memoryObjects
		runtime.KeepAlive(kept)
		b.StartTimer()
	}
	b.ReportMetric(perSlim, "B/object")
	b.ReportMetric(perKept, "B/object-kept")
	b.ReportMetric(perUnstructured, "B/object-unstructured")
	b.ReportMetric(float64(len(doc)), "bytes/json")
}
