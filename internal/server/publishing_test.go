package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// futureCSAF is the minimal document with another tracking id, released at rel (a time in the
// future makes it scheduled), with a title and, when version is "2", two revisions.
func futureCSAF(t *testing.T, id string, rel time.Time, version string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(minimalCSAF(t), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc["document"].(map[string]any)
	tr := d["tracking"].(map[string]any)
	r := rel.UTC().Truncate(time.Second).Format(time.RFC3339)
	tr["id"], tr["current_release_date"] = id, r
	hist := []any{map[string]any{"date": r, "number": "1", "summary": "Initial version."}}
	if version == "2" {
		tr["initial_release_date"] = "2026-01-13T10:00:00Z"
		hist = []any{map[string]any{"date": "2026-01-13T10:00:00Z", "number": "1", "summary": "Initial version."},
			map[string]any{"date": r, "number": "2", "summary": "Fixed versions added."}}
		tr["version"] = "2"
		d["title"] = "Revised title v2"
	} else {
		tr["initial_release_date"] = r
	}
	tr["revision_history"] = hist
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outOfBandTime is a time three days ahead that is no monthly release day.
func outOfBandTime() string {
	return time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second).Add(17 * time.Second).Format(time.RFC3339)
}

func eventsOf(t *testing.T, st *store.Store, orgID int64, kind string) []store.Event {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), orgID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func orgID(t *testing.T, st *store.Store, slug string) int64 {
	t.Helper()
	o, err := st.OrgBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// An advisory released in the future is embargoed: viewers do not see it, partners and
// authors do; the advance notification and the publication each happen once, when due.
func TestEmbargoAndPublishing(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		viewer := e.createUser("a", "vera", store.RoleViewer)
		partner := e.createUser("a", "pat", store.RolePartner)
		operator := e.createUser("a", "oscar", store.RoleOperator)
		admin := e.createUser("a", "alice", store.RoleAdmin)
		org := orgID(t, e.store, "a")
		rel := time.Now().Add(2 * time.Hour)
		var imp struct {
			Advisory store.Advisory
			Revision store.AdvisoryRevision
		}
		e.must(201, "POST", "/api/v1/orgs/a/advisories", operator, futureCSAF(t, "EMB-2026-1", rel, "")).json(t, &imp)
		if imp.Advisory.PublishedAt != nil || imp.Advisory.ScheduledRelease == nil || imp.Revision.PublishedAt != nil {
			t.Fatalf("a future advisory was published at import: %+v", imp)
		}
		id := fmt.Sprint(imp.Advisory.ID)
		// Who sees it before the release.
		for who, tok := range map[string]string{"viewer": viewer, "partner": partner, "operator": operator, "admin": admin} {
			var list struct{ Items []store.Advisory }
			e.must(200, "GET", "/api/v1/orgs/a/advisories", tok, nil).json(t, &list)
			show := e.do("GET", "/api/v1/orgs/a/advisories/"+id, tok, nil).status
			export := e.do("GET", "/api/v1/orgs/a/advisories/"+id+"/csaf", tok, nil).status
			if who == "viewer" {
				if len(list.Items) != 0 || show != 404 || export != 404 {
					t.Errorf("viewer sees the embargoed advisory: list %d, show %d, export %d", len(list.Items), show, export)
				}
			} else if len(list.Items) != 1 || show != 200 || export != 200 {
				t.Errorf("%s does not see the embargoed advisory: list %d, show %d, export %d", who, len(list.Items), show, export)
			}
		}
		var days struct {
			Items []struct {
				At            time.Time `json:"release_at"`
				Kind          string
				AdvisoryCount int `json:"advisory_count"`
				Advisories    []store.ScheduledAdvisory
			}
		}
		e.must(200, "GET", "/api/v1/orgs/a/releases?count=24", partner, nil).json(t, &days)
		found := false
		for _, d := range days.Items {
			if d.AdvisoryCount == 1 && len(d.Advisories) == 1 && d.Kind == "out_of_band" {
				found = true
			}
		}
		if !found {
			t.Errorf("the release list lacks the scheduled advisory: %+v", days.Items)
		}
		days.Items = nil
		e.must(200, "GET", "/api/v1/orgs/a/releases?count=24", viewer, nil).json(t, &days)
		for _, d := range days.Items {
			if len(d.Advisories) > 0 {
				t.Errorf("a viewer sees scheduled advisories: %+v", d)
			}
		}

		// The advance notification is due (3 business days before a release two hours away).
		for range 3 {
			if err := e.srv.Publish(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		adv := eventsOf(t, e.store, org, "advance_notification")
		if len(adv) != 1 {
			t.Fatalf("%d advance notifications, want 1", len(adv))
		}
		var sum map[string]any
		json.Unmarshal(adv[0].Details, &sum)
		if sum["advisories"] != 1.0 || sum["severity"] == nil || strings.Contains(string(adv[0].Details), "EMB-2026-1") ||
			strings.Contains(string(adv[0].Details), "Minimal advisory") {
			t.Errorf("advance notification details %s", adv[0].Details)
		}
		if n := len(eventsOf(t, e.store, org, "advisory.published")); n != 0 {
			t.Fatalf("published before the release: %d events", n)
		}
		// The release comes.
		e.advance(3 * time.Hour)
		for range 3 {
			if err := e.srv.Publish(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(eventsOf(t, e.store, org, "advisory.published")); n != 1 {
			t.Fatalf("%d advisory.published events, want 1", n)
		}
		e.must(200, "GET", "/api/v1/orgs/a/advisories/"+id+"/csaf", viewer, nil)
		// A restarted server (a new instance on the same database) publishes nothing again.
		again := server.New(server.Config{Store: e.store, Now: e.clock})
		if err := again.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(eventsOf(t, e.store, org, "advisory.published")); n != 1 {
			t.Fatalf("after a restart: %d advisory.published events", n)
		}

		// A scheduled revision of a published advisory: viewers keep seeing version 1.
		e.must(201, "POST", "/api/v1/orgs/a/advisories", operator, futureCSAF(t, "REV-2026-1", time.Now().Add(-time.Hour), ""))
		var v2 struct{ Advisory store.Advisory }
		e.must(201, "POST", "/api/v1/orgs/a/advisories", operator, futureCSAF(t, "REV-2026-1", time.Now().Add(48*time.Hour), "2")).json(t, &v2)
		rid := fmt.Sprint(v2.Advisory.ID)
		var shown struct {
			store.Advisory
			RevisionList []store.AdvisoryRevision `json:"revision_list"`
		}
		e.must(200, "GET", "/api/v1/orgs/a/advisories/"+rid, viewer, nil).json(t, &shown)
		if shown.Version != "1" || shown.Title == "Revised title v2" || len(shown.RevisionList) != 1 {
			t.Errorf("viewer sees the embargoed revision: %+v", shown)
		}
		r := e.must(200, "GET", "/api/v1/orgs/a/advisories/"+rid+"/csaf", viewer, nil)
		if strings.Contains(string(r.body), "Revised title v2") {
			t.Error("viewer exports the embargoed revision")
		}
		e.must(404, "GET", "/api/v1/orgs/a/advisories/"+rid+"/csaf?revision=2", viewer, nil)
		r = e.must(200, "GET", "/api/v1/orgs/a/advisories/"+rid+"/csaf", partner, nil)
		if !strings.Contains(string(r.body), "Revised title v2") {
			t.Error("partner does not get the embargoed revision")
		}
		e.advance(72 * time.Hour)
		viewer = e.login("vera", "vera-password-123") // sessions last 12 hours
		if err := e.srv.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
		revised := eventsOf(t, e.store, org, "advisory.revised")
		if len(revised) != 1 || !strings.Contains(string(revised[0].Details), `"previous_version":"1"`) ||
			!strings.Contains(string(revised[0].Details), `"summary":"Fixed versions added."`) ||
			!strings.Contains(string(revised[0].Details), `"severity_before"`) {
			t.Fatalf("advisory.revised events %+v", revised)
		}
		e.must(200, "GET", "/api/v1/orgs/a/advisories/"+rid, viewer, nil).json(t, &shown)
		if shown.Version != "2" {
			t.Errorf("after the release the viewer sees version %s", shown.Version)
		}
	})
}

// Several server nodes publishing at once raise exactly one event per advisory; a restart
// publishes nothing twice. On PostgreSQL each node has its own connection pool.
func TestPublishExactlyOnceAcrossNodes(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			st, dbURL := storetest.OpenURL(t, engine)
			if _, _, err := server.Bootstrap(ctx, st, adminPassword); err != nil {
				t.Fatal(err)
			}
			org := orgID(t, st, server.InitialOrg)
			const n = 12
			for i := range n {
				doc, err := catalog.ValidateAdvisory(futureCSAF(t, fmt.Sprintf("RACE-%d", i), time.Now().Add(time.Hour), ""))
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Update(ctx, func(tx *store.Tx) error {
					_, err := catalog.ImportAdvisory(ctx, tx, org, doc, "test")
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			later := func() time.Time { return time.Now().Add(2 * time.Hour) }
			stores := []*store.Store{st}
			if dbURL != "" {
				two, err := store.Open(ctx, dbURL, "", nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { two.Close() })
				stores = append(stores, two)
			}
			run := func(nodes int) {
				var wg sync.WaitGroup
				for i := range nodes {
					node := server.New(server.Config{Store: stores[i%len(stores)], Now: later})
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := node.Publish(ctx); err != nil {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
			}
			run(4)
			run(1) // a restart
			evs := eventsOf(t, st, org, "advisory.published")
			seen := map[string]int{}
			for _, ev := range evs {
				seen[ev.Subject]++
			}
			if len(evs) != n || len(seen) != n {
				t.Fatalf("%d advisory.published events for %d advisories: %v", len(evs), n, seen)
			}
		})
	}
}

func TestReleaseCalendarAPI(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		var cal struct {
			Ordinal, Weekday int
			Time, Zone       string
			Notice           int         `json:"advance_notice_days"`
			Next             []time.Time `json:"next_release_days"`
		}
		e.must(200, "GET", "/api/v1/orgs/a/release-calendar", e.admin, nil).json(t, &cal)
		if cal.Ordinal != 2 || cal.Weekday != 2 || cal.Time != "10:00" || cal.Zone != "UTC" || cal.Notice != 3 || len(cal.Next) != 3 {
			t.Fatalf("default calendar %+v", cal)
		}
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"zone": "Mars/Olympus"}, "zone"},
			{map[string]any{"ordinal": 9}, "ordinal"},
			{map[string]any{"weekday": 7}, "weekday"},
			{map[string]any{"time": "25:61"}, "time"},
			{map[string]any{"advance_notice_days": 99}, "advance_notice_days"},
		} {
			r := e.do("PUT", "/api/v1/orgs/a/release-calendar", e.admin, tc.body)
			if r.status != 400 || r.err(t).Error.Field != tc.field {
				t.Errorf("%v: %d %s", tc.body, r.status, r.body)
			}
		}
		e.must(200, "PUT", "/api/v1/orgs/a/release-calendar", e.admin, map[string]any{"zone": "Europe/Berlin", "time": "09:00"}).json(t, &cal)
		if cal.Zone != "Europe/Berlin" || cal.Time != "09:00" || cal.Ordinal != 2 {
			t.Fatalf("calendar %+v", cal)
		}
		if l := cal.Next[0].In(mustZone(t, "Europe/Berlin")); l.Hour() != 9 || l.Weekday() != time.Tuesday || l.Day() < 8 || l.Day() > 14 {
			t.Fatalf("next release day %v", l)
		}
		// Releases: out-of-band ones; scheduling needs a release day.
		oob := outOfBandTime()
		e.must(201, "POST", "/api/v1/orgs/a/releases", e.admin, map[string]any{"release_at": oob, "title": "Emergency"})
		e.must(409, "POST", "/api/v1/orgs/a/releases", e.admin, map[string]any{"release_at": oob})
		for _, body := range []map[string]any{{"release_at": "tomorrow"}, {"release_at": "2001-01-01T00:00:00Z"}, {}} {
			if r := e.do("POST", "/api/v1/orgs/a/releases", e.admin, body); r.status != 400 || r.err(t).Error.Field != "release_at" {
				t.Errorf("%v: %d %s", body, r.status, r.body)
			}
		}
		var imp struct{ Advisory store.Advisory }
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, futureCSAF(t, "SCHED-1", time.Now().Add(20*24*time.Hour), "")).json(t, &imp)
		path := fmt.Sprintf("/api/v1/orgs/a/advisories/%d/schedule", imp.Advisory.ID)
		for _, bad := range []string{"soon", "2001-01-01T00:00:00Z", time.Now().Add(50 * time.Hour).UTC().Format(time.RFC3339)} {
			if r := e.do("POST", path, e.admin, map[string]any{"release": bad}); r.status != 400 || r.err(t).Error.Field != "release" {
				t.Errorf("release %q: %d %s", bad, r.status, r.body)
			}
		}
		var a store.Advisory
		e.must(200, "POST", path, e.admin, map[string]any{"release": oob}).json(t, &a)
		if a.ScheduledRelease == nil || a.ScheduledRelease.UTC().Format(time.RFC3339) != oob {
			t.Fatalf("scheduled %v, want %s", a.ScheduledRelease, oob)
		}
		e.must(200, "POST", path, e.admin, map[string]any{"release": "next"}).json(t, &a)
		if !a.ScheduledRelease.Equal(cal.Next[0]) {
			t.Fatalf("scheduled for %v, want the next release day %v", a.ScheduledRelease, cal.Next[0])
		}
		var pub struct{ Advisory store.Advisory }
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t)).json(t, &pub)
		if r := e.do("POST", fmt.Sprintf("/api/v1/orgs/a/advisories/%d/schedule", pub.Advisory.ID), e.admin, map[string]any{"release": "next"}); r.status != 409 {
			t.Errorf("scheduling a published advisory: %d %s", r.status, r.body)
		}
	})
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// An advisory scheduled into a release after its advance notification went out gets the
// subscribers a revised notice, once, saying what the one before said; nothing changes,
// nothing is sent, on any node.
func TestAdvanceNoticeRevised(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		org := orgID(t, e.store, "a")
		rel := time.Now().Add(2 * time.Hour)
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, futureCSAF(t, "ADV-2026-1", rel, ""))
		publish := func(s *server.Server) {
			t.Helper()
			for range 2 {
				if err := s.Publish(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
		publish(e.srv)
		if n := len(eventsOf(t, e.store, org, "advance_notification")); n != 1 {
			t.Fatalf("%d advance notifications, want 1", n)
		}
		// A second advisory for the same release, and a second node.
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, futureCSAF(t, "ADV-2026-2", rel, ""))
		other := server.New(server.Config{Store: e.store, Now: e.clock})
		publish(other)
		publish(e.srv)
		adv := eventsOf(t, e.store, org, "advance_notification")
		if len(adv) != 2 {
			t.Fatalf("%d advance notifications after the change, want 2", len(adv))
		}
		var first, second struct {
			Advisories int `json:"advisories"`
			New        int `json:"new"`
			Revision   int `json:"revision"`
			Previous   *struct {
				Advisories int `json:"advisories"`
			} `json:"previous"`
		}
		// ListEvents is newest first.
		if err := json.Unmarshal(adv[1].Details, &first); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(adv[0].Details, &second); err != nil {
			t.Fatal(err)
		}
		if first.Advisories != 1 || first.Revision != 1 || first.Previous != nil {
			t.Errorf("first notice %s", adv[1].Details)
		}
		if second.Advisories != 2 || second.New != 2 || second.Revision != 2 || second.Previous == nil || second.Previous.Advisories != 1 {
			t.Errorf("revised notice %s", adv[0].Details)
		}
		if strings.Contains(string(adv[0].Details), "ADV-2026") {
			t.Errorf("the revised notice names advisories: %s", adv[0].Details)
		}
		var rels struct {
			Items []struct {
				At       time.Time `json:"release_at"`
				Revision int       `json:"advance_revision"`
			}
		}
		e.must(200, "GET", "/api/v1/orgs/a/releases?count=24", e.admin, nil).json(t, &rels)
		found := false
		for _, r := range rels.Items {
			found = found || r.Revision == 2
		}
		if !found {
			t.Errorf("no release shows advance_revision 2: %+v", rels.Items)
		}
	})
}

// An advance notification may reach anyone (public sign-ups hear of them): advisories
// marked TLP:AMBER or RED count, but their products are not named.
func TestAdvanceNoticeRestrictedAdvisory(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		org := orgID(t, e.store, "a")
		var doc map[string]any
		if err := json.Unmarshal(futureCSAF(t, "RED-2026-9", time.Now().Add(2*time.Hour), ""), &doc); err != nil {
			t.Fatal(err)
		}
		doc["document"].(map[string]any)["distribution"] = map[string]any{"tlp": map[string]any{"label": "RED"}}
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, doc)
		if err := e.srv.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
		adv := eventsOf(t, e.store, org, "advance_notification")
		if len(adv) != 1 {
			t.Fatalf("%d advance notifications, want 1", len(adv))
		}
		var sum struct {
			Advisories int      `json:"advisories"`
			Restricted int      `json:"restricted"`
			Products   []string `json:"products"`
		}
		if err := json.Unmarshal(adv[0].Details, &sum); err != nil {
			t.Fatal(err)
		}
		if sum.Advisories != 1 || sum.Restricted != 1 || len(sum.Products) != 0 {
			t.Errorf("advance notification of a TLP:RED advisory: %s", adv[0].Details)
		}
	})
}
