package vocab

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// huge is a 700 KB value: larger than a payload may be.
var huge = strings.Repeat("a", 700<<10)

// cleanCase is one input of a kind and what Clean must make of it.
type cleanCase struct {
	name     string
	in, want string
	replaced bool
}

// checkKind runs the cases through Clean(k) and checks that every result
// is allowed by RuleOf(k).
func checkKind(t *testing.T, k Kind, cases []cleanCase) {
	t.Helper()
	rule := RuleOf(k)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, replaced := Clean(k, tt.in)
			if got != tt.want || replaced != tt.replaced {
				t.Errorf("Clean(%s, %.80q) = %q, %v; want %q, %v", k, tt.in, got, replaced, tt.want, tt.replaced)
			}
			if !rule.Allows(got) {
				t.Errorf("Clean(%s, %.80q) = %q, which its rule does not allow", k, tt.in, got)
			}
		})
	}
}

// keeps and refuses build cases: values that pass unchanged, and values
// that become Other.
func keeps(values ...string) []cleanCase {
	var out []cleanCase
	for _, v := range values {
		out = append(out, cleanCase{name: "keeps " + v, in: v, want: v})
	}
	return out
}

func refuses(named map[string]string) []cleanCase {
	var out []cleanCase
	for name, v := range named {
		out = append(out, cleanCase{name: "refuses " + name, in: v, want: Other, replaced: true})
	}
	slices.SortFunc(out, func(a, b cleanCase) int { return strings.Compare(a.name, b.name) })
	return out
}

// hostile are values that identify a person, a machine or a network, or
// are too large, which no kind may let through.
var hostile = map[string]string{
	"email":          "provider-bob@corp.example",
	"ipv4":           "10.88.7.6",
	"ipv6":           "fd00::10:88:7:6",
	"hostname":       "worker-07.secret-corp.example",
	"url":            "https://rancher.secret-corp.example",
	"700 KB":         huge,
	"free text":      "Bob's cluster",
	"control string": "amd64\x00",
}

func TestVersion(t *testing.T) {
	cases := keeps(
		"v2.12.1", "v2.9.0-alpha4", "2.9.0-rc1", "v2.12.1+up1", "v0.0.0-dev", "v0.1.0+abc1234",
		"v1.30.5-eks-ce1d5eb", "v1.30.11-eks-473151a", "v1.32.4+rke2r1", "v1.31.2+k3s1",
		"v1.29.8-gke.1211000", "v1.20.15-rancher1-1", "v1.33.0-rc.1", "v1.27.6+f67aeb3",
		"v2.11.0-rc2+build.7", "1.0.0", "", Other,
	)
	cases = append(cases, refuses(hostile)...)
	cases = append(cases, refuses(map[string]string{
		"IPv4 in a pre-release":          "v1.30.5-eks-10.88.7.6-hostsecret",
		"IPv4 as identifiers":            "v1.30.5-10.88.7.6",
		"two numbers in one part":        "v1.30.5-10.88",
		"IPv4 with hyphens":              "v1.30.5-ip-10-88-7-6",
		"host name in build":             "v1.30.5+node1.corp.example",
		"e-mail in build":                "v1.30.5+bob@corp.example",
		"word that is no tag":            "v1.30.5-hostsecret",
		"upper-case tag":                 "v1.30.5+RKE2R1",
		"three identifiers":              "v1.30.5-alpha.beta.rc",
		"long hex run":                   "v1.30.5-eks-0123456789abcdef",
		"number over 10 digits":          "v1.30.5-gke.12345678901",
		"leading zero in number word":    "v1.30.5-gke.0123",
		"leading zero in core":           "v1.030.5",
		"core number over six digits":    "v1.2.3456789",
		"no patch":                       "v1.30",
		"four numbers":                   "1.2.3.4",
		"empty pre-release":              "v1.30.5-",
		"empty identifier":               "v1.30.5-rc..1",
		"dev":                            "dev",
		"double v":                       "vv1.2.3",
		"over 64 bytes of valid grammar": "v100000.100000.100000-snapshot1234-snapshot1234.snapshot1234-snapshot1234+rc",
		"tab inside":                     "v1.2.3\t-rc1",
		"newline then text":              "v1.2.3\nhost.example",
	})...)
	cases = append(cases, cleanCase{name: "trims white space", in: " v2.12.1\n", want: "v2.12.1"})
	checkKind(t, Version, cases)
}

func TestExtension(t *testing.T) {
	cases := keeps("prod", "team-a", "eu_west_1", "42", "true", "Blue", "a-b_c", "2.1.0", "v1.32.4+rke2r1", "v2.9.0-alpha4",
		strings.Repeat("a", 64))
	cases = append(cases, refuses(hostile)...)
	cases = append(cases, refuses(map[string]string{
		"empty":                "",
		"short host name":      "node1.corp",
		"IPv4 with hyphens":    "ip-10-88-7-6",
		"four parts":           "a-b-c-d",
		"user at host":         "bob@corp",
		"host and port":        "db:5432",
		"path":                 "a/b",
		"blank inside":         "team a",
		"over 64 bytes":        strings.Repeat("a", 65),
		"leading hyphen":       "-prod",
		"trailing underscore":  "prod_",
		"two dots, no version": "a.b.c",
		"version then host":    "1.2.3.corp",
		"non-ASCII letter":     "prodé",
	})...)
	checkKind(t, Extension, cases)
}

func TestKubeletMinor(t *testing.T) {
	checkKind(t, KubeletMinor, []cleanCase{
		{name: "rke2", in: "v1.32.4+rke2r1", want: "v1.32"},
		{name: "eks", in: "v1.30.11-eks-473151a", want: "v1.30"},
		{name: "no v", in: "1.29.3", want: "v1.29"},
		{name: "no patch", in: "v1.33", want: "v1.33"},
		{name: "build after minor", in: "v1.31+k3s1", want: "v1.31"},
		{name: "leading zeros dropped", in: "v01.032.1", want: "v1.32"},
		{name: "rest not exported", in: "v1.30.5-eks-10.88.7.6-hostsecret", want: "v1.30"},
		{name: "empty is unknown", in: "", want: Unknown},
		{name: "major only", in: "v1", want: Other, replaced: true},
		{name: "dev", in: "dev", want: Other, replaced: true},
		{name: "letters", in: "va.b.c", want: Other, replaced: true},
		{name: "letter minor", in: "v1.x", want: Other, replaced: true},
		{name: "four-digit major", in: "v1000.1.0", want: Other, replaced: true},
		{name: "four-digit minor", in: "v1.1000.0", want: Other, replaced: true},
		{name: "ipv4", in: "10.88.7.6", want: Other, replaced: true},
		{name: "major 2", in: "v2.1.0", want: Other, replaced: true},
		{name: "three-digit minor", in: "v1.100.0", want: Other, replaced: true},
		{name: "email", in: hostile["email"], want: Other, replaced: true},
		{name: "700 KB", in: huge, want: Other, replaced: true},
		{name: "700 KB digits", in: strings.Repeat("1", 700<<10), want: Other, replaced: true},
	})
}

func TestArch(t *testing.T) {
	cases := keeps("amd64", "arm64", "s390x", "ppc64le", "386", "riscv64", "loong64")
	cases = append(cases,
		cleanCase{name: "lowercases", in: "AMD64", want: "amd64"},
		cleanCase{name: "empty is unknown", in: "", want: Unknown},
		cleanCase{name: "blank is unknown", in: "  ", want: Unknown},
	)
	cases = append(cases, refuses(hostile)...)
	cases = append(cases, refuses(map[string]string{
		"uname name":  "x86_64",
		"aarch64":     "aarch64",
		"arch suffix": "amd64-bob",
		"unknown":     "unknown",
	})...)
	checkKind(t, Arch, cases)
}

func TestOS(t *testing.T) {
	cases := keeps("linux", "windows", "darwin", "freebsd", "wasip1")
	cases = append(cases,
		cleanCase{name: "lowercases", in: "Linux", want: "linux"},
		cleanCase{name: "empty is unknown", in: "", want: Unknown},
	)
	cases = append(cases, refuses(hostile)...)
	cases = append(cases, refuses(map[string]string{
		"os image":    "SUSE Linux Enterprise Server 15 SP6",
		"distro name": "ubuntu",
	})...)
	checkKind(t, OS, cases)
}

func TestRuntime(t *testing.T) {
	cases := []cleanCase{
		{name: "containerd", in: "containerd://1.7.27-k3s1", want: "containerd"},
		{name: "docker upper case", in: "Docker://20.10.24", want: "docker"},
		{name: "cri-o", in: "cri-o://1.30.1", want: "cri-o"},
		{name: "crio normalized", in: "crio://1.30.1", want: "cri-o"},
		{name: "version not exported", in: "containerd://" + huge, want: "containerd"},
		{name: "empty is unknown", in: "", want: Unknown},
		{name: "no scheme", in: "containerd", want: Other, replaced: true},
		{name: "empty family", in: "://1.0", want: Other, replaced: true},
		{name: "unknown family", in: "bobs-runtime://1.0", want: Other, replaced: true},
		{name: "host as family", in: "node1.corp.example://1.0", want: Other, replaced: true},
		{name: "email as family", in: "bob@corp.example://1", want: Other, replaced: true},
		{name: "700 KB family", in: huge + "://1.0", want: Other, replaced: true},
		{name: "700 KB without scheme", in: huge, want: Other, replaced: true},
	}
	checkKind(t, Runtime, cases)
}

func TestDriver(t *testing.T) {
	cases := keeps("imported", "local", "rancherKubernetesEngine", "k3s", "k3os", "rke2", "rancherd",
		"AKS", "EKS", "GKE", "kubernetes", "linodekubernetesengine", "")
	cases = append(cases,
		cleanCase{name: "spelled as Rancher does", in: "eks", want: "EKS"},
		cleanCase{name: "camel case restored", in: "RancherKubernetesEngine", want: "rancherKubernetesEngine"},
	)
	cases = append(cases, refuses(hostile)...)
	cases = append(cases, refuses(map[string]string{
		"custom driver name": "bobs-own-driver",
		"provider-bob":       "provider-bob",
	})...)
	checkKind(t, Driver, cases)
}

func TestProvider(t *testing.T) {
	cases := keeps("rke2", "k3s", "eks", "aks", "gke", "rke", "rke.windows", "rke2.windows",
		"harvester", "minikube", "docker", "kapsule", "")
	cases = append(cases, cleanCase{name: "lowercases", in: "EKS", want: "eks"})
	cases = append(cases, refuses(hostile)...)
	cases = append(cases, refuses(map[string]string{
		"driver is no provider": "imported",
		"near a provider":       "rke2.corp",
	})...)
	checkKind(t, Provider, cases)
}

func TestFeature(t *testing.T) {
	cases := keeps("fleet", "harvester", "multi-cluster-management", "rke2", "uiextension", Other,
		strings.Repeat("a", 63))
	cases = append(cases, refuses(hostile)...)
	cases = append(cases, refuses(map[string]string{
		"empty":        "",
		"64 bytes":     strings.Repeat("a", 64),
		"upper case":   "Fleet",
		"underscore":   "multi_cluster",
		"dotted":       "feature.corp.example",
		"space inside": "fleet harvester",
	})...)
	checkKind(t, Feature, cases)
}

func TestUUID(t *testing.T) {
	cases := keeps("0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11", "", Other)
	cases = append(cases, cleanCase{name: "lowercases", in: "0B5C5F0E-6D0A-4F7E-9A43-1C9F3F6F2A11", want: "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11"})
	cases = append(cases, refuses(hostile)...)
	cases = append(cases, refuses(map[string]string{
		"no hyphens":     "0b5c5f0e6d0a4f7e9a431c9f3f6f2a11",
		"braces":         "{0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11}",
		"suffix":         "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11-bob",
		"non-hex":        "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2zzz",
		"cluster name":   "c-m-8kq2x7vd",
		"short group":    "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a1",
		"urn":            "urn:uuid:0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11",
		"leading glyphs": "x0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11",
	})...)
	checkKind(t, UUID, cases)
}

func TestCommit(t *testing.T) {
	cases := keeps("4f3c2a1", "0123456789abcdef0123456789abcdef01234567", "unknown", "", Other)
	cases = append(cases, cleanCase{name: "lowercases", in: "4F3C2A1", want: "4f3c2a1"})
	cases = append(cases, refuses(hostile)...)
	cases = append(cases, refuses(map[string]string{
		"six digits":  "4f3c2a",
		"41 digits":   "0123456789abcdef0123456789abcdef012345678",
		"dirty":       "4f3c2a1-dirty",
		"branch name": "bob/feature",
	})...)
	checkKind(t, Commit, cases)
}

func TestServerURL(t *testing.T) {
	checkKind(t, ServerURL, []cleanCase{
		{name: "plain", in: "https://rancher.example.com", want: "https://rancher.example.com"},
		{name: "port and path", in: "https://rancher.example.com:8443/dashboard", want: "https://rancher.example.com:8443/dashboard"},
		{name: "http", in: "http://10.0.0.5", want: "http://10.0.0.5"},
		{name: "ipv6", in: "https://[FD00::1]:443/", want: "https://[fd00::1]:443/"},
		{name: "host lowercased", in: "HTTPS://Rancher.Example.COM", want: "https://rancher.example.com"},
		{name: "userinfo cut", in: "https://admin:s3cret@rancher.example.com/", want: "https://rancher.example.com/"},
		{name: "query cut", in: "https://rancher.example.com/?token=abc", want: "https://rancher.example.com/"},
		{name: "fragment cut", in: "https://rancher.example.com/x#bob", want: "https://rancher.example.com/x"},
		{name: "at in path escaped", in: "https://rancher.example.com/bob@corp", want: "https://rancher.example.com/bob%40corp"},
		{name: "empty stays empty", in: "", want: ""},
		{name: "other scheme", in: "ftp://rancher.example.com", want: "", replaced: true},
		{name: "no scheme", in: "rancher.example.com", want: "", replaced: true},
		{name: "email", in: "mailto:bob@corp.example", want: "", replaced: true},
		{name: "host with underscore", in: "https://bob_host.example", want: "", replaced: true},
		{name: "no host", in: "https:///path", want: "", replaced: true},
		{name: "ipv6 zone", in: "https://[fe80::1%25eth0]/", want: "", replaced: true},
		{name: "port zero", in: "https://rancher.example.com:0", want: "", replaced: true},
		{name: "port too large", in: "https://rancher.example.com:65536", want: "", replaced: true},
		{name: "empty port", in: "https://rancher.example.com:", want: "", replaced: true},
		{name: "label over 63 bytes", in: "https://" + strings.Repeat("a", 64) + ".example", want: "", replaced: true},
		{name: "host over 253 bytes", in: "https://" + strings.Repeat("a.", 127) + "example", want: "", replaced: true},
		{name: "path over the limit", in: "https://rancher.example.com/" + strings.Repeat("a", ServerURLMaxLength), want: "", replaced: true},
		{name: "700 KB", in: "https://rancher.example.com/" + huge, want: "", replaced: true},
		{name: "not a URL", in: "Bob's server", want: "", replaced: true},
		{name: "control character", in: "https://rancher.example.com/\x7f", want: "", replaced: true},
	})
}

func TestReleaseCore(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"2.9.0", "2.9.0"},
		{"v2.12.1", "2.12.1"},
		{"2.9.0-alpha4", "2.9.0"},
		{"v2.12.1+up1", "2.12.1"},
		{"2.10.3-rc1.abc", "2.10.3"},
		{"V2.8.5", "2.8.5"},
		{" 2.8.5\n", "2.8.5"},
		{"10.20.30", "10.20.30"},
		{"2.12.1-" + huge, "2.12.1"},
		{"dev", ""},
		{"", ""},
		{"2.9", ""},
		{"2.9.0.1", ""},
		{"2.9.x", ""},
		{"vv2.9.0", ""},
		{"02.9.0", ""},
		{"2.9.0alpha4", ""},
		{"1234567.0.0", ""},
		{strings.Repeat("1", 700<<10), ""},
	}
	rule := CoreRule()
	for _, tt := range tests {
		t.Run(tt.raw[:min(len(tt.raw), 40)], func(t *testing.T) {
			got, ok := ReleaseCore(tt.raw)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("ReleaseCore(%.40q) = %q, %v; want %q", tt.raw, got, ok, tt.want)
			}
			if ok && !rule.Allows(got) {
				t.Errorf("ReleaseCore(%.40q) = %q, which CoreRule does not allow", tt.raw, got)
			}
		})
	}
}

// TestRulesRefuseHostile checks the rules themselves, which the schemas
// carry: none admits a hostile value written verbatim.
func TestRulesRefuseHostile(t *testing.T) {
	for _, k := range Kinds() {
		rule := RuleOf(k)
		for name, v := range hostile {
			if k == ServerURL && name == "url" {
				continue // the server URL is the one address a payload carries
			}
			if rule.Allows(v) {
				t.Errorf("rule of %s allows %s %.40q", k, name, v)
			}
		}
	}
	if CoreRule().Allows("2.9.0-alpha4") || CoreRule().Allows("10.88.7.6") {
		t.Error("CoreRule allows more than X.Y.Z")
	}
}

// TestPatternsAnchoredAndPortable checks that every pattern is anchored,
// since JSON Schema patterns are not, and uses only syntax that Go's
// regexp and ECMA-262 read alike.
func TestPatternsAnchoredAndPortable(t *testing.T) {
	rules := map[string]Rule{"core": CoreRule(), "extensionKey": ExtensionKeyRule()}
	for _, k := range Kinds() {
		rules[string(k)] = RuleOf(k)
	}
	portable := regexp.MustCompile(`^[\^$()|?*+.\[\]{}\\a-zA-Z0-9:,'!&;=~%/_-]*$`)
	for name, r := range rules {
		if r.Enum != nil {
			if r.Pattern != "" || r.MaxLength != 0 {
				t.Errorf("%s: rule has an enum and a pattern", name)
			}
			continue
		}
		if !strings.HasPrefix(r.Pattern, "^") || !strings.HasSuffix(r.Pattern, "$") {
			t.Errorf("%s: pattern %q is not anchored", name, r.Pattern)
		}
		if strings.Contains(r.Pattern, "(?") || !portable.MatchString(r.Pattern) {
			t.Errorf("%s: pattern %q uses syntax beyond the common subset", name, r.Pattern)
		}
		if r.MaxLength <= 0 {
			t.Errorf("%s: no maxLength", name)
		}
	}
}

func TestRuleOfReturnsACopy(t *testing.T) {
	r := RuleOf(Arch)
	r.Enum[0] = "bob"
	if RuleOf(Arch).Enum[0] == "bob" {
		t.Error("RuleOf returned the vocabulary itself")
	}
}

func TestUnknownKindPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Clean of an unknown kind did not panic")
		}
	}()
	Clean(Kind("hostname"), "x")
}
