package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// embargoedCSAF is futureCSAF with a secret title and a CVE.
func embargoedCSAF(t *testing.T, id string, rel time.Time, version string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(futureCSAF(t, id, rel, version), &doc); err != nil {
		t.Fatal(err)
	}
	doc["document"].(map[string]any)["title"] = "SECRET remote code execution in frobnicator"
	doc["vulnerabilities"] = []any{map[string]any{"cve": "CVE-2026-99999"}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A viewer must learn nothing of an embargoed advisory; the advisory and CVE reports answer
// it whole (title, severity, CVEs) to anyone who can read the organisation.
func TestEmbargoedAdvisoryInReports(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		viewer := e.createUser("a", "vera", store.RoleViewer)
		operator := e.createUser("a", "oscar", store.RoleOperator)
		var imp struct{ Advisory store.Advisory }
		e.must(201, "POST", "/api/v1/orgs/a/advisories", operator,
			embargoedCSAF(t, "EMB-2026-7", time.Now().Add(48*time.Hour), "")).json(t, &imp)
		if imp.Advisory.PublishedAt != nil {
			t.Fatal("not embargoed")
		}
		// The advisory itself is hidden from the viewer ...
		e.must(404, "GET", "/api/v1/orgs/a/advisories/"+itoa(imp.Advisory.ID), viewer, nil)
		// ... but not through the reports.
		for _, path := range []string{
			"/api/v1/orgs/a/reports/advisory?tracking_id=EMB-2026-7",
			"/api/v1/orgs/a/reports/advisory?id=" + itoa(imp.Advisory.ID),
			"/api/v1/orgs/a/reports/cve?cve=CVE-2026-99999",
		} {
			r := e.do("GET", path, viewer, nil)
			if strings.Contains(string(r.body), "SECRET") || strings.Contains(string(r.body), "EMB-2026-7") {
				t.Errorf("viewer: GET %s: %d %s", path, r.status, r.body)
			}
		}
	})
}

// A published advisory with a scheduled (embargoed) revision: viewers see version 1 only,
// yet the list's filters match the embargoed revision's fields, so a viewer can test what
// the coming revision says (its title words, CVEs, severity).
func TestEmbargoedRevisionListFilters(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		viewer := e.createUser("a", "vera", store.RoleViewer)
		operator := e.createUser("a", "oscar", store.RoleOperator)
		e.must(201, "POST", "/api/v1/orgs/a/advisories", operator, futureCSAF(t, "REV-2026-7", time.Now().Add(-time.Hour), ""))
		e.must(201, "POST", "/api/v1/orgs/a/advisories", operator, embargoedCSAF(t, "REV-2026-7", time.Now().Add(48*time.Hour), "2"))
		for _, q := range []string{"q=frobnicator", "cve=CVE-2026-99999"} {
			var list struct{ Items []store.Advisory }
			e.must(200, "GET", "/api/v1/orgs/a/advisories?"+q, viewer, nil).json(t, &list)
			if len(list.Items) != 0 {
				t.Errorf("viewer: ?%s matches the embargoed revision of %s (shown as %q)", q, list.Items[0].TrackingID, list.Items[0].Title)
			}
		}
	})
}
