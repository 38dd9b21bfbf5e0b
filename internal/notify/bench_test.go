package notify

// The notification benchmark (docs/BENCHMARKS.md, "Notifications"):
//
//	go test -run '^$' -bench Notify -benchtime 1x -timeout 30m ./internal/notify/
//
// fan-out: one event to 100,000 subscribers, the time to enqueue them all. smtp and
// webhook: delivery of one event to 10,000 subscribers through the outbox to a local
// aiosmtpd and a local webhook receiver, against a same-run baseline that sends the same
// number of messages to the same server with the bare standard library (net/smtp, and
// http.Client POSTs) at the same concurrency, without the outbox.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

const (
	benchFanOut   = 100_000
	benchDelivery = 10_000
)

func BenchmarkNotifyFanOut(b *testing.B) {
	for _, engine := range storetest.Engines() {
		b.Run(fmt.Sprintf("%s/subscribers=%d", engine, benchFanOut), func(b *testing.B) {
			e := newEnv(b, engine, Config{})
			e.subscribeConfirmed(b, benchFanOut)
			b.ResetTimer()
			for i := range b.N {
				e.event(b, EventAdvisoryPublished, fmt.Sprint("EXS-", i), `{"severity":"critical","products":["OpenSSL 3.0"]}`)
				start := time.Now()
				if n := e.fanOut(b); n != benchFanOut {
					b.Fatalf("enqueued %d", n)
				}
				b.ReportMetric(time.Since(start).Seconds(), "s/enqueue")
				b.ReportMetric(float64(benchFanOut)/time.Since(start).Seconds(), "rows/s")
			}
		})
	}
}

// markBatches are the MarkBatch settings the delivery benchmarks compare: each outcome in
// its own commit, and the default.
var markBatches = []int{1, 16}

func BenchmarkNotifySMTP(b *testing.B) {
	srv := startSMTP(b, smtpOptions{})
	for _, engine := range storetest.Engines() {
		for _, mb := range markBatches {
			b.Run(fmt.Sprintf("%s/mark=%d", engine, mb), func(b *testing.B) { benchSMTP(b, engine, srv, mb) })
		}
	}
}

func benchSMTP(b *testing.B, engine store.Engine, srv *smtpServer, markBatch int) {
	cfg := Config{SMTP: srv.config(), MarkBatch: markBatch}
	e := newEnv(b, engine, cfg)
	e.subscribeConfirmed(b, benchDelivery)
	b.ResetTimer()
	for i := range b.N {
		e.event(b, EventAdvisoryPublished, fmt.Sprint("EXS-", i), `{"severity":"critical","title":"Remote code execution in netd"}`)
		e.fanOut(b)
		before := srv.count(b)
		start := time.Now()
		if n := e.deliver(b); n != benchDelivery {
			b.Fatalf("delivered %d; outbox %v", n, e.counts(b))
		}
		took := time.Since(start)
		srv.waitCount(b, before+benchDelivery)

		// Baseline: the same number of similar messages with net/smtp, one connection per
		// worker, as the notifier's workers keep theirs.
		msg := []byte("From: patchday@patchday.test\r\nTo: x@example.org\r\nSubject: [patchday] Advisory published: EXS\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + strings.Repeat("An advisory was published.\r\n", 40))
		before = srv.count(b)
		baseStart := time.Now()
		parallel(b, e.n.cfg.Concurrency, benchDelivery, func() func(i int) error {
			c, err := smtp.Dial(fmt.Sprintf("%s:%d", srv.Host, srv.Port))
			if err != nil {
				b.Fatal(err)
			}
			return func(i int) error {
				if i < 0 {
					return c.Quit()
				}
				if err := c.Mail("patchday@patchday.test"); err != nil {
					return err
				}
				if err := c.Rcpt(fmt.Sprintf("user%06d@example.org", i)); err != nil {
					return err
				}
				w, err := c.Data()
				if err != nil {
					return err
				}
				w.Write(msg)
				return w.Close()
			}
		})
		baseTook := time.Since(baseStart)
		srv.waitCount(b, before+benchDelivery)
		report(b, took, baseTook)
	}
}

func BenchmarkNotifyWebhook(b *testing.B) {
	var calls atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	for _, engine := range storetest.Engines() {
		for _, mb := range markBatches {
			b.Run(fmt.Sprintf("%s/mark=%d", engine, mb), func(b *testing.B) { benchWebhook(b, engine, recv, mb) })
		}
	}
}

func benchWebhook(b *testing.B, engine store.Engine, recv *httptest.Server, markBatch int) {
	e := newEnv(b, engine, Config{MarkBatch: markBatch})
	ctx := context.Background()
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		now := e.clock.Now().UTC()
		for i := range benchDelivery {
			_, err := tx.CreateSubscription(ctx, store.Subscription{OrgID: e.org.ID, Kind: "webhook", Digest: "none",
				Address: fmt.Sprintf("%s/hook?i=%d", recv.URL, i), Secret: newWebhookSecret(), TokenNonce: newNonce(),
				UnsubHash: fmt.Sprint("u", i), ConfirmedAt: &now})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		e.event(b, EventAdvisoryPublished, fmt.Sprint("EXS-", i), `{"severity":"critical","title":"Remote code execution in netd"}`)
		e.fanOut(b)
		start := time.Now()
		if n := e.deliver(b); n != benchDelivery {
			b.Fatalf("delivered %d; outbox %v", n, e.counts(b))
		}
		took := time.Since(start)

		// Baseline: plain POSTs of a body of the same size with one shared http.Client.
		ds, _ := e.st.ListDeliveries(ctx, e.org.ID, store.DeliverySent, store.Page{Limit: 1})
		body := ds[0].Payload
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		baseStart := time.Now()
		parallel(b, e.n.cfg.Concurrency, benchDelivery, func() func(i int) error {
			return func(i int) error {
				if i < 0 {
					return nil
				}
				resp, err := client.Post(fmt.Sprintf("%s/hook?i=%d", recv.URL, i), "application/json", strings.NewReader(string(body)))
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				return resp.Body.Close()
			}
		})
		report(b, took, time.Since(baseStart))
	}
}

// parallel runs total sends on workers goroutines; newWorker gives each its send function,
// called with -1 at the end.
func parallel(b *testing.B, workers, total int, newWorker func() func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		send := newWorker()
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					send(-1)
					return
				}
				if err := send(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func report(b *testing.B, took, baseline time.Duration) {
	rate, baseRate := float64(benchDelivery)/took.Seconds(), float64(benchDelivery)/baseline.Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(baseRate, "baseline-msgs/s")
	b.ReportMetric(rate/baseRate, "ratio")
}
