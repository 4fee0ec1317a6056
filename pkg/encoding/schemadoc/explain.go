package schemadoc

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// Explain writes every field of payload in document order: its path, its
// value and, indented below, the schema's one-line meaning. An array of
// objects is explained once, with the values of its first element, so a
// payload of thousands of clusters stays short; an array of strings or
// numbers is written whole. A field the schema does not state is marked
// so. The output is a pure function of the schema and the payload.
func (s *Schema) Explain(w io.Writer, payload []byte) error {
	doc, err := parse(payload)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n", s.Title)
	if s.Description != "" {
		fmt.Fprintf(bw, "# %s\n", s.Description)
	}
	e := explainer{w: bw}
	e.members("", doc, s.root)
	return bw.Flush()
}

type explainer struct{ w io.Writer }

func (e explainer) members(prefix string, v *value, n *node) {
	for i, name := range v.keys {
		e.value(join(prefix, name), v.members[i], n.prop(name))
	}
}

func (e explainer) value(path string, v *value, n *node) {
	switch {
	case v.kind == "object" && len(v.keys) == 0:
		e.line(path+" = {} (no members)", n)
	case v.kind == "object":
		e.line(path, n)
		e.members(path, v, n)
	case v.kind == "array" && hasObjects(v):
		e.objectArray(path, v, n)
	case v.kind == "array":
		e.line(fmt.Sprintf("%s = %s (%s)", path, v.compact(), elements(len(v.members))), n)
	default:
		e.line(path+" = "+v.compact(), n)
	}
}

func (e explainer) objectArray(path string, v *value, n *node) {
	head := fmt.Sprintf("%s: %s", path, elements(len(v.members)))
	if len(v.members) > 1 {
		head += fmt.Sprintf("; each has the fields below, shown with the values of %s[0]", path)
	}
	e.line(head, n)
	var items *node
	if n != nil {
		items = n.items
	}
	e.members(path+"[0]", v.members[0], items)
}

func (e explainer) line(head string, n *node) {
	meaning := "(not in the schema)"
	switch {
	case n == nil:
	case n.description != "":
		meaning = n.description
	default:
		meaning = "(the schema gives no description)"
	}
	fmt.Fprintf(e.w, "%s\n    %s\n", head, meaning)
}

func hasObjects(v *value) bool {
	return len(v.members) > 0 && v.members[0].kind == "object"
}

func elements(n int) string {
	if n == 1 {
		return "1 element"
	}
	return strconv.Itoa(n) + " elements"
}
