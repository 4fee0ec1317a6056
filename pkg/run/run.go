// Package run wires the controller together: options, sources (clients and
// shared caches), the gatherer, the exporter manager and the exporters of the
// table. All wiring fits on this one screen.
package run

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/manager"
)

// Controller is the wired controller, ready to run.
type Controller struct {
	Sources *Sources
	Manager *manager.Manager
	log     *logrus.Entry
}

// New connects to the API server, builds the caches, the gatherer and the
// selected exporters, and registers them with a new manager.
func New(ctx context.Context, cfg *rest.Config, o *Options, log *logrus.Entry) (*Controller, error) {
	selected, err := exporters.Select(o.Exporters)
	if err != nil {
		return nil, fmt.Errorf("--exporters: %w", err)
	}
	src, err := Connect(ctx, cfg, SourceOptions{
		Mode: o.Mode, Namespace: o.SecretNamespace, IdentityName: o.IdentityName,
		CreateIdentity: true, CreateNamespace: o.CreateNamespace, Log: log,
	})
	if err != nil {
		return nil, err
	}
	mgr := manager.New(src.Gatherer, manager.Options{
		Log:      log.WithField("component", "manager"),
		Debounce: o.Debounce,
		Ready:    src.WaitForSync,
	})
	deps := exporters.Deps{
		Report: report.New(src.Identity.Key),
		Secret: secret.Options{
			Namespace: o.SecretNamespace, Name: o.SecretName, MaxAge: o.MaxAge,
			CreateNamespace: o.CreateNamespace,
			Secrets:         src.Kube.CoreV1(), Namespaces: src.Kube.CoreV1(),
			Cache: src.Secrets.Cache(),
		},
		Clock: clock.RealClock{},
		Log:   log,
	}
	for _, e := range selected {
		exp, err := e.New(deps)
		if err != nil {
			return nil, fmt.Errorf("exporter %s: %w", e.Name, err)
		}
		if err := mgr.Register(e.Name, exp, o.Interval); err != nil {
			return nil, err
		}
	}
	// Any change to what the gatherer reads, or to a Secret in the telemetry
	// namespace (an edited or deleted payload), asks every exporter for a run;
	// the manager coalesces bursts and exporters write only real changes.
	src.OnChange(func(any) { mgr.TriggerAll() })
	return &Controller{Sources: src, Manager: mgr, log: log}, nil
}

// Run starts the caches and the manager, and blocks until ctx ends. Then it
// stops the exporters, waiting for in-flight writes, and returns nil.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.Sources.Start(ctx); err != nil {
		return fmt.Errorf("starting caches: %w", err)
	}
	if err := c.Manager.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	c.log.Info("shutting down: waiting for running exports")
	stopped := time.Now()
	c.Manager.Stop()
	c.log.WithField("waited", time.Since(stopped).Round(time.Millisecond)).Info("stopped")
	return nil
}

// Run runs the controller until ctx ends; with telemetry disabled it only
// waits, gathering and exporting nothing.
func Run(ctx context.Context, cfg *rest.Config, o *Options, log *logrus.Entry) error {
	if o.DisableTelemetry {
		log.WithField("telemetry", "disabled").Info("telemetry is disabled: nothing is gathered or exported")
		<-ctx.Done()
		return nil
	}
	log.WithField("telemetry", "enabled").Info("telemetry is enabled")
	c, err := New(ctx, cfg, o, log)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}
