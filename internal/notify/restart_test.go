package notify

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// subscribeConfirmed makes n confirmed e-mail subscribers without confirmation mails (their
// requests are marked sent), as if they had signed up long ago.
func (e *env) subscribeConfirmed(t testing.TB, n int) {
	t.Helper()
	ctx := context.Background()
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		now := e.clock.Now().UTC()
		for i := range n {
			nonce := newNonce()
			_, err := tx.CreateSubscription(ctx, store.Subscription{OrgID: e.org.ID, Kind: "email",
				Address: fmt.Sprintf("user%06d@example.org", i), Digest: "none", TokenNonce: nonce,
				UnsubHash: hashToken(e.n.unsubToken(nonce)), ConfirmedAt: &now})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A worker stopped in the middle of a delivery run, and its store closed and opened again
// from the same SQLite file, loses no notification and sends none twice: the SMTP server
// ends up with exactly one message per subscriber.
func TestRestartLosesNothingSendsNothingTwice(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const subscribers = 300
	cfg := Config{SMTP: srv.config(), Concurrency: 2, ClaimBatch: 10, PollInterval: 10 * time.Millisecond}
	e := newEnvOn(t, st, cfg)
	e.subscribeConfirmed(t, subscribers)
	e.event(t, EventAdvisoryPublished, "EXS-2026-1101", `{"severity":"critical"}`)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.n.Run(runCtx); close(done) }()
	srv.waitFor(t, 20)
	stop()
	<-done
	before := srv.count(t)
	c := e.counts(t)
	if before >= subscribers || c[store.DeliverySent] != before || c[store.DeliveryPending] != subscribers-before {
		t.Fatalf("after the stop: server has %d, outbox %v; want some sent (all recorded) and the rest pending", before, c)
	}
	// Nothing stays leased after a clean stop: the rest is due at once for the next node.
	claimed := 0
	st.Update(ctx, func(tx *store.Tx) error {
		ds, err := tx.ClaimDeliveries(ctx, e.clock.Now(), e.clock.Now().Add(time.Minute), subscribers, false)
		claimed = len(ds)
		return fmt.Errorf("roll back: %w", err)
	})
	if claimed != subscribers-before {
		t.Fatalf("%d claimable after the stop, want %d", claimed, subscribers-before)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash: a worker claims a batch and dies before sending. Its rows wait for the lease.
	st, err = store.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e = newEnvOn(t, st, cfg)
	if err := st.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ClaimDeliveries(ctx, e.clock.Now(), e.clock.Now().Add(e.n.cfg.Lease), 25, false)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = store.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e = newEnvOn(t, st, cfg)
	n := e.deliver(t)
	if n != subscribers-before-25 {
		t.Fatalf("delivered %d before the lease expired, want %d", n, subscribers-before-25)
	}
	e.clock.Advance(6 * time.Minute) // past the crashed worker's lease (default 5 minutes)
	if n := e.deliver(t); n != 25 {
		t.Fatalf("delivered %d after the lease, want 25", n)
	}
	msgs := srv.waitFor(t, subscribers)
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.Header.Get("To")]++
	}
	if len(msgs) != subscribers || len(seen) != subscribers {
		t.Fatalf("server has %d messages to %d addresses, want %d each once", len(msgs), len(seen), subscribers)
	}
	if c := e.counts(t); c[store.DeliverySent] != subscribers {
		t.Fatalf("outbox %v", c)
	}
}

// Two nodes on one PostgreSQL deliver concurrently: every delivery reaches the receiver
// exactly once. The receiver holds the first requests until more are in flight than one
// node sends at once, so both nodes are surely delivering at the same time, however late
// one of them starts on a busy machine.
func TestTwoNodesPostgres(t *testing.T) {
	st1, dbURL := storetest.OpenURL(t, store.Postgres)
	ctx := context.Background()
	st2, err := store.Open(ctx, dbURL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	// The webhook timeout outlasts the receiver's hold (a timed-out request would be retried
	// only after the backoff).
	cfg := Config{Concurrency: 3, ClaimBatch: 5, Webhook: WebhookConfig{Timeout: 2 * time.Minute}}
	e1 := newEnvOn(t, st1, cfg)
	cfg.Now = e1.clock.Now // one clock for both nodes
	e2 := newEnvOn(t, st2, cfg)
	var mu sync.Mutex
	got := map[string]int{}
	inFlight, overlapped := 0, false
	// gate is closed once more requests are in flight than one node's workers make at once
	// (so both nodes are sending), or after a minute, which the test reports as a failure.
	gate := make(chan struct{})
	var opening sync.Once
	holdUp := time.AfterFunc(time.Minute, func() { opening.Do(func() { close(gate) }) })
	defer holdUp.Stop()
	r := newReceiver(t, e1.clock.Now)
	r.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		got[req.Header.Get(HeaderDelivery)]++
		inFlight++
		if inFlight > cfg.Concurrency {
			overlapped = true
			opening.Do(func() { close(gate) })
		}
		mu.Unlock()
		<-gate
		time.Sleep(5 * time.Millisecond) // a receiver that takes a moment, so the nodes overlap
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	const hooks = 40
	for i := range hooks {
		e1.subscribe(t, SubscriptionInput{Kind: "webhook", Address: r.srv.URL + "/hook/" + strconv.Itoa(i)})
	}
	for i := range 5 {
		e1.event(t, EventAdvisoryRevised, fmt.Sprint("EXS-", i), `{}`)
	}
	// Both nodes fan out at once (one waits for the other's cursor), then deliver at once.
	var wg sync.WaitGroup
	for _, e := range []*env{e1, e2} {
		wg.Go(func() {
			if _, err := e.n.FanOut(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	counts := make([]int, 2)
	for i, e := range []*env{e1, e2} {
		wg.Go(func() {
			n, err := e.n.Deliver(ctx)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if !overlapped {
		t.Errorf("never more than %d requests in flight: the two nodes did not deliver at the same time", cfg.Concurrency)
	}
	if len(got) != hooks*5 {
		t.Fatalf("receiver got %d distinct deliveries, want %d", len(got), hooks*5)
	}
	for id, k := range got {
		if k != 1 {
			t.Fatalf("delivery %s arrived %d times", id, k)
		}
	}
	if counts[0]+counts[1] != hooks*5 || counts[0] == 0 || counts[1] == 0 {
		t.Fatalf("nodes delivered %d and %d, want %d together, both some", counts[0], counts[1], hooks*5)
	}
}
