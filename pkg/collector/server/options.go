package server

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rancher/telemetry-manager/pkg/options"
)

// Defaults of Options.
const (
	DefaultListen   = ":8090"
	DefaultDatabase = "sqlite:telemetry-collector.db"
	// DatabaseEnv names the variable that gives the store when --database
	// is not on the command line: a PostgreSQL URL and its password then
	// stay out of the process's arguments, which every local user can read.
	DatabaseEnv            = "TELEMETRY_COLLECTOR_DATABASE"
	DefaultMaxBody         = 1 << 20 // compressed bytes
	DefaultMaxDecompressed = 2 << 20 // the report itself stays under 640 KiB
	DefaultRate            = 60      // reports per install per hour
	DefaultBurst           = 10
	DefaultRetention       = 8760 * time.Hour
	DefaultActiveWindow    = 168 * time.Hour
	DefaultReloadInterval  = 10 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
)

// Options configure the collector.
type Options struct {
	// Listen is the address the HTTP server listens on.
	Listen string
	// Database names the store: sqlite:<file> or a postgres:// URL.
	Database string
	// SigningKeysFile holds the signing keys, one per line; every key in it
	// is accepted, so a key is rotated by adding the new one first.
	SigningKeysFile string
	// TokensFile, when set, holds the bearer tokens a sender must present,
	// one per line.
	TokensFile string
	// ReloadInterval is how often the two files are checked for changes.
	ReloadInterval time.Duration
	// MaxBody is the largest request body, as sent (compressed).
	MaxBody int64
	// MaxDecompressed is the largest report after decompression.
	MaxDecompressed int64
	// Rate is how many reports per hour one install may send, on average;
	// Burst how many it may send at once.
	Rate  float64
	Burst int
	// Retention is how long reports are kept.
	Retention time.Duration
	// ActiveWindow: the summary and the install list cover the installs
	// that reported within it.
	ActiveWindow time.Duration
	// ShutdownTimeout bounds how long requests in flight may take to
	// finish after a SIGTERM.
	ShutdownTimeout time.Duration
	options.Logging
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Listen:          DefaultListen,
		Database:        DefaultDatabase,
		ReloadInterval:  DefaultReloadInterval,
		MaxBody:         DefaultMaxBody,
		MaxDecompressed: DefaultMaxDecompressed,
		Rate:            DefaultRate,
		Burst:           DefaultBurst,
		Retention:       DefaultRetention,
		ActiveWindow:    DefaultActiveWindow,
		ShutdownTimeout: DefaultShutdownTimeout,
		Logging:         options.NewLogging(),
	}
}

// AddFlags registers the flags of the options.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", o.Listen, "address to listen on")
	fs.StringVar(&o.Database, "database", o.Database, "store: sqlite:<file> or postgres://user@host/db; when not given, $"+DatabaseEnv+" if set")
	fs.StringVar(&o.SigningKeysFile, "signing-keys-file", o.SigningKeysFile, "file of signing keys, one per line, each accepted (required)")
	fs.StringVar(&o.TokensFile, "tokens-file", o.TokensFile, "file of bearer tokens, one per line; when set, a report without one of them is refused")
	fs.DurationVar(&o.ReloadInterval, "reload-interval", o.ReloadInterval, "how often the keys and tokens files are re-read when they changed")
	fs.Int64Var(&o.MaxBody, "max-body", o.MaxBody, "largest request body in bytes, as sent (compressed)")
	fs.Int64Var(&o.MaxDecompressed, "max-decompressed", o.MaxDecompressed, "largest report in bytes after decompression")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "reports per install per hour, on average")
	fs.IntVar(&o.Burst, "rate-burst", o.Burst, "reports one install may send at once")
	fs.DurationVar(&o.Retention, "retention", o.Retention, "how long reports are kept")
	fs.DurationVar(&o.ActiveWindow, "active-window", o.ActiveWindow, "the summary covers installs that reported within this window")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout, "how long requests in flight may take to finish on SIGTERM")
	o.Logging.AddFlags(fs)
}

// Validate reports every problem of the options at once.
func (o *Options) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", o.Listen, err))
	}
	if !strings.HasPrefix(o.Database, "sqlite:") && !strings.HasPrefix(o.Database, "postgres://") && !strings.HasPrefix(o.Database, "postgresql://") {
		errs = append(errs, fmt.Errorf("--database %q: must be sqlite:<file> or a postgres:// URL", redact(o.Database)))
	}
	if o.SigningKeysFile == "" {
		errs = append(errs, errors.New("--signing-keys-file: required"))
	}
	positive := func(flag string, v time.Duration) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s %s: must be positive", flag, v))
		}
	}
	positive("reload-interval", o.ReloadInterval)
	positive("retention", o.Retention)
	positive("active-window", o.ActiveWindow)
	positive("shutdown-timeout", o.ShutdownTimeout)
	if o.MaxBody <= 0 {
		errs = append(errs, fmt.Errorf("--max-body %d: must be positive", o.MaxBody))
	}
	if o.MaxDecompressed <= 0 {
		errs = append(errs, fmt.Errorf("--max-decompressed %d: must be positive", o.MaxDecompressed))
	}
	if !(o.Rate > 0) || o.Rate > 1e6 {
		errs = append(errs, fmt.Errorf("--rate %v: must be above 0 and at most 1e6 reports per hour", o.Rate))
	}
	if o.Burst < 1 {
		errs = append(errs, fmt.Errorf("--rate-burst %d: must be at least 1", o.Burst))
	}
	if o.ActiveWindow > o.Retention && o.Retention > 0 {
		errs = append(errs, fmt.Errorf("--active-window %s: must not exceed --retention %s", o.ActiveWindow, o.Retention))
	}
	errs = append(errs, o.Logging.Validate())
	return errors.Join(errs...)
}

// redact drops the password of a database URL before it goes into an
// error or a log.
func redact(spec string) string {
	scheme, rest, ok := strings.Cut(spec, "://")
	if !ok {
		return spec
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, _, _ := strings.Cut(rest[:at], ":")
		return scheme + "://" + user + ":***@" + rest[at+1:]
	}
	return spec
}

// DatabaseFromEnv sets Database from DatabaseEnv when lookup finds it
// set and not empty. Call it after parsing, only when --database was not
// given, so that the flag wins and --help never shows the value.
func (o *Options) DatabaseFromEnv(lookup func(string) (string, bool)) {
	if v, ok := lookup(DatabaseEnv); ok && v != "" {
		o.Database = v
	}
}
