package csaf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func bulletinOf(t *testing.T, data []byte) Bulletin {
	t.Helper()
	b, err := ReadBulletin(data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func names(ns ...string) ProductList { return ProductList{Names: ns} }

func namesPtr(ns ...string) *ProductList { l := names(ns...); return &l }

// A document of another publisher, with product groups, every remediation and product
// status kind, a CVSS v2 and v3 score, markup in its texts: every part read back, ids and
// groups as product names.
func TestBulletinFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/bulletin-groups.json")
	if err != nil {
		t.Fatal(err)
	}
	authorValid(t, data)
	got := bulletinOf(t, data)
	r71, r72, r73, r69 := "Example Router 7.1", "Example Router 7.2", "Example Router 7.3", "Example Router 6.9"
	want := Bulletin{
		TrackingID:        "ENS-2026-7",
		Title:             "Example Router: <script>alert(1)</script> in the admin page",
		Publisher:         "Example Networks PSIRT",
		Version:           "2",
		AggregateSeverity: "Important",
		Notes: []Note{
			{Category: "summary", Title: "Summary", Text: "A cross-site scripting flaw in the admin page of Example Router."},
			{Category: "legal_disclaimer", Title: "Terms of use", Text: "Provided as is."},
		},
		MitigatingFactors: []string{"The admin page is reachable from the LAN only."},
		FAQ:               []FAQ{{Question: "Is the WAN side exposed?", Answer: "No."}},
		References: []Reference{
			{Category: "self", Summary: "This advisory", URL: "https://psirt.example.net/ENS-2026-7"},
			{Summary: "Questions & answers", URL: "https://psirt.example.net/faq"},
		},
		Vulnerabilities: []BulletinVulnerability{{
			CVE:               "CVE-2026-40001",
			Title:             "Stored XSS in the host name field",
			CWE:               &CWE{ID: "CWE-79", Name: "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"},
			Notes:             []Note{{Category: "description", Title: "Description", Text: "A <b>host name</b> is shown unescaped."}},
			MitigatingFactors: []string{"An attacker needs the admin password.", "The page sets a strict CSP since 7.2."},
			FAQ:               []FAQ{{Question: "What can an attacker do?", Answer: "Run script in an admin's browser."}},
			Scores: []Score{
				{Version: "3.1", BaseScore: 4.8, Severity: "medium", Vector: "CVSS:3.1/AV:N/AC:L/PR:H/UI:R/S:C/C:L/I:L/A:N", Products: names(r71, r72)},
				{Version: "2.0", BaseScore: 3.5, Vector: "AV:N/AC:M/Au:S/C:N/I:P/A:N", Products: names(r71)},
			},
			Threats: []Threat{
				{Category: "impact", Details: "Important", Products: names(r71, r72)},
				{Category: "exploit_status", Details: "Not exploited; not publicly disclosed.", Date: "2026-03-01T00:00:00Z", Products: names(r71, r72)},
			},
			Remediations: Remediations{
				VendorFix:  []Remediation{{Details: "Update to 7.3.", URL: "https://downloads.example.net/router/7.3", RestartRequired: "system", Products: names(r71, r72)}},
				Workaround: []Remediation{{Details: "Allow only <trusted> hosts & admins.", Products: names(r71, r72)}},
				Mitigation: []Remediation{{Details: "Use a separate browser profile for the admin page.", Products: names(r72)}},
			},
			ProductStatus: ProductStatus{KnownAffected: namesPtr(r71, r72), Fixed: namesPtr(r73), FirstFixed: namesPtr(r73), KnownNotAffected: namesPtr(r69)},
			References:    []Reference{{Category: "external", Summary: "CVE-2026-40001", URL: "https://www.cve.org/CVERecord?id=CVE-2026-40001"}},
		}, {
			CVE:               "CVE-2026-40002",
			Notes:             []Note{{Category: "description", Text: "Under investigation."}},
			MitigatingFactors: []string{},
			FAQ:               []FAQ{},
			Scores:            []Score{},
			Threats:           []Threat{},
			Remediations:      Remediations{NoFixPlanned: []Remediation{{Details: "6.9 is out of support; update to 7.3.", Products: names(r69)}}},
			ProductStatus:     ProductStatus{KnownAffected: namesPtr(r69), UnderInvestigation: namesPtr(r73)},
			References:        []Reference{},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("bulletin:\n%s\nwant:\n%s", g, w)
	}

	// The reading aids.
	v := got.Vulnerabilities[0]
	if v.Severity() != "Important" || v.ExploitStatus() != "Not exploited; not publicly disclosed." || v.TopScore().Version != "3.1" {
		t.Errorf("severity %q, exploit status %q, top score %+v", v.Severity(), v.ExploitStatus(), v.TopScore())
	}
	var labels []string
	for _, l := range v.ProductStatus.Lists() {
		labels = append(labels, fmt.Sprintf("%s=%s", l.Label, strings.Join(l.Products.Names, ",")))
	}
	// first_fixed is fixed again: not repeated.
	if w := []string{"Affected=" + r71 + "," + r72, "Fixed in=" + r73, "Not affected=" + r69}; !reflect.DeepEqual(labels, w) {
		t.Errorf("status lists %q, want %q", labels, w)
	}
	if s := got.Vulnerabilities[1].Severity(); s != "" || got.Empty() {
		t.Errorf("vulnerability without rating: severity %q; empty %v", s, got.Empty())
	}

	// The JSON names its fields in snake_case and leaves out empty remediation categories
	// and product status lists.
	j, _ := json.Marshal(got.Vulnerabilities[1])
	for _, k := range []string{`"no_fix_planned":[{`, `"under_investigation":{"names":["Example Router 7.3"]}`, `"mitigating_factors":[]`} {
		if !strings.Contains(string(j), k) {
			t.Errorf("JSON lacks %s: %s", k, j)
		}
	}
	for _, k := range []string{`"vendor_fix"`, `"fixed"`, `"more"`} {
		if strings.Contains(string(j), k) {
			t.Errorf("JSON has %s: %s", k, j)
		}
	}
}

// What the authoring form writes, the bulletin gives back exactly: summary, mitigating
// factors (one and several), FAQ of the advisory and of a vulnerability, workarounds of the
// advisory and of a vulnerability, mitigations, fixes, references.
func TestBulletinRoundTrip(t *testing.T) {
	form := `
tracking_id: RT-2026-1
title: Round trip
publisher: {name: Example PSIRT, namespace: "https://psirt.example.com"}
summary: >
  The summary, folded
  over two lines.
mitigating_factors:
  - The service is off by default.
  - "It listens on localhost only: see listen_address."
faq:
  - question: Do I need to restart?
    answer: "Yes: the package restarts the service."
  - question: Is <this> escaped?
    answer: It is text & stays text.
workarounds:
  - text: Set max_depth = 32 in filter.conf and restart the filter.
    products: app-1.0
    url: https://psirt.example.com/kb/1
references:
  - url: https://psirt.example.com/RT-2026-1
    summary: This advisory
  - url: https://example.com/release-notes
legal_disclaimer: As is.
products:
  - {id: app-1.0, vendor: Example, name: Example App, version: "1.0"}
  - {id: app-2.0, vendor: Example, name: Example App, version: "2.0"}
vulnerabilities:
  - cve: CVE-2026-50001
    title: Recursion in the parser
    cwe: CWE-674
    cvss_v31: AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L
    severity: Moderate
    exploit_status: "Exploited: no"
    description: Deep nesting exhausts the stack.
    mitigating_factors:
      - Only the filter is affected.
    faq:
      - question: Which versions?
        answer: 1.0 and 2.0.
    affected: [app-1.0, app-2.0]
    fixed:
      - products: app-2.0
        fixed_version: "2.1"
        url: https://example.com/download
    workarounds:
      - text: Disable the filter.
    mitigations:
      - text: Limit the message size at the gateway.
        products: app-2.0
    references:
      - url: https://www.cve.org/CVERecord?id=CVE-2026-50001
        summary: CVE record
`
	f, err := ParseForm([]byte(form))
	if err != nil {
		t.Fatal(err)
	}
	b := bulletinOf(t, authorBuild(t, f, authorT0))
	app1, app2, app21 := "Example App 1.0", "Example App 2.0", "Example App 2.1"
	if b.TrackingID != "RT-2026-1" || b.Title != "Round trip" || b.Version != "1" || b.Publisher != "Example PSIRT" {
		t.Errorf("header: %+v", b)
	}
	if w := []Note{{Category: "summary", Title: "Summary", Text: "The summary, folded over two lines."},
		{Category: "legal_disclaimer", Title: "Terms of use", Text: "As is."}}; !reflect.DeepEqual(b.Notes, w) {
		t.Errorf("notes %+v", b.Notes)
	}
	if w := []string{"The service is off by default.", "It listens on localhost only: see listen_address."}; !reflect.DeepEqual(b.MitigatingFactors, w) {
		t.Errorf("mitigating factors %q", b.MitigatingFactors)
	}
	if w := []FAQ{{"Do I need to restart?", "Yes: the package restarts the service."}, {"Is <this> escaped?", "It is text & stays text."}}; !reflect.DeepEqual(b.FAQ, w) {
		t.Errorf("FAQ %+v", b.FAQ)
	}
	if w := []Reference{{"external", "This advisory", "https://psirt.example.com/RT-2026-1"},
		{"external", "https://example.com/release-notes", "https://example.com/release-notes"}}; !reflect.DeepEqual(b.References, w) {
		t.Errorf("references %+v", b.References)
	}
	if len(b.Vulnerabilities) != 1 {
		t.Fatalf("%d vulnerabilities", len(b.Vulnerabilities))
	}
	v := b.Vulnerabilities[0]
	if v.CVE != "CVE-2026-50001" || v.Title != "Recursion in the parser" || v.CWE == nil || v.CWE.ID != "CWE-674" || v.CWE.Name != "Uncontrolled Recursion" {
		t.Errorf("vulnerability: %+v %+v", v, v.CWE)
	}
	if w := []Note{{Category: "description", Title: "Description", Text: "Deep nesting exhausts the stack."}}; !reflect.DeepEqual(v.Notes, w) {
		t.Errorf("vulnerability notes %+v", v.Notes)
	}
	if !reflect.DeepEqual(v.MitigatingFactors, []string{"Only the filter is affected."}) || !reflect.DeepEqual(v.FAQ, []FAQ{{"Which versions?", "1.0 and 2.0."}}) {
		t.Errorf("vulnerability factors %q, FAQ %+v", v.MitigatingFactors, v.FAQ)
	}
	if w := []Score{{Version: "3.1", BaseScore: 5.3, Severity: "medium", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", Products: names(app1, app2)}}; !reflect.DeepEqual(v.Scores, w) {
		t.Errorf("scores %+v", v.Scores)
	}
	if v.Severity() != "Moderate" || v.ExploitStatus() != "Exploited: no" {
		t.Errorf("severity %q, exploit status %q", v.Severity(), v.ExploitStatus())
	}
	want := Remediations{
		VendorFix:     []Remediation{{Details: "Update Example App to version 2.1 or later.", URL: "https://example.com/download", Products: names(app2)}},
		NoneAvailable: []Remediation{{Details: "No fix is available yet.", Products: names(app1)}},
		Workaround: []Remediation{
			{Details: "Disable the filter.", Products: names(app1, app2)},
			{Details: "Set max_depth = 32 in filter.conf and restart the filter.", URL: "https://psirt.example.com/kb/1", Products: names(app1)},
		},
		Mitigation: []Remediation{{Details: "Limit the message size at the gateway.", Products: names(app2)}},
	}
	if !reflect.DeepEqual(v.Remediations, want) {
		g, _ := json.MarshalIndent(v.Remediations, "", "  ")
		t.Errorf("remediations:\n%s", g)
	}
	if w := (ProductStatus{KnownAffected: namesPtr(app1, app2), Fixed: namesPtr(app21), FirstFixed: namesPtr(app21)}); !reflect.DeepEqual(v.ProductStatus, w) {
		t.Errorf("product status %+v", v.ProductStatus)
	}
	if !reflect.DeepEqual(v.References, []Reference{{"external", "CVE record", "https://www.cve.org/CVERecord?id=CVE-2026-50001"}}) {
		t.Errorf("vulnerability references %+v", v.References)
	}

	// The commented example form and the demo's workaround-only advisory read back too.
	ex := bulletinOf(t, authorBuild(t, authorExample(t), authorT0))
	if len(ex.MitigatingFactors) != 2 || !strings.HasPrefix(ex.MitigatingFactors[0], "Only servers that advertise the CHUNKING") ||
		len(ex.FAQ) != 1 || len(ex.Vulnerabilities) != 2 || len(ex.Vulnerabilities[0].Remediations.Workaround) != 1 ||
		len(ex.Vulnerabilities[0].Remediations.VendorFix) != 2 || len(ex.Vulnerabilities[1].Remediations.Mitigation) != 1 {
		g, _ := json.MarshalIndent(ex, "", "  ")
		t.Errorf("testdata/advisory.yaml:\n%s", g)
	}
}

// Real advisories of other publishers (../shared): Cisco's notes and 259 affected products,
// Red Hat's relationship products, BSI's scores.
func TestBulletinExamples(t *testing.T) {
	dir := filepath.Join(needShared(t), "examples", "csaf")
	read := func(name string) Bulletin {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return bulletinOf(t, data)
	}

	cisco := read("cisco-sa-20180328-smi2.json")
	var titles []string
	for _, n := range cisco.Notes {
		titles = append(titles, n.Title)
	}
	if len(cisco.Notes) != 10 || titles[0] != "Summary" || titles[4] != "Workarounds" || cisco.Notes[9].Category != "legal_disclaimer" {
		t.Errorf("cisco notes: %q", titles)
	}
	cv := cisco.Vulnerabilities[0]
	if ka := cv.ProductStatus.KnownAffected; ka == nil || len(ka.Names) != BulletinMaxProducts || ka.More != 259-BulletinMaxProducts || ka.Len() != 259 {
		t.Errorf("cisco known_affected: %+v", ka)
	}
	if len(cv.Remediations.Workaround) != 1 || cv.Remediations.Workaround[0].Products.Len() != 259 ||
		!strings.HasPrefix(cv.Remediations.Workaround[0].Details, "There are no workarounds") {
		t.Errorf("cisco workaround: %+v", cv.Remediations.Workaround)
	}
	if s := cv.TopScore(); s == nil || s.Version != "3.0" || s.BaseScore != 9.8 || s.Severity != "critical" || cv.Severity() != "critical" {
		t.Errorf("cisco score: %+v", s)
	}
	if cisco.Truncated {
		t.Error("cisco: truncated (only product names are left out)")
	}

	rh := read("rhsa-2022_0011.json")
	rv := rh.Vulnerabilities[0]
	if f := rv.ProductStatus.Fixed; f == nil || f.Len() != 15 || !strings.Contains(f.Names[0], "as a component of Red Hat Enterprise Linux") {
		t.Errorf("red hat fixed: %+v", f)
	}
	if len(rv.Remediations.VendorFix) != 1 || rv.Remediations.VendorFix[0].URL != "https://access.redhat.com/errata/RHSA-2022:0011" || rv.Severity() != "Important" {
		t.Errorf("red hat remediations %+v, severity %q", rv.Remediations, rv.Severity())
	}
	if len(rh.Notes) != 3 || rh.Notes[0].Title != "Topic" || rv.CWE == nil {
		t.Errorf("red hat: notes %+v, cwe %+v", rh.Notes, rv.CWE)
	}

	bsi := read("bsi-2022-0001.json")
	if bv := bsi.Vulnerabilities[0]; len(bv.Scores) != 1 || bv.Scores[0].Vector == "" || bv.Scores[0].Products.Len() == 0 || bv.ProductStatus.KnownAffected.Len() != 5 {
		t.Errorf("bsi: %+v", bv)
	}
	// A document without vulnerabilities.
	if b := read("rhsa-2019_1862.json"); len(b.Vulnerabilities) != 0 || b.Vulnerabilities == nil || len(b.Notes) != 3 {
		t.Errorf("rhsa-2019_1862: %+v", b)
	}
}

// The bounds: long texts are cut, long lists are cut, product groups do not multiply names
// without end.
func TestBulletinBounds(t *testing.T) {
	long := strings.Repeat("é", BulletinMaxText) // two bytes each
	var notes, ids []any
	for i := range BulletinMaxItems + 5 {
		notes = append(notes, map[string]any{"category": "general", "title": fmt.Sprint(i), "text": "x"})
	}
	var fpn []any
	for i := range 400 {
		id := fmt.Sprintf("P%d", i)
		ids = append(ids, id)
		fpn = append(fpn, map[string]any{"product_id": id, "name": "Product " + id})
	}
	var rems, vulns []any
	for range 60 {
		rems = append(rems, map[string]any{"category": "workaround", "details": "w", "group_ids": []any{"ALL"}})
	}
	for range BulletinMaxVulnerabilities + 1 {
		vulns = append(vulns, map[string]any{"remediations": rems})
	}
	vulns[0] = map[string]any{"notes": []any{map[string]any{"category": "description", "text": long}}, "remediations": rems}
	doc := map[string]any{
		"document":        map[string]any{"title": "Bounds", "notes": notes},
		"product_tree":    map[string]any{"full_product_names": fpn, "product_groups": []any{map[string]any{"group_id": "ALL", "product_ids": ids}}},
		"vulnerabilities": vulns,
	}
	data, _ := json.Marshal(doc)
	b := bulletinOf(t, data)
	if !b.Truncated || len(b.Notes) != BulletinMaxItems || len(b.Vulnerabilities) != BulletinMaxVulnerabilities {
		t.Fatalf("truncated %v, %d notes, %d vulnerabilities", b.Truncated, len(b.Notes), len(b.Vulnerabilities))
	}
	text := b.Vulnerabilities[0].Notes[0].Text
	if len(text) > BulletinMaxText || !strings.HasSuffix(text, "…") || !strings.HasPrefix(text, "éé") || strings.ContainsRune(text, '\uFFFD') {
		t.Errorf("long text: %d bytes, ends %q", len(text), text[len(text)-8:])
	}
	shown := 0
	for _, v := range b.Vulnerabilities {
		if len(v.Remediations.Workaround) != 60 {
			t.Fatalf("%d workarounds", len(v.Remediations.Workaround))
		}
		for _, r := range v.Remediations.Workaround {
			if r.Products.Len() != 400 || len(r.Products.Names) > BulletinMaxProducts {
				t.Fatalf("workaround products: %d names, %d more", len(r.Products.Names), r.Products.More)
			}
			shown += len(r.Products.Names)
		}
	}
	if shown != BulletinMaxNames {
		t.Errorf("%d product names in the bulletin, want the bound %d", shown, BulletinMaxNames)
	}

	// A mitigating factors text that is no list is one factor; a list item may span lines.
	if got := splitFactors("Only when\n- enabled"); !reflect.DeepEqual(got, []string{"Only when\n- enabled"}) {
		t.Errorf("one factor: %q", got)
	}
	if got := splitFactors("- a\n  continued\n- b"); !reflect.DeepEqual(got, []string{"a\n  continued", "b"}) {
		t.Errorf("two factors: %q", got)
	}
	// Not a document.
	if _, err := ReadBulletin([]byte("[1]")); err == nil {
		t.Error("a JSON array reads as a bulletin")
	}
}
