package sources

import (
	"fmt"
	"sync"
	"time"

	"github.com/rancher/lasso/pkg/client"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
)

// rancherClients is lasso's client factory, except that the clients of the
// management.cattle.io kinds share a REST client that decodes with
// v3.NewCodecs: the one-pass decoder of the lenient types, which reads a
// Rancher node and its watch event once instead of several times over.
// Every other kind keeps lasso's client and the stock codecs.
type rancherClients struct {
	client.SharedClientFactory
	rest    rest.Interface
	config  rest.Config
	timeout time.Duration

	mu      sync.Mutex
	clients map[schema.GroupVersionResource]*client.Client
}

// newRancherClients wraps stock, built from cfg and scheme. Like lasso, it
// moves cfg's timeout from the REST client to each request.
func newRancherClients(stock client.SharedClientFactory, cfg *rest.Config, scheme *runtime.Scheme) (*rancherClients, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.NegotiatedSerializer = v3.NewCodecs(scheme)
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	timeout := cfg.Timeout
	cfg.Timeout = 0
	rc, err := rest.UnversionedRESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the REST client of %s: %w", v3.GroupName, err)
	}
	return &rancherClients{
		SharedClientFactory: stock,
		rest:                rc,
		config:              *cfg,
		timeout:             timeout,
		clients:             map[schema.GroupVersionResource]*client.Client{},
	}, nil
}

func (f *rancherClients) ForKind(gvk schema.GroupVersionKind) (*client.Client, error) {
	if gvk.Group != v3.GroupName {
		return f.SharedClientFactory.ForKind(gvk)
	}
	gvr, namespaced, err := f.ResourceForGVK(gvk)
	if err != nil {
		return nil, err
	}
	return f.ForResourceKind(gvr, gvk.Kind, namespaced), nil
}

func (f *rancherClients) ForResource(gvr schema.GroupVersionResource, namespaced bool) (*client.Client, error) {
	if gvr.Group != v3.GroupName {
		return f.SharedClientFactory.ForResource(gvr, namespaced)
	}
	gvk, err := f.GVKForResource(gvr)
	if err != nil {
		return nil, err
	}
	return f.ForResourceKind(gvr, gvk.Kind, namespaced), nil
}

func (f *rancherClients) ForResourceKind(gvr schema.GroupVersionResource, kind string, namespaced bool) *client.Client {
	if gvr.Group != v3.GroupName {
		return f.SharedClientFactory.ForResourceKind(gvr, kind, namespaced)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.clients[gvr]; c != nil {
		return c
	}
	c := client.NewClient(gvr, kind, namespaced, f.rest, f.timeout)
	c.Config = f.config
	f.clients[gvr] = c
	return c
}
