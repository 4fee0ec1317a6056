package v3

import (
	"bytes"
	"errors"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utiljson "sigs.k8s.io/json"
)

// The stock JSON decoder of client-go reads a Rancher node several times
// over: the watch stream's framer scans each event, the event is decoded
// into a metav1.WatchEvent (validated, scanned and copied), the object is
// scanned for its apiVersion and kind, then validated and decoded by
// encoding/json, which hands spec and status to the types' decoders. The
// codec below reads a document of the kinds of this package in one pass
// with the types' own decoders, which check that it is valid JSON and read
// apiVersion and kind as they go; a watch event is split without decoding
// its object twice. Every other document (core kinds, a Status, an unusual
// document: a kind after other members, an apiVersion of another spelling,
// anything malformed) is handed to the stock decoder, so that what decodes
// and every error are as client-go would have them.

// errUnusual stops the one-pass decoding of a document that the stock
// decoder must read instead; it never leaves the codec.
var errUnusual = errors.New("v3: document left to the stock decoder")

// NewCodecs returns the codecs of a client of the kinds of this package:
// the stock codecs of scheme without conversion, as lasso configures them,
// with a JSON decoder that reads Clusters, Nodes, Settings, Features and
// their lists in one pass. scheme must hold the types of this package.
func NewCodecs(scheme *runtime.Scheme) runtime.NegotiatedSerializer {
	stock := serializer.NewCodecFactory(scheme).WithoutConversion()
	infos := slices.Clone(stock.SupportedMediaTypes())
	for i, info := range infos {
		if info.MediaType != runtime.ContentTypeJSON {
			continue
		}
		info.Serializer = &jsonDecoder{Serializer: info.Serializer, scheme: scheme}
		if info.StreamSerializer != nil {
			stream := *info.StreamSerializer
			stream.Serializer = &eventDecoder{Serializer: stream.Serializer}
			stream.Framer = jsonFramer{Framer: stream.Framer}
			info.StreamSerializer = &stream
		}
		infos[i] = info
	}
	return &codecs{NegotiatedSerializer: stock, infos: infos}
}

type codecs struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

func (c *codecs) SupportedMediaTypes() []runtime.SerializerInfo { return c.infos }

// DecoderToVersion decodes a kind the scheme does not know, when no object
// was given, into an unstructured object, as lasso's clients do.
func (c *codecs) DecoderToVersion(d runtime.Decoder, gv runtime.GroupVersioner) runtime.Decoder {
	return unstructuredFallback{c.NegotiatedSerializer.DecoderToVersion(d, gv)}
}

type unstructuredFallback struct{ runtime.Decoder }

func (u unstructuredFallback) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	obj, gvk, err := u.Decoder.Decode(data, defaults, into)
	if into == nil && runtime.IsNotRegisteredError(err) {
		return u.Decoder.Decode(data, defaults, &unstructured.Unstructured{})
	}
	return obj, gvk, err
}

// target is an object of this package that the one-pass decoder fills.
type target interface {
	runtime.Object
	// kind is the object's Kind.
	kind() string
	// typeMeta is the object's apiVersion and kind.
	typeMeta() *metav1.TypeMeta
	// begin prepares the object for decoding (a Setting starts afresh, as
	// its UnmarshalJSON does).
	begin()
	// member reads the value of key, which starts at b[i], and returns the
	// index after it.
	member(b, key []byte, i, depth int) (int, error)
}

// jsonDecoder is the stock JSON serializer with a one-pass decoder for the
// kinds of this package.
type jsonDecoder struct {
	runtime.Serializer
	scheme *runtime.Scheme
}

func (d *jsonDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	var t target
	switch o := into.(type) {
	case nil:
	case target:
		t = o
	default:
		return d.Serializer.Decode(data, defaults, into)
	}
	obj, gvk, err := d.decode(data, defaults, t)
	if err == nil {
		return obj, gvk, nil
	}
	if obj != nil && obj == t {
		// Decoding stopped half way through into: the stock decoder
		// starts afresh.
		reset(t)
	}
	return d.Serializer.Decode(data, defaults, into)
}

// reset zeroes the object.
func reset(t target) {
	switch o := t.(type) {
	case *Node:
		*o = Node{}
	case *NodeList:
		*o = NodeList{}
	case *Cluster:
		*o = Cluster{}
	case *ClusterList:
		*o = ClusterList{}
	case *Setting:
		*o = Setting{}
	case *SettingList:
		*o = SettingList{}
	case *Feature:
		*o = Feature{}
	case *FeatureList:
		*o = FeatureList{}
	}
}

// decode reads data in one pass into into, or into a new object of the
// kind data names when into is nil. Any error means the stock decoder
// must read data; the object returned with it, if any, was partly filled.
func (d *jsonDecoder) decode(data []byte, defaults *schema.GroupVersionKind, into target) (target, *schema.GroupVersionKind, error) {
	var (
		apiVersion, kind    string
		hasVersion, hasKind bool
		obj                 target
		gvk                 schema.GroupVersionKind
	)
	// resolve returns the kind of the object as the stock decoder finds
	// it: the document's apiVersion and kind, completed by the defaults
	// and the kind of into.
	resolve := func() (schema.GroupVersionKind, error) {
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil {
			return schema.GroupVersionKind{}, errUnusual
		}
		actual := gv.WithKind(kind)
		if defaults != nil {
			actual = withDefaults(actual, *defaults)
		}
		if into != nil {
			actual = withDefaults(actual, SchemeGroupVersion.WithKind(into.kind()))
		}
		return actual, nil
	}
	// choose picks the object to fill, once the first member that is not
	// apiVersion or kind is met (the API server writes those first).
	choose := func() error {
		var err error
		if gvk, err = resolve(); err != nil {
			return err
		}
		if gvk.GroupVersion() != SchemeGroupVersion {
			return errUnusual
		}
		if into != nil {
			if into.kind() != gvk.Kind {
				return errUnusual
			}
			obj = into
		} else {
			o, err := d.scheme.New(gvk)
			if err != nil {
				return errUnusual
			}
			t, ok := o.(target)
			if !ok {
				return errUnusual
			}
			obj = t
		}
		obj.begin()
		return nil
	}
	err := decodeWhole(data, func(i int) (int, error) {
		if data[i] != '{' {
			return 0, errUnusual
		}
		end, _, err := walkObject(data, i, 0, func(key []byte, i, depth int) (int, error) {
			switch string(key) {
			case "apiVersion", "kind":
				end, err := skipValue(data, i, depth)
				if err != nil {
					return 0, err
				}
				s, ok := plainString(data[i:end])
				if !ok {
					return 0, errUnusual
				}
				if string(key) == "kind" {
					kind, hasKind = s, true
				} else {
					apiVersion, hasVersion = s, true
				}
				if obj != nil {
					// The kind was chosen already: it must not change.
					if again, err := resolve(); err != nil || again != gvk {
						return 0, errUnusual
					}
				}
				return end, nil
			}
			if bytes.EqualFold(key, []byte("apiVersion")) || bytes.EqualFold(key, []byte("kind")) {
				// The stock decoder finds the kind without regard to case.
				return 0, errUnusual
			}
			if obj == nil {
				if err := choose(); err != nil {
					return 0, err
				}
			}
			return obj.member(data, key, i, depth)
		})
		return end, err
	})
	if err != nil {
		return obj, nil, err
	}
	if obj == nil {
		if err := choose(); err != nil {
			return obj, nil, err
		}
	}
	tm := obj.typeMeta()
	if hasVersion {
		tm.APIVersion = apiVersion
	}
	if hasKind {
		tm.Kind = kind
	}
	return obj, &gvk, nil
}

func withDefaults(actual, def schema.GroupVersionKind) schema.GroupVersionKind {
	if actual.Kind == "" {
		actual.Kind = def.Kind
	}
	if actual.Version == "" && actual.Group == "" {
		actual.Group, actual.Version = def.Group, def.Version
	}
	if actual.Version == "" && actual.Group == def.Group {
		actual.Version = def.Version
	}
	return actual
}

// readMeta decodes metadata with the stock JSON decoder, which checks it.
func readMeta(b []byte, i int, into any) (int, error) {
	end, err := matchValue(b, i)
	if err != nil {
		return 0, err
	}
	if err := utiljson.UnmarshalCaseSensitivePreserveInts(b[i:end], into); err != nil {
		return 0, errUnusual
	}
	return end, nil
}

// readItem reads one object of a list: its apiVersion and kind (plain
// strings, else the stock decoder reads the list), its metadata and its
// own members. null leaves the item as it is, as encoding/json does.
func readItem(b []byte, i, depth int, t target) (int, error) {
	if b[i] == 'n' {
		return skipLiteral(b, i, "null")
	}
	if b[i] != '{' {
		return 0, errUnusual
	}
	t.begin()
	end, _, err := walkObject(b, i, depth, func(key []byte, i, depth int) (int, error) {
		switch string(key) {
		case "apiVersion", "kind":
			end, err := skipValue(b, i, depth)
			if err != nil {
				return 0, err
			}
			s, ok := plainString(b[i:end])
			if !ok {
				return 0, errUnusual
			}
			if string(key) == "kind" {
				t.typeMeta().Kind = s
			} else {
				t.typeMeta().APIVersion = s
			}
			return end, nil
		}
		return t.member(b, key, i, depth)
	})
	return end, err
}

// readItems reads the items of a list into items, reusing its elements as
// encoding/json does; null empties it.
func readItems[T any, P interface {
	*T
	target
}](b []byte, i, depth int, items *[]T) (int, error) {
	if b[i] == 'n' {
		*items = nil
		return skipLiteral(b, i, "null")
	}
	if b[i] != '[' {
		return 0, errUnusual
	}
	n := 0
	end, err := walkArray(b, i, depth, func(_ []byte, i, depth int) (int, error) {
		if n == len(*items) {
			var zero T
			*items = append(*items, zero)
		}
		end, err := readItem(b, i, depth, P(&(*items)[n]))
		n++
		return end, err
	})
	if err != nil {
		return 0, err
	}
	if *items == nil {
		*items = []T{}
	}
	*items = (*items)[:n]
	return end, nil
}

func (n *Node) kind() string               { return NodeGVK.Kind }
func (n *Node) typeMeta() *metav1.TypeMeta { return &n.TypeMeta }
func (n *Node) begin()                     {}

func (n *Node) member(b, key []byte, i, depth int) (int, error) {
	switch string(key) {
	case "metadata":
		return readObjectMeta(b, i, depth, &n.ObjectMeta)
	case "spec":
		return n.Spec.read(b, i, depth)
	case "status":
		return n.Status.read(b, i, depth)
	}
	return skipValue(b, i, depth)
}

func (c *Cluster) kind() string               { return ClusterGVK.Kind }
func (c *Cluster) typeMeta() *metav1.TypeMeta { return &c.TypeMeta }
func (c *Cluster) begin()                     {}

func (c *Cluster) member(b, key []byte, i, depth int) (int, error) {
	switch string(key) {
	case "metadata":
		return readObjectMeta(b, i, depth, &c.ObjectMeta)
	case "status":
		return c.Status.read(b, i, depth)
	}
	return skipValue(b, i, depth)
}

func (f *Feature) kind() string               { return FeatureGVK.Kind }
func (f *Feature) typeMeta() *metav1.TypeMeta { return &f.TypeMeta }
func (f *Feature) begin()                     {}

func (f *Feature) member(b, key []byte, i, depth int) (int, error) {
	switch string(key) {
	case "metadata":
		return readObjectMeta(b, i, depth, &f.ObjectMeta)
	case "spec":
		return f.Spec.read(b, i, depth)
	case "status":
		return f.Status.read(b, i, depth)
	}
	return skipValue(b, i, depth)
}

func (s *Setting) kind() string               { return SettingGVK.Kind }
func (s *Setting) typeMeta() *metav1.TypeMeta { return &s.TypeMeta }

// begin starts afresh: Setting.UnmarshalJSON replaces the whole object.
func (s *Setting) begin() { *s = Setting{} }

func (s *Setting) member(b, key []byte, i, depth int) (int, error) {
	switch string(key) {
	case "metadata":
		return readObjectMeta(b, i, depth, &s.ObjectMeta)
	case "value", "default":
		var v String
		end, err := readLeaf(b, i, depth, &v)
		if err != nil {
			return 0, err
		}
		field := string(key)
		if field == "value" {
			s.Value = v.Value
		} else {
			s.Default = v.Value
		}
		// A key given twice: the last wins, its problem too. Problems
		// are in the order UnmarshalJSON records them: value, default.
		s.problems = slices.DeleteFunc(s.problems, func(p Problem) bool { return p.Field == field })
		s.problems.string(field, v)
		if len(s.problems) == 2 && s.problems[0].Field == "default" {
			s.problems[0], s.problems[1] = s.problems[1], s.problems[0]
		}
		return end, nil
	}
	return skipValue(b, i, depth)
}

// listMember reads the members of a list that are read: its metadata
// and its items.
func listMember[T any, P interface {
	*T
	target
}](b, key []byte, i, depth int, meta *metav1.ListMeta, items *[]T) (int, error) {
	switch string(key) {
	case "metadata":
		return readMeta(b, i, meta)
	case "items":
		return readItems[T, P](b, i, depth, items)
	}
	return skipValue(b, i, depth)
}

func (l *NodeList) kind() string               { return "NodeList" }
func (l *NodeList) typeMeta() *metav1.TypeMeta { return &l.TypeMeta }
func (l *NodeList) begin()                     {}

func (l *NodeList) member(b, key []byte, i, depth int) (int, error) {
	return listMember(b, key, i, depth, &l.ListMeta, &l.Items)
}

func (l *ClusterList) kind() string               { return "ClusterList" }
func (l *ClusterList) typeMeta() *metav1.TypeMeta { return &l.TypeMeta }
func (l *ClusterList) begin()                     {}

func (l *ClusterList) member(b, key []byte, i, depth int) (int, error) {
	return listMember(b, key, i, depth, &l.ListMeta, &l.Items)
}

func (l *SettingList) kind() string               { return "SettingList" }
func (l *SettingList) typeMeta() *metav1.TypeMeta { return &l.TypeMeta }
func (l *SettingList) begin()                     {}

func (l *SettingList) member(b, key []byte, i, depth int) (int, error) {
	return listMember(b, key, i, depth, &l.ListMeta, &l.Items)
}

func (l *FeatureList) kind() string               { return "FeatureList" }
func (l *FeatureList) typeMeta() *metav1.TypeMeta { return &l.TypeMeta }
func (l *FeatureList) begin()                     {}

func (l *FeatureList) member(b, key []byte, i, depth int) (int, error) {
	return listMember(b, key, i, depth, &l.ListMeta, &l.Items)
}
