package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// bulletinForm is a workaround-only advisory like the demo's, released at release.
func bulletinForm(t *testing.T, release time.Time, extra string) csaf.Form {
	t.Helper()
	f, err := csaf.ParseForm([]byte(`
tracking_id: BUL-2026-1
title: "Mail filter: denial of service"
publisher: {name: Example PSIRT, namespace: "https://psirt.example.com"}
release_date: "` + release.UTC().Format(time.RFC3339) + `"
summary: Nested MIME parts exhaust the filter's memory.
mitigating_factors:
  - Servers without the content filter are not affected.
  - The filter's memory limit protects other services.
workarounds:
  - text: Set max_mime_depth = 32 in filter.conf and restart the filter.
faq:
  - question: When will an update be available?
    answer: In the next monthly release.
products:
  - {id: mail-4.96, vendor: Example, name: Example Mail Server, version: "4.96.1"}
vulnerabilities:
  - cve: CVE-2026-33001
    title: Uncontrolled recursion in MIME parsing
    description: Deeply nested MIME parts make the filter recurse.
    cvss_v31: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L
    affected: mail-4.96
` + extra))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type bulletinAnswer struct {
	AdvisoryID int64 `json:"advisory_id"`
	Revision   int   `json:"revision"`
	csaf.Bulletin
}

func TestAdvisoryBulletin(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.createOrg("b")
		viewer := e.createUser("a", "vera", store.RoleViewer)
		partner := e.createUser("a", "pat", store.RolePartner)
		operator := e.createUser("a", "oscar", store.RoleOperator)
		outsider := e.createUser("b", "olga", store.RoleAdmin)

		// Version 1 is public; version 2 (with a mitigation) waits for its release.
		v1, err := bulletinForm(t, time.Now().Add(-24*time.Hour), "").Build(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var imp importResult
		e.must(201, "POST", "/api/v1/orgs/a/advisories", operator, v1).json(t, &imp)
		id := itoa(imp.Advisory.ID)
		path := "/api/v1/orgs/a/advisories/" + id + "/bulletin"

		var b bulletinAnswer
		r := e.must(200, "GET", path, viewer, nil)
		r.json(t, &b)
		if b.AdvisoryID != imp.Advisory.ID || b.Revision != 1 || r.header.Get("X-Patchday-Revision") != "1" ||
			b.TrackingID != "BUL-2026-1" || b.Version != "1" || len(b.Notes) != 1 || b.Notes[0].Text != "Nested MIME parts exhaust the filter's memory." ||
			len(b.MitigatingFactors) != 2 || b.MitigatingFactors[1] != "The filter's memory limit protects other services." ||
			len(b.FAQ) != 1 || b.FAQ[0].Question != "When will an update be available?" {
			t.Fatalf("bulletin: %s", r.body)
		}
		if len(b.Vulnerabilities) != 1 {
			t.Fatalf("vulnerabilities: %s", r.body)
		}
		v := b.Vulnerabilities[0]
		if v.CVE != "CVE-2026-33001" || len(v.Remediations.Workaround) != 1 ||
			v.Remediations.Workaround[0].Details != "Set max_mime_depth = 32 in filter.conf and restart the filter." ||
			strings.Join(v.Remediations.Workaround[0].Products.Names, ",") != "Example Mail Server 4.96.1" ||
			len(v.Remediations.NoneAvailable) != 1 || len(v.Remediations.Mitigation) != 0 ||
			v.ProductStatus.KnownAffected == nil || v.ProductStatus.KnownAffected.Names[0] != "Example Mail Server 4.96.1" ||
			len(v.Scores) != 1 || v.Scores[0].BaseScore != 5.3 || v.Scores[0].Severity != "medium" {
			t.Fatalf("vulnerability: %s", r.body)
		}

		v2, err := csaf.ReviseWithForm(v1, bulletinForm(t, time.Now(), `    mitigations:
      - text: SECRET rate limit at the gateway.
`), "Added a mitigation.", time.Now().Add(48*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		e.must(201, "POST", "/api/v1/orgs/a/advisories", operator, v2)
		mitigations := func(tok, query string) (int, int) {
			var b bulletinAnswer
			e.must(200, "GET", path+query, tok, nil).json(t, &b)
			return b.Revision, len(b.Vulnerabilities[0].Remediations.Mitigation)
		}
		// The viewer reads the published revision; the embargoed one is not found.
		if rev, n := mitigations(viewer, ""); rev != 1 || n != 0 {
			t.Errorf("viewer: revision %d with %d mitigations, want the published revision 1", rev, n)
		}
		if r := e.do("GET", path+"?revision=2", viewer, nil); r.status != 404 || strings.Contains(string(r.body), "SECRET") {
			t.Errorf("viewer ?revision=2: %d %s", r.status, r.body)
		}
		// Partners and operators read the newest, and any revision.
		for who, tok := range map[string]string{"partner": partner, "operator": operator} {
			if rev, n := mitigations(tok, ""); rev != 2 || n != 1 {
				t.Errorf("%s: revision %d with %d mitigations, want revision 2 with its mitigation", who, rev, n)
			}
			if rev, n := mitigations(tok, "?revision=1"); rev != 1 || n != 0 {
				t.Errorf("%s ?revision=1: revision %d with %d mitigations", who, rev, n)
			}
		}
		e.must(404, "GET", path+"?revision=3", operator, nil)
		if r := e.do("GET", path+"?revision=x", operator, nil); r.status != 400 || r.err(t).Error.Field != "revision" {
			t.Errorf("?revision=x: %d %s", r.status, r.body)
		}

		// An advisory under embargo from its first revision is not found for viewers.
		var emb importResult
		e.must(201, "POST", "/api/v1/orgs/a/advisories", operator, embargoedCSAF(t, "EMB-2026-9", time.Now().Add(48*time.Hour), "")).json(t, &emb)
		embPath := "/api/v1/orgs/a/advisories/" + itoa(emb.Advisory.ID) + "/bulletin"
		if r := e.do("GET", embPath, viewer, nil); r.status != 404 || strings.Contains(string(r.body), "SECRET") {
			t.Errorf("viewer on an embargoed advisory: %d %s", r.status, r.body)
		}
		var eb bulletinAnswer
		e.must(200, "GET", embPath, partner, nil).json(t, &eb)
		if !strings.HasPrefix(eb.Title, "SECRET") || len(eb.Vulnerabilities) != 1 || eb.Vulnerabilities[0].CVE != "CVE-2026-99999" {
			t.Errorf("partner on an embargoed advisory: %+v", eb)
		}

		// Another organisation's user does not find it, not even under their own slug.
		e.must(404, "GET", path, outsider, nil)
		e.must(404, "GET", "/api/v1/orgs/b/advisories/"+id+"/bulletin", outsider, nil)
		e.must(401, "GET", path, "", nil)
	})
}
