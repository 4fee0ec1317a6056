package scctest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

func call(t *testing.T, s *Server, method, path, auth, token string, body any, accept string) *http.Response {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "test/1")
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if token != "" {
		req.Header.Set("System-Token", token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestServerChecksHeadersAuthAndTokens(t *testing.T) {
	s := New("CODE")
	defer s.Close()
	hw := map[string]any{"hostname": "https://rancher.example.com", "hwinfo": map[string]any{}}
	if r := call(t, s, "POST", "/connect/subscriptions/systems", "Token token=CODE", "", hw, "application/json"); r.StatusCode != http.StatusNotAcceptable {
		t.Errorf("wrong Accept: %d, want 406", r.StatusCode)
	}
	if r := call(t, s, "POST", "/connect/subscriptions/systems", "Token token=WRONG", "", hw, Accept); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown regcode: %d, want 401", r.StatusCode)
	}
	r := call(t, s, "POST", "/connect/subscriptions/systems", "Token token=CODE", "", hw, Accept)
	var creds struct {
		ID              int
		Login, Password string
	}
	if err := json.NewDecoder(r.Body).Decode(&creds); err != nil || r.StatusCode != http.StatusCreated || creds.Login == "" {
		t.Fatalf("announce: %d %+v %v", r.StatusCode, creds, err)
	}
	first := r.Header.Get("System-Token")
	basic := func(login, password string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(login, password)
		return req.Header.Get("Authorization")
	}
	if r := call(t, s, "GET", "/connect/systems/activations", basic(creds.Login, "wrong"), first, nil, Accept); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", r.StatusCode)
	}
	r = call(t, s, "GET", "/connect/systems/activations", basic(creds.Login, creds.Password), first, nil, Accept)
	second := r.Header.Get("System-Token")
	if r.StatusCode != http.StatusOK || second == "" || second == first {
		t.Fatalf("activations with the latest token: %d, token %q after %q: want 200 and a new token", r.StatusCode, second, first)
	}
	if r := call(t, s, "GET", "/connect/systems/activations", basic(creds.Login, creds.Password), first, nil, Accept); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("stale token: %d, want 401", r.StatusCode)
	}
	s.Fail("PUT", "/connect/systems", http.StatusTooManyRequests, "7", 1)
	r = call(t, s, "PUT", "/connect/systems", basic(creds.Login, creds.Password), second, hw, Accept)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "7" || r.Header.Get("System-Token") == "" {
		t.Errorf("injected 429: %d Retry-After %q token %q", r.StatusCode, r.Header.Get("Retry-After"), r.Header.Get("System-Token"))
	}
	if r := call(t, s, "GET", "/connect/nowhere", "", "", nil, Accept); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", r.StatusCode)
	}
}

func TestRequestsRecordHeadersAndBodies(t *testing.T) {
	s := New("CODE")
	defer s.Close()
	hw := map[string]any{"hostname": "https://rancher.example.com", "hwinfo": map[string]any{"version": "2.12.1"}}
	if r := call(t, s, "POST", "/connect/subscriptions/systems", "Token token=CODE", "", hw, Accept); r.StatusCode != http.StatusCreated {
		t.Fatalf("announce: %d, want 201: the recorded body must still reach the handler", r.StatusCode)
	}
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded, want 1", len(reqs))
	}
	want, _ := json.Marshal(hw)
	if got := reqs[0]; !bytes.Equal(got.Body, want) || got.Header.Get("Authorization") != "Token token=CODE" {
		t.Errorf("recorded body %s and Authorization %q, want %s and the token", got.Body, got.Header.Get("Authorization"), want)
	}
}
