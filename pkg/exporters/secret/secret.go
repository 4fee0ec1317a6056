// Package secret implements the default exporter: it keeps a payload in a
// Secret (cattle-telemetry-system/telemetry, key "payload") for auditors and
// other controllers to read.
//
// The exporter compares what it would write with the Secret in its cache and
// writes only when the content changed, the Secret was edited or deleted, or
// the payload is older than MaxAge. Writes are server-side applies with the
// exporter's own field manager, so labels, annotations and data keys that
// others own survive.
package secret

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Defaults of the target Secret.
const (
	DefaultNamespace = "cattle-telemetry-system"
	DefaultName      = "telemetry"
	DefaultKey       = "payload"
	// FieldManager is the server-side apply field manager of every write.
	FieldManager = "telemetry-manager"
)

// Labels and annotations the exporter owns on the Secret.
const (
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	PartOf         = "telemetry"

	// AnnotationPayloadDigest is "sha256:<hex>" of the bytes under the payload key.
	AnnotationPayloadDigest = "telemetry.cattle.io/payload-digest"
	// AnnotationContentDigest is the digest of the payload rendered without
	// its timestamp; equal content digests mean nothing worth writing changed.
	AnnotationContentDigest = "telemetry.cattle.io/content-digest"
	// AnnotationFormat is the payload format (report, scc).
	AnnotationFormat = "telemetry.cattle.io/format"
	// AnnotationSchemaVersion is the version of the format's schema.
	AnnotationSchemaVersion = "telemetry.cattle.io/schema-version"
	// AnnotationLastChanged is when the payload was last written (RFC 3339).
	AnnotationLastChanged = "telemetry.cattle.io/last-changed"
	// AnnotationPayloadKey names the data key holding the payload.
	AnnotationPayloadKey = "telemetry.cattle.io/payload-key"
)

// ErrNamespace means the target namespace is missing and could not be created.
var ErrNamespace = errors.New("target namespace missing")

// SecretCache reads Secrets from an informer cache; a wrangler SecretCache fits.
type SecretCache interface {
	Get(namespace, name string) (*corev1.Secret, error)
}

// Options configure an Exporter.
type Options struct {
	Namespace string
	Name      string
	Key       string
	// MaxAge rewrites an unchanged payload once it is this old; 0 never does.
	MaxAge time.Duration
	// CreateNamespace creates the target namespace when it is missing.
	CreateNamespace bool

	Encoder    snapshot.Encoder
	Secrets    typedcorev1.SecretsGetter
	Namespaces typedcorev1.NamespacesGetter
	// Cache is an informer cache that holds the target Secret.
	Cache SecretCache
	Clock clock.PassiveClock
	Log   *logrus.Entry
	// OnWrite is called after each write, for metrics.
	OnWrite func(bytes int)
}

// Exporter writes a payload into a Secret.
type Exporter struct {
	opts Options
	log  *logrus.Entry

	mu sync.Mutex
	// last is what the last write wrote. Writing the same content again
	// reuses its bytes and time, so the apply is identical: a no-op for the
	// API server when the Secret already holds it (the cache may lag behind
	// a write), and an exact restore when someone deleted or edited it.
	last struct {
		contentDigest string
		payload       []byte
		changed       time.Time
	}
}

// New returns an Exporter, checking that the options are complete.
func New(opts Options) (*Exporter, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.Key == "" {
		opts.Key = DefaultKey
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Log == nil {
		opts.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	var errs []error
	if opts.Encoder == nil {
		errs = append(errs, errors.New("secret exporter: no encoder"))
	}
	if opts.Secrets == nil || opts.Cache == nil {
		errs = append(errs, errors.New("secret exporter: no secret client or cache"))
	}
	if opts.CreateNamespace && opts.Namespaces == nil {
		errs = append(errs, errors.New("secret exporter: creating the namespace needs a namespace client"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Exporter{opts: opts, log: opts.Log.WithField("secret", opts.Namespace+"/"+opts.Name)}, nil
}

// Target returns the namespace and name of the Secret.
func (e *Exporter) Target() (namespace, name string) { return e.opts.Namespace, e.opts.Name }

// Export writes the snapshot's payload when the Secret does not already hold it.
func (e *Exporter) Export(ctx context.Context, s *snapshot.Snapshot) error {
	content, err := e.opts.Encoder.Encode(s, time.Time{})
	if err != nil {
		return fmt.Errorf("encoding %s payload: %w", e.opts.Encoder.Format(), err)
	}
	contentDigest := Digest(content)
	now := e.opts.Clock.Now()

	e.mu.Lock()
	defer e.mu.Unlock()

	current, err := e.opts.Cache.Get(e.opts.Namespace, e.opts.Name)
	switch {
	case apierrors.IsNotFound(err):
		current = nil
	case err != nil:
		return fmt.Errorf("reading secret %s/%s from cache: %w", e.opts.Namespace, e.opts.Name, err)
	}
	reason := e.stale(current, contentDigest, now)
	if reason == "" {
		return nil
	}

	payload, changed := e.last.payload, e.last.changed
	if e.last.contentDigest != contentDigest || (e.opts.MaxAge > 0 && now.Sub(changed) >= e.opts.MaxAge) {
		changed = now
		if payload, err = e.opts.Encoder.Encode(s, now); err != nil {
			return fmt.Errorf("encoding %s payload: %w", e.opts.Encoder.Format(), err)
		}
	}
	e.log.WithField("reason", reason).Debug("writing payload")
	if err := e.apply(ctx, payload, contentDigest, changed); err != nil {
		return err
	}
	e.last.contentDigest, e.last.payload, e.last.changed = contentDigest, payload, changed
	if e.opts.OnWrite != nil {
		e.opts.OnWrite(len(payload))
	}
	return nil
}

// stale says why current must be rewritten, or "" when it is up to date.
func (e *Exporter) stale(current *corev1.Secret, contentDigest string, now time.Time) string {
	if current == nil {
		return "secret missing"
	}
	a := current.Annotations
	data, ok := current.Data[e.opts.Key]
	switch {
	case !ok:
		return "payload missing"
	case a[AnnotationPayloadDigest] != Digest(data):
		return "payload does not match its digest"
	case a[AnnotationContentDigest] != contentDigest:
		return "content changed"
	case a[AnnotationFormat] != e.opts.Encoder.Format() || a[AnnotationSchemaVersion] != e.opts.Encoder.SchemaVersion() || a[AnnotationPayloadKey] != e.opts.Key:
		return "format annotations changed"
	case current.Labels[LabelPartOf] != PartOf:
		return "labels changed"
	}
	if e.opts.MaxAge > 0 {
		changed, err := time.Parse(time.RFC3339, a[AnnotationLastChanged])
		if err != nil {
			return "last-changed annotation unreadable"
		}
		if now.Sub(changed) >= e.opts.MaxAge {
			return "payload older than max age"
		}
	}
	return ""
}

func (e *Exporter) apply(ctx context.Context, payload []byte, contentDigest string, changed time.Time) error {
	cfg := applycorev1.Secret(e.opts.Name, e.opts.Namespace).
		WithLabels(map[string]string{LabelPartOf: PartOf, LabelManagedBy: FieldManager}).
		WithAnnotations(map[string]string{
			AnnotationPayloadDigest: Digest(payload),
			AnnotationContentDigest: contentDigest,
			AnnotationFormat:        e.opts.Encoder.Format(),
			AnnotationSchemaVersion: e.opts.Encoder.SchemaVersion(),
			AnnotationLastChanged:   changed.UTC().Format(time.RFC3339),
			AnnotationPayloadKey:    e.opts.Key,
		}).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{e.opts.Key: payload})
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}

	_, err := e.opts.Secrets.Secrets(e.opts.Namespace).Apply(ctx, cfg, opts)
	if apierrors.IsNotFound(err) {
		// The namespace is missing (the Secret itself would be created).
		if nsErr := e.ensureNamespace(ctx); nsErr != nil {
			return nsErr
		}
		_, err = e.opts.Secrets.Secrets(e.opts.Namespace).Apply(ctx, cfg, opts)
	}
	if err != nil {
		return fmt.Errorf("writing secret %s/%s: %w", e.opts.Namespace, e.opts.Name, err)
	}
	return nil
}

func (e *Exporter) ensureNamespace(ctx context.Context) error {
	if !e.opts.CreateNamespace {
		return fmt.Errorf("writing secret %s/%s: %w: namespace %q does not exist and namespace creation is disabled", e.opts.Namespace, e.opts.Name, ErrNamespace, e.opts.Namespace)
	}
	if err := EnsureNamespace(ctx, e.opts.Namespaces, e.opts.Namespace, e.log); err != nil {
		return fmt.Errorf("writing secret %s/%s: %w", e.opts.Namespace, e.opts.Name, err)
	}
	return nil
}

// EnsureNamespace creates the telemetry namespace when it is missing. A
// refusal is an error wrapping ErrNamespace that says what to do.
func EnsureNamespace(ctx context.Context, namespaces typedcorev1.NamespacesGetter, name string, log *logrus.Entry) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelPartOf: PartOf}}}
	_, err := namespaces.Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
	switch {
	case err == nil:
		log.WithField("namespace", name).Info("created namespace")
		return nil
	case apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: namespace %q does not exist and creating it is forbidden (create it, or grant create on namespaces): %w", ErrNamespace, name, err)
	default:
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
}

// Digest returns "sha256:<hex>" of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
