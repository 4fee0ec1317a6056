// Package scc implements the scc exporter: it registers the installation
// with SUSE Customer Center (SCC, or an RMT standing in for it), online or
// air-gapped, from the Secret that Rancher's UI writes.
//
// Entry point: Secret scc-registration in the SCC namespace (default
// cattle-scc-system) with keys regCode, registrationType (online, the
// default, or offline), registrationUrl (optional, default
// https://scc.suse.com) and certificate (offline). The exporter reads it
// from a cache, so that a change runs it at once.
//
// Online, each run reconciles: announce the system (hostname = server URL,
// hwinfo = the scc payload) and keep login, password and the latest
// System-Token in the credentials Secret; activate the product triplet
// (rancher-prime, X.Y.Z, unknown); read the activations for expiry and
// product; then send a keepalive when one is due (KeepaliveInterval plus up
// to KeepaliveJitter) or when the payload changed materially (its
// managedSystems or managedClusters, not its timestamp). A deleted entry
// Secret deregisters the system and wipes the credentials; a changed regCode
// or URL deregisters and registers anew.
//
// Offline, each run writes the offline request into Secret
// scc-offline-request (key request) when its figures changed or it is older
// than KeepaliveInterval, and verifies the certificate of key certificate.
//
// Answers map to the manager's retry kinds: 4xx other than 429 are
// permanent (and the state is failed), 429 and 5xx honour Retry-After. The
// state is written into ConfigMap telemetry-manager-scc-status of the SCC
// namespace and handed to OnState (the metric).
//
// connect-ng (github.com/SUSE/connect-ng) makes the calls: its registration
// functions and request building run on a Connection of this package
// (conn.go says why), and its offline request and certificate types are
// used with two additions: the request carries uuid and server_url, and a
// configured public key is checked here with connect-ng's algorithm.
package scc

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/SUSE/connect-ng/pkg/registration"
	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	sccenc "github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Names and keys of the objects in the SCC namespace.
const (
	DefaultNamespace = "cattle-scc-system"
	// EntrySecretName is the Secret Rancher's UI writes.
	EntrySecretName     = "scc-registration"
	KeyRegCode          = "regCode"
	KeyRegistrationType = "registrationType"
	KeyRegistrationURL  = "registrationUrl"
	KeyCertificate      = "certificate"
	// CredentialsSecretName holds the system's credentials (see Key*).
	CredentialsSecretName = "telemetry-manager-scc-credentials"
	// OfflineRequestSecretName holds the offline request, key KeyRequest.
	OfflineRequestSecretName = "scc-offline-request"
	KeyRequest               = "request"
	// StatusConfigMapName holds the Status.
	StatusConfigMapName = "telemetry-manager-scc-status"

	LabelPartOf = "app.kubernetes.io/part-of"
	PartOf      = "telemetry-manager"
)

// Defaults of the exporter.
const (
	DefaultURL               = "https://scc.suse.com"
	DefaultKeepaliveInterval = 20 * time.Hour
	DefaultKeepaliveJitter   = 3 * time.Hour
	// DefaultTimeout bounds each SCC call; a call in flight at shutdown
	// is finished, within it, so that its System-Token is stored.
	DefaultTimeout = 30 * time.Second
	// Interval is how often the manager runs the exporter; each run sends
	// only what is due.
	Interval = time.Hour
)

var (
	// ErrEntry means the scc-registration Secret is unusable.
	ErrEntry = errors.New("unusable scc-registration secret")
	// ErrCAFile means the CA file cannot be read or holds no certificate.
	ErrCAFile = errors.New("unusable CA file")
)

// SecretCache reads one Secret, such as a sources.NamedSecret. A missing
// Secret is a NotFound error.
type SecretCache interface {
	Get() (*corev1.Secret, error)
}

// Options configure an Exporter.
type Options struct {
	// Namespace is the SCC namespace: entry, credentials, offline request
	// and status.
	Namespace string
	// Entry reads the scc-registration Secret of Namespace.
	Entry      SecretCache
	Secrets    corev1client.SecretsGetter
	ConfigMaps corev1client.ConfigMapsGetter
	// CAFile is a PEM file of CAs trusted besides the system's (an RMT's).
	CAFile string
	// PublicKey verifies offline certificates; nil: SUSE's.
	PublicKey *rsa.PublicKey
	// KeepaliveInterval and KeepaliveJitter space keepalives, and
	// refreshes of the offline request.
	KeepaliveInterval time.Duration
	KeepaliveJitter   time.Duration
	Timeout           time.Duration
	// Jitter returns a duration in [0, max); default random.
	Jitter func(max time.Duration) time.Duration
	// OnState is called with the state after every run.
	OnState func(state string)
	// Encoder renders the hwinfo sent to SCC and the offline request's
	// system information; default the scc encoder. Its format must be
	// scc: every payload must pass the scc schema before it is sent or
	// written.
	Encoder snapshot.Encoder
	Clock   clock.PassiveClock
	Log     *logrus.Entry
}

// Exporter registers the installation with SCC.
type Exporter struct {
	opts Options
	// enc is opts.Encoder validating every payload against the scc schema.
	enc    snapshot.Encoder
	client *http.Client
	store  *credStore
	log    *logrus.Entry

	mu     sync.Mutex
	loaded bool
	status Status
	// nextKeepalive is when the next keepalive is due; zero: at once.
	nextKeepalive time.Time
	// requestDigest and requestAt describe the offline request written.
	requestDigest string
	requestAt     time.Time
	// requestGone is true once no offline request Secret is known to be
	// left over from offline mode.
	requestGone bool
	// written is true once status is what the ConfigMap holds.
	written bool
	// refused is SCC's last permanent refusal (a 4xx), at refusedAt, of the
	// entry whose regCode and URL hash to refusedKey. It is returned again
	// without calling SCC until the entry changes or Interval passed, so
	// that the runs every change of the figures asks for do not repeat a
	// refused registration code.
	refused    error
	refusedKey string
	refusedAt  time.Time
}

// New returns an Exporter, checking every option at once.
func New(opts Options) (*Exporter, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.KeepaliveInterval == 0 {
		opts.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Jitter == nil {
		opts.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max)
		}
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Log == nil {
		opts.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if opts.OnState == nil {
		opts.OnState = func(string) {}
	}
	if opts.Encoder == nil {
		opts.Encoder = sccenc.Encoder{}
	}
	var errs []error
	if f := opts.Encoder.Format(); f != sccenc.FormatName {
		errs = append(errs, fmt.Errorf("scc exporter: encoder of format %q: SCC takes the %s payload", f, sccenc.FormatName))
	}
	if opts.Entry == nil || opts.Secrets == nil || opts.ConfigMaps == nil {
		errs = append(errs, errors.New("scc exporter: entry cache, Secrets and ConfigMaps clients are required"))
	}
	if opts.KeepaliveInterval < 0 || opts.KeepaliveJitter < 0 {
		errs = append(errs, errors.New("scc exporter: keepalive interval and jitter must not be negative"))
	}
	client, err := newClient(opts.CAFile, opts.Timeout)
	if err != nil {
		errs = append(errs, fmt.Errorf("scc exporter: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Exporter{
		opts:   opts,
		enc:    encoding.Validating(opts.Encoder),
		client: client,
		store:  &credStore{secrets: opts.Secrets, namespace: opts.Namespace, name: CredentialsSecretName},
		log:    opts.Log.WithField("secret", opts.Namespace+"/"+EntrySecretName),
	}, nil
}

// entry is the content of the scc-registration Secret.
type entry struct {
	RegCode, Type, URL, Certificate string
}

// readEntry returns the entry, nil when the Secret does not exist.
func (e *Exporter) readEntry() (*entry, error) {
	sec, err := e.opts.Entry.Get()
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("scc exporter: %w", err)
	}
	en := &entry{
		RegCode:     strings.TrimSpace(string(sec.Data[KeyRegCode])),
		Type:        strings.TrimSpace(string(sec.Data[KeyRegistrationType])),
		URL:         strings.TrimSpace(string(sec.Data[KeyRegistrationURL])),
		Certificate: strings.TrimSpace(string(sec.Data[KeyCertificate])),
	}
	if en.Type == "" {
		en.Type = ModeOnline
	}
	if en.URL == "" {
		en.URL = DefaultURL
	}
	ref := e.opts.Namespace + "/" + EntrySecretName
	switch en.Type {
	case ModeOnline:
		if en.RegCode == "" {
			return en, fmt.Errorf("%w: secret %s has no key %q: an online registration needs the registration code", ErrEntry, ref, KeyRegCode)
		}
		if err := validateURL(en.URL); err != nil {
			return en, fmt.Errorf("%w: secret %s key %q: %w", ErrEntry, ref, KeyRegistrationURL, err)
		}
	case ModeOffline:
	default:
		return en, fmt.Errorf("%w: secret %s key %q is %.32q: must be %q or %q", ErrEntry, ref, KeyRegistrationType, en.Type, ModeOnline, ModeOffline)
	}
	return en, nil
}

// validateURL checks an SCC or RMT URL: http(s) with a host, no user
// information, query or fragment.
func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an http(s) URL with a host and without user information, query or fragment", u.Redacted())
	}
	return nil
}

// Export reconciles the registration with the entry Secret and the
// snapshot.
func (e *Exporter) Export(ctx context.Context, s *snapshot.Snapshot) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loaded {
		st, err := ReadStatus(ctx, e.opts.ConfigMaps, e.opts.Namespace)
		if err != nil {
			return fmt.Errorf("scc exporter: %w", err)
		}
		e.status, e.loaded = st, true
	}
	st := e.status
	err := e.reconcile(ctx, s, &st)
	st.LastError = ""
	if err != nil {
		st.LastError = err.Error()
		if kind, _ := retryKindOf(err); kind == manager.KindPermanent && st.State != StateExpired {
			st.State = StateFailed
		}
	}
	if st.State == "" {
		st.State = StateUnregistered
	}
	e.opts.OnState(st.State)
	if !e.written || st != e.status {
		e.written = false
		if werr := writeStatus(ctx, e.opts.ConfigMaps, e.opts.Namespace, st); werr != nil {
			e.log.WithError(werr).Warn("writing the SCC status")
		} else {
			e.written = true
		}
	}
	if st.State != e.status.State {
		e.log.WithFields(logrus.Fields{"state": st.State, "from": e.status.State}).Info("SCC registration state changed")
	}
	e.status = st
	return err
}

func (e *Exporter) reconcile(ctx context.Context, s *snapshot.Snapshot, st *Status) error {
	en, err := e.readEntry()
	if err != nil {
		if en != nil {
			st.Mode = en.Type
			return manager.Permanent(err)
		}
		return err // the cache: retried
	}
	if en == nil {
		return e.unregister(ctx, st)
	}
	st.Mode = en.Type
	if s == nil {
		return errors.New("scc exporter: no snapshot")
	}
	version, err := sccenc.ProductVersion(s.Install.Version)
	if err != nil {
		return manager.Permanent(fmt.Errorf("scc exporter: %w: SCC accepts only X.Y.Z product versions, so nothing was sent", err))
	}
	// Validated: a payload the schema refuses (a string no cleaning rule
	// allows) is neither sent nor written.
	payload, err := e.enc.Encode(s, e.opts.Clock.Now())
	if err != nil {
		return manager.Permanent(fmt.Errorf("scc exporter: encoding the scc payload: %w", err))
	}
	var p sccenc.Payload
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("scc exporter: reading the scc payload: %w", err)
	}
	var hwinfo map[string]any
	if err := json.Unmarshal(payload, &hwinfo); err != nil {
		return fmt.Errorf("scc exporter: reading the scc payload: %w", err)
	}
	if en.Type == ModeOffline {
		return e.offline(ctx, en, &p, hwinfo, version, st)
	}
	return e.online(ctx, en, &p, hwinfo, version, st)
}

// materialDigest is the digest of what a keepalive is sent early for: the
// managed systems and clusters.
func materialDigest(p *sccenc.Payload) string {
	b, _ := json.Marshal(struct {
		Version  string
		Systems  []sccenc.ManagedSystem
		Clusters []sccenc.ManagedCluster
	}{p.Version, p.ManagedSystems, p.ManagedClusters})
	return hashHex(string(b))
}

// hostname is what SCC shows for the system: the server URL, else the
// install UUID (an installation without one, in kubernetes mode).
func hostname(p *sccenc.Payload) string {
	if p.Subscription.ServerURL != "" {
		return p.Subscription.ServerURL
	}
	return p.Subscription.InstallUUID
}

func (e *Exporter) online(ctx context.Context, en *entry, p *sccenc.Payload, hwinfo map[string]any, version string, st *Status) error {
	now := e.opts.Clock.Now()
	key := hashHex(en.RegCode + "\x00" + en.URL)
	if e.refused != nil && e.refusedKey == key && now.Before(e.refusedAt.Add(Interval)) {
		return e.refused
	}
	err := e.sync(ctx, en, p, hwinfo, version, st)
	var api *APIError
	if kind, _ := retryKindOf(err); kind == manager.KindPermanent && errors.As(err, &api) {
		e.refused, e.refusedKey, e.refusedAt = err, key, now
	} else {
		e.refused = nil
	}
	return err
}

// retryKindOf returns the retry kind of err.
func retryKindOf(err error) (manager.RetryKind, time.Duration) {
	var r *manager.RetryError
	switch {
	case err == nil:
		return manager.KindNone, 0
	case errors.As(err, &r):
		return r.Kind, r.After
	}
	return manager.KindBackoff, 0
}

// sync brings the online registration up to date: announce, activate,
// keepalive and activations, each when due.
func (e *Exporter) sync(ctx context.Context, en *entry, p *sccenc.Payload, hwinfo map[string]any, version string, st *Status) error {
	if !e.requestGone {
		// Left from offline mode, by this process or an earlier one.
		if err := e.deleteRequest(ctx); err != nil {
			return err
		}
		e.requestGone, e.requestDigest, e.requestAt = true, "", time.Time{}
	}
	creds, err := e.store.load(ctx)
	if err != nil {
		return err
	}
	if creds != nil && (creds.RegCodeHash != hashHex(en.RegCode) || creds.URL != en.URL) {
		e.log.Info("registration code or URL changed: deregistering the system to register it anew")
		if err := e.deregister(ctx, creds); err != nil {
			return err
		}
		creds = nil
		e.nextKeepalive = time.Time{}
	}
	now := e.opts.Clock.Now()
	digest := materialDigest(p)
	if creds == nil {
		*st = Status{Mode: ModeOnline, State: StateRegistering}
		creds = &credData{RegCodeHash: hashHex(en.RegCode), URL: en.URL}
		sc := &systemCredentials{ctx: ctx, store: e.store, data: creds}
		c := newConn(ctx, en.URL, e.client, sc)
		id, err := registration.Register(c, en.RegCode, hostname(p), hwinfo, registration.NoExtraData)
		if err != nil {
			return classify(fmt.Errorf("scc exporter: announcing the system: %w", err))
		}
		creds.SystemID, creds.PayloadDigest, creds.LastKeepalive = id, digest, now.UTC().Format(time.RFC3339)
		if err := e.store.saveDetached(ctx, creds); err != nil {
			return err
		}
		e.schedule(now)
		e.log.WithField("systemID", id).Info("system announced to SCC")
	}
	st.SystemID = strconv.Itoa(creds.SystemID)
	st.LastKeepalive = creds.LastKeepalive
	sc := &systemCredentials{ctx: ctx, store: e.store, data: creds}
	c := newConn(ctx, en.URL, e.client, sc)
	triplet := sccenc.Product + "/" + version + "/" + sccenc.Arch
	refresh := st.ExpiresAt == ""
	if creds.Product != triplet {
		if st.State != StateRegistered {
			st.State = StateRegistering
		}
		if _, _, err := registration.Activate(c, sccenc.Product, version, sccenc.Arch, en.RegCode); err != nil {
			return classify(fmt.Errorf("scc exporter: activating %s: %w", triplet, err))
		}
		creds.Product = triplet
		if err := e.store.saveDetached(ctx, creds); err != nil {
			return err
		}
		refresh = true
		e.log.WithField("product", triplet).Info("product activated")
	}
	if e.nextKeepalive.IsZero() {
		e.scheduleFrom(creds.LastKeepalive, now)
	}
	if !now.Before(e.nextKeepalive) || creds.PayloadDigest != digest {
		registration.Status(c, hostname(p), hwinfo, nil, registration.NoExtraData)
		if c.last != nil {
			return classify(fmt.Errorf("scc exporter: keepalive: %w", c.last))
		}
		creds.PayloadDigest, creds.LastKeepalive = digest, now.UTC().Format(time.RFC3339)
		if err := e.store.saveDetached(ctx, creds); err != nil {
			return err
		}
		st.LastKeepalive = creds.LastKeepalive
		e.schedule(now)
		refresh = true
		e.log.WithField("next", e.nextKeepalive.UTC().Format(time.RFC3339)).Info("keepalive sent")
	}
	if refresh {
		acts, err := registration.FetchActivations(c)
		if err != nil {
			return classify(fmt.Errorf("scc exporter: reading the activations: %w", err))
		}
		st.Product, st.ExpiresAt = triplet, ""
		for _, a := range acts {
			if a.Product != nil && a.Product.Identifier == sccenc.Product {
				if a.Product.Name != "" {
					st.Product = a.Product.Name
				}
				if !a.ExpiresAt.IsZero() {
					st.ExpiresAt = a.ExpiresAt.UTC().Format(time.RFC3339)
				}
			}
		}
	}
	st.State = StateRegistered
	st.Warning = e.expiryState(st, now, "subscription")
	if st.State == StateExpired {
		return manager.Permanent(fmt.Errorf("scc exporter: the subscription of %s expired at %s", triplet, st.ExpiresAt))
	}
	return nil
}

// expiryState sets st.State to expired when ExpiresAt passed, and returns a
// warning when it is near.
func (e *Exporter) expiryState(st *Status, now time.Time, what string) string {
	if st.ExpiresAt == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339, st.ExpiresAt)
	if err != nil {
		return ""
	}
	switch {
	case !t.After(now):
		st.State = StateExpired
	case t.Sub(now) <= ExpiryWarning:
		w := fmt.Sprintf("the %s expires at %s, in less than 30 days", what, st.ExpiresAt)
		e.log.WithField("expiresAt", st.ExpiresAt).Warn(w)
		return w
	}
	return ""
}

// schedule sets the next keepalive an interval plus jitter after last.
func (e *Exporter) schedule(last time.Time) {
	e.nextKeepalive = last.Add(e.opts.KeepaliveInterval + e.opts.Jitter(e.opts.KeepaliveJitter))
}

// scheduleFrom schedules from a stored time, at once when there is none.
func (e *Exporter) scheduleFrom(stored string, now time.Time) {
	t, err := time.Parse(time.RFC3339, stored)
	if err != nil {
		e.nextKeepalive = now
		return
	}
	e.schedule(t)
}

// deregister deletes the system at SCC and wipes its credentials. An answer
// that the system is unknown (401, 404) or refused for good wipes them too:
// they cannot be used again; 429, 5xx and network errors are retried.
func (e *Exporter) deregister(ctx context.Context, creds *credData) error {
	if creds.URL != "" {
		sc := &systemCredentials{ctx: ctx, store: e.store, data: creds}
		err := registration.Deregister(newConn(ctx, creds.URL, e.client, sc))
		var api *APIError
		switch {
		case err == nil:
			e.log.WithField("systemID", creds.SystemID).Info("system deregistered from SCC")
		case errors.As(err, &api) && api.Code >= 400 && api.Code < 500 && api.Code != http.StatusTooManyRequests:
			e.log.WithField("systemID", creds.SystemID).WithError(err).Warn("SCC refused the deregistration: wiping the credentials anyway")
		default:
			return classify(fmt.Errorf("scc exporter: deregistering system %d: %w", creds.SystemID, err))
		}
	}
	return e.store.wipe(ctx)
}

// unregister undoes a registration whose entry Secret is gone.
func (e *Exporter) unregister(ctx context.Context, st *Status) error {
	creds, err := e.store.load(ctx)
	if err != nil {
		return err
	}
	if creds != nil {
		if err := e.deregister(ctx, creds); err != nil {
			return err
		}
	}
	if !e.requestGone {
		if err := e.deleteRequest(ctx); err != nil {
			return err
		}
	}
	e.nextKeepalive, e.requestDigest, e.requestAt, e.requestGone = time.Time{}, "", time.Time{}, true
	*st = Status{State: StateUnregistered}
	return nil
}

func (e *Exporter) offline(ctx context.Context, en *entry, p *sccenc.Payload, hwinfo map[string]any, version string, st *Status) error {
	now := e.opts.Clock.Now()
	req := &OfflineRequest{
		OfflineRequest: *registration.BuildOfflineRequest(sccenc.Product, version, sccenc.Arch, hwinfo),
		UUID:           p.Subscription.InstallUUID,
		ServerURL:      p.Subscription.ServerURL,
	}
	digest := materialDigest(p)
	if digest != e.requestDigest || e.requestAt.IsZero() || !now.Before(e.requestAt.Add(e.opts.KeepaliveInterval)) {
		body, err := encodeRequest(req)
		if err != nil {
			return fmt.Errorf("scc exporter: encoding the offline request: %w", err)
		}
		if err := e.writeRequest(ctx, body); err != nil {
			return err
		}
		e.requestDigest, e.requestAt, e.requestGone = digest, now, false
	}
	*st = Status{Mode: ModeOffline, State: StateOfflineRequestReady}
	if en.Certificate == "" {
		return nil
	}
	cert, err := VerifyCertificate(en.Certificate, e.opts.PublicKey, p.Subscription.InstallUUID, en.RegCode, now)
	if err != nil {
		if errors.Is(err, ErrCertExpired) {
			st.State = StateExpired
		}
		return manager.Permanent(fmt.Errorf("scc exporter: secret %s/%s key %q: %w", e.opts.Namespace, EntrySecretName, KeyCertificate, err))
	}
	st.State, st.Product = StateOfflineRegistered, cert.Product
	st.ExpiresAt = cert.ExpiresAt.UTC().Format(time.RFC3339)
	st.Warning = e.expiryState(st, now, "offline certificate")
	return nil
}
