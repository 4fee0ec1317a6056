// Package protocol is the wire protocol between the http exporter and a
// collector: the request headers, the idempotency key, the signature header
// and the answers. Both ends use it, so they cannot drift apart; the README
// describes it for anyone writing another client or collector.
//
// A report is sent as
//
//	POST <url>                       (a collector's default path is DefaultPath)
//	Content-Type: application/json
//	Content-Encoding: gzip           (unless turned off)
//	User-Agent: telemetry-manager/<version>
//	Authorization: Bearer <token>    (when a token is configured)
//	Idempotency-Key: <hex SHA-256 of the uncompressed payload>
//	X-Telemetry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>." + body)>[,v1=...]
//
// where body is the exact bytes sent, compressed when gzip is on, so that a
// collector verifies the signature before it decompresses anything.
package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names and values.
const (
	HeaderSignature      = "X-Telemetry-Signature"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderRetryAfter     = "Retry-After"
	ContentType          = "application/json"
	EncodingGzip         = "gzip"
	// UserAgentPrefix is followed by the manager's version.
	UserAgentPrefix = "telemetry-manager/"
)

// DefaultPath is where a collector accepts reports.
const DefaultPath = "/api/v1/reports"

// MaxSkew is how far a signature's timestamp may be from the collector's
// clock, in either direction.
const MaxSkew = 5 * time.Minute

// Limits of the signature header, so that a hostile header costs a collector
// nothing: at most MaxSignatures v1 entries and MaxHeaderBytes bytes.
const (
	MaxSignatures  = 8
	MaxHeaderBytes = 1024
)

// MinKeyBytes is the shortest signing key accepted, at either end.
const MinKeyBytes = 16

// Errors of signature checks. Verify's errors wrap one of them.
var (
	ErrNoSignature  = errors.New("no signature")
	ErrMalformed    = errors.New("malformed signature header")
	ErrStale        = errors.New("signature timestamp outside the allowed window")
	ErrBadSignature = errors.New("signature does not match any key")
	ErrShortKey     = fmt.Errorf("signing key shorter than %d bytes", MinKeyBytes)
)

// IdempotencyKey returns the Idempotency-Key of a payload: the lowercase hex
// SHA-256 of its uncompressed bytes. A retry of the same payload carries
// the same key.
func IdempotencyKey(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
}

// ValidIdempotencyKey reports whether k has the form IdempotencyKey gives:
// 64 lowercase hex digits.
func ValidIdempotencyKey(k string) bool {
	if len(k) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Sign returns the X-Telemetry-Signature value of body sent at t, with one
// v1 entry per key, in the order given.
func Sign(t time.Time, body []byte, keys ...[]byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, k := range keys {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(k, ts, body)))
	}
	return b.String()
}

func mac(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Signature is a parsed X-Telemetry-Signature header.
type Signature struct {
	// Timestamp is the t entry, in Unix seconds, exactly as sent.
	Timestamp string
	// Time is Timestamp as a time.
	Time time.Time
	// V1 holds the decoded v1 entries.
	V1 [][]byte
}

// ParseSignature parses an X-Telemetry-Signature value. It needs exactly one
// t entry, a decimal number of seconds, and one to MaxSignatures v1 entries
// of 64 hex digits. Entries of other schemes are ignored, so that a later
// scheme can be sent beside v1.
func ParseSignature(h string) (Signature, error) {
	var s Signature
	if strings.TrimSpace(h) == "" {
		return s, ErrNoSignature
	}
	if len(h) > MaxHeaderBytes {
		return s, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxHeaderBytes)
	}
	for _, part := range strings.Split(h, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Signature{}, fmt.Errorf("%w: entry %q has no '='", ErrMalformed, clip(part))
		}
		switch name {
		case "t":
			if s.Timestamp != "" {
				return Signature{}, fmt.Errorf("%w: more than one t entry", ErrMalformed)
			}
			sec, err := strconv.ParseInt(value, 10, 64)
			if err != nil || sec < 0 || value[0] == '+' {
				return Signature{}, fmt.Errorf("%w: t %q is not a number of seconds", ErrMalformed, clip(value))
			}
			s.Timestamp, s.Time = value, time.Unix(sec, 0)
		case "v1":
			if len(s.V1) == MaxSignatures {
				return Signature{}, fmt.Errorf("%w: more than %d v1 entries", ErrMalformed, MaxSignatures)
			}
			sum, err := hex.DecodeString(value)
			if err != nil || len(sum) != sha256.Size {
				return Signature{}, fmt.Errorf("%w: v1 entry is not %d hex digits", ErrMalformed, 2*sha256.Size)
			}
			s.V1 = append(s.V1, sum)
		}
	}
	if s.Timestamp == "" {
		return Signature{}, fmt.Errorf("%w: no t entry", ErrMalformed)
	}
	if len(s.V1) == 0 {
		return Signature{}, fmt.Errorf("%w: no v1 entry", ErrMalformed)
	}
	return s, nil
}

// clip shortens hostile text before it goes into an error.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// Verify checks header h against body, as received, at now. The signature
// holds when its timestamp is within MaxSkew of now and one of its v1
// entries is the MAC of one of keys. The errors wrap ErrNoSignature,
// ErrMalformed, ErrStale or ErrBadSignature.
func Verify(h string, body []byte, now time.Time, keys [][]byte) error {
	s, err := ParseSignature(h)
	if err != nil {
		return err
	}
	if d := now.Sub(s.Time); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("%w: t=%s is %s from the collector's clock", ErrStale, s.Timestamp, d.Round(time.Second))
	}
	for _, k := range keys {
		want := mac(k, s.Timestamp, body)
		for _, got := range s.V1 {
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrBadSignature
}

// ParseKeys reads signing keys, one per line. Blank lines and lines starting
// with # are skipped, and surrounding whitespace is not part of a key. Each
// key must be at least MinKeyBytes long; the error names the line.
func ParseKeys(text []byte) ([][]byte, error) {
	var keys [][]byte
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < MinKeyBytes {
			return nil, fmt.Errorf("line %d: %w", i+1, ErrShortKey)
		}
		keys = append(keys, []byte(line))
	}
	return keys, nil
}

// Accepted is the body of a 202 (stored) or 200 (duplicate) answer. A
// duplicate carries no id.
type Accepted struct {
	ID        string `json:"id,omitempty"`
	Duplicate bool   `json:"duplicate"`
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
}
