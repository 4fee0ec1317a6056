// Package http implements the http exporter: it POSTs the report to a
// collector with the protocol of pkg/protocol, which the README describes.
//
// Every request carries the report's Content-Type, a User-Agent naming the
// version, the Idempotency-Key of the uncompressed payload and an
// X-Telemetry-Signature over the exact bytes sent (gzip-compressed unless
// turned off), plus a bearer token when one is configured. The token and the
// signing key are read at each export from a Secret in the telemetry
// namespace, so a rotation takes effect at the next export.
//
// Answers map to the manager's retry kinds: any 2xx is a delivery; 429 and
// 503 with a Retry-After header wait that long (manager.RetryAfter); other
// 5xx, 429 and 503 without the header and network errors are plain errors,
// retried with backoff; 3xx and the other 4xx are permanent for the payload
// (manager.Permanent). Response bodies are read up to a cap, drained up to
// another and always closed.
package http

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
	"golang.org/x/net/http/httpproxy"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/exporters/internal/tlsconfig"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/version"
)

// Defaults of the exporter.
const (
	DefaultTimeout  = 30 * time.Second
	DefaultInterval = 24 * time.Hour
)

// Keys of the credentials Secret.
const (
	// KeyToken holds the bearer token; optional.
	KeyToken = "token"
	// KeySigningKey holds the signing key, at least protocol.MinKeyBytes
	// long. Several keys, one per line, each sign the request (a v1 entry
	// each), so that a collector can be given the new key before the old one
	// is dropped.
	KeySigningKey = "signingKey"
)

// Bounds of what is read from a collector's answer.
const (
	// maxBody is how much of an answer is read and looked at.
	maxBody = 64 << 10
	// maxDrain is how much more is read and discarded so that the
	// connection can be reused; a longer body closes it instead.
	maxDrain = 256 << 10
	// maxExcerpt is how many characters of an error body go into an error.
	maxExcerpt = 200
	// maxRetryAfter bounds a Retry-After in seconds before it becomes a
	// duration; the manager caps the wait much lower anyway.
	maxRetryAfter = 30 * 24 * time.Hour
)

var (
	// ErrInvalidURL marks a collector URL that is not http(s) with a host.
	ErrInvalidURL = errors.New("not a valid collector URL")
	// ErrCredentials means the credentials Secret is missing or unusable.
	ErrCredentials = errors.New("http exporter credentials unusable")
	// ErrCAFile means the CA file cannot be read or holds no certificate.
	ErrCAFile = errors.New("unusable CA file")
)

// CredentialsCache reads the credentials Secret, for example from an
// informer's cache (sources.NamedSecret). A missing Secret is a NotFound
// error.
type CredentialsCache interface {
	Get() (*corev1.Secret, error)
}

// Options configure an Exporter.
type Options struct {
	// URL receives the POST, e.g. https://collector.example.com/api/v1/reports.
	URL string
	// Timeout bounds each request, from connecting to reading the answer.
	// Default DefaultTimeout.
	Timeout time.Duration
	// Gzip compresses the body (Content-Encoding: gzip).
	Gzip bool
	// CAFile is a PEM file of CA certificates trusted besides the system's.
	CAFile string
	// Interval is how often the manager runs the exporter. A payload that
	// was delivered less than half of it ago is not sent again, so that a
	// Trigger (a change of the credentials Secret, a cache event that left
	// the report as it was) does not repeat a delivery. Zero: every run
	// sends.
	Interval time.Duration
	// SecretNamespace and SecretName name the credentials Secret, for
	// errors and logs; Credentials reads it.
	SecretNamespace string
	SecretName      string
	Credentials     CredentialsCache
	// Encoder renders the payload; its format must be one of
	// encoding.Formats(), whose schema every payload sent must pass.
	Encoder snapshot.Encoder
	// Proxy chooses the proxy of each request. Default: the HTTPS_PROXY,
	// HTTP_PROXY and NO_PROXY environment variables as they are when New
	// runs (see ProxyFromEnvironment).
	Proxy func(*http.Request) (*url.URL, error)
	// Clock gives the signature's time and the delivery age. Default real.
	Clock clock.PassiveClock
	Log   *logrus.Entry
}

// Exporter sends a report to a collector.
type Exporter struct {
	opts   Options
	url    string
	enc    snapshot.Encoder
	client *http.Client
	log    *logrus.Entry

	mu sync.Mutex
	// delivered is the Idempotency-Key of the last payload a collector
	// acknowledged, and deliveredAt when.
	delivered   string
	deliveredAt time.Time
}

// New returns an Exporter, checking every option at once. The CA file is
// read here: a new CA needs a restart.
func New(opts Options) (*Exporter, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Log == nil {
		opts.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if opts.Proxy == nil {
		opts.Proxy = ProxyFromEnvironment()
	}
	var errs []error
	if err := ValidateURL(opts.URL); err != nil {
		errs = append(errs, fmt.Errorf("http exporter: url: %w", err))
	}
	if opts.Timeout < 0 {
		errs = append(errs, fmt.Errorf("http exporter: timeout %s is negative", opts.Timeout))
	}
	if opts.Encoder == nil {
		errs = append(errs, errors.New("http exporter: no encoder"))
	} else if !slices.Contains(encoding.Formats(), opts.Encoder.Format()) {
		errs = append(errs, fmt.Errorf("http exporter: encoder: %w %q: no schema to validate it with", encoding.ErrUnknownFormat, opts.Encoder.Format()))
	}
	if opts.Credentials == nil || opts.SecretName == "" {
		errs = append(errs, errors.New("http exporter: no credentials Secret"))
	}
	transport, err := newTransport(opts)
	if err != nil {
		errs = append(errs, fmt.Errorf("http exporter: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Exporter{
		opts: opts,
		url:  opts.URL,
		enc:  encoding.Validating(opts.Encoder),
		client: &http.Client{
			Transport: transport,
			Timeout:   opts.Timeout,
			// A redirect of a POST either drops the body (301, 302, 303)
			// or sends it, signed and with the token, to a URL nobody
			// configured: the answer is returned as it is instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log: opts.Log.WithFields(logrus.Fields{"url": redact(opts.URL), "secret": opts.SecretNamespace + "/" + opts.SecretName}),
	}, nil
}

// ValidateURL checks a collector URL: http or https, with a host, without
// user information (the token belongs in the Secret) or fragment.
func ValidateURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("%w: empty", ErrInvalidURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	var problems []string
	if u.Scheme != "http" && u.Scheme != "https" {
		problems = append(problems, fmt.Sprintf("scheme %q is not http or https", u.Scheme))
	}
	if u.Hostname() == "" {
		problems = append(problems, "no host")
	}
	if u.User != nil {
		problems = append(problems, "user information is not allowed (put the token in the credentials Secret)")
	}
	if u.Fragment != "" {
		problems = append(problems, "a fragment is not allowed")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %q: %s", ErrInvalidURL, redact(raw), strings.Join(problems, "; "))
	}
	return nil
}

// redact returns raw without user information, query or fragment, for logs
// and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	return u.String()
}

// ProxyFromEnvironment returns a proxy function of the HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY variables (and their lowercase forms) as they are
// now. Unlike http.ProxyFromEnvironment, which reads them once per process,
// each call reads them again. As with http.ProxyFromEnvironment, requests
// to localhost and loopback addresses never use a proxy.
func ProxyFromEnvironment() func(*http.Request) (*url.URL, error) {
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
}

// newTransport clones http.DefaultTransport with the proxy of opts and, with
// a CA file, a pool of the system's CAs and the file's.
func newTransport(opts Options) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = opts.Proxy
	if opts.CAFile == "" {
		return t, nil
	}
	cfg, err := tlsconfig.WithCAFile(opts.CAFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCAFile, err)
	}
	t.TLSClientConfig = cfg
	return t, nil
}

// Close closes the idle connections to the collector.
func (e *Exporter) Close() { e.client.CloseIdleConnections() }

// Export sends the snapshot's report. A payload that fails its schema is not
// sent: the error wraps encoding.ErrInvalidPayload and is permanent until
// the snapshot changes.
func (e *Exporter) Export(ctx context.Context, s *snapshot.Snapshot) error {
	now := e.opts.Clock.Now()
	payload, err := e.enc.Encode(s, now)
	if err != nil {
		return manager.Permanent(fmt.Errorf("http exporter: encoding %s payload: %w", e.opts.Encoder.Format(), err))
	}
	key := protocol.IdempotencyKey(payload)

	e.mu.Lock()
	defer e.mu.Unlock()
	if key == e.delivered && e.opts.Interval > 0 && now.Sub(e.deliveredAt) < e.opts.Interval/2 {
		e.log.WithField("idempotency-key", key).Debug("report unchanged since its delivery: not sent again")
		return nil
	}
	token, keys, err := e.credentials()
	if err != nil {
		return err
	}
	body := payload
	if e.opts.Gzip {
		if body, err = compress(payload); err != nil {
			return fmt.Errorf("http exporter: compressing the report: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return manager.Permanent(fmt.Errorf("http exporter: building the request: %w", err))
	}
	req.Header.Set("Content-Type", protocol.ContentType)
	if e.opts.Gzip {
		req.Header.Set("Content-Encoding", protocol.EncodingGzip)
	}
	req.Header.Set("User-Agent", protocol.UserAgentPrefix+version.Version)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set(protocol.HeaderIdempotencyKey, key)
	req.Header.Set(protocol.HeaderSignature, protocol.Sign(now, body, keys...))

	resp, err := e.client.Do(req)
	if err != nil {
		// A network error or the timeout: retried with backoff. The
		// error names the URL as given, which has no user information.
		return fmt.Errorf("http exporter: sending the report: %w", err)
	}
	defer closeBody(resp.Body)
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil && resp.StatusCode/100 != 2 {
		return fmt.Errorf("http exporter: reading the answer %s: %w", resp.Status, err)
	}
	if err := e.answer(resp, head); err != nil {
		return err
	}
	e.delivered, e.deliveredAt = key, e.opts.Clock.Now()
	var acc protocol.Accepted
	_ = json.Unmarshal(head, &acc) // only for the log: any 2xx is a delivery
	e.log.WithFields(logrus.Fields{
		"status": resp.StatusCode, "bytes": len(body), "idempotency-key": key, "duplicate": acc.Duplicate,
	}).Info("report delivered")
	return nil
}

// answer maps a collector's answer to the error the manager retries by.
func (e *Exporter) answer(resp *http.Response, head []byte) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	err := &StatusError{Code: code, Status: resp.Status, Message: excerpt(head)}
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if d, ok := parseRetryAfter(resp.Header.Get(protocol.HeaderRetryAfter), e.opts.Clock.Now()); ok {
			err.RetryAfter = d
			return manager.RetryAfter(d, err)
		}
		return err
	case code >= 500:
		return err
	case code >= 300 && code < 400:
		err.Location = redact(resp.Header.Get("Location"))
		return manager.Permanent(err)
	case code >= 400:
		return manager.Permanent(err)
	}
	return err // 1xx that the client did not handle: retried
}

// StatusError is a collector's answer other than 2xx.
type StatusError struct {
	Code   int
	Status string // e.g. "400 Bad Request"
	// Message is a short, printable excerpt of the body: the error of a
	// {"error": ...} body, else its start.
	Message string
	// RetryAfter is the delay a 429 or 503 asked for; zero without one.
	RetryAfter time.Duration
	// Location is where a redirect pointed, which was not followed.
	Location string
}

func (e *StatusError) Error() string {
	msg := "collector answered " + e.Status
	if e.Status == "" {
		msg = "collector answered " + strconv.Itoa(e.Code)
	}
	if e.Location != "" {
		msg += " (redirect to " + strconv.Quote(e.Location) + " not followed: configure the final URL)"
	}
	if e.RetryAfter > 0 {
		msg += " (retry after " + e.RetryAfter.String() + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// credentials reads the token and signing keys from the Secret. A missing
// Secret or key is permanent: a change of the Secret triggers a run.
func (e *Exporter) credentials() (string, [][]byte, error) {
	ref := e.opts.SecretNamespace + "/" + e.opts.SecretName
	sec, err := e.opts.Credentials.Get()
	switch {
	case apierrors.IsNotFound(err):
		return "", nil, manager.Permanent(fmt.Errorf("%w: secret %s not found: create it with key %q (and optionally %q)", ErrCredentials, ref, KeySigningKey, KeyToken))
	case err != nil:
		// Not synced yet, or an error of the cache: retried.
		return "", nil, fmt.Errorf("http exporter: reading secret %s: %w", ref, err)
	}
	raw, ok := sec.Data[KeySigningKey]
	if !ok || len(bytes.TrimSpace(raw)) == 0 {
		return "", nil, manager.Permanent(fmt.Errorf("%w: secret %s has no key %q (at least %d bytes)", ErrCredentials, ref, KeySigningKey, protocol.MinKeyBytes))
	}
	keys, err := protocol.ParseKeys(raw)
	switch {
	case err != nil:
		return "", nil, manager.Permanent(fmt.Errorf("%w: secret %s key %q: %w", ErrCredentials, ref, KeySigningKey, err))
	case len(keys) == 0:
		return "", nil, manager.Permanent(fmt.Errorf("%w: secret %s key %q holds no key (only blank or comment lines)", ErrCredentials, ref, KeySigningKey))
	case len(keys) > protocol.MaxSignatures:
		return "", nil, manager.Permanent(fmt.Errorf("%w: secret %s key %q holds %d keys, at most %d", ErrCredentials, ref, KeySigningKey, len(keys), protocol.MaxSignatures))
	}
	token := strings.TrimSpace(string(sec.Data[KeyToken]))
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 0x21 || c > 0x7e {
			return "", nil, manager.Permanent(fmt.Errorf("%w: secret %s key %q: a token is printable ASCII without spaces", ErrCredentials, ref, KeyToken))
		}
	}
	return token, keys, nil
}

// compress returns payload gzip-compressed. The gzip header carries no name
// or time, so the same payload compresses to the same bytes.
func compress(payload []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(payload); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// closeBody discards up to maxDrain bytes of what is left of a body, so that
// the connection can be reused, and closes it.
func closeBody(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, maxDrain)
	_ = body.Close()
}

// parseRetryAfter reads a Retry-After value: a number of seconds or an HTTP
// date. A date in the past gives zero, which the manager retries with
// backoff.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		if n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}

// excerpt returns a short printable text of an error body: the error of a
// {"error": "..."} body, else the body's start. Control characters and
// invalid UTF-8 become spaces or are dropped, so a hostile body cannot forge
// log lines or flood an error.
func excerpt(body []byte) string {
	text := string(body)
	var e protocol.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		text = e.Error
	}
	text = strings.ToValidUTF8(text, "")
	var b strings.Builder
	n := 0
	space := false
	for _, r := range text {
		if n == maxExcerpt {
			b.WriteString("...")
			break
		}
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			r = ' '
		}
		if r == ' ' {
			if space || n == 0 {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}
