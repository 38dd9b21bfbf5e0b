package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A webhook that answers 410 Gone: the subscriptions page shows it disabled with an Enable
// button and its dead letter with a Retry button; both work.
func TestDeadLettersPage(t *testing.T) {
	e := newEnv(t)
	var gone atomic.Bool
	gone.Store(true)
	var got atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		got.Add(1)
	}))
	defer recv.Close()
	var sub struct {
		ID int64 `json:"id"`
	}
	e.api(201, "POST", "/api/v1/orgs/default/subscriptions", e.admin, map[string]any{"kind": "webhook", "address": recv.URL + "/hook",
		"event_types": []string{"advisory.published"}}, &sub)

	// An advisory published now: an event for the webhook.
	var list struct {
		Items []struct {
			ID int64 `json:"id"`
		}
	}
	e.api(200, "GET", "/api/v1/orgs/default/advisories?limit=1", e.admin, nil, &list)
	var doc map[string]any
	e.api(200, "GET", "/api/v1/orgs/default/advisories/"+strconv.FormatInt(list.Items[0].ID, 10)+"/csaf", e.admin, nil, &doc)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	tr := doc["document"].(map[string]any)["tracking"].(map[string]any)
	tr["id"], tr["current_release_date"], tr["initial_release_date"], tr["version"] = "DL-2026-0001", at, at, "1"
	tr["revision_history"] = []any{map[string]any{"date": at, "number": "1", "summary": "Initial version."}}
	e.api(201, "POST", "/api/v1/orgs/default/advisories", e.admin, doc, nil)
	n := e.srv.Notifier()
	n.RunOnce(context.Background())

	s := e.signIn("admin", adminPassword)
	p := e.browse("GET", "/o/default/subscriptions", s, nil)
	id := strconv.FormatInt(sub.ID, 10)
	if !strings.Contains(p.body, `action="/o/default/subscriptions/`+id+`/enable"`) || !strings.Contains(p.body, `id="dead-letters"`) ||
		!strings.Contains(p.body, "410 Gone") {
		t.Fatalf("the subscriptions page lacks the disabled subscription or its dead letter:\n%s", p.body)
	}
	tok := csrfOf(t, p.body)
	if p := e.browse("POST", "/o/default/subscriptions/"+id+"/enable", s, url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther ||
		!strings.Contains(p.location, "done=subscription-enabled") {
		t.Fatalf("enable: %d %q", p.status, p.location)
	}
	gone.Store(false)
	dl := regexpFind(t, p.body+e.browse("GET", "/o/default/subscriptions", s, nil).body, `action="/o/default/dead-letters/(\d+)/retry"`)
	if p := e.browse("POST", "/o/default/dead-letters/"+dl+"/retry", s, url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther ||
		!strings.Contains(p.location, "done=retried") {
		t.Fatalf("retry: %d %q", p.status, p.location)
	}
	n.RunOnce(context.Background())
	if got.Load() != 1 {
		t.Errorf("the receiver got %d messages after the retry, want 1", got.Load())
	}
	if p := e.browse("GET", "/o/default/subscriptions", s, nil); strings.Contains(p.body, `action="/o/default/dead-letters/`+dl+`/retry"`) {
		t.Error("the dead letter is still listed after its delivery")
	}
	if p := e.browse("POST", "/o/default/dead-letters/999999/retry", s, url.Values{"csrf": {tok}}); p.status != http.StatusNotFound {
		t.Errorf("retrying no dead letter: %d", p.status)
	}
}

// regexpFind returns the first group of re in s.
func regexpFind(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in the page", re)
	}
	return m[1]
}
