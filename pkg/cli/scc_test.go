package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	sccexporter "github.com/rancher/telemetry-manager/pkg/exporters/scc"
)

func TestSCCStatusJSONHasEveryKey(t *testing.T) {
	kube := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: sccexporter.StatusConfigMapName, Namespace: "cattle-scc-system"},
		Data: map[string]string{"mode": "online", "state": "registered", "systemID": "1001", "product": "SUSE Rancher Prime",
			"expiresAt": "2027-01-01T00:00:00Z", "lastKeepalive": "2026-03-01T12:00:00Z", "lastError": ""},
	})
	o := NewSCCStatusOptions()
	o.Output = "json"
	var out bytes.Buffer
	if err := SCCStatus(context.Background(), kube.CoreV1(), o, &out); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"mode": "online", "state": "registered", "systemID": "1001", "product": "SUSE Rancher Prime",
		"expiresAt": "2027-01-01T00:00:00Z", "lastKeepalive": "2026-03-01T12:00:00Z", "lastError": ""}
	if len(got) != len(want) {
		t.Errorf("keys %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (present %v), want %q", k, g, ok, v)
		}
	}
}

func TestSCCStatusTextWithoutConfigMapIsUnregistered(t *testing.T) {
	o := NewSCCStatusOptions()
	var out bytes.Buffer
	if err := SCCStatus(context.Background(), fake.NewClientset().CoreV1(), o, &out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"state:", "unregistered", "system id:", "last keepalive:", "last error:"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
}

func TestSCCStatusRejectsUnknownOutput(t *testing.T) {
	o := NewSCCStatusOptions()
	o.Output = "yaml"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("Validate: %v, want an --output error", err)
	}
}
