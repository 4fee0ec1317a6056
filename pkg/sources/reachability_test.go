package sources

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
)

// flakyTransport fails to connect while down is set, else answers 200.
type flakyTransport struct {
	down  atomic.Bool
	calls atomic.Int32
}

func (f *flakyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

func newTestReachability(t *testing.T) (*Reachability, *logtest.Hook) {
	t.Helper()
	logger, hook := logtest.NewNullLogger()
	r := newReachability(func(context.Context) error { return nil }, clock.RealClock{}, logrus.NewEntry(logger))
	return r, hook
}

func TestHeldGETGoesOnWhenTheAPIServerAnswersAgain(t *testing.T) {
	r, hook := newTestReachability(t)
	var back atomic.Int32
	r.OnReachable(func() { back.Add(1) })
	base := &flakyTransport{}
	base.down.Store(true)
	rt := r.Wrap(base)

	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "https://apiserver/api/v1/nodes?watch=true", nil)
		resp, err := rt.RoundTrip(req)
		done <- result{resp, err}
	}()
	waitFor(t, "the outage to be recorded", func() bool { return r.Err() != nil })
	if err := r.Err(); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Err() = %v, want ErrUnreachable with the cause", err)
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.WarnLevel || !strings.Contains(e.Message, "API server unreachable") {
		t.Fatalf("last log entry %+v, want the outage warning", e)
	}
	select {
	case res := <-done:
		t.Fatalf("the GET returned during the outage: %v %v", res.resp, res.err)
	default:
	}

	base.down.Store(false)
	r.up()
	res := <-done
	if res.err != nil || res.resp.StatusCode != http.StatusOK {
		t.Fatalf("held GET after the return = %v %v, want 200", res.resp, res.err)
	}
	res.resp.Body.Close()
	if r.Err() != nil || back.Load() != 1 {
		t.Fatalf("after the return: Err() = %v, OnReachable calls %d, want nil and 1", r.Err(), back.Load())
	}
	r.up() // no outage: no hook
	if back.Load() != 1 {
		t.Fatalf("OnReachable called %d times, want once per outage", back.Load())
	}
}

func TestWritesAndCancelledGETsAreNotHeld(t *testing.T) {
	r, _ := newTestReachability(t)
	base := &flakyTransport{}
	base.down.Store(true)
	rt := r.Wrap(base)

	req, _ := http.NewRequest(http.MethodPatch, "https://apiserver/api/v1/namespaces/x/secrets/y", strings.NewReader("{}"))
	if _, err := rt.RoundTrip(req); err == nil || base.calls.Load() != 1 {
		t.Fatalf("PATCH during the outage = %v after %d attempts, want its error at once", err, base.calls.Load())
	}
	if !errors.Is(r.Err(), ErrUnreachable) {
		t.Fatalf("a failed write did not mark the API server unreachable: %v", r.Err())
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "https://apiserver/api/v1/nodes", nil)
	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	go func() {
		defer wg.Done()
		_, err = rt.RoundTrip(req)
	}()
	waitFor(t, "the GET to be tried", func() bool { return base.calls.Load() >= 2 })
	cancel()
	wg.Wait()
	if err == nil {
		t.Fatal("a held GET whose context ended returned no error")
	}
}

func TestOtherErrorsAreReturnedAtOnce(t *testing.T) {
	r, _ := newTestReachability(t)
	boom := errors.New("http2: client connection lost")
	rt := r.Wrap(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, boom }))
	req, _ := http.NewRequest(http.MethodGet, "https://apiserver/api/v1/nodes", nil)
	if _, err := rt.RoundTrip(req); !errors.Is(err, boom) {
		t.Fatalf("RoundTrip = %v, want %v", err, boom)
	}
	if r.Err() != nil {
		t.Fatalf("an error of a request in flight marked the API server unreachable: %v", r.Err())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestProbeFollowsReadyz: a server error of /readyz (etcd down) is an
// outage; any other answer, 403 included, shows the API server serves.
func TestProbeFollowsReadyz(t *testing.T) {
	var code atomic.Int32
	code.Store(http.StatusInternalServerError)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/readyz" {
			http.NotFound(w, req)
			return
		}
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := NewReachability(kube.Discovery().RESTClient(), clock.RealClock{}, logrus.NewEntry(logrus.New()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	waitFor(t, "/readyz 500 to count as unreachable", func() bool { return errors.Is(r.Err(), ErrUnreachable) })
	code.Store(http.StatusForbidden)
	waitFor(t, "/readyz 403 to count as reachable", func() bool { return r.Err() == nil })
}

// waitFor polls cond until it holds; the bound only stops a broken test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
