package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleOptions renders the sample installation with a fixed identity and
// clock, so the payload is the same on every run.
func sampleOptions(t *testing.T, format string) *PayloadOptions {
	t.Helper()
	o := payloadOptions(samplePath(t))
	o.IdentityFile = writeFile(t, "identity.yaml", identitySecretYAML(testKeyHex, testInstallUUID))
	o.Format = format
	return o
}

func TestPayloadExplainGolden(t *testing.T) {
	for _, format := range []string{"report", "scc"} {
		t.Run(format, func(t *testing.T) {
			o := sampleOptions(t, format)
			o.Explain = true
			got, _ := render(t, o)
			path := filepath.Join("testdata", "explain-"+format+".golden.txt")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/cli -run TestPayloadExplainGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (run go test ./pkg/cli -run TestPayloadExplainGolden -update and review the diff):\n%s", path, got)
			}
		})
	}
}

func TestPayloadExplainExplainsThePayload(t *testing.T) {
	for _, format := range []string{"report", "scc"} {
		payload, _ := render(t, sampleOptions(t, format))
		o := sampleOptions(t, format)
		o.Explain = true
		got, _ := render(t, o)
		s, err := formatSchema(format)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := s.Explain(&want, payload); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: --explain is not the explanation of the payload:\n%s", format, got)
		}
	}
}

// diffPayload runs payload --diff old in format and returns its output
// and error.
func diffPayload(t *testing.T, format, old string) (string, error) {
	t.Helper()
	o := sampleOptions(t, format)
	o.Diff = old
	var out, errOut bytes.Buffer
	err := Payload(t.Context(), o, &out, &errOut, testLog())
	return out.String(), err
}

func status(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return -1
}

func TestPayloadDiff(t *testing.T) {
	report, _ := render(t, sampleOptions(t, "report"))
	scc, _ := render(t, sampleOptions(t, "scc"))
	fewerNodes := bytes.Replace(report, []byte(`"nodes": 9,`), []byte(`"nodes": 8,`), 1)
	if bytes.Equal(fewerNodes, report) {
		t.Fatal("the sample report has no totals.nodes of 9")
	}
	tests := []struct {
		name   string
		format string
		old    string // file content
		status int    // 0: nil error
		want   []string
	}{
		{"equal", "report", string(report), 0, []string{"no differences\n"}},
		{"equal scc", "scc", string(scc), 0, []string{"no differences\n"}},
		{"a changed total", "report", string(fewerNodes), 1, []string{"~ totals.nodes: 8 -> 9\n", "1 difference\n"}},
		{"a file of the other format", "report", string(scc), 2, []string{"old.json", "it is a scc payload", "--format scc"}},
		{"a report of another schema version", "report", strings.Replace(string(report), `"schemaVersion": "4"`, `"schemaVersion": "1"`, 1), 2, []string{"old.json", "/schemaVersion"}},
		{"a version 2 report", "report", version2(t, report), 1, []string{"~ schemaVersion: \"2\" -> \"4\"\n", "+ clusterStates", "+ events"}},
		{"a malformed file", "report", `{"schemaVersion": "2",`, 2, []string{"old.json", "not a payload"}},
		{"an empty file", "scc", ``, 2, []string{"old.json", "not a payload"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := diffPayload(t, tt.format, writeFile(t, "old.json", tt.old))
			text := out
			if err != nil {
				text += err.Error()
			}
			if tt.status == 0 && err != nil {
				t.Fatalf("Payload = %v, want nil\n%s", err, out)
			}
			if tt.status != 0 && status(err) != tt.status {
				t.Fatalf("Payload = %v, want exit status %d\n%s", err, tt.status, out)
			}
			if tt.status == 1 && !errors.Is(err, ErrDiffer) {
				t.Errorf("Payload = %v, want ErrDiffer", err)
			}
			if tt.status == 2 && !errors.Is(err, ErrBadPayloadFile) {
				t.Errorf("Payload = %v, want ErrBadPayloadFile", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("output and error lack %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestPayloadDiffOfAMissingFileIsTrouble(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.json")
	_, err := diffPayload(t, "report", missing)
	if status(err) != 2 || !strings.Contains(err.Error(), missing) {
		t.Errorf("Payload = %v, want exit status 2 naming %s", err, missing)
	}
}

func TestPayloadDiffFromStandardInput(t *testing.T) {
	report, _ := render(t, sampleOptions(t, "report"))
	o := sampleOptions(t, "report")
	o.Diff, o.Stdin = StdinName, bytes.NewReader(report)
	var out bytes.Buffer
	if err := Payload(t.Context(), o, &out, &bytes.Buffer{}, testLog()); err != nil {
		t.Fatalf("Payload = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "--- standard input\n") {
		t.Errorf("output does not name standard input:\n%s", out.String())
	}
}

func TestPayloadDiffRefusesAFileOverTheLimit(t *testing.T) {
	report, _ := render(t, sampleOptions(t, "report"))
	o := sampleOptions(t, "report")
	fi, err := os.Stat(samplePath(t))
	if err != nil {
		t.Fatal(err)
	}
	o.MaxInputBytes = fi.Size() + int64(len(report)) // the sample fits
	o.Diff = writeFile(t, "old.json", string(report)+strings.Repeat(" ", int(fi.Size())+1))
	err = Payload(t.Context(), o, &bytes.Buffer{}, &bytes.Buffer{}, testLog())
	if status(err) != 2 || !errors.Is(err, ErrBadPayloadFile) || !strings.Contains(err.Error(), "--max-input-bytes") {
		t.Errorf("Payload = %v, want exit status 2 naming --max-input-bytes", err)
	}
}

// version2 returns the version 3 report as version 2 wrote it: without the
// members version 3 added.
func version2(t *testing.T, report []byte) string {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(report, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"clusterStates", "nodeStates", "extensions", "extensionsRefused", "events"} {
		delete(doc, k)
	}
	doc["schemaVersion"] = json.RawMessage(`"2"`)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
