package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/apimachinery/pkg/labels"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/identity"
	"github.com/rancher/telemetry-manager/pkg/options"
)

const (
	testKeyHex      = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testInstallUUID = "7d3f2a10-5b8e-4c1d-9f6a-0e2b4c6d8f10"
)

func identitySecretYAML(key, installUUID string) string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: telemetry-identity\n  namespace: cattle-telemetry-system\ntype: Opaque\ndata:\n" +
		"  hmacKey: " + b64(key) + "\n  installUUID: " + b64(installUUID) + "\n"
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readSample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(samplePath(t))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func payloadOptions(fromFile string) *PayloadOptions {
	o := NewPayloadOptions()
	o.FromFile = fromFile
	o.Clock = clocktesting.NewFakePassiveClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return o
}

func render(t *testing.T, o *PayloadOptions) (payload []byte, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := Payload(t.Context(), o, &out, &errOut, testLog()); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), errOut.String()
}

func clusterIDs(t *testing.T, payload []byte) []string {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal(payload, &r); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range r.Clusters {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

// wantClusterIDs keys the names of the sample's clusters with key.
func wantClusterIDs(t *testing.T, key []byte) []string {
	t.Helper()
	d, err := LoadFile(samplePath(t), DefaultLoadOptions())
	if err != nil {
		t.Fatal(err)
	}
	clusters, err := d.Clusters.List(labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range clusters {
		ids = append(ids, report.ClusterID(key, c.Name))
	}
	slices.Sort(ids)
	return ids
}

func TestPayloadFromFileWithIdentityIsReproducible(t *testing.T) {
	key, _ := hex.DecodeString(testKeyHex)
	secret := identitySecretYAML(testKeyHex, testInstallUUID)
	tests := []struct {
		name string
		opts func(t *testing.T) *PayloadOptions
	}{
		{"identity in the dump", func(t *testing.T) *PayloadOptions {
			return payloadOptions(writeFile(t, "dump.yaml", readSample(t)+"\n---\n"+secret))
		}},
		{"identity file", func(t *testing.T) *PayloadOptions {
			o := payloadOptions(samplePath(t))
			o.IdentityFile = writeFile(t, "identity.yaml", secret)
			return o
		}},
		{"dump on standard input", func(t *testing.T) *PayloadOptions {
			o := payloadOptions(StdinName)
			o.Stdin = strings.NewReader(readSample(t) + "\n---\n" + secret)
			return o
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, stderr := render(t, tt.opts(t))
			second, _ := render(t, tt.opts(t))
			if !bytes.Equal(first, second) {
				t.Fatalf("two renders differ:\n%s\n%s", first, second)
			}
			if got, want := clusterIDs(t, first), wantClusterIDs(t, key); !slices.Equal(got, want) {
				t.Fatalf("cluster ids = %v, want %v", got, want)
			}
			if strings.Contains(stderr, "this run only") {
				t.Errorf("stderr says the ids are one-off: %s", stderr)
			}
		})
	}
}

func TestPayloadFromFileWithoutIdentitySaysIDsAreOneOff(t *testing.T) {
	first, stderr := render(t, payloadOptions(samplePath(t)))
	second, _ := render(t, payloadOptions(samplePath(t)))
	if !strings.Contains(stderr, "cluster ids are keyed for this run only") {
		t.Errorf("stderr = %q, want a note on the one-off key", stderr)
	}
	if slices.Equal(clusterIDs(t, first), clusterIDs(t, second)) {
		t.Error("two renders without an identity made the same cluster ids")
	}
}

const coreDump = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: kube-system, uid: KSUID}
- apiVersion: v1
  kind: Node
  metadata: {name: node-a, uid: 11111111-0000-0000-0000-000000000001}
  status: {capacity: {cpu: "4", memory: 8Gi}, nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: v1.32.1}}
- apiVersion: v1
  kind: Node
  metadata: {name: node-b, uid: 11111111-0000-0000-0000-000000000002}
  status: {capacity: {cpu: "2", memory: 4Gi}, nodeInfo: {architecture: arm64, operatingSystem: linux, kubeletVersion: v1.32.1}}
`

func installUUID(t *testing.T, payload []byte) string {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal(payload, &r); err != nil {
		t.Fatal(err)
	}
	return r.Install.InstallUUID
}

func TestPayloadKubernetesModeInstallUUID(t *testing.T) {
	withoutKubeSystem := func(dump string) string {
		i := strings.Index(dump, "- apiVersion: v1\n  kind: Node")
		return "apiVersion: v1\nkind: List\nitems:\n" + dump[i:]
	}
	tests := []struct {
		name, dump, other string // other: a dump that must get another UUID
		note              string
	}{
		{"from the kube-system uid", strings.ReplaceAll(coreDump, "KSUID", "ks-1"), strings.ReplaceAll(coreDump, "KSUID", "ks-2"), "derived from the kube-system Namespace uid"},
		{"from the node uids", withoutKubeSystem(coreDump), withoutKubeSystem(strings.ReplaceAll(coreDump, "0001", "0003")), "derived from the UIDs of 2 Nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := func(dump string) *PayloadOptions {
				o := payloadOptions(writeFile(t, "dump.yaml", dump))
				o.Mode = options.ModeKubernetes
				return o
			}
			first, stderr := render(t, opts(tt.dump))
			second, _ := render(t, opts(tt.dump))
			other, _ := render(t, opts(tt.other))
			if a, b := installUUID(t, first), installUUID(t, second); a == "" || a != b {
				t.Fatalf("install UUIDs of two renders = %q and %q, want the same", a, b)
			}
			if installUUID(t, first) == installUUID(t, other) {
				t.Fatal("another installation got the same install UUID")
			}
			if !strings.Contains(stderr, tt.note) {
				t.Errorf("stderr = %q, want %q", stderr, tt.note)
			}
		})
	}
	t.Run("from the identity", func(t *testing.T) {
		o := payloadOptions(writeFile(t, "dump.yaml", strings.ReplaceAll(coreDump, "KSUID", "ks-1")+"---\n"+identitySecretYAML(testKeyHex, testInstallUUID)))
		o.Mode = options.ModeKubernetes
		p, stderr := render(t, o)
		if got := installUUID(t, p); got != testInstallUUID {
			t.Fatalf("install UUID = %q, want the identity's %q", got, testInstallUUID)
		}
		if strings.Contains(stderr, "install UUID") {
			t.Errorf("stderr = %q, want no note on the install UUID", stderr)
		}
	})
}

func TestPayloadRefusesBadIdentities(t *testing.T) {
	otherKey := strings.Repeat("ab", 32)
	tests := []struct {
		name     string
		dump     string
		identity string // content of --identity-file; empty: none
		want     error
	}{
		{"dump and identity file differ", identitySecretYAML(testKeyHex, testInstallUUID), identitySecretYAML(otherKey, testInstallUUID), ErrIdentityConflict},
		{"identity file without a secret", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", ErrNoIdentity},
		{"key is not hex", identitySecretYAML("not hex", testInstallUUID), "", identity.ErrInvalid},
		{"identity file is unreadable", "", "kind: [", ErrInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := payloadOptions(writeFile(t, "dump.yaml", readSample(t)+"\n---\n"+tt.dump))
			if tt.identity != "" {
				o.IdentityFile = writeFile(t, "identity.yaml", tt.identity)
			}
			err := Payload(t.Context(), o, &bytes.Buffer{}, &bytes.Buffer{}, testLog())
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPayloadOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(o *PayloadOptions)
		want   []string // flags named in the error; none: valid
	}{
		{"defaults", func(*PayloadOptions) {}, nil},
		{"from standard input with an identity file", func(o *PayloadOptions) { o.FromFile, o.IdentityFile = StdinName, "id.yaml" }, nil},
		{"max input bytes not positive", func(o *PayloadOptions) { o.MaxInputBytes = 0 }, []string{"--max-input-bytes"}},
		{"identity file without from file", func(o *PayloadOptions) { o.IdentityFile = "id.yaml" }, []string{"--identity-file"}},
		{"both on standard input", func(o *PayloadOptions) { o.FromFile, o.IdentityFile = StdinName, StdinName }, []string{"--identity-file"}},
		{"every problem at once", func(o *PayloadOptions) { o.MaxInputBytes, o.IdentityName, o.Timeout = -1, "", 0 }, []string{"--max-input-bytes", "--identity-name", "--timeout"}},
		{"explain and diff", func(o *PayloadOptions) { o.Explain, o.Diff = true, "old.json" }, []string{"--explain and --diff"}},
		{"diff and from file on standard input", func(o *PayloadOptions) { o.FromFile, o.Diff = StdinName, StdinName }, []string{"--diff -"}},
		{"diff on standard input", func(o *PayloadOptions) { o.Diff = StdinName }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewPayloadOptions()
			tt.change(o)
			err := o.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

func testLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

func TestPayloadFromFileWithExtensionsFile(t *testing.T) {
	o := payloadOptions(writeFile(t, "in.yaml", readSample(t)))
	o.ExtensionsFile = writeFile(t, "extensions.json", `{"team": "platform", "example.com/tier": "gold", "owner": "bob@corp.example", "Bad/Key": "x"}`)
	payload, stderr := render(t, o)
	r, err := report.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"team": "platform", "example.com/tier": "gold"}; !maps.Equal(r.Extensions, want) || r.ExtensionsRefused != 2 {
		t.Errorf("extensions %v, refused %d; want %v and 2", r.Extensions, r.ExtensionsRefused, want)
	}
	for _, key := range []string{`["owner"]`, `["Bad/Key"]`} {
		if !strings.Contains(stderr, "extension refused") || !strings.Contains(stderr, key) {
			t.Errorf("stderr does not name the refused key %s:\n%s", key, stderr)
		}
	}
	if bytes.Contains(payload, []byte("bob@")) || bytes.Contains(payload, []byte("Bad/Key")) {
		t.Errorf("a refused extension is in the payload:\n%s", payload)
	}
}

func TestExtensionsFileNeedsFromFile(t *testing.T) {
	o := NewPayloadOptions()
	o.ExtensionsFile = "extensions.json"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--extensions-file") {
		t.Errorf("Validate = %v, want an --extensions-file error", err)
	}
	o = payloadOptions(writeFile(t, "in.yaml", readSample(t)))
	o.ExtensionsFile = filepath.Join(t.TempDir(), "missing.json")
	var out, errOut bytes.Buffer
	if err := Payload(t.Context(), o, &out, &errOut, testLog()); err == nil || !strings.Contains(err.Error(), "--extensions-file") {
		t.Errorf("Payload with a missing extensions file = %v, want an --extensions-file error", err)
	}
}
