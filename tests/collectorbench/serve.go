package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/rancher/telemetry-manager/pkg/cli"
	"github.com/rancher/telemetry-manager/pkg/collector/server"
	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// serveCommand is the first argument that makes the bench binary a
// collector: the process the bench measures.
const serveCommand = "serve"

// listenPrefix starts the line a serving collector writes on its stdout:
// the address it listens on.
const listenPrefix = "listening "

// nullStore is a store that keeps nothing: the collector's HTTP stack and
// every check of a report, with a store that costs nothing. Insert returns
// a fresh id, so every report is answered 202 as a stored one is.
type nullStore struct{ ids atomic.Int64 }

var _ store.Store = (*nullStore)(nil)

func (s *nullStore) Insert(ctx context.Context, _ store.Report) (store.Result, error) {
	if err := ctx.Err(); err != nil {
		return store.Result{}, err
	}
	return store.Result{ID: strconv.FormatInt(s.ids.Add(1), 10)}, nil
}

func (*nullStore) Latest(context.Context, time.Time) ([]store.Report, error) { return nil, nil }

func (*nullStore) History(context.Context, time.Time, int) ([]store.Day, error) { return nil, nil }

func (*nullStore) Prune(context.Context, time.Time) (int64, error) { return 0, nil }

func (*nullStore) Ping(context.Context) error { return nil }

func (*nullStore) Close() error { return nil }

// openNull opens a nullStore whatever the spec.
func openNull(context.Context, string) (store.Store, error) { return &nullStore{}, nil }

// openStore opens a real store as telemetry-collector does: store.Open with
// the default options.
func openStore(log *logrus.Entry) server.OpenFunc {
	return func(ctx context.Context, spec string) (store.Store, error) {
		return store.Open(ctx, spec, store.NewOptions(), log.WithField("component", "store"))
	}
}

// serve runs a collector through server.Run, as telemetry-collector's main
// does, with the collector's own flags plus --null-store and --cpuprofile.
// It writes "listening <address>" on stdout once it listens, and serves
// until SIGTERM.
func serve(args []string, stdout, stderr io.Writer) int {
	o := server.NewOptions()
	o.Listen = "127.0.0.1:0"
	fs := pflag.NewFlagSet(serveCommand, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	o.AddFlags(fs)
	null := fs.Bool("null-store", false, "keep nothing: a store whose Insert does no work (--database is then not opened)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "invalid flags:\n%v\n", err)
		return 2
	}
	log := cli.NewLogger(o.LogLevel, o.LogFormat, stderr)
	log.Logger.AddHook(listenHook{out: stdout})
	open := openStore(log)
	if *null {
		open = openNull
	}
	if *profile != "" {
		stop, err := startProfile(*profile)
		if err != nil {
			fmt.Fprintf(stderr, "--cpuprofile: %v\n", err)
			return 1
		}
		defer stop()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, o, open, log); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// listenHook writes the address of the first log entry that carries a
// "listen" field (server.Run logs one once it listens) to out.
type listenHook struct{ out io.Writer }

func (listenHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h listenHook) Fire(e *logrus.Entry) error {
	if addr, ok := e.Data["listen"].(string); ok {
		_, err := fmt.Fprintln(h.out, listenPrefix+addr)
		return err
	}
	return nil
}
