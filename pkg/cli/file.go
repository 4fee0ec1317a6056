package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsyaml "sigs.k8s.io/yaml"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/gatherer"
)

var (
	// ErrInput marks a file that could not be read as Kubernetes objects.
	// Every error of Load and LoadFile wraps it; the ones below say why.
	ErrInput = errors.New("unreadable input")
	// ErrTooLarge means the input, or one object of it, is over its limit.
	ErrTooLarge = errors.New("too large")
	// ErrAlias means a YAML document uses an alias (*name). kubectl never
	// writes them, and their expansion is what turns a small file into a
	// large one.
	ErrAlias = errors.New("YAML aliases are not accepted")
	// ErrDuplicate means the same object (group, kind, namespace and name)
	// appears twice, or a YAML or JSON mapping holds the same key twice.
	ErrDuplicate = errors.New("duplicate")
	// ErrScope means an object has a namespace where its kind has none, or
	// none where its kind needs one.
	ErrScope = errors.New("wrong scope")
	// ErrMissingField means a field the object needs is empty.
	ErrMissingField = errors.New("missing field")
	// ErrNotList means a document has a top-level items array but its kind
	// is not a List.
	ErrNotList = errors.New("items outside a List")
)

// Default limits of LoadOptions.
const (
	DefaultMaxInputBytes  = 256 << 20
	DefaultMaxObjectBytes = 16 << 20
)

// StdinName is the file name that stands for standard input.
const StdinName = "-"

// LoadOptions bound and direct reading.
type LoadOptions struct {
	// MaxInputBytes caps the whole input.
	MaxInputBytes int64
	// MaxObjectBytes caps one object: a document, one item of a List, or
	// the rest of a List document besides its items.
	MaxObjectBytes int64
	// IdentityName and IdentityNamespace select the identity Secret to
	// keep; a Secret without a namespace matches any IdentityNamespace.
	// Other Secrets are skipped without decoding their data.
	IdentityName      string
	IdentityNamespace string

	// anyIdentity keeps the first Secret whatever its name (for a file
	// given as the identity itself).
	anyIdentity bool
}

// DefaultLoadOptions returns the default limits and identity Secret name.
func DefaultLoadOptions() LoadOptions {
	return LoadOptions{
		MaxInputBytes:     DefaultMaxInputBytes,
		MaxObjectBytes:    DefaultMaxObjectBytes,
		IdentityName:      "telemetry-identity",
		IdentityNamespace: "cattle-telemetry-system",
	}
}

// Dump is what was read from a file.
type Dump struct {
	*gatherer.Static
	// Identity is the identity Secret the input held, or nil; IdentityAt
	// says where it was.
	Identity   *corev1.Secret
	IdentityAt string
	// NodeUIDs are the UIDs of the core Nodes, in input order.
	NodeUIDs []string
}

// LoadFile reads objects written the way `kubectl get -o yaml` (or -o json)
// writes them: a List, or several documents; "-" is standard input. It
// keeps Settings, Features, Clusters and Nodes of management.cattle.io/v3,
// core Nodes, the kube-system Namespace and the identity Secret, and skips
// other kinds. Errors name the file, the document and the object, and wrap
// ErrInput.
func LoadFile(path string, o LoadOptions) (*Dump, error) {
	if path == StdinName {
		return Load("standard input", os.Stdin, o)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer f.Close()
	return Load(path, f, o)
}

// Load is LoadFile for a reader; name is used in errors.
//
// Memory stays bounded by the input: the items of a List are decoded one at
// a time (in YAML when the List is written in block style, as kubectl does;
// a flow-style List is one object and must fit MaxObjectBytes), and YAML
// aliases are refused.
func Load(name string, r io.Reader, o LoadOptions) (*Dump, error) {
	if o.MaxInputBytes <= 0 {
		o.MaxInputBytes = DefaultMaxInputBytes
	}
	if o.MaxObjectBytes <= 0 || o.MaxObjectBytes > o.MaxInputBytes {
		o.MaxObjectBytes = o.MaxInputBytes
	}
	l := &loader{
		name: name,
		o:    o,
		in:   &limitedReader{r: r, max: o.MaxInputBytes},
		dump: &Dump{Static: gatherer.NewStatic()},
		seen: map[objectKey]string{},
	}
	br := bufio.NewReaderSize(l.in, 64<<10)
	var err error
	if isJSON(br) {
		err = l.readJSON(br)
	} else {
		err = l.readYAML(br)
	}
	if err != nil {
		return nil, err
	}
	return l.dump, nil
}

// isJSON reports whether the input starts (after white space) with a JSON
// object: an opening brace followed by a quoted key or a closing brace. A
// YAML flow mapping's keys are usually not quoted.
func isJSON(br *bufio.Reader) bool {
	seen := 0
	for i := 1; i <= 4096; i++ {
		b, err := br.Peek(i)
		if err != nil {
			return false
		}
		switch c := b[i-1]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		case seen == 0 && c == '{':
			seen++
		case seen == 0 && c == '[':
			return true
		case seen == 1:
			return c == '"' || c == '}'
		default:
			return false
		}
	}
	return false
}

// errInputLimit is what limitedReader returns past its limit.
var errInputLimit = errors.New("input limit")

// limitedReader fails once more than max bytes were read, and (when
// windowMax is set) once more than windowMax bytes were read since mark.
type limitedReader struct {
	r         io.Reader
	n, max    int64
	mark      int64
	windowMax int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, errInputLimit
	}
	if room := min(l.max+1-l.n, maxRead); int64(len(p)) > room {
		p = p[:room]
	}
	k, err := l.r.Read(p)
	l.n += int64(k)
	if l.n > l.max {
		return k, errInputLimit
	}
	if l.windowMax > 0 && l.n-l.mark > l.windowMax+readSlack {
		return k, errObjectLimit
	}
	return k, err
}

// errObjectLimit is what limitedReader returns past its window.
var errObjectLimit = errors.New("object limit")

// maxRead caps one read, so that what a decoder reads ahead of the object
// it decodes stays within readSlack of it.
const (
	maxRead   = 1 << 20
	readSlack = maxRead + 64<<10
)

type objectKey struct {
	group, kind, namespace, name string
}

type loader struct {
	name string
	o    LoadOptions
	in   *limitedReader
	dump *Dump
	// seen maps each object read to where it was read.
	seen map[objectKey]string
}

// fail returns an error naming the file and where in it.
func (l *loader) fail(where string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s: "+format, append([]any{ErrInput, l.name, where}, args...)...)
}

// readErr turns an error of reading into one that names the limit it hit.
func (l *loader) readErr(where string, err error) error {
	switch {
	case errors.Is(err, errInputLimit):
		return fmt.Errorf("%w: %s: %w: more than the limit of %d bytes (--max-input-bytes)", ErrInput, l.name, ErrTooLarge, l.o.MaxInputBytes)
	case errors.Is(err, errObjectLimit):
		return l.tooLarge(where)
	}
	return l.fail(where, "%w", err)
}

func (l *loader) tooLarge(where string) error {
	return l.fail(where, "%w: more than the limit of %d bytes for one object", ErrTooLarge, l.o.MaxObjectBytes)
}

// ---- JSON ----

// readJSON reads a stream of JSON objects. A top-level object with an items
// array is a List: its items are decoded one at a time.
func (l *loader) readJSON(br *bufio.Reader) error {
	dec := json.NewDecoder(br)
	// mark starts the window of one object at what the decoders have
	// read but not yet used.
	mark := func() {
		buffered := int64(br.Buffered())
		if b, ok := dec.Buffered().(interface{ Len() int }); ok {
			buffered += int64(b.Len())
		}
		l.in.mark = l.in.n - buffered
		l.in.windowMax = l.o.MaxObjectBytes
	}
	for doc := 1; ; doc++ {
		where := fmt.Sprintf("document %d", doc)
		mark()
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return l.readErr(where, err)
		}
		if tok != json.Delim('{') {
			return l.fail(where, "not a JSON object")
		}
		if err := l.jsonDocument(dec, where, mark); err != nil {
			return err
		}
	}
}

type rawField struct {
	key   string
	value json.RawMessage
}

func (l *loader) jsonDocument(dec *json.Decoder, where string, mark func()) error {
	var (
		fields   []rawField
		keys     = map[string]bool{}
		hasItems bool
		size     int
	)
	for mark(); dec.More(); mark() {
		tok, err := dec.Token()
		if err != nil {
			return l.readErr(where, err)
		}
		key, _ := tok.(string)
		if keys[key] {
			return l.fail(where, "%w key %q", ErrDuplicate, key)
		}
		keys[key] = true
		if key == "items" {
			hasItems = true
			if err := l.jsonItems(dec, where, mark); err != nil {
				return err
			}
			continue
		}
		mark()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return l.readErr(where, err)
		}
		if size += len(key) + len(v) + 4; int64(size) > l.o.MaxObjectBytes {
			return l.tooLarge(where)
		}
		fields = append(fields, rawField{key, v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return l.readErr(where, err)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(f.value)
	}
	b.WriteByte('}')
	return l.document(where, b.Bytes(), hasItems)
}

func (l *loader) jsonItems(dec *json.Decoder, where string, mark func()) error {
	mark()
	tok, err := dec.Token()
	if err != nil {
		return l.readErr(where, err)
	}
	if tok == nil {
		return nil // "items": null
	}
	if tok != json.Delim('[') {
		return l.fail(where, "items is not an array")
	}
	for i := 0; dec.More(); i++ {
		at := fmt.Sprintf("%s item %d", where, i)
		var item json.RawMessage
		if err := dec.Decode(&item); err != nil {
			return l.readErr(at, err)
		}
		if int64(len(item)) > l.o.MaxObjectBytes {
			return l.tooLarge(at)
		}
		if err := l.object(at, item, true); err != nil {
			return err
		}
		mark()
	}
	_, err = dec.Token() // the closing bracket
	if err != nil {
		return l.readErr(where, err)
	}
	return nil
}

// ---- YAML ----

// readYAML splits the input into documents at "---" lines, and the items of
// a List written in block style (`items:` at the start of a line, followed
// by "- " entries) into one piece each, so that no document is converted
// whole. Every piece is parsed on its own: an alias cannot refer to an
// anchor of another item, and aliases are refused anyway.
func (l *loader) readYAML(br *bufio.Reader) error {
	s := &yamlSplitter{l: l, br: br, doc: 1}
	return s.run()
}

type yamlSplitter struct {
	l   *loader
	br  *bufio.Reader
	doc int

	header     []byte // the document without its items
	content    bool   // the header holds more than blank lines and comments
	state      int
	pending    []byte // "items:" and what followed it, until it is clear whether a sequence follows
	seqIndent  int
	item       []byte
	itemNo     int
	itemBlocks int
}

const (
	inHeader = iota
	afterItemsKey
	inItems
)

func (s *yamlSplitter) where() string { return fmt.Sprintf("document %d", s.doc) }

// at names the item being read, else the document.
func (s *yamlSplitter) at() string {
	if s.state == inItems {
		return fmt.Sprintf("%s item %d", s.where(), s.itemNo)
	}
	return s.where()
}

func (s *yamlSplitter) run() error {
	for {
		line, err := s.readLine()
		if len(line) > 0 {
			if err := s.line(line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return s.endDocument()
		}
		if err != nil {
			return err
		}
	}
}

// readLine returns the next line with its newline, at most MaxObjectBytes.
func (s *yamlSplitter) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := s.br.ReadSlice('\n')
		if int64(len(line)+len(frag)) > s.l.o.MaxObjectBytes {
			return nil, s.l.tooLarge(s.at())
		}
		line = append(line, frag...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			return line, io.EOF
		case err != nil:
			return nil, s.l.readErr(s.at(), err)
		}
		return line, nil
	}
}

func indentOf(line []byte) int {
	return len(line) - len(bytes.TrimLeft(line, " "))
}

// blank reports whether a line holds only white space or a comment.
func blank(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) == 0 || t[0] == '#'
}

// marker returns what follows a document marker ("---" or "...") at the
// start of line, and whether line starts with one.
func marker(line []byte) ([]byte, bool) {
	if !bytes.HasPrefix(line, []byte("---")) && !bytes.HasPrefix(line, []byte("...")) {
		return nil, false
	}
	rest := line[3:]
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '\n' && rest[0] != '\r' {
		return nil, false
	}
	return rest, true
}

// isEntry reports whether line starts a sequence entry at indent.
func isEntry(line []byte, indent int) bool {
	if len(line) <= indent || line[indent] != '-' {
		return false
	}
	return len(line) == indent+1 || line[indent+1] == ' ' || line[indent+1] == '\n' || line[indent+1] == '\r'
}

func (s *yamlSplitter) line(line []byte) error {
	if rest, ok := marker(line); ok {
		if err := s.endDocument(); err != nil {
			return err
		}
		if !blank(rest) {
			return s.line(bytes.TrimLeft(rest, " \t"))
		}
		return nil
	}
	switch s.state {
	case afterItemsKey:
		if blank(line) {
			return s.addPending(line)
		}
		if n := indentOf(line); isEntry(line, n) {
			s.state, s.seqIndent, s.pending = inItems, n, nil
			s.itemBlocks++
			if s.itemBlocks > 1 {
				return s.l.fail(s.where(), "%w key \"items\"", ErrDuplicate)
			}
			return s.startItem(line)
		}
		// items holds something else than a block sequence: keep it in
		// the header, which reads it whole.
		s.state = inHeader
		if err := s.addHeader(s.pending); err != nil {
			return err
		}
		s.pending = nil
		return s.addHeader(line)
	case inItems:
		if blank(line) {
			if s.item != nil {
				return s.addItem(line)
			}
			return nil
		}
		switch n := indentOf(line); {
		case n == s.seqIndent && isEntry(line, n):
			if err := s.endItem(); err != nil {
				return err
			}
			return s.startItem(line)
		case n > s.seqIndent:
			return s.addItem(line)
		}
		if err := s.endItem(); err != nil {
			return err
		}
		s.state = inHeader
	}
	if t := bytes.TrimRight(line, " \t\r\n"); string(t) == "items:" || bytes.HasPrefix(t, []byte("items: #")) {
		s.state = afterItemsKey
		return s.addPending(line)
	}
	return s.addHeader(line)
}

func (s *yamlSplitter) addPending(line []byte) error {
	s.pending = append(s.pending, line...)
	if int64(len(s.pending)) > s.l.o.MaxObjectBytes {
		return s.l.tooLarge(s.where())
	}
	return nil
}

func (s *yamlSplitter) addHeader(line []byte) error {
	if !blank(line) {
		s.content = true
	}
	s.header = append(s.header, line...)
	if int64(len(s.header)) > s.l.o.MaxObjectBytes {
		return s.l.tooLarge(s.where())
	}
	return nil
}

func (s *yamlSplitter) startItem(line []byte) error {
	// Replace the dash by a space: the entry's content keeps its column.
	first := append([]byte(nil), line...)
	first[s.seqIndent] = ' '
	s.item = first
	return nil
}

func (s *yamlSplitter) addItem(line []byte) error {
	s.item = append(s.item, line...)
	if int64(len(s.item)) > s.l.o.MaxObjectBytes {
		return s.l.tooLarge(fmt.Sprintf("%s item %d", s.where(), s.itemNo))
	}
	return nil
}

func (s *yamlSplitter) endItem() error {
	if s.item == nil {
		return nil
	}
	at := fmt.Sprintf("%s item %d", s.where(), s.itemNo)
	s.itemNo++
	text := s.item
	s.item = nil
	j, err := s.l.yamlToJSON(at, text)
	if err != nil {
		return err
	}
	return s.l.object(at, j, true)
}

func (s *yamlSplitter) endDocument() error {
	where := s.where()
	if err := s.endItem(); err != nil {
		return err
	}
	if s.state == afterItemsKey { // "items:" with nothing after it
		if err := s.addHeader(s.pending); err != nil {
			return err
		}
	}
	header, content, streamed := s.header, s.content, s.itemBlocks > 0
	*s = yamlSplitter{l: s.l, br: s.br, doc: s.doc + 1}
	if !content {
		if streamed {
			return s.l.fail(where, "%w: a document with items but no kind", ErrNotList)
		}
		return nil
	}
	j, err := s.l.yamlToJSON(where, header)
	if err != nil {
		return err
	}
	return s.l.document(where, j, streamed)
}

// yamlToJSON converts one YAML object, refusing aliases and duplicate keys.
func (l *loader) yamlToJSON(where string, text []byte) ([]byte, error) {
	var n yamlv3.Node
	if err := yamlv3.Unmarshal(text, &n); err != nil {
		return nil, l.fail(where, "%w", err)
	}
	if err := checkNode(&n); err != nil {
		return nil, l.fail(where, "%w", err)
	}
	j, err := sigsyaml.YAMLToJSON(text)
	if err != nil {
		return nil, l.fail(where, "%w", err)
	}
	return j, nil
}

// checkNode refuses aliases and mappings that hold a key twice.
func checkNode(n *yamlv3.Node) error {
	switch n.Kind {
	case yamlv3.AliasNode:
		return fmt.Errorf("line %d: %w (found *%s)", n.Line, ErrAlias, n.Value)
	case yamlv3.MappingNode:
		keys := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yamlv3.ScalarNode {
				if keys[k.Value] {
					return fmt.Errorf("line %d: %w key %q", k.Line, ErrDuplicate, k.Value)
				}
				keys[k.Value] = true
			}
		}
	}
	for _, c := range n.Content {
		if err := checkNode(c); err != nil {
			return err
		}
	}
	return nil
}

// ---- objects ----

type objectHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	} `json:"metadata"`
}

// document reads a top-level document; streamed says its items were read
// already (so it must be a List).
func (l *loader) document(where string, raw []byte, streamed bool) error {
	var h struct {
		objectHeader
		Items *[]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return l.fail(where, "%w", err)
	}
	isList := strings.HasSuffix(h.Kind, "List")
	if streamed && h.Items != nil {
		return l.fail(where, "%w key \"items\"", ErrDuplicate)
	}
	if (streamed || h.Items != nil) && !isList {
		return l.fail(where, "%w: kind %q has a top-level items array", ErrNotList, h.Kind)
	}
	if !isList {
		return l.object(where, raw, false)
	}
	if h.Items != nil {
		for i, item := range *h.Items {
			if err := l.object(fmt.Sprintf("%s item %d", where, i), item, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// object reads one object that is not a List.
func (l *loader) object(where string, raw []byte, inList bool) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) && !inList {
		return nil
	}
	var h objectHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return l.fail(where, "%w", err)
	}
	if strings.HasSuffix(h.Kind, "List") {
		return l.fail(where, "a %s inside a List", h.Kind)
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		return l.fail(where, "%s: apiVersion: %w", h.Kind, err)
	}
	m := h.Metadata
	what := h.Kind + " " + m.Name
	if m.Namespace != "" {
		what = h.Kind + " " + m.Namespace + "/" + m.Name
	}
	if m.Name != "" {
		key := objectKey{gv.Group, h.Kind, m.Namespace, m.Name}
		if first, ok := l.seen[key]; ok {
			return fmt.Errorf("%w: %s: %s and %s: %w %s", ErrInput, l.name, first, where, ErrDuplicate, what)
		}
		l.seen[key] = where
	}
	obj, scope := l.newObject(gv, h.Kind, m.Name, m.Namespace)
	if obj == nil {
		return nil // a kind the gatherer does not read
	}
	if m.Name == "" {
		return l.fail(where, "%s: %w metadata.name", h.Kind, ErrMissingField)
	}
	switch {
	case scope == clusterScoped && m.Namespace != "":
		return l.fail(where, "%s: %w: metadata.namespace is set, but %s is cluster-scoped", what, ErrScope, h.Kind)
	case scope == namespaced && m.Namespace == "" && gv.Group == v3.SchemeGroupVersion.Group:
		return l.fail(where, "%s: %w: metadata.namespace is empty, but a %s Node lives in the namespace of its cluster", what, ErrScope, v3.SchemeGroupVersion)
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return l.fail(where, "%s: %w", what, err)
	}
	switch o := obj.(type) {
	case *corev1.Secret:
		if l.dump.Identity != nil {
			return fmt.Errorf("%w: %s: %s and %s: %w identity Secret", ErrInput, l.name, l.dump.IdentityAt, where, ErrDuplicate)
		}
		l.dump.Identity, l.dump.IdentityAt = o, where
		return nil
	case *corev1.Namespace:
		if m.Name == "kube-system" && m.UID == "" {
			return l.fail(where, "%s: %w metadata.uid (the cluster UUID)", what, ErrMissingField)
		}
	case *corev1.Node:
		if m.UID != "" {
			l.dump.NodeUIDs = append(l.dump.NodeUIDs, m.UID)
		}
	}
	if err := l.dump.Add(obj); err != nil {
		return l.fail(where, "%s: %w", what, err)
	}
	return nil
}

const (
	clusterScoped = iota + 1
	namespaced
)

// newObject returns an empty object of a kind that is kept, and its scope;
// nil for other kinds.
func (l *loader) newObject(gv schema.GroupVersion, kind, name, namespace string) (runtime.Object, int) {
	switch gv {
	case v3.SchemeGroupVersion:
		switch kind {
		case "Cluster":
			return &v3.Cluster{}, clusterScoped
		case "Node":
			return &v3.Node{}, namespaced
		case "Setting":
			return &v3.Setting{}, clusterScoped
		case "Feature":
			return &v3.Feature{}, clusterScoped
		}
	case corev1.SchemeGroupVersion:
		switch kind {
		case "Node":
			return &corev1.Node{}, clusterScoped
		case "Namespace":
			return &corev1.Namespace{}, clusterScoped
		case "Secret":
			if l.o.anyIdentity || (name == l.o.IdentityName && (namespace == "" || namespace == l.o.IdentityNamespace)) {
				return &corev1.Secret{}, namespaced
			}
		}
	}
	return nil, 0
}
