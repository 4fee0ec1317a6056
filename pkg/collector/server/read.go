package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/collector/summary"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
)

// History limits: ?days defaults to DefaultHistoryDays and may not exceed
// MaxHistoryDays.
const (
	DefaultHistoryDays = 30
	MaxHistoryDays     = 366
)

// readyTimeout bounds the store ping of /readyz.
const readyTimeout = 2 * time.Second

// ErrDays is wrapped by the error of a bad ?days.
var ErrDays = errors.New("days must be a whole number")

// Install is one entry of GET /api/v1/installs.
type Install struct {
	InstallUUID string `json:"installUUID"`
	// ReceivedAt is when the report first arrived; LastSeenAt when it, or
	// the same report sent again, arrived last.
	ReceivedAt    time.Time       `json:"receivedAt"`
	LastSeenAt    time.Time       `json:"lastSeenAt"`
	SchemaVersion string          `json:"schemaVersion"`
	Report        json.RawMessage `json:"report"`
}

// SummaryAnswer is the body of GET /api/v1/summary.
type SummaryAnswer struct {
	summary.Summary
	// Since is the start of the active window.
	Since time.Time `json:"since"`
	// Skipped counts stored reports that no longer decode (none unless the
	// schema changed incompatibly); they are left out of the sums.
	Skipped int64 `json:"skipped"`
}

// Day is one entry of GET /api/v1/summary/history.
type Day struct {
	Date     string `json:"date"`
	Installs int64  `json:"installs"`
	Nodes    int64  `json:"nodes"`
}

// latest returns the latest report of each install in the active window.
func (s *Server) latest(ctx context.Context) ([]store.Report, time.Time, error) {
	start := s.cfg.Clock.Now()
	since := start.Add(-s.cfg.ActiveWindow).UTC()
	rs, err := s.cfg.Store.Latest(ctx, since)
	s.observe("latest", start, err)
	return rs, since, err
}

// storeFailed answers 503 for a store error.
func (s *Server) storeFailed(w http.ResponseWriter, op string, err error) {
	s.cfg.Log.WithError(err).WithField("op", op).Warn("reading the store failed")
	setRetryAfter(w, storeRetryAfter)
	writeError(w, http.StatusServiceUnavailable, "the store is unavailable; retry later")
}

// installs lists the latest report of each install that reported within
// the active window, ordered by install UUID.
func (s *Server) installs(w http.ResponseWriter, r *http.Request) {
	rs, _, err := s.latest(r.Context())
	if err != nil {
		s.storeFailed(w, "latest", err)
		return
	}
	out := make([]Install, 0, len(rs))
	for _, rep := range rs {
		if !json.Valid(rep.Payload) {
			continue
		}
		out = append(out, Install{InstallUUID: rep.InstallUUID, ReceivedAt: rep.ReceivedAt.UTC(), LastSeenAt: rep.LastSeenAt.UTC(), SchemaVersion: rep.SchemaVersion, Report: rep.Payload})
	}
	writeJSON(w, http.StatusOK, out)
}

// computeSummary sums the latest reports of the active window.
func (s *Server) computeSummary(ctx context.Context) (SummaryAnswer, error) {
	rs, since, err := s.latest(ctx)
	if err != nil {
		return SummaryAnswer{}, err
	}
	var skipped int64
	decoded := make([]report.Report, 0, len(rs))
	for _, rep := range rs {
		var d report.Report
		if err := json.Unmarshal(rep.Payload, &d); err != nil {
			skipped++
			continue
		}
		decoded = append(decoded, d)
	}
	if skipped > 0 {
		s.cfg.Log.WithField("skipped", skipped).Warn("stored reports that do not decode were left out of the summary")
	}
	return SummaryAnswer{Summary: summary.Compute(decoded), Since: since, Skipped: skipped}, nil
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	sum, err := s.computeSummary(r.Context())
	if err != nil {
		s.storeFailed(w, "latest", err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// parseDays reads ?days: DefaultHistoryDays when absent, else 1 to
// MaxHistoryDays.
func parseDays(q string) (int, error) {
	if q == "" {
		return DefaultHistoryDays, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > MaxHistoryDays {
		return 0, fmt.Errorf("%w from 1 to %d", ErrDays, MaxHistoryDays)
	}
	return n, nil
}

func (s *Server) loadHistory(ctx context.Context, days int) ([]Day, error) {
	start := s.cfg.Clock.Now()
	hist, err := s.cfg.Store.History(ctx, start.UTC(), days)
	s.observe("history", start, err)
	if err != nil {
		return nil, err
	}
	out := make([]Day, 0, len(hist))
	for _, d := range hist {
		out = append(out, Day{Date: d.Date.UTC().Format(time.DateOnly), Installs: d.Installs, Nodes: d.Nodes})
	}
	return out, nil
}

// history answers the installs that reported and their nodes, per UTC day,
// oldest first.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	days, err := parseDays(r.URL.Query().Get("days"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "days: "+err.Error())
		return
	}
	out, err := s.loadHistory(r.Context(), days)
	if err != nil {
		s.storeFailed(w, "history", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	start := s.cfg.Clock.Now()
	err := s.cfg.Store.Ping(ctx)
	s.observe("ping", start, err)
	if err != nil {
		s.cfg.Log.WithError(err).Debug("store ping failed")
		writeError(w, http.StatusServiceUnavailable, "the store does not answer")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
