// Package vocab decides which strings may leave the cluster. Every string a
// payload exports is either a word of a known vocabulary (Go's architecture
// and OS names, container runtimes, Rancher's cluster drivers and providers)
// or matches a bounded pattern (versions, UUIDs, commits, feature names, the
// server URL). Anything else is replaced, by Other as a rule, so free text
// such as a host name, an address or an e-mail put into a version or a
// driver never leaves verbatim, and an oversized value cannot make the
// payload too large.
//
// Each Kind has a Rule that states what Clean may return for it. The
// encoders' JSON schemas state the same rules (their tests compare them
// with RuleOf), so a payload whose strings did not come from Clean fails
// validation.
//
// Clean is a pure function: it returns the safe value and whether it
// replaced the input.
package vocab

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Other replaces a value that is in no vocabulary and matches no pattern.
const Other = "other"

// Unknown stands for an empty arch, OS, runtime or kubelet version, as the
// payloads have always written it.
const Unknown = "unknown"

// Kind names a vocabulary or a bounded pattern.
type Kind string

// The kinds, by the field they clean.
const (
	// Version is a product or Kubernetes version: semver 2.0 with an
	// optional leading "v", whose pre-release and build parts are limited
	// to the forms distributions use (see VersionPattern). "" stays "".
	Version Kind = "version"
	// KubeletMinor is the vMAJOR.MINOR of a kubelet version, each number
	// at most three digits; "" gives Unknown.
	KubeletMinor Kind = "kubeletMinor"
	// Arch is a GOARCH name, lowercased; "" gives Unknown.
	Arch Kind = "arch"
	// OS is a GOOS name, lowercased; "" gives Unknown.
	OS Kind = "os"
	// Runtime is the container runtime family of a containerRuntimeVersion
	// such as "containerd://1.7.27": the lowercased text before "://"; ""
	// gives Unknown.
	Runtime Kind = "runtime"
	// Driver is a Rancher cluster driver (status.driver), or "kubernetes"
	// in kubernetes mode. "" stays "".
	Driver Kind = "driver"
	// Provider is a Rancher cluster provider (status.provider), as
	// Rancher's provider detection names them. "" stays "".
	Provider Kind = "provider"
	// Feature is a feature flag name: [a-z0-9-]{1,63}.
	Feature Kind = "feature"
	// UUID is an install or cluster UUID, 8-4-4-4-12 hex digits,
	// lowercased. "" stays "".
	UUID Kind = "uuid"
	// Commit is a git commit, 7 to 40 hex digits lowercased, or "unknown"
	// (what an unstamped build says). "" stays "".
	Commit Kind = "commit"
	// ServerURL is the server URL cut to scheme, host, port and path (see
	// cleanServerURL). It is replaced by "", not Other: SCC consumers read
	// it as a URL, and "" is what an installation without a server URL
	// has. "" stays "".
	ServerURL Kind = "serverURL"
	// Extension is the value of an operator-supplied extension: a word of
	// letters and digits of at most three parts joined by "-" or "_"
	// (prod, team-a, eu_west_1), or a version as Version reads it (2.1.0,
	// v1.32.4+rke2r1); at most 64 bytes. A dot outside a version, "@", ":"
	// and blanks are refused, so no host name, e-mail, address or free
	// text passes; nor does a word of four or more parts, such as
	// ip-10-0-0-1. "" and anything else give Other: extensions are
	// refused, not replaced, by their reader (see package extensions).
	Extension Kind = "extension"
)

// Rule states what Clean may return for a kind: one of Enum when Enum is
// set, else a string that matches Pattern (anchored, Go and ECMA-262
// syntax alike) and is at most MaxLength bytes. Schemas state the same:
// "enum", or "pattern" and "maxLength".
type Rule struct {
	Enum      []string
	Pattern   string
	MaxLength int
}

// Allows reports whether s is a value the rule permits.
func (r Rule) Allows(s string) bool {
	if r.Enum != nil {
		return slices.Contains(r.Enum, s)
	}
	return len(s) <= r.MaxLength && compiled(r.Pattern).MatchString(s)
}

// compiledPatterns caches the patterns Allows has compiled.
var compiledPatterns sync.Map // pattern -> *regexp.Regexp

func compiled(pattern string) *regexp.Regexp {
	if re, ok := compiledPatterns.Load(pattern); ok {
		return re.(*regexp.Regexp)
	}
	re, _ := compiledPatterns.LoadOrStore(pattern, regexp.MustCompile(pattern))
	return re.(*regexp.Regexp)
}

// kind is the table entry of one Kind.
type kind struct {
	rule  Rule
	clean func(string) (string, bool)
}

// kindOrder lists every Kind in a stable order.
var kindOrder = []Kind{Version, KubeletMinor, Arch, OS, Runtime, Driver, Provider, Feature, UUID, Commit, ServerURL, Extension}

var kinds = map[Kind]kind{
	Version:      {patternRule(versionPattern, VersionMaxLength), byPattern(versionRE, VersionMaxLength, false)},
	KubeletMinor: {patternRule(kubeletMinorPattern, kubeletMinorMaxLength), cleanKubeletMinor},
	Arch:         {enumRule(archs, Unknown, Other), byWord(archs, nil, Unknown)},
	OS:           {enumRule(oses, Unknown, Other), byWord(oses, nil, Unknown)},
	Runtime:      {enumRule(runtimes, Unknown, Other), cleanRuntime},
	Driver:       {enumRule(drivers, "", Other), byWord(drivers, nil, "")},
	Provider:     {enumRule(providers, "", Other), byWord(providers, nil, "")},
	Feature:      {patternRule(featurePattern, FeatureMaxLength), byPattern(featureRE, FeatureMaxLength, false)},
	UUID:         {patternRule(uuidPattern, uuidMaxLength), byPattern(uuidRE, uuidMaxLength, true)},
	Commit:       {patternRule(commitPattern, commitMaxLength), byPattern(commitRE, commitMaxLength, true)},
	ServerURL:    {patternRule(serverURLPattern, ServerURLMaxLength), cleanServerURL},
	Extension:    {patternRule(extensionPattern, ExtensionMaxLength), byPattern(extensionRE, ExtensionMaxLength, false)},
}

// Kinds returns every kind.
func Kinds() []Kind { return slices.Clone(kindOrder) }

// RuleOf returns the rule of a kind; it panics on a kind that is not one of
// Kinds, a programming error.
func RuleOf(k Kind) Rule {
	r := mustKind(k).rule
	r.Enum = slices.Clone(r.Enum)
	return r
}

// Clean returns the value of s that may be exported as k, and whether it
// was replaced: by Other, or by "" for ServerURL. Trimming surrounding white
// space and normalizing case (lowercase hex, the vocabulary's spelling of a
// word) are not replacements. It panics on a kind that is not one of Kinds.
func Clean(k Kind, s string) (string, bool) {
	return mustKind(k).clean(s)
}

func mustKind(k Kind) kind {
	e, ok := kinds[k]
	if !ok {
		panic("vocab: unknown kind " + string(k))
	}
	return e
}

func patternRule(p string, max int) Rule { return Rule{Pattern: p, MaxLength: max} }

// enumRule lists the words, then the value of an empty input, then the
// replacement (Other), without duplicates.
func enumRule(words []string, empty, other string) Rule {
	out := slices.Clone(words)
	for _, w := range []string{empty, other} {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return Rule{Enum: out}
}

// byPattern accepts s, trimmed and lowercased when lower is set, when it is
// at most max bytes and matches re; "" stays "". Anything else is Other.
func byPattern(re *regexp.Regexp, max int, lower bool) func(string) (string, bool) {
	return func(s string) (string, bool) {
		s = strings.TrimSpace(s)
		if len(s) > max { // before any other work: the input may be huge
			return Other, true
		}
		if lower {
			s = strings.ToLower(s)
		}
		if s == "" && re.MatchString("") {
			return "", false
		}
		if !re.MatchString(s) {
			return Other, true
		}
		return s, false
	}
}

// longestWord bounds the words a vocabulary lookup lowercases.
const longestWord = 64

// byWord looks s up in words without regard to case and returns the word as
// the vocabulary spells it; aliases map other spellings to a word. "" gives
// empty; anything else is Other.
func byWord(words []string, aliases map[string]string, empty string) func(string) (string, bool) {
	index := make(map[string]string, len(words)+len(aliases))
	for _, w := range words {
		index[strings.ToLower(w)] = w
	}
	for a, w := range aliases {
		index[a] = w
	}
	return func(s string) (string, bool) {
		s = strings.TrimSpace(s)
		if s == "" {
			return empty, false
		}
		if len(s) > longestWord {
			return Other, true
		}
		w, ok := index[strings.ToLower(s)]
		if !ok {
			return Other, true
		}
		return w, false // a change of case is a spelling, not a replacement
	}
}
