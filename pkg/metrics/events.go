package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// EventHooks are the recording functions of the lifecycle event log
// (events.Options OnRecord, OnDrop and OnSave).
type EventHooks struct {
	OnRecord func(t snapshot.EventType)
	OnDrop   func()
	OnSave   func(err error)
}

// Events registers the lifecycle event metrics and returns their hooks;
// buffered is read at each scrape (events.Log.Stats). Call it once.
//
//	telemetry_manager_events_recorded_total{type}
//	telemetry_manager_events_dropped_total
//	telemetry_manager_events_buffered
//	telemetry_manager_events_saves_total{result}
func (m *Metrics) Events(buffered func() int) EventHooks {
	recorded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "events_recorded_total",
		Help: "Lifecycle events recorded, by type.",
	}, []string{"type"})
	dropped := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "events_dropped_total",
		Help: "Lifecycle events dropped because the buffer (--events-buffer-size) was full before every exporter delivered them.",
	})
	saves := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "events_saves_total",
		Help: "Saves of the lifecycle events to their ConfigMap, by result (success or failure).",
	}, []string{"result"})
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "events_buffered",
		Help: "Lifecycle events buffered: not yet delivered by every exporter that carries events.",
	}, func() float64 { return float64(buffered()) })
	m.reg.MustRegister(recorded, dropped, saves, gauge)
	for _, t := range snapshot.EventTypes() {
		recorded.WithLabelValues(string(t))
	}
	saves.WithLabelValues(ResultSuccess)
	saves.WithLabelValues(ResultFailure)
	return EventHooks{
		OnRecord: func(t snapshot.EventType) { recorded.WithLabelValues(string(t)).Inc() },
		OnDrop:   dropped.Inc,
		OnSave: func(err error) {
			if err != nil {
				saves.WithLabelValues(ResultFailure).Inc()
				return
			}
			saves.WithLabelValues(ResultSuccess).Inc()
		},
	}
}
