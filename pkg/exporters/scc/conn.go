package scc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/SUSE/connect-ng/pkg/connection"

	"github.com/rancher/telemetry-manager/pkg/exporters/internal/tlsconfig"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/version"
)

// Bounds of what is read from an SCC answer.
const (
	maxAnswer     = 1 << 20
	maxDrain      = 256 << 10
	maxExcerpt    = 200
	maxRetryAfter = 24 * time.Hour
)

// APIError is an SCC answer other than 2xx.
type APIError struct {
	Method, Path string
	Code         int
	// Message is a printable excerpt of SCC's error text.
	Message string
	// RetryAfter is the delay a 429 or 5xx asked for; zero without one.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("SCC answered %d %s to %s %s", e.Code, http.StatusText(e.Code), e.Method, e.Path)
	if e.RetryAfter > 0 {
		msg += " (retry after " + e.RetryAfter.String() + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// classify maps an error of an SCC call to the manager's retry kinds: 4xx
// other than 429 are permanent (a retry gets the same answer), 429 and 5xx
// honour Retry-After, and network errors are retried with backoff.
func classify(err error) error {
	var api *APIError
	if !errors.As(err, &api) {
		return err
	}
	switch {
	case api.Code == http.StatusTooManyRequests || api.Code >= 500:
		if api.RetryAfter > 0 {
			return manager.RetryAfter(api.RetryAfter, err)
		}
		return err
	default:
		return manager.Permanent(err)
	}
}

// isCode reports whether err is an SCC answer with one of the codes.
func isCode(err error, codes ...int) bool {
	var api *APIError
	if !errors.As(err, &api) {
		return false
	}
	for _, c := range codes {
		if api.Code == c {
			return true
		}
	}
	return false
}

// conn is a connection.Connection that connect-ng's registration calls run
// on. Requests are built by connect-ng (URL, Accept, Content-Type,
// User-Agent); Do is this package's own, because connect-ng's builds a new
// transport per request that trusts only one extra CA certificate, and
// returns no response header, so that a Retry-After is lost. Do also keeps
// the last failure: registration.Status reports a failed keepalive as
// "unregistered" without its error.
type conn struct {
	ctx    context.Context
	api    connection.ApiConnection
	client *http.Client
	creds  connection.Credentials
	last   error
}

var _ connection.Connection = (*conn)(nil)

func newConn(ctx context.Context, url string, client *http.Client, creds connection.Credentials) *conn {
	opts := connection.DefaultOptions("telemetry-manager", version.Version, "")
	opts.URL = url
	return &conn{ctx: ctx, api: connection.ApiConnection{Options: opts, Credentials: creds}, client: client, creds: creds}
}

func (c *conn) BuildRequest(verb, path string, body any) (*http.Request, error) {
	return c.api.BuildRequest(verb, path, body)
}

func (c *conn) BuildRequestRaw(verb, path string, body io.Reader) (*http.Request, error) {
	return c.api.BuildRequestRaw(verb, path, body)
}

func (c *conn) GetCredentials() connection.Credentials { return c.creds }

// Do sends the request with the latest System-Token, keeps the one of the
// answer, and returns the answer's body, or an *APIError.
func (c *conn) Do(req *http.Request) ([]byte, error) {
	c.last = nil
	body, err := c.do(req)
	c.last = err
	return body, err
}

func (c *conn) do(req *http.Request) ([]byte, error) {
	// A call is not cut short when the run is cancelled (a shutdown): SCC
	// may have rotated the System-Token already, and only a finished call
	// stores the new one. The client's timeout bounds it.
	req = req.WithContext(context.WithoutCancel(c.ctx))
	if token, err := c.creds.Token(); err != nil {
		return nil, err
	} else if token != "" {
		req.Header.Set("System-Token", token)
	}
	path := req.URL.Path
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("SCC %s %s: %w", req.Method, path, redactURLError(err))
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
		_ = resp.Body.Close()
	}()
	// The token of an error answer is the latest too.
	if token := resp.Header.Get("System-Token"); token != "" {
		if err := c.creds.UpdateToken(token); err != nil {
			return nil, fmt.Errorf("storing the System-Token of %s %s: %w", req.Method, path, err)
		}
	}
	limited := &http.Response{StatusCode: resp.StatusCode, Status: resp.Status, Body: io.NopCloser(io.LimitReader(resp.Body, maxAnswer))}
	if apiErr := connection.ErrorFromResponse(limited); apiErr != nil {
		e := &APIError{Method: req.Method, Path: path, Code: resp.StatusCode, Message: excerpt(apiMessage(apiErr, resp.Status))}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return nil, e
	}
	data, err := io.ReadAll(limited.Body)
	if err != nil {
		return nil, fmt.Errorf("SCC %s %s: reading the answer: %w", req.Method, path, err)
	}
	return data, nil
}

// apiMessage returns SCC's error text, without the status line that
// connect-ng puts in when the body is no JSON.
func apiMessage(e *connection.ApiError, status string) string {
	msg := e.LocalizedMessage
	if msg == "" {
		msg = e.Message
	}
	if msg == status {
		return ""
	}
	return msg
}

// redactURLError drops the URL from a *url.Error: a registration URL may
// carry user information.
func redactURLError(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date;
// zero when there is none.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// excerpt returns a short printable text, so that an answer cannot forge
// log lines or flood an error.
func excerpt(s string) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxExcerpt {
			b.WriteString("...")
			break
		}
		if !unicode.IsPrint(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// newClient returns the HTTP client of every SCC call: a clone of
// http.DefaultTransport (proxy from the environment) trusting, with a CA
// file, the system's CAs and every certificate of the file.
func newClient(caFile string, timeout time.Duration) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		cfg, err := tlsconfig.WithCAFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCAFile, err)
		}
		t.TLSClientConfig = cfg
	}
	return &http.Client{
		Transport: t,
		Timeout:   timeout,
		// Basic credentials must not follow a redirect to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
