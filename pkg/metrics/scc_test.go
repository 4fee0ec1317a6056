package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSCCStateIsOneForTheCurrentStateOnly(t *testing.T) {
	m := New(Options{})
	set := m.SCCState([]string{"unregistered", "registered", "failed"})
	set("registered")
	set("failed")
	want := `
# HELP telemetry_manager_scc_state 1 for the current state of the SCC registration (see telemetry-manager scc status), 0 for the others.
# TYPE telemetry_manager_scc_state gauge
telemetry_manager_scc_state{state="failed"} 1
telemetry_manager_scc_state{state="registered"} 0
telemetry_manager_scc_state{state="unregistered"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "telemetry_manager_scc_state"); err != nil {
		t.Error(err)
	}
}
