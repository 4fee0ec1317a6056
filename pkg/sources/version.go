package sources

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/clock"
)

// maxVersionEvery caps how long a Kubernetes upgrade of the cluster the
// manager runs in may go unnoticed; one discovery read is cheap.
const maxVersionEvery = 10 * time.Minute

// versionLogEvery is how often a failing read of the server version is
// logged.
const versionLogEvery = time.Hour

// versionEvery returns how often the server version is read again:
// every interval, but at least every 10 minutes.
func versionEvery(interval time.Duration) time.Duration {
	return min(interval, maxVersionEvery)
}

// NewVersionWatch returns a watch that reads the server version from d
// every min(interval, 10m), hands it to set and calls changed when set
// reports a change.
func NewVersionWatch(d discovery.ServerVersionInterface, interval time.Duration, set func(v string) bool, changed func(), clk clock.WithTicker, log *logrus.Entry) *VersionWatch {
	return &VersionWatch{discovery: d, set: set, changed: changed, every: versionEvery(interval), clock: clk, log: log}
}

// VersionWatch reads the API server's version from discovery every period
// and hands it to set (Gatherer.SetKubernetesVersion); when set reports a
// change, changed is called (to trigger the exporters). A failed read is
// logged, at most once per versionLogEvery, and never stops it.
type VersionWatch struct {
	discovery discovery.ServerVersionInterface
	set       func(v string) bool
	changed   func()
	every     time.Duration
	clock     clock.WithTicker
	log       *logrus.Entry

	lastLogged time.Time // of a failure; zero: not logged since the last success
}

// Run reads the version every period until ctx ends.
func (w *VersionWatch) Run(ctx context.Context) {
	t := w.clock.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			w.check()
		}
	}
}

// check reads the version once.
func (w *VersionWatch) check() {
	v, err := w.discovery.ServerVersion()
	if err != nil {
		now := w.clock.Now()
		if w.lastLogged.IsZero() || now.Sub(w.lastLogged) >= versionLogEvery {
			w.lastLogged = now
			w.log.WithError(err).Warn("reading the Kubernetes version from discovery; the last version read stays in the report")
		}
		return
	}
	w.lastLogged = time.Time{}
	if w.set(v.GitVersion) {
		w.log.WithField("kubernetesVersion", v.GitVersion).Info("Kubernetes version changed")
		w.changed()
	}
}
