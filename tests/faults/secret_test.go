package faults

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
)

// deletions is how many times the Secret is deleted in a tight loop, and
// cycles how many times it is deleted again as soon as it is back.
const (
	deletions = 50
	cycles    = 20
)

// quiet is how long the manager is watched for writes and logs once the
// Secret is back: nothing may happen in it.
const quiet = 5 * time.Second

// TestSecretDeletedAndEditedIsRestoredWithBoundedWrites: the Secret deleted
// 50 times in a tight loop, then 20 times as soon as it is back, then its
// payload and annotations edited, is
// always restored exactly, with at most one write per deletion or edit, no
// write or log line once it is back, and an annotation of someone else
// left alone without a write.
func TestSecretDeletedAndEditedIsRestoredWithBoundedWrites(t *testing.T) {
	ns := namespace(t)
	m := startManager(t, env.KubeconfigPath, ns, "--log-level", "info")
	initialPayload(t, ns)
	want, err := getSecret(ns)
	if err != nil {
		t.Fatal(err)
	}
	writes0, lines0 := m.metric(writesSeries), m.lines()

	ctx := context.Background()
	deleted := 0
	for range deletions {
		err := kube.CoreV1().Secrets(ns).Delete(ctx, secret.DefaultName, metav1.DeleteOptions{})
		switch {
		case err == nil:
			deleted++
		case !apierrors.IsNotFound(err):
			t.Fatal(err)
		}
	}
	restored(t, ns, want, "after the deletions")
	t.Logf("%d deletions in a tight loop (%d of an existing Secret): %v writes", deletions, deleted, m.metric(writesSeries)-writes0)
	for i := range cycles {
		if err := kube.CoreV1().Secrets(ns).Delete(ctx, secret.DefaultName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		deleted++
		restored(t, ns, want, fmt.Sprintf("after deletion %d of %d as soon as it was back", i+1, cycles))
	}
	t.Logf("then %d deletions as soon as it was back: %v writes", cycles, m.metric(writesSeries)-writes0)

	edits := []struct {
		name string
		edit func(s *corev1.Secret)
	}{
		{"payload replaced", func(s *corev1.Secret) { s.Data[secret.DefaultKey] = []byte(`{"totals":{}}`) }},
		{"payload replaced with matching digest annotations", func(s *corev1.Secret) {
			p := []byte(`{"totals":{"nodes":1}}`)
			s.Data[secret.DefaultKey] = p
			s.Annotations[secret.AnnotationPayloadDigest] = secret.Digest(p)
			s.Annotations[secret.AnnotationContentDigest] = secret.Digest(p)
		}},
		{"payload key removed", func(s *corev1.Secret) { delete(s.Data, secret.DefaultKey) }},
		{"signature changed", func(s *corev1.Secret) { s.Annotations[secret.AnnotationSignature] = "hmac-sha256:00" }},
		{"last-changed changed", func(s *corev1.Secret) { s.Annotations[secret.AnnotationLastChanged] = "2001-01-01T00:00:00Z" }},
		{"schema version removed", func(s *corev1.Secret) { delete(s.Annotations, secret.AnnotationSchemaVersion) }},
	}
	for _, e := range edits {
		edit(t, ns, e.edit)
		restored(t, ns, want, "after the edit "+e.name)
	}
	writes := m.metric(writesSeries) - writes0
	t.Logf("%d edits: %v writes in all", len(edits), writes)
	if max := float64(deleted + len(edits) + 2); writes < 1 || writes > max {
		t.Errorf("%v Secret writes for %d deletions of an existing Secret and %d edits, want 1 to %v", writes, deleted, len(edits), max)
	}
	if lines := m.lines() - lines0; lines > deleted+len(edits)+10 {
		t.Errorf("%d log lines for %d deletions and %d edits at level info, want at most one a write:\n%s", lines, deleted, len(edits), m.logs.String())
	}

	// Back and settled: nothing more happens.
	writes, lines := m.metric(writesSeries), m.lines()
	time.Sleep(quiet)
	if w, l := m.metric(writesSeries), m.lines(); w != writes || l != lines {
		t.Errorf("in %v after the Secret was back: %v more writes, %d more log lines:\n%s", quiet, w-writes, l-lines, m.logs.String())
	}

	// Someone else's annotation is kept, and asks for no write.
	edit(t, ns, func(s *corev1.Secret) { s.Annotations["example.com/note"] = "audited" })
	time.Sleep(quiet)
	s, err := getSecret(ns)
	if err != nil {
		t.Fatal(err)
	}
	if s.Annotations["example.com/note"] != "audited" || m.metric(writesSeries) != writes {
		t.Errorf("after a foreign annotation: note %q, %v more writes; want it kept and no write",
			s.Annotations["example.com/note"], m.metric(writesSeries)-writes)
	}
	audit(t, ns)
}

// edit changes the Secret of ns with f, retrying on conflicts.
func edit(t *testing.T, ns string, f func(s *corev1.Secret)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := getSecret(ns)
		if err != nil {
			return err
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		f(s)
		_, err = kube.CoreV1().Secrets(ns).Update(context.Background(), s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// restored waits until the Secret of ns holds want's payload, annotations
// and labels again, and passes the audit.
func restored(t *testing.T, ns string, want *corev1.Secret, when string) {
	t.Helper()
	eventually(t, 60*time.Second, "the Secret restored "+when, func() (bool, error) {
		s, err := getSecret(ns)
		if err != nil {
			return false, err
		}
		if !bytes.Equal(s.Data[secret.DefaultKey], want.Data[secret.DefaultKey]) {
			return false, fmt.Errorf("payload differs")
		}
		for _, k := range []string{secret.AnnotationPayloadDigest, secret.AnnotationContentDigest, secret.AnnotationSignature,
			secret.AnnotationLastChanged, secret.AnnotationSchemaVersion, secret.AnnotationFormat} {
			if s.Annotations[k] != want.Annotations[k] {
				return false, fmt.Errorf("annotation %s is %q, want %q", k, s.Annotations[k], want.Annotations[k])
			}
		}
		return s.Labels[secret.LabelPartOf] == secret.PartOf, fmt.Errorf("labels %v", s.Labels)
	})
	audit(t, ns)
}
