package gatherer

import (
	"fmt"
	"reflect"
	"testing"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// censusLog records what the gatherer tells its Census.
type censusLog []string

func (c *censusLog) Observe(name string, present bool, version string, nodes int) {
	*c = append(*c, fmt.Sprintf("%s %v %s %d", name, present, version, nodes))
}

func fedWithCensus(t *testing.T, mode snapshot.Mode) (*fed, *censusLog) {
	t.Helper()
	f := newFed(t, mode)
	c := &censusLog{}
	f.cfg.Census = c
	return f, c
}

// TestCensusFollowsClustersAndNodeCounts: each change of a cluster's
// record or node count tells the census what the cluster is now; a
// heartbeat tells it nothing.
func TestCensusFollowsClustersAndNodeCounts(t *testing.T) {
	f, got := fedWithCensus(t, snapshot.ModeRancher)
	c := cluster("c-1", "v1.30.1", "rke2", v3.ResourceList{})
	f.add(c)
	n1 := node("c-1", "m-1", "amd64", "4", "8Gi", "worker")
	n2 := node("c-1", "m-2", "amd64", "4", "8Gi", "worker")
	orphan := node("c-9", "m-1", "amd64", "4", "8Gi", "worker")
	f.add(n1, n2, orphan)
	f.update(n1, withRV(node("c-1", "m-1", "amd64", "4", "8Gi", "worker"), "7")) // a heartbeat
	up := cluster("c-1", "v1.31.0", "rke2", v3.ResourceList{})
	f.update(c, up)
	f.remove(n2)
	f.remove(up)
	want := censusLog{
		"c-1 true v1.30.1 0",
		"c-1 true v1.30.1 1",
		"c-1 true v1.30.1 2",
		"c-9 false  1",
		"c-1 true v1.31.0 2",
		"c-1 true v1.31.0 1",
		"c-1 false  1",
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("census told\n%q\nwant\n%q", *got, want)
	}
}

func TestCensusInKubernetesMode(t *testing.T) {
	f, got := fedWithCensus(t, snapshot.ModeKubernetes)
	f.SetKubernetesVersion("v1.32.4")
	a := coreNodeObj("a", "2", "4Gi", LabelWorker)
	f.add(a)
	f.SetKubernetesVersion("v1.33.0")
	f.SetKubernetesVersion("v1.33.0") // unchanged: nothing
	f.remove(a)
	want := censusLog{"local true v1.32.4 0", "local true v1.32.4 1", "local true v1.33.0 1", "local true v1.33.0 0"}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("census told\n%q\nwant\n%q", *got, want)
	}
}
