// Package secretrequest serves SecretRequests (telemetry.cattle.io/v1): each
// valid request gets a secret exporter of its own that keeps the scc
// payload in the request's target Secret, key "payload".
//
// The handler runs on every replica and only decides which exporter the
// request needs: one that writes the Secret (a valid request), one that
// reports what is wrong (an invalid request), or one that cleans up (a
// request being deleted). It registers that exporter with the manager
// under the id "secretrequest/<name>", replacing the previous one, and
// only when the spec or the verdict changed: a status write, which changes
// neither, leaves the exporter and its schedule alone. Every write (the
// Secret, the request's finalizer and annotation, its status) is done by
// these exporters, which the manager runs only on the replica that
// exports: status is written only by the leader, and a replacement waits
// for the previous exporter's run in flight, so that a Secret deleted on
// a move or a deletion is never written back.
package secretrequest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/rancher/wrangler/v3/pkg/generic"
	"github.com/sirupsen/logrus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/clock"

	telemetryv1 "github.com/rancher/telemetry-manager/pkg/apis/telemetry.cattle.io/v1"
	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Names the controller puts on the requests it serves.
const (
	// Finalizer holds a request until the Secrets written for it are gone.
	Finalizer = "telemetry.cattle.io/secret-request"
	// AnnotationWritten lists the Secrets ("namespace/name", comma
	// separated) written for the request and not yet removed. It is
	// recorded before a Secret is first written, so that a move or a
	// deletion removes it even after a restart.
	AnnotationWritten = "telemetry.cattle.io/written-secrets"
	// IDPrefix starts the manager id of a request's exporter.
	IDPrefix = "secretrequest/"
)

// Config configures the plugin.
type Config struct {
	// Interval is how often each request's exporter runs.
	Interval time.Duration
	// MaxAge rewrites an unchanged payload once it is this old (0: never).
	MaxAge time.Duration
	// TelemetryNamespace is a default target in kubernetes mode.
	TelemetryNamespace string
	// Namespaces and NamespaceSelector allow targets in either mode.
	Namespaces        []string
	NamespaceSelector string
	// Clock stamps conditions and lastSyncTS. Default real.
	Clock clock.PassiveClock
}

// Plugin is the SecretRequest controller, a controller.Plugin.
type Plugin struct{ cfg Config }

// New returns the plugin.
func New(cfg Config) *Plugin {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Plugin{cfg: cfg}
}

// Name implements controller.Plugin.
func (*Plugin) Name() string { return "secretrequests" }

// Register implements controller.Plugin: when the API server serves
// SecretRequests it registers their handler; when not, it logs so and
// does nothing (install the CRD and restart to serve them).
func (p *Plugin) Register(h controller.Hooks) error {
	served, err := Served(h.Sources.Kube.Discovery())
	if err != nil {
		return err
	}
	if !served {
		h.Log.WithField("resource", telemetryv1.SecretRequestResource.String()).
			Info("SecretRequest CRD not served: SecretRequests are not handled (install the CRD and restart)")
		return nil
	}
	policy, err := NewPolicy(h.Sources.Mode == snapshot.ModeRancher, p.cfg.TelemetryNamespace, p.cfg.Namespaces, p.cfg.NamespaceSelector)
	if err != nil {
		return err
	}
	policy.NamespaceClient = h.Sources.Kube.CoreV1().Namespaces()
	policy.SystemProject = SystemProjectFrom(h.Sources.Kube.Discovery().RESTClient())
	ctrl := generic.NewNonNamespacedController[*telemetryv1.SecretRequest, *telemetryv1.SecretRequestList](
		telemetryv1.SecretRequestGVK, telemetryv1.SecretRequestResource.Resource, h.Factory)
	r := &reconciler{cfg: p.cfg, h: h, policy: policy, requests: ctrl, state: map[string]verdict{}}
	h.Log.WithField("policy", policy.Describe()).Info("serving SecretRequests")
	// The handler lives as long as the process: the factory stops it with
	// the caches. OnChange, not OnRemove: the finalizer is added by the
	// exporter that writes, so that a request nobody serves can still be
	// deleted.
	ctrl.OnChange(context.Background(), "secretrequest", r.sync)
	return nil
}

// Served reports whether the API server serves SecretRequests.
func Served(d discovery.DiscoveryInterface) (bool, error) {
	list, err := d.ServerResourcesForGroupVersion(telemetryv1.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", telemetryv1.SchemeGroupVersion, err)
	}
	for _, r := range list.APIResources {
		if r.Name == telemetryv1.SecretRequestResource.Resource {
			return true, nil
		}
	}
	return false, nil
}

// requests is what the reconciler needs of the SecretRequest controller.
type requests = generic.NonNamespacedControllerInterface[*telemetryv1.SecretRequest, *telemetryv1.SecretRequestList]

// verdict is what the handler decided for a request: the exporter it
// registered, for that spec, with that failure.
type verdict struct {
	kind    string // serve, fail, finalize
	spec    telemetryv1.SecretRequestSpec
	failure string
}

type reconciler struct {
	cfg      Config
	h        controller.Hooks
	policy   *Policy
	requests requests

	mu    sync.Mutex
	state map[string]verdict // by request name
}

// sync decides which exporter the request needs and registers it when
// that changed.
func (r *reconciler) sync(name string, req *telemetryv1.SecretRequest) (*telemetryv1.SecretRequest, error) {
	id := IDPrefix + name
	if req == nil {
		// Gone: the finalizer's exporter has removed its Secrets.
		r.forget(name)
		if err := r.h.Manager.Delete(id); err != nil && !isNotRegistered(err) {
			return nil, err
		}
		return nil, nil
	}
	if req.DeletionTimestamp != nil {
		if !slices.Contains(req.Finalizers, Finalizer) {
			return req, nil
		}
		return req, r.ensure(name, verdict{kind: "finalize"}, func() (manager.Exporter, error) {
			return &finalizing{r: r, name: name}, nil
		})
	}
	err := r.check(context.Background(), name, req.Spec)
	switch {
	case err == nil:
	case IsInvalid(err):
		// Not retried: the failing exporter reports it, and checks the
		// policy again at each run; a change of the spec comes as an event.
		return req, r.ensure(name, verdict{kind: "fail", spec: req.Spec, failure: err.Error()}, func() (manager.Exporter, error) {
			return &failing{r: r, name: name, spec: req.Spec}, nil
		})
	default:
		// The policy could not be read: retried with the controller's backoff.
		return req, err
	}
	return req, r.ensure(name, verdict{kind: "serve", spec: req.Spec}, func() (manager.Exporter, error) {
		return r.serving(name, req.Spec)
	})
}

// check says whether a spec is valid, its target not another request's,
// allowed by policy, and its namespace readable by the manager.
func (r *reconciler) check(ctx context.Context, name string, spec telemetryv1.SecretRequestSpec) error {
	if err := Validate(spec); err != nil {
		return err
	}
	if other := r.holder(name, spec.TargetSecretRef); other != "" {
		return &invalidError{sentinel: ErrInvalid, msg: fmt.Sprintf(
			"spec.targetSecretRef %s is already the target of SecretRequest %q", refKey(spec.TargetSecretRef), other)}
	}
	ns := spec.TargetSecretRef.Namespace
	if err := r.policy.Check(ctx, ns); err != nil {
		return err
	}
	return CheckAccess(ctx, r.h.Sources.Kube.CoreV1(), ns)
}

// ensure registers the exporter build returns, replacing the request's
// previous one, unless the verdict is the one registered already.
func (r *reconciler) ensure(name string, v verdict, build func() (manager.Exporter, error)) error {
	r.mu.Lock()
	prev, ok := r.state[name]
	r.mu.Unlock()
	id := IDPrefix + name
	if ok && reflect.DeepEqual(prev, v) && r.h.Manager.Has(id) {
		return nil
	}
	e, err := build()
	if err != nil {
		return err
	}
	r.h.Metrics.AddExporter(id)
	if err := r.h.Manager.Register(id, e, r.cfg.Interval, manager.Replace()); err != nil {
		return fmt.Errorf("secretrequest %s: registering its exporter: %w", name, err)
	}
	r.mu.Lock()
	r.state[name] = v
	r.mu.Unlock()
	if ok && prev.kind == "serve" && (v.kind != "serve" || v.spec.TargetSecretRef != prev.spec.TargetSecretRef) {
		r.released()
	}
	r.h.Log.WithField("secretrequest", name).WithField("verdict", v.kind).Debug("exporter registered")
	return nil
}

func (r *reconciler) forget(name string) {
	r.mu.Lock()
	prev, ok := r.state[name]
	delete(r.state, name)
	r.mu.Unlock()
	if ok && prev.kind == "serve" {
		r.released()
	}
}

// holder returns the request other than name whose exporter writes ref, or "".
func (r *reconciler) holder(name string, ref telemetryv1.SecretReference) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for other, v := range r.state {
		if other != name && v.kind == "serve" && v.spec.TargetSecretRef == ref {
			return other
		}
	}
	return ""
}

// released asks the handler to decide anew for every failing request: a
// target that was another request's may be free now.
func (r *reconciler) released() {
	r.mu.Lock()
	var failing []string
	for n, v := range r.state {
		if v.kind == "fail" {
			failing = append(failing, n)
		}
	}
	r.mu.Unlock()
	for _, n := range failing {
		r.requests.Enqueue(n)
	}
}

// serving builds the exporter of a valid request: a secret exporter of the
// scc payload into the target, whose Secret events trigger it.
func (r *reconciler) serving(name string, spec telemetryv1.SecretRequestSpec) (manager.Exporter, error) {
	ref := spec.TargetSecretRef
	id := IDPrefix + name
	r.h.Sources.Secrets.Watch(ref.Namespace)
	exp, err := secret.New(secret.Options{
		Namespace: ref.Namespace, Name: ref.Name, Key: secret.DefaultKey, MaxAge: r.cfg.MaxAge,
		Encoder:    scc.Encoder{},
		SigningKey: r.h.Sources.Identity.SigningKey(),
		Secrets:    r.h.Sources.Kube.CoreV1(),
		Cache:      r.h.Sources.Secrets,
		OnWrite:    r.h.Metrics.OnSecretWrite(id),
		Log:        r.h.Log.WithField("secretrequest", name),
	})
	if err != nil {
		return nil, fmt.Errorf("secretrequest %s: %w", name, err)
	}
	r.h.OwnSecret(id, exp)
	return &serving{r: r, name: name, spec: spec, secret: exp}, nil
}

func isNotRegistered(err error) bool { return errors.Is(err, manager.ErrNotFound) }

// logger returns the log entry of a request.
func (r *reconciler) logger(name string) *logrus.Entry {
	return r.h.Log.WithField("secretrequest", name)
}

// ForOptions returns the plugin configured by the run command's options:
// --interval and --max-age for every request, the telemetry namespace and
// the --secret-request-* policy. It returns nil with --secret-requests=false.
func ForOptions(o *controller.Options) *Plugin {
	if !o.SecretRequests.Enabled {
		return nil
	}
	return New(Config{
		Interval: o.Interval, MaxAge: o.MaxAge, TelemetryNamespace: o.SecretNamespace,
		Namespaces: o.SecretRequests.Namespaces, NamespaceSelector: o.SecretRequests.NamespaceSelector,
	})
}
