// Package exporters lists every exporter the manager can run: its name,
// whether it runs by default, and how it is built. The --exporters flag, the
// README's exporter table and the chart all derive from this one table.
package exporters

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	httpexporter "github.com/rancher/telemetry-manager/pkg/exporters/http"
	sccexporter "github.com/rancher/telemetry-manager/pkg/exporters/scc"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// ErrUnknown means an exporter name is not in the table.
var ErrUnknown = errors.New("unknown exporter")

// Deps is what exporters may use. Each constructor takes only what it needs.
type Deps struct {
	Report snapshot.Encoder // the report encoder, keyed for this install
	Secret secret.Options   // client, cache and target of the secret exporter
	// HTTP is the collector, credentials and transport of the http exporter.
	HTTP  httpexporter.Options
	SCC   sccexporter.Options // namespace, clients and caches of the scc exporter
	Clock clock.PassiveClock
	Log   *logrus.Entry
}

// Entry is one exporter of the table.
type Entry struct {
	Name        string
	Default     bool
	Description string
	// Interval is how often the exporter runs unless --NAME-interval says
	// otherwise; zero: --interval.
	Interval time.Duration
	// Events says that the exporter's payloads carry the lifecycle events
	// (manager.WithEvents).
	Events bool
	New    func(d Deps) (manager.Exporter, error)
}

// Table lists every exporter, in the order they are documented.
var Table = []Entry{
	{
		Name:        "secret",
		Default:     true,
		Description: "writes the report into a Secret (default cattle-telemetry-system/telemetry, key payload); works air-gapped",
		Events:      true,
		New: func(d Deps) (manager.Exporter, error) {
			o := d.Secret
			o.Encoder = d.Report
			o.Clock = d.Clock
			o.Log = d.Log.WithField("exporter", "secret")
			return secret.New(o)
		},
	},
	{
		Name:        "http",
		Description: "POSTs the report, signed, to a collector (--http-url), with the token and signing key of a Secret (--http-secret)",
		Interval:    httpexporter.DefaultInterval,
		Events:      true,
		New: func(d Deps) (manager.Exporter, error) {
			o := d.HTTP
			o.Encoder = d.Report
			o.Clock = d.Clock
			o.Log = d.Log.WithField("exporter", "http")
			return httpexporter.New(o)
		},
	},
	{
		Name:        "scc",
		Description: "registers the installation with SUSE Customer Center, online or offline, from Secret scc-registration in --scc-namespace",
		Interval:    sccexporter.Interval,
		New: func(d Deps) (manager.Exporter, error) {
			o := d.SCC
			o.Clock = d.Clock
			o.Log = d.Log.WithField("exporter", "scc")
			return sccexporter.New(o)
		},
	},
}

// Names returns the names of every exporter.
func Names() []string {
	out := make([]string, 0, len(Table))
	for _, e := range Table {
		out = append(out, e.Name)
	}
	return out
}

// Defaults returns the names of the exporters that run by default.
func Defaults() []string {
	var out []string
	for _, e := range Table {
		if e.Default {
			out = append(out, e.Name)
		}
	}
	return out
}

// Select parses a comma-separated list of exporter names. Blanks and
// duplicates are dropped; an unknown name is an error that lists the valid
// ones. The result is in table order.
func Select(spec string) ([]Entry, error) {
	want := map[string]bool{}
	var unknown []string
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(Names(), name) {
			unknown = append(unknown, name)
			continue
		}
		want[name] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w %s (valid: %s)", ErrUnknown, strings.Join(unknown, ", "), strings.Join(Names(), ", "))
	}
	var out []Entry
	for _, e := range Table {
		if want[e.Name] {
			out = append(out, e)
		}
	}
	return out, nil
}
