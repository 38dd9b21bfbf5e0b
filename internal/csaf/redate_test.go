package csaf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Redate moves a pending revision's dates to its release: current release and its history
// entry always, the initial release only for a first release; a document dated so already
// comes back byte for byte; the result passes validation.
func TestRedate(t *testing.T) {
	doc, err := os.ReadFile("testdata/services.json") // version 1, released 2026-11-10T10:00:00Z
	if err != nil {
		t.Fatal(err)
	}
	same := time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)
	at := time.Date(2026, 11, 26, 18, 16, 0, 0, time.UTC)
	for _, tc := range []struct {
		name                     string
		at                       time.Time
		first, changed           bool
		initial, current, entry1 string
	}{
		{"first release moved", at, true, true, "2026-11-26T18:16:00Z", "2026-11-26T18:16:00Z", "2026-11-26T18:16:00Z"},
		{"revision moved: the first release stays", at, false, true, "2026-11-10T10:00:00.000Z", "2026-11-26T18:16:00Z", "2026-11-26T18:16:00Z"},
		{"already dated so", same, true, false, "2026-11-10T10:00:00.000Z", "2026-11-10T10:00:00.000Z", "2026-11-10T10:00:00.000Z"},
	} {
		out, changed, err := Redate(doc, tc.at, tc.first)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if changed != tc.changed || (!changed && !bytes.Equal(out, doc)) {
			t.Errorf("%s: changed %v (bytes equal %v), want %v", tc.name, changed, bytes.Equal(out, doc), tc.changed)
		}
		d, err := Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		tr := d.revTracking()
		entry := str(arr(tr, "revision_history")[0], "date")
		if str(tr, "initial_release_date") != tc.initial || str(tr, "current_release_date") != tc.current || entry != tc.entry1 {
			t.Errorf("%s: initial %s, current %s, history %s", tc.name, str(tr, "initial_release_date"), str(tr, "current_release_date"), entry)
		}
		if _, err := Validate(out); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// Not a document: an error, not a panic.
	if _, _, err := Redate([]byte(`{"document": 1}`), at, true); err == nil {
		t.Error("no error for a document without tracking")
	}
}

// A summary names the products the vulnerabilities affect apart from the whole tree: an
// advance notification must not list a fixed version as affected.
func TestSummaryAffectedNames(t *testing.T) {
	doc, err := os.ReadFile("testdata/services.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Summarize()
	want := `["Exim 4.96" "Microsoft SQL Server" "OpenBSD OpenSSH 9.2p1" "PostgreSQL 15.4" "nginx below 1.22.2"]`
	if got := fmt.Sprintf("%q", s.AffectedNames); got != want {
		t.Errorf("affected %s, want %s (the fixed OpenSSH 9.3p2 and nginx 1.22.2 left out)", got, want)
	}
	if len(s.ProductNames) != 7 {
		t.Errorf("products %q: the whole tree, fixed versions too", s.ProductNames)
	}
}

// A revised advisory with two revisions waiting (v2 and v3, both for the same later day)
// moves to an earlier release whole: v2's history entry moves back too, or the history
// would run backwards and the document fail validation.
func TestRedateTwoPendingRevisions(t *testing.T) {
	raw, err := os.ReadFile("testdata/services.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	planned := "2026-12-10T10:00:00Z"
	tr := doc["document"].(map[string]any)["tracking"].(map[string]any)
	tr["version"], tr["current_release_date"] = "3", planned
	tr["revision_history"] = []any{
		map[string]any{"date": "2026-11-10T10:00:00.000Z", "number": "1", "summary": "Initial release."},
		map[string]any{"date": planned, "number": "2", "summary": "Fixed versions added."},
		map[string]any{"date": planned, "number": "3", "summary": "Workaround added."},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(b); err != nil {
		t.Fatalf("the fixture: %v", err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	out, changed, err := Redate(b, at, false)
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	d, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	var dates []string
	for _, e := range arr(d.revTracking(), "revision_history") {
		dates = append(dates, str(e, "date"))
	}
	if got := strings.Join(dates, " "); got != "2026-11-10T10:00:00.000Z 2026-12-01T10:00:00Z 2026-12-01T10:00:00Z" {
		t.Errorf("history dates %s", got)
	}
}
