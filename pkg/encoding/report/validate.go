package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// The typed validator checks a payload against schema.json in one pass
// over its bytes, decoding it into a Report as it goes: strict decoding
// (no member the schema does not name, the JSON type the schema states,
// every required member) and then each rule of the schema on the decoded
// value (const, enums, patterns and maxLength of package vocab, minimum,
// uniqueItems, and the clustersAggregated condition). It accepts and
// refuses exactly the documents the JSON schema validator does with
// schema.json (FuzzValidateAgreesWithSchema), including its corners:
//
//   - a number is an integer when its value is one: 1.0 and 1e2 are
//     integers, as big.Rat reads them (an exponent beyond a million is
//     not a number it reads, so not an integer);
//   - a member named twice counts with its last value, as when the
//     document is read into a map;
//   - invalid JSON, or anything after the document, is refused.
//
// The pass stops at the first problem. A problem is then checked again
// on the canonical form of the document (read into a map, written back),
// so that a syntax error anywhere comes first and a member that a later
// duplicate overrides does not count; the canonical form also serves
// documents with duplicate members, which the pass does not follow.

var (
	// ErrSyntax is wrapped, with ErrInvalid, by the errors of payloads
	// that are not one JSON document.
	ErrSyntax = errors.New("report: not JSON")
	// ErrOutOfRange is wrapped by Decode's errors for payloads the schema
	// accepts whose integers are not plain int64 literals (too large, or
	// written as 1.0 or 1e2), which Report cannot hold as encoding/json
	// reads it.
	ErrOutOfRange = errors.New("report: number out of range")
)

// errDuplicate stops the single pass at a member named twice.
var errDuplicate = errors.New("duplicate member")

// SchemaError is a payload the schema refuses: the JSON pointer of the
// value (like /totals/nodes) and the rule it breaks. It wraps ErrInvalid.
type SchemaError struct {
	Pointer string
	Problem string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%v: at %s: %s", ErrInvalid, e.Pointer, e.Problem)
}

func (e *SchemaError) Unwrap() error { return ErrInvalid }

// RangeError is a schema-valid integer that Report cannot hold. Field is
// its dotted path, as encoding/json names a field (totals.nodes). It
// wraps ErrOutOfRange.
type RangeError struct {
	Pointer string
	Field   string
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("%v: report field %s", ErrOutOfRange, e.Field)
}

func (e *RangeError) Unwrap() error { return ErrOutOfRange }

// Decode validates payload against the schema and returns it decoded, as
// json.Unmarshal would decode it. Errors wrap ErrInvalid (with ErrSyntax
// for a payload that is not JSON; a *SchemaError names the field) or
// ErrOutOfRange (a *RangeError).
func Decode(payload []byte) (Report, error) {
	r, rangeErr, err := check(payload)
	if err != nil {
		return Report{}, err
	}
	if rangeErr != nil {
		return Report{}, rangeErr
	}
	return r, nil
}

// check runs the single pass, and the canonical pass when the single one
// stopped.
func check(payload []byte) (Report, *RangeError, error) {
	p := parser{b: payload}
	r, err := p.document()
	if err == nil {
		return r, p.rangeErr, nil
	}
	// Read the payload as the JSON schema validator reads it.
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return Report{}, nil, fmt.Errorf("%w: %w: %w", ErrInvalid, ErrSyntax, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Report{}, nil, fmt.Errorf("%w: %w: invalid character after top-level value", ErrInvalid, ErrSyntax)
	}
	canonical, merr := json.Marshal(doc)
	if merr != nil { // a decoded document always encodes
		return Report{}, nil, fmt.Errorf("%w: %w", ErrInvalid, merr)
	}
	p = parser{b: canonical}
	r, err = p.document()
	if err != nil {
		return Report{}, nil, err
	}
	return r, p.rangeErr, nil
}

// parser reads one payload. Its methods return false on the first
// problem, which err holds; path is the location of the value being
// read.
type parser struct {
	b        []byte
	i        int
	err      error
	rangeErr *RangeError
	path     []segment
}

// accepted holds strings that matched a pattern, by pattern kind, so that
// the versions every report repeats are matched once per process. It
// keeps at most maxAccepted strings: the rest are matched every time.
var accepted struct {
	sync.Mutex
	n     int
	kinds [len(patternKinds)]map[string]string
}

const maxAccepted = 4096

// wasAccepted returns the kept copy of b when it matched before.
func wasAccepted(pk int, b []byte) (string, bool) {
	accepted.Lock()
	s, ok := accepted.kinds[pk][string(b)]
	accepted.Unlock()
	return s, ok
}

func accept(pk int, s string) {
	accepted.Lock()
	defer accepted.Unlock()
	if accepted.n >= maxAccepted {
		return
	}
	if accepted.kinds[pk] == nil {
		accepted.kinds[pk] = map[string]string{}
	}
	if _, ok := accepted.kinds[pk][s]; !ok {
		accepted.kinds[pk][s] = s
		accepted.n++
	}
}

type segment struct {
	key   string
	index int // -1 for a member
}

func (p *parser) push(key string) { p.path = append(p.path, segment{key: key, index: -1}) }
func (p *parser) pushIndex(i int) { p.path = append(p.path, segment{index: i}) }
func (p *parser) pop()            { p.path = p.path[:len(p.path)-1] }

// pointer returns the JSON pointer of the current value, "/" for the
// document.
func (p *parser) pointer() string {
	if len(p.path) == 0 {
		return "/"
	}
	var sb strings.Builder
	for _, s := range p.path {
		sb.WriteByte('/')
		if s.index >= 0 {
			sb.WriteString(strconv.Itoa(s.index))
		} else {
			sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(s.key))
		}
	}
	return sb.String()
}

// field returns the current location as encoding/json names a field:
// member names joined by dots.
func (p *parser) field() string {
	var parts []string
	for _, s := range p.path {
		if s.index < 0 {
			parts = append(parts, s.key)
		}
	}
	return strings.Join(parts, ".")
}

func (p *parser) invalid(format string, args ...any) bool {
	p.err = &SchemaError{Pointer: p.pointer(), Problem: fmt.Sprintf(format, args...)}
	return false
}

func (p *parser) syntax() bool {
	p.err = fmt.Errorf("%w: %w: at byte %d", ErrInvalid, ErrSyntax, p.i)
	return false
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// kind names the JSON type of the value at p.i as the schema does, or ""
// when no value starts there.
func (p *parser) kind() string {
	if p.i >= len(p.b) {
		return ""
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	}
	return ""
}

// want checks that the value at p.i is of type typ.
func (p *parser) want(typ string) bool {
	p.ws()
	switch k := p.kind(); k {
	case typ:
		return true
	case "":
		return p.syntax()
	default:
		return p.invalid("got %s, want %s", k, typ)
	}
}

func (p *parser) document() (Report, error) {
	var r Report
	if !p.report(&r) {
		return Report{}, p.err
	}
	p.ws()
	if p.i != len(p.b) {
		p.syntax()
		return Report{}, p.err
	}
	return r, nil
}

// object reads an object whose members are names (at most 32). It calls
// member with the index of each name, positioned on its value, and
// checks that every name of required was seen.
func (p *parser) object(names []string, required uint32, member func(k int) bool) bool {
	var seen uint32
	ok := p.members(func(key []byte) bool {
		k := index(names, key)
		if k < 0 {
			return p.invalid("additional properties %s not allowed", quote(clip(string(key), 80)))
		}
		if seen&(1<<k) != 0 {
			p.err = errDuplicate
			return false
		}
		seen |= 1 << k
		p.push(names[k])
		if !member(k) {
			return false
		}
		p.pop()
		return true
	})
	if !ok {
		return false
	}
	if missing := required &^ seen; missing != 0 {
		var names2 []string
		for k, n := range names {
			if missing&(1<<k) != 0 {
				names2 = append(names2, quote(n))
			}
		}
		if len(names2) == 1 {
			return p.invalid("missing property %s", names2[0])
		}
		return p.invalid("missing properties %s", strings.Join(names2, ", "))
	}
	return true
}

// members reads an object, calling member with each key, positioned on
// its value; member reads the value.
func (p *parser) members(member func(key []byte) bool) bool {
	if !p.want("object") {
		return false
	}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return true
	}
	for {
		p.ws()
		key, ok := p.key()
		if !ok {
			return false
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return p.syntax()
		}
		p.i++
		if !member(key) {
			return false
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.syntax()
		}
		if p.b[p.i] == '}' {
			p.i++
			return true
		}
		if p.b[p.i] != ',' {
			return p.syntax()
		}
		p.i++
	}
}

// array reads an array, calling item positioned on each element.
func (p *parser) array(item func(i int) bool) bool {
	if !p.want("array") {
		return false
	}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return true
	}
	for n := 0; ; n++ {
		p.pushIndex(n)
		if !item(n) {
			return false
		}
		p.pop()
		p.ws()
		if p.i >= len(p.b) {
			return p.syntax()
		}
		if p.b[p.i] == ']' {
			p.i++
			return true
		}
		if p.b[p.i] != ',' {
			return p.syntax()
		}
		p.i++
	}
}

// key reads a member name.
func (p *parser) key() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, p.syntax()
	}
	return p.rawBytes()
}

// rawString reads the string at p.i, which starts with a quote.
func (p *parser) rawString() (string, bool) {
	b, ok := p.rawBytes()
	return string(b), ok
}

// rawBytes reads the string at p.i, which starts with a quote, and
// returns its decoded bytes: a part of the payload when it has no escapes
// (the common case, which allocates nothing).
func (p *parser) rawBytes() ([]byte, bool) {
	start := p.i
	for j := start + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			p.i = j + 1
			return p.b[start+1 : j], true
		case c == '\\' || c >= 0x80:
			return p.slowString(start)
		case c < 0x20:
			p.i = j
			return nil, p.syntax()
		}
	}
	p.i = len(p.b)
	return nil, p.syntax()
}

// slowString reads a string with escapes or non-ASCII bytes as
// encoding/json reads it.
func (p *parser) slowString(start int) ([]byte, bool) {
	j := start + 1
	for ; j < len(p.b); j++ {
		c := p.b[j]
		if c == '\\' {
			j++
			continue
		}
		if c == '"' {
			break
		}
	}
	if j >= len(p.b) {
		p.i = len(p.b)
		return nil, p.syntax()
	}
	var s string
	if err := json.Unmarshal(p.b[start:j+1], &s); err != nil {
		p.i = start
		return nil, p.syntax()
	}
	p.i = j + 1
	return []byte(s), true
}

// str reads a string value.
func (p *parser) str() (string, bool) {
	if !p.want("string") {
		return "", false
	}
	return p.rawString()
}

// boolean reads a boolean value.
func (p *parser) boolean() (bool, bool) {
	if !p.want("boolean") {
		return false, false
	}
	if bytes.HasPrefix(p.b[p.i:], []byte("true")) {
		p.i += 4
		return true, true
	}
	if bytes.HasPrefix(p.b[p.i:], []byte("false")) {
		p.i += 5
		return false, true
	}
	return false, p.syntax()
}

// enum reads a string that must be one of words; it returns the word, so
// the decoded report shares the strings.
func (p *parser) enum(words []string) (string, bool) {
	p.ws()
	if p.kind() != "string" {
		if p.kind() == "" {
			return "", p.syntax()
		}
		// The value is not a string: no word matches it.
		return "", p.invalid("value must be one of %s", quoteAll(words))
	}
	s, ok := p.rawBytes()
	if !ok {
		return "", false
	}
	k := index(words, s)
	if k < 0 {
		return "", p.invalid("value must be one of %s", quoteAll(words))
	}
	return words[k], true
}

// pattern reads a string that must match the pattern of a vocab kind and
// be at most its maxLength long.
func (p *parser) pattern(pk int) (string, bool) {
	if !p.want("string") {
		return "", false
	}
	b, ok := p.rawBytes()
	if !ok {
		return "", false
	}
	if s, ok := wasAccepted(pk, b); ok {
		return s, true
	}
	s := string(b)
	rule := patternRules[pk]
	if n := len([]rune(s)); n > rule.max {
		return "", p.invalid("maxLength: got %d, want %d", n, rule.max)
	}
	if !rule.re.MatchString(s) {
		return "", p.invalid("%s does not match the pattern of %s", quote(clip(s, 40)), patternKinds[pk])
	}
	accept(pk, s)
	return s, true
}

// integer reads an integer of at least min. A value the schema accepts
// that is not a plain int64 literal is recorded in rangeErr, once, and
// read as 0.
func (p *parser) integer(min int64) (int64, bool) {
	p.ws()
	if k := p.kind(); k != "number" {
		if k == "" {
			return 0, p.syntax()
		}
		return 0, p.invalid("got %s, want integer", k)
	}
	lit, ok := p.number()
	if !ok {
		return 0, false
	}
	if len(lit) <= 18 && bytes.IndexAny(lit, ".eE") < 0 {
		n, err := strconv.ParseInt(string(lit), 10, 64)
		if err != nil {
			return 0, p.syntax()
		}
		if n < min {
			return 0, p.invalid("minimum: got %d, want %d", n, min)
		}
		return n, true
	}
	sign, integer := classify(lit)
	if !integer {
		return 0, p.invalid("got number, want integer")
	}
	// Integers other than zero are at least 1 in magnitude.
	if sign < 0 || (sign == 0 && min > 0) {
		return 0, p.invalid("minimum: got %s, want %d", clip(string(lit), 40), min)
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil {
		if p.rangeErr == nil {
			p.rangeErr = &RangeError{Pointer: p.pointer(), Field: p.field()}
		}
		return 0, true
	}
	return n, true
}

// number reads a number literal as JSON writes it.
func (p *parser) number() ([]byte, bool) {
	start := p.i
	b := p.b
	i := p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		digits()
	default:
		p.i = i
		return nil, p.syntax()
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			p.i = i
			return nil, p.syntax()
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.i = i
			return nil, p.syntax()
		}
	}
	p.i = i
	return b[start:i], true
}

// classify returns the sign of a JSON number literal and whether the JSON
// schema validator takes it for an integer: whether big.Rat reads it (its
// decimal exponent, after the fraction digits, within a million) as an
// integer. It does what big.Rat does without computing the power of ten.
func classify(lit []byte) (sign int, integer bool) {
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	mant, expPart, hasExp := bytes.Cut(bytes.ToLower(lit), []byte("e"))
	var exp int64
	if hasExp {
		e, err := strconv.ParseInt(string(bytes.TrimPrefix(expPart, []byte("+"))), 10, 64)
		if err != nil {
			return 0, false // big.Rat does not read it
		}
		exp = e
	}
	intPart, frac, _ := bytes.Cut(mant, []byte("."))
	digits := append(append([]byte(nil), intPart...), frac...)
	nonzero := bytes.IndexFunc(digits, func(r rune) bool { return r != '0' }) >= 0
	if !nonzero {
		return 0, true
	}
	e := exp - int64(len(frac))
	if exp < 0 && e > exp { // overflow: far beyond what big.Rat reads
		return 0, false
	}
	if e > 1e6 || e < -1e6 {
		return 0, false
	}
	sign = 1
	if neg {
		sign = -1
	}
	if e >= 0 {
		return sign, true
	}
	tz := len(digits) - len(bytes.TrimRight(digits, "0"))
	return sign, int64(tz) >= -e
}

// index returns the index of the word b is, or -1.
func index(words []string, b []byte) int {
	for i, w := range words {
		if string(b) == w {
			return i
		}
	}
	return -1
}

func quote(s string) string {
	s = fmt.Sprintf("%q", s)
	return "'" + s[1:len(s)-1] + "'"
}

func quoteAll(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = quote(w)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
