package collector

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "modernc.org/sqlite" // the "sqlite" driver, to read the collector's file

	"github.com/rancher/telemetry-manager/pkg/collector/server"
	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/exporters/secret"
	flags "github.com/rancher/telemetry-manager/pkg/options"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// httpInterval is the http exporter's interval here; the manager's backoff
// never exceeds it, so a failed send is retried within it.
const httpInterval = 2 * time.Second

// startManager runs the controller in-process with the secret and http
// exporters sending to c, in a namespace of the test's own holding the
// credentials Secret. It returns the controller's options and the
// controller; the test's end stops it.
func startManager(t *testing.T, c *collector) (*controller.Options, *controller.Controller) {
	t.Helper()
	o := controller.NewOptions()
	o.Mode = flags.ModeRancher
	o.SecretNamespace = "e2e-" + fmt.Sprintf("%x", time.Now().UnixNano())[6:]
	o.Debounce = 200 * time.Millisecond
	o.Interval = time.Hour
	o.MetricsAddress = "127.0.0.1:0"
	o.Exporters = "secret,http"
	o.HTTP.URL = c.url(protocol.DefaultPath)
	o.HTTP.Secret = "http-credentials"
	o.Intervals["http"] = httpInterval
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.SecretNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.SecretNamespace, Name: o.HTTP.Secret},
		StringData: map[string]string{"token": token, "signingKey": signingKey},
	}
	if _, err := kube.CoreV1().Secrets(o.SecretNamespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	ctl, err := controller.New(runCtx, env.Config, o, testLog(t))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller returned %v", err)
		}
	})
	return o, ctl
}

// secretPayload waits for the telemetry Secret and returns its report.
func secretPayload(t *testing.T, o *controller.Options) report.Report {
	t.Helper()
	var r report.Report
	eventually(t, "the telemetry Secret", func() (bool, error) {
		s, err := kube.CoreV1().Secrets(o.SecretNamespace).Get(context.Background(), o.SecretName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return json.Unmarshal(s.Data[secret.DefaultKey], &r) == nil, nil
	})
	return r
}

// waitInstall waits until the collector lists one install last seen after
// after, and returns it.
func waitInstall(t *testing.T, c *collector, what string, after time.Time) server.Install {
	t.Helper()
	var in server.Install
	eventually(t, what, func() (bool, error) {
		var out []server.Install
		if err := c.getJSON("/api/v1/installs", &out); err != nil {
			return false, err
		}
		if len(out) != 1 {
			return false, fmt.Errorf("%d installs", len(out))
		}
		in = out[0]
		return in.LastSeenAt.After(after), fmt.Errorf("last seen %v", in.LastSeenAt)
	})
	return in
}

// checkSummary compares the collector's summary with the payload's totals.
func checkSummary(t *testing.T, c *collector, want report.Report) {
	t.Helper()
	var got struct {
		Installs    int64 `json:"installs"`
		Clusters    int64 `json:"clusters"`
		Nodes       int64 `json:"nodes"`
		CPUCores    int64 `json:"cpuCores"`
		MemoryBytes int64 `json:"memoryBytes"`
	}
	if err := c.getJSON("/api/v1/summary", &got); err != nil {
		t.Fatal(err)
	}
	tot := want.Totals
	if got.Installs != 1 || got.Clusters != tot.Clusters || got.Nodes != tot.Nodes || got.CPUCores != tot.CPUCores || got.MemoryBytes != tot.MemoryBytes {
		t.Errorf("summary %+v, want 1 install and the payload's totals %+v", got, tot)
	}
}

// storedReports counts the report rows of the collector's database, read
// directly rather than through the collector.
func storedReports(t *testing.T, database string) int {
	t.Helper()
	kind, target, err := store.ParseSpec(database)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var n int
	switch kind {
	case store.KindSQLite:
		db, err := sql.Open("sqlite", "file:"+target+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		err = db.QueryRowContext(ctx, `SELECT count(*) FROM reports`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
	default:
		conn, err := pgx.Connect(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM reports`).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestManagerReportReachesTheCollector: the manager on the sample
// installation sends its report to the real collector on SQLite, whose
// summary then has the totals of the telemetry Secret's payload.
func TestManagerReportReachesTheCollector(t *testing.T) {
	c := startCollector(t, "sqlite:"+t.TempDir()+"/c.db")
	o, _ := startManager(t, c)
	want := secretPayload(t, o)
	in := waitInstall(t, c, "the install at the collector", time.Time{})
	if in.InstallUUID != want.Install.InstallUUID {
		t.Errorf("install %q, want the payload's %q", in.InstallUUID, want.Install.InstallUUID)
	}
	var sent report.Report
	if err := json.Unmarshal(in.Report, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.Totals != want.Totals {
		t.Errorf("stored totals %+v, want the Secret's %+v", sent.Totals, want.Totals)
	}
	checkSummary(t, c, want)
}

// TestCollectorKilledWhileTheManagerRetries: the collector dies by SIGKILL
// between two sends; the manager's next send fails and is retried until the
// collector, restarted on the same database, takes it. The report is stored
// once, and the install was seen again after the restart.
func TestCollectorKilledWhileTheManagerRetriesSQLite(t *testing.T) {
	killWhileRetrying(t, "sqlite:"+t.TempDir()+"/c.db")
}

// TestCollectorKilledWhileTheManagerRetriesPostgres is the same flow with
// the collector on a real PostgreSQL.
func TestCollectorKilledWhileTheManagerRetriesPostgres(t *testing.T) {
	killWhileRetrying(t, postgres(t).NewDatabase(t))
}

func killWhileRetrying(t *testing.T, database string) {
	c := startCollector(t, database)
	o, ctl := startManager(t, c)
	want := secretPayload(t, o)
	first := waitInstall(t, c, "the first report", time.Time{})

	c.kill()
	eventually(t, "the http exporter to fail and retry", func() (bool, error) {
		st, _ := ctl.Manager.Status("http")
		return st.ConsecutiveFailures > 0, st.LastError
	})
	restarted := time.Now().UTC()
	c.start()
	again := waitInstall(t, c, "the retry at the restarted collector", restarted)
	eventually(t, "the http exporter to succeed again", func() (bool, error) {
		st, _ := ctl.Manager.Status("http")
		return st.ConsecutiveFailures == 0, st.LastError
	})

	if again.ReceivedAt != first.ReceivedAt || string(again.Report) != string(first.Report) {
		t.Errorf("after the restart the install has report received %v, want the first, received %v", again.ReceivedAt, first.ReceivedAt)
	}
	if n := storedReports(t, database); n != 1 {
		t.Errorf("the database holds %d reports, want 1", n)
	}
	var hist []server.Day
	if err := c.getJSON("/api/v1/summary/history?days=1", &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Installs != 1 || hist[0].Nodes != want.Totals.Nodes {
		t.Errorf("history %+v, want today with 1 install and %d nodes", hist, want.Totals.Nodes)
	}
	checkSummary(t, c, want)
}
