package scc

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	sccenc "github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/scc/scctest"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

const (
	testNS      = "cattle-scc-system"
	regCode     = "REG-CODE-1"
	installUUID = "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11"
	serverURL   = "https://rancher.example.com"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// entryCache reads the entry Secret straight from the fake clientset.
type entryCache struct{ kube *fake.Clientset }

func (c entryCache) Get() (*corev1.Secret, error) {
	return c.kube.CoreV1().Secrets(testNS).Get(context.Background(), EntrySecretName, metav1.GetOptions{})
}

type fixture struct {
	t      *testing.T
	srv    *scctest.Server
	kube   *fake.Clientset
	clock  *clocktesting.FakeClock
	caFile string
	exp    *Exporter
	states []string
}

func newFixture(t *testing.T, codes ...string) *fixture {
	t.Helper()
	if len(codes) == 0 {
		codes = []string{regCode}
	}
	f := &fixture{t: t, srv: scctest.New(codes...), kube: fake.NewClientset(), clock: clocktesting.NewFakeClock(start)}
	t.Cleanup(f.srv.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f.caFile, f.srv.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	f.exp = f.newExporter(Options{})
	return f
}

// newExporter returns an exporter on the fixture's cluster and server, as a
// restarted controller would build it.
func (f *fixture) newExporter(o Options) *Exporter {
	f.t.Helper()
	o.Namespace, o.Entry, o.Secrets, o.ConfigMaps = testNS, entryCache{f.kube}, f.kube.CoreV1(), f.kube.CoreV1()
	o.CAFile, o.Clock = f.caFile, f.clock
	o.KeepaliveInterval, o.KeepaliveJitter = 20*time.Hour, 3*time.Hour
	o.Jitter = func(max time.Duration) time.Duration { return max / 2 }
	o.OnState = func(s string) { f.states = append(f.states, s) }
	log := logrus.New()
	log.SetOutput(testWriter{f.t})
	o.Log = logrus.NewEntry(log)
	e, err := New(o)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Logf("%s", p); return len(p), nil }

func (f *fixture) setEntry(data map[string]string) {
	f.t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: EntrySecretName, Namespace: testNS}, Data: map[string][]byte{}}
	for k, v := range data {
		sec.Data[k] = []byte(v)
	}
	c := f.kube.CoreV1().Secrets(testNS)
	if _, err := c.Update(context.Background(), sec, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
		_, err = c.Create(context.Background(), sec, metav1.CreateOptions{})
		if err != nil {
			f.t.Fatal(err)
		}
	} else if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) online() {
	f.setEntry(map[string]string{KeyRegCode: regCode, KeyRegistrationURL: f.srv.URL})
}

func (f *fixture) deleteEntry() {
	f.t.Helper()
	if err := f.kube.CoreV1().Secrets(testNS).Delete(context.Background(), EntrySecretName, metav1.DeleteOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) export(s *snapshot.Snapshot) error {
	return f.exp.Export(context.Background(), s)
}

func (f *fixture) mustExport(s *snapshot.Snapshot) {
	f.t.Helper()
	if err := f.export(s); err != nil {
		f.t.Fatalf("export: %v", err)
	}
}

func (f *fixture) status() Status {
	f.t.Helper()
	st, err := ReadStatus(context.Background(), f.kube.CoreV1(), testNS)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func (f *fixture) creds() *corev1.Secret {
	f.t.Helper()
	s, err := f.kube.CoreV1().Secrets(testNS).Get(context.Background(), CredentialsSecretName, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) onlySystem() scctest.System {
	f.t.Helper()
	systems := f.srv.Systems()
	if len(systems) != 1 {
		f.t.Fatalf("SCC has %d systems, want 1", len(systems))
	}
	return systems[0]
}

// snap returns an installation whose local cluster has n amd64 nodes.
func snap(n int) *snapshot.Snapshot {
	nodes := make([]snapshot.Node, n)
	for i := range nodes {
		nodes[i] = snapshot.Node{Arch: "amd64", OS: "linux", ContainerRuntimeVersion: "containerd://2.0.5", KubeletVersion: "v1.32.4", CPUMillis: 4000, MemoryBytes: 8 << 30, Worker: true}
	}
	c := snapshot.Cluster{Name: snapshot.UpstreamClusterName, Upstream: true, KubernetesVersion: "v1.32.4", Driver: "imported",
		CapacitySource: snapshot.FromNodes, Shapes: snapshot.ShapesOf(nodes)}
	for _, nd := range nodes {
		c.CPUMillis += nd.CPUMillis
		c.CPUCores += snapshot.CoresOf(nd.CPUMillis)
		c.MemoryBytes += nd.MemoryBytes
	}
	return &snapshot.Snapshot{
		Install: snapshot.Install{
			InstallUUID: installUUID, ClusterUUID: "8d7f2b6a-3c51-4e0b-b8d2-5e4a9c1f7d20",
			Version: "v2.12.1", GitCommit: "4f3c2a1", ServerURL: serverURL, Mode: snapshot.ModeRancher,
		},
		Clusters: []snapshot.Cluster{c},
	}
}

func TestOnlineAnnouncesActivatesAndReadsActivations(t *testing.T) {
	f := newFixture(t)
	f.online()
	f.mustExport(snap(3))

	sys := f.onlySystem()
	if sys.Hostname != serverURL {
		t.Errorf("hostname %q, want the server URL %q", sys.Hostname, serverURL)
	}
	sub, _ := sys.HWInfo["subscription"].(map[string]any)
	if sub["installuuid"] != installUUID || sub["product"] != sccenc.Product {
		t.Errorf("hwinfo subscription %v: not the scc payload", sub)
	}
	want := scctest.Product{Identifier: "rancher-prime", Version: "2.12.1", Arch: "unknown"}
	if len(sys.Products) != 1 || sys.Products[0] != want {
		t.Errorf("activated %v, want %v", sys.Products, want)
	}
	c := f.creds()
	if string(c.Data[KeyLogin]) != sys.Login || string(c.Data[KeyPassword]) != sys.Password {
		t.Error("credentials secret does not hold the announced login and password")
	}
	if string(c.Data[KeySystemToken]) != sys.Token {
		t.Errorf("stored System-Token %q, want the latest %q", c.Data[KeySystemToken], sys.Token)
	}
	st := f.status()
	if st.State != StateRegistered || st.Mode != ModeOnline || st.SystemID != strconv.Itoa(sys.ID) || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	if st.ExpiresAt == "" || st.Product != "SUSE Rancher Prime" || st.LastKeepalive != start.Format(time.RFC3339) {
		t.Errorf("status %+v: want expiry, product name and the announce as last keepalive", st)
	}
	if len(f.states) == 0 || f.states[len(f.states)-1] != StateRegistered {
		t.Errorf("OnState got %v, want registered last", f.states)
	}
}

func TestKeepaliveWhenDueAndAfterMaterialChangeOnly(t *testing.T) {
	f := newFixture(t)
	f.online()
	f.mustExport(snap(3))

	f.clock.Step(time.Hour)
	f.mustExport(snap(3)) // only the timestamp changed
	if n := f.onlySystem().Keepalives; n != 0 {
		t.Fatalf("%d keepalives one hour after announce with the same figures, want 0", n)
	}
	f.mustExport(snap(4))
	if n := f.onlySystem().Keepalives; n != 1 {
		t.Fatalf("%d keepalives after a node was added, want 1", n)
	}
	if nodes := countNodes(f.onlySystem().HWInfo); nodes != 4 {
		t.Errorf("keepalive hwinfo counts %d nodes, want 4", nodes)
	}
	// Interval 20h plus half of the 3h jitter after the last keepalive.
	f.clock.Step(21*time.Hour + 29*time.Minute)
	f.mustExport(snap(4))
	if n := f.onlySystem().Keepalives; n != 1 {
		t.Fatalf("%d keepalives before the jittered interval passed, want 1", n)
	}
	f.clock.Step(2 * time.Minute)
	f.mustExport(snap(4))
	if n := f.onlySystem().Keepalives; n != 2 {
		t.Fatalf("%d keepalives after the jittered interval, want 2", n)
	}
	if got := f.status().LastKeepalive; got != f.clock.Now().Format(time.RFC3339) {
		t.Errorf("lastKeepalive %s, want %s", got, f.clock.Now().Format(time.RFC3339))
	}
}

func countNodes(hwinfo map[string]any) int {
	n := 0
	systems, _ := hwinfo["managedSystems"].([]any)
	for _, s := range systems {
		m, _ := s.(map[string]any)
		c, _ := m["count"].(float64)
		n += int(c)
	}
	return n
}

func TestStaleSystemTokenIsRefused(t *testing.T) {
	f := newFixture(t)
	f.online()
	f.mustExport(snap(3))
	c := f.creds()
	c.Data[KeySystemToken] = []byte("stale")
	if _, err := f.kube.CoreV1().Secrets(testNS).Update(context.Background(), c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := f.export(snap(4))
	if kind, _ := retryKindOf(err); kind != manager.KindPermanent || !isCode(err, http.StatusUnauthorized) {
		t.Fatalf("export with a stale token: %v (%s), want a permanent 401", err, kind)
	}
	if st := f.status(); st.State != StateFailed || !strings.Contains(st.LastError, "401") {
		t.Errorf("status %+v, want failed with the 401", st)
	}
}

func TestCredentialsSurviveARestart(t *testing.T) {
	f := newFixture(t)
	f.online()
	f.mustExport(snap(3))
	f.exp = f.newExporter(Options{})
	f.mustExport(snap(5))
	if n := len(f.srv.Systems()); n != 1 {
		t.Fatalf("%d systems after a restart, want the same one", n)
	}
	if f.srv.Count(http.MethodPost, "/connect/subscriptions/systems", http.StatusCreated) != 1 {
		t.Error("the restarted exporter announced again")
	}
	if n := f.onlySystem().Keepalives; n != 1 {
		t.Errorf("%d keepalives after a restart and a change, want 1 with the stored token", n)
	}
}

func TestSCCErrorsMapToRetryKinds(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		code               int
		retryAfter         string
		kind               manager.RetryKind
		after              time.Duration
		state              string
	}{
		{"announce 401 is permanent", "POST", "/connect/subscriptions/systems", 401, "", manager.KindPermanent, 0, StateFailed},
		{"announce 404 is permanent", "POST", "/connect/subscriptions/systems", 404, "", manager.KindPermanent, 0, StateFailed},
		{"activate 422 is permanent", "POST", "/connect/systems/products", 422, "", manager.KindPermanent, 0, StateFailed},
		{"activations 401 is permanent", "GET", "/connect/systems/activations", 401, "", manager.KindPermanent, 0, StateFailed},
		{"announce 429 waits Retry-After", "POST", "/connect/subscriptions/systems", 429, "120", manager.KindRetryAfter, 120 * time.Second, StateRegistering},
		{"activate 503 waits Retry-After", "POST", "/connect/systems/products", 503, "30", manager.KindRetryAfter, 30 * time.Second, StateRegistering},
		{"announce 500 backs off", "POST", "/connect/subscriptions/systems", 500, "", manager.KindBackoff, 0, StateRegistering},
		{"429 without Retry-After backs off", "POST", "/connect/systems/products", 429, "", manager.KindBackoff, 0, StateRegistering},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.online()
			f.srv.Fail(tc.method, tc.path, tc.code, tc.retryAfter, 1)
			err := f.export(snap(3))
			kind, after := retryKindOf(err)
			if kind != tc.kind || after != tc.after || !isCode(err, tc.code) {
				t.Fatalf("export: %v (%s %s), want %d as %s %s", err, kind, after, tc.code, tc.kind, tc.after)
			}
			st := f.status()
			if st.State != tc.state || !strings.Contains(st.LastError, strconv.Itoa(tc.code)) {
				t.Errorf("status %+v, want state %s and the error", st, tc.state)
			}
			// The next run, the failure gone, completes the registration.
			f.clock.Step(Interval)
			f.mustExport(snap(3))
			if st := f.status(); st.State != StateRegistered || st.LastError != "" {
				t.Errorf("after the failure: status %+v, want registered", st)
			}
		})
	}
}

func TestRefusalIsNotRepeatedUntilTheEntryChangesOrAnInterval(t *testing.T) {
	f := newFixture(t, regCode, "REG-CODE-2")
	f.online()
	f.srv.Fail("POST", "/connect/subscriptions/systems", 401, "", 2)
	first := f.export(snap(3))
	if !isCode(first, 401) {
		t.Fatalf("export: %v, want the 401", first)
	}
	f.clock.Step(time.Minute)
	if err := f.export(snap(4)); !isCode(err, 401) {
		t.Fatalf("export after a change of the figures: %v, want the same 401", err)
	}
	if n := len(f.srv.Requests()); n != 1 {
		t.Errorf("%d requests to SCC, want 1: the refusal was repeated", n)
	}
	if st := f.status(); st.State != StateFailed {
		t.Errorf("state %s, want failed", st.State)
	}
	f.clock.Step(Interval)
	if err := f.export(snap(4)); !isCode(err, 401) {
		t.Fatalf("export an interval later: %v, want the second injected 401", err)
	}
	if n := len(f.srv.Requests()); n != 2 {
		t.Errorf("%d requests to SCC, want 2: the interval passed", n)
	}
	f.setEntry(map[string]string{KeyRegCode: "REG-CODE-2", KeyRegistrationURL: f.srv.URL})
	f.mustExport(snap(4))
	if st := f.status(); st.State != StateRegistered {
		t.Errorf("state %s after a new regCode, want registered", st.State)
	}
}

func TestKeepaliveFailureKeepsRegistrationAndSaysWhy(t *testing.T) {
	f := newFixture(t)
	f.online()
	f.mustExport(snap(3))
	f.srv.Fail("PUT", "/connect/systems", 500, "", 1)
	err := f.export(snap(4))
	if kind, _ := retryKindOf(err); kind != manager.KindBackoff || !isCode(err, 500) {
		t.Fatalf("keepalive answered 500: %v (%s), want a plain error", err, kind)
	}
	if st := f.status(); st.State != StateRegistered || !strings.Contains(st.LastError, "keepalive") {
		t.Errorf("status %+v, want still registered with the keepalive error", st)
	}
	f.mustExport(snap(4))
	if n := f.onlySystem().Keepalives; n != 1 {
		t.Errorf("%d keepalives after the retry, want 1", n)
	}
}

func TestVersionWithoutXYZIsRefusedBeforeCallingSCC(t *testing.T) {
	f := newFixture(t)
	f.online()
	s := snap(3)
	s.Install.Version = "master-head"
	err := f.export(s)
	if !errors.Is(err, sccenc.ErrBadVersion) || !strings.Contains(err.Error(), "X.Y.Z") {
		t.Fatalf("export: %v, want ErrBadVersion saying X.Y.Z", err)
	}
	if kind, _ := retryKindOf(err); kind != manager.KindPermanent {
		t.Errorf("kind %s, want permanent", kind)
	}
	if n := len(f.srv.Requests()); n != 0 {
		t.Errorf("%d requests reached SCC, want none", n)
	}
	if st := f.status(); st.State != StateFailed {
		t.Errorf("state %s, want failed", st.State)
	}
}

func TestDeletedEntryDeregistersAndWipesCredentials(t *testing.T) {
	f := newFixture(t)
	f.online()
	f.mustExport(snap(3))
	id := f.onlySystem().ID
	f.deleteEntry()
	f.mustExport(snap(3))
	if len(f.srv.Systems()) != 0 || len(f.srv.Deleted()) != 1 || f.srv.Deleted()[0].ID != id {
		t.Errorf("systems %v, deleted %v: want system %d deregistered", f.srv.Systems(), f.srv.Deleted(), id)
	}
	_, err := f.kube.CoreV1().Secrets(testNS).Get(context.Background(), CredentialsSecretName, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("credentials secret: %v, want it deleted", err)
	}
	if st := f.status(); st != (Status{State: StateUnregistered}) {
		t.Errorf("status %+v, want unregistered only", st)
	}
}

func TestDeregisterRetriesOn5xxAndWipesOnUnknownSystem(t *testing.T) {
	f := newFixture(t)
	f.online()
	f.mustExport(snap(3))
	f.deleteEntry()
	f.srv.Fail("DELETE", "/connect/systems", 503, "60", 1)
	err := f.export(snap(3))
	if kind, after := retryKindOf(err); kind != manager.KindRetryAfter || after != time.Minute {
		t.Fatalf("deregister answered 503: %v, want retry after 1m", err)
	}
	f.creds() // still there
	f.srv.Fail("DELETE", "/connect/systems", 404, "", 1)
	f.mustExport(snap(3))
	if _, err := f.kube.CoreV1().Secrets(testNS).Get(context.Background(), CredentialsSecretName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("credentials after a 404 to deregister: %v, want wiped", err)
	}
}

func TestChangedRegCodeRegistersAnew(t *testing.T) {
	f := newFixture(t, regCode, "REG-CODE-2")
	f.online()
	f.mustExport(snap(3))
	old := f.onlySystem()
	f.setEntry(map[string]string{KeyRegCode: "REG-CODE-2", KeyRegistrationURL: f.srv.URL})
	f.mustExport(snap(3))
	now := f.onlySystem()
	if now.ID == old.ID || now.RegCode != "REG-CODE-2" {
		t.Errorf("system %d with %s, want a new one with the new code", now.ID, now.RegCode)
	}
	if d := f.srv.Deleted(); len(d) != 1 || d[0].ID != old.ID {
		t.Errorf("deleted %v, want the old system", d)
	}
	if got := f.status().SystemID; got != strconv.Itoa(now.ID) {
		t.Errorf("status systemID %s, want %d", got, now.ID)
	}
}

func TestUnusableEntryIsPermanentAndSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string]string
		want string
	}{
		{"unknown type", map[string]string{KeyRegistrationType: "sideways", KeyRegCode: regCode}, KeyRegistrationType},
		{"online without regCode", map[string]string{}, KeyRegCode},
		{"url with user information", map[string]string{KeyRegCode: regCode, KeyRegistrationURL: "https://u:p@rmt.example.com"}, KeyRegistrationURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.setEntry(tc.data)
			err := f.export(snap(3))
			if kind, _ := retryKindOf(err); kind != manager.KindPermanent || !errors.Is(err, ErrEntry) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("export: %v, want a permanent ErrEntry naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "u:p@") {
				t.Errorf("error %q shows user information", err)
			}
			if st := f.status(); st.State != StateFailed {
				t.Errorf("state %s, want failed", st.State)
			}
		})
	}
}

func TestUnknownCAIsRefused(t *testing.T) {
	f := newFixture(t)
	f.caFile = ""
	f.exp = f.newExporter(Options{})
	f.online()
	err := f.export(snap(3))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("export to a server of an untrusted CA: %v, want a certificate error", err)
	}
	if len(f.srv.Systems()) != 0 {
		t.Error("a system was announced through an untrusted connection")
	}
}

func TestExpiredSubscriptionIsStateExpired(t *testing.T) {
	f := newFixture(t)
	f.srv.SetExpiresAt(start.Add(-time.Hour))
	f.online()
	err := f.export(snap(3))
	if kind, _ := retryKindOf(err); kind != manager.KindPermanent || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("export: %v, want a permanent error saying expired", err)
	}
	if st := f.status(); st.State != StateExpired || st.ExpiresAt != start.Add(-time.Hour).Format(time.RFC3339) {
		t.Errorf("status %+v, want expired at the activation's expiry", st)
	}
}

func TestSubscriptionNearExpiryWarns(t *testing.T) {
	f := newFixture(t)
	f.srv.SetExpiresAt(start.Add(7 * 24 * time.Hour))
	f.online()
	f.mustExport(snap(3))
	if st := f.status(); st.State != StateRegistered || !strings.Contains(st.Warning, "30 days") {
		t.Errorf("status %+v, want registered with a warning", st)
	}
}

func TestCredentialsNeverLogged(t *testing.T) {
	f := newFixture(t)
	var logs strings.Builder
	log := logrus.New()
	log.SetLevel(logrus.TraceLevel)
	log.SetOutput(&logs)
	o := Options{}
	f.exp = f.newExporter(o)
	f.exp.log = logrus.NewEntry(log)
	f.online()
	f.mustExport(snap(3))
	f.mustExport(snap(4))
	f.deleteEntry()
	f.mustExport(snap(4))
	sys := f.srv.Deleted()[0]
	for name, secret := range map[string]string{"password": sys.Password, "System-Token": sys.Token, "regCode": regCode} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows the %s", name)
		}
	}
	if !strings.Contains(logs.String(), "system announced") {
		t.Errorf("log %q lacks the announce: the test read the wrong log", logs.String())
	}
}

func TestTokenOfACallCutByShutdownIsStored(t *testing.T) {
	f := newFixture(t)
	f.online()
	f.mustExport(snap(3))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.srv.OnRequest(func(method, path string) {
		if method == http.MethodPut {
			cancel() // the controller shuts down while SCC answers the keepalive
		}
	})
	_ = f.exp.Export(ctx, snap(4))
	if n := f.onlySystem().Keepalives; n != 1 {
		t.Fatalf("%d keepalives, want the one cut short", n)
	}
	if got, want := string(f.creds().Data[KeySystemToken]), f.onlySystem().Token; got != want {
		t.Fatalf("stored System-Token %q, want the one of the answer %q", got, want)
	}
	f.srv.OnRequest(nil)
	f.exp = f.newExporter(Options{})
	f.clock.Step(24 * time.Hour)
	f.mustExport(snap(4))
	if n := f.onlySystem().Keepalives; n != 2 {
		t.Errorf("%d keepalives after the restart, want 2", n)
	}
}

// leakyEncoder is the scc encoder with a cleaning rule gone wrong: the
// server URL keeps its user information.
type leakyEncoder struct{ sccenc.Encoder }

func (leakyEncoder) Encode(s *snapshot.Snapshot, now time.Time) ([]byte, error) {
	b, err := sccenc.Encoder{}.Encode(s, now)
	return bytes.Replace(b, []byte(`"https://`), []byte(`"https://user:secret@`), 1), err
}

func TestPayloadTheSchemaRefusesIsNeitherSentNorWritten(t *testing.T) {
	for _, mode := range []string{ModeOnline, ModeOffline} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			f.exp = f.newExporter(Options{Encoder: leakyEncoder{}})
			f.setEntry(map[string]string{KeyRegCode: regCode, KeyRegistrationURL: f.srv.URL, KeyRegistrationType: mode})
			err := f.export(snap(2))
			if !errors.Is(err, encoding.ErrInvalidPayload) {
				t.Fatalf("export: %v, want an error wrapping encoding.ErrInvalidPayload", err)
			}
			if kind, _ := retryKindOf(err); kind != manager.KindPermanent {
				t.Errorf("retry kind %v, want permanent", kind)
			}
			if n := len(f.srv.Requests()); n != 0 {
				t.Errorf("%d requests reached SCC", n)
			}
			_, err = f.kube.CoreV1().Secrets(testNS).Get(context.Background(), OfflineRequestSecretName, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("offline request Secret: %v, want NotFound", err)
			}
		})
	}
}

func TestEncoderOfAnotherFormatIsRefused(t *testing.T) {
	kube := fake.NewClientset()
	_, err := New(Options{Entry: entryCache{kube}, Secrets: kube.CoreV1(), ConfigMaps: kube.CoreV1(), Encoder: report.New([]byte("0123456789abcdef"))})
	if err == nil {
		t.Fatal("an exporter with a report encoder was built")
	}
}
