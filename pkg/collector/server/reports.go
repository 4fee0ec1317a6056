package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rancher/telemetry-manager/pkg/collector/store"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// Reasons a report is rejected, as the rejected metric labels them.
const (
	reasonToken          = "token"
	reasonSignature      = "signature"
	reasonStale          = "stale"
	reasonSize           = "size"
	reasonBody           = "body"
	reasonEncoding       = "encoding"
	reasonDecompressed   = "decompressed-size"
	reasonGzip           = "gzip"
	reasonContentType    = "content-type"
	reasonJSON           = "json"
	reasonSchema         = "schema"
	reasonInstall        = "install-uuid"
	reasonIdempotencyKey = "idempotency-key"
	reasonRate           = "rate"
	reasonStore          = "store"
	reasonStoreFull      = "store-full"
)

// rejection is a refused request: its status, its metric reason and the
// message of its error body.
type rejection struct {
	status     int
	reason     string
	msg        string
	retryAfter time.Duration
}

func reject(status int, reason, format string, args ...any) *rejection {
	return &rejection{status: status, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// decoded is a request that passed every check before the rate limit.
type decoded struct {
	payload []byte
	// gzip is the body as received when the store may keep it instead of
	// payload (see decompress); nil otherwise.
	gzip   []byte
	report report.Report
	key    string
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// postReport receives one report. Nothing is stored unless every check
// passes, and nothing is acknowledged before the store committed it.
func (s *Server) postReport(w http.ResponseWriter, r *http.Request) {
	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()
	d, rej := s.decode(r)
	if rej == nil {
		rej = s.rateLimit(d)
	}
	if rej != nil {
		s.refuse(w, rej)
		return
	}
	start := s.cfg.Clock.Now()
	res, err := s.cfg.Store.Insert(r.Context(), store.Report{
		IdempotencyKey: d.key,
		InstallUUID:    d.report.Install.InstallUUID,
		SchemaVersion:  d.report.SchemaVersion,
		ReceivedAt:     start.UTC(),
		Nodes:          d.report.Totals.Nodes,
		Payload:        d.payload,
		Gzip:           d.gzip,
	})
	s.observe("insert", start, err)
	if errors.Is(err, store.ErrFull) {
		// Nothing was committed; the sender retries with backoff, and the
		// store takes reports again once the operator freed space.
		s.cfg.Log.WithError(err).Error("storing a report failed: the database's disk is full")
		s.refuse(w, &rejection{status: http.StatusInsufficientStorage, reason: reasonStoreFull, msg: "the collector's database is out of disk space; retry later", retryAfter: storeRetryAfter})
		return
	}
	if err != nil {
		// Unknown whether it was committed: the sender retries later with
		// the same idempotency key, which the store deduplicates.
		s.cfg.Log.WithError(err).Warn("storing a report failed")
		s.refuse(w, &rejection{status: http.StatusServiceUnavailable, reason: reasonStore, msg: "the store is unavailable; retry later", retryAfter: storeRetryAfter})
		return
	}
	if res.Duplicate {
		s.metrics.reports.WithLabelValues("duplicate").Inc()
		writeJSON(w, http.StatusOK, protocol.Accepted{Duplicate: true})
		return
	}
	s.metrics.reports.WithLabelValues("stored").Inc()
	writeJSON(w, http.StatusAccepted, protocol.Accepted{ID: res.ID})
}

func (s *Server) refuse(w http.ResponseWriter, rej *rejection) {
	s.metrics.reports.WithLabelValues("rejected").Inc()
	s.metrics.rejected.WithLabelValues(rej.reason).Inc()
	s.cfg.Log.WithField("reason", rej.reason).WithField("status", rej.status).Debug("report refused")
	if rej.retryAfter > 0 {
		setRetryAfter(w, rej.retryAfter)
	}
	writeError(w, rej.status, rej.msg)
}

// decode runs the checks of a report request, cheapest and most
// fundamental first, in this order:
//
//  1. the bearer token, when tokens are required (401);
//  2. the signature header: present and well formed (401), and
//  3. its timestamp within protocol.MaxSkew of the clock (401): both are
//     checked on the header alone, before the body is read;
//  4. the size of the body as sent: Content-Length, then a read capped at
//     MaxBody (413);
//  5. the signature's MAC over the body exactly as received (401), before
//     anything is decompressed. It comes after the size check because the
//     MAC of a body cannot be computed without reading all of it, which is
//     the unbounded read the size limit prevents;
//  6. Content-Encoding gzip or identity (415 for any other) and Content-Type
//     application/json when given (415);
//  7. the decompressed size, read capped at MaxDecompressed, so a gzip bomb
//     costs MaxDecompressed bytes at most (413); corrupt gzip is 400;
//  8. JSON syntax (400), and
//  9. the report schema (400, the error names the field), both in the one
//     pass of report.Decode that also decodes the report the later checks
//     and the store use; a syntax error anywhere is reported as such, even
//     after a schema problem;
//  10. install.installUUID a UUID, since reports are kept and rate limited
//     by install (400);
//  11. Idempotency-Key equal to the SHA-256 of the decompressed report (400).
//
// The per-install rate limit (429) and the store's duplicate check follow
// in postReport.
func (s *Server) decode(r *http.Request) (decoded, *rejection) {
	var d decoded
	now := s.cfg.Clock.Now()
	if s.cfg.Tokens != nil && !s.tokenOK(r.Header.Get("Authorization")) {
		return d, reject(http.StatusUnauthorized, reasonToken, "missing or unknown bearer token")
	}
	header := r.Header.Get(protocol.HeaderSignature)
	sig, err := protocol.ParseSignature(header)
	if err != nil {
		return d, reject(http.StatusUnauthorized, reasonSignature, "%s: %v", protocol.HeaderSignature, err)
	}
	if skew := now.Sub(sig.Time); skew > protocol.MaxSkew || skew < -protocol.MaxSkew {
		return d, reject(http.StatusUnauthorized, reasonStale, "%s: %v: t=%s is more than %s from the collector's clock",
			protocol.HeaderSignature, protocol.ErrStale, sig.Timestamp, protocol.MaxSkew)
	}
	if r.ContentLength > s.cfg.MaxBody {
		return d, reject(http.StatusRequestEntityTooLarge, reasonSize, "body of %d bytes is over the limit of %d", r.ContentLength, s.cfg.MaxBody)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBody+1))
	if err != nil {
		return d, reject(http.StatusBadRequest, reasonBody, "reading the body: %v", err)
	}
	if int64(len(raw)) > s.cfg.MaxBody {
		return d, reject(http.StatusRequestEntityTooLarge, reasonSize, "body is over the limit of %d bytes", s.cfg.MaxBody)
	}
	// The body is read (a slow sender holds no slot); the checks that
	// follow are CPU work and wait for one.
	select {
	case s.checking <- struct{}{}:
		defer func() { <-s.checking }()
	case <-r.Context().Done():
		return d, reject(http.StatusServiceUnavailable, reasonBody, "request ended before its checks: %v", r.Context().Err())
	}
	if err := protocol.Verify(header, raw, now, s.cfg.SigningKeys.Values()); err != nil {
		return d, reject(http.StatusUnauthorized, reasonSignature, "%s: %v", protocol.HeaderSignature, err)
	}
	if rej := checkContentType(r.Header.Get("Content-Type")); rej != nil {
		return d, rej
	}
	payload, storable, rej := s.decompress(r.Header.Get("Content-Encoding"), raw)
	if rej != nil {
		return d, rej
	}
	if storable {
		d.gzip = raw
	}
	// One pass checks the syntax and the schema and decodes the report.
	rep, err := report.Decode(payload)
	if err != nil {
		return d, decodeRejection(err)
	}
	d.report = rep
	if !uuidPattern.MatchString(d.report.Install.InstallUUID) {
		return d, reject(http.StatusBadRequest, reasonInstall, "report field install.installUUID: must be a UUID; the collector keeps reports by install")
	}
	d.key = r.Header.Get(protocol.HeaderIdempotencyKey)
	if want := protocol.IdempotencyKey(payload); d.key != want {
		if d.key == "" {
			return d, reject(http.StatusBadRequest, reasonIdempotencyKey, "%s header missing: it must be the hex SHA-256 of the uncompressed report", protocol.HeaderIdempotencyKey)
		}
		return d, reject(http.StatusBadRequest, reasonIdempotencyKey, "%s is not the hex SHA-256 of the uncompressed report", protocol.HeaderIdempotencyKey)
	}
	d.payload = payload
	return d, nil
}

// rateLimit takes a token of the report's install. Duplicates count too:
// whether a report is one is known only to the store.
func (s *Server) rateLimit(d decoded) *rejection {
	ok, wait := s.limiter.allow(d.report.Install.InstallUUID, s.cfg.Clock.Now())
	if ok {
		return nil
	}
	return &rejection{status: http.StatusTooManyRequests, reason: reasonRate, retryAfter: wait,
		msg: fmt.Sprintf("install %s is over the rate of %g reports per hour; retry in %ds", d.report.Install.InstallUUID, s.cfg.Rate, retryAfter(wait))}
}

// tokenOK checks an Authorization header against every token in constant
// time per token.
func (s *Server) tokenOK(h string) bool {
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	found := 0
	for _, t := range s.cfg.Tokens.Values() {
		want := sha256.Sum256(t)
		found |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return found == 1
}

func checkContentType(ct string) *rejection {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != protocol.ContentType {
		return reject(http.StatusUnsupportedMediaType, reasonContentType, "Content-Type must be %s", protocol.ContentType)
	}
	return nil
}

// decompress returns the report a body holds in encoding, gzip or
// identity, within --max-decompressed. Any other encoding is refused with
// 415 Unsupported Media Type, as RFC 9110 says for an unsupported content
// coding. storable says that the body is gzip the store may
// keep as it is: one member whose header carries no name, comment or extra
// field. Anything else a sender put beside the report is not the report,
// and is not kept: the store then keeps the decompressed report.
func (s *Server) decompress(encoding string, raw []byte) (payload []byte, storable bool, _ *rejection) {
	limit := s.cfg.MaxDecompressed
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		if int64(len(raw)) > limit {
			return nil, false, reject(http.StatusRequestEntityTooLarge, reasonDecompressed, "report is over the limit of %d bytes", limit)
		}
		return raw, false, nil
	case protocol.EncodingGzip:
	default:
		return nil, false, reject(http.StatusUnsupportedMediaType, reasonEncoding, "Content-Encoding must be gzip or identity")
	}
	br := bytes.NewReader(raw)
	zr, err := newGzipReader(br)
	if err != nil {
		return nil, false, reject(http.StatusBadRequest, reasonGzip, "body is not gzip: %v", err)
	}
	defer gzipReaders.Put(zr)
	// The first member alone, to tell whether it is the whole body; the
	// reader reads from br exactly up to the member's end.
	zr.Multistream(false)
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err == nil && int64(len(out)) <= limit && br.Len() > 0 {
		// More members follow: the report is all of them.
		storable = false
		var rest []byte
		rest, err = io.ReadAll(io.LimitReader(multistream(br), limit+1-int64(len(out))))
		out = append(out, rest...)
	} else {
		storable = zr.Name == "" && zr.Comment == "" && zr.Extra == nil
	}
	if int64(len(out)) > limit {
		return nil, false, reject(http.StatusRequestEntityTooLarge, reasonDecompressed, "decompressed report is over the limit of %d bytes", limit)
	}
	if err != nil {
		return nil, false, reject(http.StatusBadRequest, reasonGzip, "body is not valid gzip: %v", err)
	}
	return out, storable, nil
}

// gzipReaders keeps gzip readers between requests: each holds a 32 KiB
// window and Huffman tables that a new one allocates and clears.
var gzipReaders sync.Pool

// newGzipReader returns a pooled gzip reader reading r, or the error of the
// gzip header.
func newGzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipReaders.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			gzipReaders.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// multistream reads the gzip members that follow in r, decompressed, or
// fails reading as gzip.NewReader failed.
func multistream(r *bytes.Reader) io.Reader {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return errReader{err}
	}
	return zr
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// decodeRejection is the refusal of a payload report.Decode refused. Its
// message names the field as a JSON pointer with the rule it broke, and is
// never longer than a few hundred bytes, whatever the payload held.
func decodeRejection(err error) *rejection {
	var se *report.SchemaError
	var re *report.RangeError
	switch {
	case errors.Is(err, report.ErrSyntax):
		return reject(http.StatusBadRequest, reasonJSON, "body is not valid JSON: %s", clip(err.Error(), 200))
	case errors.As(err, &se):
		return reject(http.StatusBadRequest, reasonSchema, "report does not match schema version %s (nor %s or %s): at %s: %s",
			report.Version, report.Version3, report.Version2, clip(se.Pointer, 120), clip(se.Problem, 200))
	case errors.As(err, &re):
		return reject(http.StatusBadRequest, reasonSchema, "report field %s: value out of range", clip(re.Field, 120))
	default:
		return reject(http.StatusBadRequest, reasonSchema, "report does not match schema version %s (nor %s or %s): %s", report.Version, report.Version3, report.Version2, clip(err.Error(), 200))
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
