//go:build linux

package cli

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// envPeakChild names the file that the test binary, started again by
// BenchmarkLoadPeakMemory, loads and exits.
const envPeakChild = "TELEMETRY_LOAD_PEAK_FILE"

func TestMain(m *testing.M) {
	if path := os.Getenv(envPeakChild); path != "" {
		d, err := LoadFile(path, DefaultLoadOptions())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_, nodes, _ := d.Counts()
		fmt.Println(nodes)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkLoadPeakMemory loads a generated 200 MB List in a process of
// its own and reports that process's peak RSS beside the input's size.
func BenchmarkLoadPeakMemory(b *testing.B) {
	const size = 200 << 20
	for _, format := range []string{"yaml", "json"} {
		b.Run("list-200MiB-"+format, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "list."+format)
			written := writeList(b, path, format, size)
			var peak int64
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), envPeakChild+"="+path)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("loading %s: %v\n%s", path, err, out)
				}
				ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				if !ok {
					b.Skip("no rusage")
				}
				peak = max(peak, ru.Maxrss<<10) // KiB on Linux
			}
			b.ReportMetric(float64(written), "bytes/input")
			b.ReportMetric(float64(peak), "bytes/peak-rss")
			b.ReportMetric(100*float64(peak)/float64(written), "peak-rss-%-of-input")
		})
	}
}

// writeList writes a List of v3 Nodes, shaped like kubectl's output, of
// about size bytes, and returns its size.
func writeList(b *testing.B, path, format string, size int64) int64 {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var n int64
	write := func(s string) {
		k, _ := w.WriteString(s)
		n += int64(k)
	}
	images := ""
	for i := 0; i < 12; i++ {
		if format == "yaml" {
			images += fmt.Sprintf("      - names:\n        - registry.example.com/library/image-%d@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n        sizeBytes: %d\n", i, 1000000+i)
		} else {
			if i > 0 {
				images += ","
			}
			images += fmt.Sprintf(`{"names":["registry.example.com/library/image-%d@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"],"sizeBytes":%d}`, i, 1000000+i)
		}
	}
	if format == "yaml" {
		write("apiVersion: v1\nitems:\n")
	} else {
		write(`{"apiVersion":"v1","items":[`)
	}
	for i := 0; n < size; i++ {
		cluster := fmt.Sprintf("c-m-%08d", i/100)
		if format == "yaml" {
			write(fmt.Sprintf(`- apiVersion: management.cattle.io/v3
  kind: Node
  metadata:
    name: machine-%d
    namespace: %s
    labels:
      cattle.io/creator: norman
  spec:
    controlPlane: false
    etcd: false
    worker: true
    requestedHostname: machine-%d
  status:
    nodeName: machine-%d
    internalNodeStatus:
      capacity: {cpu: "8", memory: 32Gi, pods: "110"}
      allocatable: {cpu: "8", memory: 31Gi, pods: "110"}
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        osImage: SUSE Linux Enterprise Server 15 SP6
        kernelVersion: 6.4.0-150600.23.25-default
        containerRuntimeVersion: containerd://1.7.23-k3s2
        kubeletVersion: v1.31.6+rke2r1
      images:
%s`, i, cluster, i, i, images))
		} else {
			if i > 0 {
				write(",")
			}
			write(fmt.Sprintf(`{"apiVersion":"management.cattle.io/v3","kind":"Node","metadata":{"name":"machine-%d","namespace":"%s","labels":{"cattle.io/creator":"norman"}},"spec":{"controlPlane":false,"etcd":false,"worker":true,"requestedHostname":"machine-%d"},"status":{"nodeName":"machine-%d","internalNodeStatus":{"capacity":{"cpu":"8","memory":"32Gi","pods":"110"},"allocatable":{"cpu":"8","memory":"31Gi","pods":"110"},"nodeInfo":{"architecture":"amd64","operatingSystem":"linux","osImage":"SUSE Linux Enterprise Server 15 SP6","kernelVersion":"6.4.0-150600.23.25-default","containerRuntimeVersion":"containerd://1.7.23-k3s2","kubeletVersion":"v1.31.6+rke2r1"},"images":[%s]}}}`, i, cluster, i, i, images))
		}
	}
	if format == "yaml" {
		write("kind: List\nmetadata:\n  resourceVersion: \"\"\n")
	} else {
		write(`],"kind":"List","metadata":{"resourceVersion":""}}`)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}
