package encoding

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/internal/testsnap"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

func TestFormats(t *testing.T) {
	if got, want := Formats(), []string{"report", "scc"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Formats() = %v, want %v", got, want)
	}
}

func TestByFormat(t *testing.T) {
	validate := map[string]func([]byte) error{"report": report.Validate, "scc": scc.Validate}
	versions := map[string]string{"report": report.Version, "scc": scc.Version}
	for _, name := range Formats() {
		t.Run(name, func(t *testing.T) {
			e, err := ByFormat(name, []byte("key"))
			if err != nil {
				t.Fatal(err)
			}
			if e.Format() != name || e.SchemaVersion() != versions[name] {
				t.Errorf("Format, SchemaVersion = %q, %q", e.Format(), e.SchemaVersion())
			}
			out, err := e.Encode(testsnap.Sample(), time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			v, ok := validate[name]
			if !ok {
				t.Fatalf("no validator known for format %q", name)
			}
			if err := v(out); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestByFormatUnknown(t *testing.T) {
	for _, name := range []string{"", "Report", "json", "scc "} {
		_, err := ByFormat(name, nil)
		if !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("ByFormat(%q) err = %v, want ErrUnknownFormat", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "report, scc") {
			t.Errorf("error %q does not list the valid formats", err)
		}
	}
}

func TestByFormatReportNeedsKey(t *testing.T) {
	e, err := ByFormat("report", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Encode(testsnap.Sample(), time.Time{}); !errors.Is(err, report.ErrNoKey) {
		t.Errorf("err = %v, want report.ErrNoKey", err)
	}
}

// rewriting encodes with a real encoder of the format, then replaces old by
// new in the payload: a stand-in for an encoder with a bug.
type rewriting struct {
	snapshot.Encoder
	old, new string
	calls    *int
}

func (r rewriting) Encode(s *snapshot.Snapshot, now time.Time) ([]byte, error) {
	if r.calls != nil {
		*r.calls++
	}
	out, err := r.Encoder.Encode(s, now)
	return bytes.Replace(out, []byte(r.old), []byte(r.new), 1), err
}

// renamed is an encoder whose format has no schema in the table.
type renamed struct{ snapshot.Encoder }

func (renamed) Format() string { return "json" }

func TestValidatingPassesValidPayloadsUnchanged(t *testing.T) {
	for _, name := range Formats() {
		t.Run(name, func(t *testing.T) {
			e, err := ByFormat(name, []byte("key"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := e.Encode(testsnap.Sample(), time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Validating(e).Encode(testsnap.Sample(), time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Validating changed the payload:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestValidatingRefusesPayloadTheSchemaRefuses(t *testing.T) {
	tests := []struct {
		name      string
		enc       snapshot.Encoder
		field     string
		formatErr error
	}{
		{
			name:  "scc version that is not X.Y.Z",
			enc:   rewriting{Encoder: scc.Encoder{}, old: `"version": "2.12.1"`, new: `"version": "dev"`},
			field: "/version", formatErr: scc.ErrInvalid,
		},
		{
			name:  "report schema version unknown",
			enc:   rewriting{Encoder: report.New([]byte("key")), old: `"schemaVersion": "` + report.Version + `"`, new: `"schemaVersion": "99"`},
			field: "/schemaVersion", formatErr: report.ErrInvalid,
		},
		{
			name:  "scc feature flag null",
			enc:   rewriting{Encoder: scc.Encoder{}, old: `"feature_flags": [`, new: `"feature_flags": null, "x": [`},
			field: "/feature_flags", formatErr: scc.ErrInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := tt.enc.Encode(testsnap.Sample(), time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), tt.field[1:]) || !strings.Contains(string(raw), tt.enc.(rewriting).new) {
				t.Fatalf("test set-up: payload has no %s, or the rewrite did not apply:\n%s", tt.field, raw)
			}
			out, err := Validating(tt.enc).Encode(testsnap.Sample(), time.Unix(0, 0))
			if !errors.Is(err, ErrInvalidPayload) || !errors.Is(err, tt.formatErr) {
				t.Fatalf("err = %v, want ErrInvalidPayload wrapping the format's invalid error", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field %s", err, tt.field)
			}
			if out != nil {
				t.Errorf("an invalid payload came out: %s", out)
			}
		})
	}
}

func TestValidatingRefusesFormatWithoutSchema(t *testing.T) {
	out, err := Validating(renamed{scc.Encoder{}}).Encode(testsnap.Sample(), time.Unix(0, 0))
	if !errors.Is(err, ErrUnknownFormat) || out != nil {
		t.Fatalf("Encode = %d bytes, %v; want no payload and ErrUnknownFormat", len(out), err)
	}
}

func TestValidatingTwiceValidatesOnce(t *testing.T) {
	calls := 0
	e := Validating(Validating(rewriting{Encoder: scc.Encoder{}, calls: &calls}))
	if _, err := e.Encode(testsnap.Sample(), time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if inner, ok := e.(validating).Encoder.(validating); ok {
		t.Fatalf("the validating encoder wraps another one: %T", inner)
	}
	if calls != 1 {
		t.Fatalf("inner encoder called %d times, want 1", calls)
	}
}

func TestValidateUnknownFormat(t *testing.T) {
	if err := Validate("json", []byte(`{}`)); !errors.Is(err, ErrUnknownFormat) || errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("err = %v, want ErrUnknownFormat only", err)
	}
}

func TestSchema(t *testing.T) {
	want := map[string][]byte{"report": report.Schema(), "scc": scc.Schema()}
	for _, name := range Formats() {
		got, err := Schema(name)
		if err != nil || !bytes.Equal(got, want[name]) {
			t.Errorf("Schema(%q) = %d bytes, %v; want the %s package's schema", name, len(got), err, name)
		}
	}
	if _, err := Schema("xml"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Schema(xml) = %v, want ErrUnknownFormat", err)
	}
}
