// Package encoding lists the payload formats: one table of name,
// constructor and schema validator, so flags, docs, tests and exporters
// resolve names the same way, and no exporter can send a payload its
// format's schema refuses.
package encoding

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

var (
	// ErrUnknownFormat is returned for a format name not in the table.
	ErrUnknownFormat = errors.New("unknown payload format")
	// ErrInvalidPayload means a payload does not match its format's schema;
	// it is never written or sent.
	ErrInvalidPayload = errors.New("payload does not match its schema")
)

// formats is the table of payload formats, sorted by name. key is the
// per-install secret that pseudonyms are made with; formats that export no
// pseudonym ignore it. validate checks a payload against the format's
// schema; schema returns it.
var formats = []struct {
	name     string
	new      func(key []byte) snapshot.Encoder
	validate func(payload []byte) error
	schema   func() []byte
}{
	{report.FormatName, func(key []byte) snapshot.Encoder { return report.New(key) }, report.Validate, report.Schema},
	{scc.FormatName, func([]byte) snapshot.Encoder { return scc.Encoder{} }, scc.Validate, scc.Schema},
}

// Formats returns the names of the payload formats, sorted.
func Formats() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.name
	}
	return names
}

// ByFormat returns the encoder of the named format. An unknown name gives an
// error wrapping ErrUnknownFormat that lists the valid names.
func ByFormat(name string, key []byte) (snapshot.Encoder, error) {
	for _, f := range formats {
		if f.name == name {
			return f.new(key), nil
		}
	}
	return nil, unknown(name)
}

// Schema returns the JSON schema of the named format. An unknown name gives
// an error wrapping ErrUnknownFormat.
func Schema(name string) ([]byte, error) {
	for _, f := range formats {
		if f.name == name {
			return f.schema(), nil
		}
	}
	return nil, unknown(name)
}

func unknown(name string) error {
	return fmt.Errorf("%w %q: valid formats are %s", ErrUnknownFormat, name, strings.Join(Formats(), ", "))
}

// Validate checks payload against the schema of the named format. A payload
// the schema refuses gives an error wrapping ErrInvalidPayload (and the
// format's own invalid error), which names the field the schema refuses; an
// unknown format gives an error wrapping ErrUnknownFormat.
func Validate(format string, payload []byte) error {
	for _, f := range formats {
		if f.name != format {
			continue
		}
		if err := f.validate(payload); err != nil {
			return fmt.Errorf("%w: %s payload: %w", ErrInvalidPayload, format, err)
		}
		return nil
	}
	return unknown(format)
}

// Validating returns an encoder that encodes with enc and then validates the
// payload against the schema of enc.Format(), so a payload that would leak
// or break a consumer never comes out of it: Encode returns no bytes and an
// error wrapping ErrInvalidPayload (or ErrUnknownFormat, for a format with
// no schema in the table). Wrapping an encoder twice validates once.
func Validating(enc snapshot.Encoder) snapshot.Encoder {
	if v, ok := enc.(validating); ok {
		return v
	}
	return validating{enc}
}

type validating struct{ snapshot.Encoder }

func (v validating) Encode(s *snapshot.Snapshot, now time.Time) ([]byte, error) {
	payload, err := v.Encoder.Encode(s, now)
	if err != nil {
		return nil, err
	}
	if err := Validate(v.Format(), payload); err != nil {
		return nil, err
	}
	return payload, nil
}
