package store

import (
	"context"
	"errors"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"
)

const (
	// DefaultRetention is how long reports are kept by default.
	DefaultRetention = 365 * 24 * time.Hour
	// DefaultPruneInterval is how often the pruner runs by default.
	DefaultPruneInterval = time.Hour
)

// RunPruner deletes the reports older than retention from s at once and then
// every interval, until ctx ends or s is closed. A failed prune is logged
// once until a prune succeeds again; the next run retries it.
func RunPruner(ctx context.Context, s Store, retention, interval time.Duration, clk clock.Clock, log *logrus.Entry) {
	log = orDiscard(log)
	failing := false
	for {
		n, err := s.Prune(ctx, clk.Now().Add(-retention))
		switch {
		case errors.Is(err, ErrClosed):
			return
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				log.WithError(err).Warn("pruning old reports failed; retrying every interval")
			}
			failing = true
		default:
			if failing {
				log.Info("pruning old reports works again")
			}
			failing = false
			if n > 0 {
				log.WithField("deleted", n).Info("pruned reports past the retention")
			}
		}
		t := clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}
