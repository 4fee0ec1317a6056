// Package server is the collector's HTTP side: it receives reports from the
// http exporter (POST /api/v1/reports, the protocol of package protocol),
// keeps them in a store.Store, and answers the summary, the install list,
// the history, the health checks, the metrics and a page with charts at /.
//
// No IP address is stored or logged: the handlers never read
// Request.RemoteAddr, there is no access log, and the HTTP server's own
// error log is scrubbed of addresses (see Run).
package server

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// storeRetryAfter is the Retry-After of a 503 when the store failed.
const storeRetryAfter = 30 * time.Second

// Config is what a Server needs.
type Config struct {
	Store store.Store
	// SigningKeys are the keys a report's signature may be made with.
	SigningKeys Source
	// Tokens, when not nil, are the bearer tokens a sender must present.
	Tokens Source
	// MaxBody and MaxDecompressed limit a report as sent and as decoded.
	MaxBody, MaxDecompressed int64
	// Rate (reports per install per hour) and Burst set the rate limit.
	Rate  float64
	Burst int
	// ActiveWindow: the summary and the install list cover the installs
	// that reported within it.
	ActiveWindow time.Duration
	Clock        clock.PassiveClock
	Log          *logrus.Entry
	// Registry receives the collector's metrics and is served at /metrics.
	Registry *prometheus.Registry
}

// Server is the collector's http.Handler.
type Server struct {
	cfg     Config
	limiter *limiter
	metrics *metrics
	mux     *http.ServeMux
	// checking holds a token for each report whose checks run: they are
	// CPU work, so a few at a time, first come first served, finish
	// sooner than all at once sharing the cores (see checkSlots).
	checking chan struct{}
}

// checkSlots is how many reports are checked at once: two per core keeps
// the cores busy while one waits for memory or the scheduler, and keeps
// the latency of a burst close to its share of the queue.
func checkSlots() int { return 2 * runtime.GOMAXPROCS(0) }

// New returns the handler of cfg.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		cfg.Log = logrus.NewEntry(l)
	}
	s := &Server{
		cfg:     cfg,
		limiter: newLimiter(cfg.Rate, cfg.Burst),
		metrics: newMetrics(cfg.Registry),
		mux:     http.NewServeMux(),

		checking: make(chan struct{}, checkSlots()),
	}
	s.handle("POST "+protocol.DefaultPath, "reports", s.postReport)
	s.handle("GET /api/v1/installs", "installs", s.installs)
	s.handle("GET /api/v1/summary", "summary", s.summary)
	s.handle("GET /api/v1/summary/history", "history", s.history)
	s.handle("GET /healthz", "healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("GET /readyz", "readyz", s.readyz)
	s.handle("GET /static/", "static", staticHandler().ServeHTTP)
	s.handle("GET /{$}", "page", s.page)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	s.handle("/", "other", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	return s
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// ServeHTTP sets the headers every answer carries and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The page loads nothing but its own stylesheet and runs no script.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(w, r)
}

// handle registers h and counts its answers by status code.
func (s *Server) handle(pattern, name string, h http.HandlerFunc) {
	s.mux.Handle(pattern, promhttp.InstrumentHandlerCounter(s.metrics.requests.MustCurryWith(prometheus.Labels{"handler": name}), h))
}

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, protocol.Error{Error: msg})
}

// setRetryAfter sets Retry-After to d in whole seconds.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set(protocol.HeaderRetryAfter, strconv.FormatInt(retryAfter(d), 10))
}

// observe times a store call.
func (s *Server) observe(op string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.metrics.store.WithLabelValues(op, result).Observe(s.cfg.Clock.Since(start).Seconds())
}
