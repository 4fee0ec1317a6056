// Command collectorbench measures telemetry-collector's intake: how many
// reports per second it stores, and at what latency, on SQLite and on
// PostgreSQL, beside a null collector (the same HTTP stack and checks with a
// store that keeps nothing) measured in the same run. It prints a table of
// figures and one of targets with PASS or MISS; a miss is reported, never
// asserted.
//
//	scripts/bench-collector [--duration 10s] [--senders 1,16,64] [--databases sqlite,postgres]
//
// Each collector runs in a process of its own: this binary re-executed as
// "collectorbench serve", which runs server.Run with the collector's own
// options and store.Open, as telemetry-collector's main does, or with the
// null store. The shipped binary so carries no test flag, and every row
// shares one process model. The senders run in the bench process, on the
// same machine.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rancher/telemetry-manager/tests/testenv"
)

// Database names of --databases.
const (
	dbSQLite   = "sqlite"
	dbPostgres = "postgres"
)

var (
	// ErrCollector is returned when a measured collector does not start or
	// stop as it should.
	ErrCollector = errors.New("collector process")
)

// options are the flags of the bench.
type options struct {
	Duration, Warmup time.Duration
	Senders          []int
	Databases        []string
	// Reports is how many distinct reports are prepared; every phase sends
	// from the start of the same list to a fresh database.
	Reports    int
	ProfileDir string
	Keep       bool
}

func newOptions() *options {
	return &options{
		Duration: 10 * time.Second, Warmup: time.Second,
		Senders: []int{1, 16, 64}, Databases: []string{dbSQLite, dbPostgres},
		Reports: 20000,
	}
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long each phase (database and sender count) sends")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "how long each phase sends before the timed part; not counted")
	fs.Func("senders", "comma-separated concurrent sender counts (default 1,16,64)", func(s string) error {
		var out []int
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("%q: not a number", f)
			}
			out = append(out, n)
		}
		o.Senders = out
		return nil
	})
	fs.Func("databases", "comma-separated databases: sqlite, postgres (default both)", func(s string) error {
		o.Databases = strings.Split(s, ",")
		return nil
	})
	fs.IntVar(&o.Reports, "reports", o.Reports, "distinct reports prepared before the first phase; a phase that sends them all is cut short")
	fs.StringVar(&o.ProfileDir, "cpuprofile-dir", o.ProfileDir, "write a CPU profile of each collector process to this directory (<database>-<senders>.pprof)")
	fs.BoolVar(&o.Keep, "keep", o.Keep, "keep the work directory (databases and collector logs)")
}

// validate reports every problem at once.
func (o *options) validate() error {
	var errs []error
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %s: must be positive", o.Duration))
	}
	if o.Warmup < 0 {
		errs = append(errs, fmt.Errorf("--warmup %s: must not be negative", o.Warmup))
	}
	if len(o.Senders) == 0 {
		errs = append(errs, errors.New("--senders: at least one count"))
	}
	for _, n := range o.Senders {
		if n < 1 || n > 1024 {
			errs = append(errs, fmt.Errorf("--senders %d: must be between 1 and 1024", n))
		}
	}
	for _, db := range o.Databases {
		if db != dbSQLite && db != dbPostgres {
			errs = append(errs, fmt.Errorf("--databases %q: must be %s or %s", db, dbSQLite, dbPostgres))
		}
	}
	if o.Reports < 1 || o.Reports > 1_000_000 {
		errs = append(errs, fmt.Errorf("--reports %d: must be between 1 and 1000000", o.Reports))
	}
	return errors.Join(errs...)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == serveCommand {
		os.Exit(serve(os.Args[2:], os.Stdout, os.Stderr))
	}
	o := newOptions()
	fs := flag.NewFlagSet("collectorbench", flag.ContinueOnError)
	o.addFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "invalid flags:\n%v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "collectorbench:", err)
		stop()
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o *options) (retErr error) {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	workDir, err := os.MkdirTemp("", "telemetry-bench-collector-")
	if err != nil {
		return err
	}
	defer func() {
		if o.Keep || retErr != nil {
			logf("work directory kept: %s", workDir)
			return
		}
		_ = os.RemoveAll(workDir)
	}()
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	key = []byte(hex.EncodeToString(key))
	keysFile := filepath.Join(workDir, "signing-keys")
	if err := os.WriteFile(keysFile, append(key, '\n'), 0o600); err != nil {
		return err
	}

	began := time.Now()
	bodies, err := buildBodies(o.Reports, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	logf("prepared %d distinct reports in %s", len(bodies), time.Since(began).Round(time.Millisecond))

	var pg *testenv.Postgres
	if slices.Contains(o.Databases, dbPostgres) {
		startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute) // covers a package install
		pg, err = testenv.StartPostgres(startCtx, testenv.PostgresOptions{Logf: logf, KeepDir: o.Keep})
		cancel()
		if err != nil {
			return err
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				logf("stopping postgres: %v", err)
			}
		}()
	}

	r := &results{Databases: o.Databases, Senders: o.Senders, Header: header(o, bodies)}
	// For each sender count the null collector and the databases run one
	// after the other, so that the figures set side by side are measured
	// close in time on this shared machine.
	for _, n := range o.Senders {
		for _, db := range append([]string{nullName}, o.Databases...) {
			spec, err := databaseSpec(ctx, db, n, workDir, pg)
			if err != nil {
				return err
			}
			c := collector{self: self, keysFile: keysFile, workDir: workDir, db: db, spec: spec, senders: n}
			if o.ProfileDir != "" {
				c.profile = filepath.Join(o.ProfileDir, fmt.Sprintf("%s-%d.pprof", db, n))
			}
			f, err := c.measure(ctx, bodies, key, o)
			if err != nil {
				return fmt.Errorf("%s, %d senders: %w", db, n, err)
			}
			logf("%-8s %3d senders: %6.0f reports/s, p50 %s, p99 %s, errors %s", db, n, f.Rate, ms(f.P50), ms(f.P99), errorCell(f))
			r.set(db, n, f)
		}
	}
	r.print(os.Stdout)
	return nil
}

// header describes the run.
func header(o *options, bodies []body) string {
	minJ, maxJ, minZ, maxZ := bodies[0].jsonBytes, bodies[0].jsonBytes, len(bodies[0].gz), len(bodies[0].gz)
	for _, b := range bodies {
		minJ, maxJ = min(minJ, b.jsonBytes), max(maxJ, b.jsonBytes)
		minZ, maxZ = min(minZ, len(b.gz)), max(maxZ, len(b.gz))
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("Collector intake: signed gzip reports of %d clusters / %d nodes, %.1f–%.1f KiB JSON (%.1f–%.1f KiB sent), "+
		"each from its own install; %s per phase after %s of warm-up, a fresh database per phase.\n"+
		"Each collector is its own process (server.Run); the senders share the machine: %s/%s, %d CPUs, %s, load average %s at start.",
		benchClusters, benchNodes, kibF(minJ), kibF(maxJ), kibF(minZ), kibF(maxZ),
		o.Duration, o.Warmup, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), load)
}

func kibF(n int) float64 { return float64(n) / 1024 }

// databaseSpec returns the --database of a phase: a new SQLite file, a new
// PostgreSQL database, or for the null collector a placeholder it never
// opens.
func databaseSpec(ctx context.Context, db string, senders int, workDir string, pg *testenv.Postgres) (string, error) {
	switch db {
	case nullName:
		return "sqlite:" + filepath.Join(workDir, "null-store-opens-nothing.db"), nil
	case dbSQLite:
		return "sqlite:" + filepath.Join(workDir, fmt.Sprintf("sqlite-%d.db", senders)), nil
	}
	name := fmt.Sprintf("bench_%d", senders)
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("connecting to postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return pg.URL(name), nil
}

// collector is one measured collector process.
type collector struct {
	self, keysFile, workDir string
	db, spec                string
	senders                 int
	profile                 string
}

// measure starts the collector, runs the warm-up and the timed phase
// against it, and stops it.
func (c collector) measure(ctx context.Context, bodies []body, key []byte, o *options) (figures, error) {
	logPath := filepath.Join(c.workDir, fmt.Sprintf("%s-%d.log", c.db, c.senders))
	logFile, err := os.Create(logPath)
	if err != nil {
		return figures{}, err
	}
	defer logFile.Close()
	args := []string{serveCommand, "--database", c.spec, "--signing-keys-file", c.keysFile,
		"--rate", "1e6", "--rate-burst", "1000", "--log-level", "info"}
	if c.db == nullName {
		args = append(args, "--null-store")
	}
	if c.profile != "" {
		args = append(args, "--cpuprofile", c.profile)
	}
	cmd := exec.Command(c.self, args...)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return figures{}, err
	}
	if err := cmd.Start(); err != nil {
		return figures{}, fmt.Errorf("%w: %w", ErrCollector, err)
	}
	exited := make(chan error, 1)
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), listenPrefix); ok {
				addrs <- a
			}
		}
		exited <- cmd.Wait()
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("%w: exited with %w; log %s", ErrCollector, err, logPath)
			}
			return nil
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%w: did not stop within a minute of SIGTERM; log %s", ErrCollector, logPath)
		}
	}
	defer stop()

	var addr string
	select {
	case addr = <-addrs:
	case err := <-exited:
		stopped = true
		return figures{}, fmt.Errorf("%w: exited before listening (%v); log %s", ErrCollector, err, logPath)
	case <-time.After(time.Minute):
		return figures{}, fmt.Errorf("%w: not listening after a minute; log %s", ErrCollector, logPath)
	case <-ctx.Done():
		return figures{}, ctx.Err()
	}
	client := newClient(c.senders)
	defer client.CloseIdleConnections()
	if err := waitReady(ctx, client, addr); err != nil {
		return figures{}, fmt.Errorf("%w: %w; log %s", ErrCollector, err, logPath)
	}

	p := &pool{bodies: bodies}
	sign(bodies, time.Now(), key)
	url := phaseURL(addr)
	if o.Warmup > 0 {
		send(ctx, client, url, p, c.senders, o.Warmup)
	}
	l := send(ctx, client, url, p, c.senders, o.Duration)
	if err := ctx.Err(); err != nil {
		return figures{}, err
	}
	if err := stop(); err != nil {
		return figures{}, err
	}
	return summarize(l), nil
}

// waitReady polls /readyz until it answers 200.
func waitReady(ctx context.Context, client *http.Client, addr string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not 200 after a minute (last: %v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
