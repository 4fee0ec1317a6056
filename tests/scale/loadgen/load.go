package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
)

// Config says what to load.
type Config struct {
	// Clusters is the number of v3 Clusters; nodes are spread over them.
	Clusters int
	// Nodes is the number of v3 Nodes.
	Nodes int
	// Shapes says whether the nodes look alike.
	Shapes Shapes
	// Workers is how many requests are in flight at once.
	Workers int
	// Progress, when set, is called now and then with what is done.
	Progress func(format string, args ...any)
}

// Defaults of Config and of the client configuration.
const (
	DefaultWorkers = 16
	// QPS and Burst of the clients: high enough that the API server, not the
	// client's rate limiter, sets the pace.
	QPS   = 5000
	Burst = 5000
	// listPage is the page size of the list that Heartbeats walks.
	listPage = 500
)

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Clusters < 1 {
		errs = append(errs, fmt.Errorf("clusters %d: at least 1: %w", c.Clusters, ErrCounts))
	}
	if c.Nodes < 0 {
		errs = append(errs, fmt.Errorf("nodes %d: not negative: %w", c.Nodes, ErrCounts))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d: at least 1: %w", c.Workers, ErrCounts))
	}
	if _, err := ParseShapes(string(c.Shapes)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Client writes the objects.
type Client struct {
	Dynamic dynamic.Interface
	Kube    kubernetes.Interface
}

// NewClient returns a Client for cfg with QPS and Burst raised.
func NewClient(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = QPS, Burst
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{Dynamic: dyn, Kube: kube}, nil
}

// Load creates the Settings, the Clusters (each with its namespace) and the
// Nodes of c, statuses written through the status subresource. Objects that
// exist already are left as they are, so a second Load of the same Config
// is cheap.
func (cl *Client) Load(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	progress := c.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	began := time.Now()
	for _, s := range Settings() {
		if _, err := cl.create(ctx, cl.Dynamic.Resource(SettingsResource), s, false); err != nil {
			return err
		}
	}
	err := pool(ctx, c.Workers, c.Clusters, func(ctx context.Context, i int) error {
		name := ClusterName(i)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := cl.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
		_, err := cl.create(ctx, cl.Dynamic.Resource(ClustersResource), Cluster(i), true)
		return err
	})
	if err != nil {
		return err
	}
	progress("loadgen: %d clusters after %v", c.Clusters, time.Since(began).Round(time.Millisecond))
	var done atomic.Int64
	step := max(c.Nodes/10, 1)
	err = pool(ctx, c.Workers, c.Nodes, func(ctx context.Context, i int) error {
		cluster := ClusterOf(i, c.Clusters)
		r := cl.Dynamic.Resource(NodesResource).Namespace(ClusterName(cluster))
		if _, err := cl.create(ctx, r, Node(i, cluster, c.Shapes), true); err != nil {
			return err
		}
		if n := done.Add(1); n%int64(step) == 0 {
			progress("loadgen: %d/%d nodes after %v", n, c.Nodes, time.Since(began).Round(time.Millisecond))
		}
		return nil
	})
	if err != nil {
		return err
	}
	progress("loadgen: loaded %d clusters and %d nodes (%s) in %v", c.Clusters, c.Nodes, c.Shapes, time.Since(began).Round(time.Millisecond))
	return nil
}

// create creates o; with withStatus it then writes o's status through the
// status subresource (the create drops it). An existing object is kept.
func (cl *Client) create(ctx context.Context, r dynamic.ResourceInterface, o *unstructured.Unstructured, withStatus bool) (bool, error) {
	status := o.Object["status"]
	got, err := r.Create(ctx, o, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating %s %s: %w", o.GetKind(), objectKey(o), err)
	}
	if !withStatus || status == nil {
		return true, nil
	}
	got.Object["status"] = status
	if _, err := r.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("writing status of %s %s: %w", o.GetKind(), objectKey(o), err)
	}
	return true, nil
}

func objectKey(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// Heartbeats makes one status-only update of every v3 Node: it rewrites the
// heartbeat time (Heartbeat) to t and writes the status back through the
// status subresource, retrying on conflict. It returns the number of nodes
// updated.
func (cl *Client) Heartbeats(ctx context.Context, workers int, t time.Time, progress func(string, ...any)) (int, error) {
	if workers < 1 {
		return 0, fmt.Errorf("workers %d: at least 1: %w", workers, ErrCounts)
	}
	if progress == nil {
		progress = func(string, ...any) {}
	}
	began := time.Now()
	all := cl.Dynamic.Resource(NodesResource)
	work := make(chan *unstructured.Unstructured, workers*2)
	var (
		updated  atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				if err := cl.heartbeat(ctx, n, t); err != nil {
					fail(err)
					continue
				}
				updated.Add(1)
			}
		}()
	}
	cont := ""
	for page := 0; ; page++ {
		l, err := all.List(ctx, metav1.ListOptions{Limit: listPage, Continue: cont})
		if next, ok := expiredContinue(err); ok && cont != "" {
			// The round outlived etcd's compaction window: go on from
			// where it was, with the token the refusal carries. Each
			// node is still visited once.
			cont = next
			page--
			continue
		}
		if err != nil {
			fail(fmt.Errorf("listing nodes: %w", err))
			break
		}
		stop := false
		for i := range l.Items {
			select {
			case work <- &l.Items[i]:
			case <-ctx.Done():
				stop = true
			}
			if stop {
				break
			}
		}
		if (page+1)%10 == 0 {
			progress("loadgen: heartbeats queued for %d nodes after %v", (page+1)*listPage, time.Since(began).Round(time.Millisecond))
		}
		cont = l.GetContinue()
		if stop || cont == "" {
			break
		}
	}
	close(work)
	wg.Wait()
	n := int(updated.Load())
	if firstErr != nil {
		return n, firstErr
	}
	progress("loadgen: %d heartbeats in %v", n, time.Since(began).Round(time.Millisecond))
	return n, nil
}

func (cl *Client) heartbeat(ctx context.Context, n *unstructured.Unstructured, t time.Time) error {
	r := cl.Dynamic.Resource(NodesResource).Namespace(n.GetNamespace())
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			cur, err := r.Get(ctx, n.GetName(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			n = cur
		}
		first = false
		if err := Heartbeat(n, t); err != nil {
			return err
		}
		_, err := r.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("heartbeat of node %s: %w", objectKey(n), err)
	}
	return nil
}

// pool runs f for 0..n-1 on workers goroutines and returns the first error;
// the first error cancels the rest.
func pool(ctx context.Context, workers, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idx := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, max(n, 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if err := f(ctx, i); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// expiredContinue returns the continue token that a 410 Gone answer to an
// expired one carries, to list the rest inconsistently.
func expiredContinue(err error) (string, bool) {
	var st apierrors.APIStatus
	if !apierrors.IsResourceExpired(err) || !errors.As(err, &st) {
		return "", false
	}
	next := st.Status().ListMeta.Continue
	return next, next != ""
}

// AddNode creates Node(i, cluster, s) with its status, as Load does. It
// reports whether the node was created (false: it existed already).
func (cl *Client) AddNode(ctx context.Context, i, cluster int, s Shapes) (bool, error) {
	r := cl.Dynamic.Resource(NodesResource).Namespace(ClusterName(cluster))
	return cl.create(ctx, r, Node(i, cluster, s), true)
}

// DeleteNode deletes the node of index i in cluster, then removes its
// finalizer as Rancher's node controller does once the node is cleaned up,
// so the object goes away. A node that is gone already is not an error.
func (cl *Client) DeleteNode(ctx context.Context, i, cluster int) error {
	r := cl.Dynamic.Resource(NodesResource).Namespace(ClusterName(cluster))
	err := r.Delete(ctx, NodeName(i), metav1.DeleteOptions{})
	if err == nil {
		_, err = r.Patch(ctx, NodeName(i), types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting node %s/%s: %w", ClusterName(cluster), NodeName(i), err)
	}
	return nil
}

// HeartbeatNode makes one status-only update of node n, as Heartbeats does
// for every node.
func (cl *Client) HeartbeatNode(ctx context.Context, n *unstructured.Unstructured, t time.Time) error {
	return cl.heartbeat(ctx, n, t)
}
