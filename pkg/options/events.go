package options

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rancher/telemetry-manager/pkg/events"
)

// Events configures the lifecycle events: the buffer and where it is saved.
type Events struct {
	// ConfigMap is the ConfigMap in the telemetry namespace the events, the
	// exporters' cursors and the clusters last seen are saved in.
	ConfigMap string
	// BufferSize is how many undelivered events are kept.
	BufferSize int
	// FlushInterval is how long a recorded event may wait to be saved: what
	// a crash can lose.
	FlushInterval time.Duration
}

// NewEvents returns the defaults.
func NewEvents() Events {
	return Events{ConfigMap: events.DefaultConfigMapName, BufferSize: events.DefaultSize, FlushInterval: events.DefaultFlushInterval}
}

// AddFlags registers the event flags.
func (o *Events) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ConfigMap, "events-configmap", o.ConfigMap, "ConfigMap in --secret-namespace that the lifecycle events not yet delivered, the exporters' cursors and the clusters last seen are saved in")
	fs.IntVar(&o.BufferSize, "events-buffer-size", o.BufferSize, fmt.Sprintf("how many undelivered lifecycle events are kept (1 to %d); when full, the oldest is dropped and counted", events.MaxSize))
	fs.DurationVar(&o.FlushInterval, "events-flush-interval", o.FlushInterval, "how long a lifecycle event may wait to be saved (1s to 5m): a crash loses at most the events of this window, and reports say so")
}

// Validate checks the name, the size and the interval.
func (o *Events) Validate() error {
	var errs []error
	errs = append(errs, CheckName("--events-configmap", o.ConfigMap, validation.IsDNS1123Subdomain))
	if o.BufferSize < 1 || o.BufferSize > events.MaxSize {
		errs = append(errs, fmt.Errorf("--events-buffer-size %d: %w (valid: 1 to %d)", o.BufferSize, events.ErrSize, events.MaxSize))
	}
	if o.FlushInterval < time.Second || o.FlushInterval > 5*time.Minute {
		errs = append(errs, fmt.Errorf("--events-flush-interval %s: %w: must be from 1s to 5m", o.FlushInterval, ErrInvalidDuration))
	}
	return errors.Join(errs...)
}
