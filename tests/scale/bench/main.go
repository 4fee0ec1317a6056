// Command bench is the scale bench: it starts the test API server, loads it
// with Rancher-shaped objects (tests/scale/loadgen), then runs the plain
// informer baseline (tests/scale/plaininformer) and the telemetry-manager in
// turn, each in its own process, and prints each figure beside the
// baseline's and the target, with PASS or MISS. It never fails on a miss:
// the figures are reported, not asserted.
//
//	scripts/bench-scale [--nodes 20000] [--clusters 200] [--shapes uniform|distinct] [--keep]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/rancher/telemetry-manager/tests/scale/loadgen"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// ErrBaseline is returned when the baseline process does not behave as
// plaininformer does.
var ErrBaseline = errors.New("baseline process")

// options are the flags of the bench.
type options struct {
	nodes, clusters, workers int
	shapes                   string
	keep                     bool
	manager, baseline        string
	secretNamespace          string
	secretName               string
	soakOptions
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 20000, "v3 Nodes to load")
	flag.IntVar(&o.clusters, "clusters", 200, "v3 Clusters the nodes are spread over")
	flag.StringVar(&o.shapes, "shapes", string(loadgen.Uniform), "node shapes: uniform or distinct")
	flag.IntVar(&o.workers, "workers", loadgen.DefaultWorkers, "load generator requests in flight")
	flag.BoolVar(&o.keep, "keep", false, "leave the API server running (and its directory) after the bench")
	flag.StringVar(&o.manager, "manager", "bin/telemetry-manager", "telemetry-manager binary")
	flag.StringVar(&o.baseline, "baseline", "", "plaininformer binary (required)")
	flag.StringVar(&o.secretNamespace, "secret-namespace", "cattle-telemetry-system", "namespace of the payload Secret")
	flag.StringVar(&o.secretName, "secret-name", "telemetry", "name of the payload Secret")
	o.soakOptions.addFlags()
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o options) error {
	shapes, err := loadgen.ParseShapes(o.shapes)
	if err != nil {
		return err
	}
	cfg := loadgen.Config{Clusters: o.clusters, Nodes: o.nodes, Shapes: shapes, Workers: o.workers, Progress: logf}
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	files := map[string]string{"--manager": o.manager, "--baseline": o.baseline}
	if o.soak > 0 {
		files = map[string]string{"--manager": o.manager, "--collector": o.collector}
		errs = append(errs, o.validateSoak())
	}
	for flagName, p := range files {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			errs = append(errs, fmt.Errorf("%s %q: not a file", flagName, p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	env, cl, workDir, cleanup, err := startLoaded(ctx, o, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	if o.soak > 0 {
		return runSoak(ctx, o, env, cl, workDir)
	}

	r := results{Nodes: o.nodes, Clusters: o.clusters, Shapes: o.shapes}
	if err := measureBaseline(ctx, o, env, cl, workDir, &r); err != nil {
		return err
	}
	if err := measureManager(ctx, o, env, cl, workDir, &r); err != nil {
		return err
	}
	r.print(os.Stdout)
	if !o.keep {
		// The logs are kept only when something failed, or on --keep.
		_ = os.RemoveAll(workDir)
	}
	return nil
}

// startLoaded starts the test API server, loads it with cfg and makes a
// directory for the logs of the measured processes. cleanup stops the API
// server unless --keep.
func startLoaded(ctx context.Context, o options, cfg loadgen.Config) (*testenv.Env, *loadgen.Client, string, func(), error) {
	crds, err := testenv.RancherCRDs()
	if err != nil {
		return nil, nil, "", nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	env, err := testenv.Start(startCtx, testenv.Options{CRDs: crds, KeepDir: o.keep, Logf: logf})
	cancel()
	if err != nil {
		return nil, nil, "", nil, err
	}
	cleanup := func() {
		if o.keep {
			logf("API server left running; kubeconfig %s", env.KubeconfigPath)
			return
		}
		env.Stop()
	}
	workDir, err := os.MkdirTemp("", "telemetry-bench-")
	if err != nil {
		cleanup()
		return nil, nil, "", nil, err
	}
	logf("logs of the measured processes in %s", workDir)
	cl, err := loadgen.NewClient(env.Config)
	if err == nil {
		err = cl.Load(ctx, cfg)
	}
	if err != nil {
		cleanup()
		return nil, nil, "", nil, err
	}
	return env, cl, workDir, cleanup, nil
}

// process is a measured child process.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits; SIGKILL after 30 s.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Quiet detection: a process is quiet once it spent at most quietTicks of
// CPU over quietWindow, sampled every quietSample; waitQuiet gives up after
// quietBound.
const (
	quietSample = 500 * time.Millisecond
	quietWindow = 3 * time.Second
	quietCPU    = 50 * time.Millisecond
	quietBound  = 5 * time.Minute
)

// waitQuiet waits until process p has stopped spending CPU: the work a
// burst of events caused is then done. It returns an error when p exits or
// the bound passes.
func waitQuiet(ctx context.Context, p *process, what string) error {
	began := time.Now()
	var samples []time.Duration
	n := int(quietWindow / quietSample)
	return wait.PollUntilContextTimeout(ctx, quietSample, quietBound, true, func(context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s: process exited", what)
		}
		c, err := cpuOf(p.pid())
		if err != nil {
			return false, err
		}
		samples = append(samples, c)
		if len(samples) <= n {
			return false, nil
		}
		samples = samples[len(samples)-n-1:]
		if samples[n]-samples[0] <= quietCPU {
			logf("%s: quiet after %v", what, time.Since(began).Round(time.Millisecond))
			return true, nil
		}
		return false, nil
	})
}

// measureBaseline runs the plain informer: time to synced caches, memory
// with the nodes cached, CPU for one heartbeat of every node.
func measureBaseline(ctx context.Context, o options, env *testenv.Env, cl *loadgen.Client, dir string, r *results) error {
	logf("baseline: starting %s", o.baseline)
	cmd := exec.Command(o.baseline, "--kubeconfig", env.KubeconfigPath)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "baseline.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	began := time.Now()
	p, err := start(cmd)
	if err != nil {
		return fmt.Errorf("baseline %s: %w", o.baseline, err)
	}
	defer p.stop()
	out := bufio.NewScanner(stdout)
	out.Buffer(make([]byte, 64*1024), 1024*1024)
	if !out.Scan() {
		return fmt.Errorf("baseline exited before it synced (see %s): %w", logFile.Name(), ErrBaseline)
	}
	r.Synced = time.Since(began)
	if !strings.HasPrefix(out.Text(), "synced ") {
		return fmt.Errorf("first line %q, want \"synced SECONDS\": %w", out.Text(), ErrBaseline)
	}
	logf("baseline: synced after %v", r.Synced.Round(time.Millisecond))
	stats := func() (baselineStats, error) {
		var s baselineStats
		if _, err := io.WriteString(stdin, "stats\n"); err != nil {
			return s, fmt.Errorf("asking for stats: %w", err)
		}
		if !out.Scan() {
			return s, fmt.Errorf("no stats line: %w", ErrBaseline)
		}
		if err := json.Unmarshal(out.Bytes(), &s); err != nil {
			return s, fmt.Errorf("stats line %q: %w", out.Text(), err)
		}
		return s, nil
	}
	if err := waitQuiet(ctx, p, "baseline after sync"); err != nil {
		return err
	}
	s, err := stats()
	if err != nil {
		return err
	}
	if s.Nodes != o.nodes {
		return fmt.Errorf("baseline caches %d nodes, want %d: %w", s.Nodes, o.nodes, ErrBaseline)
	}
	r.BaselineHeap = s.HeapInuseBytes
	if r.BaselineRSS, err = rssOf(p.pid()); err != nil {
		return err
	}

	cpu0, err := cpuOf(p.pid())
	if err != nil {
		return err
	}
	updates0 := s.NodeUpdates
	n, err := cl.Heartbeats(ctx, o.workers, time.Now(), logf)
	if err != nil {
		return err
	}
	r.Updates = n
	// Wait until the informer has seen every update, then until it is idle.
	err = wait.PollUntilContextTimeout(ctx, quietSample, quietBound, true, func(context.Context) (bool, error) {
		s, err := stats()
		if err != nil {
			return false, err
		}
		return s.NodeUpdates-updates0 >= int64(n), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the baseline to see %d updates: %w", n, err)
	}
	if err := waitQuiet(ctx, p, "baseline after updates"); err != nil {
		return err
	}
	cpu1, err := cpuOf(p.pid())
	if err != nil {
		return err
	}
	r.BaselineCPU = cpu1 - cpu0
	logf("baseline: %v CPU for %d updates", r.BaselineCPU, n)
	return nil
}

// baselineStats is what plaininformer answers to "stats".
type baselineStats struct {
	Nodes          int    `json:"nodes"`
	NodeUpdates    int64  `json:"nodeUpdates"`
	HeapInuseBytes uint64 `json:"heapInuseBytes"`
}

// measureManager runs telemetry-manager: time to the first Secret, memory
// with the nodes cached, CPU and exporter runs for one heartbeat of every
// node, payload sizes and Secret writes.
func measureManager(ctx context.Context, o options, env *testenv.Env, cl *loadgen.Client, dir string, r *results) error {
	addr, err := freeAddress()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(o.manager, "run", "--kubeconfig", env.KubeconfigPath, "--mode", "rancher",
		"--secret-namespace", o.secretNamespace, "--secret-name", o.secretName, "--metrics-address", addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	kube, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	logf("manager: starting %s", strings.Join(cmd.Args, " "))
	began := time.Now()
	p, err := start(cmd)
	if err != nil {
		return fmt.Errorf("manager %s: %w", o.manager, err)
	}
	defer p.stop()
	if err := waitSecret(ctx, kube, o, p, logFile.Name()); err != nil {
		return err
	}
	r.FirstSecret = time.Since(began)
	logf("manager: first Secret after %v", r.FirstSecret.Round(time.Millisecond))

	metrics := "http://" + addr + "/metrics"
	if err := waitQuiet(ctx, p, "manager after first Secret"); err != nil {
		return err
	}
	if r.ManagerRSS, err = rssOf(p.pid()); err != nil {
		return err
	}
	heap, err := scrape(ctx, metrics, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return err
	}
	r.ManagerHeap = uint64(heap)

	runs0, err := scrape(ctx, metrics, "telemetry_manager_exporter_runs_total")
	if err != nil {
		return err
	}
	cpu0, err := cpuOf(p.pid())
	if err != nil {
		return err
	}
	n, err := cl.Heartbeats(ctx, o.workers, time.Now(), logf)
	if err != nil {
		return err
	}
	if n != r.Updates {
		logf("manager: %d updates, the baseline had %d", n, r.Updates)
	}
	if err := waitQuiet(ctx, p, "manager after updates"); err != nil {
		return err
	}
	cpu1, err := cpuOf(p.pid())
	if err != nil {
		return err
	}
	r.ManagerCPU = cpu1 - cpu0
	runs1, err := scrape(ctx, metrics, "telemetry_manager_exporter_runs_total")
	if err != nil {
		return err
	}
	r.RunsCaused = runs1 - runs0
	logf("manager: %v CPU and %.0f exporter runs for %d updates", r.ManagerCPU, r.RunsCaused, n)

	s, err := kube.CoreV1().Secrets(o.secretNamespace).Get(ctx, o.secretName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading Secret %s/%s: %w", o.secretNamespace, o.secretName, err)
	}
	r.ReportBytes = len(s.Data["payload"])
	if r.SecretWrites, err = scrape(ctx, metrics, "telemetry_manager_secret_writes_total"); err != nil {
		return err
	}

	var scc bytes.Buffer
	pay := exec.CommandContext(ctx, o.manager, "payload", "--format", "scc", "--kubeconfig", env.KubeconfigPath,
		"--mode", "rancher", "--secret-namespace", o.secretNamespace)
	pay.Stdout, pay.Stderr = &scc, logFile
	if err := pay.Run(); err != nil {
		return fmt.Errorf("telemetry-manager payload --format scc (see %s): %w", logFile.Name(), err)
	}
	r.SCCBytes = len(bytes.TrimSpace(scc.Bytes()))
	return nil
}

// waitSecret waits until the manager p has written the payload Secret.
func waitSecret(ctx context.Context, kube kubernetes.Interface, o options, p *process, logName string) error {
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, quietBound, true, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("manager exited (see %s)", logName)
		}
		_, err := kube.CoreV1().Secrets(o.secretNamespace).Get(ctx, o.secretName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("waiting for Secret %s/%s: %w", o.secretNamespace, o.secretName, err)
	}
	return nil
}

// scrape returns the sum of metric name at url.
func scrape(ctx context.Context, url, name string) (float64, error) {
	return scrapeWith(ctx, url, func(r io.Reader) (float64, error) { return sumMetric(r, name) })
}

// scrapeSeries returns the value of one series at url, e.g.
// `name{label="value"}`, or 0 when it is not exposed yet.
func scrapeSeries(ctx context.Context, url, series string) (float64, error) {
	return scrapeWith(ctx, url, func(r io.Reader) (float64, error) { return seriesValue(r, series) })
}

func scrapeWith(ctx context.Context, url string, read func(io.Reader) (float64, error)) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scraping %s: status %s", url, resp.Status)
	}
	return read(resp.Body)
}

// freeAddress returns a loopback host:port that was free a moment ago.
func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
