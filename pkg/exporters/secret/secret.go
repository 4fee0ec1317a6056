// Package secret implements the default exporter: it keeps a payload in a
// Secret (cattle-telemetry-system/telemetry, key "payload") for auditors and
// other controllers to read.
//
// The exporter compares what it would write with the Secret in its cache,
// byte for byte, and writes only when the content changed, the Secret was
// edited or deleted (also when the edit rewrote the digest annotations to
// match), its signature is missing or wrong, or the payload is older than
// MaxAge. Every payload it writes has passed its format's schema and is
// signed with a key derived from the install's identity. Writes are
// server-side applies with the exporter's own field manager, so labels,
// annotations and data keys that others own survive.
package secret

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/encoding"
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
	// AnnotationSignature is "hmac-sha256:<hex>", the HMAC-SHA256 of the
	// bytes under the payload key keyed by the install's signing key.
	AnnotationSignature = "telemetry.cattle.io/signature"
)

// signaturePrefix names the algorithm of AnnotationSignature.
const signaturePrefix = "hmac-sha256:"

var (
	// ErrNamespace means the target namespace is missing and could not be created.
	ErrNamespace = errors.New("target namespace missing")
	// ErrUnsigned means a Secret has no signature annotation.
	ErrUnsigned = errors.New("payload not signed")
	// ErrBadSignature means the signature annotation does not match the payload.
	ErrBadSignature = errors.New("payload signature does not match")
)

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

	// Encoder renders the payload; its format must be one of
	// encoding.Formats(), whose schema every written payload must pass.
	Encoder snapshot.Encoder
	// SigningKey signs each payload (AnnotationSignature); see
	// identity.Identity.SigningKey.
	SigningKey []byte
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

	// enc is opts.Encoder validating every payload against its schema.
	enc snapshot.Encoder

	mu sync.Mutex
	// last is what the Secret was last seen or made to hold. Writing the
	// same content again reuses its bytes and time, so the apply is
	// identical: a no-op for the API server when the Secret already holds
	// it (the cache may lag behind a write), and an exact restore when
	// someone deleted or edited it.
	last rendering
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
	} else if !slices.Contains(encoding.Formats(), opts.Encoder.Format()) {
		errs = append(errs, fmt.Errorf("secret exporter: encoder: %w %q: no schema to validate it with", encoding.ErrUnknownFormat, opts.Encoder.Format()))
	}
	if len(opts.SigningKey) == 0 {
		errs = append(errs, errors.New("secret exporter: no signing key"))
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
	return &Exporter{
		opts: opts,
		enc:  encoding.Validating(opts.Encoder),
		log:  opts.Log.WithField("secret", opts.Namespace+"/"+opts.Name),
	}, nil
}

// Target returns the namespace and name of the Secret.
func (e *Exporter) Target() (namespace, name string) { return e.opts.Namespace, e.opts.Name }

// Export writes the snapshot's payload when the Secret does not already hold
// exactly what the exporter would write: the same payload bytes, signed, with
// the annotations and labels that describe it. A payload that fails its
// schema is neither written nor sent: the Secret keeps the last good one and
// the error wraps encoding.ErrInvalidPayload.
func (e *Exporter) Export(ctx context.Context, s *snapshot.Snapshot) error {
	// The content render never leaves the process (only its digest does),
	// so it is not validated; every render that is written is.
	content, err := e.opts.Encoder.Encode(s, time.Time{})
	if err != nil {
		return fmt.Errorf("secret %s/%s: encoding %s payload: %w", e.opts.Namespace, e.opts.Name, e.opts.Encoder.Format(), err)
	}
	contentDigest := Digest(content)
	now := e.opts.Clock.Now().UTC().Truncate(time.Second) // last-changed has seconds

	e.mu.Lock()
	defer e.mu.Unlock()

	current, err := e.opts.Cache.Get(e.opts.Namespace, e.opts.Name)
	switch {
	case apierrors.IsNotFound(err):
		current = nil
	case err != nil:
		return fmt.Errorf("reading secret %s/%s from cache: %w", e.opts.Namespace, e.opts.Name, err)
	}
	want, err := e.plan(s, current, contentDigest, now)
	if err != nil {
		return fmt.Errorf("secret %s/%s: encoding %s payload: %w", e.opts.Namespace, e.opts.Name, e.opts.Encoder.Format(), err)
	}
	reason := e.differs(current, want)
	if reason == "" {
		e.last = want // adopt what an earlier process or replica wrote
		return nil
	}
	e.log.WithField("reason", reason).Debug("writing payload")
	if err := e.apply(ctx, want); err != nil {
		return err
	}
	e.last = want
	if e.opts.OnWrite != nil {
		e.opts.OnWrite(len(want.payload))
	}
	return nil
}

// rendering is one payload the exporter writes: its bytes, the digest of its
// content (the payload rendered without a time) and when it last changed.
type rendering struct {
	payload       []byte
	contentDigest string
	changed       time.Time
}

// plan returns what the Secret must hold for snapshot s, whose content
// digest is contentDigest.
//
// The same content keeps the same bytes and time, so a rewrite is an exact
// restore and an unchanged installation causes no write. What this process
// last wrote is kept in e.last. After a restart (or on a new leader) e.last
// is empty: the payload is rendered again with the Secret's own last-changed
// time, and kept with that time when the Secret holds exactly those bytes or
// says it holds this content. Anything else starts a new payload at now.
func (e *Exporter) plan(s *snapshot.Snapshot, current *corev1.Secret, contentDigest string, now time.Time) (rendering, error) {
	if e.last.payload != nil && e.last.contentDigest == contentDigest && !e.expired(e.last.changed, now) {
		return e.last, nil
	}
	// When the Secret still holds what this process last wrote, the content
	// changed since and rendering it again at the Secret's time is wasted.
	ownOld := current != nil && e.last.payload != nil && bytes.Equal(current.Data[e.opts.Key], e.last.payload)
	if current != nil && !ownOld {
		if t, err := time.Parse(time.RFC3339, current.Annotations[AnnotationLastChanged]); err == nil && !e.expired(t, now) {
			payload, err := e.enc.Encode(s, t)
			if err != nil {
				return rendering{}, err
			}
			if bytes.Equal(payload, current.Data[e.opts.Key]) || current.Annotations[AnnotationContentDigest] == contentDigest {
				return rendering{payload: payload, contentDigest: contentDigest, changed: t.UTC()}, nil
			}
		}
	}
	payload, err := e.enc.Encode(s, now)
	if err != nil {
		return rendering{}, err
	}
	return rendering{payload: payload, contentDigest: contentDigest, changed: now}, nil
}

// expired says whether a payload last changed at t is due for a rewrite.
func (e *Exporter) expired(t, now time.Time) bool {
	return e.opts.MaxAge > 0 && now.Sub(t) >= e.opts.MaxAge
}

// Holds reports whether current holds exactly what the exporter last wrote
// (or found in place): then an event on it, such as the one that follows
// the exporter's own write, needs no run. Before the first run it reports
// false, so that any event is checked. It waits for an export in flight:
// the event of that export's own write arrives before it has recorded what
// it wrote, and must not ask for another run.
func (e *Exporter) Holds(current *corev1.Secret) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last.payload != nil && e.differs(current, e.last) == ""
}

// differs says why current must be rewritten to hold want, or "" when it
// already does. The payload bytes are compared, not the digest annotations,
// so an edit that rewrites the payload and its digests together is caught;
// a missing or wrong signature is caught as well.
func (e *Exporter) differs(current *corev1.Secret, want rendering) string {
	if current == nil {
		return "secret missing"
	}
	a := current.Annotations
	data, ok := current.Data[e.opts.Key]
	switch {
	case !ok:
		return "payload missing"
	case !bytes.Equal(data, want.payload) && e.last.payload != nil && e.last.contentDigest != want.contentDigest:
		return "content changed"
	case !bytes.Equal(data, want.payload):
		return "payload is not the one the exporter writes (edited, or changed while it was not running)"
	case a[AnnotationSignature] != Sign(e.opts.SigningKey, want.payload):
		return "signature missing or wrong"
	case a[AnnotationPayloadDigest] != Digest(want.payload) || a[AnnotationContentDigest] != want.contentDigest:
		return "digest annotations changed"
	case a[AnnotationLastChanged] != want.changed.UTC().Format(time.RFC3339):
		return "last-changed annotation changed"
	case a[AnnotationFormat] != e.opts.Encoder.Format() || a[AnnotationSchemaVersion] != e.opts.Encoder.SchemaVersion() || a[AnnotationPayloadKey] != e.opts.Key:
		return "format annotations changed"
	case current.Labels[LabelPartOf] != PartOf:
		return "labels changed"
	}
	return ""
}

func (e *Exporter) apply(ctx context.Context, r rendering) error {
	cfg := applycorev1.Secret(e.opts.Name, e.opts.Namespace).
		WithLabels(map[string]string{LabelPartOf: PartOf, LabelManagedBy: FieldManager}).
		WithAnnotations(map[string]string{
			AnnotationPayloadDigest: Digest(r.payload),
			AnnotationContentDigest: r.contentDigest,
			AnnotationSignature:     Sign(e.opts.SigningKey, r.payload),
			AnnotationFormat:        e.opts.Encoder.Format(),
			AnnotationSchemaVersion: e.opts.Encoder.SchemaVersion(),
			AnnotationLastChanged:   r.changed.UTC().Format(time.RFC3339),
			AnnotationPayloadKey:    e.opts.Key,
		}).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{e.opts.Key: r.payload})
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

// Sign returns the signature annotation of payload: "hmac-sha256:" and the
// hex HMAC-SHA256 of the exact payload bytes keyed by key.
func Sign(key, payload []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a signature annotation against payload. An empty
// annotation gives ErrUnsigned, any other mismatch ErrBadSignature.
func VerifySignature(key, payload []byte, annotation string) error {
	if annotation == "" {
		return fmt.Errorf("%w: annotation %s is missing", ErrUnsigned, AnnotationSignature)
	}
	got, err := hex.DecodeString(strings.TrimPrefix(annotation, signaturePrefix))
	if !strings.HasPrefix(annotation, signaturePrefix) || err != nil {
		return fmt.Errorf("%w: annotation %s is not %s<hex>", ErrBadSignature, AnnotationSignature, signaturePrefix)
	}
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	if !hmac.Equal(got, m.Sum(nil)) {
		return fmt.Errorf("%w: annotation %s was not made with this install's signing key over these payload bytes", ErrBadSignature, AnnotationSignature)
	}
	return nil
}

// Digest returns "sha256:<hex>" of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
