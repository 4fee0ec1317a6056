package secret

import (
	"context"
	"errors"
	"fmt"
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

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// stampEncoder renders the node count, and the time when it is not zero,
// like the scc format does.
type stampEncoder struct{}

func (stampEncoder) Format() string        { return "report" }
func (stampEncoder) SchemaVersion() string { return "1" }
func (stampEncoder) Encode(s *snapshot.Snapshot, now time.Time) ([]byte, error) {
	ts := ""
	if !now.IsZero() {
		ts = now.UTC().Format(time.RFC3339)
	}
	return fmt.Appendf(nil, `{"nodes":%d,"timestamp":%q}`, s.Totals().Nodes, ts), nil
}

// liveCache reads straight from the client: a cache that is never behind.
type liveCache struct{ c *fake.Clientset }

func (l liveCache) Get(ns, name string) (*corev1.Secret, error) {
	return l.c.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
}

func snap(nodes int) *snapshot.Snapshot {
	return &snapshot.Snapshot{Clusters: []snapshot.Cluster{{Name: "local", Nodes: make([]snapshot.Node, nodes)}}}
}

type fixture struct {
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	exp    *Exporter
	writes int
}

func newFixture(t *testing.T, mutate func(*Options)) *fixture {
	t.Helper()
	f := &fixture{client: fake.NewClientset(), clock: clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	o := Options{
		Encoder: stampEncoder{}, Secrets: f.client.CoreV1(), Namespaces: f.client.CoreV1(),
		Cache: liveCache{f.client}, Clock: f.clock, CreateNamespace: true,
		OnWrite: func(int) { f.writes++ },
	}
	if mutate != nil {
		mutate(&o)
	}
	exp, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.exp = exp
	return f
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

func TestExportWritesPayloadWithAnnotations(t *testing.T) {
	f := newFixture(t, nil)
	f.export(t, snap(3))
	s := f.secret(t)
	payload := s.Data[DefaultKey]
	if !strings.Contains(string(payload), `"nodes":3`) {
		t.Fatalf("payload = %s", payload)
	}
	a := s.Annotations
	if a[AnnotationPayloadDigest] != Digest(payload) || a[AnnotationFormat] != "report" || a[AnnotationSchemaVersion] != "1" ||
		a[AnnotationLastChanged] != "2026-01-02T03:04:05Z" || a[AnnotationContentDigest] == "" {
		t.Fatalf("annotations = %v", a)
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
	if _, err := f.client.CoreV1().Secrets(DefaultNamespace).Update(context.Background(), edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
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
	for _, want := range []string{"no encoder", "no secret client", "namespace client"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}
