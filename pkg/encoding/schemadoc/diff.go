package schemadoc

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// identities names the members that identify an element of an array of
// objects, by the array's field path, where the default rule below does not
// hold: a cluster group is identified by what it groups by, and its other
// members are sums.
var identities = map[string][]string{
	"clusterGroups": {"upstream", "kubernetesVersion", "driver", "provider", "nodesMin", "nodesMax"},
}

// identity returns the members that identify an element of the array at
// path: from the table above; else "id" when the elements have one; else
// every member but "count" (elements that count things by shape, such as
// node profiles, are identified by the shape).
func identity(path string, items *node) []string {
	if keys, ok := identities[path]; ok {
		return keys
	}
	if items == nil {
		return nil
	}
	if items.prop("id") != nil {
		return []string{"id"}
	}
	var keys []string
	for i, name := range items.names {
		if name != "count" && items.props[i].typ != "object" && items.props[i].typ != "array" {
			keys = append(keys, name)
		}
	}
	return keys
}

// Diff writes what changed from old to new, two payloads of the schema,
// and returns how many changes it wrote. A line "+ PATH: VALUE" is a
// field or element only new has, "- PATH: VALUE" one only old has, and
// "~ PATH: OLD -> NEW" a changed value.
//
// Elements of arrays of objects are matched by identity (see identity),
// so an added cluster is one line, and each such array that changed gets
// a line with its counts first. Arrays of strings or numbers are compared
// as sets of values. A date-time field (the time of encoding) is shown
// when it differs but not counted. Paths follow document order, new
// first; a changed element is written path[member=value,...].
func (s *Schema) Diff(w io.Writer, old, new []byte) (int, error) {
	o, err := parse(old)
	if err != nil {
		return 0, fmt.Errorf("old payload: %w", err)
	}
	n, err := parse(new)
	if err != nil {
		return 0, fmt.Errorf("new payload: %w", err)
	}
	bw := bufio.NewWriter(w)
	d := &differ{w: bw}
	d.value("", "", o, n, s.root)
	if d.count == 0 {
		fmt.Fprintln(bw, "no differences")
	} else {
		fmt.Fprintf(bw, "%d %s\n", d.count, plural(d.count, "difference", "differences"))
	}
	return d.count, bw.Flush()
}

type differ struct {
	w     io.Writer
	count int
}

func (d *differ) printf(format string, args ...any) {
	d.count++
	fmt.Fprintf(d.w, format, args...)
}

func label(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}

// value diffs o and n at path; schemaPath is path without element keys,
// the key of the identities table.
func (d *differ) value(path, schemaPath string, o, n *value, sch *node) {
	switch {
	case o.kind == "object" && n.kind == "object":
		d.object(path, schemaPath, o, n, sch)
	case o.kind == "array" && n.kind == "array" && (hasObjects(o) || hasObjects(n)):
		d.objectArray(path, schemaPath, o, n, sch)
	case o.kind == "array" && n.kind == "array":
		d.set(path, o, n)
	case o.compact() == n.compact():
	case sch != nil && sch.format == "date-time":
		fmt.Fprintf(d.w, "  %s: %s -> %s (not counted: %s)\n", label(path), o.compact(), n.compact(), orDefault(sch.description, "a time"))
	default:
		d.printf("~ %s: %s -> %s\n", label(path), o.compact(), n.compact())
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (d *differ) object(path, schemaPath string, o, n *value, sch *node) {
	for i, name := range n.keys {
		p, sp := join(path, name), join(schemaPath, name)
		if om := o.member(name); om != nil {
			d.value(p, sp, om, n.members[i], sch.prop(name))
			continue
		}
		d.printf("+ %s: %s\n", p, n.members[i].compact())
	}
	for i, name := range o.keys {
		if n.member(name) == nil {
			d.printf("- %s: %s\n", join(path, name), o.members[i].compact())
		}
	}
}

// set diffs arrays of scalars as multisets of values.
func (d *differ) set(path string, o, n *value) {
	left := map[string]int{}
	for _, m := range o.members {
		left[m.compact()]++
	}
	var added []string
	for _, m := range n.members {
		c := m.compact()
		if left[c] > 0 {
			left[c]--
			continue
		}
		added = append(added, c)
	}
	var removed []string
	for _, m := range o.members {
		c := m.compact()
		if left[c] > 0 {
			left[c]--
			removed = append(removed, c)
		}
	}
	for _, a := range added {
		d.printf("+ %s: %s\n", label(path), a)
	}
	for _, r := range removed {
		d.printf("- %s: %s\n", label(path), r)
	}
	if len(added) == 0 && len(removed) == 0 && o.compact() != n.compact() {
		d.printf("~ %s: same values in another order: %s -> %s\n", label(path), o.compact(), n.compact())
	}
}

func (d *differ) objectArray(path, schemaPath string, o, n *value, sch *node) {
	var items *node
	if sch != nil {
		items = sch.items
	}
	keys := identity(schemaPath, items)
	// Elements with equal keys are matched in order.
	byKey := map[string][]int{}
	for i, m := range o.members {
		k := elementKey(keys, m)
		byKey[k] = append(byKey[k], i)
	}
	matched := make([]bool, len(o.members))
	var lines differ
	var buf strings.Builder
	lines.w = &buf
	var added, changed int
	for _, m := range n.members {
		k := elementKey(keys, m)
		at := path + "[" + k + "]"
		if idx := byKey[k]; len(idx) > 0 {
			byKey[k] = idx[1:]
			matched[idx[0]] = true
			before := lines.count
			lines.value(at, schemaPath+"[]", o.members[idx[0]], m, items)
			if lines.count > before {
				changed++
			}
			continue
		}
		added++
		lines.printf("+ %s: %s\n", at, m.compact())
	}
	removed := 0
	for i, m := range o.members {
		if !matched[i] {
			removed++
			lines.printf("- %s[%s]: %s\n", path, elementKey(keys, m), m.compact())
		}
	}
	if added+removed+changed == 0 {
		io.WriteString(d.w, buf.String()) // uncounted lines, such as times
		return
	}
	fmt.Fprintf(d.w, "  %s: %d -> %d %s: %d added, %d removed, %d changed\n",
		label(path), len(o.members), len(n.members), plural(len(n.members), "element", "elements"), added, removed, changed)
	io.WriteString(d.w, buf.String())
	d.count += lines.count
}

// elementKey writes the identity of an element as member=value pairs; the
// whole element when it has no identity members.
func elementKey(keys []string, v *value) string {
	if len(keys) == 0 || v.kind != "object" {
		return v.compact()
	}
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		m := v.member(k)
		val := "(none)"
		switch {
		case m == nil:
		case m.kind == "string" && m.scalar.(string) != "" && !strings.ContainsAny(m.scalar.(string), ",=[]"):
			val = m.scalar.(string)
		default:
			val = m.compact()
		}
		parts = append(parts, k+"="+val)
	}
	return strings.Join(parts, ",")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
