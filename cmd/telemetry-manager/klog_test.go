package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
)

func TestKlogSinkWritesLogrusJSON(t *testing.T) {
	var buf bytes.Buffer
	l := logrus.New()
	l.SetOutput(&buf)
	l.SetFormatter(&logrus.JSONFormatter{})
	log := logr.New(klogSink{log: logrus.NewEntry(l)}).WithName("leaderelection").WithValues("lock", "ns/lease")

	log.Info("Failed to renew lease", "err", "context deadline exceeded")
	log.V(4).Info("hidden at info level")
	log.Error(errors.New("boom"), "error retrieving resource lock")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (V(4) hidden at info level):\n%s", len(lines), buf.String())
	}
	for i, want := range []map[string]string{
		{"level": "info", "msg": "Failed to renew lease", "lock": "ns/lease", "logger": "leaderelection", "err": "context deadline exceeded"},
		{"level": "error", "msg": "error retrieving resource lock", "lock": "ns/lease", "error": "boom"},
	} {
		var got map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, lines[i])
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("line %d: %s = %v, want %q", i, k, got[k], v)
			}
		}
	}
}
