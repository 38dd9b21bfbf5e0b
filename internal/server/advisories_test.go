package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/store"
)

// sharedCSAF holds the OASIS example advisories (see ../shared/README.md).
const sharedCSAF = "../../../shared/testdata/csaf"

// example reads a real CSAF advisory of ../shared; without ../shared it skips (in CI it fails).
func example(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedCSAF, "examples", "csaf", name))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CSAF examples missing in CI: %v", err)
		}
		t.Skipf("skipped: the CSAF examples of ../shared are absent (%v)", err)
	}
	return b
}

// revise derives the next version of a document: version, revision history and release date.
func revise(t *testing.T, doc []byte, version, date, summary string) []byte {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	tr := m["document"].(map[string]any)["tracking"].(map[string]any)
	tr["version"] = version
	tr["current_release_date"] = date
	tr["revision_history"] = append(tr["revision_history"].([]any), map[string]any{"date": date, "number": version, "summary": summary})
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type importResult struct {
	Advisory  store.Advisory
	Revision  store.AdvisoryRevision
	New       bool
	Unchanged bool
}

func TestAdvisoryImportRevisionsExport(t *testing.T) {
	v1 := example(t, "rhsa-2021_5217.json")
	forEngines(t, func(t *testing.T, e *env) {
		var res importResult
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, v1).json(t, &res)
		a := res.Advisory
		if !res.New || a.TrackingID != "RHSA-2021:5217" || a.Severity != "high" || a.Status != "final" ||
			a.Version != "1" || a.Revisions != 1 || a.TLP != "WHITE" || len(a.CVEs) == 0 || res.Revision.Revision != 1 {
			t.Fatalf("import: %+v", res)
		}
		// The same document again changes nothing.
		var again importResult
		e.must(200, "POST", "/api/v1/orgs/default/advisories", e.admin, v1).json(t, &again)
		if !again.Unchanged || again.Advisory.ID != a.ID || again.Advisory.Revisions != 1 {
			t.Fatalf("re-import: %+v", again)
		}
		// A newer version is a new revision; both stay readable, byte for byte.
		v2 := revise(t, v1, "2", "2022-01-10T10:00:00Z", "Added a mitigation.")
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, v2).json(t, &res)
		if res.New || res.Advisory.ID != a.ID || res.Advisory.Revisions != 2 || res.Revision.Summary != "Added a mitigation." {
			t.Fatalf("revision 2: %+v", res)
		}
		for rev, want := range map[string][]byte{"": v2, "?revision=2": v2, "?revision=1": v1} {
			r := e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/default/advisories/%d/csaf%s", a.ID, rev), e.admin, nil)
			if !bytes.Equal(r.body, want) {
				t.Errorf("export%s is not the imported document byte for byte", rev)
			}
			if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="rhsa-2021_5217.json"` {
				t.Errorf("export%s: Content-Disposition %q", rev, cd)
			}
		}
		var detail struct {
			store.Advisory
			RevisionList []store.AdvisoryRevision `json:"revision_list"`
		}
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/default/advisories/%d", a.ID), e.admin, nil).json(t, &detail)
		if len(detail.RevisionList) != 2 || detail.RevisionList[0].Version != "1" || detail.RevisionList[1].Version != "2" || detail.Version != "2" {
			t.Fatalf("detail: %+v", detail)
		}

		// Any stored revision again, byte for byte, changes nothing (a feed re-sync).
		var old importResult
		e.must(200, "POST", "/api/v1/orgs/default/advisories", e.admin, v1).json(t, &old)
		if !old.Unchanged || old.Revision.Revision != 1 || old.Advisory.Revisions != 2 {
			t.Fatalf("re-import of revision 1: %+v", old)
		}
		// Conflicts: an older version, or the stored version with other content.
		retitled := bytes.Replace(v1, []byte(`"title": "Red Hat Security Advisory`), []byte(`"title": "Changed: Red Hat Security Advisory`), 1)
		if bytes.Equal(retitled, v1) {
			t.Fatal("could not change the title")
		}
		v3 := revise(t, v2, "3", "2022-02-10T10:00:00Z", "Third.")
		retitled3 := bytes.Replace(v3, []byte(`"title": "Red Hat Security Advisory`), []byte(`"title": "Changed: Red Hat Security Advisory`), 1)
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, v3)
		for name, doc := range map[string][]byte{"older version": retitled, "same version, other content": retitled3} {
			r := e.do("POST", "/api/v1/orgs/default/advisories", e.admin, doc)
			if r.status != 409 || r.err(t).Error.Code != "revision_conflict" {
				t.Errorf("%s: %d %s", name, r.status, r.body)
			}
		}
		e.must(404, "GET", fmt.Sprintf("/api/v1/orgs/default/advisories/%d/csaf?revision=4", a.ID), e.admin, nil)

		var evs struct{ Items []store.AuditEvent }
		e.must(200, "GET", "/api/v1/audit?action=advisory.import", e.admin, nil).json(t, &evs)
		if len(evs.Items) != 3 || evs.Items[0].ObjectID != "RHSA-2021:5217" {
			t.Errorf("import audit: %+v", evs.Items)
		}
	})
}

// An invalid document is refused with every finding named by test id and JSON path, and
// nothing is stored.
func TestAdvisoryImportRejectsInvalid(t *testing.T) {
	v1 := example(t, "rhsa-2021_5217.json")
	e := newEnv(t, store.SQLite)
	var m map[string]any
	json.Unmarshal(v1, &m)
	// Contradicting product status (test 6.1.6): a product both fixed and known affected.
	v := m["vulnerabilities"].([]any)[0].(map[string]any)
	ps := v["product_status"].(map[string]any)
	fixed := ps["fixed"].([]any)
	ps["known_affected"] = []any{fixed[0]}
	bad, _ := json.Marshal(m)
	r := e.do("POST", "/api/v1/orgs/default/advisories", e.admin, bad)
	if r.status != 422 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var body struct {
		Error struct {
			Code     string
			Message  string
			Findings []struct{ Test, Path, Message string }
		}
	}
	r.json(t, &body)
	found := false
	for _, f := range body.Error.Findings {
		if f.Test == "6.1.6" && strings.HasPrefix(f.Path, "/vulnerabilities/0/product_status") {
			found = true
		}
	}
	if body.Error.Code != "invalid_csaf" || !found || !strings.Contains(body.Error.Message, "6.1.6") {
		t.Fatalf("error %+v", body.Error)
	}
	for name, doc := range map[string]string{
		"not JSON":       `{"document":`,
		"not an object":  `[1]`,
		"schema failure": `{"document":{"category":"csaf_base"}}`,
	} {
		r := e.do("POST", "/api/v1/orgs/default/advisories", e.admin, doc)
		if r.status != 400 && r.status != 422 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	var list struct{ Items []store.Advisory }
	e.must(200, "GET", "/api/v1/orgs/default/advisories", e.admin, nil).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("invalid documents were stored: %+v", list.Items)
	}
}

func TestAdvisoryListFilters(t *testing.T) {
	var docs [][]byte
	for _, n := range []string{"rhsa-2019_1862.json", "rhsa-2021_5186.json", "rhsa-2021_5217.json", "rhsa-2022_0011.json", "cisco-sa-20180328-smi2.json", "bsi-2022-0001.json"} {
		docs = append(docs, example(t, n))
	}
	forEngines(t, func(t *testing.T, e *env) {
		for _, d := range docs {
			e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, d)
		}
		ids := func(query string) []string {
			t.Helper()
			var out []string
			cursor := ""
			for {
				var page struct {
					Items      []store.Advisory
					NextCursor string `json:"next_cursor"`
				}
				sep := "?"
				if strings.Contains(query, "?") {
					sep = "&"
				}
				e.must(200, "GET", "/api/v1/orgs/default/advisories"+query+sep+"limit=2&cursor="+cursor, e.admin, nil).json(t, &page)
				for _, a := range page.Items {
					out = append(out, a.TrackingID)
				}
				if page.NextCursor == "" {
					return out
				}
				cursor = page.NextCursor
			}
		}
		all := ids("")
		if len(all) != len(docs) {
			t.Fatalf("listed %v", all)
		}
		// Newest release first, across pages.
		var prev store.Advisory
		for i, id := range all {
			var page struct{ Items []store.Advisory }
			e.must(200, "GET", "/api/v1/orgs/default/advisories?q="+id, e.admin, nil).json(t, &page)
			if len(page.Items) != 1 {
				t.Fatalf("q=%s found %d", id, len(page.Items))
			}
			if i > 0 && page.Items[0].CurrentRelease.After(prev.CurrentRelease) {
				t.Errorf("%s listed after an older advisory", id)
			}
			prev = page.Items[0]
		}
		for query, want := range map[string]string{
			"?cve=CVE-2018-0171":     "cisco-sa-20180328-smi2",
			"?cve=cve-2018-0171":     "cisco-sa-20180328-smi2",
			"?q=single+sign-on":      "RHSA-2021:5217",
			"?since=2022-01-01":      "RHSA-2022:0011,BSI-2022-0001",
			"?until=2019-12-31":      "cisco-sa-20180328-smi2,RHSA-2019:1862",
			"?min_severity=critical": "cisco-sa-20180328-smi2,RHSA-2021:5186",
		} {
			got := strings.Join(ids(query), ",")
			if !sameSet(got, want) {
				t.Errorf("list%s = %s, want %s", query, got, want)
			}
		}
		for _, bad := range []string{"?cve=nope", "?severity=urgent", "?status=done", "?since=tomorrow", "?cursor=xyz", "?limit=0"} {
			if r := e.do("GET", "/api/v1/orgs/default/advisories"+bad, e.admin, nil); r.status != 400 {
				t.Errorf("%s: %d", bad, r.status)
			}
		}
	})
}

func sameSet(a, b string) bool {
	split := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, x := range strings.Split(s, ",") {
			if x != "" {
				m[x] = true
			}
		}
		return m
	}
	x, y := split(a), split(b)
	if len(x) != len(y) {
		return false
	}
	for k := range x {
		if !y[k] {
			return false
		}
	}
	return true
}

// Every real CSAF document of ../shared imports, and comes back byte for byte.
func TestImportEveryExample(t *testing.T) {
	example(t, "rhsa-2021_5217.json") // skips without ../shared
	var files []string
	filepath.Walk(filepath.Join(sharedCSAF, "examples"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 15 {
		t.Fatalf("only %d example documents", len(files))
	}
	e := newEnv(t, store.SQLite)
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var res importResult
		r := e.do("POST", "/api/v1/orgs/default/advisories", e.admin, doc)
		if r.status != 201 {
			t.Errorf("%s: %d %s", filepath.Base(f), r.status, r.body)
			continue
		}
		r.json(t, &res)
		back := e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/default/advisories/%d/csaf", res.Advisory.ID), e.admin, nil)
		if !bytes.Equal(back.body, doc) {
			t.Errorf("%s: export differs from the import", filepath.Base(f))
		}
	}
}

// A document released in the future is scheduled for that date.
func TestScheduledRelease(t *testing.T) {
	e := newEnv(t, store.SQLite)
	doc := bytes.ReplaceAll(minimalCSAF(t), []byte("2026-11-10T10:00:00Z"), []byte("2099-01-13T10:00:00Z"))
	var res importResult
	e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, doc).json(t, &res)
	if res.Advisory.ScheduledRelease == nil || res.Advisory.ScheduledRelease.Year() != 2099 {
		t.Fatalf("scheduled release %v", res.Advisory.ScheduledRelease)
	}
	e.must(404, "POST", "/api/v1/orgs/a-missing-org/advisories", e.admin, doc)
}
