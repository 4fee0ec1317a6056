package faults

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// writeProxy is a TLS reverse proxy in front of the API server. Once armed
// it holds every Secret write (create, update, patch, delete) until
// released, so that a test acts while a write of the manager is in flight.
// It records each write it forwards, of any resource, and counts the held
// writes whose client went away before they were released: those never
// reached the API server.
type writeProxy struct {
	srv  *httptest.Server
	held chan string // a Secret write is being held (its path)

	mu        sync.Mutex
	armed     bool
	release   chan struct{}
	forwarded []forwardedWrite
	abandoned int
}

type forwardedWrite struct {
	at           time.Time
	method, path string
	code         int // the API server's answer
}

// statusRecorder keeps the status code of the answer.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func isWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func startProxy(t *testing.T) *writeProxy {
	t.Helper()
	target, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rest.TransportFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		Transport:     tr,
		FlushInterval: -1, // watches stream
	}
	p := &writeProxy{held: make(chan string, 16), release: make(chan struct{})}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isWrite(r) {
			rp.ServeHTTP(w, r)
			return
		}
		// The body is read first: only then does the server notice a
		// client that goes away, and cancel r's context.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.Contains(r.URL.Path, "/secrets") && !p.hold(r) {
			return
		}
		at := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		rp.ServeHTTP(rec, r)
		p.mu.Lock()
		p.forwarded = append(p.forwarded, forwardedWrite{at, r.Method, r.URL.Path, rec.code})
		p.mu.Unlock()
	}))
	t.Cleanup(func() {
		p.releaseAll()
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

// kubeconfig returns a kubeconfig that talks to the API server through p.
func (p *writeProxy) kubeconfig(t *testing.T) string {
	t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	return writeKubeconfig(t, p.srv.URL, ca)
}

// hold keeps r while armed until release, and reports whether r is to be
// forwarded: false once its client has gone away.
func (p *writeProxy) hold(r *http.Request) bool {
	p.mu.Lock()
	armed, release := p.armed, p.release
	p.mu.Unlock()
	if !armed {
		return true
	}
	select {
	case p.held <- r.URL.Path:
	default:
	}
	select {
	case <-release:
	case <-r.Context().Done():
	}
	if r.Context().Err() != nil {
		p.mu.Lock()
		p.abandoned++
		p.mu.Unlock()
		return false
	}
	return true
}

// arm makes the proxy hold Secret writes from now on.
func (p *writeProxy) arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = true
}

// releaseAll disarms the proxy and lets every held write go on.
func (p *writeProxy) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed {
		p.armed = false
		close(p.release)
		p.release = make(chan struct{})
	}
}

// waitHeld waits until a Secret write is being held.
func (p *writeProxy) waitHeld(t *testing.T, bound time.Duration) string {
	t.Helper()
	select {
	case path := <-p.held:
		return path
	case <-time.After(bound):
		t.Fatalf("no Secret write reached the proxy within %v", bound)
		return ""
	}
}

// writesSince returns the writes forwarded at or after since, with the
// answer of the API server.
func (p *writeProxy) writesSince(since time.Time) []forwardedWrite {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []forwardedWrite
	for _, w := range p.forwarded {
		if !w.at.Before(since) {
			out = append(out, w)
		}
	}
	return out
}

// abandonedWrites returns how many held writes were given up by their client.
func (p *writeProxy) abandonedWrites() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.abandoned
}
