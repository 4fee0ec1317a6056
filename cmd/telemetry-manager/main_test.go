package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
