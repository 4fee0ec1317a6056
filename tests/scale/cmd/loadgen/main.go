// Command loadgen fills an API server with Rancher-shaped
// management.cattle.io/v3 Clusters, Nodes and Settings, or makes one
// status-only heartbeat update of every Node.
//
//	go run ./tests/scale/cmd/loadgen --kubeconfig K --nodes 20000 --clusters 200 --shapes distinct
//	go run ./tests/scale/cmd/loadgen --kubeconfig K --heartbeats
//
// The stand-in CRDs of tests/crds must be installed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/rancher/telemetry-manager/tests/scale/loadgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		kubeconfig = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file of the API server to fill")
		nodes      = flag.Int("nodes", 20000, "number of v3 Nodes")
		clusters   = flag.Int("clusters", 200, "number of v3 Clusters the nodes are spread over")
		shapes     = flag.String("shapes", string(loadgen.Uniform), "node shapes: uniform or distinct")
		workers    = flag.Int("workers", loadgen.DefaultWorkers, "requests in flight at once")
		heartbeats = flag.Bool("heartbeats", false, "load nothing; make one status-only update (heartbeat time) of every Node")
	)
	flag.Parse()
	s, err := loadgen.ParseShapes(*shapes)
	if err != nil {
		return err
	}
	cfg := loadgen.Config{Clusters: *clusters, Nodes: *nodes, Shapes: s, Workers: *workers, Progress: logf}
	if err := cfg.Validate(); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %q: %w", *kubeconfig, err)
	}
	cl, err := loadgen.NewClient(rc)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *heartbeats {
		_, err := cl.Heartbeats(ctx, *workers, time.Now(), logf)
		return err
	}
	return cl.Load(ctx, cfg)
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
