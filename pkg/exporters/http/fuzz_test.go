package http

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// fuzzNow is the clock of the fuzz targets.
var fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fuzzExporter(t *testing.T, c *creds) *Exporter {
	t.Helper()
	e, err := New(Options{URL: "https://c.example/api/v1/reports", Credentials: c, SecretNamespace: "cattle-telemetry-system", SecretName: "http-credentials",
		Encoder: report.New(reportKey), Clock: clocktesting.NewFakePassiveClock(fuzzNow)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func kindOf(err error) manager.RetryKind {
	var r *manager.RetryError
	if errors.As(err, &r) {
		return r.Kind
	}
	return manager.KindBackoff
}

// FuzzCredentials checks what the exporter takes from any credentials
// Secret: either a permanent ErrCredentials, or 1 to MaxSignatures signing
// keys, each a whole trimmed line of the Secret's key of at least
// MinKeyBytes and no comment, and a token of printable ASCII without
// blanks; a request signed with the keys verifies with each of them alone.
func FuzzCredentials(f *testing.F) {
	f.Fuzz(func(t *testing.T, signing, token []byte) {
		e := fuzzExporter(t, newCreds(string(token), signing))
		tok, keys, err := e.credentials()
		if err != nil {
			if !errors.Is(err, ErrCredentials) || kindOf(err) != manager.KindPermanent {
				t.Fatalf("refusal %v is not a permanent ErrCredentials", err)
			}
			return
		}
		if len(keys) == 0 || len(keys) > protocol.MaxSignatures {
			t.Fatalf("accepted %d keys", len(keys))
		}
		lines := strings.Split(string(signing), "\n")
		for _, k := range keys {
			found := false
			for _, l := range lines {
				found = found || strings.TrimSpace(l) == string(k)
			}
			if len(k) < protocol.MinKeyBytes || k[0] == '#' || !found || strings.TrimSpace(string(k)) != string(k) {
				t.Fatalf("accepted key %q of %q", k, signing)
			}
		}
		if strings.TrimSpace(string(token)) != tok {
			t.Fatalf("token %q of %q", tok, token)
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c > '~' {
				t.Fatalf("accepted token %q, which holds %q", tok, c)
			}
		}
		body := []byte(`{"schemaVersion":"3"}`)
		h := protocol.Sign(fuzzNow, body, keys...)
		for _, k := range keys {
			if err := protocol.Verify(h, body, fuzzNow, [][]byte{k}); err != nil {
				t.Fatalf("signature %q does not verify with key %q: %v", h, k, err)
			}
		}
	})
}

// FuzzAnswer checks what the exporter makes of any collector answer: a 2xx
// is success; 429 and 503 wait what a usable Retry-After says, within
// bounds, else back off; other 5xx back off; 3xx and other 4xx are
// permanent, a redirect's Location shown without user information, query
// or fragment; the message is a printable line of bounded length.
func FuzzAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, code int, retryAfter, location string, body []byte) {
		code = 100 + (code%500+500)%500
		e := fuzzExporter(t, newCreds("", signingKey))
		h := http.Header{}
		h.Set(protocol.HeaderRetryAfter, retryAfter)
		h.Set("Location", location)
		resp := &http.Response{StatusCode: code, Status: http.StatusText(code), Header: h, Body: io.NopCloser(bytes.NewReader(body))}
		err := e.answer(resp, body)
		if code >= 200 && code < 300 {
			if err != nil {
				t.Fatalf("%d: %v, want success", code, err)
			}
			return
		}
		var se *StatusError
		if !errors.As(err, &se) || se.Code != code {
			t.Fatalf("%d answer gave %v, want a *StatusError with the code", code, err)
		}
		msg := strings.TrimSuffix(se.Message, "...")
		if n := utf8.RuneCountInString(msg); n > maxExcerpt || !utf8.ValidString(msg) {
			t.Fatalf("message of %d runes: %q", n, se.Message)
		}
		for _, r := range msg {
			if !unicode.IsPrint(r) || r == utf8.RuneError {
				t.Fatalf("message holds %q: %q", r, se.Message)
			}
		}
		if se.RetryAfter < 0 || se.RetryAfter > maxRetryAfter {
			t.Fatalf("Retry-After %q gave %s", retryAfter, se.RetryAfter)
		}
		kind := kindOf(err)
		switch {
		case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
			if _, ok := parseRetryAfter(retryAfter, fuzzNow); ok != (kind == manager.KindRetryAfter) {
				t.Fatalf("%d with Retry-After %q is %q", code, retryAfter, kind)
			}
		case code >= 500 || code < 300:
			if kind != manager.KindBackoff || se.RetryAfter != 0 {
				t.Fatalf("%d is %q after %s, want backoff", code, kind, se.RetryAfter)
			}
		default:
			if kind != manager.KindPermanent || se.RetryAfter != 0 {
				t.Fatalf("%d is %q, want permanent", code, kind)
			}
		}
		if se.Location != "" {
			if code < 300 || code >= 400 {
				t.Fatalf("%d answer shows a Location %q", code, se.Location)
			}
			if u, err := url.Parse(se.Location); err == nil && (u.User != nil || u.RawQuery != "" || u.Fragment != "") {
				t.Fatalf("Location %q shown as %q, with user information, query or fragment", location, se.Location)
			}
		}
	})
}
