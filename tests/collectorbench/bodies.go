package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rancher/telemetry-manager/pkg/encoding/report"
	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/pkg/snapshot"
)

// The installation every report describes: benchClusters clusters holding
// benchNodes nodes, as the brief's "realistic" report has.
const (
	benchClusters = 20
	benchNodes    = 200
	gi            = int64(1) << 30
	// varieties is how many report sizes the bodies cycle through.
	varieties = 4
)

// body is one report request, built before any timed loop: the payload
// compressed as the http exporter sends it, its Idempotency-Key, and a
// signature made just before the phase that sends it.
type body struct {
	gz        []byte
	key       string
	signature string
	jsonBytes int
}

// installUUID returns the install UUID of report i: every report comes from
// its own install, so none is a duplicate and none is rate limited.
func installUUID(i int) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(i), uint16(i>>32), 0xbe0, 0xbe0, uint64(i)*0x9e3779b9&0xffffffffffff)
}

// installation returns a Rancher installation of benchClusters clusters and
// benchNodes nodes. variety (0 to 3) sets how many distinct node shapes it
// has, and so the report's size: 0 gives node pools of identical machines
// (about 10 KB of JSON), 3 a machine of its own per node (about 40 KB).
func installation(uuid string, variety int) *snapshot.Snapshot {
	versions := []string{"v1.30.11+rke2r1", "v1.31.9+rke2r1", "v1.32.4+rke2r1", "v1.31.5+k3s1", "v1.30.11-eks-473151a"}
	drivers := []string{"rke2", "rke2", "rke2", "k3s", "EKS"}
	providers := []string{"rke2", "rke2", "rke2", "k3s", "eks"}
	runtimes := []string{"containerd://1.7.27-k3s1", "containerd://1.7.27-k3s1", "containerd://1.7.27-k3s1", "containerd://2.0.5-k3s1", "containerd://1.7.25"}
	archs := []string{"amd64", "amd64", "arm64"}
	s := &snapshot.Snapshot{Install: snapshot.Install{
		InstallUUID:       uuid,
		ClusterUUID:       "8d7f2b6a-3c51-4e0b-b8d2-5e4a9c1f7d20",
		Version:           "v2.12.1",
		GitCommit:         "4f3c2a1",
		ServerURL:         "https://rancher.example.com",
		Mode:              snapshot.ModeRancher,
		Features:          []string{"fleet", "harvester", "multi-cluster-management"},
		KubernetesVersion: "v1.32.4+rke2r1",
	}}
	perCluster := benchNodes / benchClusters
	for c := range benchClusters {
		k := c % len(versions)
		cl := snapshot.Cluster{
			Name: fmt.Sprintf("c-m-%08x", c), KubernetesVersion: versions[k],
			Driver: drivers[k], Provider: providers[k], CapacitySource: snapshot.FromNodes,
		}
		if c == 0 {
			cl.Name, cl.Upstream, cl.Driver = snapshot.UpstreamClusterName, true, "imported"
		}
		nodes := make([]snapshot.Node, perCluster)
		for i := range nodes {
			n := snapshot.Node{
				Arch: archs[(c+i)%len(archs)], OS: "linux", ContainerRuntimeVersion: runtimes[k],
				KubeletVersion: versions[k], Worker: true, CPUMillis: 4000, MemoryBytes: 16 * gi,
			}
			if i < 3 {
				n.ControlPlane, n.Etcd, n.Worker = true, true, false
				n.CPUMillis, n.MemoryBytes = 2000, 8*gi
			}
			switch variety {
			case 1: // a few pool sizes per cluster
				n.CPUMillis += int64(i%3) * 4000
				n.MemoryBytes += int64(i%3) * 16 * gi
			case 2: // pools differing by cluster too
				n.CPUMillis += int64(i%4)*2000 + int64(c%3)*1000
				n.MemoryBytes += int64(i%4)*8*gi + int64(c)<<30
			case 3: // every machine different
				n.CPUMillis += int64((c*perCluster+i)%48) * 1000
				n.MemoryBytes += int64(c*perCluster+i) << 26
			}
			nodes[i] = n
		}
		for _, n := range nodes {
			cl.CPUMillis += n.CPUMillis
			cl.CPUCores += snapshot.CoresOf(n.CPUMillis)
			cl.MemoryBytes += n.MemoryBytes
		}
		cl.Shapes = snapshot.ShapesOf(nodes)
		s.Clusters = append(s.Clusters, cl)
	}
	slices.SortFunc(s.Clusters, func(a, b snapshot.Cluster) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// buildBodies returns n distinct reports. The report encoder encodes one
// installation of each variety; each report is one of them with its own
// install UUID written in place (UUIDs have one length), compressed as the
// http exporter does. The work is spread over workers goroutines.
func buildBodies(n, workers int) ([]body, error) {
	enc := report.New([]byte("collector-bench-cluster-id-key"))
	const templateUUID = "00000000-0000-4000-8000-000000000000"
	var templates [varieties][]byte
	var at [varieties]int
	for v := range templates {
		payload, err := enc.Encode(installation(templateUUID, v), time.Time{})
		if err != nil {
			return nil, fmt.Errorf("encoding the report of variety %d: %w", v, err)
		}
		if c := bytes.Count(payload, []byte(templateUUID)); c != 1 {
			return nil, fmt.Errorf("the report of variety %d holds its install UUID %d times, want once", v, c)
		}
		templates[v], at[v] = payload, bytes.Index(payload, []byte(templateUUID))
	}
	out := make([]body, n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			for i := w; i < n; i += workers {
				v := i % varieties
				payload := bytes.Clone(templates[v])
				copy(payload[at[v]:], installUUID(i))
				buf.Reset()
				zw.Reset(&buf)
				_, err := zw.Write(payload)
				if err == nil {
					err = zw.Close()
				}
				if err != nil {
					errs[w] = fmt.Errorf("compressing report %d: %w", i, err)
					return
				}
				out[i] = body{gz: bytes.Clone(buf.Bytes()), key: protocol.IdempotencyKey(payload), jsonBytes: len(payload)}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// sign signs every body as sent at now with key.
func sign(bodies []body, now time.Time, key []byte) {
	for i := range bodies {
		bodies[i].signature = protocol.Sign(now, bodies[i].gz, key)
	}
}
