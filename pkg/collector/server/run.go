package server

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// OpenFunc opens the store a --database value names.
type OpenFunc func(ctx context.Context, spec string) (store.Store, error)

// Run serves the collector until ctx ends, then stops accepting
// connections, lets the requests in flight finish (for at most
// o.ShutdownTimeout) and closes the store. The options must be valid.
func Run(ctx context.Context, o *Options, open OpenFunc, log *logrus.Entry) error {
	keys, err := OpenFile(o.SigningKeysFile, ParseKeys, log)
	if err != nil {
		return fmt.Errorf("--signing-keys-file: %w", err)
	}
	var tokens *File
	if o.TokensFile != "" {
		if tokens, err = OpenFile(o.TokensFile, ParseTokens, log); err != nil {
			return fmt.Errorf("--tokens-file: %w", err)
		}
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	defer ln.Close()
	st, err := open(ctx, o.Database)
	if err != nil {
		return fmt.Errorf("opening the store %s: %w", redact(o.Database), err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.WithError(err).Warn("closing the store")
		}
	}()

	clk := clock.RealClock{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := Config{
		Store: st, SigningKeys: keys,
		MaxBody: o.MaxBody, MaxDecompressed: o.MaxDecompressed,
		Rate: o.Rate, Burst: o.Burst, ActiveWindow: o.ActiveWindow,
		Clock: clk, Log: log, Registry: reg,
	}
	if tokens != nil {
		cfg.Tokens = tokens
	}
	srv := &http.Server{
		Handler:           New(cfg),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          scrubbedLogger(log),
	}

	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { keys.Watch(bg, clk, o.ReloadInterval) })
	if tokens != nil {
		wg.Go(func() { tokens.Watch(bg, clk, o.ReloadInterval) })
	}
	wg.Go(func() { store.RunPruner(bg, st, o.Retention, store.DefaultPruneInterval, clk, log) })
	defer func() {
		stopBG()
		wg.Wait()
	}()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.WithField("listen", ln.Addr().String()).WithField("database", redact(o.Database)).Info("telemetry-collector serving")

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	// ctx has ended; the shutdown gets its own bounded time.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down after %s: %w", o.ShutdownTimeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("stopped")
	return nil
}

// addrPattern matches IPv4 and bracketed IPv6 addresses with an optional
// port, as net/http writes a peer's address into its error log.
var addrPattern = regexp.MustCompile(`\[[0-9a-fA-F:.%a-zA-Z]*\](:\d+)?|\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b`)

// scrubbedLogger is the HTTP server's error log: its lines (TLS handshake
// errors, recovered panics) go to log at debug level without the peer's
// address.
func scrubbedLogger(l *logrus.Entry) *log.Logger {
	return log.New(scrubWriter{l}, "", 0)
}

type scrubWriter struct{ log *logrus.Entry }

func (w scrubWriter) Write(p []byte) (int, error) {
	w.log.Debug(addrPattern.ReplaceAllString(string(p), "<address>"))
	return len(p), nil
}
