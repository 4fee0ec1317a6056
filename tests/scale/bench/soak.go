package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	_ "modernc.org/sqlite" // the "sqlite" driver, to count the collector's rows

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/tests/scale/loadgen"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// The soak (--soak 1h, make soak): the manager runs for a long time against
// the loaded API server while nodes change status, come and go, and the
// http exporter sends to a local telemetry-collector on SQLite. The
// manager's RSS, Go heap and goroutines are sampled at each --soak-sample;
// their growth after the warm-up is printed beside the target. Nothing is
// asserted: the figures are reported.

// soakOptions are the flags of the soak.
type soakOptions struct {
	soak          time.Duration
	warmup        time.Duration
	sample        time.Duration
	collector     string
	churnEvery    time.Duration
	churnNodes    int
	heartbeatRate int
	httpInterval  time.Duration
}

// growthTarget is the most the manager's memory and goroutines may grow
// between the end of the warm-up and the end of the soak.
const growthTarget = 0.05

// soakWindow is how many samples the baseline and the end figure of the
// growth are each the median of.
const soakWindow = 10

func (s *soakOptions) addFlags() {
	flag.DurationVar(&s.soak, "soak", 0, "run the soak for this long instead of the bench (make soak: 1h)")
	flag.DurationVar(&s.warmup, "soak-warmup", 10*time.Minute, "growth is measured from the end of this first part of the soak")
	flag.DurationVar(&s.sample, "soak-sample", time.Minute, "how often the processes are sampled")
	flag.StringVar(&s.collector, "collector", "bin/telemetry-collector", "telemetry-collector binary (soak)")
	flag.DurationVar(&s.churnEvery, "soak-churn-every", 30*time.Second, "how often nodes are added and deleted")
	flag.IntVar(&s.churnNodes, "soak-churn-nodes", 20, "nodes added, and as many deleted, each time")
	flag.IntVar(&s.heartbeatRate, "soak-heartbeat-rate", 50, "node status updates per second, round after round over every node")
	flag.DurationVar(&s.httpInterval, "soak-http-interval", time.Minute, "the http exporter's interval")
}

func (s soakOptions) validateSoak() error {
	var errs []error
	if s.sample <= 0 {
		errs = append(errs, fmt.Errorf("--soak-sample %v: must be positive", s.sample))
	}
	// Three samples at each end at least.
	if s.warmup < 0 || s.warmup+6*s.sample > s.soak {
		errs = append(errs, fmt.Errorf("--soak %v: must leave at least 6 samples (--soak-sample %v) after the warm-up (--soak-warmup %v)", s.soak, s.sample, s.warmup))
	}
	if s.churnEvery <= 0 || s.churnNodes < 0 {
		errs = append(errs, fmt.Errorf("--soak-churn-every %v, --soak-churn-nodes %d: a positive period and a count not negative", s.churnEvery, s.churnNodes))
	}
	if s.heartbeatRate < 1 {
		errs = append(errs, fmt.Errorf("--soak-heartbeat-rate %d: at least 1", s.heartbeatRate))
	}
	if s.httpInterval <= 0 {
		errs = append(errs, fmt.Errorf("--soak-http-interval %v: must be positive", s.httpInterval))
	}
	return errors.Join(errs...)
}

// soakSample is one reading of the processes.
type soakSample struct {
	At         time.Duration // since the soak began
	RSS, Heap  uint64        // the manager's
	Goroutines int
	CPU        time.Duration // the manager's, cumulative
	Writes     float64       // Secret writes, cumulative
	Stored     float64       // reports the collector stored, cumulative
	Heartbeats int64
	Added      int64
	Deleted    int64
}

// churn counts what the load did during the soak.
type churn struct {
	heartbeats, added, deleted, errors atomic.Int64
	lastErr                            atomic.Value // error
}

func (c *churn) fail(err error) {
	c.errors.Add(1)
	c.lastErr.Store(err)
}

func runSoak(ctx context.Context, o options, env *testenv.Env, cl *loadgen.Client, dir string) error {
	kube, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	caddr, dbPath, stopCollector, err := startSoakCollector(ctx, o, kube, dir)
	if err != nil {
		return err
	}
	defer stopCollector()

	maddr, err := freeAddress()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(o.manager, "run", "--kubeconfig", env.KubeconfigPath, "--mode", "rancher",
		"--secret-namespace", o.secretNamespace, "--secret-name", o.secretName, "--metrics-address", maddr,
		"--exporters", "secret,http", "--http-url", "http://"+caddr+protocol.DefaultPath,
		"--http-secret", soakHTTPSecret, "--http-interval", o.httpInterval.String())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	logf("soak: starting the manager: %v", cmd.Args)
	p, err := start(cmd)
	if err != nil {
		return fmt.Errorf("manager %s: %w", o.manager, err)
	}
	defer p.stop()
	if err := waitSecret(ctx, kube, o, p, logFile.Name()); err != nil {
		return err
	}
	logf("soak: first Secret written; churning for %v", o.soak)

	var ch churn
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); heartbeatLoop(loadCtx, cl, o.heartbeatRate, &ch) }()
	go func() { defer wg.Done(); addDeleteLoop(loadCtx, cl, o, &ch) }()

	metrics := "http://" + maddr + "/metrics"
	collectorMetrics := "http://" + caddr + "/metrics"
	began := time.Now()
	var samples []soakSample
	take := func() error {
		s := soakSample{At: time.Since(began), Heartbeats: ch.heartbeats.Load(), Added: ch.added.Load(), Deleted: ch.deleted.Load()}
		var err error
		if s.RSS, err = rssOf(p.pid()); err != nil {
			return err
		}
		if s.CPU, err = cpuOf(p.pid()); err != nil {
			return err
		}
		heap, err := scrape(ctx, metrics, "go_memstats_heap_inuse_bytes")
		if err != nil {
			return err
		}
		s.Heap = uint64(heap)
		g, err := scrape(ctx, metrics, "go_goroutines")
		if err != nil {
			return err
		}
		s.Goroutines = int(g)
		if s.Writes, err = scrape(ctx, metrics, "telemetry_manager_secret_writes_total"); err != nil {
			return err
		}
		if s.Stored, err = scrapeSeries(ctx, collectorMetrics, `telemetry_collector_reports_total{outcome="stored"}`); err != nil {
			return err
		}
		samples = append(samples, s)
		logf("soak: %v rss %.1f MiB heap %.1f MiB goroutines %d cpu %v writes %.0f stored %.0f heartbeats %d +%d -%d",
			s.At.Round(time.Second), mebi(s.RSS), mebi(s.Heap), s.Goroutines, s.CPU, s.Writes, s.Stored, s.Heartbeats, s.Added, s.Deleted)
		return nil
	}
	if err := take(); err != nil {
		stopLoad()
		wg.Wait()
		return err
	}
	tick := time.NewTicker(o.sample)
	end := time.After(o.soak)
	var soakErr error
loop:
	for {
		select {
		case <-ctx.Done():
			soakErr = ctx.Err()
			break loop
		case <-end:
			break loop
		case <-tick.C:
			if p.exited() {
				soakErr = fmt.Errorf("the manager exited during the soak (see %s)", logFile.Name())
				break loop
			}
			if err := take(); err != nil {
				soakErr = err
				break loop
			}
		}
	}
	tick.Stop()
	stopLoad()
	wg.Wait()
	if soakErr != nil {
		return soakErr
	}

	// The load has stopped: once the manager is quiet its payload must
	// count exactly the nodes the API server holds.
	if err := waitQuiet(ctx, p, "manager after the soak"); err != nil {
		return err
	}
	r := soakResult{Options: o, Samples: samples, Errors: ch.errors.Load()}
	if e, ok := ch.lastErr.Load().(error); ok {
		r.LastError = e.Error()
	}
	if r.APINodes, err = countNodes(ctx, cl); err != nil {
		return err
	}
	if r.PayloadNodes, err = payloadNodes(ctx, kube, o); err != nil {
		return err
	}
	if r.Rows, err = countRows(ctx, dbPath); err != nil {
		return err
	}
	r.print(os.Stdout)
	if !o.keep {
		_ = os.RemoveAll(dir)
	}
	return nil
}

// soakHTTPSecret holds the http exporter's signing key and token.
const soakHTTPSecret = "http-credentials"

// startSoakCollector writes the collector's keys, the manager's matching
// credentials Secret, and starts telemetry-collector on SQLite in dir.
func startSoakCollector(ctx context.Context, o options, kube kubernetes.Interface, dir string) (addr, db string, stop func(), err error) {
	const signingKey, token = "soak-signing-key-0123456789abcdef", "soak-token-0123456789"
	keys, tokens := filepath.Join(dir, "keys"), filepath.Join(dir, "tokens")
	for path, v := range map[string]string{keys: signingKey, tokens: token} {
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			return "", "", nil, err
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.secretNamespace}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", "", nil, err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.secretNamespace, Name: soakHTTPSecret},
		StringData: map[string]string{"token": token, "signingKey": signingKey},
	}
	if _, err := kube.CoreV1().Secrets(o.secretNamespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", "", nil, err
	}
	if addr, err = freeAddress(); err != nil {
		return "", "", nil, err
	}
	db = filepath.Join(dir, "collector.db")
	logFile, err := os.Create(filepath.Join(dir, "collector.log"))
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.Command(o.collector, "--listen", addr, "--database", "sqlite:"+db,
		"--signing-keys-file", keys, "--tokens-file", tokens,
		// One install sends every minute here, not once a day.
		"--rate", "100000", "--rate-burst", "1000")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := start(cmd)
	if err != nil {
		logFile.Close()
		return "", "", nil, fmt.Errorf("collector %s: %w", o.collector, err)
	}
	stop = func() { p.stop(); logFile.Close() }
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("the collector exited (see %s)", logFile.Name())
		}
		_, err := scrape(ctx, "http://"+addr+"/metrics", "telemetry_collector_reports_in_flight")
		return err == nil, nil
	})
	if err != nil {
		stop()
		return "", "", nil, fmt.Errorf("waiting for the collector: %w", err)
	}
	logf("soak: collector on %s, database %s", addr, db)
	return addr, db, stop, nil
}

// heartbeatLoop updates the status of every node, one after the other at
// rate per second, round after round, until ctx ends.
func heartbeatLoop(ctx context.Context, cl *loadgen.Client, rate int, ch *churn) {
	pace := time.NewTicker(time.Second / time.Duration(rate))
	defer pace.Stop()
	all := cl.Dynamic.Resource(loadgen.NodesResource)
	cont := ""
	for ctx.Err() == nil {
		l, err := all.List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
		if err != nil {
			if ctx.Err() == nil {
				ch.fail(fmt.Errorf("listing nodes: %w", err))
				cont = "" // an expired token: start the round again
				time.Sleep(time.Second)
			}
			continue
		}
		for i := range l.Items {
			select {
			case <-ctx.Done():
				return
			case <-pace.C:
			}
			err := cl.HeartbeatNode(ctx, &l.Items[i], time.Now())
			switch {
			case err == nil:
				ch.heartbeats.Add(1)
			case apierrors.IsNotFound(errors.Unwrap(err)), apierrors.IsNotFound(err):
				// Deleted by addDeleteLoop since the list.
			case ctx.Err() == nil:
				ch.fail(err)
			}
		}
		cont = l.GetContinue()
	}
}

// addDeleteLoop adds churnNodes new nodes at one churnEvery and deletes as
// many of the oldest at the next, so the count goes between what was
// loaded and churnNodes more, and every step changes the totals.
func addDeleteLoop(ctx context.Context, cl *loadgen.Client, o options, ch *churn) {
	t := time.NewTicker(o.churnEvery)
	defer t.Stop()
	shapes, _ := loadgen.ParseShapes(o.shapes) // validated by run
	next, oldest := o.nodes, 0
	for add := true; ; add = !add {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range o.churnNodes {
			var err error
			if add {
				if _, err = cl.AddNode(ctx, next, loadgen.ClusterOf(next, o.clusters), shapes); err == nil {
					next++
					ch.added.Add(1)
				}
			} else if err = cl.DeleteNode(ctx, oldest, loadgen.ClusterOf(oldest, o.clusters)); err == nil {
				oldest++
				ch.deleted.Add(1)
			}
			if err != nil && ctx.Err() == nil {
				ch.fail(err)
			}
		}
	}
}

// countNodes lists every v3 Node.
func countNodes(ctx context.Context, cl *loadgen.Client) (int64, error) {
	var n int64
	cont := ""
	for {
		l, err := cl.Dynamic.Resource(loadgen.NodesResource).List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
		if err != nil {
			return 0, fmt.Errorf("listing nodes: %w", err)
		}
		n += int64(len(l.Items))
		if cont = l.GetContinue(); cont == "" {
			return n, nil
		}
	}
}

// payloadNodes reads totals.nodes of the payload Secret.
func payloadNodes(ctx context.Context, kube kubernetes.Interface, o options) (int64, error) {
	s, err := kube.CoreV1().Secrets(o.secretNamespace).Get(ctx, o.secretName, metav1.GetOptions{})
	if err != nil {
		return 0, fmt.Errorf("reading Secret %s/%s: %w", o.secretNamespace, o.secretName, err)
	}
	var r report.Report
	if err := json.Unmarshal(s.Data["payload"], &r); err != nil {
		return 0, fmt.Errorf("Secret %s/%s key payload: %w", o.secretNamespace, o.secretName, err)
	}
	return r.Totals.Nodes, nil
}

// countRows counts the report rows of the collector's database, read
// directly rather than through the collector.
func countRows(ctx context.Context, path string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM reports`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the rows of %s: %w", path, err)
	}
	return n, nil
}

// soakResult is what the soak prints.
type soakResult struct {
	Options      options
	Samples      []soakSample
	Errors       int64
	LastError    string
	APINodes     int64
	PayloadNodes int64
	Rows         int64
}

// window returns the samples taken in [from, to).
func (r soakResult) window(from, to time.Duration) []soakSample {
	var w []soakSample
	for _, s := range r.Samples {
		if s.At >= from && s.At < to {
			w = append(w, s)
		}
	}
	return w
}

// median of f over samples.
func median(samples []soakSample, f func(soakSample) float64) float64 {
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return math.NaN()
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (r soakResult) print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "\nSoak: %v, %d nodes in %d clusters (%s), %d status updates/s, %d nodes added and deleted at alternate %v, http exporter every %v to telemetry-collector on SQLite\n\n",
		o.soak, o.nodes, o.clusters, o.shapes, o.heartbeatRate, o.churnNodes, o.churnEvery, o.httpInterval)
	fmt.Fprintln(w, "| time | RSS MiB | heap MiB | goroutines | CPU s | Secret writes | collector stored | status updates | added | deleted |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, s := range r.Samples {
		fmt.Fprintf(w, "| %v | %.1f | %.1f | %d | %.1f | %.0f | %.0f | %d | %d | %d |\n", s.At.Round(time.Second), mebi(s.RSS), mebi(s.Heap),
			s.Goroutines, s.CPU.Seconds(), s.Writes, s.Stored, s.Heartbeats, s.Added, s.Deleted)
	}

	// The baseline is the median of the first samples after the warm-up,
	// the end figure the median of as many last ones: 10 samples, or half
	// of those after the warm-up when there are fewer. The Go heap rises
	// and falls by a third between collections, and RSS with it, so a
	// shorter window measures where in that cycle the samples fell.
	after := r.window(o.warmup, math.MaxInt64)
	n := min(soakWindow, len(after)/2)
	base := after[:n]
	last := after[len(after)-n:]
	fmt.Fprintf(w, "\nGrowth after the warm-up (%v): median of the first %d samples from there, and of the last %d\n\n", o.warmup, n, n)
	fmt.Fprintln(w, "| figure | baseline | end | growth | target | |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	for _, g := range []struct {
		name string
		f    func(soakSample) float64
		unit string
	}{
		{"RSS", func(s soakSample) float64 { return mebi(s.RSS) }, " MiB"},
		{"Go heap in use", func(s soakSample) float64 { return mebi(s.Heap) }, " MiB"},
		{"goroutines", func(s soakSample) float64 { return float64(s.Goroutines) }, ""},
	} {
		b, e := median(base, g.f), median(last, g.f)
		growth := (e - b) / b
		verdict := "PASS"
		if !(growth <= growthTarget) {
			verdict = "MISS"
		}
		fmt.Fprintf(w, "| %s | %.1f%s | %.1f%s | %+.1f%% | ≤ %+.0f%% | %s |\n", g.name, b, g.unit, e, g.unit, 100*growth, 100*growthTarget, verdict)
	}

	first, end := r.Samples[0], r.Samples[len(r.Samples)-1]
	span := end.At - first.At
	cpu := end.CPU - first.CPU
	exact := "PASS"
	if r.PayloadNodes != r.APINodes {
		exact = "MISS"
	}
	fmt.Fprintf(w, "\nOver %v of load\n\n", span.Round(time.Second))
	fmt.Fprintln(w, "| figure | value |")
	fmt.Fprintln(w, "| --- | ---: |")
	fmt.Fprintf(w, "| node status updates | %d |\n", end.Heartbeats-first.Heartbeats)
	fmt.Fprintf(w, "| nodes added / deleted | %d / %d |\n", end.Added-first.Added, end.Deleted-first.Deleted)
	fmt.Fprintf(w, "| load errors | %d |\n", r.Errors)
	fmt.Fprintf(w, "| Secret writes | %.0f (%.1f per minute) |\n", end.Writes-first.Writes, (end.Writes-first.Writes)/span.Minutes())
	fmt.Fprintf(w, "| reports stored by the collector | %.0f |\n", end.Stored-first.Stored)
	fmt.Fprintf(w, "| rows in the collector's database at the end | %d |\n", r.Rows)
	fmt.Fprintf(w, "| manager CPU | %.1f s (%.1f%% of one core) |\n", cpu.Seconds(), 100*cpu.Seconds()/span.Seconds())
	fmt.Fprintf(w, "| payload nodes = API server nodes after the load | %d = %d %s |\n", r.PayloadNodes, r.APINodes, exact)
	if r.LastError != "" {
		fmt.Fprintf(w, "\nlast load error: %s\n", r.LastError)
	}
}
func mebi(b uint64) float64 { return float64(b) / (1 << 20) }
