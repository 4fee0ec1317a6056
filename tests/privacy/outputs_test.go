package privacy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rancher/telemetry-manager/pkg/events"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/rancher/telemetry-manager/pkg/cli"
	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	sccenc "github.com/rancher/telemetry-manager/pkg/encoding/scc"
	httpexporter "github.com/rancher/telemetry-manager/pkg/exporters/http"
	sccexporter "github.com/rancher/telemetry-manager/pkg/exporters/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/scc/scctest"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/extensions"
	"github.com/rancher/telemetry-manager/pkg/gatherer"
	"github.com/rancher/telemetry-manager/pkg/identity"
	"github.com/rancher/telemetry-manager/pkg/options"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/version"
)

// modes are the ways an installation is read: as Rancher (v3 objects) and
// as plain Kubernetes (core Nodes).
var modes = []string{options.ModeRancher, options.ModeKubernetes}

// output is one way data leaves: a payload command's output or what an
// exporter writes or sends. render returns every byte of it that leaves.
// carriesServerURL says the output is of the scc format, which must carry
// the server URL, normalized; no other output may.
type output struct {
	name             string
	carriesServerURL bool
	render           func(t *testing.T, in *input) []byte
}

// outputs lists every output path; a new one is one line here. The
// encoders of every payload format (encoding.Formats) are added by
// allOutputs.
var outputs = []output{
	{"payload report", false, payloadCommand("report", nil)},
	{"payload report --explain", false, payloadCommand("report", explainFlag)},
	{"payload report --diff", false, payloadCommand("report", diffWithOther("report"))},
	{"payload scc", true, payloadCommand("scc", nil)},
	{"payload scc --explain", true, payloadCommand("scc", explainFlag)},
	{"payload scc --diff", true, payloadCommand("scc", diffWithOther("scc"))},
	{"secret exporter, report", false, secretExporter(func(in *input) snapshot.Encoder { return report.New(in.id.Key) })},
	{"secret exporter, scc (SecretRequest targets)", true, secretExporter(func(*input) snapshot.Encoder { return sccenc.Encoder{} })},
	{"http exporter", false, httpExporter},
	{"scc exporter, online: announce, activate, keepalive", true, sccOnline},
	{"scc exporter, offline request", true, sccOffline},
}

// allOutputs is outputs plus the encoder of every payload format.
func allOutputs() []output {
	out := slices.Clone(outputs)
	for _, f := range encoding.Formats() {
		out = append(out, output{"encoder " + f, f == sccenc.FormatName, encoderOutput(f)})
	}
	return out
}

// input is one installation to render: a fixture read in a mode, with the
// identity and extensions of the install.
type input struct {
	fixture string
	mode    string
	id      identity.Identity
	// identityFile holds the identity Secret as YAML, for --identity-file.
	identityFile string
	now          time.Time
}

var testNow = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// newInput returns fixture read in mode with a new identity, kept in a
// Secret of a fake API server as identity.Load keeps it.
func newInput(t *testing.T, fixture, mode string) *input {
	t.Helper()
	id, file := newIdentity(t, fake.NewClientset())
	return &input{fixture: fixture, mode: mode, id: id, identityFile: file, now: testNow}
}

// newIdentity loads (creating) the identity Secret of client and writes it
// to a file as kubectl get -o yaml would.
func newIdentity(t *testing.T, client *fake.Clientset) (identity.Identity, string) {
	t.Helper()
	const ns = "cattle-telemetry-system"
	id, err := identity.Load(t.Context(), client.CoreV1(), ns, identity.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := client.CoreV1().Secrets(ns).Get(t.Context(), identity.DefaultName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec.APIVersion, sec.Kind = "v1", "Secret"
	b, err := sigsyaml.Marshal(sec)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "identity.yaml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return id, file
}

func testLog(t *testing.T) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// payloadOptions are the payload command's options for in.
func payloadOptions(in *input, format string) *cli.PayloadOptions {
	o := cli.NewPayloadOptions()
	o.FromFile = in.fixture
	o.IdentityFile = in.identityFile
	o.ExtensionsFile = extensionsFile
	o.Format = format
	o.Mode = in.mode
	o.Clock = clocktesting.NewFakePassiveClock(in.now)
	return o
}

// runPayload runs the payload command and returns its standard output.
func runPayload(t *testing.T, o *cli.PayloadOptions) ([]byte, error) {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := cli.Payload(t.Context(), o, &out, &errOut, testLog(t))
	return out.Bytes(), err
}

func explainFlag(_ *testing.T, o *cli.PayloadOptions, _ *input) { o.Explain = true }

// payloadCommand renders `telemetry-manager payload --from-file` in the
// format, with the options edit sets.
func payloadCommand(format string, edit func(t *testing.T, o *cli.PayloadOptions, in *input)) func(t *testing.T, in *input) []byte {
	return func(t *testing.T, in *input) []byte {
		t.Helper()
		o := payloadOptions(in, format)
		wantErr := error(nil)
		if edit != nil {
			edit(t, o, in)
			if o.Diff != "" {
				wantErr = cli.ErrDiffer
			}
		}
		out, err := runPayload(t, o)
		if !errors.Is(err, wantErr) {
			t.Fatalf("payload --format %s: %v, want %v", format, err, wantErr)
		}
		return out
	}
}

// diffWithOther compares the payload with the one of the other fixture
// (rendered with its own identity), as --diff does.
func diffWithOther(format string) func(t *testing.T, o *cli.PayloadOptions, in *input) {
	return func(t *testing.T, o *cli.PayloadOptions, in *input) {
		t.Helper()
		other := fixtureFiles[0]
		if in.fixture == other {
			other = fixtureFiles[1]
		}
		oo := payloadOptions(in, format)
		oo.FromFile = other
		out, err := runPayload(t, oo)
		if err != nil {
			t.Fatalf("rendering %s: %v", other, err)
		}
		file := filepath.Join(t.TempDir(), "other-"+format+".json")
		if err := os.WriteFile(file, out, 0o600); err != nil {
			t.Fatal(err)
		}
		o.Diff = file
	}
}

// snapshotOf reads in's fixture the way the payload command does.
func snapshotOf(t *testing.T, in *input) *snapshot.Snapshot {
	t.Helper()
	dump, err := cli.LoadFile(in.fixture, cli.DefaultLoadOptions())
	if err != nil {
		t.Fatal(err)
	}
	mode := snapshot.ModeRancher
	install := snapshot.Install{Version: version.Version, GitCommit: version.GitCommit}
	if in.mode == options.ModeKubernetes {
		mode = snapshot.ModeKubernetes
		install.InstallUUID = in.id.InstallUUID
	}
	cfg := dump.Config(mode, install)
	cfg.Log = testLog(t)
	g, err := gatherer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(extensionsFile)
	if err != nil {
		t.Fatal(err)
	}
	res := extensions.Parse("File "+extensionsFile, "", data)
	g.SetExtensions(res.Pairs, res.Refused, res.Problems)
	s, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return s.WithEvents(eventsOf(t, in, s))
}

// eventsOf gives every cluster of s lifecycle events through a real event
// log, as the controller feeds it: created with its raw version, upgraded
// to the version of another cluster of the fixture, scaled and deleted, so
// that names and versions of the fixture go through the event path too.
func eventsOf(t *testing.T, in *input, s *snapshot.Snapshot) snapshot.Events {
	t.Helper()
	key := in.id.Key
	log, err := events.New(events.Options{ID: func(name string) string { return report.ClusterID(key, name) }, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	log.Track("privacy")
	if err := log.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, c := range s.Clusters {
		next := s.Clusters[(i+1)%len(s.Clusters)].KubernetesVersion
		log.Observe(c.Name, true, c.KubernetesVersion, c.NodeCount())
		log.Pending("privacy") // each change below is an event of its own
		log.Observe(c.Name, true, next+"-"+c.Name, c.NodeCount())
		log.Pending("privacy")
		log.Observe(c.Name, true, next, c.NodeCount()+1)
		log.Pending("privacy")
		log.Observe(c.Name, false, next, c.NodeCount()+1)
	}
	ev := log.Pending("privacy")
	if len(ev.Items) == 0 {
		t.Fatal("the fixture gave no events")
	}
	return ev
}

// encoderOutput renders the snapshot with the format's encoder, validated
// as every exporter does.
func encoderOutput(format string) func(t *testing.T, in *input) []byte {
	return func(t *testing.T, in *input) []byte {
		t.Helper()
		enc, err := encoding.ByFormat(format, in.id.Key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := encoding.Validating(enc).Encode(snapshotOf(t, in), in.now)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// liveCache reads Secrets straight from the fake clientset.
type liveCache struct{ c *fake.Clientset }

func (l liveCache) Get(ns, name string) (*corev1.Secret, error) {
	return l.c.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
}

// secretExporter renders the Secret the secret exporter writes: data,
// labels and annotations, as JSON.
func secretExporter(enc func(in *input) snapshot.Encoder) func(t *testing.T, in *input) []byte {
	return func(t *testing.T, in *input) []byte {
		t.Helper()
		client := fake.NewClientset()
		exp, err := secret.New(secret.Options{
			Encoder: enc(in), SigningKey: in.id.SigningKey(),
			Secrets: client.CoreV1(), Namespaces: client.CoreV1(), Cache: liveCache{client},
			CreateNamespace: true, Clock: clocktesting.NewFakeClock(in.now), Log: testLog(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := exp.Export(t.Context(), snapshotOf(t, in)); err != nil {
			t.Fatal(err)
		}
		ns, name := exp.Target()
		sec, err := client.CoreV1().Secrets(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sec.Data[secret.DefaultKey]) == 0 {
			t.Fatalf("Secret %s/%s holds no payload", ns, name)
		}
		// The payload bytes as they are, besides the object (in which
		// encoding/json writes them as base64).
		b, err := json.Marshal(sec)
		if err != nil {
			t.Fatal(err)
		}
		return append(append(b, '\n'), sec.Data[secret.DefaultKey]...)
	}
}

// credentials is the http exporter's credentials Secret.
type credentials struct{ s *corev1.Secret }

func (c credentials) Get() (*corev1.Secret, error) { return c.s, nil }

// httpExporter renders what the http exporter sends to a collector: the
// URL, the headers and the body, gunzipped.
func httpExporter(t *testing.T, in *input) []byte {
	t.Helper()
	type received struct {
		url    string
		header http.Header
		body   []byte
	}
	got := make(chan received, 1)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- received{r.URL.String(), r.Header.Clone(), body}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"1","duplicate":false}`))
	}))
	defer collector.Close()
	exp, err := httpexporter.New(httpexporter.Options{
		URL: collector.URL + "/api/v1/reports", Gzip: true,
		SecretNamespace: "cattle-telemetry-system", SecretName: "telemetry-http",
		Credentials: credentials{&corev1.Secret{Data: map[string][]byte{"token": []byte("collector-token"), "signingKey": []byte("collector-signing-key")}}},
		Encoder:     report.New(in.id.Key),
		Proxy:       func(*http.Request) (*url.URL, error) { return nil, nil },
		Clock:       clocktesting.NewFakePassiveClock(in.now),
		Log:         testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	if err := exp.Export(t.Context(), snapshotOf(t, in)); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("body not gzipped: Content-Encoding %q", r.header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s\n", r.url)
	_ = r.header.Write(&b)
	b.WriteString("\n")
	b.Write(body)
	return b.Bytes()
}

// sccFixture is an scc exporter on a fake cluster and the SCC stand-in.
type sccFixture struct {
	srv   *scctest.Server
	kube  *fake.Clientset
	clock *clocktesting.FakeClock
	exp   *sccexporter.Exporter
}

type entryCache struct{ kube *fake.Clientset }

func (c entryCache) Get() (*corev1.Secret, error) {
	return c.kube.CoreV1().Secrets(sccexporter.DefaultNamespace).Get(context.Background(), sccexporter.EntrySecretName, metav1.GetOptions{})
}

const regCode = "REG-CODE-PRIVACY"

// newSCCFixture returns an scc exporter whose scc-registration Secret asks
// for an online registration with the stand-in, or an offline one.
func newSCCFixture(t *testing.T, in *input, offline bool) *sccFixture {
	t.Helper()
	f := &sccFixture{srv: scctest.New(regCode), kube: fake.NewClientset(), clock: clocktesting.NewFakeClock(in.now)}
	t.Cleanup(f.srv.Close)
	entry := map[string]string{sccexporter.KeyRegCode: regCode, sccexporter.KeyRegistrationURL: f.srv.URL}
	if offline {
		entry[sccexporter.KeyRegistrationType] = sccexporter.ModeOffline
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, f.srv.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: sccexporter.EntrySecretName, Namespace: sccexporter.DefaultNamespace}, Data: map[string][]byte{}}
	for k, v := range entry {
		sec.Data[k] = []byte(v)
	}
	if _, err := f.kube.CoreV1().Secrets(sccexporter.DefaultNamespace).Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exp, err := sccexporter.New(sccexporter.Options{
		Entry: entryCache{f.kube}, Secrets: f.kube.CoreV1(), ConfigMaps: f.kube.CoreV1(),
		CAFile: caFile, KeepaliveInterval: 20 * time.Hour, KeepaliveJitter: 3 * time.Hour,
		Jitter: func(max time.Duration) time.Duration { return max / 2 },
		Clock:  f.clock, Log: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.exp = exp
	return f
}

// sccOnline registers online, then sends a keepalive a day later, and
// renders every request SCC received: method, path, headers and body.
func sccOnline(t *testing.T, in *input) []byte {
	t.Helper()
	f := newSCCFixture(t, in, false)
	s := snapshotOf(t, in)
	if err := f.exp.Export(t.Context(), s); err != nil {
		t.Fatalf("registering: %v", err)
	}
	f.clock.Step(24 * time.Hour)
	if err := f.exp.Export(t.Context(), s); err != nil {
		t.Fatalf("keepalive: %v", err)
	}
	var b bytes.Buffer
	seen := map[string]bool{}
	for _, r := range f.srv.Requests() {
		seen[r.Method+" "+r.Path] = true
		fmt.Fprintf(&b, "%s %s %d\n", r.Method, r.Path, r.Status)
		_ = r.Header.Write(&b)
		b.WriteString("\n")
		b.Write(r.Body)
		b.WriteString("\n")
	}
	for _, want := range []string{"POST /connect/subscriptions/systems", "POST /connect/systems/products", "PUT /connect/systems"} {
		if !seen[want] {
			t.Fatalf("no %s request; got %v", want, f.srv.Requests())
		}
	}
	return b.Bytes()
}

// sccOffline renders the offline registration request Secret.
func sccOffline(t *testing.T, in *input) []byte {
	t.Helper()
	f := newSCCFixture(t, in, true)
	if err := f.exp.Export(t.Context(), snapshotOf(t, in)); err != nil {
		t.Fatal(err)
	}
	sec, err := f.kube.CoreV1().Secrets(sccexporter.DefaultNamespace).Get(t.Context(), sccexporter.OfflineRequestSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := sec.Data[sccexporter.KeyRequest]
	if _, err := sccexporter.DecodeRequest(req); err != nil {
		t.Fatal(err)
	}
	if n := len(f.srv.Requests()); n != 0 {
		t.Fatalf("offline registration called SCC %d times", n)
	}
	b, err := json.Marshal(sec)
	if err != nil {
		t.Fatal(err)
	}
	return append(append(b, '\n'), req...)
}
