package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// SCCState registers telemetry_manager_scc_state{state}, one series per
// state of states, and returns the function that sets it: 1 for the current
// state, 0 for the others. Every series is 0 until the first call. Call it
// once.
func (m *Metrics) SCCState(states []string) func(current string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "scc_state",
		Help: "1 for the current state of the SCC registration (see telemetry-manager scc status), 0 for the others.",
	}, []string{"state"})
	m.reg.MustRegister(g)
	for _, s := range states {
		g.WithLabelValues(s).Set(0)
	}
	var mu sync.Mutex
	return func(current string) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range states {
			g.WithLabelValues(s).Set(b2f(s == current))
		}
	}
}
