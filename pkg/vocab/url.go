package vocab

import (
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Server URL grammar: http or https, a host that is a DNS name (lowercase
// labels of letters, digits and inner hyphens, which IPv4 literals also
// are) or a bracketed IPv6 literal, an optional port without leading zero,
// and an optional path of RFC 3986 path characters, "@" excepted (it is
// escaped). No userinfo, query or fragment.
const (
	urlLabel = `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`
	urlHost  = `(` + urlLabel + `(\.` + urlLabel + `)*|\[[0-9a-f:.]{2,45}\])`

	serverURLPattern = `^(https?://` + urlHost + `(:[1-9][0-9]{0,4})?(/[A-Za-z0-9._~!$&'()*+,;=:%/-]*)?)?$`
)

var (
	serverURLRE = regexp.MustCompile(serverURLPattern)
	dnsNameRE   = regexp.MustCompile(`^` + urlLabel + `(\.` + urlLabel + `)*$`)
)

// cleanServerURL cuts a server URL to scheme, host, port and path:
// "https://user:pw@Rancher.Example.com:8443/x?token=1#f" gives
// "https://rancher.example.com:8443/x". The host is lowercased; an IPv6
// literal is written in its canonical form. A URL that does not parse, has
// another scheme than http or https, a host that is no DNS name (at most
// 253 bytes) or IP literal, an IPv6 zone, a bad port, or a result over
// ServerURLMaxLength is replaced by "".
func cleanServerURL(raw string) (string, bool) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", false
	}
	if len(s) > 4*ServerURLMaxLength { // before parsing: the input may be huge
		return "", true
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", true
	}
	host, ok := cleanHost(u.Hostname())
	if !ok {
		return "", true
	}
	out := u.Scheme + "://" + host
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", true
		}
		out += ":" + strconv.Itoa(n)
	} else if strings.HasSuffix(u.Host, ":") {
		return "", true
	}
	out += strings.ReplaceAll(u.EscapedPath(), "@", "%40")
	if len(out) > ServerURLMaxLength || !serverURLRE.MatchString(out) {
		return "", true
	}
	return out, false
}

// cleanHost returns the host as the URL is to carry it: an IP literal in
// canonical form (IPv6 in brackets), else a lowercase DNS name of at most
// HostMaxLength bytes.
func cleanHost(h string) (string, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", false
		}
		if a.Is4() {
			return a.String(), true
		}
		return "[" + a.String() + "]", true
	}
	h = strings.ToLower(h)
	if h == "" || len(h) > HostMaxLength || !dnsNameRE.MatchString(h) {
		return "", false
	}
	return h, true
}
