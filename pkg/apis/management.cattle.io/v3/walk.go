package v3

import (
	"errors"
	"unicode/utf8"

	utiljson "sigs.k8s.io/json"
)

// The UnmarshalJSON methods of this package read a JSON object with
// members instead of decoding it again with encoding/json: the outer
// decoder has validated the whole document already, and decoding each
// nested struct again would validate and scan its bytes twice more (a
// node's status holds its image list and conditions, most of its 10 to 20
// KB). members visits the keys of one object and skips the values of the
// keys that are not read by bracket matching, so the status of a node is
// scanned once.

// errSyntax is returned for input that is not valid JSON; the decoders
// that call these methods validate first, so it is a safety net.
var errSyntax = errors.New("v3: malformed JSON")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"')
// and whether it holds an escape.
func skipString(b []byte, i int) (int, bool, error) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped, nil
		}
	}
	return 0, false, errSyntax
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch b[i] {
	case '"':
		end, _, err := skipString(b, i)
		return end, err
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
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
	default: // a number, true, false or null
		j := i
		for j < len(b) && !isSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ':' {
			j++
		}
		if j == i {
			return 0, errSyntax
		}
		return j, nil
	}
}

// members calls f with the key and the raw value of each member of the
// JSON object b, in order (a key given twice is visited twice: the last
// wins, as with encoding/json). When b is not an object it returns the
// kind b has (null gives KindNone) and calls nothing.
func members(b []byte, f func(key, value []byte) error) (Kind, error) {
	if k := kindOf(b); k != KindObject {
		return k, nil
	}
	i := skipSpace(b, 0) + 1
	for first := true; ; first = false {
		i = skipSpace(b, i)
		if i < len(b) && b[i] == '}' && first {
			return KindNone, nil
		}
		if i >= len(b) || b[i] != '"' {
			return KindNone, errSyntax
		}
		end, escaped, err := skipString(b, i)
		if err != nil {
			return KindNone, err
		}
		key := b[i+1 : end-1]
		if escaped {
			var k string
			if err := utiljson.UnmarshalCaseSensitivePreserveInts(b[i:end], &k); err != nil {
				return KindNone, err
			}
			key = []byte(k)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return KindNone, errSyntax
		}
		i = skipSpace(b, i+1)
		vend, err := skipValue(b, i)
		if err != nil {
			return KindNone, err
		}
		if err := f(key, b[i:vend]); err != nil {
			return KindNone, err
		}
		i = skipSpace(b, vend)
		switch {
		case i < len(b) && b[i] == ',':
			i++
		case i < len(b) && b[i] == '}':
			return KindNone, nil
		default:
			return KindNone, errSyntax
		}
	}
}

// plainString returns the value of a JSON string without escapes, and
// false when it needs the full decoder (escapes, invalid UTF-8, which
// encoding/json replaces).
func plainString(b []byte) (string, bool) {
	if len(b) < 2 {
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
