package encoding

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/internal/testsnap"
	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/encoding/scc"
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
