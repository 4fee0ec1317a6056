package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	v3 "github.com/rancher/telemetry-manager/pkg/apis/management.cattle.io/v3"
	"github.com/rancher/telemetry-manager/pkg/gatherer"
)

// ErrInput marks a file that could not be read as Kubernetes objects.
var ErrInput = errors.New("unreadable input")

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// LoadFile reads objects written the way `kubectl get -o yaml` (or -o json)
// writes them: a List, or several documents. It keeps Settings, Features,
// Clusters and Nodes of management.cattle.io/v3, core Nodes and the
// kube-system Namespace, and skips other kinds. Errors name the file, the
// document and the object.
func LoadFile(path string) (*gatherer.Static, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer f.Close()
	return Load(path, f)
}

// Load is LoadFile for a reader; name is used in errors.
func Load(name string, r io.Reader) (*gatherer.Static, error) {
	s := gatherer.NewStatic()
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return s, nil
		} else if err != nil {
			return nil, fmt.Errorf("%w: %s: document %d: %w", ErrInput, name, doc, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		where := fmt.Sprintf("%s: document %d", name, doc)
		if err := add(s, where, raw); err != nil {
			return nil, err
		}
	}
}

func add(s *gatherer.Static, where string, raw json.RawMessage) error {
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInput, where, err)
	}
	if strings.HasSuffix(h.Kind, "List") {
		for i, item := range h.Items {
			if err := add(s, fmt.Sprintf("%s: item %d", where, i), item); err != nil {
				return err
			}
		}
		return nil
	}
	obj := newObject(h.APIVersion, h.Kind)
	if obj == nil {
		return nil // a kind the gatherer does not read
	}
	what := h.Kind + " " + h.Metadata.Name
	if h.Metadata.Namespace != "" {
		what = h.Kind + " " + h.Metadata.Namespace + "/" + h.Metadata.Name
	}
	if h.Metadata.Name == "" {
		return fmt.Errorf("%w: %s: %s: metadata.name is empty", ErrInput, where, h.Kind)
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return fmt.Errorf("%w: %s: %s: %w", ErrInput, where, what, err)
	}
	if err := s.Add(obj); err != nil {
		return fmt.Errorf("%w: %s: %s: %w", ErrInput, where, what, err)
	}
	return nil
}

func newObject(apiVersion, kind string) runtime.Object {
	switch {
	case apiVersion == v3.SchemeGroupVersion.String():
		switch kind {
		case "Cluster":
			return &v3.Cluster{}
		case "Node":
			return &v3.Node{}
		case "Setting":
			return &v3.Setting{}
		case "Feature":
			return &v3.Feature{}
		}
	case apiVersion == "v1":
		switch kind {
		case "Node":
			return &corev1.Node{}
		case "Namespace":
			return &corev1.Namespace{}
		}
	}
	return nil
}
