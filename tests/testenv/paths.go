package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// rancherCRDFiles are the stand-in Rancher CRDs in tests/crds.
var rancherCRDFiles = []string{
	"management.cattle.io_clusters.yaml",
	"management.cattle.io_nodes.yaml",
	"management.cattle.io_settings.yaml",
	"management.cattle.io_features.yaml",
}

// ModuleRoot returns the directory holding go.mod, found by walking up from
// the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// CRDDir returns the absolute path of tests/crds.
func CRDDir() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "tests", "crds"), nil
}

// RancherCRDs returns the paths of the stand-in CRDs of management.cattle.io/v3
// clusters, nodes, settings and features.
func RancherCRDs() ([]string, error) {
	dir, err := CRDDir()
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(rancherCRDFiles))
	for _, f := range rancherCRDFiles {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// resolveBinDir returns dir, else $TELEMETRY_TESTBIN_DIR, else the directory
// printed by scripts/build-testbin.
func resolveBinDir(ctx context.Context, dir string, logf func(string, ...any)) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if d := os.Getenv(BinDirEnv); d != "" {
		return d, nil
	}
	return buildTestbin(ctx, "", logf, "kube-apiserver", "etcd")
}

// Binary returns the path of <name>-<version> in the test binary cache
// ($TELEMETRY_TESTBIN_DIR, else the cache of scripts/build-testbin), building
// it with scripts/build-testbin when it is missing.
func Binary(ctx context.Context, name, version string, logf func(string, ...any)) (string, error) {
	dir := os.Getenv(BinDirEnv)
	if dir != "" {
		if p := filepath.Join(dir, name+"-"+version); isExecutable(p) {
			return p, nil
		}
	}
	dir, err := buildTestbin(ctx, dir, logf, name)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name+"-"+version)
	if !isExecutable(p) {
		return "", fmt.Errorf("testenv: scripts/build-testbin %s did not produce %s", name, p)
	}
	return p, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// buildTestbin runs scripts/build-testbin for the named binaries (into cache
// when it is set) and returns the directory it prints.
func buildTestbin(ctx context.Context, cache string, logf func(string, ...any), names ...string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "build-testbin"), names...)
	cmd.Dir = root
	if cache != "" {
		cmd.Env = append(os.Environ(), "TELEMETRY_TESTBIN_CACHE="+cache)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(&stderr, logWriter{logf})
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("testenv: scripts/build-testbin %s: %w\n%s", strings.Join(names, " "), err, lastLines(stderr.String(), 20))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	d := strings.TrimSpace(lines[len(lines)-1])
	if d == "" {
		return "", errors.New("testenv: scripts/build-testbin printed no directory")
	}
	return d, nil
}

// logWriter passes each write (a line of progress from a script) to logf.
type logWriter struct{ logf func(string, ...any) }

func (w logWriter) Write(p []byte) (int, error) {
	if w.logf != nil {
		w.logf("%s", strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
