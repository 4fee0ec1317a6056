package integration

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	"github.com/rancher/telemetry-manager/pkg/metrics"
)

var httpClient = &http.Client{Timeout: 5 * time.Second}

// httpGet returns the status and body of GET url.
func httpGet(url string) (int, string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(body), err
}

// sample returns the value of one series, e.g.
// `telemetry_manager_cache_objects{kind="Cluster"}`, in a Prometheus text
// exposition.
func sample(exposition, series string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// gauge reads a metric without labels, or with the given labels in
// Prometheus form (`exporter="secret"`), from a controller's registry.
func gauge(t *testing.T, m *metrics.Metrics, name, labels string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			var ls []string
			for _, l := range mt.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if strings.Join(ls, ",") != labels {
				continue
			}
			switch {
			case mt.GetGauge() != nil:
				return mt.GetGauge().GetValue()
			case mt.GetCounter() != nil:
				return mt.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, labels)
	return 0
}

func TestMetricsAndHealthEndpoints(t *testing.T) {
	o := options(t)
	o.MetricsAddress = "127.0.0.1:0" // a free port; HTTPAddr tells which
	c := start(t, env.Config, o)
	base := "http://" + c.HTTPAddr()

	for _, path := range []string{"/healthz", "/readyz"} {
		eventually(t, path+" answering 200", func() (bool, error) {
			code, body, err := httpGet(base + path)
			return code == http.StatusOK, fmt.Errorf("%d %q %v", code, body, err)
		})
	}
	s := waitPayload(t, o, "the payload", func(r report.Report) bool { return r.Totals == sampleTotals })

	want := map[string]func(v float64) bool{
		`telemetry_manager_exporter_runs_total{exporter="secret",result="success"}`: func(v float64) bool { return v >= 1 },
		`telemetry_manager_exporter_runs_total{exporter="secret",result="failure"}`: func(v float64) bool { return v == 0 },
		`telemetry_manager_exporter_run_duration_seconds_count{exporter="secret"}`:  func(v float64) bool { return v >= 1 },
		`telemetry_manager_exporter_last_success_timestamp_seconds{exporter="secret"}`: func(v float64) bool {
			return v > float64(time.Now().Add(-time.Minute).Unix())
		},
		`telemetry_manager_secret_writes_total{exporter="secret"}`: func(v float64) bool { return v >= 1 },
		`telemetry_manager_payload_bytes{exporter="secret"}`:       func(v float64) bool { return v == float64(len(s.Data[secret.DefaultKey])) },
		`telemetry_manager_cache_objects{kind="Cluster"}`:          func(v float64) bool { return v == float64(sampleTotals.Clusters) },
		`telemetry_manager_cache_objects{kind="Node"}`:             func(v float64) bool { return v >= float64(sampleTotals.Nodes) },
		`telemetry_manager_cache_objects{kind="Setting"}`:          func(v float64) bool { return v > 0 },
		`telemetry_manager_cache_objects{kind="Feature"}`:          func(v float64) bool { return v > 0 },
		`telemetry_manager_cache_objects{kind="Secret"}`:           func(v float64) bool { return v == 1 }, // the payload: the identity Secret is not cached
		`telemetry_manager_cache_objects{kind="ConfigMap"}`:        func(v float64) bool { return v >= 0 },
		`telemetry_manager_invalid_objects{kind="Node"}`:           func(v float64) bool { return v == float64(sampleTotals.InvalidNodes) },
		`telemetry_manager_leader`:                                 func(v float64) bool { return v == 1 },
		`telemetry_manager_telemetry_enabled`:                      func(v float64) bool { return v == 1 },
	}
	var body string
	eventually(t, "every metric", func() (bool, error) {
		code, b, err := httpGet(base + "/metrics")
		if err != nil || code != http.StatusOK {
			return false, fmt.Errorf("%d %v", code, err)
		}
		body = b
		for series, ok := range want {
			v, found := sample(body, series)
			if !found {
				return false, fmt.Errorf("no %s", series)
			}
			if !ok(v) {
				return false, fmt.Errorf("%s is %v", series, v)
			}
		}
		return true, nil
	})
	if !strings.Contains(body, "# TYPE telemetry_manager_exporter_run_duration_seconds histogram") {
		t.Errorf("exporter_run_duration_seconds is not a histogram:\n%s", body)
	}
}
