package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An embargoed advisory's page lets operators move it to the next monthly release day or,
// with the box ticked, publish it now; the releases page cancels an out-of-band release no
// advisory waits for. Viewers get none of the forms.
func TestScheduleAndCancelForms(t *testing.T) {
	e := newEnv(t)
	id := strconv.FormatInt(e.importEmbargoed("EMB-2026-0009"), 10)
	advPage := "/o/default/advisories/" + id
	s := e.signIn("admin", adminPassword)
	if p := e.browse("GET", advPage, s, nil); !strings.Contains(p.body, `id="publish-now"`) || !strings.Contains(p.body, `id="schedule-next"`) {
		t.Fatalf("the embargoed advisory's page lacks the release forms: %d", p.status)
	}
	// Without the box: refused, nothing published.
	if p := e.postForm(s, advPage, advPage+"/schedule", url.Values{"release": {"now"}}, ""); p.status != 400 || !strings.Contains(p.body, "confirm must be ticked") {
		t.Errorf("publish without the box: %d", p.status)
	}
	published := func() bool {
		var a struct {
			PublishedAt      *time.Time `json:"published_at"`
			ScheduledRelease *time.Time `json:"scheduled_release"`
		}
		e.api(200, "GET", "/api/v1/orgs/default/advisories/"+id, e.admin, nil, &a)
		return a.PublishedAt != nil && a.ScheduledRelease == nil
	}
	if published() {
		t.Fatal("published without the box ticked")
	}
	if p := e.postForm(s, advPage, advPage+"/schedule", url.Values{"release": {"next"}}, ""); p.status != http.StatusSeeOther || !strings.Contains(p.location, "done=scheduled") {
		t.Errorf("move to the next release day: %d to %q", p.status, p.location)
	}
	if p := e.postForm(s, advPage, advPage+"/schedule", url.Values{"release": {"now"}, "confirm": {"yes"}}, ""); p.status != http.StatusSeeOther || !strings.Contains(p.location, "done=published-now") {
		t.Errorf("publish now: %d to %q", p.status, p.location)
	}
	if !published() {
		t.Error("not published after the form")
	}
	if p := e.browse("GET", advPage, s, nil); strings.Contains(p.body, `id="publish-now"`) {
		t.Error("a published advisory still offers to publish it")
	}

	// Cancel an out-of-band release.
	oob := time.Now().Add(100 * time.Hour).UTC().Truncate(time.Second).Add(17 * time.Second).Format(time.RFC3339)
	e.api(201, "POST", "/api/v1/orgs/default/releases", e.admin, map[string]any{"release_at": oob, "title": "to cancel"}, nil)
	action := "/o/default/releases/cancel"
	if p := e.browse("GET", "/o/default/releases", s, nil); !strings.Contains(p.body, `<option value="`+oob+`">`) {
		t.Fatalf("the releases page offers no cancel of %s", oob)
	}
	if p := e.postForm(s, "/o/default/releases", action, url.Values{"at": {oob}}, ""); p.status != 400 || !strings.Contains(p.body, "confirm must be ticked") {
		t.Errorf("cancel without the box: %d", p.status)
	}
	if p := e.postForm(s, "/o/default/releases", action, url.Values{"at": {oob}, "confirm": {"yes"}}, ""); p.status != http.StatusSeeOther || !strings.Contains(p.location, "done=release-deleted") {
		t.Errorf("cancel: %d to %q", p.status, p.location)
	}
	if p := e.browse("GET", "/o/default/releases", s, nil); strings.Contains(p.body, "to cancel") {
		t.Error("the cancelled release is still listed")
	}

	// A viewer sees neither.
	e.createUser("default", "vera", "viewer")
	v := e.signIn("vera", "password-of-vera")
	e.api(201, "POST", "/api/v1/orgs/default/releases", e.admin, map[string]any{"release_at": oob}, nil)
	if p := e.browse("GET", "/o/default/releases", v, nil); p.status != 200 || !strings.Contains(p.body, `id="releases"`) || strings.Contains(p.body, "release-cancel") {
		t.Errorf("a viewer's releases page: %d, with a cancel form: %v", p.status, strings.Contains(p.body, "release-cancel"))
	}
	// The operator's page offers it again.
	if p := e.browse("GET", "/o/default/releases", s, nil); !strings.Contains(p.body, `id="release-cancel"`) {
		t.Error("no cancel form for the operator")
	}
}
