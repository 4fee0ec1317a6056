package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/encoding"
	"github.com/rancher/telemetry-manager/pkg/events"
	"github.com/rancher/telemetry-manager/pkg/extensions"
	"github.com/rancher/telemetry-manager/pkg/gatherer"
	"github.com/rancher/telemetry-manager/pkg/options"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
	"github.com/rancher/telemetry-manager/pkg/sources"
	"github.com/rancher/telemetry-manager/pkg/version"
)

// PayloadOptions configure the payload command.
type PayloadOptions struct {
	options.Connection
	options.Logging
	Format   string
	FromFile string
	// IdentityFile holds the identity Secret to key cluster ids with when
	// reading FromFile.
	IdentityFile string
	// ExtensionsFile holds the operator's extensions to report with
	// FromFile: the JSON of the extensions ConfigMap's extensions.json.
	ExtensionsFile string
	MaxInputBytes  int64
	Timeout        time.Duration
	// Explain prints each field of the payload with its meaning instead of
	// the payload.
	Explain bool
	// Diff names a payload file to compare the payload with; the
	// differences are printed instead of the payload.
	Diff string
	// EventsFlushInterval is the loss window the report states, as the
	// manager's --events-flush-interval says it; the payload command
	// reads no events (they live in the manager), so it carries none.
	EventsFlushInterval time.Duration

	// Stdin is read for --from-file -; nil means os.Stdin.
	Stdin io.Reader
	// Clock stamps the payload.
	Clock clock.PassiveClock
}

// NewPayloadOptions returns the defaults.
func NewPayloadOptions() *PayloadOptions {
	return &PayloadOptions{
		Connection:          options.NewConnection(),
		Logging:             options.NewLogging(),
		Format:              "report",
		MaxInputBytes:       DefaultMaxInputBytes,
		Timeout:             time.Minute,
		EventsFlushInterval: events.DefaultFlushInterval,
		Clock:               clock.RealClock{},
	}
}

// AddFlags registers the payload flags.
func (o *PayloadOptions) AddFlags(fs *pflag.FlagSet) {
	o.Connection.AddFlags(fs)
	o.Connection.AddModeFlag(fs)
	o.Logging.AddFlags(fs)
	fs.StringVar(&o.Format, "format", o.Format, "payload format: report or scc")
	fs.StringVar(&o.FromFile, "from-file", o.FromFile, "read objects from this file (kubectl get -o yaml or -o json output; - for standard input) instead of a cluster")
	fs.StringVar(&o.IdentityFile, "identity-file", o.IdentityFile, "with --from-file: a file holding the identity Secret (kubectl get secret -o yaml output)")
	fs.StringVar(&o.ExtensionsFile, "extensions-file", o.ExtensionsFile, "with --from-file: a file holding the extensions to report, a JSON object of key to value as in the extensions ConfigMap's key "+extensions.Key)
	fs.Int64Var(&o.MaxInputBytes, "max-input-bytes", o.MaxInputBytes, "with --from-file: refuse input larger than this many bytes")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to wait for the caches of a live cluster")
	fs.DurationVar(&o.EventsFlushInterval, "events-flush-interval", o.EventsFlushInterval, "the manager's --events-flush-interval, which the report states as lossWindowSeconds (the command itself reads no events)")
	fs.BoolVar(&o.Explain, "explain", o.Explain, "print each field of the payload with its value and its meaning from the format's schema, instead of the payload")
	fs.StringVar(&o.Diff, "diff", o.Diff, "compare with this payload file of the same format (- for standard input) and print what changed; exit status 0 when equal, 1 when they differ, 2 on trouble")
}

// Validate reports every problem at once.
func (o *PayloadOptions) Validate() error {
	errs := []error{o.Connection.Validate(), o.Logging.Validate()}
	if _, err := encoding.ByFormat(o.Format, []byte("k")); err != nil {
		errs = append(errs, fmt.Errorf("--format: %w", err))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be positive", o.Timeout))
	}
	if o.MaxInputBytes <= 0 {
		errs = append(errs, fmt.Errorf("--max-input-bytes %d: must be positive", o.MaxInputBytes))
	}
	if o.IdentityFile != "" && o.FromFile == "" {
		errs = append(errs, errors.New("--identity-file: only with --from-file"))
	}
	if o.IdentityFile == StdinName && o.FromFile == StdinName {
		errs = append(errs, errors.New("--identity-file -: standard input is already --from-file"))
	}
	if o.Explain && o.Diff != "" {
		errs = append(errs, errors.New("--explain and --diff: choose one"))
	}
	if o.Diff == StdinName && (o.FromFile == StdinName || o.IdentityFile == StdinName) {
		errs = append(errs, errors.New("--diff -: standard input is already --from-file or --identity-file"))
	}
	if o.ExtensionsFile != "" && o.FromFile == "" {
		errs = append(errs, errors.New("--extensions-file: only with --from-file"))
	}
	if o.ExtensionsFile == StdinName {
		errs = append(errs, errors.New("--extensions-file: name a file, not standard input"))
	}
	return errors.Join(errs...)
}

// ErrDiffer is wrapped by Payload's error with --diff when the payloads
// differ; the differences are already written.
var ErrDiffer = errors.New("payloads differ")

// StatusError is an error with the exit status the command ends with.
type StatusError struct {
	Status int
	Err    error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// Payload prints the payload that would be exported, or with Explain each
// of its fields with its meaning, or with Diff how it differs from the
// payload in that file. Cluster ids use the install's own key when its
// identity Secret is found (in the cluster, in the file, or in
// --identity-file), so they equal the exported ones; else a key that lives
// only for this run, and errOut says so.
//
// With Diff, the error is a *StatusError like diff(1)'s exit status: 1
// wrapping ErrDiffer when the payloads differ, 2 for any trouble.
func Payload(ctx context.Context, o *PayloadOptions, out, errOut io.Writer, log *logrus.Entry) error {
	err := payload(ctx, o, out, errOut, log)
	if o.Diff == "" || err == nil {
		return err
	}
	if errors.Is(err, ErrDiffer) {
		return &StatusError{Status: 1, Err: err}
	}
	return &StatusError{Status: 2, Err: err}
}

func payload(ctx context.Context, o *PayloadOptions, out, errOut io.Writer, log *logrus.Entry) error {
	var (
		snap *snapshot.Snapshot
		key  []byte
		err  error
	)
	if o.FromFile != "" {
		snap, key, err = payloadFromFile(o, errOut)
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
	now := time.Now()
	if o.Clock != nil {
		now = o.Clock.Now()
	}
	snap = snap.WithEvents(snapshot.Events{LossWindow: o.EventsFlushInterval})
	b, err := enc.Encode(snap, now)
	if err != nil {
		return fmt.Errorf("encoding %s payload: %w", o.Format, err)
	}
	switch {
	case o.Explain:
		return explain(o.Format, b, out)
	case o.Diff != "":
		return o.diff(b, out)
	}
	_, err = out.Write(b)
	return err
}

func (o *PayloadOptions) loadOptions() LoadOptions {
	lo := DefaultLoadOptions()
	lo.MaxInputBytes = o.MaxInputBytes
	lo.IdentityName, lo.IdentityNamespace = o.IdentityName, o.SecretNamespace
	return lo
}

// load reads path, or o.Stdin for "-".
func (o *PayloadOptions) load(path string, lo LoadOptions) (*Dump, error) {
	if path == StdinName && o.Stdin != nil {
		return Load("standard input", o.Stdin, lo)
	}
	return LoadFile(path, lo)
}

func payloadFromFile(o *PayloadOptions, errOut io.Writer) (*snapshot.Snapshot, []byte, error) {
	dump, err := o.load(o.FromFile, o.loadOptions())
	if err != nil {
		return nil, nil, err
	}
	mode := snapshot.ModeRancher
	clusters, _, coreNodes := dump.Counts()
	switch {
	case o.Mode == options.ModeKubernetes:
		mode = snapshot.ModeKubernetes
	case o.Mode == options.ModeAuto && clusters == 0 && coreNodes > 0:
		mode = snapshot.ModeKubernetes
	}
	id, found, err := o.fileIdentity(dump)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		fmt.Fprintf(errOut, "note: no identity Secret %s/%s in %s and no --identity-file: cluster ids are keyed for this run only and differ from exported ones\n", o.SecretNamespace, o.IdentityName, o.FromFile)
		id.Key = sources.EphemeralIdentity().Key
	}
	install := snapshot.Install{Version: version.Version, GitCommit: version.GitCommit}
	if mode == snapshot.ModeKubernetes {
		install.InstallUUID = id.InstallUUID
		if install.InstallUUID == "" {
			var from string
			install.InstallUUID, from = DeriveInstallUUID(dump)
			fmt.Fprintf(errOut, "note: install UUID %s\n", from)
		}
	}
	cfg := dump.Config(mode, install)
	cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	g, err := gatherer.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	if o.ExtensionsFile != "" {
		res, err := readExtensions(o.ExtensionsFile)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range res.Problems {
			fmt.Fprintf(errOut, "warning: extension refused: %v\n", p)
		}
		g.SetExtensions(res.Pairs, res.Refused, res.Problems)
	}
	snap, err := g.Snapshot()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.FromFile, err)
	}
	return snap, id.Key, nil
}

// readExtensions reads the extensions of --extensions-file; a file larger
// than extensions.MaxDocumentBytes is refused as a whole by the parser.
func readExtensions(path string) (extensions.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return extensions.Result{}, fmt.Errorf("--extensions-file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, extensions.MaxDocumentBytes+1))
	if err != nil {
		return extensions.Result{}, fmt.Errorf("--extensions-file: reading %s: %w", path, err)
	}
	return extensions.Parse("File "+path, "", data), nil
}

func payloadFromCluster(ctx context.Context, o *PayloadOptions, errOut io.Writer, log *logrus.Entry) (*snapshot.Snapshot, []byte, error) {
	cfg, err := sources.RestConfig(o.Kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	src, err := sources.Connect(ctx, cfg, sources.Options{Mode: o.Mode, Namespace: o.SecretNamespace, IdentityName: o.IdentityName, Log: log})
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
