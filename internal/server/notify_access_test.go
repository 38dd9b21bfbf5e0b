package server_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// redCSAF is a published (released an hour ago) TLP:RED advisory with a secret title.
func redCSAF(t *testing.T, id string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(futureCSAF(t, id, time.Now().Add(-time.Hour), ""), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc["document"].(map[string]any)
	d["title"] = "TLP RED internal title"
	d["distribution"] = map[string]any{"tlp": map[string]any{"label": "RED"}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An anonymous person who signs up through the public form (and confirms their own
// address) must not receive the organisation's internal events: scan targets and firewall
// violations, and TLP:RED advisories, which even the CSAF provider gives only to members.
func TestPublicSignupHearsOnlyPublicEvents(t *testing.T) {
	forEnginesPublishing(t, "a", func(t *testing.T, e *env) {
		e.createOrg("a")
		ctx := context.Background()
		e.must(202, "POST", "/api/v1/signup", "", map[string]any{"org": "a", "email": "stranger@example.net"})
		org := orgID(t, e.store, "a")
		subs, err := e.store.ListSubscriptions(ctx, org, store.Page{Limit: 10})
		if err != nil || len(subs) != 1 {
			t.Fatalf("subscriptions %v %v", subs, err)
		}
		confirm, _ := e.srv.Notifier().Links(subs[0])
		token := strings.SplitN(confirm, "token=", 2)[1]
		if r := e.postForm(confirm, url.Values{"token": {token}}); r.status != 200 {
			t.Fatalf("confirm: %d %s", r.status, r.body)
		}

		// Internal events of the organisation.
		e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, testScan())
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, redCSAF(t, "RED-2026-1"))
		// A public advisory, as a control: the sign-up does hear of it.
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, futureCSAF(t, "PUB-2026-1", time.Now().Add(-time.Hour), ""))
		if _, err := e.srv.Notifier().FanOut(ctx); err != nil {
			t.Fatal(err)
		}
		ds, err := e.store.ListDeliveries(ctx, org, store.DeliveryPending, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		public := 0
		for _, d := range ds {
			if d.SubscriptionID != subs[0].ID || d.Kind == store.DeliveryKindConfirm {
				continue
			}
			if d.Kind == "advisory.published" && strings.Contains(string(d.Payload), "PUB-2026-1") {
				public++
				continue
			}
			t.Errorf("the public sign-up gets a %s event: %s", d.Kind, d.Payload)
		}
		if public != 1 {
			t.Errorf("the public sign-up got %d messages of the public advisory, want 1", public)
		}

		// Asking for an internal event type is refused, naming the field.
		r := e.do("POST", "/api/v1/signup", "", map[string]any{"org": "a", "email": "other@example.net", "event_types": []string{"advisory.published", "scan.violation"}})
		if r.status != 400 || !strings.Contains(string(r.body), "event_types[1]") {
			t.Errorf("sign-up for scan.violation: %d %s", r.status, r.body)
		}
	})
}

// The sign-up limit is meant per source address, and the login limiter groups IPv6
// addresses by /64 (limitKey) so that one subscriber cycling through its own addresses
// gains nothing. The sign-up key "signup:ADDR" is no address, so limitKey never groups it:
// every address of one /64 gets a fresh bucket.
func TestSignupRateLimitIPv6(t *testing.T) {
	e := newEnvWith(t, store.SQLite, func(c *server.Config) {
		c.LoginBurst = 3
		c.CSAFProviderOrg = "a"
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	e.createOrg("a")
	limited := 0
	for i := range 30 {
		src := "2001:db8:1:2::" + itoa(int64(i+1))
		r := e.do("POST", "/api/v1/signup", "", map[string]any{"org": "a", "email": "user" + itoa(int64(i)) + "@example.org"},
			"X-Forwarded-For", src)
		if r.status == 429 {
			limited++
		} else if r.status != 202 {
			t.Fatalf("sign-up %d: %d %s", i, r.status, r.body)
		}
	}
	if limited == 0 {
		t.Error("30 sign-ups from one IPv6 /64 were all accepted (burst 3)")
	}
	// The same from one address is limited, as a control.
	limited = 0
	for i := range 10 {
		r := e.do("POST", "/api/v1/signup", "", map[string]any{"org": "a", "email": "v" + itoa(int64(i)) + "@example.org"},
			"X-Forwarded-For", "2001:db8:9::1")
		if r.status == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("control: sign-ups from one address are not limited either")
	}
}

// Webhook URLs of chat services carry their credential in the path (Slack's
// https://hooks.slack.com/services/T/B/SECRET), and e-mail subscribers' addresses are
// personal data; a viewer reads both, and every dead letter's payload, although only admins
// may create, change or delete subscriptions.
func TestViewerCannotReadSubscriptions(t *testing.T) {
	forEnginesPublishing(t, "a", func(t *testing.T, e *env) {
		e.createOrg("a")
		viewer := e.createUser("a", "vera", store.RoleViewer)
		hook := "https://hooks.slack.example/services/T000/B000/XXXXsecretXXXX"
		e.must(201, "POST", "/api/v1/orgs/a/subscriptions", e.admin, map[string]any{"kind": "webhook", "address": hook})
		e.must(202, "POST", "/api/v1/signup", "", map[string]any{"org": "a", "email": "private.person@example.net"})
		r := e.do("GET", "/api/v1/orgs/a/subscriptions", viewer, nil)
		if strings.Contains(string(r.body), "XXXXsecretXXXX") || strings.Contains(string(r.body), "private.person") {
			t.Errorf("a viewer lists the subscriptions' addresses: %d %s", r.status, r.body)
		}
	})
}
