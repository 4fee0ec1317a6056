// Package controller wires the controller together, in the order it runs:
// the sources (clients and shared caches) and the gatherer, the exporter
// manager and the exporters of the table, the opt-out switch, the metrics
// and health server, then caches, leader election and the manager. All
// wiring fits on this one screen (New and Run).
package controller

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/events"
	"github.com/rancher/telemetry-manager/pkg/exporters"
	httpexporter "github.com/rancher/telemetry-manager/pkg/exporters/http"
	sccexporter "github.com/rancher/telemetry-manager/pkg/exporters/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/extensions"
	"github.com/rancher/telemetry-manager/pkg/leader"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/metrics"
	"github.com/rancher/telemetry-manager/pkg/optout"
	"github.com/rancher/telemetry-manager/pkg/sources"
)

// ErrLostLeadership is returned by Run when the Lease was lost: the
// exporters have stopped, and the process should exit and restart.
var ErrLostLeadership = leader.ErrLost

// Controller is the wired controller, ready to run.
type Controller struct {
	Sources *sources.Sources
	// Manager is started only while this replica exports (it leads, or
	// leader election is off). The runtime switch pauses every exporter
	// when telemetry is disabled, those registered later included, and
	// resumes them when it is enabled.
	Manager *manager.Manager
	Metrics *metrics.Metrics
	Switch  *optout.Switch
	// Events is the lifecycle event log: fed by the gatherer on every
	// replica, started, saved and read only on the one that exports.
	Events *events.Log
	// LeaderIdentity is this replica's holder identity in the Lease
	// (hostname_random); empty without leader election.
	LeaderIdentity string

	opts *Options
	// shutdown is Run's context: done on shutdown, not when the Lease is
	// lost (then nothing may be written any more).
	shutdown context.Context
	// mu guards running, which Run sets: plugins register before it.
	mu       sync.Mutex
	running  bool
	owners   secretOwners
	version  *sources.VersionWatch
	listener net.Listener
	log      *logrus.Entry
}

// New connects to the API server, builds the caches, the gatherer and the
// selected exporters, registers them with a new manager, and opens
// --metrics-address.
func New(ctx context.Context, cfg *rest.Config, o *Options, log *logrus.Entry) (*Controller, error) {
	selected, err := exporters.Select(o.Exporters)
	if err != nil {
		return nil, fmt.Errorf("--exporters: %w", err)
	}
	src, err := sources.Connect(ctx, cfg, sources.Options{
		Mode: o.Mode, Namespace: o.SecretNamespace, IdentityName: o.IdentityName,
		CreateIdentity: true, CreateNamespace: o.CreateNamespace, ConfigMaps: true, Log: log,
	})
	if err != nil {
		return nil, err
	}
	met := metrics.New(metrics.Options{CacheObjects: src.CacheObjects, CacheSynced: src.CacheSynced})
	c := &Controller{Sources: src, Metrics: met, opts: o, log: log}
	c.Switch, err = optout.New(src.ConfigMaps.Informer(), src.ConfigMaps.Cache(), o.SecretNamespace, o.ConfigMapName,
		log.WithField("component", "switch"), met.SetTelemetryEnabled)
	if err != nil {
		return nil, err
	}
	if name := o.ExtensionsConfigMap; name != "" {
		// The gatherer's change hook runs every exporter when the
		// extensions change, so an edit applies without a restart.
		err = extensions.Watch(src.ConfigMaps.Informer(), o.SecretNamespace, name, func(r extensions.Result) {
			src.Gatherer.SetExtensions(r.Pairs, r.Refused, r.Problems)
		})
		if err != nil {
			return nil, err
		}
	}
	key := src.Identity.Key
	hooks := met.Events(func() int { return c.Events.Stats().Buffered })
	c.Events, err = events.New(events.Options{
		Size: o.Events.BufferSize, FlushInterval: o.Events.FlushInterval,
		ID:    func(name string) string { return report.ClusterID(key, name) },
		Store: &events.ConfigMapStore{Client: src.Kube.CoreV1(), Namespace: o.SecretNamespace, Name: o.Events.ConfigMap},
		Log:   log, OnRecord: hooks.OnRecord, OnDrop: hooks.OnDrop, OnSave: hooks.OnSave,
	})
	if err != nil {
		return nil, fmt.Errorf("--events-buffer-size: %w", err)
	}
	// Before the caches start: the census sees every object, and the
	// informers' initial lists become the clusters as they are.
	src.Gatherer.SetCensus(c.Events)
	c.Manager = manager.New(met.Source(src.Gatherer), manager.Options{
		Log:      log.WithField("component", "manager"),
		Debounce: o.Debounce,
		// Nothing is exported before the caches synced and, in rancher
		// mode, the install-uuid Setting exists: the wait ends with the
		// Setting's event, not with a backoff.
		// The events are loaded last, so that they compare the saved
		// clusters with complete caches.
		Ready: func(ctx context.Context) error {
			if err := src.WaitForSync(ctx); err != nil {
				return err
			}
			if err := src.WaitForInstallUUID(ctx); err != nil {
				return err
			}
			return c.Events.Start(ctx)
		},
		OnRun:    met.OnRun,
		OnDelete: met.RemoveExporter,
		Events:   c.Events,
	})
	target := o.TargetNamespace(o.SecretNamespace)
	src.Secrets.Watch(target)
	deps := exporters.Deps{
		Report: report.New(src.Identity.Key),
		Secret: secret.Options{
			Namespace: target, Name: o.SecretName, MaxAge: o.MaxAge,
			CreateNamespace: o.CreateNamespace,
			Secrets:         src.Kube.CoreV1(), Namespaces: src.Kube.CoreV1(),
			Cache:      src.Secrets,
			OnWrite:    met.OnSecretWrite("secret"),
			SigningKey: src.Identity.SigningKey(),
		},
		Clock: clock.RealClock{},
		Log:   log,
	}
	if o.Selected("http") {
		// The credentials Secret is the user's: a cache of that one
		// Secret (see sources.NamedSecret), read at each export, so that a
		// rotation needs no restart. Its change runs the exporter early:
		// a missing or broken Secret is a permanent error until then.
		creds := src.NamedSecret(o.SecretNamespace, o.HTTP.Secret)
		creds.OnChange(func() { c.Manager.Trigger("http") })
		deps.HTTP = httpexporter.Options{
			URL: o.HTTP.URL, Timeout: o.HTTP.Timeout, Gzip: o.HTTP.Gzip, CAFile: o.HTTP.CAFile,
			Interval:        o.IntervalOf("http"),
			SecretNamespace: o.SecretNamespace, SecretName: o.HTTP.Secret, Credentials: creds,
		}
	}
	if o.Selected("scc") {
		// scc-registration is the user's (Rancher's UI writes it): a cache
		// of that one Secret, whose change runs the exporter at once.
		entry := src.NamedSecret(o.SCC.Namespace, sccexporter.EntrySecretName)
		entry.OnChange(func() { c.Manager.Trigger("scc") })
		deps.SCC = sccexporter.Options{
			Namespace: o.SCC.Namespace, Entry: entry,
			Secrets: src.Kube.CoreV1(), ConfigMaps: src.Kube.CoreV1(),
			CAFile: o.SCC.CAFile, KeepaliveInterval: o.SCC.KeepaliveInterval,
			KeepaliveJitter: sccexporter.DefaultKeepaliveJitter,
			OnState:         met.SCCState(sccexporter.States),
		}
		if o.SCC.PublicKeyFile != "" {
			if deps.SCC.PublicKey, err = sccexporter.ReadPublicKey(o.SCC.PublicKeyFile); err != nil {
				return nil, fmt.Errorf("--scc-offline-public-key-file: %w", err)
			}
		}
	}
	for _, e := range selected {
		exp, err := e.New(deps)
		if err != nil {
			return nil, fmt.Errorf("exporter %s: %w", e.Name, err)
		}
		var ro []manager.RegisterOption
		if e.Events {
			ro = append(ro, manager.WithEvents())
		}
		if err := c.Manager.Register(e.Name, exp, o.IntervalOf(e.Name), ro...); err != nil {
			return nil, err
		}
		met.AddExporter(e.Name)
		if t, ok := exp.(SecretWriter); ok {
			ns, name := t.Target()
			c.owners.set(e.Name, t, ns, name)
		}
	}
	// A change of what the gatherer reads asks every exporter for a run (a
	// heartbeat asks for none); the manager coalesces bursts and exporters
	// write only real changes.
	src.OnChange(c.Manager.TriggerAll)
	// Writes that failed while the API server was unreachable are retried
	// as soon as it answers again, not at the end of their backoff.
	src.Reachability.OnReachable(c.Manager.RetryAll)
	// An edited or deleted Secret asks only the exporter that writes it,
	// and only when it does not hold what that exporter wrote (the event
	// of the exporter's own write asks for nothing).
	src.Secrets.OnChange(func(namespace, name string, current *corev1.Secret) {
		if id, w, ok := c.owners.owner(namespace, name); ok && (current == nil || !w.Holds(current)) {
			c.Manager.Trigger(id)
		}
	})
	// An upgrade of the cluster the manager runs in shows within
	// min(--interval, 10m), without a restart.
	c.version = sources.NewVersionWatch(src.Kube.Discovery(), o.Interval, src.Gatherer.SetKubernetesVersion,
		c.Manager.TriggerAll, clock.RealClock{}, log.WithField("component", "version"))
	if o.LeaderElect {
		if c.LeaderIdentity, err = leader.Identity(); err != nil {
			return nil, err
		}
	}
	if o.MetricsAddress != "" {
		// Opened last, so that no other error leaves it open.
		if c.listener, err = metrics.Listen(o.MetricsAddress); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// HTTPAddr returns the address /metrics, /healthz and /readyz are served
// on (the port chosen when --metrics-address ends in :0), "" when none.
func (c *Controller) HTTPAddr() string {
	if c.listener == nil {
		return ""
	}
	return c.listener.Addr().String()
}

// Run serves metrics and health, starts the caches (on every replica, so a
// standby is warm) and exports: at once without leader election, else only
// while this replica holds the Lease. It blocks until ctx ends, then stops
// the exporters, waiting for in-flight writes, and returns nil. When the
// Lease is lost it stops the exporters and returns ErrLostLeadership.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	c.running = true
	c.shutdown = ctx
	c.mu.Unlock()
	// Whatever ends the run (ctx, a lost Lease) stops caches and server too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan struct{})
	go func() {
		defer close(served)
		if c.listener == nil {
			return
		}
		log := c.log.WithField("component", "http")
		if err := metrics.Serve(ctx, c.listener, c.Metrics.Handler(c.Sources.Ready), log); err != nil {
			// Exporting goes on; the probes will tell.
			log.WithError(err).Error("metrics and health server stopped")
		}
	}()
	err := c.startAndExport(ctx)
	cancel()
	<-served
	return err
}

// startAndExport starts the caches, the switch and the version watch, then
// exports: at once, or while leading.
func (c *Controller) startAndExport(ctx context.Context) error {
	if err := c.Sources.Start(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped while a cache could not sync: /readyz said why.
			return nil
		}
		return fmt.Errorf("starting caches: %w", err)
	}
	go c.Switch.Run(ctx)
	go c.version.Run(ctx)
	if !c.opts.LeaderElect {
		c.Metrics.SetLeader(true)
		c.export(ctx)
		return nil
	}
	// Caches run on every replica; the exporters only on the leader.
	return leader.Run(ctx, leader.Config{
		Namespace: c.opts.LeaseNamespace(), Name: c.opts.LeaderElectionID,
		Identity: c.LeaderIdentity, Client: c.Sources.Kube.CoordinationV1(),
		LeaseDuration: c.opts.LeaseDuration, RenewDeadline: c.opts.RenewDeadline, RetryPeriod: c.opts.RetryPeriod,
		Log:      c.log.WithField("component", "leader"),
		OnChange: c.Metrics.SetLeader,
	}, c.export)
}

// export runs the manager until ctx ends, following the switch: it is
// paused while telemetry is disabled and resumed when it is enabled. It
// returns once every exporter has stopped.
func (c *Controller) export(ctx context.Context) {
	defer func() {
		c.log.Info("shutting down: waiting for running exports")
		stopped := time.Now()
		c.Manager.Stop()
		// On shutdown the Lease is still held: what changed since the
		// last save is saved. A lost Lease writes nothing more.
		if c.shutdown.Err() != nil {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			c.Events.Flush(fctx)
			cancel()
		}
		c.log.WithField("waited", time.Since(stopped).Round(time.Millisecond)).Info("stopped")
	}()
	// Nothing runs before the switch is known: a ConfigMap that disables
	// telemetry must hold from the first export on.
	select {
	case <-ctx.Done():
		return
	case <-c.Switch.Synced():
	}
	enabled := c.Switch.Enabled()
	if !enabled {
		c.Manager.Pause()
	}
	if err := c.Manager.Start(ctx); err != nil {
		// Start fails only when called twice or after Stop, and export is
		// the only caller.
		c.log.WithError(err).Error("starting the exporters")
		return
	}
	c.log.WithField("telemetry", optout.StateName(enabled)).Info("exporter manager started")
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.Switch.Changed():
		}
		now := c.Switch.Enabled()
		if now == enabled {
			continue
		}
		enabled = now
		if enabled {
			c.Manager.Resume()
			c.log.WithField("telemetry", "enabled").Info("telemetry enabled: exporters started")
		} else {
			// Pause waits for in-flight runs: nothing is written once
			// it returns.
			c.Manager.Pause()
			c.log.WithField("telemetry", "disabled").Info("telemetry disabled: exporters stopped")
		}
	}
}

// Run runs the controller, with the plugins registered, until ctx ends.
// With telemetry disabled it opens no connection and starts nothing but,
// when --metrics-address is set, the health and metrics server
// (telemetry_enabled 0), so that probes pass.
func Run(ctx context.Context, cfg *rest.Config, o *Options, log *logrus.Entry, plugins ...Plugin) error {
	if o.DisableTelemetry {
		log.WithField("telemetry", "disabled").Info("telemetry is disabled: nothing is gathered or exported")
		if o.MetricsAddress == "" {
			<-ctx.Done()
			return nil
		}
		ln, err := metrics.Listen(o.MetricsAddress)
		if err != nil {
			return err
		}
		m := metrics.New(metrics.Options{})
		m.SetTelemetryEnabled(false)
		return metrics.Serve(ctx, ln, m.Handler(nil), log.WithField("component", "http"))
	}
	c, err := New(ctx, cfg, o, log)
	if err != nil {
		return err
	}
	for _, p := range plugins {
		if err := c.Register(p); err != nil {
			return err
		}
	}
	return c.Run(ctx)
}

// secretOwners maps each Secret an exporter writes to that exporter, so
// that an event on the Secret triggers only its owner.
type secretOwners struct {
	mu sync.Mutex
	m  map[string]secretOwner // by namespace/name
}

type secretOwner struct {
	id     string
	writer SecretWriter
}

func (o *secretOwners) set(id string, w SecretWriter, namespace, name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]secretOwner{}
	}
	o.m[namespace+"/"+name] = secretOwner{id, w}
}

func (o *secretOwners) owner(namespace, name string) (string, SecretWriter, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w, ok := o.m[namespace+"/"+name]
	return w.id, w.writer, ok
}
