package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rancher/telemetry-manager/pkg/protocol"
	"github.com/rancher/telemetry-manager/pkg/version"
)

// maxAnswer bounds how much of an answer a sender reads.
const maxAnswer = 64 << 10

// pool hands out the bodies of one phase, each once.
type pool struct {
	bodies []body
	next   atomic.Int64
}

// take returns the next unsent body, or false when every one was sent.
func (p *pool) take() (*body, bool) {
	i := p.next.Add(1) - 1
	if i >= int64(len(p.bodies)) {
		return nil, false
	}
	return &p.bodies[i], true
}

// load is what the senders of one phase saw.
type load struct {
	// Latencies of the reports answered 202, from sending the request to
	// the end of the answer.
	Latencies []time.Duration
	// Errors counts the other outcomes by status code, or "transport" for a
	// request that got no answer.
	Errors map[string]int
	// Elapsed runs from the start to the last answer.
	Elapsed time.Duration
	// Exhausted says the pool ran out before the duration passed.
	Exhausted bool
}

// errorCount is the number of requests that did not end in a 202.
func (l load) errorCount() int {
	n := 0
	for _, c := range l.Errors {
		n += c
	}
	return n
}

// send runs senders goroutines, each POSTing one report after another to
// url until d has passed or the pool is empty, as the http exporter sends
// them (same headers, gzip). Requests under way when d passes are waited
// for and counted.
func send(ctx context.Context, client *http.Client, url string, p *pool, senders int, d time.Duration) load {
	type result struct {
		lat       []time.Duration
		errs      map[string]int
		exhausted bool
	}
	results := make([]result, senders)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			r := result{errs: map[string]int{}}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				b, ok := p.take()
				if !ok {
					r.exhausted = true
					break
				}
				lat, outcome := post(ctx, client, url, b)
				if outcome == "" {
					r.lat = append(r.lat, lat)
				} else {
					r.errs[outcome]++
				}
			}
			results[s] = r
		})
	}
	wg.Wait()
	out := load{Elapsed: time.Since(start), Errors: map[string]int{}}
	for _, r := range results {
		out.Latencies = append(out.Latencies, r.lat...)
		for k, v := range r.errs {
			out.Errors[k] += v
		}
		out.Exhausted = out.Exhausted || r.exhausted
	}
	return out
}

// post sends one report and returns its latency and "" for a 202, or the
// status code (or "transport") of anything else.
func post(ctx context.Context, client *http.Client, url string, b *body) (time.Duration, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b.gz))
	if err != nil {
		return 0, "request"
	}
	req.Header.Set("Content-Type", protocol.ContentType)
	req.Header.Set("Content-Encoding", protocol.EncodingGzip)
	req.Header.Set("User-Agent", protocol.UserAgentPrefix+version.Version)
	req.Header.Set(protocol.HeaderIdempotencyKey, b.key)
	req.Header.Set(protocol.HeaderSignature, b.signature)
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "transport"
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	lat := time.Since(began)
	if resp.StatusCode != http.StatusAccepted {
		return lat, strconv.Itoa(resp.StatusCode)
	}
	return lat, ""
}

// newClient returns a client that keeps one connection per sender open, as
// many separate installs each would.
func newClient(senders int) *http.Client {
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			MaxIdleConns:        senders,
			MaxIdleConnsPerHost: senders,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// phaseURL is the report URL of a collector listening on addr.
func phaseURL(addr string) string { return fmt.Sprintf("http://%s%s", addr, protocol.DefaultPath) }
