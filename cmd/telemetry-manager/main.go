// Command telemetry-manager keeps an exact, private and auditable picture of
// what a Kubernetes management server manages.
//
//	telemetry-manager run       the controller
//	telemetry-manager payload   print the payload that would be exported
//	telemetry-manager audit     read and verify the telemetry Secret
//	telemetry-manager scc status  print the SCC registration's state
//	telemetry-manager version   print version and commit
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
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/rancher/telemetry-manager/pkg/cli"
	"github.com/rancher/telemetry-manager/pkg/controller"
	"github.com/rancher/telemetry-manager/pkg/secretrequest"
	"github.com/rancher/telemetry-manager/pkg/sources"
	"github.com/rancher/telemetry-manager/pkg/version"
)

const usage = `usage: telemetry-manager <command> [flags]

commands:
  run       run the controller
  payload   print the payload that would be exported
  audit     read the telemetry Secret and verify it
  scc status  print the state of the SCC registration (-o json)
  version   print version and commit

'telemetry-manager <command> --help' lists the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1], os.Args[2:], os.Stderr))
}

// dispatch runs one command and returns its exit status; usage and flag
// errors go to stderr.
func dispatch(ctx context.Context, cmd string, args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("telemetry-manager "+cmd, pflag.ContinueOnError)
	switch cmd {
	case "run":
		o := controller.NewOptions()
		o.AddFlags(fs)
		return execute(fs, args, stderr, o.Validate, func() error {
			log := cli.NewLogger(o.LogLevel, o.LogFormat, os.Stderr)
			log.WithField("version", version.Version).WithField("commit", version.GitCommit).Info("starting telemetry-manager")
			logToLogrus(log)
			if o.DisableTelemetry {
				return controller.Run(ctx, nil, o, log)
			}
			cfg, err := sources.RestConfig(o.Kubeconfig)
			if err != nil {
				return err
			}
			return controller.Run(ctx, cfg, o, log, plugins(o)...)
		})
	case "payload":
		o := cli.NewPayloadOptions()
		o.AddFlags(fs)
		return execute(fs, args, stderr, o.Validate, func() error {
			log := cli.NewLogger(o.LogLevel, o.LogFormat, os.Stderr)
			return cli.Payload(ctx, o, os.Stdout, os.Stderr, log)
		})
	case "audit":
		o := cli.NewAuditOptions()
		o.AddFlags(fs)
		return execute(fs, args, stderr, o.Validate, func() error {
			core, err := coreClient(o.Kubeconfig)
			if err != nil {
				return err
			}
			return cli.Audit(ctx, core, o, os.Stdout)
		})
	case "scc":
		if len(args) == 0 || args[0] != "status" {
			fmt.Fprintf(stderr, "usage: telemetry-manager scc status [-o json] [flags]\n")
			return 2
		}
		args = args[1:]
		fs = pflag.NewFlagSet("telemetry-manager scc status", pflag.ContinueOnError)
		o := cli.NewSCCStatusOptions()
		o.AddFlags(fs)
		return execute(fs, args, stderr, o.Validate, func() error {
			core, err := coreClient(o.Kubeconfig)
			if err != nil {
				return err
			}
			return cli.SCCStatus(ctx, core, o, os.Stdout)
		})
	case "version", "--version":
		fmt.Printf("telemetry-manager %s (commit %s)\n", version.Version, version.GitCommit)
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
	return 2
}

// execute parses flags, validates all of them before anything starts, and
// runs. Exit codes: 0 success, 1 failure, 2 bad usage; an error that is a
// *cli.StatusError gives its own.
func execute(fs *pflag.FlagSet, args []string, stderr io.Writer, validate func() error, do func() error) int {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		return 2
	}
	if err := validate(); err != nil {
		fmt.Fprintf(stderr, "invalid flags:\n%v\n", err)
		return 2
	}
	if err := do(); err != nil {
		// payload --diff ends like diff(1): 1 when the payloads differ
		// (already printed), 2 on trouble.
		status := 1
		var se *cli.StatusError
		if errors.As(err, &se) {
			status = se.Status
		}
		if !errors.Is(err, cli.ErrDiffer) {
			fmt.Fprintf(stderr, "error: %v\n", err)
		}
		return status
	}
	return 0
}

// plugins returns the controllers that run beside the exporters: the
// SecretRequest controller unless --secret-requests=false.
func plugins(o *controller.Options) []controller.Plugin {
	if p := secretrequest.ForOptions(o); p != nil {
		return []controller.Plugin{p}
	}
	return nil
}

// coreClient returns the core/v1 client of the cluster sources.RestConfig
// finds for kubeconfig, for the commands that only read Secrets and
// ConfigMaps.
func coreClient(kubeconfig string) (typedcorev1.CoreV1Interface, error) {
	cfg, err := sources.RestConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return kube.CoreV1(), nil
}
