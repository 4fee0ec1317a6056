// Package loadgen fills a real API server with Rancher-shaped
// management.cattle.io/v3 objects (Clusters, Nodes, Settings) at the scale of
// a large management server, and rewrites node heartbeats the way Rancher
// does, for the scale bench (tests/scale/bench) and its command
// (tests/scale/cmd/loadgen).
//
// The objects are built here, not read from files: a generated Node carries
// what a real one does (image lists, conditions, addresses, labels,
// annotations) and is about 10 KB of JSON before the server adds its managed
// fields.
package loadgen

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Errors of this package.
var (
	// ErrShapes is returned for a Shapes value other than uniform or distinct.
	ErrShapes = errors.New("unknown node shapes")
	// ErrCounts is returned when the cluster or node count is not usable.
	ErrCounts = errors.New("invalid object counts")
	// ErrNoHeartbeat is returned by Heartbeat for a node without the
	// condition whose heartbeat it rewrites.
	ErrNoHeartbeat = errors.New("node has no heartbeat condition")
)

// Shapes says whether generated nodes look alike.
type Shapes string

const (
	// Uniform nodes share one CPU, memory and kubelet version.
	Uniform Shapes = "uniform"
	// Distinct nodes each have their own memory size, and CPU counts and
	// kubelet versions vary, so no two nodes have the same shape.
	Distinct Shapes = "distinct"
)

// ParseShapes returns the Shapes named s.
func ParseShapes(s string) (Shapes, error) {
	switch Shapes(s) {
	case Uniform, Distinct:
		return Shapes(s), nil
	}
	return "", fmt.Errorf("shapes %q (valid: %s, %s): %w", s, Uniform, Distinct, ErrShapes)
}

// Group and version of the Rancher kinds written.
const (
	Group   = "management.cattle.io"
	Version = "v3"
)

// Resources of the kinds written.
var (
	ClustersResource = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "clusters"}
	NodesResource    = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "nodes"}
	SettingsResource = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "settings"}
)

// HeartbeatCondition is the condition of status.internalNodeStatus whose
// lastHeartbeatTime a status-only update rewrites, as the kubelet's
// heartbeat does and Rancher copies.
const HeartbeatCondition = "Ready"

// Setting values written by Settings.
const (
	InstallUUID   = "5f0c1e2d-3b4a-4c6d-8e7f-9a0b1c2d3e4f"
	ServerVersion = "v2.12.1"
	ServerURL     = "https://rancher.example.com"
)

// created is the creation time written into generated objects' fields; it
// makes objects reproducible.
var created = time.Date(2025, 5, 12, 8, 1, 2, 0, time.UTC)

// ClusterName returns the name of cluster i: "local" for 0, else a name of
// Rancher's c-m-xxxxxxxx form.
func ClusterName(i int) string {
	if i == 0 {
		return "local"
	}
	return "c-m-" + pad36(i, 8)
}

// NodeName returns the name of node i (of all nodes, not of its cluster).
func NodeName(i int) string { return "m-" + pad36(i, 9) }

// ClusterOf returns the index of the cluster that node i of n nodes belongs
// to when they are spread over clusters clusters: round robin, so every
// cluster gets n/clusters nodes, give or take one.
func ClusterOf(i, clusters int) int { return i % clusters }

func pad36(i, width int) string {
	s := strconv.FormatInt(int64(i), 36)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// Cluster returns cluster i with its status (capacity, version, driver and
// the credentials a real one carries).
func Cluster(i int) *unstructured.Unstructured {
	name := ClusterName(i)
	provider := []string{"rke2", "k3s", "imported"}[i%3]
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Group + "/" + Version,
		"kind":       "Cluster",
		"metadata": map[string]any{
			"name":   name,
			"labels": map[string]any{"provider.cattle.io": provider},
			"annotations": map[string]any{
				"lifecycle.cattle.io/create.cluster-agent-controller-cleanup": "true",
				"management.cattle.io/current-cluster-controllers-version":    "v1.31.9+rke2r1",
			},
		},
		"spec": map[string]any{
			"displayName": "Cluster " + strconv.Itoa(i),
			"description": "",
		},
		"status": map[string]any{
			"driver":              provider,
			"provider":            provider,
			"apiEndpoint":         "https://10.1." + strconv.Itoa(i/250%250) + "." + strconv.Itoa(i%250+1) + ":6443",
			"serviceAccountToken": "not-a-real-token-" + name,
			"caCert":              "not-a-real-cert",
			"version": map[string]any{
				"gitVersion": "v1.31.9+rke2r1",
				"major":      "1",
				"minor":      "31",
				"platform":   "linux/amd64",
			},
			"conditions": []any{
				map[string]any{"type": "Ready", "status": "True", "lastUpdateTime": created.Format(time.RFC3339)},
				map[string]any{"type": "Provisioned", "status": "True", "lastUpdateTime": created.Format(time.RFC3339)},
			},
		},
	}}
}

// Settings returns the install-uuid, server-version and server-url Settings.
func Settings() []*unstructured.Unstructured {
	setting := func(name, value string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": Group + "/" + Version,
			"kind":       "Setting",
			"metadata":   map[string]any{"name": name},
			"value":      value,
			"default":    "",
		}}
	}
	return []*unstructured.Unstructured{
		setting("install-uuid", InstallUUID),
		setting("server-version", ServerVersion),
		setting("server-url", ServerURL),
	}
}

// shape is what differs between node shapes.
type shape struct {
	cpu, memory, kubelet string
}

func shapeOf(i int, s Shapes) shape {
	if s == Distinct {
		// The memory size alone makes every node distinct; CPU counts and
		// kubelet versions vary too, as they do across a fleet.
		return shape{
			cpu:     strconv.Itoa(2 + i%63),
			memory:  strconv.Itoa(8*1024*1024+i) + "Ki",
			kubelet: "v1." + strconv.Itoa(28+i%6) + "." + strconv.Itoa(i%17) + "+rke2r1",
		}
	}
	return shape{cpu: "4", memory: "16393616Ki", kubelet: "v1.31.9+rke2r1"}
}

// imageCount is how many images a generated node lists; with them a node is
// about 10 KB of JSON.
const imageCount = 26

var imageNames = []string{
	"rancher/hardened-kubernetes", "rancher/hardened-calico", "rancher/hardened-coredns",
	"rancher/hardened-etcd", "rancher/hardened-flannel", "rancher/hardened-k8s-metrics-server",
	"rancher/hardened-cluster-autoscaler", "rancher/hardened-dns-node-cache", "rancher/klipper-helm",
	"rancher/klipper-lb", "rancher/mirrored-pause", "rancher/rancher-agent", "rancher/fleet-agent",
	"rancher/system-agent", "rancher/shell", "rancher/nginx-ingress-controller",
	"rancher/mirrored-longhornio-longhorn-manager", "rancher/mirrored-longhornio-csi-provisioner",
	"rancher/mirrored-prometheus-node-exporter", "rancher/mirrored-ingress-nginx-kube-webhook-certgen",
}

// images is the image list of every node: the same list across a fleet, as
// nodes of one Rancher version run the same system images.
var images = func() []any {
	out := make([]any, 0, imageCount)
	for i := 0; i < imageCount; i++ {
		name := imageNames[i%len(imageNames)]
		tag := "v" + strconv.Itoa(1+i%4) + "." + strconv.Itoa(i%9) + "." + strconv.Itoa(i%5) + "-build2025060" + strconv.Itoa(i%10)
		sum := sha256.Sum256([]byte(name + ":" + tag))
		out = append(out, map[string]any{
			"names":     []any{name + "@sha256:" + hex.EncodeToString(sum[:]), name + ":" + tag},
			"sizeBytes": int64(10_000_000 + i*7_654_321),
		})
	}
	return out
}()

// Node returns node i of cluster cluster, status included. Its addresses,
// names and ids are its own; its shape follows s.
func Node(i, cluster int, s Shapes) *unstructured.Unstructured {
	clusterName := ClusterName(cluster)
	name := NodeName(i)
	sh := shapeOf(i, s)
	hostname := "worker-" + strconv.Itoa(i) + "." + clusterName + ".example.internal"
	internalIP := "10." + strconv.Itoa(40+i/65536%200) + "." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256)
	externalIP := "198.51." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256)
	id := sha256.Sum256([]byte(name))
	hexID := hex.EncodeToString(id[:])
	uuid := hexID[0:8] + "-" + hexID[8:12] + "-" + hexID[12:16] + "-" + hexID[16:20] + "-" + hexID[20:32]
	worker := i%4 != 0
	controlPlane := !worker

	ts := created.Format(time.RFC3339)
	beat := created.Add(time.Hour).Format(time.RFC3339)
	cond := func(typ, status, reason, message string) any {
		return map[string]any{
			"type": typ, "status": status, "reason": reason, "message": message,
			"lastHeartbeatTime": beat, "lastTransitionTime": ts,
		}
	}
	resources := map[string]any{
		"cpu": sh.cpu, "memory": sh.memory, "pods": "110",
		"ephemeral-storage": "104845292Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
	}
	labels := map[string]any{
		"beta.kubernetes.io/arch":               "amd64",
		"beta.kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":                    "amd64",
		"kubernetes.io/hostname":                hostname,
		"kubernetes.io/os":                      "linux",
		"node.kubernetes.io/instance-type":      "m5.xlarge",
		"topology.kubernetes.io/region":         "eu-west-1",
		"topology.kubernetes.io/zone":           "eu-west-1" + string(rune('a'+i%3)),
		"node-role.kubernetes.io/worker":        strconv.FormatBool(worker),
		"node-role.kubernetes.io/control-plane": strconv.FormatBool(controlPlane),
		"team.example.com/cost-center":          "platform-" + strconv.Itoa(4400+i%100),
	}
	annotations := map[string]any{
		"alpha.kubernetes.io/provided-node-ip":                   internalIP,
		"flannel.alpha.coreos.com/backend-data":                  `{"VNI":1,"VtepMAC":"` + hexID[0:2] + ":" + hexID[2:4] + ":" + hexID[4:6] + ":" + hexID[6:8] + ":" + hexID[8:10] + ":" + hexID[10:12] + `"}`,
		"flannel.alpha.coreos.com/backend-type":                  "vxlan",
		"flannel.alpha.coreos.com/kube-subnet-manager":           "true",
		"flannel.alpha.coreos.com/public-ip":                     internalIP,
		"node.alpha.kubernetes.io/ttl":                           "0",
		"rke2.io/node-args":                                      `["agent","--node-label","team.example.com/cost-center=platform","--kubelet-arg","max-pods=110"]`,
		"rke2.io/node-config-hash":                               hexID[32:64],
		"rke2.io/node-env":                                       "{}",
		"volumes.kubernetes.io/controller-managed-attach-detach": "true",
	}
	statusLabels := make(map[string]any, len(labels))
	for k, v := range labels {
		statusLabels[k] = v
	}
	statusAnnotations := make(map[string]any, len(annotations))
	for k, v := range annotations {
		statusAnnotations[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Group + "/" + Version,
		"kind":       "Node",
		"metadata": map[string]any{
			"name":      name,
			"namespace": clusterName,
			"labels": map[string]any{
				"cattle.io/creator":             "norman",
				"management.cattle.io/nodename": hostname,
				"management.cattle.io/nodepool": "np-" + pad36(cluster, 5),
				"cattle.io/os":                  "linux",
			},
			"annotations": map[string]any{
				"lifecycle.cattle.io/create.node-controller": "true",
				"management.cattle.io/nodesyncer":            "true",
			},
			"finalizers": []any{"controller.cattle.io/node-controller"},
		},
		"spec": map[string]any{
			"controlPlane":      controlPlane,
			"etcd":              controlPlane,
			"worker":            worker,
			"imported":          true,
			"displayName":       hostname,
			"requestedHostname": hostname,
			"internalNodeSpec": map[string]any{
				"podCIDR":    "10.42." + strconv.Itoa(i%256) + ".0/24",
				"podCIDRs":   []any{"10.42." + strconv.Itoa(i%256) + ".0/24"},
				"providerID": "aws:///eu-west-1b/i-" + hexID[0:17],
			},
			"metadataUpdate": map[string]any{"annotations": map[string]any{}, "labels": map[string]any{}},
		},
		"status": map[string]any{
			"nodeName":        hostname,
			"capacity":        map[string]any{"cpu": sh.cpu, "memory": sh.memory, "pods": "110"},
			"allocatable":     map[string]any{"cpu": sh.cpu, "memory": sh.memory, "pods": "110"},
			"requested":       map[string]any{"cpu": "1250m", "memory": "1536Mi", "pods": "17"},
			"limits":          map[string]any{"cpu": "2", "memory": "3Gi"},
			"nodeLabels":      statusLabels,
			"nodeAnnotations": statusAnnotations,
			"conditions": []any{
				map[string]any{"type": "Initialized", "status": "True", "lastUpdateTime": ""},
				map[string]any{"type": "Provisioned", "status": "True", "lastUpdateTime": ""},
				map[string]any{"type": "Registered", "status": "True", "lastUpdateTime": ts},
				map[string]any{"type": "Ready", "status": "True", "lastUpdateTime": ""},
			},
			"internalNodeStatus": map[string]any{
				"capacity":    resources,
				"allocatable": resources,
				"addresses": []any{
					map[string]any{"type": "InternalIP", "address": internalIP},
					map[string]any{"type": "ExternalIP", "address": externalIP},
					map[string]any{"type": "Hostname", "address": hostname},
				},
				"conditions": []any{
					cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
					cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
					cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
					cond(HeartbeatCondition, "True", "KubeletReady", "kubelet is posting ready status"),
				},
				"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]any{"Port": int64(10250)}},
				"volumesAttached": volumesAttached(hexID),
				"volumesInUse":    volumesInUse(hexID),
				"images":          images,
				"nodeInfo": map[string]any{
					"architecture":            "amd64",
					"bootID":                  uuid,
					"containerRuntimeVersion": "containerd://2.0.5-k3s1",
					"kernelVersion":           "6.8.0-1029-aws",
					"kubeProxyVersion":        sh.kubelet,
					"kubeletVersion":          sh.kubelet,
					"machineID":               hexID[0:32],
					"operatingSystem":         "linux",
					"osImage":                 "Ubuntu 24.04.2 LTS",
					"systemUUID":              uuid,
				},
			},
		},
	}}
}

// Heartbeat sets the lastHeartbeatTime of the HeartbeatCondition of node's
// status.internalNodeStatus.conditions to t, and changes nothing else: the
// status-only update Rancher makes every few seconds per node.
func Heartbeat(node *unstructured.Unstructured, t time.Time) error {
	conds, ok, err := unstructured.NestedSlice(node.Object, "status", "internalNodeStatus", "conditions")
	if err != nil || !ok {
		return fmt.Errorf("node %s/%s: status.internalNodeStatus.conditions: %w", node.GetNamespace(), node.GetName(), ErrNoHeartbeat)
	}
	for i, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != HeartbeatCondition {
			continue
		}
		m["lastHeartbeatTime"] = t.UTC().Format(time.RFC3339)
		conds[i] = m
		return unstructured.SetNestedSlice(node.Object, conds, "status", "internalNodeStatus", "conditions")
	}
	return fmt.Errorf("node %s/%s: status.internalNodeStatus.conditions[type=%s]: %w", node.GetNamespace(), node.GetName(), HeartbeatCondition, ErrNoHeartbeat)
}

// volumeCount is how many Longhorn volumes a generated node has attached.
const volumeCount = 4

func volumeName(hexID string, v int) string {
	return "kubernetes.io/csi/driver.longhorn.io^pvc-" + hexID[v*8:v*8+32]
}

func volumesAttached(hexID string) []any {
	out := make([]any, volumeCount)
	for v := range out {
		out[v] = map[string]any{"name": volumeName(hexID, v), "devicePath": ""}
	}
	return out
}

func volumesInUse(hexID string) []any {
	out := make([]any, volumeCount)
	for v := range out {
		out[v] = volumeName(hexID, v)
	}
	return out
}
