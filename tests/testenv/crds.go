package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdTimeout bounds the wait for one CRD when ctx has no earlier deadline.
const crdTimeout = 30 * time.Second

// InstallCRDs creates (or updates) the CustomResourceDefinitions in the
// manifest files at paths, then waits until each is Established and discovery
// serves its resource in every served version, so informers can start at once.
//
// Note: kube-apiserver delays every create of a custom resource by 2 s while
// its CRD became Established less than 2 s ago (see crdHandler.serveResource
// in k8s.io/apiextensions-apiserver), so the first create right after Start
// takes about 2 s; reads, updates and later creates are not delayed.
func (e *Env) InstallCRDs(ctx context.Context, paths ...string) error {
	var crds []*unstructured.Unstructured
	for _, p := range paths {
		objs, err := readCRDs(p)
		if err != nil {
			return err
		}
		crds = append(crds, objs...)
	}
	dyn, err := dynamic.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(e.Config)
	if err != nil {
		return err
	}
	client := dyn.Resource(crdGVR)
	for _, crd := range crds {
		if err := applyCRD(ctx, client, crd); err != nil {
			return err
		}
	}
	for _, crd := range crds {
		if err := waitCRD(ctx, client, disc, crd); err != nil {
			return err
		}
	}
	return nil
}

// readCRDs decodes every non-empty document of a manifest file, all of which
// must be apiextensions.k8s.io/v1 CustomResourceDefinitions.
func readCRDs(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("testenv: %s: %w", path, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() != "apiextensions.k8s.io/v1" || u.GetKind() != "CustomResourceDefinition" {
			return nil, fmt.Errorf("testenv: %s: %s %s %q is not an apiextensions.k8s.io/v1 CustomResourceDefinition",
				path, u.GetAPIVersion(), u.GetKind(), u.GetName())
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("testenv: %s holds no CustomResourceDefinition", path)
	}
	return out, nil
}

func applyCRD(ctx context.Context, client dynamic.ResourceInterface, crd *unstructured.Unstructured) error {
	_, err := client.Create(ctx, crd, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("testenv: create CRD %s: %w", crd.GetName(), err)
	}
	return retryConflict(ctx, func() error {
		cur, err := client.Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		upd := crd.DeepCopy()
		upd.SetResourceVersion(cur.GetResourceVersion())
		_, err = client.Update(ctx, upd, metav1.UpdateOptions{})
		return err
	}, "update CRD "+crd.GetName())
}

func retryConflict(ctx context.Context, f func() error, what string) error {
	var err error
	for range 5 {
		if err = f(); err == nil || !apierrors.IsConflict(err) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("testenv: %s: %w", what, err)
	}
	return nil
}

func waitCRD(ctx context.Context, client dynamic.ResourceInterface, disc discovery.DiscoveryInterface, crd *unstructured.Unstructured) error {
	name := crd.GetName()
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var served []string
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		if s, _ := vm["served"].(bool); s {
			if n, _ := vm["name"].(string); n != "" {
				served = append(served, n)
			}
		}
	}

	var state string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, crdTimeout, true, func(ctx context.Context) (bool, error) {
		cur, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			state = err.Error()
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
		established := false
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["type"] == "Established" && cm["status"] == "True" {
				established = true
			}
			if cm["type"] == "NamesAccepted" && cm["status"] == "False" {
				return false, fmt.Errorf("names not accepted: %v", cm["message"])
			}
		}
		if !established {
			state = fmt.Sprintf("not Established (conditions %v)", conds)
			return false, nil
		}
		for _, v := range served {
			gv := group + "/" + v
			list, err := disc.ServerResourcesForGroupVersion(gv)
			if err != nil {
				state = fmt.Sprintf("discovery of %s: %v", gv, err)
				return false, nil
			}
			found := false
			for _, r := range list.APIResources {
				if r.Name == plural {
					found = true
					break
				}
			}
			if !found {
				state = fmt.Sprintf("discovery of %s does not list %s yet", gv, plural)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("testenv: CRD %s: %w (%s)", name, err, state)
	}
	return nil
}
