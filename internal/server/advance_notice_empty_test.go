package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// A release whose advance notification went out and whose every advisory then moves to
// another release gets a revised notice saying it holds none now, as one that loses one of
// two advisories does.
func TestAdvanceNoticeWhenAllAdvisoriesLeave(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		org := orgID(t, e.store, "a")
		rel := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
		var imp struct{ Advisory struct{ ID int64 } }
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, futureCSAF(t, "LEAVE-2026-1", rel, "")).json(t, &imp)
		publish := func() {
			t.Helper()
			for range 2 {
				if err := e.srv.Publish(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
		publish()
		subject := rel.Format(time.RFC3339)
		noticesOf := func(subject string) []json.RawMessage {
			var out []json.RawMessage
			for _, ev := range eventsOf(t, e.store, org, "advance_notification") {
				if ev.Subject == subject {
					out = append(out, ev.Details)
				}
			}
			return out
		}
		if n := len(noticesOf(subject)); n != 1 {
			t.Fatalf("%d advance notifications of %s, want 1", n, subject)
		}

		// Its only advisory moves to an out-of-band release an hour later.
		later := rel.Add(time.Hour)
		e.must(201, "POST", "/api/v1/orgs/a/releases", e.admin, map[string]any{"release_at": later.Format(time.RFC3339), "title": "Later"})
		e.must(200, "POST", fmt.Sprintf("/api/v1/orgs/a/advisories/%d/schedule", imp.Advisory.ID), e.admin,
			map[string]any{"release": later.Format(time.RFC3339)})
		publish()

		if n := len(noticesOf(later.Format(time.RFC3339))); n != 1 {
			t.Errorf("%d advance notifications of the new release, want 1", n)
		}
		if got := noticesOf(subject); len(got) != 2 {
			t.Errorf("the release at %s, announced with 1 advisory, has %d notices after its only advisory left, want a revised one (advisories 0)",
				subject, len(got))
		}
	})
}
