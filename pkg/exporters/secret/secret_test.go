package secret

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

var signingKey = []byte("0123456789abcdef0123456789abcdef")

// snap returns a valid installation with nodes nodes in its local cluster.
func snap(nodes int) *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Install:  snapshot.Install{InstallUUID: "install-1", ClusterUUID: "cluster-1", Version: "v2.12.1", Mode: snapshot.ModeRancher},
		Clusters: []snapshot.Cluster{{Name: "local", Upstream: true, Shapes: []snapshot.Shape{{Count: nodes}}}},
	}
}

// nodesIn returns the node count of an scc payload.
func nodesIn(t *testing.T, payload []byte) int64 {
	t.Helper()
	var p scc.Payload
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	var n int64
	for _, m := range p.ManagedSystems {
		n += m.Count
	}
	return n
}

// liveCache reads straight from the client: a cache that is never behind.
type liveCache struct{ c *fake.Clientset }

func (l liveCache) Get(ns, name string) (*corev1.Secret, error) {
	return l.c.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
}

type fixture struct {
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	opts   Options
	exp    *Exporter
	writes int
}

// newFixture returns an exporter of the scc format (whose payload carries
// its time, so that reusing bytes and time is visible) on a fake clientset.
func newFixture(t *testing.T, mutate func(*Options)) *fixture {
	t.Helper()
	f := &fixture{client: fake.NewClientset(), clock: clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	f.opts = Options{
		Encoder: scc.Encoder{}, SigningKey: signingKey, Secrets: f.client.CoreV1(), Namespaces: f.client.CoreV1(),
		Cache: liveCache{f.client}, Clock: f.clock, CreateNamespace: true,
		OnWrite: func(int) { f.writes++ },
	}
	if mutate != nil {
		mutate(&f.opts)
	}
	f.restart(t)
	return f
}

// restart replaces the exporter by a new one with the same options, as a
// restarted process (or a new leader) has: nothing in memory.
func (f *fixture) restart(t *testing.T) {
	t.Helper()
	exp, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.exp = exp
}

// patches counts the writes (server-side applies) the API server saw.
func (f *fixture) patches() int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "secrets" {
			n++
		}
	}
	return n
}

func (f *fixture) export(t *testing.T, s *snapshot.Snapshot) {
	t.Helper()
	if err := f.exp.Export(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) secret(t *testing.T) *corev1.Secret {
	t.Helper()
	s, err := f.client.CoreV1().Secrets(DefaultNamespace).Get(context.Background(), DefaultName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) update(t *testing.T, s *corev1.Secret) {
	t.Helper()
	if _, err := f.client.CoreV1().Secrets(DefaultNamespace).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// hmacHex is HMAC-SHA256(key, b) in hex, computed here independently of Sign.
func hmacHex(key, b []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

func TestExportWritesPayloadWithAnnotations(t *testing.T) {
	f := newFixture(t, nil)
	f.export(t, snap(3))
	s := f.secret(t)
	payload := s.Data[DefaultKey]
	if nodesIn(t, payload) != 3 {
		t.Fatalf("payload = %s", payload)
	}
	a := s.Annotations
	if a[AnnotationPayloadDigest] != Digest(payload) || a[AnnotationFormat] != "scc" || a[AnnotationSchemaVersion] != scc.Version ||
		a[AnnotationLastChanged] != "2026-01-02T03:04:05Z" || a[AnnotationContentDigest] == "" {
		t.Fatalf("annotations = %v", a)
	}
	if want := "hmac-sha256:" + hmacHex(signingKey, payload); a[AnnotationSignature] != want {
		t.Fatalf("signature = %q, want %q", a[AnnotationSignature], want)
	}
	if s.Labels[LabelPartOf] != PartOf {
		t.Fatalf("labels = %v", s.Labels)
	}
}

func TestExportSkipsUnchangedContentDespiteTimestamp(t *testing.T) {
	f := newFixture(t, nil)
	f.export(t, snap(3))
	f.clock.Step(time.Hour) // the timestamp would differ; the content does not
	f.export(t, snap(3))
	if f.writes != 1 {
		t.Fatalf("writes = %d, want 1", f.writes)
	}
	f.export(t, snap(4))
	if f.writes != 2 {
		t.Fatalf("writes after a content change = %d, want 2", f.writes)
	}
}

func TestExportRewritesAfterMaxAge(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxAge = 24 * time.Hour })
	f.export(t, snap(3))
	f.clock.Step(23 * time.Hour)
	f.export(t, snap(3))
	if f.writes != 1 {
		t.Fatalf("writes before max age = %d, want 1", f.writes)
	}
	f.clock.Step(time.Hour)
	f.export(t, snap(3))
	if f.writes != 2 {
		t.Fatalf("writes at max age = %d, want 2", f.writes)
	}
	if got := f.secret(t).Annotations[AnnotationLastChanged]; got != "2026-01-03T03:04:05Z" {
		t.Fatalf("last-changed = %s, want the time of the rewrite", got)
	}
}

func TestExportRestoresEditedPayloadExactly(t *testing.T) {
	f := newFixture(t, nil)
	f.export(t, snap(3))
	orig := f.secret(t)
	edited := orig.DeepCopy()
	edited.Data[DefaultKey] = []byte(`{"nodes":1000}`)
	f.update(t, edited)
	f.clock.Step(time.Minute)
	f.export(t, snap(3))
	restored := f.secret(t)
	if string(restored.Data[DefaultKey]) != string(orig.Data[DefaultKey]) ||
		restored.Annotations[AnnotationLastChanged] != orig.Annotations[AnnotationLastChanged] {
		t.Fatalf("restored payload %s (changed %s), want the original %s (changed %s)",
			restored.Data[DefaultKey], restored.Annotations[AnnotationLastChanged], orig.Data[DefaultKey], orig.Annotations[AnnotationLastChanged])
	}
}

func TestExportMissingNamespaceWithoutCreation(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.CreateNamespace = false })
	f.client.PrependReactor("patch", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, DefaultNamespace)
	})
	err := f.exp.Export(context.Background(), snap(1))
	if !errors.Is(err, ErrNamespace) || !strings.Contains(err.Error(), DefaultNamespace) {
		t.Fatalf("error = %v, want ErrNamespace naming %s", err, DefaultNamespace)
	}
}

func TestExportForbiddenNamespaceCreationIsClear(t *testing.T) {
	f := newFixture(t, nil)
	f.client.PrependReactor("patch", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, DefaultNamespace)
	})
	f.client.PrependReactor("create", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, DefaultNamespace, errors.New("no"))
	})
	err := f.exp.Export(context.Background(), snap(1))
	if !errors.Is(err, ErrNamespace) || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("error = %v, want ErrNamespace wrapping the Forbidden error", err)
	}
}

func TestExportCreatesMissingNamespace(t *testing.T) {
	f := newFixture(t, nil)
	calls := 0
	f.client.PrependReactor("patch", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		calls++
		if calls == 1 {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, DefaultNamespace)
		}
		return false, nil, nil
	})
	f.export(t, snap(2))
	if _, err := f.client.CoreV1().Namespaces().Get(context.Background(), DefaultNamespace, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace not created: %v", err)
	}
	if f.writes != 1 {
		t.Fatalf("writes = %d, want 1", f.writes)
	}
}

func TestNewReportsEveryMissingOption(t *testing.T) {
	_, err := New(Options{CreateNamespace: true})
	for _, want := range []string{"no encoder", "no signing key", "no secret client", "namespace client"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// forgeries are edits of a written Secret that the exporter must undo.
// claimsNewContent marks an edit of the content-digest annotation to match
// the forged payload: an exporter that restarts since cannot tell it from a
// content change while it was down, so it writes the real content as of now.
var forgeries = []struct {
	name             string
	edit             func(s *corev1.Secret)
	claimsNewContent bool
}{
	{"payload rewritten with both digest annotations to match", func(s *corev1.Secret) {
		forged, _ := scc.Encoder{}.Encode(snap(1000), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		content, _ := scc.Encoder{}.Encode(snap(1000), time.Time{})
		s.Data[DefaultKey] = forged
		s.Annotations[AnnotationPayloadDigest] = Digest(forged)
		s.Annotations[AnnotationContentDigest] = Digest(content)
	}, true},
	{"payload rewritten with its digest annotation, content digest and signature kept", func(s *corev1.Secret) {
		forged, _ := scc.Encoder{}.Encode(snap(1000), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		s.Data[DefaultKey] = forged
		s.Annotations[AnnotationPayloadDigest] = Digest(forged)
	}, false},
	{"payload rewritten, digests matching, signed with another key", func(s *corev1.Secret) {
		forged, _ := scc.Encoder{}.Encode(snap(1000), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		s.Data[DefaultKey] = forged
		s.Annotations[AnnotationPayloadDigest] = Digest(forged)
		s.Annotations[AnnotationSignature] = Sign([]byte("not the install's key"), forged)
	}, false},
	{"signature removed", func(s *corev1.Secret) { delete(s.Annotations, AnnotationSignature) }, false},
	{"signature of another key", func(s *corev1.Secret) {
		s.Annotations[AnnotationSignature] = Sign([]byte("not the install's key"), s.Data[DefaultKey])
	}, false},
	{"payload key deleted", func(s *corev1.Secret) { delete(s.Data, DefaultKey) }, false},
	{"content digest annotation edited", func(s *corev1.Secret) { s.Annotations[AnnotationContentDigest] = Digest([]byte("x")) }, false},
}

func TestExportRestoresForgedSecretByteForByte(t *testing.T) {
	for _, restarted := range []bool{false, true} {
		for _, tt := range forgeries {
			name := tt.name
			if restarted {
				name += " while the exporter was down"
			}
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, nil)
				f.export(t, snap(3))
				orig := f.secret(t)
				edited := orig.DeepCopy()
				tt.edit(edited)
				f.update(t, edited)
				f.clock.Step(time.Hour)
				if restarted {
					f.restart(t)
				}
				f.export(t, snap(3))
				got := f.secret(t)
				if err := VerifySignature(signingKey, got.Data[DefaultKey], got.Annotations[AnnotationSignature]); err != nil {
					t.Error(err)
				}
				if restarted && tt.claimsNewContent {
					want, err := scc.Encoder{}.Encode(snap(3), f.clock.Now())
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got.Data[DefaultKey], want) || got.Annotations[AnnotationLastChanged] != "2026-01-02T04:04:05Z" {
						t.Fatalf("payload = %s (changed %s)\nwant the real content as of the restart", got.Data[DefaultKey], got.Annotations[AnnotationLastChanged])
					}
					return
				}
				if !bytes.Equal(got.Data[DefaultKey], orig.Data[DefaultKey]) {
					t.Fatalf("payload = %s\nwant the original %s", got.Data[DefaultKey], orig.Data[DefaultKey])
				}
				for _, k := range []string{AnnotationPayloadDigest, AnnotationContentDigest, AnnotationSignature, AnnotationLastChanged} {
					if got.Annotations[k] != orig.Annotations[k] {
						t.Errorf("annotation %s = %q, want the original %q", k, got.Annotations[k], orig.Annotations[k])
					}
				}
			})
		}
	}
}

func TestExportAfterRestartWritesNothingWhenUnchanged(t *testing.T) {
	encoders := []struct {
		name string
		enc  snapshot.Encoder
	}{
		{"scc payload, which carries its time", scc.Encoder{}},
		{"report payload, which has no time", report.New([]byte("pseudonym key"))},
	}
	for _, tt := range encoders {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.Encoder = tt.enc; o.MaxAge = 24 * time.Hour })
			f.export(t, snap(3))
			before := f.secret(t)
			for range 3 {
				f.clock.Step(time.Hour)
				f.restart(t)
				f.export(t, snap(3))
			}
			if n := f.patches(); n != 1 {
				t.Fatalf("%d writes, want only the first: restarts on an unchanged installation rewrote it", n)
			}
			if got := f.secret(t); got.ResourceVersion != before.ResourceVersion {
				t.Fatalf("resourceVersion %s -> %s", before.ResourceVersion, got.ResourceVersion)
			}
		})
	}
}

func TestExportAfterRestartWritesNewContentWithNewTime(t *testing.T) {
	f := newFixture(t, nil)
	f.export(t, snap(3))
	f.clock.Step(time.Hour)
	f.restart(t)
	f.export(t, snap(4))
	s := f.secret(t)
	if nodesIn(t, s.Data[DefaultKey]) != 4 || s.Annotations[AnnotationLastChanged] != "2026-01-02T04:04:05Z" {
		t.Fatalf("payload %s changed %s, want 4 nodes as of the restart", s.Data[DefaultKey], s.Annotations[AnnotationLastChanged])
	}
}

func TestExportAfterRestartHonoursMaxAge(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxAge = 24 * time.Hour })
	f.export(t, snap(3))
	f.clock.Step(24 * time.Hour)
	f.restart(t)
	f.export(t, snap(3))
	if n := f.patches(); n != 2 {
		t.Fatalf("%d writes, want a rewrite of the day-old payload", n)
	}
	if got := f.secret(t).Annotations[AnnotationLastChanged]; got != "2026-01-03T03:04:05Z" {
		t.Fatalf("last-changed = %s, want the time of the rewrite", got)
	}
}

// breakable is the scc encoder, or, once broken, one whose payload has a
// version the schema refuses (a stand-in for an encoder bug).
type breakable struct {
	scc.Encoder
	broken *bool
}

func (b breakable) Encode(s *snapshot.Snapshot, now time.Time) ([]byte, error) {
	out, err := b.Encoder.Encode(s, now)
	if *b.broken {
		out = bytes.Replace(out, []byte(`"version": "2.12.1"`), []byte(`"version": "2.12-dev"`), 1)
	}
	return out, err
}

func TestExportNeverWritesInvalidPayload(t *testing.T) {
	for _, existing := range []bool{false, true} {
		name := "no secret yet"
		if existing {
			name = "last good payload kept"
		}
		t.Run(name, func(t *testing.T) {
			broken := false
			f := newFixture(t, func(o *Options) { o.Encoder = breakable{broken: &broken} })
			var before *corev1.Secret
			if existing {
				f.export(t, snap(3))
				before = f.secret(t)
			}
			writes := f.patches()
			broken = true
			f.clock.Step(time.Hour)
			err := f.exp.Export(context.Background(), snap(4))
			if !errors.Is(err, encoding.ErrInvalidPayload) || !errors.Is(err, scc.ErrInvalid) {
				t.Fatalf("err = %v, want encoding.ErrInvalidPayload", err)
			}
			for _, want := range []string{"/version", DefaultNamespace + "/" + DefaultName} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
			if n := f.patches(); n != writes {
				t.Fatalf("%d writes after the invalid payload, want none", n-writes)
			}
			if !existing {
				return
			}
			if got := f.secret(t); got.ResourceVersion != before.ResourceVersion || !bytes.Equal(got.Data[DefaultKey], before.Data[DefaultKey]) {
				t.Fatalf("the Secret changed: %s", got.Data[DefaultKey])
			}
		})
	}
}

func TestNewRefusesFormatWithoutSchema(t *testing.T) {
	_, err := New(Options{Encoder: renamed{}, SigningKey: signingKey, Secrets: fake.NewClientset().CoreV1(), Cache: liveCache{}})
	if !errors.Is(err, encoding.ErrUnknownFormat) || !strings.Contains(err.Error(), `"json"`) {
		t.Fatalf("err = %v, want ErrUnknownFormat naming the format", err)
	}
}

type renamed struct{ scc.Encoder }

func (renamed) Format() string { return "json" }

func TestVerifySignature(t *testing.T) {
	payload := []byte(`{"version":"2.12.1"}`)
	tests := []struct {
		name       string
		key        []byte
		payload    []byte
		annotation string
		want       error
	}{
		{name: "signed by this key over these bytes", key: signingKey, payload: payload, annotation: "hmac-sha256:" + hmacHex(signingKey, payload)},
		{name: "missing", key: signingKey, payload: payload, annotation: "", want: ErrUnsigned},
		{name: "another key", key: []byte("other"), payload: payload, annotation: Sign(signingKey, payload), want: ErrBadSignature},
		{name: "payload changed by a byte", key: signingKey, payload: append([]byte(" "), payload...), annotation: Sign(signingKey, payload), want: ErrBadSignature},
		{name: "no algorithm prefix", key: signingKey, payload: payload, annotation: hmacHex(signingKey, payload), want: ErrBadSignature},
		{name: "not hex", key: signingKey, payload: payload, annotation: "hmac-sha256:zz", want: ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.key, tt.payload, tt.annotation)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// counting is the scc encoder counting its renders.
type counting struct {
	scc.Encoder
	calls *int
}

func (c counting) Encode(s *snapshot.Snapshot, now time.Time) ([]byte, error) {
	*c.calls++
	return c.Encoder.Encode(s, now)
}

func TestExportRendersOnceMoreWhenContentChanges(t *testing.T) {
	calls := 0
	f := newFixture(t, func(o *Options) { o.Encoder = counting{calls: &calls} })
	f.export(t, snap(3))
	calls = 0
	f.export(t, snap(3))
	if calls != 1 {
		t.Fatalf("an unchanged export rendered %d times, want 1 (the content)", calls)
	}
	calls = 0
	f.clock.Step(time.Minute)
	f.export(t, snap(4))
	if calls != 2 {
		t.Fatalf("a content change rendered %d times, want 2 (the content, then the payload)", calls)
	}
}

// TestHoldsTellsItsOwnWriteFromAnEdit: the event of the exporter's own
// write needs no run, an edited or foreign Secret does, and before the
// first run every Secret does.
func TestHoldsTellsItsOwnWriteFromAnEdit(t *testing.T) {
	f := newFixture(t, nil)
	if f.exp.Holds(&corev1.Secret{}) {
		t.Fatal("Holds before the first run: want false")
	}
	f.export(t, snap(3))
	s := f.secret(t)
	if !f.exp.Holds(s) {
		t.Fatalf("Holds(own write) = false, want true")
	}
	edited := s.DeepCopy()
	edited.Data[DefaultKey] = []byte(`{"forged": true}`)
	if f.exp.Holds(edited) {
		t.Error("Holds(edited payload) = true, want false")
	}
	unsigned := s.DeepCopy()
	delete(unsigned.Annotations, AnnotationSignature)
	if f.exp.Holds(unsigned) {
		t.Error("Holds(signature removed) = true, want false")
	}
}
