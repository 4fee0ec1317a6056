package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/gatherer"
	"github.com/rancher/telemetry-manager/pkg/run"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/version"
)

// PayloadOptions configure the payload command.
type PayloadOptions struct {
	run.Options
	Format   string
	FromFile string
	Timeout  time.Duration
}

// NewPayloadOptions returns the defaults.
func NewPayloadOptions() *PayloadOptions {
	return &PayloadOptions{Options: *run.NewOptions(), Format: "report", Timeout: time.Minute}
}

// AddFlags registers the payload flags.
func (o *PayloadOptions) AddFlags(fs *pflag.FlagSet) {
	o.AddConnectionFlags(fs)
	o.AddLogFlags(fs)
	fs.StringVar(&o.Format, "format", o.Format, "payload format: report or scc")
	fs.StringVar(&o.FromFile, "from-file", o.FromFile, "read objects from this file (kubectl get -o yaml output) instead of a cluster")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to wait for the caches of a live cluster")
}

// Validate reports every problem at once.
func (o *PayloadOptions) Validate() error {
	errs := []error{o.ValidateConnection()}
	if _, err := encoding.ByFormat(o.Format, []byte("k")); err != nil {
		errs = append(errs, fmt.Errorf("--format: %w", err))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be positive", o.Timeout))
	}
	return errors.Join(errs...)
}

// Payload prints the payload that would be exported. From a file, cluster ids
// are made with a key that lives only for this run, so they differ from the
// exported ones; from a live cluster the install's own key is used when its
// identity Secret exists.
func Payload(ctx context.Context, o *PayloadOptions, out, errOut io.Writer, log *logrus.Entry) error {
	var (
		snap *snapshot.Snapshot
		key  []byte
		err  error
	)
	if o.FromFile != "" {
		snap, key, err = payloadFromFile(o)
	} else {
		snap, key, err = payloadFromCluster(ctx, o, errOut, log)
	}
	if err != nil {
		return err
	}
	enc, err := encoding.ByFormat(o.Format, key)
	if err != nil {
		return err
	}
	b, err := enc.Encode(snap, time.Now())
	if err != nil {
		return fmt.Errorf("encoding %s payload: %w", o.Format, err)
	}
	_, err = out.Write(b)
	return err
}

func payloadFromFile(o *PayloadOptions) (*snapshot.Snapshot, []byte, error) {
	static, err := LoadFile(o.FromFile)
	if err != nil {
		return nil, nil, err
	}
	mode := snapshot.ModeRancher
	clusters, _, coreNodes := static.Counts()
	switch {
	case o.Mode == run.ModeKubernetes:
		mode = snapshot.ModeKubernetes
	case o.Mode == run.ModeAuto && clusters == 0 && coreNodes > 0:
		mode = snapshot.ModeKubernetes
	}
	id := run.EphemeralIdentity()
	install := snapshot.Install{Version: version.Version, GitCommit: version.GitCommit}
	if mode == snapshot.ModeKubernetes {
		install.InstallUUID = id.InstallUUID
	}
	cfg := static.Config(mode, install)
	cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	g, err := gatherer.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	snap, err := g.Snapshot()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.FromFile, err)
	}
	return snap, id.Key, nil
}

func payloadFromCluster(ctx context.Context, o *PayloadOptions, errOut io.Writer, log *logrus.Entry) (*snapshot.Snapshot, []byte, error) {
	cfg, err := run.RestConfig(o.Kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	src, err := run.Connect(ctx, cfg, run.SourceOptions{Mode: o.Mode, Namespace: o.SecretNamespace, IdentityName: o.IdentityName, Log: log})
	if err != nil {
		return nil, nil, err
	}
	if src.Ephemeral {
		fmt.Fprintf(errOut, "note: identity secret %s/%s not found: cluster ids use a one-off key and differ from exported ones\n", o.SecretNamespace, o.IdentityName)
	}
	if err := src.Start(ctx); err != nil {
		return nil, nil, err
	}
	if err := src.WaitForSync(ctx); err != nil {
		return nil, nil, err
	}
	snap, err := src.Gatherer.Snapshot()
	if err != nil {
		return nil, nil, err
	}
	return snap, src.Identity.Key, nil
}
