// Package schemadoc reads a payload's JSON schema for people: it lists the
// fields the schema allows with their meaning (the README's "What is
// collected" tables), explains a payload field by field, and diffs two
// payloads of one schema. It works from whatever the schema holds, so a
// field added to a schema needs nothing here.
package schemadoc

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrSchema is wrapped by the errors of a schema this package cannot read.
var ErrSchema = errors.New("unreadable schema")

// maxRefDepth bounds $ref chains, so a schema referring to itself fails
// instead of recursing forever.
const maxRefDepth = 32

// Schema is a payload schema: its title, description and fields in the
// order the schema states them.
type Schema struct {
	Title       string
	Description string
	root        *node
}

// node is one subschema with its $ref resolved.
type node struct {
	description string
	typ         string
	enum        []*value
	constant    *value
	pattern     string
	maxLength   string
	minimum     string
	format      string
	unique      bool
	names       []string // property names, in schema order
	props       []*node
	items       *node
	// additional is the schema of members not in names (a map such as
	// {"key": "value"}), nil when there is none.
	additional *node
}

// prop returns the schema of member name: its property, else the schema
// of additional members, else nil.
func (n *node) prop(name string) *node {
	if n == nil {
		return nil
	}
	for i, k := range n.names {
		if k == name {
			return n.props[i]
		}
	}
	return n.additional
}

// Parse reads a JSON schema (draft 2020-12) of the subset the payload
// schemas use: type, enum, const, pattern, maxLength, minimum, format,
// uniqueItems, properties, additionalProperties, items, and $ref to
// "#/$defs/NAME". The properties of the subschemas of allOf, anyOf and
// oneOf are fields too, the first one stated of each name winning. Other
// keywords (required, if/then/else, contains, ...) constrain values and do
// not change which fields exist, so they are ignored.
func Parse(schema []byte) (*Schema, error) {
	doc, err := parse(schema)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSchema, err)
	}
	if doc.kind != "object" {
		return nil, fmt.Errorf("%w: not an object", ErrSchema)
	}
	b := builder{defs: doc.member("$defs")}
	root, err := b.build(doc, "#", 0)
	if err != nil {
		return nil, err
	}
	return &Schema{Title: str(doc.member("title")), Description: root.description, root: root}, nil
}

type builder struct{ defs *value }

func str(v *value) string {
	if v == nil || v.kind != "string" {
		return ""
	}
	return v.scalar.(string)
}

func (b builder) build(v *value, at string, depth int) (*node, error) {
	if v.kind != "object" {
		return nil, fmt.Errorf("%w: %s is not an object", ErrSchema, at)
	}
	n := &node{}
	if ref := v.member("$ref"); ref != nil {
		target, err := b.resolve(str(ref), at, depth)
		if err != nil {
			return nil, err
		}
		*n = *target // the subschema's own keywords below take precedence
	}
	if d := str(v.member("description")); d != "" {
		n.description = d
	}
	if t := str(v.member("type")); t != "" {
		n.typ = t
	}
	if e := v.member("enum"); e != nil && e.kind == "array" {
		n.enum = e.members
	}
	if c := v.member("const"); c != nil {
		n.constant = c
	}
	if p := str(v.member("pattern")); p != "" {
		n.pattern = p
	}
	if m := v.member("maxLength"); m != nil {
		n.maxLength = m.compact()
	}
	if m := v.member("minimum"); m != nil {
		n.minimum = m.compact()
	}
	if f := str(v.member("format")); f != "" {
		n.format = f
	}
	if u := v.member("uniqueItems"); u != nil && u.kind == "bool" {
		n.unique = u.scalar.(bool)
	}
	if props := v.member("properties"); props != nil && props.kind == "object" {
		n.names, n.props = nil, nil
		for i, name := range props.keys {
			p, err := b.build(props.members[i], at+"/properties/"+name, depth)
			if err != nil {
				return nil, err
			}
			n.names = append(n.names, name)
			n.props = append(n.props, p)
		}
	}
	if items := v.member("items"); items != nil {
		it, err := b.build(items, at+"/items", depth)
		if err != nil {
			return nil, err
		}
		n.items = it
	}
	if add := v.member("additionalProperties"); add != nil && add.kind == "object" {
		a, err := b.build(add, at+"/additionalProperties", depth)
		if err != nil {
			return nil, err
		}
		if a.description == "" {
			a.description = n.description // the map's meaning is its members'
		}
		n.additional = a
	}
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		list := v.member(kw)
		if list == nil || list.kind != "array" {
			continue
		}
		for i, sub := range list.members {
			alt, err := b.build(sub, fmt.Sprintf("%s/%s/%d", at, kw, i), depth)
			if err != nil {
				return nil, err
			}
			n.merge(alt)
		}
	}
	if n.typ == "" {
		n.typ = inferType(n)
	}
	return n, nil
}

// merge adds the properties of alt that n does not have.
func (n *node) merge(alt *node) {
	for i, name := range alt.names {
		if !slices.Contains(n.names, name) {
			n.names = append(n.names, name)
			n.props = append(n.props, alt.props[i])
		}
	}
	if n.typ == "" && len(alt.names) > 0 {
		n.typ = "object"
	}
}

func (b builder) resolve(ref, at string, depth int) (*node, error) {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	target := b.defs.member(name)
	if !ok || target == nil {
		return nil, fmt.Errorf("%w: %s: $ref %q is not a #/$defs/NAME of the schema", ErrSchema, at, ref)
	}
	if depth >= maxRefDepth {
		return nil, fmt.Errorf("%w: %s: $ref chain longer than %d", ErrSchema, at, maxRefDepth)
	}
	return b.build(target, ref, depth+1)
}

// inferType names the JSON type of an enum or const without "type".
func inferType(n *node) string {
	vals := n.enum
	if n.constant != nil {
		vals = []*value{n.constant}
	}
	t := ""
	for _, v := range vals {
		k := v.kind
		if k == "bool" {
			k = "boolean"
		}
		if t != "" && t != k {
			return ""
		}
		t = k
	}
	return t
}

// Field is one field a payload of the schema can hold.
type Field struct {
	// Path is the field's place: member names joined by ".", with "[]"
	// after an array for its elements and ".*" for any member of a map
	// (additionalProperties); a name holding "." or "[" is written
	// ["name"].
	Path string
	// Type is the JSON type: string, integer, boolean, object, or
	// "array of" the element type, such as "array of objects".
	Type string
	// Description is the schema's description of the field, or of the
	// subschema its $ref names; "" when it has none.
	Description string
	// Allowed is the vocabulary, constant, pattern or bound the schema
	// states for the field's values; "" when it states none.
	Allowed string
}

// Fields lists every field of the schema, depth first in schema order. An
// array's elements are explained by the array's own field; the members of
// object elements follow as their own fields.
func (s *Schema) Fields() []Field {
	var out []Field
	var walk func(prefix string, n *node)
	walk = func(prefix string, n *node) {
		defer func() {
			if a := n.additional; a != nil {
				path := prefix + ".*"
				if prefix == "" {
					path = "*"
				}
				out = append(out, Field{Path: path, Type: typeName(a), Description: a.description, Allowed: allowed(a)})
				if len(a.names) > 0 {
					walk(path, a)
				}
			}
		}()
		for i, name := range n.names {
			p := n.props[i]
			path := join(prefix, name)
			out = append(out, Field{Path: path, Type: typeName(p), Description: p.description, Allowed: allowed(p)})
			switch {
			case len(p.names) > 0 || p.additional != nil:
				walk(path, p)
			case p.items != nil && (len(p.items.names) > 0 || p.items.additional != nil):
				walk(path+"[]", p.items)
			}
		}
	}
	walk("", s.root)
	return out
}

// join appends member name to a field path.
func join(prefix, name string) string {
	if strings.ContainsAny(name, ".[]\" ") || name == "" {
		return prefix + "[" + strconv.Quote(name) + "]"
	}
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func typeName(n *node) string {
	if n.typ == "array" && n.items != nil {
		return "array of " + typeName(n.items) + "s"
	}
	if n.typ == "" {
		return "any"
	}
	return n.typ
}

// allowed states the values the schema allows for n, for people: an
// array's element rules, an enum or const, a pattern (one too long to read
// is only named), a format, bounds.
func allowed(n *node) string {
	var parts []string
	if n.items != nil {
		if a := allowed(n.items); a != "" {
			parts = append(parts, "each: "+a)
		}
		if n.unique {
			parts = append(parts, "no duplicates")
		}
		return strings.Join(parts, "; ")
	}
	switch {
	case n.constant != nil:
		parts = append(parts, "always "+literal(n.constant))
	case n.enum != nil:
		words := make([]string, len(n.enum))
		for i, e := range n.enum {
			words[i] = literal(e)
		}
		parts = append(parts, "one of "+strings.Join(words, " "))
	}
	switch {
	case n.pattern == "":
	case len(n.pattern) <= maxShownPattern:
		parts = append(parts, "matches `"+n.pattern+"`")
	default:
		parts = append(parts, fmt.Sprintf("matches a pattern of %d characters (see the schema)", len(n.pattern)))
	}
	if n.format != "" {
		parts = append(parts, n.format)
	}
	if n.maxLength != "" {
		parts = append(parts, "at most "+n.maxLength+" characters")
	}
	if n.minimum != "" {
		parts = append(parts, "at least "+n.minimum)
	}
	return strings.Join(parts, ", ")
}

// maxShownPattern is the longest pattern Fields writes out.
const maxShownPattern = 100

// literal writes an enum or const value: a string as itself in backquotes
// ("" for the empty one), anything else as JSON.
func literal(v *value) string {
	if v.kind == "string" && v.scalar.(string) != "" {
		return "`" + v.scalar.(string) + "`"
	}
	return "`" + v.compact() + "`"
}

// Table writes the fields as a Markdown table: path, type, meaning,
// allowed values.
func (s *Schema) Table() string {
	var b strings.Builder
	b.WriteString("| field | type | meaning | allowed values |\n| --- | --- | --- | --- |\n")
	for _, f := range s.Fields() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Path, f.Type, cell(f.Description), cell(f.Allowed))
	}
	return b.String()
}

// cell escapes what would end a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
