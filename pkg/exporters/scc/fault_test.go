package scc

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// proxy forwards TCP connections from a loopback port to the stand-in. It
// can stop listening, so that SCC looks down (connections refused), and
// listen again on the same port.
type proxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	ln.Close()
	p.up()
	t.Cleanup(func() {
		p.down()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) up() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 100 { // the port of the last down may be closing still
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *proxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, s)
		p.mu.Unlock()
	}()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(s, c); s.Close() })
	_, _ = io.Copy(c, s)
	c.Close()
	wg.Wait()
}

// down closes the listener and every forwarded connection.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// waitRun waits until the manager's loop of the scc exporter waits for its
// next run with more than before runs done, and returns its status.
func waitRun(t *testing.T, m *manager.Manager, before int) manager.Status {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _ := m.Status("scc")
		if st.Runs > before && !st.InFlight && !st.NextRun.IsZero() {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for run %d (status %+v)", before+1, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSCCUnavailableForAnHour: after a registration, SCC answers every
// keepalive with 500, or is down (connections refused), for an hour of the
// manager's fake clock. The manager's backoff holds: a bounded number of
// keepalive attempts, at growing intervals up to the cap. The system's
// credentials stay in their Secret, with the latest System-Token, and the
// system stays registered; once SCC is back, the next retry's keepalive
// is accepted with those credentials.
func TestSCCUnavailableForAnHour(t *testing.T) {
	for _, mode := range []string{"answers 500", "down"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			px := newProxy(t, strings.TrimPrefix(f.srv.URL, "https://"))
			f.setEntry(map[string]string{KeyRegCode: regCode, KeyRegistrationURL: "https://" + px.addr})
			var current atomic.Pointer[snapshot.Snapshot]
			current.Store(snap(3))
			m := manager.New(manager.SourceFunc(func() (*snapshot.Snapshot, error) { return current.Load(), nil }), manager.Options{
				Clock: f.clock, Log: f.exp.log, Rand: func() float64 { return 0.5 },
			})
			if err := m.Register("scc", f.exp, Interval); err != nil {
				t.Fatal(err)
			}
			if err := m.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Stop)

			st := waitRun(t, m, 0)
			if st.LastError != nil {
				t.Fatalf("registration: %v", st.LastError)
			}
			sys := f.onlySystem()
			login, password := sys.Login, sys.Password

			// SCC fails; the figures change, so a keepalive is due now.
			switch mode {
			case "answers 500":
				f.srv.Fail(http.MethodPut, "/connect/systems", http.StatusInternalServerError, "", 1<<30)
			case "down":
				px.down()
			}
			current.Store(snap(5))
			m.Trigger("scc")
			deadline := time.Now().Add(60 * time.Second)
			for st, _ = m.Status("scc"); !st.NextRun.Equal(f.clock.Now().Add(manager.DefaultDebounce)); st, _ = m.Status("scc") {
				if time.Now().After(deadline) {
					t.Fatalf("the Trigger's run is not due (status %+v)", st)
				}
				time.Sleep(10 * time.Millisecond)
			}
			requestsBefore := len(f.srv.Requests())
			runsBefore := st.Runs
			hourEnd := st.NextRun.Add(time.Hour)
			var delays []time.Duration
			for {
				f.clock.SetTime(st.NextRun)
				st = waitRun(t, m, st.Runs)
				if st.LastError == nil {
					t.Fatalf("run %d succeeded while SCC %s", st.Runs, mode)
				}
				if st.NextRun.After(hourEnd) {
					break
				}
				delays = append(delays, st.NextRun.Sub(f.clock.Now()))
			}
			failed := st.Runs - runsBefore
			t.Logf("%d failed runs in an hour; retry delays %v; last error: %v", failed, delays, st.LastError)

			// 5s doubling to the 5m cap (jitter 5% here): 17 runs fit in
			// an hour.
			if failed > 18 {
				t.Errorf("%d keepalive attempts in an hour, want at most 18", failed)
			}
			for i, d := range delays {
				if i > 0 && d < delays[i-1] {
					t.Errorf("retry delays %v shrink at %d", delays, i)
				}
				if d > manager.DefaultBackoffMax {
					t.Errorf("retry delay %v over the cap %v", d, manager.DefaultBackoffMax)
				}
			}
			if len(delays) == 0 || delays[0] < manager.DefaultBackoffBase || delays[len(delays)-1] != manager.DefaultBackoffMax {
				t.Errorf("retry delays %v: want them to start at %v and reach the cap %v", delays, manager.DefaultBackoffBase, manager.DefaultBackoffMax)
			}
			if st.RetryKind != manager.KindBackoff || !strings.Contains(st.LastError.Error(), "keepalive") {
				t.Errorf("status %+v: want a keepalive failure retried with backoff", st)
			}
			if mode == "answers 500" {
				reqs := f.srv.Requests()[requestsBefore:]
				if n := f.srv.Count(http.MethodPut, "/connect/systems", http.StatusInternalServerError); len(reqs) != failed || n != failed {
					t.Errorf("SCC got %d requests (%d failed keepalives) in %d runs, want one keepalive a run", len(reqs), n, failed)
				}
			}

			// Kept: the system at SCC, its credentials with the latest
			// System-Token, the registered state.
			sys = f.onlySystem()
			c := f.creds()
			if string(c.Data[KeyLogin]) != login || string(c.Data[KeyPassword]) != password || string(c.Data[KeySystemToken]) != sys.Token {
				t.Error("the credentials Secret lost the login, the password or the latest System-Token")
			}
			if s := f.status(); s.State != StateRegistered || !strings.Contains(s.LastError, "keepalive") {
				t.Errorf("status %+v: want registered, with the keepalive failure as the last error", s)
			}
			if len(f.srv.Deleted()) != 0 {
				t.Error("the system was deregistered")
			}

			// SCC is back: the next retry's keepalive goes through.
			switch mode {
			case "answers 500":
				f.srv.Fail(http.MethodPut, "/connect/systems", http.StatusInternalServerError, "", 0)
			case "down":
				px.up()
			}
			f.clock.SetTime(st.NextRun)
			st = waitRun(t, m, st.Runs)
			if st.LastError != nil || st.ConsecutiveFailures != 0 {
				t.Fatalf("the retry once SCC is back: %v", st.LastError)
			}
			if sys := f.onlySystem(); sys.Keepalives != 1 || sys.Login != login {
				t.Errorf("SCC has system %s with %d keepalives, want %s with the one sent once it was back", sys.Login, sys.Keepalives, login)
			}
			if s := f.status(); s.State != StateRegistered || s.LastError != "" {
				t.Errorf("status %+v: want registered without an error", s)
			}
		})
	}
}
