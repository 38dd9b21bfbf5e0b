package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// An advisory moved to another release is published saying so: its CSAF document's current
// and initial release dates and its revision's history entry are the new release's, in the
// export, the catalog and the CSAF provider; importing the original document again is still
// the same revision.
func TestScheduledAdvisoryRedated(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		planned := e.clock().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
		original := futureCSAF(t, "ACME-2026-0101", planned, "")
		var imp struct{ Advisory store.Advisory }
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, json.RawMessage(original)).json(t, &imp)
		id := imp.Advisory.ID
		oob := e.clock().Add(72 * time.Hour).UTC().Truncate(time.Second).Add(17 * time.Second)
		e.must(201, "POST", "/api/v1/orgs/a/releases", e.admin, map[string]any{"release_at": oob.Format(time.RFC3339), "title": "urgent"})
		if got := e.schedule("a", id, oob.Format(time.RFC3339)); !got.Equal(oob) {
			t.Fatalf("scheduled at %v, want %v", got, oob)
		}
		dates := func(who string) {
			t.Helper()
			var doc struct {
				Document struct {
					Tracking struct {
						Current string `json:"current_release_date"`
						Initial string `json:"initial_release_date"`
						History []struct {
							Date string
						} `json:"revision_history"`
					}
				}
			}
			e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/advisories/%d/csaf", id), e.admin, nil).json(t, &doc)
			tr, want := doc.Document.Tracking, oob.Format(time.RFC3339)
			if tr.Current != want || tr.Initial != want || len(tr.History) != 1 || tr.History[0].Date != want {
				t.Errorf("%s: document dates %+v, want all %s", who, tr, want)
			}
			var a store.Advisory
			e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/advisories/%d", id), e.admin, nil).json(t, &a)
			if !a.CurrentRelease.Equal(oob) || !a.InitialRelease.Equal(oob) {
				t.Errorf("%s: catalog dates %v and %v, want %v", who, a.InitialRelease, a.CurrentRelease, oob)
			}
		}
		dates("scheduled")
		// The original again: the same revision, nothing new.
		var again struct{ Unchanged bool }
		e.do("POST", "/api/v1/orgs/a/advisories", e.admin, json.RawMessage(original)).json(t, &again)
		if !again.Unchanged {
			t.Error("importing the original document again was not recognised as the same revision")
		}
		e.setClock(oob.Add(time.Minute))
		e.publishOn(1)
		var a store.Advisory
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/advisories/%d", id), e.admin, nil).json(t, &a)
		if a.PublishedAt == nil {
			t.Fatal("not published at its release")
		}
		dates("published")

		// Moved by a change of the calendar: dated at the new release time too.
		next := e.importScheduled("a", "ACME-2026-0102", planned)
		e.schedule("a", next, "next")
		if cs := e.setCalendar("a", map[string]any{"zone": "Europe/Berlin"}); cs.Moved != 1 {
			t.Fatalf("calendar change moved %d advisories", cs.Moved)
		}
		at := e.scheduledAt("a", next)
		var doc struct {
			Document struct {
				Tracking struct {
					Current string `json:"current_release_date"`
				}
			}
		}
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/advisories/%d/csaf", next), e.admin, nil).json(t, &doc)
		if doc.Document.Tracking.Current != at.UTC().Format(time.RFC3339) {
			t.Errorf("after the calendar change: current_release_date %s, scheduled %v", doc.Document.Tracking.Current, at)
		}
	})
}

// The advance notification names the products the coming advisories affect, not the fixed
// versions of their product trees.
func TestAdvanceNoticeNamesAffectedProducts(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		doc, _ := servicesCSAF(t, e.clock().Add(2*time.Hour))
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, doc)
		if err := e.srv.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
		org, err := e.store.OrgBySlug(context.Background(), "default")
		if err != nil {
			t.Fatal(err)
		}
		adv := eventsOf(t, e.store, org.ID, "advance_notification")
		if len(adv) != 1 {
			t.Fatalf("%d advance notifications", len(adv))
		}
		var sum struct{ Products []string }
		json.Unmarshal(adv[0].Details, &sum)
		if got := fmt.Sprintf("%q", sum.Products); got != `["Exim 4.96" "Microsoft SQL Server" "OpenBSD OpenSSH 9.2p1" "PostgreSQL 15.4" "nginx below 1.22.2"]` {
			t.Errorf("notice products %s", got)
		}
	})
}

// "now" publishes an embargoed advisory at once, out of band, dated now, with its event.
func TestScheduleNowPublishes(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		id := e.importScheduled("a", "ACME-2026-0201", e.clock().Add(10*24*time.Hour))
		var a store.Advisory
		e.must(200, "POST", fmt.Sprintf("/api/v1/orgs/a/advisories/%d/schedule", id), e.admin, map[string]any{"release": "now"}).json(t, &a)
		now := e.clock().UTC().Truncate(time.Second)
		if a.PublishedAt == nil || a.ScheduledRelease != nil || !a.CurrentRelease.Equal(now) {
			t.Fatalf("after --release now: %+v", a)
		}
		org, err := e.store.OrgBySlug(context.Background(), "a")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(eventsOf(t, e.store, org.ID, "advisory.published")); n != 1 {
			t.Errorf("%d advisory.published events", n)
		}
		// Published: nothing left to schedule.
		if r := e.do("POST", fmt.Sprintf("/api/v1/orgs/a/advisories/%d/schedule", id), e.admin, map[string]any{"release": "now"}); r.status != 409 {
			t.Errorf("again: %d %s", r.status, r.body)
		}
	})
}

// An out-of-band release is cancelled once no advisory waits for it; a monthly release day
// is the calendar's, not cancelled so; an announced one gets a revised notice.
func TestDeleteRelease(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		oob := e.clock().Add(2 * time.Hour).UTC().Truncate(time.Second).Add(17 * time.Second)
		at := oob.Format(time.RFC3339)
		e.must(201, "POST", "/api/v1/orgs/a/releases", e.admin, map[string]any{"release_at": at, "title": "urgent"})
		id := e.importScheduled("a", "ACME-2026-0301", e.clock().Add(30*24*time.Hour))
		e.schedule("a", id, at)
		// Announced (two hours ahead: within the notice).
		if err := e.srv.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := e.do("DELETE", "/api/v1/orgs/a/releases/"+at, e.admin, nil); r.status != 409 || !strings.Contains(r.err(t).Error.Message, "ACME-2026-0301") {
			t.Errorf("with an advisory waiting: %d %s", r.status, r.body)
		}
		e.schedule("a", id, "next")
		e.must(204, "DELETE", "/api/v1/orgs/a/releases/"+at, e.admin, nil)
		if rel := releaseAtTime(e.releases("a"), oob); rel != nil {
			t.Errorf("still listed: %+v", rel)
		}
		org, err := e.store.OrgBySlug(context.Background(), "a")
		if err != nil {
			t.Fatal(err)
		}
		var last struct{ Advisories, Revision int }
		if adv := eventsOf(t, e.store, org.ID, "advance_notification"); len(adv) < 2 {
			t.Errorf("%d advance notifications: no revised notice for the cancelled release", len(adv))
		} else if json.Unmarshal(adv[0].Details, &last); last.Advisories != 0 || last.Revision < 2 { // newest first
			t.Errorf("the last notice %s", adv[0].Details)
		}
		e.must(404, "DELETE", "/api/v1/orgs/a/releases/"+at, e.admin, nil)
		monthly := e.schedule("a", id, "next")
		if r := e.do("DELETE", "/api/v1/orgs/a/releases/"+monthly.UTC().Format(time.RFC3339), e.admin, nil); r.status != 409 {
			t.Errorf("a monthly release day: %d %s", r.status, r.body)
		}
		if r := e.do("DELETE", "/api/v1/orgs/a/releases/tomorrow", e.admin, nil); r.status != 400 || r.err(t).Error.Field != "at" {
			t.Errorf("a bad time: %d %s", r.status, r.body)
		}
	})
}

// servicesCSAF is testdata/services-csaf.json (EX-2026-0042: OpenSSH 9.2p1, nginx, ...)
// released at rel, and its tracking object to change it further.
func servicesCSAF(t *testing.T, rel time.Time) (doc, tracking map[string]any) {
	t.Helper()
	raw, err := os.ReadFile("testdata/services-csaf.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	at := rel.UTC().Truncate(time.Second).Format(time.RFC3339)
	tr := doc["document"].(map[string]any)["tracking"].(map[string]any)
	tr["current_release_date"], tr["initial_release_date"] = at, at
	tr["revision_history"].([]any)[0].(map[string]any)["date"] = at
	return doc, tr
}
