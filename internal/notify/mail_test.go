package notify

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

var (
	confirmLinkRE = regexp.MustCompile(`https://patchday\.test/notify/confirm\?token=(pdc_[A-Za-z0-9_-]{43})`)
	unsubLinkRE   = regexp.MustCompile(`^<(https://patchday\.test/notify/unsubscribe\?token=(pdu_[A-Za-z0-9_-]{43}))>`)
)

// The whole e-mail life: sign-up, confirmation mail, nothing before confirming, the event
// mail with its headers and both bodies, one-click unsubscribe, nothing after.
func TestEmailSubscriptionLifecycle(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	e := newEnv(t, store.SQLite, Config{SMTP: srv.config()})
	ctx := context.Background()

	created := e.subscribe(t, SubscriptionInput{Kind: "email", Address: "Alice <Alice@Example.ORG>", MinSeverity: "high"})
	if created.Address != "alice@example.org" || created.ConfirmedAt != nil {
		t.Fatalf("created %+v, want address alice@example.org, unconfirmed", created.Subscription)
	}
	if _, err := e.n.Subscribe(ctx, e.org.ID, SubscriptionInput{Kind: "email", Address: "alice@example.org"}, "x"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second subscription of the same address: %v, want ErrConflict", err)
	}
	// Unconfirmed: the event is not for it.
	e.event(t, EventAdvisoryPublished, "EXS-1", `{"severity":"critical"}`)
	if n := e.fanOut(t); n != 0 {
		t.Fatalf("fan-out to an unconfirmed subscription enqueued %d", n)
	}
	// The confirmation request.
	if n := e.deliver(t); n != 1 {
		t.Fatalf("delivered %d, want the confirmation request", n)
	}
	msgs := srv.waitFor(t, 1)
	m := msgs[0]
	if got := m.Header.Get("To"); !strings.Contains(got, "alice@example.org") {
		t.Errorf("To = %q", got)
	}
	if got := m.Header.Get("Subject"); got != "[patchday] Confirm your subscription to ACME Corp" {
		t.Errorf("Subject = %q", got)
	}
	if !strings.Contains(m.Text, "asked to receive ACME Corp's patchday notifications at alice@example.org") {
		t.Errorf("the request does not name the organisation:\n%s", m.Text)
	}
	if m.Header.Get("List-Unsubscribe") != "" {
		t.Errorf("a confirmation request has List-Unsubscribe %q: there is nothing to unsubscribe from yet", m.Header.Get("List-Unsubscribe"))
	}
	link := confirmLinkRE.FindStringSubmatch(m.Text)
	if link == nil || !strings.Contains(m.HTML, `href="`+link[0]+`"`) {
		t.Fatalf("no confirmation link in both bodies:\n%s\n%s", m.Text, m.HTML)
	}
	// Another last character (not the same one: 1 time in 64 the token ends in A already).
	last := "A"
	if strings.HasSuffix(link[1], last) {
		last = "B"
	}
	if _, err := e.n.Confirm(ctx, link[1][:len(link[1])-1]+last); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("wrong token: %v, want ErrInvalidToken", err)
	}
	sub, err := e.n.Confirm(ctx, link[1])
	if err != nil || sub.ConfirmedAt == nil {
		t.Fatalf("confirm: %+v, %v", sub, err)
	}
	if _, err := e.n.Confirm(ctx, link[1]); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("confirming twice: %v, want ErrInvalidToken", err)
	}

	// Below the subscription's minimum severity: nothing. Then one that matches, with markup
	// in it that the HTML body must escape.
	e.event(t, EventAdvisoryPublished, "EXS-2", `{"severity":"medium"}`)
	e.event(t, EventAdvisoryPublished, "EXS-3 <script>alert(1)</script>",
		`{"severity":"critical","title":"Remote code execution in <b>netd</b>","cves":["CVE-2026-0001"]}`)
	if n := e.fanOut(t); n != 1 {
		t.Fatalf("fan-out enqueued %d, want 1 (EXS-3 only)", n)
	}
	if n := e.deliver(t); n != 1 {
		t.Fatalf("delivered %d, want 1", n)
	}
	msgs = srv.waitFor(t, 2)
	for _, x := range msgs {
		if strings.Contains(x.Header.Get("Subject"), "EXS-3") {
			m = x
		}
	}
	if got, want := m.Header.Get("Subject"), "[patchday] Advisory published: EXS-3 <script>alert(1)</script>"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if got := m.Header.Get("From"); got != `"patchday" <patchday@patchday.test>` {
		t.Errorf("From = %q", got)
	}
	if got := m.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	if !regexp.MustCompile(`^<patchday\.\d+\.\d+@patchday\.test>$`).MatchString(m.Header.Get("Message-Id")) {
		t.Errorf("Message-ID = %q", m.Header.Get("Message-Id"))
	}
	if d, err := m.Header.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date = %q (%v)", m.Header.Get("Date"), err)
	}
	if m.Header.Get("Precedence") != "bulk" {
		t.Errorf("Precedence = %q, want bulk", m.Header.Get("Precedence"))
	}
	for _, want := range []string{"Advisory published: EXS-3 <script>", "Severity: critical", "cves: CVE-2026-0001\n",
		"title: Remote code execution in <b>netd</b>", "Organisation: acme"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text body lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>netd") ||
		!strings.Contains(m.HTML, "EXS-3 &lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("HTML body does not escape the event's text:\n%s", m.HTML)
	}
	unsub := unsubLinkRE.FindStringSubmatch(m.Header.Get("List-Unsubscribe"))
	if unsub == nil || !strings.Contains(m.HTML, `href="`+unsub[1]+`"`) || !strings.Contains(m.Text, unsub[1]) {
		t.Fatalf("List-Unsubscribe = %q, not the link in the bodies", m.Header.Get("List-Unsubscribe"))
	}

	// One-click: what the HTTP handler does with the POSTed link's token.
	u, _ := url.Parse(unsub[1])
	if _, err := e.n.Unsubscribe(ctx, u.Query().Get("token")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.n.Unsubscribe(ctx, u.Query().Get("token")); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unsubscribing twice: %v, want ErrInvalidToken", err)
	}
	e.event(t, EventAdvisoryPublished, "EXS-4", `{"severity":"critical"}`)
	if n := e.fanOut(t); n != 0 {
		t.Fatalf("fan-out after unsubscribing enqueued %d", n)
	}
	e.deliver(t)
	if n := srv.count(t); n != 2 {
		t.Fatalf("server has %d messages, want 2", n)
	}
}

// A confirmation link expires after ConfirmTTL.
func TestConfirmExpires(t *testing.T) {
	e := newEnv(t, store.SQLite, Config{ConfirmTTL: time.Hour})
	c := e.subscribe(t, SubscriptionInput{Kind: "email", Address: "late@example.org"})
	e.clock.Advance(2 * time.Hour)
	if _, err := e.n.Confirm(context.Background(), e.n.confirmToken(c.TokenNonce)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired link: %v, want ErrInvalidToken", err)
	}
	if err := e.n.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	if subs, _ := e.n.Subscriptions(context.Background(), e.org.ID, store.Page{Limit: 10}); len(subs) != 0 {
		t.Fatalf("unconfirmed subscription not purged: %+v", subs)
	}
}

// A daily digest gathers the day's events into one mail, sent after the day ended.
func TestDailyDigest(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	e := newEnv(t, store.SQLite, Config{SMTP: srv.config()})
	digest := e.subscribe(t, SubscriptionInput{Kind: "email", Address: "digest@example.org", Digest: "daily"})
	now := e.subscribe(t, SubscriptionInput{Kind: "email", Address: "now@example.org"})
	e.confirmDirectly(t, digest.Subscription)
	e.confirmDirectly(t, now.Subscription)
	e.deliver(t) // the two confirmation requests
	srv.waitFor(t, 2)

	for _, s := range []string{"EXS-10", "EXS-11", "EXS-12"} {
		e.event(t, EventAdvisoryPublished, s, `{"severity":"high"}`)
	}
	e.event(t, EventRolloutHalted, "openssl-3.0.11", `{"update":"openssl-3.0.11","group":"pilot"}`)
	if n := e.fanOut(t); n != 8 {
		t.Fatalf("fan-out enqueued %d, want 8", n)
	}
	if n := e.deliver(t); n != 4 {
		t.Fatalf("delivered %d, want the 4 immediate ones", n)
	}
	if n, err := e.n.BuildDigests(context.Background()); err != nil || n != 0 {
		t.Fatalf("digest built before the day ended: %d, %v", n, err)
	}
	e.clock.Advance(24 * time.Hour)
	if n, err := e.n.BuildDigests(context.Background()); err != nil || n != 1 {
		t.Fatalf("digests built: %d, %v; want 1", n, err)
	}
	if n, err := e.n.BuildDigests(context.Background()); err != nil || n != 0 {
		t.Fatalf("digest built twice: %d, %v", n, err)
	}
	if n := e.deliver(t); n != 1 {
		t.Fatalf("delivered %d, want the digest", n)
	}
	var got []received
	for _, m := range srv.waitFor(t, 7) {
		if strings.Contains(m.Header.Get("To"), "digest@") && strings.Contains(m.Header.Get("Subject"), "digest") {
			got = append(got, m)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d digest mails, want 1", len(got))
	}
	m := got[0]
	day := e.clock.Now().Add(-24 * time.Hour).UTC().Format(time.DateOnly)
	if want := "[patchday] Daily digest for " + day + ": 4 event(s)"; m.Header.Get("Subject") != want {
		t.Errorf("Subject = %q, want %q", m.Header.Get("Subject"), want)
	}
	for _, want := range []string{"EXS-10", "EXS-11", "EXS-12", "Rollout halted: openssl-3.0.11", "group: pilot"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("digest text lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{"EXS-10", "EXS-11", "EXS-12", "Rollout halted: openssl-3.0.11", "<td>pilot</td>"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("digest HTML lacks %q:\n%s", want, m.HTML)
		}
	}
	if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("digest without one-click unsubscribe")
	}
	if c := e.counts(t); c[store.DeliveryDigested] != 4 || c[store.DeliveryHeld] != 0 {
		t.Errorf("outbox states %v, want 4 digested", c)
	}
}

// STARTTLS: opportunistic upgrades when offered; mandatory refuses a server without it.
func TestSMTPStartTLS(t *testing.T) {
	tlsSrv := startSMTP(t, smtpOptions{tls: true})
	e := newEnv(t, store.SQLite, Config{SMTP: tlsSrv.config()})
	e.subscribe(t, SubscriptionInput{Kind: "email", Address: "tls@example.org"})
	if n := e.deliver(t); n != 1 {
		t.Fatalf("delivered %d over STARTTLS (the server requires it), want 1; outbox %v", n, e.counts(t))
	}
	tlsSrv.waitFor(t, 1)

	// A server that does not trust-check: an unknown certificate fails the delivery.
	cfg := tlsSrv.config()
	cfg.TLSConfig = nil
	e2 := newEnv(t, store.SQLite, Config{SMTP: cfg})
	e2.subscribe(t, SubscriptionInput{Kind: "email", Address: "tls@example.org"})
	if n := e2.deliver(t); n != 0 {
		t.Fatalf("delivered %d to a server whose certificate is not trusted", n)
	}

	plain := startSMTP(t, smtpOptions{})
	cfg = plain.config()
	cfg.StartTLS = StartTLSMandatory
	e3 := newEnv(t, store.SQLite, Config{SMTP: cfg})
	e3.subscribe(t, SubscriptionInput{Kind: "email", Address: "tls@example.org"})
	if n := e3.deliver(t); n != 0 || plain.count(t) != 0 {
		t.Fatalf("mandatory STARTTLS sent %d to a server without it", n)
	}
	ds, _ := e3.st.ListDeliveries(context.Background(), e3.org.ID, store.DeliveryPending, store.Page{Limit: 10})
	if len(ds) != 1 || !strings.Contains(ds[0].LastError, "STARTTLS") || ds[0].Attempts != 1 {
		t.Fatalf("delivery after a refused server: %+v, want pending with a STARTTLS error", ds)
	}
}

// SMTP AUTH (PLAIN and LOGIN) after STARTTLS, against aiosmtpd requiring it.
func TestSMTPAuth(t *testing.T) {
	srv := startSMTP(t, smtpOptions{auth: "patchday:s3cret"})
	for _, tc := range []struct {
		auth, password string
		ok             bool
	}{
		{"plain", "s3cret", true},
		{"login", "s3cret", true},
		{"plain", "wrong", false},
		{"", "", false}, // no credentials: the server requires them
	} {
		t.Run(tc.auth+"/"+tc.password, func(t *testing.T) {
			cfg := srv.config()
			if tc.password != "" {
				cfg.Username, cfg.Password, cfg.Auth = "patchday", tc.password, tc.auth
			}
			before := srv.count(t)
			e := newEnv(t, store.SQLite, Config{SMTP: cfg})
			e.subscribe(t, SubscriptionInput{Kind: "email", Address: "auth@example.org"})
			n := e.deliver(t)
			if tc.ok != (n == 1) {
				t.Fatalf("delivered %d; outbox %v", n, e.counts(t))
			}
			if tc.ok {
				srv.waitFor(t, before+1)
			} else if srv.count(t) != before {
				t.Fatal("the server accepted a message without authentication")
			}
		})
	}
}

// Without a mail server, e-mail waits in the outbox (webhooks go out); a notifier that has
// one then sends it.
func TestEmailWaitsForMailServer(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	e := newEnvOn(t, st, Config{})
	e.subscribe(t, SubscriptionInput{Kind: "email", Address: "alice@example.org"})
	for range 3 {
		if n := e.deliver(t); n != 0 {
			t.Fatalf("delivered %d without a mail server", n)
		}
		e.clock.Advance(time.Hour)
	}
	ctx := context.Background()
	pending, err := st.ListDeliveries(ctx, e.org.ID, store.DeliveryPending, store.Page{Limit: 10})
	if err != nil || len(pending) != 1 || pending[0].Attempts != 0 {
		t.Fatalf("pending %+v, %v: want the confirmation request, never attempted", pending, err)
	}
	if dead, _ := st.ListDeliveries(ctx, e.org.ID, store.DeliveryDead, store.Page{Limit: 10}); len(dead) != 0 {
		t.Fatalf("dead letters without a mail server: %+v", dead)
	}

	srv := startSMTP(t, smtpOptions{})
	withMail := newEnvOn(t, st, Config{SMTP: srv.config()})
	if n := withMail.deliver(t); n != 1 {
		t.Fatalf("delivered %d once a mail server is configured, want 1", n)
	}
	if m := srv.waitFor(t, 1); !strings.Contains(m[0].Header.Get("To"), "alice@example.org") {
		t.Errorf("To = %q", m[0].Header.Get("To"))
	}
}
