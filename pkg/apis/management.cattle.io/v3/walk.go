package v3

import (
	"bytes"
	"errors"
	"unicode/utf8"

	utiljson "sigs.k8s.io/json"
)

// The decoders of this package read a document in one pass: each object
// is walked member by member, the values of the keys that are read are
// decoded where they stand, and every other value is skipped by a scanner
// that also checks it is valid JSON. A node's status, most of its 10 to
// 20 KB, is therefore scanned once, and a document that is not valid JSON
// is an error (errSyntax) whichever decoder reads it: encoding/json, the
// informers' Codecs, or a test.

// errSyntax is returned for input that is not valid JSON.
var errSyntax = errors.New("v3: malformed JSON")

// errDepth is returned for values nested deeper than maxDepth, the limit
// of encoding/json.
var errDepth = errors.New("v3: JSON nested too deep")

const maxDepth = 10000

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// inString marks the bytes a string holds without an escape: not a quote,
// a backslash or a control character.
var inString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipString returns the index after the string starting at b[i] ('"')
// and whether it holds an escape. Escapes must be valid and control
// characters escaped; invalid UTF-8 is accepted, as encoding/json does.
func skipString(b []byte, i int) (int, bool, error) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		for j < len(b) && inString[b[j]] {
			j++
		}
		if j == len(b) {
			break
		}
		switch b[j] {
		case '"':
			return j + 1, escaped, nil
		case '\\':
			escaped = true
			if j+1 >= len(b) {
				return 0, false, errSyntax
			}
			j++
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) || !isHex(b[j+1]) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) {
					return 0, false, errSyntax
				}
				j += 4
			default:
				return 0, false, errSyntax
			}
		default: // a control character
			return 0, false, errSyntax
		}
	}
	return 0, false, errSyntax
}

// closeQuote returns the index of the quote that ends the string whose
// body starts at b[s], searching from b[j]; -1 when b ends first. It does
// not check the string.
func closeQuote(b []byte, s, j int) int {
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		p := q - 1
		for p >= s && b[p] == '\\' {
			p--
		}
		if (q-1-p)%2 == 0 {
			return q
		}
		j = q + 1
	}
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// skipNumber returns the index after the number starting at b[i].
func skipNumber(b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return 0, errSyntax
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return 0, errSyntax
		}
		i = j
	}
	return i, nil
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errSyntax
	}
	return i + len(lit), nil
}

// skipValue returns the index after the value starting at b[i], checking
// that it is valid JSON. depth is the nesting of the value's container.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch b[i] {
	case '"':
		end, _, err := skipString(b, i)
		return end, err
	case '{':
		end, _, err := walkObject(b, i, depth, nil)
		return end, err
	case '[':
		return walkArray(b, i, depth, nil)
	case 't':
		return skipLiteral(b, i, "true")
	case 'f':
		return skipLiteral(b, i, "false")
	case 'n':
		return skipLiteral(b, i, "null")
	default:
		return skipNumber(b, i)
	}
}

// matchValue returns the index after the value starting at b[i] by
// matching brackets, without checking the value is valid JSON. It is for
// values handed whole to a decoder that checks them.
func matchValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	if c := b[i]; c != '{' && c != '[' {
		return skipValue(b, i, 0)
	}
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			if j = closeQuote(b, j+1, j+1); j < 0 {
				return 0, errSyntax
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, errSyntax
}

// memberFunc reads the value of key, which starts at b[i], and returns the
// index after it. depth is the nesting of the value.
type memberFunc func(key []byte, i, depth int) (int, error)

// walkObject walks the object starting at b[i] ('{'), calling f for each
// member in order (a key given twice is visited twice: the last wins, as
// with encoding/json), or skipping every value when f is nil. It returns
// the index after the object.
func walkObject(b []byte, i, depth int, f memberFunc) (int, Kind, error) {
	depth++
	if depth > maxDepth {
		return 0, KindNone, errDepth
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, KindObject, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, KindNone, errSyntax
		}
		end, escaped, err := skipString(b, i)
		if err != nil {
			return 0, KindNone, err
		}
		key := b[i+1 : end-1]
		if f != nil && (escaped || !utf8.Valid(key)) {
			var k string
			if err := utiljson.UnmarshalCaseSensitivePreserveInts(b[i:end], &k); err != nil {
				return 0, KindNone, err
			}
			key = []byte(k)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, KindNone, errSyntax
		}
		i = skipSpace(b, i+1)
		switch {
		case i >= len(b):
			// Member functions may read b[i].
			err = errSyntax
		case f == nil:
			i, err = skipValue(b, i, depth)
		default:
			i, err = f(key, i, depth)
		}
		if err != nil {
			return 0, KindNone, err
		}
		i = skipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return i + 1, KindObject, nil
		default:
			return 0, KindNone, errSyntax
		}
	}
}

// walkArray walks the array starting at b[i] ('['), calling f for each
// element (key nil), or skipping them when f is nil.
func walkArray(b []byte, i, depth int, f memberFunc) (int, error) {
	depth++
	if depth > maxDepth {
		return 0, errDepth
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		switch {
		case i >= len(b):
			err = errSyntax
		case f == nil:
			i, err = skipValue(b, i, depth)
		default:
			i, err = f(nil, i, depth)
		}
		if err != nil {
			return 0, err
		}
		i = skipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == ']':
			return i + 1, nil
		default:
			return 0, errSyntax
		}
	}
}

// readObject reads the value at b[i] as an object with f. A value of
// another type is skipped (and checked), and its kind returned, so the
// caller records it as a problem; null is KindNone.
func readObject(b []byte, i, depth int, f memberFunc) (int, Kind, error) {
	if i < len(b) && b[i] == '{' {
		end, _, err := walkObject(b, i, depth, f)
		return end, KindNone, err
	}
	end, err := skipValue(b, i, depth)
	if err != nil {
		return 0, KindNone, err
	}
	return end, kindOf(b[i:end]), nil
}

// leaf is a value read from its raw JSON text once the scanner has found
// its end: Bool, OptionalBool, String, Quantity.
type leaf interface{ UnmarshalJSON([]byte) error }

// readLeaf checks the value at b[i] and decodes it into v.
func readLeaf(b []byte, i, depth int, v leaf) (int, error) {
	end, err := skipValue(b, i, depth)
	if err != nil {
		return 0, err
	}
	return end, v.UnmarshalJSON(b[i:end])
}

// decodeWhole reads the whole of b, one value and spaces around it, with
// read, which gets the index of the value.
func decodeWhole(b []byte, read func(i int) (int, error)) error {
	i := skipSpace(b, 0)
	if i >= len(b) {
		return errSyntax
	}
	end, err := read(i)
	if err != nil {
		return err
	}
	if skipSpace(b, end) != len(b) {
		return errSyntax
	}
	return nil
}

// members calls f with the key and the raw value of each member of the
// JSON object b, in order. When b is not an object it returns the kind b
// has (null gives KindNone) and calls nothing.
func members(b []byte, f func(key, value []byte) error) (Kind, error) {
	var kind Kind
	err := decodeWhole(b, func(i int) (int, error) {
		end, k, err := readObject(b, i, 0, func(key []byte, i, depth int) (int, error) {
			end, err := skipValue(b, i, depth)
			if err != nil {
				return 0, err
			}
			return end, f(key, b[i:end])
		})
		kind = k
		return end, err
	})
	if err != nil {
		return KindNone, err
	}
	return kind, nil
}

// plainString returns the value of a JSON string without escapes, and
// false when it needs the full decoder (escapes, invalid UTF-8, which
// encoding/json replaces) or b is not a string.
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	body := b[1 : len(b)-1]
	for _, c := range body {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(body) {
		return "", false
	}
	return string(body), true
}
