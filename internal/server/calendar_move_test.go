package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/notify"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// A change of the release calendar moves what waits for its monthly release days: these tests
// run on a clock set to a fixed point before a release day of the default calendar (the
// second Tuesday at 10:00 UTC, 3 business days' notice).

// setClock sets the server's clock and logs the site admin in again (sessions follow it).
func (e *env) setClock(t time.Time) {
	e.mu.Lock()
	e.now = t
	e.mu.Unlock()
	e.admin = e.login("admin", adminPassword)
}

// defaultReleaseDay is a monthly release day of the default calendar at least 40 days
// ahead, and that calendar.
func defaultReleaseDay(t *testing.T) (time.Time, notify.ReleaseCalendar) {
	t.Helper()
	d := store.DefaultReleaseCalendar
	nc, err := notify.ParseReleaseCalendar(d.Ordinal, d.Weekday, d.TimeOfDay, d.Zone, d.NoticeDays)
	if err != nil {
		t.Fatal(err)
	}
	return nc.NextReleaseDay(time.Now().Add(40 * 24 * time.Hour)), nc
}

func calendar(t *testing.T, ordinal, weekday int, tod, zone string) notify.ReleaseCalendar {
	t.Helper()
	nc, err := notify.ParseReleaseCalendar(ordinal, weekday, tod, zone, 3)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// calendarSet is the answer to PUT .../release-calendar.
type calendarSet struct {
	Zone  string
	Time  string
	Moved int `json:"moved_advisories"`
	Moves []struct {
		From, To      time.Time
		Advisories    []string
		Count         int    `json:"advisory_count"`
		AdvanceNotice string `json:"advance_notice"`
	}
	Kept []struct {
		At         time.Time `json:"release_at"`
		Passed     time.Time `json:"new_release_at"`
		Advisories []string
		Count      int `json:"advisory_count"`
	}
	Message string
}

func (e *env) setCalendar(org string, body map[string]any) calendarSet {
	e.t.Helper()
	var cs calendarSet
	e.must(200, "PUT", "/api/v1/orgs/"+org+"/release-calendar", e.admin, body).json(e.t, &cs)
	return cs
}

// importScheduled imports an advisory released at rel (in the future: scheduled) and
// returns its id.
func (e *env) importScheduled(org, trackingID string, rel time.Time) int64 {
	e.t.Helper()
	var imp struct{ Advisory store.Advisory }
	e.must(201, "POST", "/api/v1/orgs/"+org+"/advisories", e.admin, futureCSAF(e.t, trackingID, rel, "")).json(e.t, &imp)
	if imp.Advisory.ScheduledRelease == nil {
		e.t.Fatalf("%s was not scheduled", trackingID)
	}
	return imp.Advisory.ID
}

func (e *env) schedule(org string, id int64, release string) time.Time {
	e.t.Helper()
	var a store.Advisory
	e.must(200, "POST", fmt.Sprintf("/api/v1/orgs/%s/advisories/%d/schedule", org, id), e.admin, map[string]any{"release": release}).json(e.t, &a)
	return *a.ScheduledRelease
}

func (e *env) scheduledAt(org string, id int64) time.Time {
	e.t.Helper()
	var a store.Advisory
	e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/%s/advisories/%d", org, id), e.admin, nil).json(e.t, &a)
	if a.ScheduledRelease == nil {
		e.t.Fatalf("advisory %d is not scheduled (published at %v)", id, a.PublishedAt)
	}
	return *a.ScheduledRelease
}

type listedRelease struct {
	At                time.Time  `json:"release_at"`
	Kind              string     `json:"kind"`
	Title             string     `json:"title"`
	AdvanceNotifiedAt *time.Time `json:"advance_notified_at"`
	AdvanceRevision   int        `json:"advance_revision"`
	AdvisoryCount     int        `json:"advisory_count"`
	Advisories        []store.ScheduledAdvisory
}

func (e *env) releases(org string) []listedRelease {
	e.t.Helper()
	var rels struct{ Items []listedRelease }
	e.must(200, "GET", "/api/v1/orgs/"+org+"/releases?count=6", e.admin, nil).json(e.t, &rels)
	return rels.Items
}

func releaseAtTime(rels []listedRelease, at time.Time) *listedRelease {
	for i := range rels {
		if rels[i].At.Equal(at) {
			return &rels[i]
		}
	}
	return nil
}

// publishOn runs the publisher on nodes server nodes at once (on the env's store and clock).
func (e *env) publishOn(nodes int) {
	e.t.Helper()
	var wg sync.WaitGroup
	for i := range nodes {
		node := e.srv
		if i > 0 {
			node = server.New(server.Config{Store: e.store, Now: e.clock})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := node.Publish(context.Background()); err != nil {
				e.t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// publishedCount counts the advisory.published events of each tracking id.
func publishedCount(t *testing.T, st *store.Store, org int64) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, ev := range eventsOf(t, st, org, "advisory.published") {
		out[ev.Subject]++
	}
	return out
}

func utcText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

// Advisories scheduled for the next monthly release move with the calendar (zone, then time
// and day rule) to the new release time of the month, in the change; the release list shows
// one monthly release with them and no out-of-band phantom at the old time. Advisories of an
// out-of-band release, and one released at its own time, stay. Each is published once, at
// its new time, on several nodes.
func TestCalendarChangeMovesScheduledAdvisories(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		d, _ := defaultReleaseDay(t)
		e.setClock(d.Add(-20 * 24 * time.Hour))
		e.createOrg("a")
		org := orgID(t, e.store, "a")

		m1 := e.importScheduled("a", "MOVE-2026-1", d.Add(90*24*time.Hour))
		if got := e.schedule("a", m1, "next"); !got.Equal(d) {
			t.Fatalf("scheduled for %v, want the next release day %v", got, d)
		}
		m2 := e.importScheduled("a", "MOVE-2026-2", d) // its own date is the release time
		oob := d.Add(2*24*time.Hour + 7*time.Hour)     // Thursday 17:00 UTC
		e.must(201, "POST", "/api/v1/orgs/a/releases", e.admin, map[string]any{"release_at": oob.Format(time.RFC3339), "title": "Emergency"})
		o1 := e.importScheduled("a", "STAY-2026-1", d.Add(90*24*time.Hour))
		e.schedule("a", o1, oob.Format(time.RFC3339))
		own := d.Add(-23*time.Hour - 30*time.Minute) // Monday 10:30 UTC: an import's own time
		x1 := e.importScheduled("a", "STAY-2026-2", own)

		// Only the notice changes: nothing moves.
		if cs := e.setCalendar("a", map[string]any{"advance_notice_days": 4}); cs.Moved != 0 || cs.Message != "" || len(cs.Moves) != 0 {
			t.Fatalf("a change of the notice moved advisories: %+v", cs)
		}

		// The zone.
		berlin := calendar(t, 2, 2, "10:00", "Europe/Berlin")
		want := berlin.ReleaseDayIn(d.Year(), d.Month())
		cs := e.setCalendar("a", map[string]any{"zone": "Europe/Berlin"})
		for id, at := range map[int64]time.Time{m1: want, m2: want, o1: oob, x1: own} {
			if got := e.scheduledAt("a", id); !got.Equal(at) {
				t.Errorf("advisory %d scheduled for %v, want %v", id, got, at)
			}
		}
		rels := e.releases("a")
		if r := releaseAtTime(rels, d); r != nil {
			t.Errorf("a release remains at the old time: %+v", *r)
		}
		if r := releaseAtTime(rels, want); r == nil || r.Kind != "monthly" || r.AdvisoryCount != 2 || len(r.Advisories) != 2 {
			t.Errorf("the monthly release at %v: %+v", want, r)
		}
		if r := releaseAtTime(rels, oob); r == nil || r.Kind != "out_of_band" || r.Title != "Emergency" || r.AdvisoryCount != 1 {
			t.Errorf("the out-of-band release: %+v", r)
		}
		if r := releaseAtTime(rels, own); r == nil || r.AdvisoryCount != 1 {
			t.Errorf("the advisory's own time: %+v", r)
		}
		if cs.Moved != 2 || len(cs.Moves) != 1 || !cs.Moves[0].From.Equal(d) || !cs.Moves[0].To.Equal(want) || cs.Moves[0].Count != 2 ||
			len(cs.Kept) != 0 || cs.Moves[0].AdvanceNotice != "" {
			t.Fatalf("zone change: %+v", cs)
		}
		if msg := "Moved 2 scheduled advisories to the new release time " + utcText(want) + "."; !strings.Contains(cs.Message, msg) {
			t.Errorf("message %q lacks %q", cs.Message, msg)
		}
		var audit struct{ Items []store.AuditEvent }
		e.must(200, "GET", "/api/v1/audit?action=release_calendar.set", e.admin, nil).json(t, &audit)
		var details struct {
			Zone     string
			Moved    int `json:"moved_advisories"`
			Previous struct{ Zone string }
		}
		if len(audit.Items) != 2 || json.Unmarshal(audit.Items[0].Details, &details) != nil || details.Moved != 2 ||
			details.Zone != "Europe/Berlin" || details.Previous.Zone != "UTC" {
			t.Errorf("audit of the change: %d events, %s", len(audit.Items), audit.Items[0].Details)
		}

		// The day rule and time: the last Thursday at 17:00 in Berlin.
		local := want.In(mustZone(t, "Europe/Berlin"))
		want2 := calendar(t, -1, 4, "17:00", "Europe/Berlin").ReleaseDayIn(local.Year(), local.Month())
		cs = e.setCalendar("a", map[string]any{"ordinal": -1, "weekday": 4, "time": "17:00"})
		if cs.Moved != 2 || len(cs.Moves) != 1 || !cs.Moves[0].From.Equal(want) || !cs.Moves[0].To.Equal(want2) {
			t.Fatalf("day rule change: %+v", cs)
		}
		if !strings.Contains(cs.Message, "to the new release time "+utcText(want2)) {
			t.Errorf("message %q", cs.Message)
		}
		rels = e.releases("a")
		if r := releaseAtTime(rels, want); r != nil {
			t.Errorf("a release remains at the time before: %+v", *r)
		}
		if r := releaseAtTime(rels, want2); r == nil || r.Kind != "monthly" || r.AdvisoryCount != 2 {
			t.Errorf("the monthly release at %v: %+v", want2, r)
		}
		monthly := 0
		for _, r := range rels {
			if r.Kind == "monthly" && r.At.In(local.Location()).Month() == local.Month() {
				monthly++
			}
		}
		if monthly != 1 {
			t.Errorf("%d monthly releases in %s: %+v", monthly, local.Month(), rels)
		}

		// Published once, at the new time, on several nodes; nothing at the old times.
		e.setClock(d.Add(time.Minute))
		e.publishOn(3)
		if n := publishedCount(t, e.store, org); n["MOVE-2026-1"] != 0 || n["MOVE-2026-2"] != 0 || n["STAY-2026-2"] != 1 {
			t.Fatalf("after the old release time: %v", n)
		}
		e.setClock(want2.Add(-time.Minute))
		e.publishOn(3)
		if n := publishedCount(t, e.store, org); n["MOVE-2026-1"] != 0 || n["STAY-2026-1"] != 1 {
			t.Fatalf("before the new release time: %v", n)
		}
		notices := 0
		for _, ev := range eventsOf(t, e.store, org, "advance_notification") {
			if ev.Subject == want2.UTC().Format(time.RFC3339) {
				notices++
			}
		}
		if notices != 1 {
			t.Errorf("%d advance notifications of the moved release, want 1", notices)
		}
		e.setClock(want2.Add(time.Second))
		e.publishOn(4)
		e.setClock(want2.Add(24 * time.Hour))
		e.publishOn(2)
		if n := publishedCount(t, e.store, org); n["MOVE-2026-1"] != 1 || n["MOVE-2026-2"] != 1 || n["STAY-2026-1"] != 1 || n["STAY-2026-2"] != 1 {
			t.Fatalf("published %v, each once wanted", n)
		}
	})
}

// A monthly release whose new time of the month has passed already stays where it was
// scheduled (it is never published early), and the answer says so; the advance notification
// it had stays true, so none is sent again.
func TestCalendarChangeKeepsReleaseWhoseNewTimePassed(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		d, _ := defaultReleaseDay(t)
		e.setClock(d.Add(-30 * time.Minute))
		e.createOrg("a")
		org := orgID(t, e.store, "a")
		m1 := e.importScheduled("a", "KEEP-2026-1", d.Add(90*24*time.Hour))
		e.schedule("a", m1, "next")
		e.publishOn(2)
		if n := len(eventsOf(t, e.store, org, "advance_notification")); n != 1 {
			t.Fatalf("%d advance notifications, want 1", n)
		}
		cs := e.setCalendar("a", map[string]any{"time": "09:00"})
		if cs.Moved != 0 || len(cs.Moves) != 0 || len(cs.Kept) != 1 || !cs.Kept[0].At.Equal(d) || !cs.Kept[0].Passed.Equal(d.Add(-time.Hour)) ||
			cs.Kept[0].Count != 1 || len(cs.Kept[0].Advisories) != 1 || cs.Kept[0].Advisories[0] != "KEEP-2026-1" {
			t.Fatalf("change: %+v", cs)
		}
		if msg := "Kept 1 scheduled advisory at " + utcText(d) + " as scheduled: the new release time of that month, " + utcText(d.Add(-time.Hour)) + ", has passed"; !strings.Contains(cs.Message, msg) {
			t.Errorf("message %q lacks %q", cs.Message, msg)
		}
		if got := e.scheduledAt("a", m1); !got.Equal(d) {
			t.Fatalf("the advisory moved to %v", got)
		}
		e.publishOn(2)
		if n := len(eventsOf(t, e.store, org, "advance_notification")); n != 1 {
			t.Errorf("%d advance notifications after the change, want 1", n)
		}
		if n := publishedCount(t, e.store, org); n["KEEP-2026-1"] != 0 {
			t.Fatalf("published early: %v", n)
		}
		if r := releaseAtTime(e.releases("a"), d); r == nil || r.AdvisoryCount != 1 || r.AdvanceNotifiedAt == nil {
			t.Errorf("the kept release: %+v", r)
		}
		e.setClock(d.Add(time.Second))
		e.publishOn(3)
		if n := publishedCount(t, e.store, org); n["KEEP-2026-1"] != 1 {
			t.Fatalf("published %v, once wanted", n)
		}
	})
}

type advanceNoticeDetails struct {
	ReleaseAt         time.Time  `json:"release_at"`
	Kind              string     `json:"kind"`
	Advisories        int        `json:"advisories"`
	Revision          int        `json:"revision"`
	PreviousReleaseAt *time.Time `json:"previous_release_at"`
	MovedTo           *time.Time `json:"moved_to"`
	Previous          *struct {
		Advisories int `json:"advisories"`
	} `json:"previous"`
}

func noticeDetails(t *testing.T, ev store.Event) advanceNoticeDetails {
	t.Helper()
	var d advanceNoticeDetails
	if err := json.Unmarshal(ev.Details, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// A monthly release whose advance notification went out moves with its advisories: the
// release keeps its notice history and subscribers get one revised notice naming the new
// time and the old one; the publisher sends nothing more for it, at either time, and
// publishes each advisory once at the new time.
func TestCalendarChangeMovesNotifiedRelease(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		d, _ := defaultReleaseDay(t)
		e.setClock(d.Add(-24 * time.Hour))
		e.createOrg("a")
		org := orgID(t, e.store, "a")
		for _, id := range []string{"NOTE-2026-1", "NOTE-2026-2"} {
			e.schedule("a", e.importScheduled("a", id, d.Add(90*24*time.Hour)), "next")
		}
		e.publishOn(2)
		if n := len(eventsOf(t, e.store, org, "advance_notification")); n != 1 {
			t.Fatalf("%d advance notifications, want 1", n)
		}
		want := d.Add(2 * time.Hour)
		cs := e.setCalendar("a", map[string]any{"time": "12:00"})
		e.publishOn(3)
		e.publishOn(1)
		adv := eventsOf(t, e.store, org, "advance_notification") // newest first
		if len(adv) != 2 {
			t.Fatalf("%d advance notifications, want 2 (the notice and one revised for the move)", len(adv))
		}
		if cs.Moved != 2 || len(cs.Moves) != 1 || !cs.Moves[0].To.Equal(want) || cs.Moves[0].AdvanceNotice != "moved" {
			t.Errorf("change: %+v", cs)
		}
		if !strings.Contains(cs.Message, "Sent a revised advance notification: the release of "+utcText(d)+" is now at "+utcText(want)) {
			t.Errorf("message %q", cs.Message)
		}
		n := noticeDetails(t, adv[0])
		if adv[0].Subject != want.UTC().Format(time.RFC3339) || !n.ReleaseAt.Equal(want) || n.Kind != "monthly" || n.Advisories != 2 ||
			n.Revision != 2 || n.PreviousReleaseAt == nil || !n.PreviousReleaseAt.Equal(d) || n.Previous == nil || n.Previous.Advisories != 2 {
			t.Errorf("revised notice %s %s", adv[0].Subject, adv[0].Details)
		}
		if strings.Contains(string(adv[0].Details), "NOTE-2026") {
			t.Errorf("the notice names advisories: %s", adv[0].Details)
		}
		ctx := context.Background()
		if _, err := e.store.ReleaseAt(ctx, org, d); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a release remains at the old time: %v", err)
		}
		if rel, err := e.store.ReleaseAt(ctx, org, want); err != nil || rel.AdvanceRevision != 2 || rel.AdvanceNotifiedAt == nil || rel.Kind != "monthly" {
			t.Errorf("the moved release: %+v, %v", rel, err)
		}
		rels := e.releases("a")
		if r := releaseAtTime(rels, d); r != nil {
			t.Errorf("a release remains at the old time: %+v", *r)
		}
		if r := releaseAtTime(rels, want); r == nil || r.Kind != "monthly" || r.AdvisoryCount != 2 || r.AdvanceRevision != 2 || r.AdvanceNotifiedAt == nil {
			t.Errorf("the moved release in the list: %+v", r)
		}

		// Between the old and the new time nothing is published; at the new time each once.
		e.setClock(d.Add(time.Hour))
		e.publishOn(2)
		if n := publishedCount(t, e.store, org); len(n) != 0 {
			t.Fatalf("published at the old time: %v", n)
		}
		e.setClock(want.Add(time.Second))
		e.publishOn(4)
		e.publishOn(1)
		if n := publishedCount(t, e.store, org); n["NOTE-2026-1"] != 1 || n["NOTE-2026-2"] != 1 {
			t.Fatalf("published %v, each once wanted", n)
		}
		if n := len(eventsOf(t, e.store, org, "advance_notification")); n != 2 {
			t.Errorf("%d advance notifications at the end, want 2", n)
		}
	})
}

// A notified monthly release whose new time is an out-of-band release already merges into
// it: subscribers are told the old release moved there, and the out-of-band release gets its
// own notice, once.
func TestCalendarChangeMergesIntoOutOfBandRelease(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		d, _ := defaultReleaseDay(t)
		e.setClock(d.Add(-24 * time.Hour))
		e.createOrg("a")
		org := orgID(t, e.store, "a")
		want := d.Add(2 * time.Hour)
		e.must(201, "POST", "/api/v1/orgs/a/releases", e.admin, map[string]any{"release_at": want.Format(time.RFC3339), "title": "Emergency"})
		e.schedule("a", e.importScheduled("a", "MERGE-2026-1", d.Add(90*24*time.Hour)), "next")
		e.publishOn(2)
		cs := e.setCalendar("a", map[string]any{"time": "12:00"})
		if cs.Moved != 1 || len(cs.Moves) != 1 || cs.Moves[0].AdvanceNotice != "merged" {
			t.Fatalf("change: %+v", cs)
		}
		e.publishOn(3)
		e.publishOn(1)
		adv := eventsOf(t, e.store, org, "advance_notification") // newest first
		if len(adv) != 3 {
			t.Fatalf("%d advance notifications, want 3", len(adv))
		}
		moved, own := noticeDetails(t, adv[1]), noticeDetails(t, adv[0])
		if adv[1].Subject != d.UTC().Format(time.RFC3339) || moved.Advisories != 0 || moved.Revision != 2 || moved.MovedTo == nil ||
			!moved.MovedTo.Equal(want) || moved.Previous == nil || moved.Previous.Advisories != 1 {
			t.Errorf("the notice of the move: %s %s", adv[1].Subject, adv[1].Details)
		}
		if adv[0].Subject != want.UTC().Format(time.RFC3339) || own.Advisories != 1 || own.Revision != 1 || own.Kind != "out_of_band" {
			t.Errorf("the notice of the out-of-band release: %s %s", adv[0].Subject, adv[0].Details)
		}
		rels := e.releases("a")
		if r := releaseAtTime(rels, d); r != nil {
			t.Errorf("a release remains at the old time: %+v", *r)
		}
		if r := releaseAtTime(rels, want); r == nil || r.Title != "Emergency" || r.AdvisoryCount != 1 {
			t.Errorf("the merged release: %+v", r)
		}
		e.setClock(want.Add(time.Second))
		e.publishOn(3)
		if n := publishedCount(t, e.store, org); n["MERGE-2026-1"] != 1 {
			t.Fatalf("published %v, once wanted", n)
		}
	})
}

// Advisories of an out-of-band release stay, even when the release falls on the old
// calendar's monthly release time.
func TestCalendarChangeLeavesOutOfBandReleaseOnReleaseDay(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		d, _ := defaultReleaseDay(t)
		e.setClock(d.Add(-20 * 24 * time.Hour))
		e.createOrg("a")
		hotfix := d.Add(time.Hour)
		e.must(201, "POST", "/api/v1/orgs/a/releases", e.admin, map[string]any{"release_at": hotfix.Format(time.RFC3339), "title": "Hotfix"})
		o1 := e.importScheduled("a", "HOT-2026-1", d.Add(90*24*time.Hour))
		e.schedule("a", o1, hotfix.Format(time.RFC3339))
		// 11:00: the hotfix's time becomes the monthly release time...
		if cs := e.setCalendar("a", map[string]any{"time": "11:00"}); cs.Moved != 0 {
			t.Fatalf("moved %+v", cs)
		}
		// ...and stays the out-of-band release when the calendar changes again.
		if cs := e.setCalendar("a", map[string]any{"time": "12:00"}); cs.Moved != 0 || cs.Message != "" {
			t.Fatalf("moved %+v", cs)
		}
		if got := e.scheduledAt("a", o1); !got.Equal(hotfix) {
			t.Errorf("the out-of-band advisory moved to %v", got)
		}
		rels := e.releases("a")
		if r := releaseAtTime(rels, hotfix); r == nil || r.Kind != "out_of_band" || r.Title != "Hotfix" || r.AdvisoryCount != 1 {
			t.Errorf("the out-of-band release: %+v", r)
		}
		if r := releaseAtTime(rels, d.Add(2*time.Hour)); r == nil || r.Kind != "monthly" || r.AdvisoryCount != 0 {
			t.Errorf("the monthly release: %+v", r)
		}
	})
}

// A change of the calendar racing with the publisher's advance notification and with an
// advisory being scheduled for the next release: however they interleave (on PostgreSQL,
// several nodes), nothing is left at or announced for the old time, and the last notice
// names the new one.
func TestCalendarChangeRacesPublisherAndScheduling(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		d, _ := defaultReleaseDay(t)
		e.setClock(d.Add(-24 * time.Hour))
		want := d.Add(2 * time.Hour)
		ctx := context.Background()
		for i := range 6 {
			slug := fmt.Sprintf("r%d", i)
			e.createOrg(slug)
			org := orgID(t, e.store, slug)
			e.schedule(slug, e.importScheduled(slug, fmt.Sprintf("RACE-%d-1", i), d.Add(90*24*time.Hour)), "next")
			late := e.importScheduled(slug, fmt.Sprintf("RACE-%d-2", i), d.Add(90*24*time.Hour))
			var wg sync.WaitGroup
			wg.Add(3)
			go func() {
				defer wg.Done()
				e.publishOn(2)
			}()
			go func() {
				defer wg.Done()
				e.setCalendar(slug, map[string]any{"time": "12:00"})
			}()
			go func() {
				defer wg.Done()
				e.schedule(slug, late, "next")
			}()
			wg.Wait()
			e.publishOn(2)
			if _, err := e.store.ReleaseAt(ctx, org, d); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: a release remains at the old time: %v", slug, err)
			}
			rels := e.releases(slug)
			if r := releaseAtTime(rels, d); r != nil {
				t.Errorf("%s: listed at the old time: %+v", slug, *r)
			}
			if r := releaseAtTime(rels, want); r == nil || r.AdvisoryCount != 2 || r.AdvanceNotifiedAt == nil {
				t.Errorf("%s: the release at the new time: %+v", slug, r)
			}
			adv := eventsOf(t, e.store, org, "advance_notification")
			if len(adv) == 0 || adv[0].Subject != want.UTC().Format(time.RFC3339) || noticeDetails(t, adv[0]).Advisories != 2 {
				for _, ev := range adv {
					t.Logf("%s: notice %s %s", slug, ev.Subject, ev.Details)
				}
				t.Errorf("%s: the last notice does not name the new time with both advisories", slug)
			}
		}
	})
}
