package sources

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Reasons a controller is not ready, for errors.Is.
var (
	// ErrNotSynced marks a cache that has not synced yet.
	ErrNotSynced = errors.New("not synced")
	// ErrWaitingForInstallUUID means the caches are synced but, in rancher
	// mode, the install-uuid Setting is missing or empty, so nothing is
	// exported yet.
	ErrWaitingForInstallUUID = errors.New("waiting for setting install-uuid")
)

// cacheLogEvery is how often a cache that keeps failing to list or watch
// is logged, per kind.
const cacheLogEvery = time.Minute

// Verbs a cache uses; the one that failed is logged with an RBAC error.
const (
	verbList  = "list"
	verbWatch = "watch"
)

// cacheStatus follows one informer cache: whether it synced and, while it
// has not, the last error of its list and watch calls.
type cacheStatus struct {
	kind string
	// resource names what is listed, e.g. "management.cattle.io/v3 nodes".
	resource string
	informer toolscache.SharedIndexInformer
	clock    clock.PassiveClock
	log      *logrus.Entry

	mu      sync.Mutex
	lastErr error
	verb    string
	logged  time.Time // when the last warning was logged; zero: never
}

func newCacheStatus(kind string, gvr schema.GroupVersionResource, inf toolscache.SharedIndexInformer, clk clock.PassiveClock, log *logrus.Entry) *cacheStatus {
	resource := gvr.GroupVersion().String() + " " + gvr.Resource
	return &cacheStatus{
		kind: kind, resource: resource, informer: inf, clock: clk,
		log: log.WithFields(logrus.Fields{"kind": kind, "resource": resource}),
	}
}

// watchError receives the reflector's list and watch errors; it fits
// SetWatchErrorHandlerWithContext. It replaces client-go's default
// handler, which would log every retry.
func (c *cacheStatus) watchError(_ context.Context, _ *toolscache.Reflector, err error) {
	if benignWatchEnd(err) {
		return
	}
	verb := failedVerb(err)
	now := c.clock.Now()
	c.mu.Lock()
	c.lastErr, c.verb = err, verb
	due := c.logged.IsZero() || now.Sub(c.logged) >= cacheLogEvery
	if due {
		c.logged = now
	}
	c.mu.Unlock()
	if !due {
		return
	}
	log := c.log.WithError(err)
	if apierrors.IsForbidden(err) {
		log.WithField("verb", verb).Warnf("cache of %s cannot sync: RBAC forbids %s on %s", c.kind, verb, c.resource)
		return
	}
	log.Warnf("cache of %s cannot sync: %s %s failed", c.kind, verb, c.resource)
}

// benignWatchEnd reports the errors that end a watch normally; the
// reflector lists or watches again at once and nothing is wrong.
func benignWatchEnd(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

// failedVerb tells which call failed. The reflector returns the error of
// its LIST wrapped in a message of its own, and the error of a WATCH as the
// API server (or the watch stream) gave it.
func failedVerb(err error) string {
	if _, direct := err.(apierrors.APIStatus); direct { // the wrapping is the signal
		return verbWatch
	}
	return verbList
}

// synced reports whether the cache has synced, and forgets the last error
// once it has.
func (c *cacheStatus) synced() bool {
	if !c.informer.HasSynced() {
		return false
	}
	c.mu.Lock()
	c.lastErr, c.verb = nil, ""
	c.mu.Unlock()
	return true
}

// problem returns nil once the cache has synced, else why it has not: the
// kind, the resource and the last list or watch error.
func (c *cacheStatus) problem() error {
	if c.synced() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &cacheError{kind: c.kind, resource: c.resource, verb: c.verb, err: c.lastErr}
}

// cacheError says why one cache has not synced. It matches ErrNotSynced
// and unwraps to the last list or watch error, if any.
type cacheError struct {
	kind, resource, verb string
	err                  error
}

func (e *cacheError) Error() string {
	head := e.kind + " (" + e.resource + "): "
	switch {
	case e.err == nil:
		return head + "not synced yet"
	case apierrors.IsForbidden(e.err):
		return head + e.verb + " forbidden: " + e.err.Error()
	case apierrors.IsNotFound(e.err):
		return head + "not found: " + e.err.Error()
	default:
		return head + e.verb + " failed: " + e.err.Error()
	}
}

func (e *cacheError) Is(target error) bool { return target == ErrNotSynced }

func (e *cacheError) Unwrap() error { return e.err }

// notReady lists every reason the controller is not ready, on one line
// each separated by "; " (a probe shows one line).
type notReady []error

func (n notReady) Error() string {
	parts := make([]string, len(n))
	for i, err := range n {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (n notReady) Unwrap() []error { return n }
