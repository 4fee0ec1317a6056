// Command plaininformer is the baseline of the scale bench: a plain
// client-go dynamic informer on management.cattle.io/v3 nodes and clusters
// that caches the objects whole, as a controller does that takes no care of
// what it keeps.
//
// It prints one line "synced SECONDS" on standard output once both caches
// have synced, then answers each line "stats" on standard input with one
// line of JSON (Stats). It exits at SIGTERM, SIGINT or the end of standard
// input.
//
//	go run ./tests/scale/plaininformer --kubeconfig K
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rancher/telemetry-manager/tests/scale/loadgen"
)

// Stats is what "stats" answers.
type Stats struct {
	// Nodes and Clusters are the objects in the caches.
	Nodes    int `json:"nodes"`
	Clusters int `json:"clusters"`
	// NodeUpdates counts update events of nodes since the caches synced.
	NodeUpdates int64 `json:"nodeUpdates"`
	// HeapInuseBytes is runtime.MemStats.HeapInuse, the figure Prometheus'
	// Go collector exports as go_memstats_heap_inuse_bytes.
	HeapInuseBytes uint64 `json:"heapInuseBytes"`
	// RSSBytes is VmRSS of /proc/self/status.
	RSSBytes uint64 `json:"rssBytes"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "plaininformer:", err)
		os.Exit(1)
	}
}

func run() error {
	began := time.Now()
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %q: %w", *kubeconfig, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	f := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	nodes := f.ForResource(loadgen.NodesResource).Informer()
	clusters := f.ForResource(loadgen.ClustersResource).Informer()
	var synced atomic.Bool
	var updates atomic.Int64
	if _, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, _ any) {
			if synced.Load() {
				updates.Add(1)
			}
		},
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), nodes.HasSynced, clusters.HasSynced) {
		return fmt.Errorf("caches of nodes and clusters did not sync: %w", context.Cause(ctx))
	}
	synced.Store(true)
	fmt.Printf("synced %.3f\n", time.Since(began).Seconds())

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			f.Shutdown()
			return nil
		case l, ok := <-lines:
			if !ok {
				stop()
				continue
			}
			if strings.TrimSpace(l) != "stats" {
				fmt.Fprintf(os.Stderr, "plaininformer: unknown command %q (valid: stats)\n", l)
				continue
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			s := Stats{
				Nodes:          len(nodes.GetStore().ListKeys()),
				Clusters:       len(clusters.GetStore().ListKeys()),
				NodeUpdates:    updates.Load(),
				HeapInuseBytes: ms.HeapInuse,
				RSSBytes:       rss(),
			}
			b, err := json.Marshal(s)
			if err != nil {
				return err
			}
			fmt.Println(string(b))
		}
	}
}

// rss returns VmRSS of /proc/self/status in bytes, 0 when it cannot be read.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
