package chart

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func sccPublicKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestSCCExporterValuesReachTheCommand: the scc values become the --scc-*
// flags, the CA ConfigMap and the public key are mounted, and the command
// accepts them.
func TestSCCExporterValuesReachTheCommand(t *testing.T) {
	objs := render(t, release{set: []string{
		"exporters.scc.enabled=true", "exporters.scc.namespace=scc-here", "exporters.scc.caConfigMap=rmt-ca",
		"exporters.scc.keepaliveInterval=10h", "exporters.scc.interval=30m",
		"exporters.scc.offlinePublicKey=" + strings.ReplaceAll(sccPublicKeyPEM(t), ",", `\,`),
	}})
	flags := parseArgs(t, containerArgs(t, objs))
	want := map[string]string{
		"exporters": "secret,scc", "scc-namespace": "scc-here", "scc-keepalive-interval": "10h", "scc-interval": "30m",
		"scc-ca-file": "/etc/telemetry-manager/scc-ca/ca.crt", "scc-offline-public-key-file": "/etc/telemetry-manager/scc-key/key.pem",
	}
	for k, v := range want {
		if flags[k] != v {
			t.Errorf("--%s=%q, want %q", k, flags[k], v)
		}
	}
	d := find(t, objs, "Deployment")
	volumes, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
	var cms []string
	for _, v := range volumes {
		name, _, _ := unstructured.NestedString(v.(map[string]any), "configMap", "name")
		cms = append(cms, name)
	}
	if !slices.Contains(cms, "rmt-ca") || !slices.ContainsFunc(cms, func(s string) bool { return strings.HasSuffix(s, "-scc-key") }) {
		t.Errorf("volumes of ConfigMaps %v, want rmt-ca and the scc key", cms)
	}
	// The key ConfigMap holds the PEM, which the command reads (a file
	// that does not parse fails Validate).
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-scc-key") {
			key, _, _ := unstructured.NestedString(o.Object, "data", "key.pem")
			if !strings.HasPrefix(key, "-----BEGIN PUBLIC KEY-----") {
				t.Errorf("key.pem = %q", key)
			}
		}
	}
	o := runOptions(t, slices.DeleteFunc(containerArgs(t, objs), func(a string) bool {
		return strings.HasPrefix(a, "--scc-ca-file") || strings.HasPrefix(a, "--scc-offline-public-key-file")
	}))
	if o.SCC.Namespace != "scc-here" || o.SCC.KeepaliveInterval != 10*time.Hour || o.IntervalOf("scc") != 30*time.Minute {
		t.Errorf("scc options %+v, interval %s", o.SCC, o.IntervalOf("scc"))
	}
	// Off by default: no --scc-* flag and no scc Role.
	def := render(t, release{})
	for _, a := range containerArgs(t, def) {
		if strings.HasPrefix(a, "--scc-") {
			t.Errorf("scc exporter off, yet the chart passes %s", a)
		}
	}
	for _, o := range def {
		if strings.HasSuffix(o.GetName(), "-scc") {
			t.Errorf("scc exporter off, yet the chart renders %s %s", o.GetKind(), o.GetName())
		}
	}
}

// TestSCCRoleOnlyInTheSCCNamespace: the scc exporter's rules live in one
// Role of the SCC namespace, name its objects wherever Kubernetes can limit
// by name, and add nothing cluster-wide or to the release namespace's Role.
func TestSCCRoleOnlyInTheSCCNamespace(t *testing.T) {
	base := ruleSet(t, render(t, release{}))
	objs := render(t, release{set: []string{"exporters.scc.enabled=true", "exporters.scc.namespace=scc-here"}})
	var scc, rest []*unstructured.Unstructured
	for _, o := range objs {
		if (o.GetKind() == "Role" || o.GetKind() == "RoleBinding") && strings.HasSuffix(o.GetName(), "-scc") {
			if o.GetNamespace() != "scc-here" {
				t.Errorf("%s %s in namespace %q, want scc-here", o.GetKind(), o.GetName(), o.GetNamespace())
			}
			scc = append(scc, o)
			continue
		}
		rest = append(rest, o)
	}
	if len(scc) != 2 {
		t.Fatalf("%d scc Role and RoleBinding, want 2", len(scc))
	}
	if got := ruleSet(t, rest); !slices.Equal(got, base) {
		t.Errorf("the other rules changed with the scc exporter:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(base, "\n"))
	}
	want := []string{
		"Role: core/configmaps create",
		"Role: core/configmaps get [telemetry-manager-scc-status]",
		"Role: core/configmaps update [telemetry-manager-scc-status]",
		"Role: core/secrets create",
		"Role: core/secrets delete [scc-offline-request]",
		"Role: core/secrets delete [telemetry-manager-scc-credentials]",
		"Role: core/secrets get [scc-offline-request]",
		"Role: core/secrets get [scc-registration]",
		"Role: core/secrets get [telemetry-manager-scc-credentials]",
		"Role: core/secrets list [scc-registration]",
		"Role: core/secrets update [scc-offline-request]",
		"Role: core/secrets update [telemetry-manager-scc-credentials]",
		"Role: core/secrets watch [scc-registration]",
	}
	if got := ruleSet(t, scc); !slices.Equal(got, want) {
		t.Errorf("scc rules:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
