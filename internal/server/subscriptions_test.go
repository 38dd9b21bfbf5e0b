package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/notify"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// lastAudit is the newest audit event.
func (e *env) lastAudit() store.AuditEvent {
	e.t.Helper()
	var evs struct{ Items []store.AuditEvent }
	e.must(200, "GET", "/api/v1/audit?limit=1", e.admin, nil).json(e.t, &evs)
	return evs.Items[0]
}

// postForm posts a form the way a browser or a mail client's one-click unsubscribe does.
func (e *env) postForm(link string, form url.Values) resp {
	e.t.Helper()
	u, _ := url.Parse(link)
	res, err := e.http.Client().Post(e.http.URL+u.RequestURI(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// The public sign-up, the confirmation link and one-click unsubscribe: nothing changes on
// GET, each change is audited, and the answers tell nobody who is subscribed.
func TestSignupConfirmUnsubscribe(t *testing.T) {
	forEnginesPublishing(t, "a", func(t *testing.T, e *env) {
		e.createOrg("a")
		e.createOrg("b")
		body := map[string]any{"org": "a", "email": "Alice@Example.org", "min_severity": "high"}
		before := e.auditCount()
		e.must(202, "POST", "/api/v1/signup", "", body)
		if ev := e.lastAudit(); e.auditCount() != before+1 || ev.Action != "subscription.signup" || ev.Actor != "signup" {
			t.Errorf("sign-up audit %+v", ev)
		}
		// Again: the same answer, nothing new.
		r := e.must(202, "POST", "/api/v1/signup", "", body)
		if e.auditCount() != before+1 || !strings.Contains(string(r.body), "confirmation link") {
			t.Errorf("second sign-up: %s, audit %d", r.body, e.auditCount()-before)
		}
		// Once the mail went out, signing up again an hour later sends it again (the way to
		// a lost link), and not again within the hour.
		ctx := context.Background()
		org, err := e.store.OrgBySlug(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		deliveries := func(state string) []store.Delivery {
			t.Helper()
			ds, err := e.store.ListDeliveries(ctx, org.ID, state, store.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return ds
		}
		confirms := func() int {
			n := 0
			for _, st := range []string{store.DeliveryPending, "held", "sent"} {
				for _, d := range deliveries(st) {
					if d.Kind == store.DeliveryKindConfirm {
						n++
					}
				}
			}
			return n
		}
		waiting := append(deliveries(store.DeliveryPending), deliveries("held")...)
		if len(waiting) != 1 {
			t.Fatalf("waiting deliveries %+v", waiting)
		}
		if err := e.store.Update(ctx, func(tx *store.Tx) error { return tx.MarkSent(ctx, waiting[0].ID) }); err != nil {
			t.Fatal(err)
		}
		e.advance(61 * time.Minute)
		e.must(202, "POST", "/api/v1/signup", "", body)
		e.must(202, "POST", "/api/v1/signup", "", body)
		if ev := e.lastAudit(); confirms() != 2 || ev.Action != "subscription.confirmation_resent" {
			t.Errorf("sign-ups an hour later: %d confirmation mails, last audit %s", confirms(), ev.Action)
		}
		before = e.auditCount()
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"org": "a", "email": "not an address"}, "email"},
			{map[string]any{"org": "nope", "email": "bob@example.org"}, "org"},
			{map[string]any{"org": "b", "email": "bob@example.org"}, "org"}, // exists, publishes nothing
			{map[string]any{"org": "a", "email": "bob@example.org", "min_severity": "urgent"}, "min_severity"},
			{map[string]any{"org": "a", "email": "bob@example.org", "event_types": []string{"everything"}}, "event_types[0]"},
		} {
			r := e.do("POST", "/api/v1/signup", "", tc.body)
			if r.status != 400 || r.err(t).Error.Field != tc.field {
				t.Errorf("%v: %d %s", tc.body, r.status, r.body)
			}
		}
		// An organisation that publishes nothing is answered as one that does not exist.
		nope, other := e.do("POST", "/api/v1/signup", "", map[string]any{"org": "nope", "email": "c@example.org"}),
			e.do("POST", "/api/v1/signup", "", map[string]any{"org": "b", "email": "c@example.org"})
		if string(nope.body) != string(other.body) {
			t.Errorf("unknown org %s, another org %s: they differ", nope.body, other.body)
		}
		var subs struct{ Items []store.Subscription }
		e.must(200, "GET", "/api/v1/orgs/a/subscriptions", e.admin, nil).json(t, &subs)
		if len(subs.Items) != 1 || subs.Items[0].Address != "alice@example.org" || subs.Items[0].ConfirmedAt != nil {
			t.Fatalf("subscriptions %+v", subs.Items)
		}
		sub, err := e.store.Subscription(context.Background(), subs.Items[0].OrgID, subs.Items[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		confirm, unsub := e.srv.Notifier().Links(sub)

		// GET shows a button and confirms nothing.
		page := e.do("GET", strings.TrimPrefix(confirm, "http://localhost"), "", nil)
		if page.status != 200 || !strings.Contains(string(page.body), `<form method="post">`) || page.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("confirm page %d %s", page.status, page.body)
		}
		if s, _ := e.store.Subscription(context.Background(), sub.OrgID, sub.ID); s.ConfirmedAt != nil {
			t.Fatal("GET confirmed the subscription")
		}
		token := strings.SplitN(confirm, "token=", 2)[1]
		if r := e.postForm(confirm, url.Values{"token": {token}}); r.status != 200 || !strings.Contains(string(r.body), "Subscribed") {
			t.Errorf("confirm: %d %s", r.status, r.body)
		}
		if ev := e.lastAudit(); ev.Action != "subscription.confirm" || ev.Actor != "subscriber:alice@example.org" {
			t.Errorf("confirm audit %+v", ev)
		}
		if r := e.postForm(confirm, url.Values{"token": {token}}); r.status != 404 {
			t.Errorf("second confirm: %d %s", r.status, r.body)
		}
		// One-click unsubscribe (RFC 8058): a POST to the link with List-Unsubscribe=One-Click.
		if r := e.postForm(unsub, url.Values{"List-Unsubscribe": {"One-Click"}}); r.status != 200 || !strings.Contains(string(r.body), "Unsubscribed") {
			t.Errorf("unsubscribe: %d %s", r.status, r.body)
		}
		if ev := e.lastAudit(); ev.Action != "subscription.unsubscribe" || ev.Actor != "subscriber:alice@example.org" {
			t.Errorf("unsubscribe audit %+v", ev)
		}
		n := e.auditCount()
		if r := e.postForm(unsub, url.Values{"List-Unsubscribe": {"One-Click"}}); r.status != 200 || e.auditCount() != n {
			t.Errorf("second unsubscribe: %d, audit %d", r.status, e.auditCount()-n)
		}
		e.must(200, "GET", "/api/v1/orgs/a/subscriptions", e.admin, nil).json(t, &subs)
		if len(subs.Items) != 0 {
			t.Errorf("subscriptions after unsubscribing %+v", subs.Items)
		}
		if r := e.postForm("/notify/confirm", url.Values{}); r.status != 400 || r.err(t).Error.Field != "token" {
			t.Errorf("no token: %d %s", r.status, r.body)
		}
	})
}

// Sign-ups are rate limited per source address.
func TestSignupRateLimit(t *testing.T) {
	e := newEnvWith(t, store.SQLite, func(c *server.Config) { c.LoginBurst = 5; c.CSAFProviderOrg = "a" })
	e.createOrg("a")
	limited := 0
	for i := range 30 {
		r := e.do("POST", "/api/v1/signup", "", map[string]any{"org": "a", "email": "user" + itoa(int64(i)) + "@example.org"})
		if r.status == 429 {
			limited++
			if r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		} else if r.status != 202 {
			t.Fatalf("sign-up %d: %d %s", i, r.status, r.body)
		}
	}
	if limited == 0 {
		t.Error("30 sign-ups in a row from one address were all accepted")
	}
}

// A webhook subscription gets the organisation's events signed; a receiver that keeps
// failing turns the delivery into a dead letter, which an admin retries.
func TestWebhookDeadLetterRetry(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		var fail atomic.Bool
		fail.Store(true)
		var mu sync.Mutex
		var got [][]byte
		var secret string
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			if err := notify.VerifyWebhook(secret, r.Header, b, e.clock(), 5*time.Minute); err != nil {
				t.Errorf("webhook signature: %v", err)
			}
			if fail.Load() {
				http.Error(w, "down for maintenance", http.StatusInternalServerError)
				return
			}
			got = append(got, b)
		}))
		defer recv.Close()
		var created struct {
			store.Subscription
			Secret string
		}
		e.must(201, "POST", "/api/v1/orgs/a/subscriptions", e.admin, map[string]any{"kind": "webhook", "address": recv.URL + "/hook",
			"event_types": []string{"scan.violation"}}).json(t, &created)
		mu.Lock()
		secret = created.Secret
		mu.Unlock()
		if len(secret) < 32 {
			t.Fatalf("webhook secret %q", secret)
		}
		var listed store.Subscription
		e.must(200, "GET", "/api/v1/orgs/a/subscriptions/"+itoa(created.ID), e.admin, nil).json(t, &listed)
		if r := e.must(200, "GET", "/api/v1/orgs/a/subscriptions/"+itoa(created.ID), e.admin, nil); bytes.Contains(r.body, []byte(secret)) {
			t.Error("the secret is shown again")
		}
		e.must(409, "POST", "/api/v1/orgs/a/subscriptions", e.admin, map[string]any{"kind": "webhook", "address": recv.URL + "/hook"})
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"kind": "webhook", "address": "http://example.org/hook"}, "address"},
			{map[string]any{"kind": "pigeon", "address": "x"}, "kind"},
		} {
			if r := e.do("POST", "/api/v1/orgs/a/subscriptions", e.admin, tc.body); r.status != 400 || r.err(t).Error.Field != tc.field {
				t.Errorf("%v: %d %s", tc.body, r.status, r.body)
			}
		}
		if r := e.do("PATCH", "/api/v1/orgs/a/subscriptions/"+itoa(created.ID), e.admin, map[string]any{"address": "https://other.example/"}); r.status != 400 {
			t.Errorf("changing the address: %d %s", r.status, r.body)
		}
		// PATCH keeps what it does not name.
		var patched store.Subscription
		e.must(200, "PATCH", "/api/v1/orgs/a/subscriptions/"+itoa(created.ID), e.admin, map[string]any{"min_severity": "low"}).json(t, &patched)
		if patched.MinSeverity != "low" || len(patched.EventTypes) != 1 || patched.EventTypes[0] != "scan.violation" {
			t.Errorf("after PATCH of min_severity alone: %+v", patched)
		}
		e.must(200, "PATCH", "/api/v1/orgs/a/subscriptions/"+itoa(created.ID), e.admin, map[string]any{"min_severity": ""})

		// A policy violation is an event for it.
		e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, testScan())
		n := e.srv.Notifier()
		// After a failed attempt the subscription shows it is failing, before any dead letter.
		n.RunOnce(context.Background())
		var failing struct{ Items []store.Subscription }
		e.must(200, "GET", "/api/v1/orgs/a/subscriptions", e.admin, nil).json(t, &failing)
		if len(failing.Items) != 1 || failing.Items[0].Retrying != 1 || !strings.Contains(failing.Items[0].LastError, "500") {
			t.Errorf("a failing subscription as listed: %+v", failing.Items)
		}
		for range 12 {
			n.RunOnce(context.Background())
			e.advance(7 * time.Hour)
		}
		e.admin = e.login("admin", adminPassword) // the session ended meanwhile
		var dead struct{ Items []store.Delivery }
		e.must(200, "GET", "/api/v1/orgs/a/dead-letters", e.admin, nil).json(t, &dead)
		if len(dead.Items) != 1 || dead.Items[0].Attempts != 8 || !strings.Contains(dead.Items[0].LastError, "500") {
			t.Fatalf("dead letters %+v", dead.Items)
		}
		fail.Store(false)
		e.must(200, "POST", "/api/v1/orgs/a/dead-letters/"+itoa(dead.Items[0].ID)+"/retry", e.admin, nil)
		if ev := e.lastAudit(); ev.Action != "delivery.retry" || ev.Actor != "admin" {
			t.Errorf("retry audit %+v", ev)
		}
		n.RunOnce(context.Background())
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("%d webhook deliveries after the retry", len(got))
		}
		var payload map[string]any
		if err := json.Unmarshal(got[0], &payload); err != nil || !strings.Contains(string(got[0]), "scan.violation") {
			t.Errorf("payload %s (%v)", got[0], err)
		}
		e.must(200, "GET", "/api/v1/orgs/a/dead-letters", e.admin, nil).json(t, &dead)
		if len(dead.Items) != 0 {
			t.Errorf("dead letters after the retry %+v", dead.Items)
		}
		if r := e.do("GET", "/api/v1/orgs/a/dead-letters?state=sent", e.admin, nil); r.status != 400 || r.err(t).Error.Field != "state" {
			t.Errorf("state=sent: %d %s", r.status, r.body)
		}
	})
}

// A webhook that answers 410 Gone disables its subscription; once the receiver is back an
// admin enables it, new events reach it, and its dead letter can be retried.
func TestWebhookGoneThenEnable(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		var gone atomic.Bool
		gone.Store(true)
		var calls atomic.Int32
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if gone.Load() {
				w.WriteHeader(http.StatusGone)
				return
			}
			calls.Add(1)
		}))
		defer recv.Close()
		var sub store.Subscription
		e.must(201, "POST", "/api/v1/orgs/a/subscriptions", e.admin, map[string]any{"kind": "webhook", "address": recv.URL + "/hook",
			"event_types": []string{"scan.violation"}}).json(t, &sub)
		n := e.srv.Notifier()
		ctx := context.Background()
		e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, testScan())
		n.RunOnce(ctx)
		e.must(200, "GET", "/api/v1/orgs/a/subscriptions/"+itoa(sub.ID), e.admin, nil).json(t, &sub)
		if sub.DisabledAt == nil || !strings.Contains(sub.DisabledReason, "410") {
			t.Fatalf("after 410: %+v", sub)
		}

		gone.Store(false)
		e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, testScan())
		n.RunOnce(ctx)
		if c := calls.Load(); c != 0 {
			t.Fatalf("a disabled subscription got %d calls", c)
		}
		// Its dead letters cannot be retried while it is disabled: they would wait unseen.
		var dl struct{ Items []store.Delivery }
		e.must(200, "GET", "/api/v1/orgs/a/dead-letters", e.admin, nil).json(t, &dl)
		if len(dl.Items) == 0 {
			t.Fatal("no dead letter after the 410")
		}
		if r := e.do("POST", "/api/v1/orgs/a/dead-letters/"+itoa(dl.Items[0].ID)+"/retry", e.admin, nil); r.status != 409 ||
			!strings.Contains(r.err(t).Error.Message, "disabled") {
			t.Errorf("retry while disabled: %d %s", r.status, r.body)
		}
		viewer := e.createUser("a", "vera", store.RoleViewer)
		e.must(403, "POST", "/api/v1/orgs/a/subscriptions/"+itoa(sub.ID)+"/enable", viewer, nil)
		e.must(404, "POST", "/api/v1/orgs/a/subscriptions/999/enable", e.admin, nil)
		id := sub.ID
		sub = store.Subscription{}
		e.must(200, "POST", "/api/v1/orgs/a/subscriptions/"+itoa(id)+"/enable", e.admin, nil).json(t, &sub)
		if sub.DisabledAt != nil || sub.DisabledReason != "" {
			t.Errorf("after enable: %+v", sub)
		}
		if ev := e.lastAudit(); ev.Action != "subscription.enable" || ev.Actor != "admin" {
			t.Errorf("enable audit %+v", ev)
		}
		e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, testScan())
		n.RunOnce(ctx)
		if c := calls.Load(); c != 1 {
			t.Errorf("after enable, %d calls for one new event, want 1", c)
		}
		var dead struct{ Items []store.Delivery }
		e.must(200, "GET", "/api/v1/orgs/a/dead-letters", e.admin, nil).json(t, &dead)
		if len(dead.Items) != 1 {
			t.Fatalf("dead letters %+v", dead.Items)
		}
		e.must(200, "POST", "/api/v1/orgs/a/dead-letters/"+itoa(dead.Items[0].ID)+"/retry", e.admin, nil)
		n.RunOnce(ctx)
		if c := calls.Load(); c != 2 {
			t.Errorf("after the retry, %d calls, want 2", c)
		}
		// Gone again: what it was sent ends dead, nothing waits pending.
		gone.Store(true)
		e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, testScan())
		n.RunOnce(ctx)
		dead.Items = nil
		e.must(200, "GET", "/api/v1/orgs/a/dead-letters", e.admin, nil).json(t, &dead)
		counts, err := e.store.CountDeliveries(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead.Items) != 1 || counts["pending"] != 0 || counts["held"] != 0 {
			t.Errorf("after a second 410: dead letters %+v, deliveries by state %v", dead.Items, counts)
		}
	})
}
