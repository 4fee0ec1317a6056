package controller

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/rancher/telemetry-manager/pkg/options"
)

// Options configure the run command: every concern of pkg/options.
type Options struct {
	options.Connection
	options.Logging
	options.Export
	options.Serving
	options.LeaderElection
	options.SecretRequests
	options.SCC
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Connection:     options.NewConnection(),
		Logging:        options.NewLogging(),
		Export:         options.NewExport(),
		Serving:        options.NewServing(),
		LeaderElection: options.NewLeaderElection(),
		SecretRequests: options.NewSecretRequests(),
		SCC:            options.NewSCC(),
	}
}

// AddFlags registers the flags of the run command.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Connection.AddFlags(fs)
	o.Connection.AddModeFlag(fs)
	o.Logging.AddFlags(fs)
	o.Export.AddFlags(fs)
	o.Serving.AddFlags(fs)
	o.LeaderElection.AddFlags(fs)
	o.SecretRequests.AddFlags(fs)
	o.SCC.AddFlags(fs)
}

// Validate reports every problem of every concern at once.
func (o *Options) Validate() error {
	return errors.Join(
		o.Connection.Validate(),
		o.Logging.Validate(),
		o.Export.Validate(),
		o.Serving.Validate(),
		o.LeaderElection.Validate(),
		o.SecretRequests.Validate(),
		o.SCC.Validate(),
	)
}

// LeaseNamespace returns the namespace of the leader election Lease: the
// flag's, else the telemetry namespace.
func (o *Options) LeaseNamespace() string {
	return o.LeaderElection.LeaseNamespace(o.SecretNamespace)
}
