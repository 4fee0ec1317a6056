// Package testsnap builds snapshots for the encoder tests and benchmarks.
// Only tests import it, so none of it reaches a shipped binary.
package testsnap

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// Gi and Ki are byte multipliers.
const (
	Ki = int64(1) << 10
	Gi = int64(1) << 30
)

// Node returns a node of the given shape; roles is any of "c", "e", "w".
func Node(arch, os, runtime, kubelet, roles string, millis, bytes int64) snapshot.Node {
	n := snapshot.Node{
		Arch: arch, OS: os, ContainerRuntimeVersion: runtime, KubeletVersion: kubelet,
		CPUMillis: millis, MemoryBytes: bytes,
	}
	for _, r := range roles {
		switch r {
		case 'c':
			n.ControlPlane = true
		case 'e':
			n.Etcd = true
		case 'w':
			n.Worker = true
		}
	}
	return n
}

// Cluster returns a cluster with the given nodes and its sums filled in
// from them, as the gatherer does.
func Cluster(name, version, driver, provider string, nodes ...snapshot.Node) snapshot.Cluster {
	c := snapshot.Cluster{
		Name: name, Upstream: name == snapshot.UpstreamClusterName,
		KubernetesVersion: version, Driver: driver, Provider: provider,
		CapacitySource: snapshot.FromNodes, Shapes: snapshot.ShapesOf(nodes),
		State: snapshot.StateReady,
	}
	for _, n := range nodes {
		c.CPUMillis += n.CPUMillis
		c.CPUCores += snapshot.CoresOf(n.CPUMillis)
		c.MemoryBytes += n.MemoryBytes
	}
	return c
}

// FromCluster returns a cluster with no Node objects whose figures come
// from its status.capacity.
func FromCluster(name, version, driver, provider string, millis, bytes int64) snapshot.Cluster {
	return snapshot.Cluster{
		Name: name, Upstream: name == snapshot.UpstreamClusterName,
		KubernetesVersion: version, Driver: driver, Provider: provider,
		CapacitySource: snapshot.FromCluster,
		CPUMillis:      millis, CPUCores: snapshot.CoresOf(millis), MemoryBytes: bytes,
		State: snapshot.StateReady,
	}
}

// Install is the install info of the sample installation.
func Install() snapshot.Install {
	return snapshot.Install{
		InstallUUID:       "0b5c5f0e-6d0a-4f7e-9a43-1c9f3f6f2a11",
		ClusterUUID:       "8d7f2b6a-3c51-4e0b-b8d2-5e4a9c1f7d20",
		Version:           "v2.12.1",
		GitCommit:         "4f3c2a1",
		ServerURL:         "https://rancher.example.com",
		Mode:              snapshot.ModeRancher,
		Features:          []string{"fleet", "harvester", "multi-cluster-management"},
		KubernetesVersion: "v1.32.4+rke2r1",
	}
}

// Sample is a small Rancher installation: the local cluster with 3 nodes
// (amd64, 3500m CPU, 15437428Ki memory), an RKE2 cluster with amd64 and
// arm64 nodes and one invalid node, an imported EKS cluster with a Windows
// node, and an AKS cluster with no Node objects but a status.capacity, which
// is upgrading. Every node is ready but one arm64 worker, and the invalid
// node's readiness is unknown. Two extensions were kept and one refused.
func Sample() *snapshot.Snapshot {
	s := sample()
	s.Clusters[2].State = snapshot.StateUpgrading
	for i := range s.Clusters {
		for _, n := range s.Clusters[i].Shapes {
			s.NodeStates.Add(snapshot.ReadinessReady, n.ControlPlane, n.Etcd, n.Worker, n.Count)
		}
	}
	s.NodeStates.Add(snapshot.ReadinessReady, false, false, true, -1)
	s.NodeStates.Add(snapshot.ReadinessNotReady, false, false, true, 1)
	s.NodeStates.Add(snapshot.ReadinessUnknown, false, false, false, 1)
	s.Extensions = []snapshot.Extension{{Key: "example.com/tier", Value: "gold"}, {Key: "team", Value: "platform"}}
	s.ExtensionsRefused = 1
	s.Events = SampleEvents()
	return s
}

// SampleEvents are the events the sample carries: a cluster created with
// three nodes, the AKS cluster's upgrade and a node pool grown, after two
// events the buffer dropped.
func SampleEvents() snapshot.Events {
	t := time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)
	return snapshot.Events{
		Items: []snapshot.Event{
			{Seq: 3, Time: t, Type: snapshot.ClusterCreated, ClusterID: "7f0c3b1e9a2d4c5b8e6f1a0b2c3d4e5f", ToVersion: "v1.31.9+rke2r1", ToNodes: 3},
			{Seq: 4, Time: t.Add(20 * time.Minute), Type: snapshot.ClusterUpgraded, ClusterID: "0b5e2d7c9f1a3e4d6c8b0a2f4e6d8c1a", FromVersion: "v1.30.9", ToVersion: "v1.31.5"},
			{Seq: 5, Time: t.Add(42 * time.Minute), Type: snapshot.NodePoolGrown, ClusterID: "7f0c3b1e9a2d4c5b8e6f1a0b2c3d4e5f", FromNodes: 3, ToNodes: 4},
		},
		Dropped:    2,
		LossWindow: 10 * time.Second,
	}
}

func sample() *snapshot.Snapshot {
	const (
		k3s  = "containerd://2.0.5-k3s1"
		rke2 = "containerd://1.7.27-k3s1"
		eks  = "containerd://1.7.25"
	)
	local := "v1.32.4+rke2r1"
	return &snapshot.Snapshot{
		Install: Install(),
		Clusters: []snapshot.Cluster{
			Cluster("c-5xz9q", "v1.30.11-eks-473151a", "EKS", "eks",
				Node("amd64", "linux", eks, "v1.30.11-eks-473151a", "w", 1500, 7680*1024*Ki),
				Node("amd64", "linux", eks, "v1.30.11-eks-473151a", "w", 1500, 7680*1024*Ki),
				Node("amd64", "windows", "containerd://1.7.20", "v1.30.11-eks-473151a", "w", 4000, 16*Gi),
			),
			func() snapshot.Cluster {
				c := Cluster("c-m-8kq2x7vd", "v1.31.9+rke2r1", "rke2", "rke2",
					Node("amd64", "linux", rke2, "v1.31.9+rke2r1", "ce", 2000, 8*Gi),
					Node("arm64", "linux", rke2, "v1.31.9+rke2r1", "w", 4000, 16*Gi),
					Node("arm64", "linux", rke2, "v1.31.9+rke2r1", "w", 4000, 16*Gi),
				)
				c.InvalidNodes = 1
				return c
			}(),
			FromCluster("c-q7w2e", "v1.31.5", "AKS", "aks", 8000, 32*Gi),
			Cluster("local", local, "imported", "rke2",
				Node("amd64", "linux", k3s, local, "cew", 3500, 15437428*Ki),
				Node("amd64", "linux", k3s, local, "cew", 3500, 15437428*Ki),
				Node("amd64", "linux", k3s, local, "cew", 3500, 15437428*Ki),
			),
		},
		Problems: []snapshot.Problem{{
			Object: "Node c-m-8kq2x7vd/m-7d9f2",
			Field:  "status.internalNodeStatus.capacity.cpu",
			Err:    errors.New("bad CPU format"),
		}},
	}
}

// NoLocal is an installation whose upstream cluster is not (yet) in the
// caches: only downstream clusters, and a pre-release version.
func NoLocal() *snapshot.Snapshot {
	s := Sample()
	s.Install.Version = "2.9.0-alpha4"
	s.Install.KubernetesVersion = ""
	s.Clusters = slices.DeleteFunc(s.Clusters, func(c snapshot.Cluster) bool { return c.Upstream })
	return s
}

// Empty is a plain Kubernetes installation whose caches hold no cluster.
func Empty() *snapshot.Snapshot {
	return &snapshot.Snapshot{Install: snapshot.Install{
		InstallUUID: "5e0a1c2d-7b3f-4a9e-8c6d-2f1e0d9c8b7a",
		ClusterUUID: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
		Version:     "v0.1.0+abc1234",
		Mode:        snapshot.ModeKubernetes,
	}}
}

// Large returns an installation of the given number of clusters (the first
// is local) and nodes. With distinct false every node has the same shape
// and every cluster the same version; with distinct true no two nodes have
// the same CPU and memory, node counts per cluster vary (some clusters have
// none and report a status.capacity), and clusters spread over 6
// Kubernetes versions, 3 architectures, 4 drivers and 5 providers, so the
// per-cluster list and the node profiles are as large as they get.
func Large(clusters, nodes int, distinct bool) *snapshot.Snapshot {
	versions := []string{"v1.28.15+rke2r1", "v1.29.14+rke2r1", "v1.30.11+k3s1", "v1.31.9+rke2r1", "v1.32.4+rke2r1", "v1.33.1+k3s1"}
	archs := []string{"amd64", "arm64", "s390x"}
	drivers := []string{"rke2", "k3s", "imported", "EKS"}
	providers := []string{"rke2", "k3s", "eks", "aks", "gke"}

	s := &snapshot.Snapshot{Install: Install()}
	s.Clusters = make([]snapshot.Cluster, clusters)
	for c := range s.Clusters {
		cl := &s.Clusters[c]
		cl.Name = fmt.Sprintf("c-m-%08d", c)
		cl.KubernetesVersion, cl.Driver, cl.Provider = versions[4], "rke2", "rke2"
		if distinct {
			cl.KubernetesVersion = versions[c%len(versions)]
			cl.Driver = drivers[c%len(drivers)]
			cl.Provider = providers[c%len(providers)]
		}
		if c == 0 {
			cl.Name, cl.Upstream = snapshot.UpstreamClusterName, true
		}
	}
	r := rand.New(rand.NewPCG(uint64(clusters), uint64(nodes))) // same snapshot every time
	members := make([][]snapshot.Node, clusters)
	for i := range nodes {
		c := i % clusters
		if distinct {
			c = r.IntN(clusters) // uneven: some clusters get none, some many
		}
		cl := &s.Clusters[c]
		n := Node("amd64", "linux", "containerd://1.7.27-k3s1", cl.KubernetesVersion, "w", 4000, 16*Gi)
		if distinct {
			n.Arch = archs[c%len(archs)]
			n.CPUMillis = 500 + int64(i%48)*1000
			n.MemoryBytes = Gi + int64(i)<<20
		}
		if len(members[c]) == 0 {
			n.ControlPlane, n.Etcd = true, true
		}
		members[c] = append(members[c], n)
	}
	for c := range s.Clusters {
		cl := &s.Clusters[c]
		if len(members[c]) == 0 {
			cl.CapacitySource = snapshot.FromCluster
			cl.CPUMillis = 2000 + int64(c)
			cl.CPUCores = snapshot.CoresOf(cl.CPUMillis)
			cl.MemoryBytes = 8*Gi + int64(c)
			continue
		}
		cl.CapacitySource = snapshot.FromNodes
		for _, n := range members[c] {
			cl.CPUMillis += n.CPUMillis
			cl.CPUCores += snapshot.CoresOf(n.CPUMillis)
			cl.MemoryBytes += n.MemoryBytes
		}
		cl.Shapes = snapshot.ShapesOf(members[c])
	}
	slices.SortFunc(s.Clusters, func(a, b snapshot.Cluster) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// Clone returns a deep copy of s.
func Clone(s *snapshot.Snapshot) *snapshot.Snapshot {
	out := *s
	out.Install.Features = slices.Clone(s.Install.Features)
	out.Problems = slices.Clone(s.Problems)
	out.Clusters = slices.Clone(s.Clusters)
	for i := range out.Clusters {
		out.Clusters[i].Shapes = slices.Clone(out.Clusters[i].Shapes)
	}
	return &out
}

// Shuffled returns a deep copy of s with clusters, node shapes and features
// in an order drawn from r.
func Shuffled(s *snapshot.Snapshot, r *rand.Rand) *snapshot.Snapshot {
	out := Clone(s)
	r.Shuffle(len(out.Install.Features), func(i, j int) {
		out.Install.Features[i], out.Install.Features[j] = out.Install.Features[j], out.Install.Features[i]
	})
	r.Shuffle(len(out.Clusters), func(i, j int) { out.Clusters[i], out.Clusters[j] = out.Clusters[j], out.Clusters[i] })
	for i := range out.Clusters {
		shapes := out.Clusters[i].Shapes
		r.Shuffle(len(shapes), func(a, b int) { shapes[a], shapes[b] = shapes[b], shapes[a] })
	}
	return out
}

// ChangeOne takes one node out of shape i of c, applies change to it and
// counts it as a shape of its own, so a test can change a single node of a
// shape that many nodes share.
func ChangeOne(c *snapshot.Cluster, i int, change func(n *snapshot.Node)) {
	n := c.Shapes[i].Node
	change(&n)
	c.Shapes[i].Count--
	if c.Shapes[i].Count == 0 {
		c.Shapes = slices.Delete(c.Shapes, i, i+1)
	}
	c.Shapes = append(c.Shapes, snapshot.Shape{Node: n, Count: 1})
	snapshot.SortShapes(c.Shapes)
}
