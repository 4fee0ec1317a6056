// Package leader runs work only while this replica holds a
// coordination.k8s.io Lease, with client-go's leader election.
//
// The order of events is what keeps two replicas from exporting at once:
//
//   - on shutdown (ctx cancelled) the work is stopped first, and only once it
//     has returned is the Lease released, so another replica takes over at
//     once but never while an export of this one is still in flight;
//   - when the Lease is lost (not renewed within the renew deadline), the
//     work is stopped and Run returns ErrLost only after it has returned. The
//     other replicas wait the lease duration from the last renewal before
//     they take the Lease, which leaves the lease duration minus the renew
//     deadline for the work to stop.
//
// client-go's own ReleaseOnCancel gives the Lease up before the work's
// context is even cancelled, so Run releases it itself, after the work, and
// only while the Lease still names this replica.
package leader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// ErrLost means the Lease was lost while leading; the work has stopped.
var ErrLost = errors.New("lost leadership")

// Config says which Lease to hold and how.
type Config struct {
	Namespace, Name string // the Lease
	// Identity names this replica in the Lease; see Identity.
	Identity string
	Client   coordinationv1client.LeasesGetter

	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	Log *logrus.Entry
	// OnChange, if set, is called with true when the work starts and false
	// when it has returned, for example to set a metric.
	OnChange func(leading bool)
}

// Identity returns hostname_random: unique per process, and readable in the
// Lease's holderIdentity.
func Identity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("reading the hostname for the leader election identity: %w", err)
	}
	return host + "_" + string(uuid.NewUUID()), nil
}

// Run campaigns for the Lease until ctx ends and calls lead while holding
// it; lead must return soon after its context ends. Run returns nil when ctx
// ends and ErrLost when the Lease was lost, both only after lead returned.
// Run leads at most once: after a loss the process is meant to restart.
func Run(ctx context.Context, c Config, lead func(ctx context.Context)) error {
	if c.Log == nil {
		c.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	onChange := c.OnChange
	if onChange == nil {
		onChange = func(bool) {}
	}
	log := c.Log.WithFields(logrus.Fields{"lease": c.Namespace + "/" + c.Name, "identity": c.Identity})
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name},
		Client:     c.Client,
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.Identity},
	}

	// The elector gets a context of its own, cancelled only after lead has
	// returned, so that shutdown stops the work before the elector stops.
	electCtx, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()

	var (
		mu      sync.Mutex
		closed  bool          // no lead may start any more
		leading chan struct{} // closed when lead has returned
	)
	// finish forbids a late start of lead and waits for a running one.
	finish := func() {
		mu.Lock()
		closed = true
		done := leading
		mu.Unlock()
		if done != nil {
			<-done
		}
	}

	el, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          lock,
		Name:          c.Name,
		LeaseDuration: c.LeaseDuration,
		RenewDeadline: c.RenewDeadline,
		RetryPeriod:   c.RetryPeriod,
		// Released below, after lead has returned.
		ReleaseOnCancel: false,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				mu.Lock()
				if closed {
					// Acquired as shutdown began: start nothing.
					mu.Unlock()
					return
				}
				done := make(chan struct{})
				leading = done
				mu.Unlock()
				defer close(done)

				// Both a lost Lease (leadCtx) and shutdown (ctx) end the work.
				workCtx, cancel := context.WithCancel(leadCtx)
				defer cancel()
				defer context.AfterFunc(ctx, cancel)()
				log.Info("leading: exporting")
				onChange(true)
				lead(workCtx)
				onChange(false)
			},
			OnStoppedLeading: func() {}, // Run logs the outcome once lead has returned
			OnNewLeader: func(id string) {
				if id != c.Identity {
					log.WithField("leader", id).Info("another replica leads: standing by")
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}

	defer context.AfterFunc(ctx, func() {
		finish()
		stopElecting()
	})()
	log.Info("waiting to lead")
	el.Run(electCtx)
	finish()
	released := release(ctx, lock, c, log)

	if ctx.Err() != nil {
		log.WithField("released", released).Info("stopped leading: shutting down")
		return nil
	}
	log.WithField("released", released).Error("lost the Lease: exporting stopped")
	return ErrLost
}

// release gives the Lease up when it still names this replica, so another
// one takes over without waiting the lease duration. The update carries the
// resourceVersion just read: if anyone changed the Lease since, it fails.
func release(ctx context.Context, lock *resourcelock.LeaseLock, c Config, log *logrus.Entry) bool {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.RenewDeadline)
	defer cancel()
	rec, _, err := lock.Get(rctx)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			log.WithError(err).Warn("reading the Lease to release it")
		}
		return false
	}
	if rec.HolderIdentity != c.Identity {
		return false
	}
	now := metav1.Now()
	if err := lock.Update(rctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions:    rec.LeaderTransitions,
		LeaseDurationSeconds: 1,
		AcquireTime:          now,
		RenewTime:            now,
	}); err != nil {
		log.WithError(err).Warn("releasing the Lease; another replica takes over once it expires")
		return false
	}
	return true
}
