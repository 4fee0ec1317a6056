package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/utils/clock"

	"github.com/rancher/telemetry-manager/pkg/protocol"
)

// ErrNoKeys is returned when a signing keys file holds no key.
var ErrNoKeys = errors.New("no signing key")

// Source hands out the current secrets of one kind: signing keys or
// tokens. Every value it returns is valid at once.
type Source interface {
	Values() [][]byte
}

// Static is a Source that never changes.
type Static [][]byte

// Values returns the values.
func (s Static) Values() [][]byte { return s }

// Parser turns a file's text into its values.
type Parser func(text []byte) ([][]byte, error)

// ParseKeys parses a signing keys file (protocol.ParseKeys) and requires
// one key at least.
func ParseKeys(text []byte) ([][]byte, error) {
	keys, err := protocol.ParseKeys(text)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, ErrNoKeys
	}
	return keys, nil
}

// ParseTokens parses a tokens file: one token per line, blank lines and
// lines starting with # skipped. A file without tokens refuses every
// sender.
func ParseTokens(text []byte) ([][]byte, error) {
	var out [][]byte
	for line := range bytes.SplitSeq(text, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		out = append(out, line)
	}
	return out, nil
}

// File is a Source read from a file and re-read when its modification time
// or size changes. A change that does not parse is logged and the values
// before it stay in force.
type File struct {
	path  string
	parse Parser
	log   *logrus.Entry

	mu     sync.RWMutex
	values [][]byte
	stamp  stamp
}

type stamp struct {
	mod  time.Time
	size int64
}

// OpenFile reads path once; an error here stops the collector from
// starting.
func OpenFile(path string, parse Parser, log *logrus.Entry) (*File, error) {
	f := &File{path: path, parse: parse, log: log.WithField("file", path)}
	if _, err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Values returns the values last read.
func (f *File) Values() [][]byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.values
}

// reload re-reads the file if it changed and says whether it did.
func (f *File) reload() (bool, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", f.path, err)
	}
	now := stamp{mod: st.ModTime(), size: st.Size()}
	f.mu.RLock()
	same := f.values != nil && now == f.stamp
	f.mu.RUnlock()
	if same {
		return false, nil
	}
	text, err := os.ReadFile(f.path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", f.path, err)
	}
	values, err := f.parse(text)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", f.path, err)
	}
	if values == nil {
		values = [][]byte{}
	}
	f.mu.Lock()
	f.values, f.stamp = values, now
	f.mu.Unlock()
	return true, nil
}

// Watch re-reads the file every interval until ctx ends. A failure is
// logged once until the file reads again.
func (f *File) Watch(ctx context.Context, clk clock.WithTicker, interval time.Duration) {
	t := clk.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		changed, err := f.reload()
		switch {
		case err != nil && !failing:
			f.log.WithError(err).Warn("keeping the values read before")
			failing = true
		case err == nil && changed:
			f.log.WithField("values", len(f.Values())).Info("reloaded")
			failing = false
		case err == nil:
			failing = false
		}
	}
}
