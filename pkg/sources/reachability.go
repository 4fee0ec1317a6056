package sources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
)

// ErrUnreachable marks the API server as unreachable: a connection to it
// failed, or its /readyz did not answer or answered with a server error.
var ErrUnreachable = errors.New("API server unreachable")

// Timings of the reachability probe.
const (
	// reachableProbeEvery is how often the API server is probed while it
	// answers: a cheap GET /readyz, public to every authenticated identity.
	reachableProbeEvery = 10 * time.Second
	// unreachableProbeEvery is how often it is probed while it does not, so
	// that the held cache requests go on within a second of its return.
	unreachableProbeEvery = time.Second
	// probeTimeout bounds one probe.
	probeTimeout = 5 * time.Second
	// unreachableLogEvery is how often a continuing outage is logged again.
	unreachableLogEvery = time.Minute
	// outageLogGap is the least time between the warnings of two outages,
	// so that a flapping connection is not logged every second.
	outageLogGap = 10 * time.Second
)

// Reachability follows whether the API server can be reached, for
// readiness, and holds the caches' requests while it cannot.
//
// Why hold them: client-go's reflector backs off after every failed list or
// watch, doubling from 0.8s to a cap of 30s with up to 100% jitter, and
// forgets the backoff only after two minutes without a failure; informers
// give no way to tune it. After an outage of half a minute a cache would
// reconnect up to a minute late, and a change made meanwhile would be
// exported that much later. So a GET of a cache that fails to connect is
// not returned as an error: it waits, bounded by its context, until the
// probe sees the API server answer again (within a second of its return),
// and is then sent again. The reflector never sees the outage, never backs
// off, and its list or watch simply took longer.
//
// Writes are never held or retried here: the exporter's error goes to the
// manager, which retries it on its own schedule (and early, through
// OnReachable, once the API server is back).
type Reachability struct {
	probe func(ctx context.Context) error
	clock clock.Clock
	log   *logrus.Entry

	mu     sync.Mutex
	err    error         // nil while reachable
	since  time.Time     // when err was first seen
	logged time.Time     // when the outage was last logged
	back   chan struct{} // closed when the API server answers again
	wake   chan struct{} // asks Run for a probe now
	hooks  []func()
}

// NewReachability returns the reachability of the API server that rc talks
// to. rc must not go through Wrap, so that the probe itself is never held.
func NewReachability(rc rest.Interface, clk clock.Clock, log *logrus.Entry) *Reachability {
	return newReachability(func(ctx context.Context) error {
		// Any answer but a server error shows the API server serves:
		// 401 and 403 (a cluster that hides /readyz) included.
		err := rc.Get().AbsPath("/readyz").Do(ctx).Error()
		var status apierrors.APIStatus
		if err == nil || (errors.As(err, &status) && status.Status().Code < http.StatusInternalServerError) {
			return nil
		}
		return err
	}, clk, log)
}

func newReachability(probe func(ctx context.Context) error, clk clock.Clock, log *logrus.Entry) *Reachability {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	return &Reachability{
		probe: probe, clock: clk, log: log.WithField("component", "apiserver"),
		back: make(chan struct{}), wake: make(chan struct{}, 1),
	}
}

// Err returns nil while the API server is reachable, else an error wrapping
// ErrUnreachable that says since when and why.
func (r *Reachability) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		return nil
	}
	return fmt.Errorf("%w since %s: %w", ErrUnreachable, r.since.UTC().Format(time.RFC3339), r.err)
}

// OnReachable calls f each time the API server answers again after an
// outage, for example to retry failed writes at once. f must not block.
func (r *Reachability) OnReachable(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hooks = append(r.hooks, f)
}

// Run probes the API server until ctx ends: every 10s while it answers,
// every second while it does not.
func (r *Reachability) Run(ctx context.Context) {
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := r.probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.down(err)
		} else {
			r.up()
		}
		every := reachableProbeEvery
		if r.Err() != nil {
			every = unreachableProbeEvery
		}
		if !r.sleep(ctx, every) {
			return
		}
	}
}

// sleep waits d, or a second once a failed connection asks for a probe
// (probes are never closer than that). It returns false when ctx ended.
func (r *Reachability) sleep(ctx context.Context, d time.Duration) bool {
	t := r.clock.NewTimer(d)
	defer func() { t.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C():
			return true
		case <-r.wake:
			if d > unreachableProbeEvery {
				t.Stop()
				d = unreachableProbeEvery
				t = r.clock.NewTimer(d)
			}
		}
	}
}

// down records a failure to reach the API server, logging a warning when
// the outage begins and once a minute while it lasts.
func (r *Reachability) down(err error) {
	now := r.clock.Now()
	r.mu.Lock()
	first := r.err == nil
	if first {
		r.since = now
	}
	r.err = err
	gap := unreachableLogEvery
	if first {
		gap = outageLogGap
	}
	due := r.logged.IsZero() || now.Sub(r.logged) >= gap
	if due {
		r.logged = now
	}
	since := r.since
	r.mu.Unlock()
	if first {
		select {
		case r.wake <- struct{}{}: // probe again soon, not in 10s
		default:
		}
	}
	if due {
		r.log.WithError(err).WithField("since", since.UTC().Format(time.RFC3339)).
			Warn("API server unreachable: caches are not kept up to date and nothing is written until it answers")
	}
}

// up records that the API server answers, releasing the held requests and
// calling the OnReachable hooks once per outage.
func (r *Reachability) up() {
	r.mu.Lock()
	if r.err == nil {
		r.mu.Unlock()
		return
	}
	down := r.clock.Since(r.since)
	r.err = nil
	close(r.back)
	r.back = make(chan struct{})
	hooks := slices.Clone(r.hooks)
	r.mu.Unlock()
	r.log.WithField("unreachableFor", down.Round(time.Millisecond).String()).Info("API server reachable again")
	for _, f := range hooks {
		f()
	}
}

// backChannel returns the channel closed when the API server answers again.
func (r *Reachability) backChannel() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.back
}

// Wrap returns a round tripper that holds GET requests that cannot connect
// until the API server answers again (see Reachability), and reports every
// failed connection, whatever the method, so that readiness follows at once.
// It fits rest.Config.Wrap.
func (r *Reachability) Wrap(next http.RoundTripper) http.RoundTripper {
	return holdingTransport{r: r, next: next}
}

type holdingTransport struct {
	r    *Reachability
	next http.RoundTripper
}

func (t holdingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for {
		// Taken before the attempt, so that a return of the API server
		// between the failure and the wait is not missed.
		back := t.r.backChannel()
		resp, err := t.next.RoundTrip(req)
		if err == nil || !connectFailed(err) {
			return resp, err
		}
		t.r.down(err)
		if req.Method != http.MethodGet || req.Body != nil && req.Body != http.NoBody {
			return resp, err
		}
		select {
		case <-req.Context().Done():
			return nil, err
		case <-back:
		}
	}
}

// connectFailed reports whether err is a failure to open a connection (the
// request never reached the API server), not one of a request in flight.
func connectFailed(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// WrappedRoundTripper returns the wrapped round tripper, as client-go's
// own wrappers do.
func (t holdingTransport) WrappedRoundTripper() http.RoundTripper { return t.next }
