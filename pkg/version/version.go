// Package version holds the build's version and commit, set at link time:
//
//	go build -ldflags "-X github.com/rancher/telemetry-manager/pkg/version.Version=v0.1.0 -X github.com/rancher/telemetry-manager/pkg/version.GitCommit=abc123"
package version

// Version and GitCommit identify the build.
var (
	Version   = "v0.0.0-dev"
	GitCommit = "unknown"
)
