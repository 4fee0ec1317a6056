package faults

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exportBound is the product's guarantee: a change made once the API
// server answers again is in the Secret within this time.
const exportBound = 60 * time.Second

// outage is how long the API server stays down.
const outage = 30 * time.Second

// TestAPIServerOutageAndEtcdRestart: the API server stopped for 30 s, then
// etcd restarted. The manager keeps running with one exporter manager, warns
// while the API server is unreachable, is not ready meanwhile and ready
// after, exports a change made after each fault within the bound, and the
// Secret ends correct.
func TestAPIServerOutageAndEtcdRestart(t *testing.T) {
	ns := namespace(t)
	m := startManager(t, env.KubeconfigPath, ns, "--log-level", "debug", "--debounce", "3s")
	nodes := initialPayload(t, ns)
	m.waitReadyz(60*time.Second, http.StatusOK, "ok")

	// A change the manager sees just before the outage is exported during
	// it (the debounce is longer than the API server takes to stop): that
	// write fails and backs off, and must not delay the exports after.
	cached := m.metric(`telemetry_manager_cache_objects{kind="Node"}`)
	addNode(t)
	nodes++
	eventually(t, 30*time.Second, "the manager to cache the new node", func() (bool, error) {
		return m.metric(`telemetry_manager_cache_objects{kind="Node"}`) > cached, nil
	})
	if err := env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// Leave the API server running for the next test whatever happens; an
	// error only says it runs already.
	t.Cleanup(func() { _ = env.StartAPIServer(context.Background()) })
	eventually(t, outage, "the unreachable warning", func() (bool, error) {
		return m.count("API server unreachable") > 0, nil
	})
	m.waitReadyz(outage, http.StatusServiceUnavailable, "API server unreachable")
	time.Sleep(time.Until(stopped.Add(outage)))
	if m.hasExited() {
		t.Fatalf("the manager exited during the outage: %v", m.err)
	}
	if _, body, _ := m.get("/readyz"); !strings.Contains(body, "API server unreachable") {
		t.Fatalf("/readyz at the end of the outage: %q, want not ready", body)
	}
	if err := env.StartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server down for %v", time.Since(stopped).Round(time.Second))
	m.waitReadyz(exportBound, http.StatusOK, "ok")

	addNode(t)
	nodes++
	took := waitNodes(t, ns, nodes, exportBound)
	t.Logf("a change made after the API server returned was exported after %v", took.Round(10*time.Millisecond))

	if err := env.RestartEtcd(t.Context()); err != nil {
		t.Fatal(err)
	}
	m.waitReadyz(exportBound, http.StatusOK, "ok")
	addNode(t)
	nodes++
	took = waitNodes(t, ns, nodes, exportBound)
	t.Logf("a change made after etcd restarted was exported after %v", took.Round(10*time.Millisecond))

	if r := audit(t, ns); r.Totals.Nodes != nodes {
		t.Fatalf("audited payload has %d nodes, want %d", r.Totals.Nodes, nodes)
	}
	if m.hasExited() {
		t.Fatalf("the manager exited: %v", m.err)
	}
	// One exporter manager, started once; no second run of the exporter
	// beside the first, no panic.
	if n := m.count("exporter manager started"); n != 1 {
		t.Errorf("%q logged %d times, want once", "exporter manager started", n)
	}
	if n := m.count("panic"); n != 0 {
		t.Errorf("the log mentions a panic %d times", n)
	}
	if v := m.metric("telemetry_manager_leader"); v != 1 {
		t.Errorf("telemetry_manager_leader = %v, want 1", v)
	}
	if code := m.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0", code)
	}
}
