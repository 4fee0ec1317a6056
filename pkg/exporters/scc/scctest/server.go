// Package scctest is a stand-in for the SUSE Customer Center connect API,
// for tests: an httptest TLS server that implements the endpoints and the
// authentication that the README and DESIGN describe, and nothing else.
//
//	POST   /connect/subscriptions/systems  Authorization: Token token=<regcode>  {hostname, hwinfo} -> {id, login, password}
//	POST   /connect/systems/products       Basic login:password  {identifier, version, arch, token}
//	GET    /connect/systems/activations    Basic
//	PUT    /connect/systems                Basic  {hostname, hwinfo}
//	DELETE /connect/systems                Basic
//
// Every request must carry Accept application/json,application/vnd.scc.suse.com.v4+json
// and a User-Agent; one with a body, Content-Type application/json. Every
// answer to a known system carries a new System-Token, and a Basic-auth
// request whose System-Token is not the latest one is refused with 401.
// Fail makes the next answers to one endpoint a chosen error.
package scctest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Accept is the Accept header every request must carry.
const Accept = "application/json,application/vnd.scc.suse.com.v4+json"

var versionPattern = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

// maxBody bounds the request body the server reads and records.
const maxBody = 4 << 20

// System is a system as the server knows it.
type System struct {
	ID       int
	Login    string
	Password string
	// Token is the latest System-Token handed out.
	Token    string
	RegCode  string
	Hostname string
	// HWInfo is the hwinfo of the announce or of the latest keepalive.
	HWInfo     map[string]any
	Products   []Product
	Keepalives int
}

// Product is an activated product.
type Product struct {
	Identifier, Version, Arch string
}

// Request is one request as received.
type Request struct {
	Method, Path string
	Status       int
	// Header and Body are the request's headers and body, as sent.
	Header http.Header
	Body   []byte
}

type failure struct {
	code       int
	retryAfter string
	times      int
}

// Server is the stand-in.
type Server struct {
	*httptest.Server

	mu sync.Mutex
	// regCodes are the valid registration codes.
	regCodes map[string]bool
	systems  map[string]*System // by login
	deleted  []*System
	nextID   int
	fail     map[string]*failure // by "METHOD path"
	requests []Request
	// ExpiresAt is the expiry of every activation.
	expiresAt time.Time
	hook      func(method, path string)
}

// OnRequest calls f with every request's method and path before it is
// answered, for example to cancel a client's context mid-call.
func (s *Server) OnRequest(f func(method, path string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = f
}

// New starts a TLS server that accepts the given registration codes.
func New(regCodes ...string) *Server {
	s := &Server{
		regCodes:  map[string]bool{},
		systems:   map[string]*System{},
		fail:      map[string]*failure{},
		nextID:    1000,
		expiresAt: time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second),
	}
	for _, c := range regCodes {
		s.regCodes[c] = true
	}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// CAPEM returns the PEM of the server's certificate, to trust it.
func (s *Server) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

// SetExpiresAt sets the expiry of the activations.
func (s *Server) SetExpiresAt(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiresAt = t.UTC().Truncate(time.Second)
}

// Fail makes the next times answers to method path the code, with a
// Retry-After header when retryAfter is not empty.
func (s *Server) Fail(method, path string, code int, retryAfter string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method+" "+path] = &failure{code: code, retryAfter: retryAfter, times: times}
}

// Systems returns a copy of the registered systems.
func (s *Server) Systems() []System {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copySystems(slices.Collect(maps.Values(s.systems)))
}

// Deleted returns a copy of the deregistered systems.
func (s *Server) Deleted() []System {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copySystems(s.deleted)
}

func copySystems(systems []*System) []System {
	out := make([]System, 0, len(systems))
	for _, sys := range systems {
		c := *sys
		c.Products = append([]Product(nil), sys.Products...)
		out = append(out, c)
	}
	return out
}

// Requests returns the requests received, in order, with their headers and
// bodies.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests to method path were answered with code.
func (s *Server) Count(method, path string, code int) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path && r.Status == code {
			n++
		}
	}
	return n
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	if s.hook != nil {
		s.hook(r.Method, r.URL.Path)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		answer(rec, http.StatusBadRequest, map[string]string{"error": "reading the body: " + err.Error()})
	} else {
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.route(rec, r)
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: rec.status, Header: r.Header.Clone(), Body: body})
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Accept") != Accept {
		answer(w, http.StatusNotAcceptable, map[string]string{"error": "Accept must be " + Accept})
		return
	}
	if r.Header.Get("User-Agent") == "" {
		answer(w, http.StatusBadRequest, map[string]string{"error": "no User-Agent"})
		return
	}
	if (r.Method == http.MethodPost || r.Method == http.MethodPut) && r.Header.Get("Content-Type") != "application/json" {
		answer(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
		return
	}
	key := r.Method + " " + r.URL.Path
	switch key {
	case "POST /connect/subscriptions/systems":
		s.announce(w, r)
		return
	case "POST /connect/systems/products", "GET /connect/systems/activations", "PUT /connect/systems", "DELETE /connect/systems":
	default:
		answer(w, http.StatusNotFound, map[string]string{"error": "no route " + key})
		return
	}
	sys, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if s.injected(w, key, sys) {
		return
	}
	switch key {
	case "POST /connect/systems/products":
		s.activate(w, r, sys)
	case "GET /connect/systems/activations":
		s.activations(w, sys)
	case "PUT /connect/systems":
		s.keepalive(w, r, sys)
	case "DELETE /connect/systems":
		s.rotate(w, sys)
		delete(s.systems, sys.Login)
		s.deleted = append(s.deleted, sys)
		w.WriteHeader(http.StatusNoContent)
	}
}

// injected answers an error chosen with Fail, and reports whether it did.
func (s *Server) injected(w http.ResponseWriter, key string, sys *System) bool {
	f := s.fail[key]
	if f == nil || f.times == 0 {
		return false
	}
	f.times--
	if sys != nil {
		s.rotate(w, sys)
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	answer(w, f.code, map[string]string{"error": fmt.Sprintf("injected %d", f.code)})
	return true
}

// authenticate checks Basic credentials and the System-Token.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*System, bool) {
	login, password, ok := r.BasicAuth()
	sys := s.systems[login]
	if !ok || sys == nil || sys.Password != password {
		answer(w, http.StatusUnauthorized, map[string]string{"error": "Invalid system credentials"})
		return nil, false
	}
	if got := r.Header.Get("System-Token"); got != sys.Token {
		answer(w, http.StatusUnauthorized, map[string]string{"error": "stale or missing System-Token"})
		return nil, false
	}
	return sys, true
}

func (s *Server) announce(w http.ResponseWriter, r *http.Request) {
	code, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Token token=")
	if !ok || !s.regCodes[code] {
		answer(w, http.StatusUnauthorized, map[string]string{"error": "Unknown Registration Code."})
		return
	}
	if s.injected(w, "POST /connect/subscriptions/systems", nil) {
		return
	}
	var body struct {
		Hostname string         `json:"hostname"`
		HWInfo   map[string]any `json:"hwinfo"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Hostname == "" {
		answer(w, http.StatusUnprocessableEntity, map[string]string{"error": "hostname and hwinfo required"})
		return
	}
	s.nextID++
	sys := &System{ID: s.nextID, Login: "SCC_" + random(), Password: random(), RegCode: code, Hostname: body.Hostname, HWInfo: body.HWInfo}
	s.systems[sys.Login] = sys
	s.rotate(w, sys)
	answer(w, http.StatusCreated, map[string]any{"id": sys.ID, "login": sys.Login, "password": sys.Password})
}

func (s *Server) activate(w http.ResponseWriter, r *http.Request, sys *System) {
	s.rotate(w, sys)
	var body struct {
		Identifier string `json:"identifier"`
		Version    string `json:"version"`
		Arch       string `json:"arch"`
		Token      string `json:"token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		answer(w, http.StatusUnprocessableEntity, map[string]string{"error": "invalid JSON"})
		return
	}
	switch {
	case body.Identifier == "" || body.Arch == "":
		answer(w, http.StatusUnprocessableEntity, map[string]string{"error": "identifier and arch required"})
		return
	case !versionPattern.MatchString(body.Version):
		answer(w, http.StatusUnprocessableEntity, map[string]string{"error": "No product found"})
		return
	case !s.regCodes[body.Token]:
		answer(w, http.StatusUnprocessableEntity, map[string]string{"error": "Unknown Registration Code."})
		return
	}
	p := Product{Identifier: body.Identifier, Version: body.Version, Arch: body.Arch}
	sys.Products = append(sys.Products, p)
	answer(w, http.StatusCreated, map[string]any{
		"id": 1, "name": "SUSE Rancher Prime", "url": "",
		"product": map[string]any{"id": 1, "identifier": p.Identifier, "version": p.Version, "arch": p.Arch, "name": "SUSE Rancher Prime"},
	})
}

func (s *Server) activations(w http.ResponseWriter, sys *System) {
	s.rotate(w, sys)
	list := []any{}
	for _, p := range sys.Products {
		list = append(list, map[string]any{
			"id": 1, "regcode": sys.RegCode, "type": "full", "status": "ACTIVE",
			"starts_at": s.expiresAt.Add(-365 * 24 * time.Hour).Format(time.RFC3339), "expires_at": s.expiresAt.Format(time.RFC3339),
			"system_id": sys.ID,
			"service": map[string]any{"id": 1, "name": "SUSE Rancher Prime", "product": map[string]any{
				"id": 1, "identifier": p.Identifier, "version": p.Version, "arch": p.Arch, "name": "SUSE Rancher Prime",
			}},
		})
	}
	answer(w, http.StatusOK, list)
}

func (s *Server) keepalive(w http.ResponseWriter, r *http.Request, sys *System) {
	s.rotate(w, sys)
	var body struct {
		Hostname string         `json:"hostname"`
		HWInfo   map[string]any `json:"hwinfo"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Hostname == "" {
		answer(w, http.StatusUnprocessableEntity, map[string]string{"error": "hostname and hwinfo required"})
		return
	}
	sys.Hostname, sys.HWInfo = body.Hostname, body.HWInfo
	sys.Keepalives++
	w.WriteHeader(http.StatusNoContent)
}

// rotate hands the system a new System-Token.
func (s *Server) rotate(w http.ResponseWriter, sys *System) {
	sys.Token = random()
	w.Header().Set("System-Token", sys.Token)
}

func answer(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func random() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
