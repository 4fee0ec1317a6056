package jsonutil

// A document that writes itself in the payload layout (see Marshal) saves
// the second pass over its bytes that laying out its compact form takes:
// at 2,000 clusters that pass reads and copies 600 KB. The helpers below
// write each part already laid out; a document's test compares its result
// with layout(AppendJSON) byte for byte.

// LayoutAppender is a document that appends itself exactly as Marshal lays
// out its compact form, without the final newline. MarshalSize prefers it
// to Appender.
type LayoutAppender interface {
	AppendLayout(b []byte) []byte
}

// LayoutKey appends the name of a member of an object whose members are at
// depth: the comma that ends the member before unless first, a newline, the
// indentation, and "name": .
func LayoutKey(b []byte, depth int, name string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = newline(b, depth)
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':', ' ')
}

// LayoutEnd closes an object whose members are at depth+1 and that has at
// least one member.
func LayoutEnd(b []byte, depth int) []byte {
	return append(newline(b, depth), '}')
}

// LayoutCompact appends src, one compact JSON value, laid out as the value
// of a member at depth: its own members or elements at depth+1.
func LayoutCompact(b, src []byte, depth int) []byte {
	return appendLayout(b, src, depth)
}

// LayoutList appends items as the value of a member at depth: an array
// with each element compact on its own line at depth+1, [] when empty, and
// null for a nil slice, as layout writes what AppendList writes.
func LayoutList[T any, P interface {
	*T
	Appender
}](b []byte, items []T, depth int) []byte {
	if items == nil {
		return append(b, "null"...)
	}
	if len(items) == 0 {
		return append(b, '[', ']')
	}
	b = append(b, '[')
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = newline(b, depth+1)
		b = P(&items[i]).AppendJSON(b)
	}
	b = newline(b, depth)
	return append(b, ']')
}

// Encoded is a list written compact, element by element, so that the
// bytes that bound its size are the ones laid out in the payload.
type Encoded struct {
	buf  []byte
	ends []int // ends[i] is where element i ends in buf
}

// EncodeList writes items compact, one after the other, and returns them
// with the bytes AtLeast counts for them at depth. Like AtLeast it stops
// as soon as that figure passes limit: the Encoded is then incomplete and
// only the figure may be used.
func EncodeList[T any, P interface {
	*T
	Appender
}](items []T, depth, limit int) (Encoded, int) {
	// Writing stops past limit, so the buffer never needs much more: one
	// allocation, never a copy to grow it.
	e := Encoded{buf: make([]byte, 0, min(limit, 512*len(items))+4096), ends: make([]int, 0, len(items))}
	if len(items) == 0 {
		return e, 0
	}
	n := -len(",")
	for i := range items {
		start := len(e.buf)
		e.buf = P(&items[i]).AppendJSON(e.buf)
		e.ends = append(e.ends, len(e.buf))
		n += depth*len(Indent) + len(e.buf) - start + len("\n") + len(",")
		if n > limit {
			break
		}
	}
	return e, n
}

// Layout appends the elements in order (indices of the encoded list) as
// LayoutList appends the list in that order. The list must be complete.
func (e *Encoded) Layout(b []byte, order []int32, depth int) []byte {
	if len(order) == 0 {
		return append(b, '[', ']')
	}
	b = append(b, '[')
	for i, j := range order {
		if i > 0 {
			b = append(b, ',')
		}
		b = newline(b, depth+1)
		start := 0
		if j > 0 {
			start = e.ends[j-1]
		}
		b = append(b, e.buf[start:e.ends[j]]...)
	}
	b = newline(b, depth)
	return append(b, ']')
}
