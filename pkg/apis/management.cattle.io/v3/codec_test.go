package v3

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// stockDecoder is wireDecoder with lasso's fallback to unstructured
// objects for unknown kinds, which Codecs keeps.
func stockDecoder(tb testing.TB) runtime.Decoder {
	return unstructuredFallback{wireDecoder(tb)}
}

// compareDecoders decodes data with the stock decoder and with Codecs, into
// a new object from newInto (nil: the kind data names), and fails unless
// both fail or both give the same object.
func compareDecoders(t testing.TB, stock, codecs runtime.Decoder, data []byte, newInto func() runtime.Object) (runtime.Object, error) {
	t.Helper()
	var stockInto, codecsInto runtime.Object
	if newInto != nil {
		stockInto, codecsInto = newInto(), newInto()
	}
	want, _, wantErr := stock.Decode(data, nil, stockInto)
	got, _, err := codecs.Decode(data, nil, codecsInto)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Codecs: %v, stock: %v\n%.400s", err, wantErr, data)
	}
	if err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Codecs decoded\n%#v\nstock decoded\n%#v\nfrom %.400s", got, want, data)
	}
	return got, nil
}

var newObjects = map[string]func() runtime.Object{
	"nil":     nil,
	"Node":    func() runtime.Object { return &Node{} },
	"Cluster": func() runtime.Object { return &Cluster{} },
	"Setting": func() runtime.Object { return &Setting{} },
	"Feature": func() runtime.Object { return &Feature{} },
}

// codecDocs are documents that Codecs must read as the stock decoder
// does; onePass says whether the one-pass decoder reads them itself.
var codecDocs = []struct {
	name    string
	doc     string
	onePass bool
}{
	{"node with metadata of every kind", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{
		"name":"m-1","generateName":"m-","namespace":"c-abc","selfLink":"/x","uid":"u-1","resourceVersion":"42",
		"generation":3,"creationTimestamp":"2025-05-01T10:00:00Z","deletionTimestamp":"2025-05-02T10:00:00+02:00",
		"deletionGracePeriodSeconds":30,"labels":{"a":"1","b":"caf\u00e9"},"annotations":{"x":"{\"k\":\"v\"}","y":""},
		"ownerReferences":[{"apiVersion":"v1","kind":"Cluster","name":"c","uid":"u","controller":true}],
		"finalizers":["a","b"],"managedFields":[{"manager":"rancher","operation":"Update","apiVersion":"management.cattle.io/v3",
		"time":"2025-05-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{".":{}}},"subresource":"status"}],
		"unknown":[1,{"a":null}]},
		"spec":{"worker":true,"requestedHostname":"h"},"status":{"internalNodeStatus":{"capacity":{"cpu":"2"}}}}`, true},
	{"node with metadata nulls", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"name":null,
		"labels":null,"annotations":{},"finalizers":[],"managedFields":null,"deletionTimestamp":null,"creationTimestamp":null,
		"generation":null,"deletionGracePeriodSeconds":null,"ownerReferences":null}}`, true},
	{"node with wrong-typed read fields", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"name":"m"},
		"spec":{"worker":"yes","etcd":1},"status":{"internalNodeStatus":{"capacity":{"cpu":{}},"nodeInfo":"x"}}}`, true},
	{"node with status an array", `{"kind":"Node","apiVersion":"management.cattle.io/v3","status":[],"spec":null}`, true},
	{"node without apiVersion and kind", `{"metadata":{"name":"m"},"spec":{"worker":true}}`, true},
	{"keys with escapes and bad UTF-8", "{\"apiVersion\":\"management.cattle.io/v3\",\"kind\":\"Node\",\"metadata\":{\"na\\u006de\":\"m\",\"labels\":{\"\xff\":\"\xfe\"}},\"\\u0073pec\":{\"worker\":true}}", true},
	{"cluster", `{"apiVersion":"management.cattle.io/v3","kind":"Cluster","metadata":{"name":"local"},
		"spec":{"displayName":"x"},"status":{"driver":"rke2","version":{"gitVersion":"v1.31.9"},"caCert":"secret"}}`, true},
	{"setting with wrong types", `{"apiVersion":"management.cattle.io/v3","kind":"Setting","metadata":{"name":"s"},
		"default":5,"value":{"a":1},"value":[1]}`, true},
	{"setting", `{"apiVersion":"management.cattle.io/v3","kind":"Setting","metadata":{"name":"install-uuid"},"value":"","default":"d"}`, true},
	{"feature", `{"apiVersion":"management.cattle.io/v3","kind":"Feature","metadata":{"name":"f"},
		"spec":{"value":null},"status":{"default":true,"lockedValue":"x"}}`, true},
	{"node list", `{"apiVersion":"management.cattle.io/v3","kind":"NodeList","metadata":{"resourceVersion":"7","continue":"c"},
		"items":[{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"name":"a"},"spec":{"worker":true}},null,
		{"metadata":{"name":"b"},"status":{"internalNodeStatus":{"capacity":{"cpu":"abc"}}}}]}`, true},
	{"empty list", `{"apiVersion":"management.cattle.io/v3","kind":"ClusterList","metadata":{},"items":[]}`, true},
	{"list without items", `{"apiVersion":"management.cattle.io/v3","kind":"FeatureList","items":null}`, true},
	{"setting list", `{"apiVersion":"management.cattle.io/v3","kind":"SettingList","items":[{"metadata":{"name":"a"},"value":"v"}]}`, true},

	// Left to the stock decoder.
	{"kind after metadata", `{"metadata":{"name":"m"},"apiVersion":"management.cattle.io/v3","kind":"Cluster"}`, false},
	{"kind in another case", `{"apiVersion":"management.cattle.io/v3","Kind":"Cluster","metadata":{"name":"m"}}`, false},
	{"kind of another group", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"m"}}`, false},
	{"kind not registered", `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"a":1}}`, false},
	{"a Status", `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old","reason":"Expired","code":410}`, false},
	{"kind not a string", `{"apiVersion":"management.cattle.io/v3","kind":5}`, false},
	{"labels twice", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"labels":{"a":"1"},"labels":{"b":"2"}}}`, false},
	{"metadata twice", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"labels":{"a":"1"}},"metadata":{"name":"n"}}`, false},
	{"label value a number", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"labels":{"a":1}}}`, false},
	{"name a number", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"name":1}}`, false},
	{"generation a fraction", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"generation":1.5}}`, false},
	{"timestamp not a time", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"creationTimestamp":"yesterday"}}`, false},
	{"metadata an array", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":[]}`, false},
	{"items an object", `{"apiVersion":"management.cattle.io/v3","kind":"NodeList","items":{}}`, false},

	// Not JSON: an error either way.
	{"unterminated", `{"apiVersion":"management.cattle.io/v3","kind":"Node","spec":{"worker":true}`, false},
	{"bad escape in a skipped string", `{"apiVersion":"management.cattle.io/v3","kind":"Node","status":{"images":["\q"]}}`, false},
	{"control character in a string", "{\"apiVersion\":\"management.cattle.io/v3\",\"kind\":\"Node\",\"status\":{\"x\":\"a\tb\"}}", false},
	{"bad number", `{"apiVersion":"management.cattle.io/v3","kind":"Node","status":{"x":01}}`, false},
	{"bad literal", `{"apiVersion":"management.cattle.io/v3","kind":"Node","status":{"x":tru}}`, false},
	{"trailing comma", `{"apiVersion":"management.cattle.io/v3","kind":"Node","spec":{"worker":true,}}`, false},
	{"mismatched brackets in metadata", `{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"ownerReferences":[}]}}`, false},
	{"trailing data", `{"apiVersion":"management.cattle.io/v3","kind":"Node"} {}`, false},
	{"not an object", `[{"kind":"Node"}]`, false},
	{"empty", ``, false},
}

func TestCodecsDecodeAsTheStockDecoder(t *testing.T) {
	stock, codecs := stockDecoder(t), codecsDecoder(t)
	onePass := &jsonDecoder{scheme: testScheme(t)}
	docs := append(codecDocs[:len(codecDocs):len(codecDocs)], struct {
		name    string
		doc     string
		onePass bool
	}{"testdata node", string(compactJSON(t, nodeFile)), true})
	for _, tc := range docs {
		for intoName, newInto := range newObjects {
			t.Run(tc.name+"/into "+intoName, func(t *testing.T) {
				obj, err := compareDecoders(t, stock, codecs, []byte(tc.doc), newInto)
				if !tc.onePass || err != nil {
					return
				}
				// The stock decoder must not have read it instead.
				var into target
				if newInto != nil {
					into = newInto().(target)
				}
				if kind := obj.(target).kind(); into == nil || into.kind() == kind {
					if _, _, err := onePass.decode([]byte(tc.doc), nil, into); err != nil {
						t.Errorf("the one-pass decoder left it to the stock decoder: %v", err)
					}
				}
			})
		}
	}
}

func TestCodecsRejectMalformedDocuments(t *testing.T) {
	codecs := codecsDecoder(t)
	onePass := &jsonDecoder{scheme: testScheme(t)}
	for _, doc := range []string{
		`{"apiVersion":"management.cattle.io/v3","kind":"Node","spec":{"worker":true}`,
		`{"apiVersion":"management.cattle.io/v3","kind":"Node","status":{"images":["\q"]}}`,
		`{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"name":"a"}}x`,
		`{"apiVersion":"management.cattle.io/v3","kind":"Node","status":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
	} {
		t.Run(doc[:min(len(doc), 60)], func(t *testing.T) {
			if _, _, err := onePass.decode([]byte(doc), nil, nil); err == nil {
				t.Error("the one-pass decoder accepted it")
			}
			if _, _, err := codecs.Decode([]byte(doc), nil, nil); err == nil {
				t.Error("Codecs accepted it")
			}
		})
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }
func (c *chunkReader) Close() error               { return nil }

type event struct {
	Type   watch.EventType
	Object runtime.Object
}

func readEvents(t *testing.T, ns runtime.NegotiatedSerializer, stream []byte, chunk int) ([]event, error) {
	t.Helper()
	d := watchDecoder(t, ns, &chunkReader{r: bytes.NewReader(stream), n: chunk})
	var out []event
	for {
		typ, obj, err := d.Decode()
		if err != nil {
			return out, err
		}
		out = append(out, event{typ, obj})
	}
}

func TestWatchEventsDecodeAsWithTheStockCodecs(t *testing.T) {
	node := compactJSON(t, nodeFile)
	stream := bytes.Join([][]byte{
		[]byte(`{"type":"ADDED","object":` + string(node) + `}`),
		watchFrames(t, 2),
		[]byte(` {"object":{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"name":"\"}{"}},"type":"DELETED"}`),
		[]byte("\n\t{\"type\":\"BOOKMARK\",\"object\":{\"apiVersion\":\"management.cattle.io/v3\",\"kind\":\"Node\",\"metadata\":{\"resourceVersion\":\"9\"}}}"),
		[]byte(`{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}}`),
		[]byte(`{"type":"MODIFIED","object":{"apiVersion":"example.com/v1","kind":"Widget","spec":{"a":[1,2]}}}`),
	}, nil)
	// lasso's codecs: the stock ones with the fallback to unstructured.
	stock := stockSerializer(t)
	want, wantErr := readEvents(t, &codecs{NegotiatedSerializer: stock, infos: stock.SupportedMediaTypes()}, stream, len(stream))
	if !errors.Is(wantErr, io.EOF) || len(want) != 7 {
		t.Fatalf("stock: %d events, %v", len(want), wantErr)
	}
	for _, chunk := range []int{1, 7, 4096, len(stream)} {
		t.Run(fmt.Sprint("reads of ", chunk), func(t *testing.T) {
			got, err := readEvents(t, codecsFor(t), stream, chunk)
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Codecs: %v after %d events", err, len(got))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Codecs decoded\n%#v\nstock decoded\n%#v", got, want)
			}
			// The events' objects keep nothing of the stream's buffer,
			// which later events overwrite.
			first := got[0].Object.(*Node)
			if first.Name != "m-7d9f2xk4q" || len(first.ManagedFields) == 0 ||
				!bytes.HasPrefix(first.ManagedFields[0].FieldsV1.Raw, []byte(`{"f:`)) {
				t.Errorf("first event changed: %s %q", first.Name, first.ManagedFields[0].FieldsV1.Raw)
			}
		})
	}
}

func TestWatchStreamErrors(t *testing.T) {
	for _, tc := range []struct {
		name, stream string
		want         error // nil: any error but io.EOF
	}{
		{"cut in an event", `{"type":"ADDED","object":{"kind":"Node"`, io.ErrUnexpectedEOF},
		{"event not an object", `"ADDED"`, nil},
		{"object not JSON", `{"type":"ADDED","object":{"apiVersion":"management.cattle.io/v3","kind":"Node","spec":{x}}}`, nil},
		{"type not JSON", `{"type":ADDED,"object":{}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readEvents(t, codecsFor(t), []byte(tc.stream), 5)
			if err == nil || errors.Is(err, io.EOF) || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// endless is an event whose string never ends.
type endless struct{ started bool }

func (e *endless) Read(p []byte) (int, error) {
	if !e.started {
		e.started = true
		return copy(p, `{"type":"ADDED","object":{"a":"`), nil
	}
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func (e *endless) Close() error { return nil }

func TestWatchFramerBoundsAnEvent(t *testing.T) {
	fr := jsonFramer{}.NewFrameReader(&endless{})
	_, err := fr.Read(make([]byte, 1024))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
}

func TestCodecsKeepTheStockEncoder(t *testing.T) {
	cf := NewCodecs(testScheme(t))
	info, _ := runtime.SerializerInfoForMediaType(cf.SupportedMediaTypes(), runtime.ContentTypeJSON)
	enc := cf.EncoderForVersion(info.Serializer, SchemeGroupVersion)
	var buf bytes.Buffer
	n := &Node{ObjectMeta: metav1.ObjectMeta{Name: "m"}}
	if err := enc.Encode(n, &buf); err != nil {
		t.Fatal(err)
	}
	got, _, err := codecsDecoder(t).Decode(buf.Bytes(), nil, nil)
	if err != nil || got.(*Node).Name != "m" {
		t.Fatalf("round trip: %v, %v\n%s", got, err, buf.Bytes())
	}
	if gvk := (schema.GroupVersionKind{}); got.GetObjectKind().GroupVersionKind() != gvk {
		t.Errorf("decoded kind %v, want it cleared as by the stock decoder", got.GetObjectKind().GroupVersionKind())
	}
}
