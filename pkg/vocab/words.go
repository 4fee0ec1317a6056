package vocab

import "strings"

// archs are the GOARCH values of `go tool dist list` (Go 1.26): kubelets
// report runtime.GOARCH as a node's architecture.
var archs = []string{
	"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle",
	"ppc64", "ppc64le", "riscv64", "s390x", "wasm",
}

// oses are the GOOS values of `go tool dist list` (Go 1.26): kubelets report
// runtime.GOOS as a node's operating system.
var oses = []string{
	"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux",
	"netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows",
}

// runtimes are the runtime names kubelets put before "://" in
// containerRuntimeVersion (the CRI RuntimeName): containerd (also k3s and
// RKE2), cri-o, docker (dockershim and cri-dockerd), and the rarer CRI
// runtimes. "remote" is what older kubelets wrote for a runtime that did not
// name itself.
var runtimes = []string{"containerd", "cri-o", "docker", "frakti", "isulad", "podman", "remote", "rkt"}

// runtimeAliases are other spellings of a runtime, lowercased.
var runtimeAliases = map[string]string{"crio": "cri-o"}

// drivers are the values Rancher writes in a v3 Cluster's status.driver:
// its own drivers (imported, local, rancherKubernetesEngine for RKE1, k3s,
// k3os, rke2, rancherd), the hosted-cluster operators (AKS, EKS, GKE), the
// kontainer-engine drivers Rancher has shipped, and "kubernetes", which
// this project writes in kubernetes mode.
var drivers = []string{
	"imported", "local", "rancherKubernetesEngine", "k3s", "k3os", "rke2", "rancherd",
	"AKS", "EKS", "GKE",
	"azurekubernetesservice", "googlekubernetesengine", "amazonelasticcontainerservice",
	"aliyunkubernetescontainerservice", "baiducloudcontainerengine", "huaweicontainercloudengine",
	"linodekubernetesengine", "opentelekomcloudcontainerengine", "oraclecontainerengine",
	"tencentkubernetesengine",
	"kubernetes",
}

// providers are the names Rancher's Kubernetes provider detection writes in
// status.provider, which the gatherer's own guess from a kubelet version
// (rke2, k3s, eks, gke, rke) stays within.
var providers = []string{
	"aks", "docker", "eks", "gke", "harvester", "k3s", "kapsule", "minikube",
	"rke", "rke.windows", "rke2", "rke2.windows",
}

// cleanRuntime returns the runtime family of a containerRuntimeVersion.
func cleanRuntime(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Unknown, false
	}
	family, _, ok := strings.Cut(v, "://")
	if !ok || strings.TrimSpace(family) == "" {
		return Other, true
	}
	return runtimeWord(family)
}

var runtimeWord = byWord(runtimes, runtimeAliases, "")
