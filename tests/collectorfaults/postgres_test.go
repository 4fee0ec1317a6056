package collectorfaults

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// senders is how many clients send reports at once.
const senders = 16

// load is senders sending distinct signed reports to a collector, each
// retrying a refused report until it is acknowledged.
type load struct {
	t   *testing.T
	url string

	stop atomic.Bool
	wg   sync.WaitGroup

	mu sync.Mutex
	// acked are the keys answered 2xx; refused counts the answers (and
	// network errors) that asked for a retry; lost are the keys still
	// refused when their sender gave up.
	acked   []string
	refused int
	lost    []string
}

func startLoad(t *testing.T, url string) *load {
	l := &load{t: t, url: url}
	client := &http.Client{Timeout: 20 * time.Second}
	for w := range senders {
		l.wg.Go(func() { l.send(client, w) })
	}
	t.Cleanup(l.finish)
	return l
}

func (l *load) send(client *http.Client, w int) {
	for i := w; !l.stop.Load(); i += senders {
		b := newBody(l.t, installUUID(1000+i))
		deadline := time.Now().Add(2 * time.Minute)
		for {
			code, msg, err := post(client, l.url, b, time.Now())
			if err == nil && code/100 == 2 {
				l.mu.Lock()
				l.acked = append(l.acked, b.key)
				l.mu.Unlock()
				break
			}
			if err == nil && code != http.StatusServiceUnavailable {
				l.t.Errorf("sender %d: answered %d %s, want 2xx or 503", w, code, msg)
				return
			}
			l.mu.Lock()
			l.refused++
			l.mu.Unlock()
			if time.Now().After(deadline) {
				l.mu.Lock()
				l.lost = append(l.lost, b.key)
				l.mu.Unlock()
				l.t.Errorf("sender %d: report %s still refused after 2 minutes: %d %v", w, b.key, code, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// finish stops the senders once they have their current report
// acknowledged.
func (l *load) finish() {
	l.stop.Store(true)
	l.wg.Wait()
}

func (l *load) counts() (acked, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), l.refused
}

// readiness polls /readyz and records every answer with the times its
// request started and ended.
type readiness struct {
	mu      sync.Mutex
	answers []readyAnswer
	stop    chan struct{}
	done    chan struct{}
}

type readyAnswer struct {
	start, end time.Time
	code       int
}

func watchReadiness(url string) *readiness {
	r := &readiness{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			code, _ := get(client, url)
			r.mu.Lock()
			r.answers = append(r.answers, readyAnswer{start, time.Now(), code})
			r.mu.Unlock()
		}
	}()
	return r
}

// between returns the answers whose requests started after from and
// ended before to.
func (r *readiness) between(from, to time.Time) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var codes []int
	for _, a := range r.answers {
		if a.start.After(from) && a.end.Before(to) {
			codes = append(codes, a.code)
		}
	}
	return codes
}

func (r *readiness) last() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.answers) == 0 {
		return 0
	}
	return r.answers[len(r.answers)-1].code
}

func (r *readiness) close() {
	close(r.stop)
	<-r.done
}

// TestPostgresRestartedUnderLoad: 16 senders keep sending signed reports
// to a collector on a real PostgreSQL, which is shut down and started
// again meanwhile. Every report the collector answered 2xx is in the
// database afterwards; what it refused while PostgreSQL was down (503) the
// senders retried until it was stored. /readyz says not ready while
// PostgreSQL is down and ready once it is back.
func TestPostgresRestartedUnderLoad(t *testing.T) {
	pg := testenv.StartPostgresT(t)
	database := pg.NewDatabase(t)
	addr, logs := runCollector(t, database)
	ready := watchReadiness("http://" + addr + "/readyz")
	defer ready.close()

	l := startLoad(t, "http://"+addr+protocol.DefaultPath)
	eventually(t, "reports stored before the restart", func() (bool, error) {
		n, _ := l.counts()
		return n >= 200, nil
	})

	if err := pg.StopServer(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	ackedAtStop, _ := l.counts()
	_, refusedAtStop := l.counts()
	eventually(t, "the senders to be refused while PostgreSQL is down", func() (bool, error) {
		_, refused := l.counts()
		return refused >= refusedAtStop+senders, nil
	})
	eventually(t, "readiness answers while PostgreSQL is down", func() (bool, error) {
		return len(ready.between(down, time.Now())) >= 5, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := time.Now()
	if err := pg.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	whileDown := ready.between(down, up)
	for _, code := range whileDown {
		if code != http.StatusServiceUnavailable {
			t.Errorf("readyz answered %v while PostgreSQL was down, want only 503", whileDown)
			break
		}
	}
	eventually(t, "readyz to say ready after the restart", func() (bool, error) {
		return ready.last() == http.StatusOK, nil
	})
	eventually(t, "reports stored after the restart", func() (bool, error) {
		n, _ := l.counts()
		return n >= ackedAtStop+200, nil
	})
	l.finish()

	acked, refused := l.counts()
	t.Logf("%d reports acknowledged (%d before the stop), %d refusals retried; readyz while down: %d answers",
		acked, ackedAtStop, refused, len(whileDown))
	stored := storedKeys(t, database)
	missing := 0
	for _, k := range l.acked {
		if !stored[k] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged reports are not in the database", missing, acked)
	}
	if len(stored) != acked {
		t.Errorf("the database holds %d reports, the senders had %d acknowledged", len(stored), acked)
	}
	if t.Failed() {
		t.Logf("collector log:\n%s", lastLines(logs.String(), 40))
	}
}

// storedKeys returns the idempotency keys of the reports in database.
func storedKeys(t *testing.T, database string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, database)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT idempotency_key FROM reports`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k] = true
	}
	return out
}
