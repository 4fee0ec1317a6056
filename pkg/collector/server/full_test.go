package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/rancher/telemetry-manager/internal/memstore"
	"github.com/rancher/telemetry-manager/pkg/collector/store"
)

// fullStore is a memstore whose Inserts fail as a store on a full disk
// does while full is set.
type fullStore struct {
	*memstore.Store
	full atomic.Bool
}

func (s *fullStore) Insert(ctx context.Context, r store.Report) (store.Result, error) {
	if s.full.Load() {
		return store.Result{}, fmt.Errorf("inserting report: %w: database or disk is full", store.ErrFull)
	}
	return s.Store.Insert(ctx, r)
}

func TestFullStoreIsInsufficientStorageNamingTheCause(t *testing.T) {
	st := &fullStore{Store: memstore.New()}
	st.full.Store(true)
	var logs lockedBuffer
	l := logrus.New()
	l.SetOutput(&logs)
	h := newHarness(t, func(c *Config) { c.Store = st; c.Log = logrus.NewEntry(l) })

	a := h.post(t, send{})
	if a.status != http.StatusInsufficientStorage {
		t.Fatalf("status %d, want 507: %s", a.status, a.body)
	}
	if msg := errorOf(t, a.body); !strings.Contains(msg, "disk space") {
		t.Errorf("error %q does not name the full disk", msg)
	}
	if a.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if !strings.Contains(logs.String(), "level=error") || !strings.Contains(logs.String(), "disk is full") {
		t.Errorf("no error log naming the full disk:\n%s", logs.String())
	}
	if n := len(st.Reports()); n != 0 {
		t.Errorf("%d reports stored while full", n)
	}

	st.full.Store(false)
	if a := h.post(t, send{}); a.status != http.StatusAccepted {
		t.Errorf("once space returned: status %d, want 202: %s", a.status, a.body)
	}
}

// lockedBuffer is a bytes.Buffer safe for the handler's and the test's
// goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
