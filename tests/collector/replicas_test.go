package collector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/tests/testenv"
)

// samplePayload is the report the encoder writes for the sample
// installation, as the manager would send it.
func samplePayload(t *testing.T) []byte {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "pkg", "encoding", "report", "testdata", "sample.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedRequest is a report as the http exporter sends it: gzip body,
// idempotency key of the payload, signature over the body.
type signedRequest struct {
	key, signature string
	body           []byte
}

func sign(t *testing.T, payload []byte) signedRequest {
	t.Helper()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return signedRequest{key: protocol.IdempotencyKey(payload), signature: protocol.Sign(time.Now(), gz.Bytes(), []byte(signingKey)), body: gz.Bytes()}
}

func (s signedRequest) header(h http.Header) {
	h.Set("Content-Type", protocol.ContentType)
	h.Set("Content-Encoding", protocol.EncodingGzip)
	h.Set("Authorization", "Bearer "+token)
	h.Set(protocol.HeaderIdempotencyKey, s.key)
	h.Set(protocol.HeaderSignature, s.signature)
}

// post sends s to url and returns the status and the decoded answer.
func (s signedRequest) post(ctx context.Context, client *http.Client, url string) (int, protocol.Accepted, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(s.body))
	if err != nil {
		return 0, protocol.Accepted{}, err
	}
	s.header(req.Header)
	resp, err := client.Do(req)
	if err != nil {
		return 0, protocol.Accepted{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, protocol.Accepted{}, err
	}
	var a protocol.Accepted
	if err := json.Unmarshal(b, &a); err != nil {
		return resp.StatusCode, a, fmt.Errorf("answer %q: %w", b, err)
	}
	return resp.StatusCode, a, nil
}

// TestTwoCollectorsOnOnePostgresStoreOnce: the same signed report is posted
// to two collectors sharing one PostgreSQL, many times at once: one 202
// stores it, every other answer is a 200 duplicate, and the database holds
// one report.
func TestTwoCollectorsOnOnePostgresStoreOnce(t *testing.T) {
	database := postgres(t).NewDatabase(t)
	replicas := []*collector{startCollector(t, database), startCollector(t, database)}
	req := sign(t, samplePayload(t))
	const perReplica = 16
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: perReplica}, Timeout: 30 * time.Second}
	type answer struct {
		status int
		body   protocol.Accepted
		err    error
	}
	answers := make(chan answer, 2*perReplica)
	var start, wg sync.WaitGroup
	start.Add(1)
	for _, c := range replicas {
		for range perReplica {
			wg.Go(func() {
				start.Wait()
				status, body, err := req.post(t.Context(), client, c.url(protocol.DefaultPath))
				answers <- answer{status, body, err}
			})
		}
	}
	start.Done()
	wg.Wait()
	close(answers)
	stored, dups := 0, 0
	for a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("post: %v", a.err)
		case a.status == http.StatusAccepted && !a.body.Duplicate && a.body.ID != "":
			stored++
		case a.status == http.StatusOK && a.body.Duplicate:
			dups++
		default:
			t.Errorf("answer %d %+v, want 202 stored or 200 duplicate", a.status, a.body)
		}
	}
	if stored != 1 || dups != 2*perReplica-1 {
		t.Errorf("%d stored and %d duplicates, want 1 and %d", stored, dups, 2*perReplica-1)
	}
	if n := storedReports(t, database); n != 1 {
		t.Errorf("the database holds %d reports, want 1", n)
	}
	for i, c := range replicas {
		if in := c.installs(t); len(in) != 1 {
			t.Errorf("replica %d lists %d installs, want 1", i, len(in))
		}
	}
}

// TestSIGTERMFinishesASlowRequest: the real binary on SQLite receives
// SIGTERM while a report's body is half sent. The listener closes, the
// request completes with 202, the process exits 0 and the file passes
// SQLite's integrity check.
func TestSIGTERMFinishesASlowRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	c := startCollector(t, "sqlite:"+path)
	req := sign(t, samplePayload(t))

	conn, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := http.Header{}
	req.header(h)
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", protocol.DefaultPath, c.addr, len(req.body))
	if err := h.Write(&head); err != nil {
		t.Fatal(err)
	}
	head.WriteString("\r\n")
	half := len(req.body) / 2
	if _, err := conn.Write(append(head.Bytes(), req.body[:half]...)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the report to be in flight", func() (bool, error) {
		_, m, err := c.get("/metrics")
		return strings.Contains(string(m), "telemetry_collector_reports_in_flight 1"), err
	})

	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the listener to close", func() (bool, error) {
		probe, err := net.DialTimeout("tcp", c.addr, time.Second)
		if err == nil {
			probe.Close()
			return false, nil
		}
		return true, nil
	})
	select {
	case err := <-c.exited:
		c.cmd = nil
		t.Fatalf("the collector exited with a request in flight: %v", err)
	default:
	}
	if _, err := conn.Write(req.body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(body), `"duplicate":false`) {
		t.Fatalf("request in flight: %d %s, want 202 stored", resp.StatusCode, body)
	}
	select {
	case err := <-c.exited:
		c.cmd = nil
		if err != nil {
			t.Fatalf("the collector did not exit 0: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the collector did not exit after SIGTERM")
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
		t.Fatal(err)
	}
	if check != "ok" {
		t.Errorf("integrity check: %s", check)
	}
	if n := storedReports(t, "sqlite:"+path); n != 1 {
		t.Errorf("the file holds %d reports, want 1", n)
	}
}
