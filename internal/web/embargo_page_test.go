package web_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// importEmbargoed imports a copy of the demo's newest advisory as trackingID, released 72
// hours from now (embargoed until then), and returns its id.
func (e *env) importEmbargoed(trackingID string) int64 {
	e.t.Helper()
	var list struct {
		Items []struct {
			ID int64 `json:"id"`
		}
	}
	e.api(200, "GET", "/api/v1/orgs/default/advisories?limit=1", e.admin, nil, &list)
	var doc map[string]any
	e.api(200, "GET", "/api/v1/orgs/default/advisories/"+strconv.FormatInt(list.Items[0].ID, 10)+"/csaf", e.admin, nil, &doc)
	at := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	tr := doc["document"].(map[string]any)["tracking"].(map[string]any)
	tr["id"], tr["current_release_date"], tr["initial_release_date"], tr["version"] = trackingID, at, at, "1"
	tr["revision_history"] = []any{map[string]any{"date": at, "number": "1", "summary": "Initial version."}}
	var imp struct {
		Advisory struct {
			ID int64 `json:"id"`
		} `json:"advisory"`
	}
	e.api(201, "POST", "/api/v1/orgs/default/advisories", e.admin, doc, &imp)
	return imp.Advisory.ID
}

// An advisory waiting for its release says so in the list and on its page, to the roles
// that see it; a viewer does not see it at all.
func TestEmbargoShown(t *testing.T) {
	e := newEnv(t)
	id := e.importEmbargoed("EMB-2026-0001")

	s := e.signIn("admin", adminPassword)
	if p := e.browse("GET", "/o/default/advisories", s, nil); !strings.Contains(p.body, "<strong>embargoed</strong> until") {
		t.Errorf("the list does not show the embargo:\n%s", p.body)
	}
	if p := e.browse("GET", "/o/default/advisories/"+strconv.FormatInt(id, 10), s, nil); !strings.Contains(p.body, `id="embargo"`) {
		t.Errorf("the page does not show the embargo: %d", p.status)
	}
	e.createUser("default", "vera", "viewer")
	if p := e.browse("GET", "/o/default/advisories", e.signIn("vera", "password-of-vera"), nil); strings.Contains(p.body, "EMB-2026-0001") {
		t.Error("a viewer sees the embargoed advisory")
	}
}
