package scc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rancher/telemetry-manager/pkg/manager"
)

// fuzzNow is the clock of the certificate fuzz target: its seed
// certificates (signed with testdata/fuzz-signing-key.pem) expire before
// or after it.
var fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fuzzKey is the key the seed certificates of FuzzVerifyCertificate are
// signed with: a fixed one, so that the committed corpus verifies.
var fuzzKey = sync.OnceValue(func() *rsa.PrivateKey {
	raw, err := os.ReadFile("testdata/fuzz-signing-key.pem")
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		panic("testdata/fuzz-signing-key.pem holds no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		panic(err)
	}
	return k.(*rsa.PrivateKey)
})

// signedPayload decodes, apart from connect-ng, what the certificate's
// signature covers: the payload member, base64 of the grant. It fails t
// unless the signature verifies with key over sha256 of that base64 text.
func signedPayload(t *testing.T, text string, key *rsa.PublicKey) (grant struct {
	Login        string `json:"login"`
	Password     string `json:"password"`
	Subscription struct {
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"subscription"`
	HashedRegcode string `json:"hashed_regcode"`
	HashedUUID    string `json:"hashed_uuid"`
},
) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		t.Fatalf("accepted a certificate that is no base64: %v", err)
	}
	var doc struct {
		Payload   string `json:"payload"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("accepted a certificate that is no JSON document: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(doc.Signature))
	if err != nil {
		t.Fatalf("accepted a signature that is no base64: %v", err)
	}
	digest := sha256.Sum256([]byte(doc.Payload))
	if err := rsa.VerifyPSS(key, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
		t.Fatalf("accepted a certificate whose signature does not verify: %v", err)
	}
	plain, err := base64.StdEncoding.DecodeString(doc.Payload)
	if err != nil {
		t.Fatalf("accepted a payload that is no base64: %v", err)
	}
	if err := json.Unmarshal(plain, &grant); err != nil {
		t.Fatalf("accepted a payload that is no JSON grant: %v", err)
	}
	return grant
}

// FuzzVerifyCertificate checks VerifyCertificate against what DESIGN
// section 9 says makes an offline certificate valid, checked apart from
// connect-ng: a certificate it accepts carries an RSA-PSS signature by the
// configured key over its payload, and the signed payload (not some other
// member of the document) grants this install UUID, the regCode when both
// are known, and an expiry after now; what it returns is what that payload
// says; another key refuses it. Every refusal wraps ErrCertificate.
func FuzzVerifyCertificate(f *testing.F) {
	f.Fuzz(func(t *testing.T, text, uuid, regCode string) {
		key := &fuzzKey().PublicKey
		got, err := VerifyCertificate(text, key, uuid, regCode, fuzzNow)
		if err != nil {
			if !errors.Is(err, ErrCertificate) {
				t.Fatalf("error %v does not wrap ErrCertificate", err)
			}
			return
		}
		grant := signedPayload(t, text, key)
		if !grant.Subscription.ExpiresAt.After(fuzzNow) {
			t.Fatalf("accepted a certificate that expired at %s", grant.Subscription.ExpiresAt)
		}
		if grant.HashedUUID != hashHex(uuid) {
			t.Fatalf("accepted a certificate for hashed_uuid %q, not install %q", grant.HashedUUID, uuid)
		}
		if regCode != "" && grant.HashedRegcode != "" && grant.HashedRegcode != hashHex(regCode) {
			t.Fatalf("accepted a certificate for hashed_regcode %q, not regCode %q", grant.HashedRegcode, regCode)
		}
		if got.Login != grant.Login || got.Password != grant.Password || !got.ExpiresAt.Equal(grant.Subscription.ExpiresAt) {
			t.Fatalf("returned %q, %q, %s; the signed payload says %q, %q, %s", got.Login, got.Password, got.ExpiresAt, grant.Login, grant.Password, grant.Subscription.ExpiresAt)
		}
		if _, err := VerifyCertificate(text, &testKey.PublicKey, uuid, regCode, fuzzNow); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("another key gave %v, want ErrBadSignature", err)
		}
	})
}

// fuzzCreds is the system credentials of FuzzAnswer: it records the token.
type fuzzCreds struct{ token string }

func (c *fuzzCreds) HasAuthentication() bool               { return true }
func (c *fuzzCreds) Token() (string, error)                { return c.token, nil }
func (c *fuzzCreds) UpdateToken(token string) error        { c.token = token; return nil }
func (c *fuzzCreds) Login() (string, string, error)        { return "SCC_1", "secret", nil }
func (c *fuzzCreds) SetLogin(login, password string) error { return nil }

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzAnswer checks what a call makes of any SCC answer: a 2xx gives its
// body; any other code an *APIError with that code, a printable one-line
// message of bounded length, and a Retry-After within bounds only for 429
// and 5xx; 4xx other than 429 are permanent, the rest retried. The
// answer's System-Token, when there is one, is the one kept.
func FuzzAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, code int, retryAfter, token string, body []byte) {
		code = 100 + (code%500+500)%500
		creds := &fuzzCreds{token: "previous"}
		client := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Header.Get("System-Token") != "previous" {
				t.Errorf("request sent System-Token %q, want the stored one", r.Header.Get("System-Token"))
			}
			h := http.Header{}
			h.Set("Retry-After", retryAfter)
			h.Set("System-Token", token)
			return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}
		c := newConn(context.Background(), "https://scc.example", client, creds)
		req, err := c.BuildRequest(http.MethodPut, "/connect/systems", map[string]string{"hostname": "x"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Do(req)
		if wantToken := token; wantToken == "" && creds.token != "previous" || wantToken != "" && creds.token != wantToken {
			t.Fatalf("kept System-Token %q after an answer with %q", creds.token, token)
		}
		if code >= 200 && code < 300 {
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%d answer: %q, %v; want the body", code, got, err)
			}
			return
		}
		var api *APIError
		if !errors.As(err, &api) || api.Code != code {
			t.Fatalf("%d answer gave %v, want an *APIError with the code", code, err)
		}
		msg := strings.TrimSuffix(api.Message, "...")
		if n := utf8.RuneCountInString(msg); n > maxExcerpt || !utf8.ValidString(msg) {
			t.Fatalf("message of %d runes (valid UTF-8: %v): %q", n, utf8.ValidString(msg), api.Message)
		}
		for _, r := range msg {
			if !unicode.IsPrint(r) {
				t.Fatalf("message holds %q: %q", r, api.Message)
			}
		}
		retried := code == http.StatusTooManyRequests || code >= 500
		if api.RetryAfter < 0 || api.RetryAfter > maxRetryAfter || !retried && api.RetryAfter != 0 {
			t.Fatalf("%d answer with Retry-After %q: retry after %s", code, retryAfter, api.RetryAfter)
		}
		kind, after := retryKindOf(classify(err))
		switch {
		case !retried && kind != manager.KindPermanent:
			t.Fatalf("%d answer is %q, want permanent", code, kind)
		case retried && api.RetryAfter > 0 && (kind != manager.KindRetryAfter || after != api.RetryAfter):
			t.Fatalf("%d answer with Retry-After %q is %q after %s, want retry-after %s", code, retryAfter, kind, after, api.RetryAfter)
		case retried && api.RetryAfter == 0 && kind != manager.KindBackoff:
			t.Fatalf("%d answer without a usable Retry-After is %q, want backoff", code, kind)
		}
	})
}
