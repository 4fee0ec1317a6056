package vocab

import (
	"regexp"
	"strconv"
	"strings"
)

// Bounds of the pattern kinds, in bytes.
const (
	// VersionMaxLength bounds a version.
	VersionMaxLength = 64
	// FeatureMaxLength bounds a feature flag name.
	FeatureMaxLength = 63
	// ServerURLMaxLength bounds the server URL.
	ServerURLMaxLength = 2048
	// ExtensionMaxLength bounds an extension value.
	ExtensionMaxLength = 64
	// HostMaxLength bounds the host of the server URL (a DNS name's limit).
	HostMaxLength = 253

	kubeletMinorMaxLength = len(Unknown) // longer than any v1.MINOR
	uuidMaxLength         = len("01234567-89ab-cdef-0123-456789abcdef")
	commitMaxLength       = 40
	coreMaxLength         = len("999999.999999.999999")
)

// Version grammar. A semver core whose numbers have at most six digits and
// no leading zero, then an optional pre-release ("-") and build ("+")
// part. Each part is one or two dot-separated identifiers; an identifier
// is one word or two joined by "-"; a word is
//
//   - a number of at most 8 digits without leading zero (a build number
//     such as GKE's 1211000),
//   - a hex run of 7 to 10 lowercase digits (an abbreviated commit, as in
//     EKS's -eks-ce1d5eb; a run of 7 to 10 decimal digits is one too), or
//   - a known tag followed by at most 4 digits (alpha4, rc1, rke2r1, k3s1,
//     up1, rancher1).
//
// and a part holds at most one number word, so at most one short number.
// So the forms distributions use
// pass (v1.32.4+rke2r1, v1.31.2+k3s1, v1.30.5-eks-ce1d5eb,
// v1.29.8-gke.1211000, v1.20.15-rancher1-1, v2.9.0-alpha4, v2.12.1+up1,
// v0.0.0-dev), while a part cannot hold an IPv4 address (four number
// words), an e-mail ("@" is no word), a host name (its labels are no
// tags), or any other letters than the tags' and hex digits'.
const (
	versionNum = `(0|[1-9][0-9]{0,5})`
	versionTag = `(alpha|beta|rc|pre|preview|dev|snapshot|nightly|hotfix|build|up|git|rancher|rke2r|rke|k3s|eks|gke|aks)[0-9]{0,4}`
	versionHex = `[0-9a-f]{7,10}`
	versionN   = `(0|[1-9][0-9]{0,7})`
	versionX   = `(` + versionTag + `|` + versionHex + `)`
	// An identifier without a number word, and one with exactly one.
	versionI0 = versionX + `(-` + versionX + `)?`
	versionI1 = `(` + versionN + `|` + versionX + `-` + versionN + `|` + versionN + `-` + versionX + `)`
	// At most two identifiers, at most one number word.
	versionPart = `(` + versionI0 + `(\.(` + versionI0 + `|` + versionI1 + `))?|` + versionI1 + `(\.` + versionI0 + `)?)`
	versionCore = versionNum + `\.` + versionNum + `\.` + versionNum

	// versionPattern also admits "" (no version known) and Other.
	versionPattern = `^(` + Other + `|v?` + versionCore + `(-` + versionPart + `)?(\+` + versionPart + `)?)?$`

	kubeletMinorPattern = `^(` + Unknown + `|` + Other + `|v1\.(0|[1-9][0-9]?))$`
	featurePattern      = `^[a-z0-9-]{1,63}$`
	uuidPattern         = `^(|` + Other + `|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`
	commitPattern       = `^(|` + Unknown + `|` + Other + `|[0-9a-f]{7,40})$`
	corePattern         = `^` + versionCore + `$`

	// extensionPattern is a word of one to three parts, or a version.
	extensionWord    = `[A-Za-z0-9]+([-_][A-Za-z0-9]+){0,2}`
	extensionVersion = `v?` + versionCore + `(-` + versionPart + `)?(\+` + versionPart + `)?`
	extensionPattern = `^(` + extensionWord + `|` + extensionVersion + `)$`
)

var (
	versionRE = regexp.MustCompile(versionPattern)
	featureRE = regexp.MustCompile(featurePattern)
	uuidRE    = regexp.MustCompile(uuidPattern)
	commitRE  = regexp.MustCompile(commitPattern)
	coreRE    = regexp.MustCompile(corePattern)

	extensionRE = regexp.MustCompile(extensionPattern)
)

// Extension key grammar: [prefix/]name as Kubernetes qualified names (label
// keys) are, the prefix a DNS subdomain (at most 253 bytes, which the
// pattern does not count: maxLength bounds the whole), the name at most 63.
const (
	extensionKeyPattern = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
	// ExtensionKeyMaxLength bounds an extension key: a 253-byte prefix,
	// "/" and a 63-byte name.
	ExtensionKeyMaxLength = 253 + 1 + 63
)

// ExtensionKeyRule is the rule every extension key a payload carries
// follows: a loose form of Kubernetes' qualified name that admits every
// key the extensions reader keeps.
func ExtensionKeyRule() Rule { return patternRule(extensionKeyPattern, ExtensionKeyMaxLength) }

// CoreRule is the rule of what ReleaseCore returns: X.Y.Z, each number at
// most six digits without leading zero.
func CoreRule() Rule { return patternRule(corePattern, coreMaxLength) }

// ReleaseCore returns the X.Y.Z a raw version starts with: an optional "v"
// or "V", the three numbers, then the end or a "-" or "+" and anything
// ("v2.12.1+up1" and "2.9.0-alpha4" give 2.12.1 and 2.9.0). ok is false
// when it starts with none ("dev", "2.9", "2.9.0.1", "02.9.0"). The rest is
// not looked at, so an oversized or hostile pre-release part does not stop
// the core from being found; it is the raw version that Clean(Version)
// replaces.
func ReleaseCore(raw string) (core string, ok bool) {
	s := strings.TrimSpace(raw)
	if strings.HasPrefix(s, "v") || strings.HasPrefix(s, "V") {
		s = s[1:]
	}
	end := 0
	for dots := 0; end < len(s) && end <= coreMaxLength; end++ {
		c := s[end]
		if c == '.' {
			dots++
		}
		if c == '-' || c == '+' || dots > 2 {
			break
		}
	}
	core = s[:end]
	if end < len(s) && s[end] != '-' && s[end] != '+' {
		return "", false
	}
	if !coreRE.MatchString(core) {
		return "", false
	}
	return core, true
}

// cleanKubeletMinor returns "v1.MINOR" of a kubelet version
// ("v1.32.4+rke2r1" gives v1.32; "v1.33" and "1.29.3" are read too).
// Kubernetes has had major version 1 since its first release: any other
// major, or a minor of more than two digits, is Other, so that a value such
// as "10.88.7.6" cannot export two octets of an address. Numbers are written
// without leading zeros; a version with no such prefix ("dev", "v1", "va.b")
// is Other; "" is Unknown. What follows the minor number is not exported,
// so it is not looked at.
func cleanKubeletMinor(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Unknown, false
	}
	v = strings.TrimPrefix(v, "v")
	major, n := leadingNumber(v)
	if n == 0 || n >= len(v) || v[n] != '.' {
		return Other, true
	}
	minor, m := leadingNumber(v[n+1:])
	if m == 0 || major != "1" || len(minor) > 2 {
		return Other, true
	}
	return "v" + major + "." + minor, false
}

// leadingNumber returns the decimal number of at most three digits that s
// starts with, without leading zeros, and the length of its digit run; the
// length is 0 when s starts with no digit or with more than three.
func leadingNumber(s string) (string, int) {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
		if n > 3 {
			return "", 0
		}
	}
	if n == 0 {
		return "", 0
	}
	i, _ := strconv.Atoi(s[:n]) // at most three digits: cannot fail
	return strconv.Itoa(i), n
}
