package privacy

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	sigsyaml "sigs.k8s.io/yaml"
)

// fixtureFiles are the installations the test renders, under testdata. Every
// string they hold is identifying unless exportedOnPurpose lists it; a new
// file is one line here.
var fixtureFiles = []string{
	"testdata/installation.yaml",
	"testdata/other-installation.yaml",
}

// extensionsFile holds the operator extensions the payloads are rendered
// with; its values count as identifying too.
const extensionsFile = "testdata/extensions.json"

// exportedOnPurpose are the fixture strings that the payloads carry
// verbatim by design: words of the vocabularies, versions of the allowed
// forms, the install and cluster UUIDs, feature names, the upstream
// cluster's name (never exported, but a word of the schemas' text), and an
// extension value that is the operator's to attach. Nothing else of the
// fixtures may appear in any output.
var exportedOnPurpose = []string{
	"local", "kube-system", "install-uuid", "server-url", "server-version",
	"rke2", "k3s", "eks", "imported", "amd64", "arm64", "linux",
	"fleet", "harvester",
	"v1.32.4+rke2r1", "v2.11.3",
	"5b0e7c1a-93d4-4f26-8a1e-c47d2b9f6e03", // kube-system uid: the cluster UUID
	"9e4d2c71-5a3b-4f8e-b6d0-1c2a3e4f5a6b", // install-uuid settings
	"c3a1f0e2-7b5d-4c9a-8e6f-2d4b6a8c0e1f",
	"blue-squad",
}

// skippedKeys are fields whose strings say nothing of anyone: the object's
// type, condition types and statuses, quantities, UIDs.
var skippedKeys = map[string]bool{
	"apiVersion": true, "kind": true, "type": true, "status": true, "reason": true,
	"uid": true, "cpu": true, "memory": true, "pods": true,
}

// genericWords are host name labels and URL user names or passwords too
// common to be a finding on their own: the words of the documentation
// domains, of the product and of Kubernetes. The strings that hold them
// are still needles, whole.
var genericWords = map[string]bool{
	"example": true, "rancher": true, "internal": true, "local": true, "user": true, "secret": true,
}

// serverURLs are the server-url settings of the fixtures as the SCC
// payload must carry them: scheme, host, port and path, without user
// information, query or fragment. They are the one exception to the rule,
// and only in the outputs of the scc format.
var serverURLs = map[string]string{
	"testdata/installation.yaml":       "https://rancher.example.com:8443/path",
	"testdata/other-installation.yaml": "https://rancher.wren-logistics.example/",
}

// minNeedle is the shortest string that counts as a finding: shorter ones
// (quantities, "true", an octet) occur in any payload.
const minNeedle = 4

// needle is an identifying string and where it came from.
type needle struct {
	text string // lowercased
	from string
}

// collectNeedles returns every identifying string of the fixtures and the
// extensions file, with their derived forms, lowercased and sorted.
func collectNeedles(t *testing.T) []needle {
	t.Helper()
	var raw []needle
	for _, path := range fixtureFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		j, err := sigsyaml.YAMLToJSON(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var doc any
		if err := json.Unmarshal(j, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		walkStrings(doc, "", func(key, s string) {
			if !skippedKeys[key] {
				raw = append(raw, needle{s, path + " " + key})
			}
		})
	}
	b, err := os.ReadFile(extensionsFile)
	if err != nil {
		t.Fatal(err)
	}
	var ext map[string]string
	if err := json.Unmarshal(b, &ext); err != nil {
		t.Fatalf("%s: %v", extensionsFile, err)
	}
	for k, v := range ext {
		raw = append(raw, needle{v, extensionsFile + " " + k})
	}

	seen := map[string]bool{}
	var out []needle
	add := func(s, from string) {
		s = strings.ToLower(strings.TrimSpace(s))
		if len(s) < minNeedle || seen[s] || s == "true" || s == "false" || slices.Contains(exportedOnPurpose, s) {
			return
		}
		seen[s] = true
		out = append(out, needle{s, from})
	}
	for _, n := range raw {
		for _, d := range derived(n.text) {
			add(d, n.from)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].text < out[j].text })
	return out
}

// walkStrings calls f with every string value of v and the key it is under.
func walkStrings(v any, key string, f func(key, s string)) {
	switch x := v.(type) {
	case string:
		f(key, x)
	case []any:
		for _, e := range x {
			walkStrings(e, key, f)
		}
	case map[string]any:
		for k, e := range x {
			walkStrings(e, k, f)
		}
	}
}

var (
	ipv4RE  = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b`)
	ipv6RE  = regexp.MustCompile(`[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}`)
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+`)
	// hostRE finds DNS names of two or more labels whose last label is a
	// word, so "v1.32.4" is none.
	hostRE = regexp.MustCompile(`[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b`)
)

// derived returns s and the forms of what it holds that would still
// identify someone: each IPv4 address in dotted and dashed form and its
// groups of two and three octets; each IPv6 address compressed, expanded,
// unabbreviated, and its /64 prefix; each e-mail with its local part and
// domain; each host name with its labels; a URL's user information, query
// and fragment.
func derived(s string) []string {
	out := []string{s}
	for _, ip := range ipv4RE.FindAllString(s, -1) {
		out = append(out, ip, strings.ReplaceAll(ip, ".", "-"))
		o := strings.Split(ip, ".")
		for n := 2; n <= 3; n++ {
			for i := 0; i+n <= len(o); i++ {
				out = append(out, strings.Join(o[i:i+n], "."))
			}
		}
	}
	for _, m := range ipv6RE.FindAllString(s, -1) {
		a, err := netip.ParseAddr(m)
		if err != nil || !a.Is6() {
			continue
		}
		full := a.StringExpanded()
		groups := strings.Split(full, ":")
		short := make([]string, len(groups))
		for i, g := range groups {
			short[i] = strings.TrimLeft(g, "0")
			if short[i] == "" {
				short[i] = "0"
			}
		}
		out = append(out, a.String(), full, strings.Join(short, ":"),
			strings.Join(groups[:4], ":"), strings.Join(short[:4], ":"))
	}
	scan := s // s without a URL's user information, which is no e-mail
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		if u.User != nil {
			out = append(out, u.User.String(), u.User.String()+"@")
			if !genericWords[u.User.Username()] {
				out = append(out, u.User.Username())
			}
			if p, ok := u.User.Password(); ok {
				out = append(out, p+"@")
				if !genericWords[p] {
					out = append(out, p)
				}
			}
			scan = strings.Replace(s, u.User.String()+"@", "", 1)
		}
		out = append(out, u.RawQuery, u.Fragment)
		for _, vs := range u.Query() {
			out = append(out, vs...)
		}
	}
	for _, e := range emailRE.FindAllString(scan, -1) {
		local, domain, _ := strings.Cut(e, "@")
		out = append(out, e, local, domain)
	}
	for _, h := range hostRE.FindAllString(scan, -1) {
		out = append(out, h)
		for _, l := range strings.Split(h, ".") {
			if len(l) >= 5 && !genericWords[strings.ToLower(l)] && strings.ContainsAny(strings.ToLower(l), "abcdefghijklmnopqrstuvwxyz") {
				out = append(out, l)
			}
		}
	}
	return out
}

// searchable returns the text an output is searched in: the output, the
// strings of it as JSON (escapes undone), what its base64 runs and gzip
// members decode to, and all of that URL-unescaped; lowercased.
func searchable(b []byte) string {
	var parts []string
	var add func(b []byte, depth int)
	add = func(b []byte, depth int) {
		parts = append(parts, string(b))
		if depth > 3 {
			return
		}
		if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
				if d, err := io.ReadAll(io.LimitReader(zr, 64<<20)); err == nil {
					add(d, depth+1)
				}
			}
		}
		var v any
		if json.Unmarshal(b, &v) == nil {
			walkStrings(v, "", func(_, s string) { add([]byte(s), depth+1) })
		}
		for _, run := range base64RE.FindAll(b, -1) {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				if d, err := enc.DecodeString(string(run)); err == nil && printable(d) {
					add(d, depth+1)
					break
				}
			}
		}
	}
	add(b, 0)
	text := strings.Join(parts, "\n")
	text += "\n" + percentRE.ReplaceAllStringFunc(text, func(m string) string {
		u, _ := url.PathUnescape(m)
		return u
	})
	return strings.ToLower(text)
}

var (
	// base64RE finds runs that may be base64 (of at least 12 bytes).
	base64RE = regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}={0,2}`)
	// percentRE finds percent-escaped bytes.
	percentRE = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)
)

// printable reports whether b is text: valid UTF-8 without control
// characters other than white space. Decoded hex or random bytes are not.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}
