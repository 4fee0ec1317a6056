package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics of the collector, in its own registry.
type metrics struct {
	requests *prometheus.CounterVec
	reports  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	inFlight prometheus.Gauge
	store    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetry_collector_http_requests_total",
			Help: "HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
		reports: f.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetry_collector_reports_total",
			Help: "Reports received by outcome: stored, duplicate or rejected.",
		}, []string{"outcome"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetry_collector_reports_rejected_total",
			Help: "Reports rejected, by reason.",
		}, []string{"reason"}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "telemetry_collector_reports_in_flight",
			Help: "Report requests being handled.",
		}),
		store: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "telemetry_collector_store_duration_seconds",
			Help:    "Latency of store calls, by operation and result.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"op", "result"}),
	}
}
