package schemadoc_test

import (
	"bytes"
	"strings"
	"testing"
)

// edit returns doc with each old replaced by its new, failing t when old
// is not in doc.
func edit(t *testing.T, doc []byte, pairs ...string) []byte {
	t.Helper()
	s := string(doc)
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%q not in the document", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return []byte(s)
}

func diff(t *testing.T, format string, old, new []byte) (string, int) {
	t.Helper()
	var out bytes.Buffer
	n, err := schemaOf(t, format).Diff(&out, old, new)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), n
}

func TestDiffOfEqualPayloadsIsEmpty(t *testing.T) {
	for _, format := range []string{"report", "scc"} {
		sample := samplePayload(t, format)
		out, n := diff(t, format, sample, sample)
		if n != 0 || out != "no differences\n" {
			t.Errorf("%s: Diff of a payload with itself = %d, %q", format, n, out)
		}
	}
}

const (
	firstCluster = `{"id":"3b743070a96c7301c5dfed73096ccd7d","upstream":false,"kubernetesVersion":"v1.31.5","driver":"AKS","provider":"aks","capacitySource":"cluster","nodes":0,"invalidNodes":0,"roles":{"controlPlane":0,"etcd":0,"worker":0},"cpuCores":8,"cpuMillicores":8000,"memoryBytes":34359738368}`
	newCluster   = `{"id":"ffff3070a96c7301c5dfed73096ccd7d","upstream":false,"kubernetesVersion":"v1.31.5","driver":"AKS","provider":"aks","capacitySource":"cluster","nodes":0,"invalidNodes":0,"roles":{"controlPlane":0,"etcd":0,"worker":0},"cpuCores":8,"cpuMillicores":8000,"memoryBytes":34359738368}`
)

func TestDiffListsChanges(t *testing.T) {
	sample := samplePayload(t, "report")
	for _, tt := range []struct {
		name  string
		new   []byte
		count int
		want  []string
	}{
		{
			name:  "a changed total",
			new:   edit(t, sample, `"nodes": 9,`, `"nodes": 10,`),
			count: 1,
			want:  []string{"~ totals.nodes: 9 -> 10\n"},
		},
		{
			name:  "an added and a removed cluster",
			new:   edit(t, sample, firstCluster, newCluster, `"clusters": 4,`, `"clusters": 4,`),
			count: 2,
			want: []string{
				"  clusters: 4 -> 4 elements: 1 added, 1 removed, 0 changed\n",
				"+ clusters[id=ffff3070a96c7301c5dfed73096ccd7d]: " + newCluster + "\n",
				"- clusters[id=3b743070a96c7301c5dfed73096ccd7d]: " + firstCluster + "\n",
			},
		},
		{
			name:  "a changed cluster",
			new:   edit(t, sample, `"cpuCores":8,"cpuMillicores":8000`, `"cpuCores":9,"cpuMillicores":8500`),
			count: 2,
			want: []string{
				"  clusters: 4 -> 4 elements: 0 added, 0 removed, 1 changed\n",
				"~ clusters[id=3b743070a96c7301c5dfed73096ccd7d].cpuCores: 8 -> 9\n",
				"~ clusters[id=3b743070a96c7301c5dfed73096ccd7d].cpuMillicores: 8000 -> 8500\n",
			},
		},
		{
			name:  "a changed profile count",
			new:   edit(t, sample, `"role":"worker","upstream":false,"count":2}`, `"role":"worker","upstream":false,"count":5}`),
			count: 1,
			want: []string{
				"  nodeProfiles: 5 -> 5 elements: 0 added, 0 removed, 1 changed\n",
				"~ nodeProfiles[arch=amd64,os=linux,runtime=containerd,kubeletMinor=v1.30,cpuCores=2,memoryMiB=7680,role=worker,upstream=false].count: 2 -> 5\n",
			},
		},
		{
			name:  "a removed feature flag",
			new:   edit(t, sample, `"harvester",`, ``),
			count: 1,
			want:  []string{"- install.features: \"harvester\"\n"},
		},
		{
			name:  "a member only in the new payload",
			new:   edit(t, sample, `"otherValues": {}`, `"otherValues": {"node.arch": 2}`),
			count: 1,
			want:  []string{"+ otherValues[\"node.arch\"]: 2\n"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, n := diff(t, "report", sample, tt.new)
			if n != tt.count {
				t.Errorf("Diff = %d differences, want %d:\n%s", n, tt.count, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("Diff output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestDiffShowsButDoesNotCountTheTimestamp(t *testing.T) {
	sample := samplePayload(t, "scc")
	out, n := diff(t, "scc", sample, edit(t, sample, `"2025-06-01T12:30:00Z"`, `"2025-06-02T12:30:00Z"`))
	if n != 0 || !strings.Contains(out, `timestamp: "2025-06-01T12:30:00Z" -> "2025-06-02T12:30:00Z" (not counted`) {
		t.Errorf("Diff = %d:\n%s", n, out)
	}
}

func TestDiffKeysSCCListsByShape(t *testing.T) {
	sample := samplePayload(t, "scc")
	out, n := diff(t, "scc", sample, edit(t, sample,
		`{"count":2,"nodes":3,"upstream":false}`, `{"count":1,"nodes":3,"upstream":false},{"count":1,"nodes":5,"upstream":false}`))
	for _, w := range []string{
		"  managedClusters: 3 -> 4 elements: 1 added, 0 removed, 1 changed\n",
		"~ managedClusters[nodes=3,upstream=false].count: 2 -> 1\n",
		"+ managedClusters[nodes=5,upstream=false]: {\"count\":1,\"nodes\":5,\"upstream\":false}\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("Diff output lacks %q:\n%s", w, out)
		}
	}
	if n != 2 {
		t.Errorf("Diff = %d differences, want 2", n)
	}
}

func TestDiffKeysClusterGroupsByWhatTheyGroup(t *testing.T) {
	old := []byte(`{"clusterGroups": [{"upstream":false,"kubernetesVersion":"v1.31.5","driver":"EKS","provider":"eks","nodesMin":2,"nodesMax":3,"count":4,"nodes":10}]}`)
	new := edit(t, old, `"count":4,"nodes":10`, `"count":5,"nodes":13`)
	out, n := diff(t, "report", old, new)
	want := "~ clusterGroups[upstream=false,kubernetesVersion=v1.31.5,driver=EKS,provider=eks,nodesMin=2,nodesMax=3].count: 4 -> 5\n"
	if n != 2 || !strings.Contains(out, want) {
		t.Errorf("Diff = %d, want 2 with %q:\n%s", n, want, out)
	}
}
