// Package metrics records what the controller does in a Prometheus registry of
// its own (never the global one) and serves it with the health endpoints:
//
//	/metrics  Prometheus text format
//	/healthz  200 while the process is up
//	/readyz   200 once ready (caches synced, install UUID known), else
//	          503 with the reasons
//
// Every metric name starts with telemetry_manager_. The recording methods are
// the hooks the wiring hands to the manager (OnRun, and RemoveExporter as
// OnDelete), the secret exporter (OnSecretWrite) and the manager's source
// (Source).
package metrics

import (
	"errors"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/manager"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Namespace prefixes every metric name.
const Namespace = "telemetry_manager"

// Values of the result label of exporter_runs_total.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// durationBuckets cover a quick Secret write up to an HTTP export that
// times out after a minute or two.
var durationBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// Options configure New.
type Options struct {
	// CacheObjects returns the number of objects in each cache by kind. It
	// is called at every scrape, so it must be cheap. Nil reports none.
	CacheObjects func() map[string]int
	// CacheSynced returns, by kind, whether each cache has synced. It is
	// called at every scrape, so it must be cheap. Nil reports none.
	CacheSynced func() map[string]bool
	// Clock stamps exporter_last_success_timestamp_seconds. Default real.
	Clock clock.PassiveClock
}

// Metrics holds the registry and every metric of the controller. Its
// methods are safe for concurrent use.
type Metrics struct {
	reg   *prometheus.Registry
	clock clock.PassiveClock

	runs         *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	lastSuccess  *prometheus.GaugeVec
	payloadBytes *prometheus.GaugeVec
	secretWrites *prometheus.CounterVec
	invalidRuns  *prometheus.CounterVec
	invalid      *prometheus.GaugeVec
	leader       prometheus.Gauge
	enabled      prometheus.Gauge
}

// New returns the metrics, registered in a new registry together with the Go
// runtime and process collectors.
func New(o Options) *Metrics {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	m := &Metrics{
		reg:   prometheus.NewRegistry(),
		clock: o.Clock,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "exporter_runs_total",
			Help: "Finished exporter runs by exporter and result (success or failure).",
		}, []string{"exporter", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "exporter_run_duration_seconds",
			Help:    "Duration of exporter runs, reading the snapshot included.",
			Buckets: durationBuckets,
		}, []string{"exporter"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "exporter_last_success_timestamp_seconds",
			Help: "Unix time of the last successful run of each exporter.",
		}, []string{"exporter"}),
		payloadBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "payload_bytes",
			Help: "Size of the payload an exporter last wrote.",
		}, []string{"exporter"}),
		invalidRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "payload_validation_failures_total",
			Help: "Runs whose payload failed its schema: it was neither written nor sent, and the last good payload stays.",
		}, []string{"exporter"}),
		secretWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "secret_writes_total",
			Help: "Writes of a payload Secret; an unchanged payload is not written.",
		}, []string{"exporter"}),
		invalid: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "invalid_objects",
			Help: "Objects of the last snapshot with at least one problem, by kind (a node with a bad CPU and a bad memory counts once); invalid nodes are left out of the sums.",
		}, []string{"kind"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "leader",
			Help: "1 while this replica is the one that exports (always 1 without leader election), else 0.",
		}),
		enabled: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "telemetry_enabled",
			Help: "1 while exporting is enabled (no --disable-telemetry and the ConfigMap switch is not disabled), else 0.",
		}),
	}
	m.reg.MustRegister(
		m.runs, m.duration, m.lastSuccess, m.payloadBytes, m.secretWrites, m.invalidRuns,
		m.invalid, m.leader, m.enabled,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if o.CacheObjects != nil {
		m.reg.MustRegister(&cacheCollector{count: o.CacheObjects, desc: prometheus.NewDesc(
			prometheus.BuildFQName(Namespace, "", "cache_objects"),
			"Objects in each informer cache, by kind.",
			[]string{"kind"}, nil,
		)})
	}
	if o.CacheSynced != nil {
		m.reg.MustRegister(&cacheCollector{
			count: func() map[string]int {
				synced := o.CacheSynced()
				out := make(map[string]int, len(synced))
				for k, ok := range synced {
					out[k] = int(b2f(ok))
				}
				return out
			},
			desc: prometheus.NewDesc(
				prometheus.BuildFQName(Namespace, "", "cache_synced"),
				"1 once the informer cache of a kind has synced, 0 while it has not (/readyz says why).",
				[]string{"kind"}, nil,
			),
		})
	}
	return m
}

// Registry returns the registry that holds every metric.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// AddExporter creates the series of an exporter at zero, so that rates and
// alerts work before its first run.
func (m *Metrics) AddExporter(id string) {
	m.runs.WithLabelValues(id, ResultSuccess)
	m.runs.WithLabelValues(id, ResultFailure)
	m.duration.WithLabelValues(id)
	m.invalidRuns.WithLabelValues(id)
}

// RemoveExporter deletes every series labelled with the exporter id, so that
// a deleted exporter leaves no stale series behind; it fits
// manager.Options.OnDelete. A hook returned by OnSecretWrite for the id
// must not be called afterwards: its series would no longer be exported.
func (m *Metrics) RemoveExporter(id string) {
	l := prometheus.Labels{"exporter": id}
	m.runs.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.lastSuccess.DeletePartialMatch(l)
	m.payloadBytes.DeletePartialMatch(l)
	m.secretWrites.DeletePartialMatch(l)
	m.invalidRuns.DeletePartialMatch(l)
}

// OnRun records one finished exporter run; it fits manager.Options.OnRun.
func (m *Metrics) OnRun(id string, d time.Duration, err error) {
	m.duration.WithLabelValues(id).Observe(d.Seconds())
	if err != nil {
		m.runs.WithLabelValues(id, ResultFailure).Inc()
		if errors.Is(err, encoding.ErrInvalidPayload) {
			m.invalidRuns.WithLabelValues(id).Inc()
		}
		return
	}
	m.runs.WithLabelValues(id, ResultSuccess).Inc()
	m.lastSuccess.WithLabelValues(id).Set(float64(m.clock.Now().UnixNano()) / 1e9)
}

// OnSecretWrite returns the hook that records the writes of one secret
// exporter; it fits secret.Options.OnWrite.
func (m *Metrics) OnSecretWrite(exporter string) func(bytes int) {
	writes := m.secretWrites.WithLabelValues(exporter)
	size := m.payloadBytes.WithLabelValues(exporter)
	return func(bytes int) {
		writes.Inc()
		size.Set(float64(bytes))
	}
}

// invalidKinds always have an invalid_objects series, so that a kind whose
// objects were all repaired reads 0 rather than its last count. ConfigMap
// is the extensions ConfigMap, whose refused pairs are its problems.
var invalidKinds = []string{"Cluster", "Node", "Setting", "Feature", "ConfigMap"}

// Source wraps src so that every snapshot it gives sets invalid_objects.
func (m *Metrics) Source(src manager.Source) manager.Source {
	return manager.SourceFunc(func() (*snapshot.Snapshot, error) {
		s, err := src.Snapshot()
		if err == nil && s != nil {
			counts := s.InvalidObjects()
			for _, kind := range invalidKinds {
				m.invalid.WithLabelValues(kind).Set(float64(counts[kind]))
			}
			for kind, n := range counts {
				m.invalid.WithLabelValues(kind).Set(float64(n))
			}
		}
		return s, err
	})
}

// SetLeader sets the leader gauge.
func (m *Metrics) SetLeader(leading bool) { m.leader.Set(b2f(leading)) }

// SetTelemetryEnabled sets the telemetry_enabled gauge.
func (m *Metrics) SetTelemetryEnabled(enabled bool) { m.enabled.Set(b2f(enabled)) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// cacheCollector reports one value per cache kind when scraped.
type cacheCollector struct {
	count func() map[string]int
	desc  *prometheus.Desc
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.count()
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[k]), k)
	}
}
