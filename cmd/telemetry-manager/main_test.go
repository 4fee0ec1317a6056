package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/rancher/telemetry-manager/pkg/cli"
)

func TestBadFlagsExitWithStatus2(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  string
		args []string
		want []string // each must be in stderr
	}{
		{"run secret name", "run", []string{"--secret-name", "Bad_Name"}, []string{`--secret-name "Bad_Name"`}},
		{"run secret namespace", "run", []string{"--secret-namespace", "a.b"}, []string{`--secret-namespace "a.b"`}},
		{"run no exporter", "run", []string{"--exporters", ","}, []string{"--exporters", "no exporter selected"}},
		{"run port out of range", "run", []string{"--metrics-address", ":70000"}, []string{`--metrics-address ":70000"`}},
		{"run every bad flag at once", "run", []string{
			"--secret-name", "Bad_Name", "--exporters", "", "--metrics-address", "nope", "--interval", "1ms",
			"--config-map-name", "X", "--leader-election-id", "a/b", "--mode", "x", "--extensions-configmap", "Ext",
		}, []string{"--secret-name", "--exporters", "--metrics-address", "--interval", "--config-map-name", "--leader-election-id", "--mode", "--extensions-configmap"}},
		{"audit secret name", "audit", []string{"--secret-name", "Bad_Name"}, []string{`--secret-name "Bad_Name"`}},
		{"payload secret namespace", "payload", []string{"--secret-namespace", "Bad"}, []string{`--secret-namespace "Bad"`}},
		{"unknown flag", "run", []string{"--nope"}, []string{"unknown flag: --nope"}},
		{"scc without subcommand", "scc", nil, []string{"scc status"}},
		{"scc status output", "scc", []string{"status", "-o", "yaml"}, []string{`--output "yaml"`}},
		{"run scc keepalive interval", "run", []string{"--scc-keepalive-interval", "1s"}, []string{"--scc-keepalive-interval 1s"}},
		{"run scc public key file", "run", []string{"--scc-offline-public-key-file", "/nonexistent"}, []string{"--scc-offline-public-key-file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := dispatch(context.Background(), tc.cmd, tc.args, &stderr); code != 2 {
				t.Fatalf("exit status %d, want 2\n%s", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not name %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestExecuteExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		stderr string
	}{
		{"success", nil, 0, ""},
		{"a failure", errors.New("boom"), 1, "error: boom\n"},
		{"payloads differ", &cli.StatusError{Status: 1, Err: fmt.Errorf("old.json: %w", cli.ErrDiffer)}, 1, ""},
		{"trouble in a diff", &cli.StatusError{Status: 2, Err: errors.New("old.json: bad")}, 2, "error: old.json: bad\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
			got := execute(fs, nil, &stderr, func() error { return nil }, func() error { return tc.err })
			if got != tc.status || stderr.String() != tc.stderr {
				t.Errorf("execute = %d, stderr %q; want %d, %q", got, stderr.String(), tc.status, tc.stderr)
			}
		})
	}
}
