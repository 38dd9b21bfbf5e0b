package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

// simAgent is one simulated, enrolled agent in its steady state.
type simAgent struct {
	id     int64
	auth   string            // the Authorization header: "Bearer <credential>"
	key    ed25519.PublicKey // the signing key pinned at enrollment
	body   []byte            // its steady-state check-in, JSON
	seq    uint64            // the sequence of the list it accepted
	digest string            // and that list's document digest
}

// newClient is the one HTTP client of a run: keep-alive connections, enough idle ones for
// every worker, no compression (the agent does not ask for it either).
func newClient(concurrency int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// target is a server under load: where to send check-ins and whose list its answers carry.
type target struct {
	name string
	url  string // the check-in URL
	// owner is the agent whose assignment list the answer to a check-in of a must carry: a
	// itself for patchday, the agent whose answer was canned for the baseline.
	owner func(a *simAgent) *simAgent
}

// loadResult is what one or more load phases measured.
type loadResult struct {
	target   string
	n        int // check-ins answered and verified
	errors   int
	firstErr error
	elapsed  time.Duration
	verified int             // answers whose signature was verified
	lat      []time.Duration // of every answered check-in
}

func (r loadResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// add adds the figures of another phase against the same target.
func (r *loadResult) add(o loadResult) {
	r.target = o.target
	r.n += o.n
	r.errors += o.errors
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.verified += o.verified
	r.lat = append(r.lat, o.lat...)
}

// percentile returns the p-th percentile (0-100) of the latencies.
func (r loadResult) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

// loadOptions shape a load phase.
type loadOptions struct {
	concurrency int
	duration    time.Duration
	verifyEvery int // verify the signature of every n-th answer of a worker; the others are compared by digest
}

// load sends steady-state check-ins from concurrency workers for the duration, each worker
// taking the next agent round-robin, and checks every answer: status 200, no request for
// the inventory, and the assignment list the agent already holds (same sequence and
// document digest); on every verifyEvery-th answer of a worker also its signature
// (protocol.VerifyAssignments).
func load(ctx context.Context, client *http.Client, t target, agents []*simAgent, o loadOptions) loadResult {
	var next atomic.Uint64
	var mu sync.Mutex
	res := loadResult{target: t.name}
	lat := make([][]time.Duration, o.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(o.duration)
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			n, verified := 0, 0
			mine := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				a := agents[int(next.Add(1)-1)%len(agents)]
				verify := o.verifyEvery > 0 && n%o.verifyEvery == 0
				t0 := time.Now()
				err := checkIn(ctx, client, t.url, a, t.owner(a), verify, &buf)
				d := time.Since(t0)
				if err != nil {
					mu.Lock()
					res.errors++
					if res.firstErr == nil {
						res.firstErr = err
					}
					mu.Unlock()
					if ctx.Err() != nil {
						return
					}
					continue
				}
				n++
				if verify {
					verified++
				}
				mine = append(mine, d)
			}
			mu.Lock()
			res.n += n
			res.verified += verified
			lat[w] = mine
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.lat = slices.Concat(lat...)
	return res
}

// checkIn posts agent a's steady-state check-in to url and checks the answer against the
// list that owner holds.
func checkIn(ctx context.Context, client *http.Client, url string, a, owner *simAgent, verify bool, buf *bytes.Buffer) error {
	resp, raw, err := post(ctx, client, url, a, buf)
	if err != nil {
		return err
	}
	if resp.NeedInventory {
		return fmt.Errorf("computer %d: the server asks for the inventory it has", a.id)
	}
	if verify {
		if _, err := protocol.VerifyAssignments(resp.Assignments, owner.key, owner.id, owner.seq, owner.digest); err != nil {
			return fmt.Errorf("computer %d: assignment list: %w", a.id, err)
		}
		return nil
	}
	if resp.Assignments.Kind != protocol.KindAssignments || resp.Assignments.DocumentDigest() != owner.digest {
		return fmt.Errorf("computer %d: not the assignment list it holds: %.200s", a.id, raw)
	}
	return nil
}

// post sends a's check-in body and decodes the answer, which must be 200.
func post(ctx context.Context, client *http.Client, url string, a *simAgent, buf *bytes.Buffer) (protocol.CheckInResponse, []byte, error) {
	var resp protocol.CheckInResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(a.body))
	if err != nil {
		return resp, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "patchday-agent/agentload")
	req.Header.Set("Authorization", a.auth)
	res, err := client.Do(req)
	if err != nil {
		return resp, nil, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(io.LimitReader(res.Body, protocol.MaxBody))
	res.Body.Close()
	if err != nil {
		return resp, nil, fmt.Errorf("read answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return resp, nil, fmt.Errorf("computer %d: status %d: %.300s", a.id, res.StatusCode, buf.Bytes())
	}
	if err := json.Unmarshal(buf.Bytes(), &resp); err != nil {
		return resp, nil, fmt.Errorf("computer %d: answer: %w", a.id, err)
	}
	return resp, buf.Bytes(), nil
}

// baselineHandler is the baseline server: it reads and decodes the check-in like a JSON API
// would and answers a canned check-in answer of the real size.
func baselineHandler(answer []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req protocol.CheckIn
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, protocol.MaxBody))
		if err := dec.Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.InventoryHash == "" {
			http.Error(w, "no inventory hash", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})
}

// serveHTTP serves h on a new loopback listener with the timeouts of `patchday serve` and
// returns its base URL and a function that stops it.
func serveHTTP(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "agentload: serve:", err)
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		<-done
	}
	return "http://" + ln.Addr().String(), stop, nil
}
