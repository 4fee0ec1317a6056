package cli

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

func samplePath(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "tests", "testdata", "sample-installation.yaml")
}

func TestLoadFileReadsList(t *testing.T) {
	s, err := LoadFile(samplePath(t))
	if err != nil {
		t.Fatal(err)
	}
	clusters, nodes, core := s.Counts()
	if clusters != 4 || nodes != 10 || core != 0 || s.KubeSystem == nil {
		t.Fatalf("counts = %d clusters, %d nodes, %d core nodes, kube-system %v", clusters, nodes, core, s.KubeSystem != nil)
	}
}

func TestLoadReadsSeveralDocumentsAndSkipsOtherKinds(t *testing.T) {
	in := `apiVersion: v1
kind: Node
metadata: {name: a}
status: {capacity: {cpu: "2", memory: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ignored}
---
apiVersion: v1
kind: Node
metadata: {name: b}
`
	s, err := Load("nodes.yaml", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, core := s.Counts(); core != 2 {
		t.Fatalf("core nodes = %d, want 2", core)
	}
	g := s.Config(snapshot.ModeKubernetes, snapshot.Install{InstallUUID: "u"})
	if g.CoreNodes == nil {
		t.Fatal("no core node cache")
	}
}

func TestLoadErrorsNameFileDocumentAndObject(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{name: "bad yaml", in: "kind: [", want: []string{"in.yaml", "document 1"}},
		{name: "bad field", in: "apiVersion: management.cattle.io/v3\nkind: Cluster\nmetadata: {name: c-1, labels: 5}\n", want: []string{"in.yaml", "document 1", "Cluster c-1"}},
		{name: "no name", in: "apiVersion: management.cattle.io/v3\nkind: Setting\nmetadata: {}\n", want: []string{"in.yaml", "Setting", "metadata.name"}},
		{name: "bad list item", in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: node-1}\n  spec: {unschedulable: 3}\n", want: []string{"item 0", "Node node-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("in.yaml", strings.NewReader(tt.in))
			if !errors.Is(err, ErrInput) {
				t.Fatalf("error = %v, want ErrInput", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
