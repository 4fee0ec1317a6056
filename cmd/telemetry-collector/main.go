// Command telemetry-collector receives the reports of telemetry-manager's
// http exporter, keeps them in SQLite or PostgreSQL, and serves a summary,
// the install list, the history, metrics and a page with charts.
//
//	telemetry-collector --signing-keys-file keys.txt [--database sqlite:telemetry-collector.db]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/rancher/telemetry-manager/pkg/cli"
	"github.com/rancher/telemetry-manager/pkg/collector/server"
	"github.com/rancher/telemetry-manager/pkg/version"
)

func main() {
	os.Exit(mainWith(openStore))
}

// mainWith runs the command with the given store opener until SIGTERM or
// SIGINT and returns its exit status.
func mainWith(open server.OpenFunc) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stderr, open)
}

// run parses and validates every flag before anything starts. Exit codes:
// 0 success (a signal included), 1 failure, 2 bad usage.
func run(ctx context.Context, args []string, stderr io.Writer, open server.OpenFunc) int {
	o := server.NewOptions()
	fs := pflag.NewFlagSet("telemetry-collector", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	if !fs.Changed("database") {
		o.DatabaseFromEnv(os.LookupEnv)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		return 2
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "invalid flags:\n%v\n", err)
		return 2
	}
	log := cli.NewLogger(o.LogLevel, o.LogFormat, stderr)
	log.WithField("version", version.Version).WithField("commit", version.GitCommit).Info("starting telemetry-collector")
	if err := server.Run(ctx, o, open, log); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}
