// Package privacy proves, over every output path, that nothing identifying
// leaves the cluster: it renders installations full of names, host names,
// addresses and e-mails (testdata) through every payload format, the
// payload command's outputs and every exporter, and looks for each
// identifying string of the fixtures, and the forms derived from it, in
// what comes out. The one exception is the server URL the scc format must
// carry, normalized, and only there.
//
// Run it with `go test ./tests/privacy`.
package privacy

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/options"
)

// TestNoIdentifyingDataInAnyOutput renders every fixture in every mode
// through every output and fails on any identifying string in it, and on
// a server URL anywhere but normalized in an scc output.
func TestNoIdentifyingDataInAnyOutput(t *testing.T) {
	needles := collectNeedles(t)
	if len(needles) < 50 {
		t.Fatalf("only %d identifying strings in the fixtures: is the fixture read?", len(needles))
	}
	for _, fixture := range fixtureFiles {
		for _, mode := range modes {
			for _, o := range allOutputs() {
				t.Run(fixture+"/"+mode+"/"+o.name, func(t *testing.T) {
					in := newInput(t, fixture, mode)
					out := o.render(t, in)
					// The output must be of this installation, else
					// finding nothing in it proves nothing.
					uuid := snapshotOf(t, in).Install.InstallUUID
					switch {
					case isDiff(o):
						if !strings.Contains(string(out), " differences") {
							t.Fatalf("the --diff output counts no differences:\n%s", out)
						}
					case uuid == "" || !strings.Contains(searchable(out), uuid):
						t.Fatalf("the output does not carry the install UUID %q:\n%s", uuid, out)
					}
					wantURL := ""
					if o.carriesServerURL && mode == options.ModeRancher {
						wantURL = serverURLs[fixture]
					}
					for _, f := range findLeaks(out, needles, wantURL, isDiff(o)) {
						t.Error(f)
					}
				})
			}
		}
	}
}

// findLeaks returns a message for every needle found in out. When wantURL
// is set, out must carry it; its occurrences as a whole value (quoted, or
// a line of its own once JSON strings are undone) are then taken out
// before the search, so the host it names may appear there and nowhere
// else, not even in a longer URL. The other fixtures' normalized server
// URLs may appear in a --diff output of the scc format, which shows the
// other payload's values.
func findLeaks(out []byte, needles []needle, wantURL string, diff bool) []string {
	text := "\n" + searchable(out) + "\n"
	var found []string
	if wantURL != "" {
		if !wholeValue(wantURL).MatchString(text) {
			found = append(found, fmt.Sprintf("the scc output does not carry the server URL %q", wantURL))
		}
		for _, u := range serverURLs {
			if u == wantURL || diff {
				for re := wholeValue(u); re.MatchString(text); {
					text = re.ReplaceAllString(text, "${1}[the server url]${2}")
				}
			}
		}
	}
	for _, n := range needles {
		if i := strings.Index(text, n.text); i >= 0 {
			found = append(found, fmt.Sprintf("%q (from %s) appears: ...%s...", n.text, n.from, excerpt(text, i, len(n.text))))
		}
	}
	return found
}

// wholeValue matches u, lowercased, as a whole value: between quotes or
// line ends.
func wholeValue(u string) *regexp.Regexp {
	return regexp.MustCompile(`(["\n])` + regexp.QuoteMeta(strings.ToLower(u)) + `(["\n])`)
}

// isDiff reports whether o compares with the other fixture's payload, whose
// values it shows.
func isDiff(o output) bool { return strings.HasSuffix(o.name, "--diff") }

func excerpt(text string, i, n int) string {
	from, to := max(0, i-60), min(len(text), i+n+60)
	return strings.ReplaceAll(text[from:to], "\n", `\n`)
}

// TestTheSearchFindsPlantedLeaks makes sure the search itself can fail:
// outputs that leak a derived form of a fixture string are caught.
func TestTheSearchFindsPlantedLeaks(t *testing.T) {
	needles := collectNeedles(t)
	for name, leak := range map[string]string{
		"kubelet version suffix":     `{"kubeletMinor":"v1.32.4+kestrel-cp-01.marigold-intra.lan"}`,
		"hostname label":             `{"arch":"kestrel-wk-02"}`,
		"dashed IPv4":                `{"node":"ip-10-213-147-59"}`,
		"three octets":               `{"net":"192.168.231.0/24"}`,
		"IPv6 expanded":              `{"a":"2001:0db8:7a3f:91c4:0000:0000:0000:1c2e"}`,
		"IPv6 /64 prefix":            `{"a":"2001:db8:7a3f:91c4::/64"}`,
		"e-mail local part":          `{"owner":"JANE.DOE"}`,
		"e-mail domain, escaped":     `{"d":"x\u0040marigold-payments.example"}`,
		"percent-escaped e-mail":     `https://rancher.example.com:8443/jane.doe%40marigold-payments.example`,
		"base64 of a host":           `{"data":"` + "a2VzdHJlbC1jcC0wMS5tYXJpZ29sZC1pbnRyYS5sYW4=" + `"}`,
		"display name":               `Osprey Retail Edge (172.29.188.241)`,
		"server URL with userinfo":   `{"server_url":"https://user:secret@rancher.example.com:8443/path"}`,
		"server URL host, no scheme": `{"hostname":"rancher.example.com"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if f := findLeaks([]byte(leak), needles, "", false); len(f) == 0 {
				t.Errorf("no finding in %s", leak)
			}
		})
	}
	t.Run("scc output without the server URL", func(t *testing.T) {
		if f := findLeaks([]byte(`{"server_url":""}`), needles, serverURLs[fixtureFiles[0]], false); len(f) == 0 {
			t.Error("an scc payload without its server URL passed")
		}
	})
	t.Run("scc output with the server URL in a longer one", func(t *testing.T) {
		out := `{"server_url":"https://rancher.example.com:8443/path","hostname":"https://rancher.example.com:8443/path/x"}`
		if f := findLeaks([]byte(out), needles, serverURLs[fixtureFiles[0]], false); len(f) == 0 {
			t.Error("a longer URL of the server's host passed")
		}
	})
	t.Run("scc output with the normalized URL only", func(t *testing.T) {
		if f := findLeaks([]byte(`{"server_url":"https://rancher.example.com:8443/path"}`), needles, serverURLs[fixtureFiles[0]], false); len(f) != 0 {
			t.Errorf("the normalized server URL is a finding: %v", f)
		}
	})
}

// TestEveryOutputIsInTheTable guards the table: every payload format has
// an encoder row, and both formats are rendered by the command.
func TestEveryOutputIsInTheTable(t *testing.T) {
	var got []string
	for _, o := range allOutputs() {
		got = append(got, o.name)
	}
	for _, want := range []string{"encoder report", "encoder scc", "payload report", "payload scc", "http exporter", "secret exporter, report"} {
		if !slices.Contains(got, want) {
			t.Errorf("no output %q in %v", want, got)
		}
	}
}

var clusterIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// reportIDs renders the report of in with the payload command and returns
// its cluster ids and install UUID.
func reportIDs(t *testing.T, in *input) (ids []string, installUUID string) {
	t.Helper()
	out, err := runPayload(t, payloadOptions(in, report.FormatName))
	if err != nil {
		t.Fatal(err)
	}
	return idsOf(t, out)
}

func idsOf(t *testing.T, payload []byte) ([]string, string) {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal(payload, &r); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range r.Clusters {
		if !clusterIDRE.MatchString(c.ID) {
			t.Errorf("cluster id %q is not 32 hex digits", c.ID)
		}
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids, r.Install.InstallUUID
}

// TestPseudonymsStableAcrossRestartsDifferentBetweenInstalls loads the
// identity Secret twice from the same API server, as a restarted
// controller does, and renders through two separately built pipelines (the
// payload command with the Secret as --identity-file, and the gatherer and
// encoder of the exporters): the cluster ids and install UUID agree. A
// second install (another API server, so another identity Secret) gives
// other ids for the same clusters.
func TestPseudonymsStableAcrossRestartsDifferentBetweenInstalls(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			fixture := fixtureFiles[0]
			install1 := fake.NewClientset()
			id1, file1 := newIdentity(t, install1)
			first := &input{fixture: fixture, mode: mode, id: id1, identityFile: file1, now: testNow}
			ids1, uuid1 := reportIDs(t, first)
			if len(ids1) == 0 {
				t.Fatal("no cluster ids")
			}

			// A restart: the identity is read again from the same Secret.
			id1b, file1b := newIdentity(t, install1)
			restarted := &input{fixture: fixture, mode: mode, id: id1b, identityFile: file1b, now: testNow.Add(48 * time.Hour)}
			ids1b, uuid1b := reportIDs(t, restarted)
			if !slices.Equal(ids1, ids1b) || uuid1 != uuid1b {
				t.Errorf("after a restart: ids %v install %s, before %v install %s", ids1b, uuid1b, ids1, uuid1)
			}
			// The exporters' pipeline: gatherer and encoder built anew.
			idsEnc, uuidEnc := idsOf(t, encoderOutput(report.FormatName)(t, restarted))
			if !slices.Equal(ids1, idsEnc) || uuid1 != uuidEnc {
				t.Errorf("the encoder pipeline gives ids %v install %s, the command %v install %s", idsEnc, uuidEnc, ids1, uuid1)
			}

			// Another install: same clusters, other identity.
			id2, file2 := newIdentity(t, fake.NewClientset())
			ids2, uuid2 := reportIDs(t, &input{fixture: fixture, mode: mode, id: id2, identityFile: file2, now: testNow})
			if len(ids2) != len(ids1) {
				t.Fatalf("another install reports %d clusters, the first %d", len(ids2), len(ids1))
			}
			for _, id := range ids2 {
				if slices.Contains(ids1, id) {
					t.Errorf("cluster id %s is the same in two installs", id)
				}
			}
			if mode == options.ModeKubernetes {
				if uuid1 != id1.InstallUUID || uuid2 != id2.InstallUUID || uuid1 == uuid2 {
					t.Errorf("install UUIDs %q and %q, want the identities' %q and %q", uuid1, uuid2, id1.InstallUUID, id2.InstallUUID)
				}
			}
		})
	}
}

// TestMain silences the standard logger, which the payload command logs
// the refused extensions of the fixture to.
func TestMain(m *testing.M) {
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}
