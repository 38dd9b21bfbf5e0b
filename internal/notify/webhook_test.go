package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// receiver is a webhook endpoint that verifies every call as a real receiver would and
// answers with the statuses it is told to.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	secret string
	now    func() time.Time

	mu       sync.Mutex
	statuses []int // answered in turn; then 200
	calls    []call
}

type call struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t testing.TB, now func() time.Time, statuses ...int) *receiver {
	r := &receiver{t: t, now: now, statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := VerifyWebhook(r.secret, req.Header, body, r.now(), DefaultReplayWindow); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.calls = append(r.calls, call{header: req.Header.Clone(), body: body, status: status})
		w.WriteHeader(status)
		io.WriteString(w, strings.Repeat("x", 1<<20)) // a long answer, read only in part
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (e *env) webhook(t testing.TB, r *receiver, in SubscriptionInput) Created {
	in.Kind, in.Address = "webhook", r.srv.URL+"/hook"
	c := e.subscribe(t, in)
	r.mu.Lock()
	r.secret = c.Secret
	r.mu.Unlock()
	return c
}

func TestWebhookSignedDelivery(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			e := newEnv(t, engine, Config{})
			r := newReceiver(t, e.clock.Now)
			c := e.webhook(t, r, SubscriptionInput{EventTypes: []string{EventScanOpened}})
			if !strings.HasPrefix(c.Secret, "pdw_") || c.ConfirmedAt == nil {
				t.Fatalf("webhook subscription %+v: want a pdw_ secret and live at once", c)
			}
			e.event(t, EventScanOpened, "10.0.0.0/24", `{"scan":7,"opened":2}`)
			e.event(t, EventScanViolation, "10.0.0.0/24", `{"scan":7,"violations":1}`) // not subscribed
			if n := e.fanOut(t); n != 1 {
				t.Fatalf("fan-out enqueued %d, want 1", n)
			}
			if n := e.deliver(t); n != 1 {
				t.Fatalf("delivered %d, want 1; outbox %v", n, e.counts(t))
			}
			calls := r.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls", len(calls))
			}
			got := calls[0]
			var m Message
			if err := json.Unmarshal(got.body, &m); err != nil || m.Type != EventScanOpened || m.Org != "acme" ||
				m.Subject != "10.0.0.0/24" || string(m.Details) != `{"scan":7,"opened":2}` || m.EventID == 0 {
				t.Fatalf("body %s (%v)", got.body, err)
			}
			if got.header.Get(HeaderEvent) != EventScanOpened || got.header.Get(HeaderDelivery) == "" ||
				got.header.Get("Content-Type") != "application/json" {
				t.Fatalf("headers %v", got.header)
			}
			// The same request later is a replay: refused outside the window, and any change
			// to the body breaks the signature.
			if err := VerifyWebhook(c.Secret, got.header, got.body, e.clock.Now().Add(6*time.Minute), DefaultReplayWindow); !errors.Is(err, ErrStale) {
				t.Fatalf("replay after 6 minutes: %v, want ErrStale", err)
			}
			if err := VerifyWebhook(c.Secret, got.header, got.body, e.clock.Now().Add(4*time.Minute), DefaultReplayWindow); err != nil {
				t.Fatalf("within the window: %v", err)
			}
			tampered := []byte(strings.Replace(string(got.body), `"opened":2`, `"opened":0`, 1))
			if err := VerifyWebhook(c.Secret, got.header, tampered, e.clock.Now(), DefaultReplayWindow); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("tampered body: %v, want ErrBadSignature", err)
			}
			if err := VerifyWebhook("pdw_other", got.header, got.body, e.clock.Now(), DefaultReplayWindow); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("other secret: %v, want ErrBadSignature", err)
			}
			h := got.header.Clone()
			h.Set(HeaderTimestamp, strconv.FormatInt(e.clock.Now().Unix()+1, 10)) // a fresh timestamp on old signature
			if err := VerifyWebhook(c.Secret, h, got.body, e.clock.Now(), DefaultReplayWindow); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("moved timestamp: %v, want ErrBadSignature", err)
			}
		})
	}
}

// 500 is retried with exponential backoff and jitter until it works.
func TestWebhookRetryBackoff(t *testing.T) {
	e := newEnv(t, store.SQLite, Config{})
	r := newReceiver(t, e.clock.Now, 500, 503)
	e.webhook(t, r, SubscriptionInput{})
	e.event(t, EventRolloutHalted, "openssl", `{}`)
	e.fanOut(t)
	ctx := context.Background()
	for attempt, wantDelay := range []time.Duration{time.Minute, 2 * time.Minute} {
		start := e.clock.Now()
		if n := e.deliver(t); n != 0 {
			t.Fatalf("attempt %d delivered", attempt+1)
		}
		ds, err := e.st.ListDeliveries(ctx, e.org.ID, store.DeliveryPending, store.Page{Limit: 10})
		if err != nil || len(ds) != 1 {
			t.Fatalf("pending %v, %v", ds, err)
		}
		d := ds[0]
		delay := d.NextAttemptAt.Sub(start)
		if d.Attempts != attempt+1 || delay < wantDelay/2-time.Second || delay > wantDelay+time.Second ||
			!strings.Contains(d.LastError, "50") {
			t.Fatalf("after attempt %d: attempts %d, next in %v (want %v/2..%v), error %q", attempt+1, d.Attempts, delay, wantDelay, wantDelay, d.LastError)
		}
		if n := e.deliver(t); n != 0 || len(r.Calls()) != attempt+1 {
			t.Fatalf("retried before its time")
		}
		e.clock.Advance(wantDelay + time.Second)
	}
	if n := e.deliver(t); n != 1 {
		t.Fatalf("third attempt delivered %d", n)
	}
	calls := r.Calls()
	if len(calls) != 3 || calls[0].header.Get(HeaderDelivery) != calls[2].header.Get(HeaderDelivery) {
		t.Fatalf("calls %d; the delivery id must stay the same across retries", len(calls))
	}
}

// 410 Gone disables the subscription: its delivery is dead and nothing more is enqueued.
func TestWebhookGoneDisables(t *testing.T) {
	e := newEnv(t, store.SQLite, Config{})
	r := newReceiver(t, e.clock.Now, http.StatusGone)
	c := e.webhook(t, r, SubscriptionInput{})
	e.event(t, EventDeadlinePassed, "openssl", `{}`)
	e.event(t, EventDeadlinePassed, "nginx", `{}`)
	e.fanOut(t)
	e.deliver(t)
	ctx := context.Background()
	sub, err := e.st.Subscription(ctx, e.org.ID, c.ID)
	if err != nil || sub.DisabledAt == nil || !strings.Contains(sub.DisabledReason, "410") {
		t.Fatalf("subscription after 410: %+v, %v", sub, err)
	}
	dead, _ := e.n.DeadLetters(ctx, e.org.ID, store.Page{Limit: 10})
	if len(dead) != 2 || len(r.Calls()) != 1 {
		t.Fatalf("dead letters %d (want both deliveries), calls %d (want 1)", len(dead), len(r.Calls()))
	}
	e.event(t, EventDeadlinePassed, "curl", `{}`)
	if n := e.fanOut(t); n != 0 {
		t.Fatalf("fan-out to a disabled subscription: %d", n)
	}
}

// After MaxAttempts failures a delivery is a dead letter; Retry sends it again.
func TestDeadLetterAndRetry(t *testing.T) {
	e := newEnv(t, store.SQLite, Config{MaxAttempts: 3, BackoffMax: time.Hour})
	r := newReceiver(t, e.clock.Now, 500, 500, 500)
	e.webhook(t, r, SubscriptionInput{})
	e.event(t, EventComplianceBelow, "acme", `{"pct":71,"threshold":90}`)
	e.fanOut(t)
	ctx := context.Background()
	for range 3 {
		e.deliver(t)
		e.clock.Advance(time.Hour)
	}
	dead, err := e.n.DeadLetters(ctx, e.org.ID, store.Page{Limit: 10})
	if err != nil || len(dead) != 1 || dead[0].Attempts != 3 || !strings.Contains(dead[0].LastError, "500") {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	e.clock.Advance(24 * time.Hour)
	if n := e.deliver(t); n != 0 || len(r.Calls()) != 3 {
		t.Fatal("a dead letter was tried again by itself")
	}
	if _, err := e.n.Retry(ctx, e.org.ID, dead[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.n.Retry(ctx, e.org.ID, dead[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retrying a delivery that is not dead: %v, want ErrNotFound", err)
	}
	if n := e.deliver(t); n != 1 {
		t.Fatalf("retried dead letter: delivered %d", n)
	}
	if dead, _ := e.n.DeadLetters(ctx, e.org.ID, store.Page{Limit: 10}); len(dead) != 0 {
		t.Fatalf("still dead: %+v", dead)
	}
}

// Without AllowPrivate, webhooks to internal addresses are refused: a literal one when the
// subscription is made, and any at dial time (here a loopback receiver), for good.
func TestWebhookRefusesPrivate(t *testing.T) {
	e := newEnv(t, store.SQLite, Config{})
	ctx := context.Background()
	e.n.cfg.Webhook.AllowPrivate = false
	for _, addr := range []string{"http://127.0.0.1:8080/hook", "https://10.1.2.3/hook", "https://[fd00::1]/hook",
		"https://169.254.169.254/latest/meta-data", "https://100.64.0.1/", "http://localhost/hook", "https://[::ffff:192.168.0.1]/"} {
		_, err := e.n.Subscribe(ctx, e.org.ID, SubscriptionInput{Kind: store.SubscriptionWebhook, Address: addr}, "admin")
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "address" || !strings.Contains(fe.Reason, "private") {
			t.Errorf("%s: %v, want a refusal naming address", addr, err)
		}
	}
	if _, err := e.n.Subscribe(ctx, e.org.ID, SubscriptionInput{Kind: store.SubscriptionWebhook, Address: "https://hooks.example.org/x"}, "admin"); err != nil {
		t.Errorf("a public host: %v", err)
	}

	// A receiver on loopback, subscribed while allowed, then the client refuses it.
	hits := 0
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer recv.Close()
	e.n.cfg.Webhook.AllowPrivate = true
	if _, err := e.n.Subscribe(ctx, e.org.ID, SubscriptionInput{Kind: store.SubscriptionWebhook, Address: recv.URL + "/hook"}, "admin"); err != nil {
		t.Fatal(err)
	}
	e.n.cfg.Webhook.AllowPrivate = false
	e.n.hook = newWebhookClient(WebhookConfig{Timeout: 5 * time.Second, MaxResponseBytes: 1 << 10})
	req, _ := http.NewRequest(http.MethodPost, recv.URL+"/hook", strings.NewReader("{}"))
	if _, err := e.n.hook.http.Do(req); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("dial to %s: %v, want ErrPrivateAddress", recv.URL, err)
	}
	if hits != 0 {
		t.Errorf("the receiver was called %d times", hits)
	}
}
