package controller

import (
	"errors"
	"fmt"

	"github.com/rancher/lasso/pkg/controller"
	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"

	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/metrics"
	"github.com/rancher/telemetry-manager/pkg/sources"
)

// ErrStarted means Register was called once the controller runs: a
// controller registered then would miss the start of the caches.
var ErrStarted = errors.New("controller already running")

// Plugin is a controller of its own (the SecretRequest controller is one)
// that plugs into the shared factory before the caches start: it registers
// its handlers with h.Factory, and may register and delete exporters with
// h.Manager at run time, each with its own interval. Exporters it
// registers are scheduled, paused by the opt-out switch, resumed and
// deleted like those registered at start.
type Plugin interface {
	// Name names the plugin in logs and errors.
	Name() string
	// Register is called once, before the caches start.
	Register(h Hooks) error
}

// Hooks are what a Plugin may use.
type Hooks struct {
	// Factory is the shared controller factory: caches made from it start
	// with the others, and its controllers run on every replica.
	Factory controller.SharedControllerFactory
	// Sources holds the clients, the Secret caches (Watch a namespace
	// before writing into it) and the gatherer.
	Sources *sources.Sources
	// Manager schedules exporters; it runs only on the replica that exports.
	Manager *manager.Manager
	// Metrics records runs and Secret writes of the exporters registered.
	Metrics *metrics.Metrics
	// OwnSecret remembers each Secret an exporter writes, so that an
	// event on it triggers only that exporter (OwnSecret).
	OwnSecret func(id string, w SecretWriter)
	Log       *logrus.Entry
}

// SecretWriter is an exporter that writes a Secret, as the secret exporter
// does.
type SecretWriter interface {
	Target() (namespace, name string)
	Holds(current *corev1.Secret) bool
}

// Register plugs p in. It must be called after New and before Run.
func (c *Controller) Register(p Plugin) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return fmt.Errorf("plugin %s: %w", p.Name(), ErrStarted)
	}
	h := Hooks{
		Factory: c.Sources.Factory, Sources: c.Sources, Manager: c.Manager, Metrics: c.Metrics,
		OwnSecret: func(id string, w SecretWriter) {
			ns, name := w.Target()
			c.owners.set(id, w, ns, name)
		},
		Log: c.log.WithField("plugin", p.Name()),
	}
	if err := p.Register(h); err != nil {
		return fmt.Errorf("plugin %s: %w", p.Name(), err)
	}
	return nil
}
