package csaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var (
	authorT0 = time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)   // the form is built
	authorT1 = time.Date(2026, 3, 12, 9, 30, 0, 0, time.UTC) // first revision
	authorT2 = time.Date(2026, 4, 14, 17, 0, 0, 0, time.UTC) // second revision
)

func authorExample(t *testing.T) Form {
	t.Helper()
	data, err := os.ReadFile("testdata/advisory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseForm(data)
	if err != nil {
		t.Fatalf("testdata/advisory.yaml: %v", err)
	}
	return f
}

func authorBuild(t *testing.T, f Form, now time.Time) []byte {
	t.Helper()
	data, err := f.Build(now)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return data
}

// authorValid validates a document and returns it parsed.
func authorValid(t *testing.T, data []byte) *Document {
	t.Helper()
	d, err := Validate(data)
	if err != nil {
		t.Fatalf("not valid: %v\n%s", err, data)
	}
	return d
}

// authorAt reads a value of the generic JSON tree by a path of keys and indexes.
func authorAt(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[p]
		case int:
			a, _ := v.([]any)
			if p >= len(a) {
				return nil
			}
			v = a[p]
		}
	}
	return v
}

func authorStrings(v any) []string {
	var out []string
	a, _ := v.([]any)
	for _, e := range a {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// authorCategories lists the categories of a list of notes, remediations or threats.
func authorCategories(v any) []string {
	var out []string
	a, _ := v.([]any)
	for _, e := range a {
		out = append(out, str(e, "category"))
	}
	return out
}

func authorEq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// The example form builds into a valid document with the expected content.
func TestBuildExampleForm(t *testing.T) {
	f := authorExample(t)
	data := authorBuild(t, f, authorT0)
	d := authorValid(t, data)

	s := d.Summarize()
	authorEq(t, "tracking id", s.TrackingID, "EXS-2026-0042")
	authorEq(t, "title", s.Title, "Example Mail Server: remote code execution and information disclosure")
	authorEq(t, "category", s.Category, "csaf_security_advisory")
	authorEq(t, "publisher", s.Publisher, "Example Software PSIRT")
	authorEq(t, "status", s.Status, "final")
	authorEq(t, "version", s.Version, "1")
	authorEq(t, "tlp", s.TLP, "WHITE")
	authorEq(t, "severity", s.Severity, "critical")
	if s.CVSSMax == nil || *s.CVSSMax != 9.8 {
		t.Errorf("cvss max = %v, want 9.8", s.CVSSMax)
	}
	authorEq(t, "cves", s.CVEs, []string{"CVE-2026-21001", "CVE-2026-21002"})
	authorEq(t, "products", s.ProductNames, []string{
		"Example Software Example Mail Server 4.95.3", "Example Software Example Mail Server 4.95.4",
		"Example Software Example Mail Server 4.96.1", "Example Software Example Mail Server 4.96.2",
	})
	release := time.Date(2026, 3, 10, 17, 0, 0, 0, time.UTC)
	if !s.InitialRelease.Equal(release) || !s.CurrentRelease.Equal(release) {
		t.Errorf("releases = %v, %v, want %v", s.InitialRelease, s.CurrentRelease, release)
	}
	authorEq(t, "revision summary", s.RevisionSummary, "Initial release.")
	authorEq(t, "file name", Filename(s.TrackingID), "exs-2026-0042.json")

	raw := d.Raw
	authorEq(t, "document notes", authorCategories(authorAt(raw, "document", "notes")), []string{"summary", "details", "faq"})
	authorEq(t, "mitigating factors title", authorAt(raw, "document", "notes", 1, "title"), "Mitigating factors")
	authorEq(t, "faq title", authorAt(raw, "document", "notes", 2, "title"), "Do I need to restart the server after the update?")
	authorEq(t, "aggregate severity", authorAt(raw, "document", "aggregate_severity", "text"), "Critical")
	authorEq(t, "generator", authorAt(raw, "document", "tracking", "generator", "engine", "name"), "patchday")
	authorEq(t, "generator date", authorAt(raw, "document", "tracking", "generator", "date"), "2026-03-09T08:00:00Z")
	authorEq(t, "reference summary default", authorAt(raw, "document", "references", 1, "summary"), "https://www.example.com/mail-server/releases/2026-03")

	// vendor -> product_name -> product_version, the fixed versions after the ones they fix.
	versions := authorAt(raw, "product_tree", "branches", 0, "branches", 0, "branches")
	var names []string
	for _, b := range versions.([]any) {
		names = append(names, str(b, "name"))
	}
	authorEq(t, "versions", names, []string{"4.95.3", "4.95.4", "4.96.1", "4.96.2"})
	fixed := authorAt(versions, 1, "product")
	authorEq(t, "generated id", str(fixed, "product_id"), "example-mail-server-4.95.4")
	authorEq(t, "generated purl", authorAt(fixed, "product_identification_helper", "purl"), "pkg:deb/example/example-mail-server@4.95.4")
	authorEq(t, "generated cpe", authorAt(fixed, "product_identification_helper", "cpe"), "cpe:2.3:a:example:mail_server:4.95.4:*:*:*:*:*:*:*")

	v0 := authorAt(raw, "vulnerabilities", 0)
	authorEq(t, "cwe", authorAt(v0, "cwe", "name"), "Out-of-bounds Write")
	authorEq(t, "known_affected", authorStrings(authorAt(v0, "product_status", "known_affected")), []string{"mta-4.95.3", "example-mail-server-4.96.1"})
	wantFixed := []string{"example-mail-server-4.95.4", "example-mail-server-4.96.2"}
	authorEq(t, "fixed", authorStrings(authorAt(v0, "product_status", "fixed")), wantFixed)
	authorEq(t, "first_fixed", authorStrings(authorAt(v0, "product_status", "first_fixed")), wantFixed)
	authorEq(t, "remediations", authorCategories(authorAt(v0, "remediations")), []string{"vendor_fix", "vendor_fix", "workaround"})
	authorEq(t, "vendor fix", authorAt(v0, "remediations", 1, "details"), "Update Example Mail Server to version 4.96.2 or later.")
	authorEq(t, "vendor fix url", authorAt(v0, "remediations", 1, "url"), "https://www.example.com/mail-server/download")
	authorEq(t, "threats", authorCategories(authorAt(v0, "threats")), []string{"impact", "exploit_status"})
	authorEq(t, "impact", authorAt(v0, "threats", 0, "details"), "Critical")
	cv := authorAt(v0, "scores", 0, "cvss_v3")
	authorEq(t, "cvss version", authorAt(cv, "version"), "3.1")
	authorEq(t, "cvss base score", authorAt(cv, "baseScore"), json.Number("9.8"))
	authorEq(t, "cvss base severity", authorAt(cv, "baseSeverity"), "CRITICAL")
	authorEq(t, "cvss attack vector", authorAt(cv, "attackVector"), "NETWORK")

	v1 := authorAt(raw, "vulnerabilities", 1)
	authorEq(t, "cwe given with name", authorAt(v1, "cwe", "id"), "CWE-532")
	authorEq(t, "remediations 2", authorCategories(authorAt(v1, "remediations")), []string{"vendor_fix", "mitigation"})
	authorEq(t, "score 2", authorAt(v1, "scores", 0, "cvss_v3", "baseScore"), json.Number("5.5"))
	authorEq(t, "notes 2", authorCategories(authorAt(v1, "notes")), []string{"description"})
}

// Several kinds of advisories build into valid documents.
func TestBuildForms(t *testing.T) {
	cases := []struct {
		name  string
		form  string
		check func(t *testing.T, d *Document)
	}{
		{
			name: "minimal, defaults",
			form: `
tracking_id: MIN-1
title: Minimal
publisher: {name: ACME, namespace: "https://acme.example"}
products:
  - {vendor: ACME, name: Widget, version: "1.0"}
vulnerabilities:
  - cve: cve-2026-0001
    description: Something is wrong.
    affected: widget-1.0
`,
			check: func(t *testing.T, d *Document) {
				s := d.Summarize()
				authorEq(t, "tlp", s.TLP, "WHITE")
				authorEq(t, "status", s.Status, "final")
				authorEq(t, "severity", s.Severity, "unknown")
				authorEq(t, "cves", s.CVEs, []string{"CVE-2026-0001"})
				authorEq(t, "release is now", s.InitialRelease, authorT0)
				authorEq(t, "lang", authorAt(d.Raw, "document", "lang"), "en")
				authorEq(t, "publisher category", authorAt(d.Raw, "document", "publisher", "category"), "vendor")
				authorEq(t, "no notes", authorAt(d.Raw, "document", "notes"), nil)
				v := authorAt(d.Raw, "vulnerabilities", 0)
				authorEq(t, "remediation", authorCategories(authorAt(v, "remediations")), []string{"none_available"})
				authorEq(t, "no scores", authorAt(v, "scores"), nil)
				authorEq(t, "product name", authorAt(d.Raw, "product_tree", "branches", 0, "branches", 0, "branches", 0, "product", "name"), "ACME Widget 1.0")
			},
		},
		{
			name: "workaround only, mitigating factors",
			form: `
tracking_id: WA-2026-7
title: Printer spooler elevation of privilege
publisher: {name: ACME, namespace: "https://acme.example"}
severity: Important
tlp: green
mitigating_factors: [The spooler is disabled on domain controllers by default.]
workarounds:
  - text: Stop and disable the spooler service.
    url: https://acme.example/kb/123
products:
  - {id: spool-10, vendor: ACME, name: ACME OS Spooler, version: "10"}
  - {id: spool-11, vendor: ACME, name: ACME OS Spooler, version: "11"}
vulnerabilities:
  - cve: CVE-2026-1111
    description: A local user can load a driver.
    affected: [spool-10, spool-11]
  - title: Spooler crash on malformed job
    description: A remote user can crash the spooler.
    affected: spool-11
`,
			check: func(t *testing.T, d *Document) {
				s := d.Summarize()
				authorEq(t, "severity from the aggregate text", s.Severity, "high")
				authorEq(t, "tlp", s.TLP, "GREEN")
				authorEq(t, "notes", authorCategories(authorAt(d.Raw, "document", "notes")), []string{"details"})
				authorEq(t, "one factor is the text", authorAt(d.Raw, "document", "notes", 0, "text"), "The spooler is disabled on domain controllers by default.")
				for i, want := range [][]string{{"spool-10", "spool-11"}, {"spool-11"}} {
					v := authorAt(d.Raw, "vulnerabilities", i)
					authorEq(t, "remediations", authorCategories(authorAt(v, "remediations")), []string{"none_available", "workaround"})
					authorEq(t, "workaround products", authorStrings(authorAt(v, "remediations", 1, "product_ids")), want)
					authorEq(t, "workaround url", authorAt(v, "remediations", 1, "url"), "https://acme.example/kb/123")
				}
				authorEq(t, "no cve", authorAt(d.Raw, "vulnerabilities", 1, "cve"), nil)
			},
		},
		{
			name: "browser for several architectures, temporal score",
			form: `
tracking_id: BRW-2026-03
title: Example Browser 122.0.1 security update
publisher: {name: Example Browser Team, namespace: "https://browser.example", category: vendor}
tlp: AMBER
status: interim
lang: de
release_date: 2026-03-11
products:
  - {vendor: Example, name: Example Browser, version: "121.0", architecture: x64, purl: "pkg:generic/example/browser@121.0?arch=x64"}
  - {vendor: Example, name: Example Browser, version: "121.0", architecture: arm64, cpe: "cpe:/a:example:browser:121.0"}
vulnerabilities:
  - cve: CVE-2026-3000
    cwe: "416"
    cvss_v31: AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H/E:F/RL:O/RC:C
    description: Use after free in the layout engine.
    affected: [example-browser-121.0-x64, example-browser-121.0-arm64]
    fixed:
      - fixed_version: 122.0.1
`,
			check: func(t *testing.T, d *Document) {
				s := d.Summarize()
				authorEq(t, "tlp", s.TLP, "AMBER")
				authorEq(t, "status", s.Status, "interim")
				authorEq(t, "release", s.InitialRelease, time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC))
				authorEq(t, "severity", s.Severity, "high")
				v121 := authorAt(d.Raw, "product_tree", "branches", 0, "branches", 0, "branches", 0)
				authorEq(t, "version branch", str(v121, "name"), "121.0")
				authorEq(t, "architecture branch", authorAt(v121, "branches", 1, "category"), "architecture")
				authorEq(t, "full name", authorAt(v121, "branches", 1, "product", "name"), "Example Browser 121.0 for arm64")
				v122 := authorAt(d.Raw, "product_tree", "branches", 0, "branches", 0, "branches", 1)
				authorEq(t, "fixed version branch", str(v122, "name"), "122.0.1")
				authorEq(t, "fixed purl", authorAt(v122, "branches", 0, "product", "product_identification_helper", "purl"), "pkg:generic/example/browser@122.0.1?arch=x64")
				authorEq(t, "fixed cpe 2.2", authorAt(v122, "branches", 1, "product", "product_identification_helper", "cpe"), "cpe:/a:example:browser:122.0.1")
				v := authorAt(d.Raw, "vulnerabilities", 0)
				authorEq(t, "fixed", authorStrings(authorAt(v, "product_status", "fixed")), []string{"example-browser-122.0.1-x64", "example-browser-122.0.1-arm64"})
				authorEq(t, "one vendor fix for both", authorStrings(authorAt(v, "remediations", 0, "product_ids")), []string{"example-browser-121.0-x64", "example-browser-121.0-arm64"})
				authorEq(t, "cwe", authorAt(v, "cwe", "id"), "CWE-416")
				cv := authorAt(v, "scores", 0, "cvss_v3")
				authorEq(t, "canonical vector", authorAt(cv, "vectorString"), "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H/E:F/RL:O/RC:C")
				authorEq(t, "base", authorAt(cv, "baseScore"), json.Number("8.8"))
				authorEq(t, "temporal", authorAt(cv, "temporalScore"), json.Number("8.2"))
				authorEq(t, "temporal severity", authorAt(cv, "temporalSeverity"), "HIGH")
				authorEq(t, "no environmental score", authorAt(cv, "environmentalScore"), nil)
			},
		},
		{
			name: "draft translation, fixed product of the form, per-vulnerability notes",
			form: `
tracking_id: "CERT-DE: 2026/0815"
title: Übersetzung eines Herstellerhinweises
publisher:
  name: Beispiel-CERT
  namespace: https://cert.example.de
  category: translator
  issuing_authority: Nationales CERT
lang: de
source_lang: en
status: draft
legal_disclaimer: Ohne Gewähr.
products:
  - {id: fw-old, vendor: Beispiel, name: Firewall Appliance, version: "7.2"}
  - {id: fw-new, vendor: Beispiel, name: Firewall Appliance, version: "7.4"}
  - {id: fw-cloud, vendor: Beispiel, name: Cloud Firewall}
vulnerabilities:
  - cve: CVE-2026-4242
    cwe: {id: CWE-22}
    cvss_v31: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H/CR:H/MAV:A
    description: Pfadtraversierung in der Verwaltungsoberfläche.
    mitigating_factors: [Die Oberfläche ist nur aus dem Verwaltungsnetz erreichbar., Ein Angreifer braucht Zugang zu diesem Netz.]
    faq:
      - {question: "Ist die Cloud-Variante betroffen?", answer: Ja.}
    affected: fw-cloud
    fixed:
      - {products: fw-old, fixed_product: fw-new, details: "Auf 7.4 aktualisieren."}
    references:
      - {url: "https://vendor.example/psirt/42", summary: Originalhinweis}
`,
			check: func(t *testing.T, d *Document) {
				s := d.Summarize()
				authorEq(t, "status", s.Status, "draft")
				authorEq(t, "file", Filename(s.TrackingID), "cert-de_2026_0815.json")
				authorEq(t, "source lang", authorAt(d.Raw, "document", "source_lang"), "en")
				authorEq(t, "doc notes", authorCategories(authorAt(d.Raw, "document", "notes")), []string{"legal_disclaimer"})
				v := authorAt(d.Raw, "vulnerabilities", 0)
				authorEq(t, "vulnerability notes", authorCategories(authorAt(v, "notes")), []string{"description", "details", "faq"})
				authorEq(t, "factors as a list", authorAt(v, "notes", 1, "text"), "- Die Oberfläche ist nur aus dem Verwaltungsnetz erreichbar.\n- Ein Angreifer braucht Zugang zu diesem Netz.")
				authorEq(t, "known affected", authorStrings(authorAt(v, "product_status", "known_affected")), []string{"fw-old", "fw-cloud"})
				authorEq(t, "fixed", authorStrings(authorAt(v, "product_status", "fixed")), []string{"fw-new"})
				authorEq(t, "remediations", authorCategories(authorAt(v, "remediations")), []string{"vendor_fix", "none_available"})
				authorEq(t, "fix details", authorAt(v, "remediations", 0, "details"), "Auf 7.4 aktualisieren.")
				authorEq(t, "unfixed", authorStrings(authorAt(v, "remediations", 1, "product_ids")), []string{"fw-cloud"})
				authorEq(t, "cwe name", authorAt(v, "cwe", "name"), "Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')")
				cv := authorAt(v, "scores", 0, "cvss_v3")
				authorEq(t, "environmental severity", authorAt(cv, "environmentalSeverity") != nil, true)
				authorEq(t, "references", authorAt(v, "references", 0, "summary"), "Originalhinweis")
				// The product without version hangs at its product_name branch.
				cloud := authorAt(d.Raw, "product_tree", "branches", 0, "branches", 1)
				authorEq(t, "cloud", authorAt(cloud, "product", "product_id"), "fw-cloud")
			},
		},
		{
			name: "default fix products, versionless purl, fixed version declared in the form",
			form: `
tracking_id: PKG-1
title: openssl update
publisher: {name: Distro, namespace: "https://distro.example"}
products:
  - {vendor: Distro, name: openssl, version: 3.0.11-1, purl: "pkg:deb/distro/openssl"}
  - {id: fixed, vendor: Distro, name: openssl, version: 3.0.11-2, purl: "pkg:deb/distro/openssl@3.0.11-2"}
vulnerabilities:
  - cve: CVE-2026-5000
    description: Bad.
    affected: openssl-3.0.11-1
    fixed: [{fixed_version: 3.0.11-2}]
`,
			check: func(t *testing.T, d *Document) {
				v := authorAt(d.Raw, "vulnerabilities", 0)
				authorEq(t, "the declared product is reused", authorStrings(authorAt(v, "product_status", "fixed")), []string{"fixed"})
				authorEq(t, "two products only", len(d.Summarize().ProductNames), 2)
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := ParseForm([]byte(c.form))
			if err != nil {
				t.Fatal(err)
			}
			d := authorValid(t, authorBuild(t, f, authorT0))
			c.check(t, d)
		})
	}
}

// The same form and time give the same bytes; another time changes only the dates it sets.
func TestBuildDeterministic(t *testing.T) {
	data, err := os.ReadFile("testdata/advisory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var first []byte
	for i := 0; i < 20; i++ {
		f, err := ParseForm(data)
		if err != nil {
			t.Fatal(err)
		}
		out := authorBuild(t, f, authorT0)
		if first == nil {
			first = out
			continue
		}
		if !bytes.Equal(out, first) {
			t.Fatalf("build %d differs from the first", i)
		}
	}
	f := authorExample(t)
	later := authorBuild(t, f, authorT0.Add(time.Hour))
	if bytes.Equal(later, first) {
		t.Fatal("the generator date does not follow now")
	}
	if got := bytes.ReplaceAll(later, []byte("2026-03-09T09:00:00Z"), []byte("2026-03-09T08:00:00Z")); !bytes.Equal(got, first) {
		t.Error("another now changes more than the generator date")
	}
	if !bytes.HasSuffix(first, []byte("}\n")) || !bytes.HasPrefix(first, []byte("{\n  \"document\"")) {
		t.Error("not indented JSON with sorted keys and a final newline")
	}
}

// authorBaseForm is a valid form that the error cases break.
const authorBaseForm = `tracking_id: ERR-1
title: A title
publisher:
  name: ACME
  namespace: https://acme.example
release_date: 2026-03-10T17:00:00Z
tlp: WHITE
products:
  - id: w1
    vendor: ACME
    name: Widget
    version: "1.0"
    purl: pkg:generic/acme/widget@1.0
  - id: w2
    vendor: ACME
    name: Widget
    version: "2.0"
vulnerabilities:
  - cve: CVE-2026-0001
    cvss_v31: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H
    description: Something is wrong.
    affected: w1
    fixed:
      - products: w1
        fixed_version: "1.1"
workarounds:
  - text: Turn it off.
`

// Bad forms give clear errors that name the field (and its line).
func TestFormErrors(t *testing.T) {
	if _, err := ParseForm([]byte(authorBaseForm)); err != nil {
		t.Fatalf("the base form is not valid: %v", err)
	}
	cases := []struct {
		name       string
		old, new   string // replace old by new in the base form
		old2, new2 string // and old2 by new2
		field      string
		line       int // 0: not checked
		msg        string
		wholeForm  bool // the form is new alone
	}{
		{name: "unknown key", old: "tlp: WHITE\n", new: "tlp: WHITE\ntitel: x\n", field: "titel", line: 8, msg: `unknown key "titel" (did you mean "title"?)`},
		{name: "unknown nested key", old: "    fixed:\n", new: "    fixd: x\n    fixed:\n", field: "vulnerabilities[0].fixd", line: 23, msg: `unknown key "fixd" (did you mean "fixed"?)`},
		{name: "unknown key lists the known ones", old: "  name: ACME\n", new: "  name: ACME\n  email: a@b\n", field: "publisher.email", line: 5, msg: "known keys: name, namespace, category, contact_details, issuing_authority"},
		{name: "key given twice", old: "tlp: WHITE\n", new: "tlp: WHITE\ntlp: RED\n", field: "tlp", line: 8, msg: `key "tlp" is given twice (first on line 7)`},
		{name: "wrong kind", old: "tlp: WHITE\n", new: "tlp: [WHITE]\n", field: "tlp", line: 7, msg: "expected text, found a list"},
		{name: "products not a list", old: "tlp: WHITE\n", new: "tlp: WHITE\nmitigating_factors: {a: b}\n", field: "mitigating_factors", msg: "expected a list, found a mapping"},
		{name: "missing title", old: "title: A title\n", new: "", field: "title", msg: "required"},
		{name: "empty title", old: "title: A title\n", new: "title: \"  \"\n", field: "title", line: 2, msg: "required"},
		{name: "missing tracking id", old: "tracking_id: ERR-1\n", new: "", field: "tracking_id", msg: "required"},
		{name: "missing publisher namespace", old: "  namespace: https://acme.example\n", new: "", field: "publisher.namespace", msg: "required"},
		{name: "bad namespace", old: "https://acme.example", new: "acme.example", field: "publisher.namespace", line: 5, msg: "not an absolute URL"},
		{name: "bad publisher category", old: "  name: ACME\n", new: "  name: ACME\n  category: seller\n", field: "publisher.category", msg: `"seller" is not a publisher category`},
		{name: "translator without source language", old: "  name: ACME\n", new: "  name: ACME\n  category: translator\n", field: "source_lang", msg: "required when the publisher is a translator"},
		{name: "bad cvss vector", old: "/C:H/I:H/A:H", new: "/C:H/I:H", field: "vulnerabilities[0].cvss_v31", line: 20, msg: "is not a CVSS v3.1 vector: base metric A is not defined"},
		{name: "bad cvss value", old: "AV:N/", new: "AV:Q/", field: "vulnerabilities[0].cvss_v31", msg: "is not a CVSS v3.1 vector"},
		{name: "cvss 3.0 vector", old: "CVSS:3.1/", new: "CVSS:3.0/", field: "vulnerabilities[0].cvss_v31", msg: "must start with CVSS:3.1/"},
		{name: "unknown product in affected", old: "    affected: w1\n", new: "    affected: [w1, w9]\n", field: "vulnerabilities[0].affected[1]", line: 22, msg: `"w9" is not a product of the form (products: w1, w2)`},
		{name: "unknown product in fixed", old: "      - products: w1\n", new: "      - products: w3\n", field: "vulnerabilities[0].fixed[0].products", line: 24, msg: `"w3" is not a product of the form`},
		{name: "unknown fixed product", old: "        fixed_version: \"1.1\"\n", new: "        fixed_product: w7\n", field: "vulnerabilities[0].fixed[0].fixed_product", line: 25, msg: `"w7" is not a product of the form`},
		{name: "fix without version or product", old: "        fixed_version: \"1.1\"\n", new: "", field: "vulnerabilities[0].fixed[0]", msg: "give fixed_version"},
		{name: "fix with both", old: "        fixed_version: \"1.1\"\n", new: "        fixed_version: \"1.1\"\n        fixed_product: w2\n", field: "vulnerabilities[0].fixed[0]", msg: "either fixed_version or fixed_product, not both"},
		{name: "fixed version is the affected one", old: `fixed_version: "1.1"`, new: `fixed_version: "1.0"`, field: "vulnerabilities[0].fixed[0].fixed_version", msg: "is the version of the affected product w1 itself"},
		{name: "fixed product is affected", old: "    affected: w1\n", new: "    affected: [w1, w2]\n", old2: "        fixed_version: \"1.1\"\n", new2: "        fixed_product: w2\n", field: "vulnerabilities[0].fixed", msg: "w2 contains the fix but is also affected"},
		{name: "fixed version range", old: `fixed_version: "1.1"`, new: `fixed_version: "before 1.1"`, field: "vulnerabilities[0].fixed[0].fixed_version", msg: "is a version range"},
		{name: "bad date", old: "2026-03-10T17:00:00Z", new: "10/03/2026", field: "release_date", line: 6, msg: `"10/03/2026" is not an RFC 3339 date-time`},
		{name: "bad tlp", old: "tlp: WHITE", new: "tlp: PURPLE", field: "tlp", line: 7, msg: `"PURPLE" is not a CSAF 2.0 TLP label (WHITE, GREEN, AMBER, RED)`},
		{name: "tlp 2.0 clear", old: "tlp: WHITE", new: "tlp: clear", field: "tlp", msg: "TLP:CLEAR is WHITE"},
		{name: "bad status", old: "tlp: WHITE\n", new: "tlp: WHITE\nstatus: published\n", field: "status", msg: `"published" is not a document status`},
		{name: "bad language", old: "tlp: WHITE\n", new: "tlp: WHITE\nlang: english\n", field: "lang", msg: "is not a language tag"},
		{name: "bad cve", old: "CVE-2026-0001", new: "CVE-26-1", field: "vulnerabilities[0].cve", msg: `"CVE-26-1" is not a CVE id`},
		{name: "duplicate cve", old: "workarounds:\n", new: "  - cve: CVE-2026-0001\n    description: Again.\n    affected: w2\nworkarounds:\n", field: "vulnerabilities[1].cve", msg: "is also the cve of vulnerabilities[0]"},
		{name: "no cve and no title", old: "  - cve: CVE-2026-0001\n", new: "  - cwe: CWE-79\n", field: "vulnerabilities[0]", msg: "needs a cve or a title"},
		{name: "missing description", old: "    description: Something is wrong.\n", new: "", field: "vulnerabilities[0].description", msg: "required"},
		{name: "unknown cwe", old: "    description:", new: "    cwe: CWE-99999\n    description:", field: "vulnerabilities[0].cwe", msg: "is not a weakness of the CWE list"},
		{name: "wrong cwe name", old: "    description:", new: "    cwe: {id: CWE-79, name: XSS}\n    description:", field: "vulnerabilities[0].cwe.name", msg: `CWE-79 is named "Improper Neutralization`},
		{name: "version range", old: `version: "2.0"`, new: `version: "all versions"`, field: "products[1].version", line: 17, msg: "is a version range"},
		{name: "missing vendor", old: "    vendor: ACME\n    name: Widget\n    version: \"2.0\"", new: "    name: Widget\n    version: \"2.0\"", field: "products[1].vendor", msg: "required"},
		{name: "duplicate product id", old: "  - id: w2\n", new: "  - id: w1\n", field: "products[1].id", msg: `id "w1" is also the id of products[0]`},
		{name: "same product twice", old: `version: "2.0"`, new: `version: "1.0"`, field: "products[1]", msg: "ACME Widget 1.0 is listed twice (also products[0])"},
		{name: "architecture mix", old: `version: "2.0"`, new: "version: \"1.0\"\n    architecture: x64", field: "products[0]", msg: "has less detail than ACME Widget 1.0 for x64"},
		{name: "bad purl", old: "pkg:generic/acme/widget@1.0", new: "pkg:/generic/widget", field: "products[0].purl", msg: "is not a package URL"},
		{name: "bad cpe", old: "    purl: pkg:generic/acme/widget@1.0\n", new: "    cpe: cpe:widget\n", field: "products[0].cpe", msg: "is not a CPE 2.3 name"},
		{name: "workaround for an unaffected product", old: "  - text: Turn it off.\n", new: "  - text: Turn it off.\n    products: w2\n", field: "workarounds[0].products", msg: "w2 is affected by none of the vulnerabilities"},
		{name: "vulnerability workaround for an unaffected product", old: "    affected: w1\n", new: "    affected: w1\n    mitigations: [{text: Block port 1., products: w2}]\n", field: "vulnerabilities[0].mitigations[0].products", msg: "w2 is not affected by this vulnerability"},
		{name: "empty workaround", old: "  - text: Turn it off.\n", new: "  - url: https://acme.example/kb\n", field: "workarounds[0].text", msg: "required"},
		{name: "bad reference", old: "tlp: WHITE\n", new: "tlp: WHITE\nreferences: [{summary: x}]\n", field: "references[0].url", msg: "required"},
		{name: "faq without answer", old: "tlp: WHITE\n", new: "tlp: WHITE\nfaq: [{question: \"Why?\"}]\n", field: "faq[0].answer", msg: "required"},
		{name: "not affecting anything", old: "    affected: w1\n    fixed:\n      - products: w1\n        fixed_version: \"1.1\"\n", new: "", field: "vulnerabilities[0].affected", msg: "required"},
		{name: "no vulnerabilities", wholeForm: true, new: "tracking_id: X\ntitle: T\npublisher: {name: A, namespace: \"https://a.example\"}\nproducts: [{vendor: A, name: B}]\n", field: "vulnerabilities", msg: "at least one vulnerability"},
		{name: "empty form", wholeForm: true, new: "# nothing\n", msg: "the form is empty"},
		{name: "yaml syntax", wholeForm: true, new: "title: [a\ntracking_id: x\n", line: 1, msg: "not valid YAML"},
		{name: "two documents", wholeForm: true, new: "title: a\n---\ntitle: b\n", line: 2, msg: "more than one YAML document"},
		{name: "not a mapping", wholeForm: true, new: "- a\n- b\n", msg: "expected a mapping of keys (tracking_id, title,"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			form := c.new
			if !c.wholeForm {
				if !strings.Contains(authorBaseForm, c.old) {
					t.Fatalf("the base form has no %q", c.old)
				}
				form = strings.Replace(authorBaseForm, c.old, c.new, 1)
				if c.old2 != "" {
					form = strings.Replace(form, c.old2, c.new2, 1)
				}
			}
			_, err := ParseForm([]byte(form))
			var fe *FormError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FormError\n%s", err, form)
			}
			for _, p := range fe.Problems {
				if p.Field == c.field && strings.Contains(p.Message, c.msg) && (c.line == 0 || p.Line == c.line) {
					if !strings.Contains(err.Error(), p.String()) {
						t.Errorf("the error %q does not show %q", err, p)
					}
					return
				}
			}
			t.Errorf("no problem with field %q, line %d, message containing %q; got %v", c.field, c.line, c.msg, err)
		})
	}
}

// A Form made in Go is checked by Build in the same way, without lines.
func TestBuildChecksGoForms(t *testing.T) {
	_, err := Form{}.Build(authorT0)
	var fe *FormError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *FormError", err)
	}
	var fields []string
	for _, p := range fe.Problems {
		fields = append(fields, p.Field)
		if p.Line != 0 {
			t.Errorf("%v has a line", p)
		}
	}
	authorEq(t, "fields", fields, []string{"tracking_id", "title", "publisher.name", "publisher.namespace", "products", "vulnerabilities"})

	f := Form{
		TrackingID: "GO-1", Title: "From Go",
		Publisher:       FormPublisher{Name: "ACME", Namespace: "https://acme.example"},
		Products:        []FormProduct{{ID: "p", Vendor: "ACME", Name: "Thing", Version: "1"}},
		Vulnerabilities: []FormVulnerability{{CVE: "CVE-2026-0002", Description: "Bad.", Affected: ProductKeys{"p"}, CWE: &FormCWE{ID: "CWE-79"}}},
	}
	authorValid(t, authorBuild(t, f, authorT0))
}

// authorRevision is what the tests read of a revised document.
type authorRevision struct {
	version, current, initial string
	history                   [][3]string // date, number, summary
}

func authorReadRevision(t *testing.T, d *Document) authorRevision {
	t.Helper()
	tr := d.revTracking()
	r := authorRevision{version: str(tr, "version"), current: str(tr, "current_release_date"), initial: str(tr, "initial_release_date")}
	for _, e := range arr(tr, "revision_history") {
		r.history = append(r.history, [3]string{str(e, "date"), str(e, "number"), str(e, "summary")})
	}
	return r
}

// Revise makes version 2 with a second revision history entry, then version 3.
func TestRevise(t *testing.T) {
	v1 := authorBuild(t, authorExample(t), authorT0)
	saved := bytes.Clone(v1)
	v2, err := Revise(v1, func(d *Document) error {
		obj(d.Raw, "document")["title"] = "Example Mail Server: two vulnerabilities"
		return nil
	}, "Shorter title.", authorT1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v1, saved) {
		t.Fatal("Revise changed the previous revision")
	}
	d2 := authorValid(t, v2)
	r := authorReadRevision(t, d2)
	authorEq(t, "version", r.version, "2")
	authorEq(t, "current release", r.current, "2026-03-12T09:30:00Z")
	authorEq(t, "initial release", r.initial, "2026-03-10T17:00:00Z")
	authorEq(t, "history", r.history, [][3]string{
		{"2026-03-10T17:00:00Z", "1", "Initial release."},
		{"2026-03-12T09:30:00Z", "2", "Shorter title."},
	})
	s := d2.Summarize()
	authorEq(t, "title", s.Title, "Example Mail Server: two vulnerabilities")
	authorEq(t, "revision summary", s.RevisionSummary, "Shorter title.")
	authorEq(t, "tracking id", s.TrackingID, "EXS-2026-0042")
	authorEq(t, "status kept", s.Status, "final")
	authorEq(t, "generator date", authorAt(d2.Raw, "document", "tracking", "generator", "date"), "2026-03-12T09:30:00Z")
	if cmp, err := CompareVersions(s.Version, "1"); err != nil || cmp <= 0 {
		t.Errorf("version %s is not newer than 1", s.Version)
	}

	v3, err := Revise(v2, nil, "Republished.", authorT2)
	if err != nil {
		t.Fatal(err)
	}
	r = authorReadRevision(t, authorValid(t, v3))
	authorEq(t, "version", r.version, "3")
	authorEq(t, "entries", len(r.history), 3)
	authorEq(t, "last entry", r.history[2], [3]string{"2026-04-14T17:00:00Z", "3", "Republished."})

	again, err := Revise(v2, nil, "Republished.", authorT2)
	if err != nil || !bytes.Equal(again, v3) {
		t.Errorf("Revise is not deterministic (err %v)", err)
	}
}

// authorWithTracking rewrites a document's version, status and revision history (dated a
// day apart from the document's initial release), for the versioning tests.
func authorWithTracking(t *testing.T, data []byte, status, version string, history ...string) []byte {
	t.Helper()
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	tr := d.revTracking()
	tr["status"], tr["version"] = status, version
	var entries []any
	date := authorT0
	for _, n := range history {
		entries = append(entries, map[string]any{"date": authorTime(date), "number": n, "summary": "Revision " + n + "."})
		tr["current_release_date"] = authorTime(date)
		date = date.Add(24 * time.Hour)
	}
	tr["initial_release_date"] = authorTime(authorT0)
	tr["revision_history"] = entries
	out, err := authorEncode(d.Raw)
	if err != nil {
		t.Fatal(err)
	}
	authorValid(t, out)
	return out
}

// Semantic versions: minor for a change of text, major for a change of what users match
// against their assets; drafts and released documents.
func TestReviseSemanticVersions(t *testing.T) {
	base := authorBuild(t, authorExample(t), authorT0)
	retitle := func(d *Document) error {
		obj(d.Raw, "document")["title"] = "New title"
		return nil
	}
	rematch := func(d *Document) error {
		v := authorAt(d.Raw, "vulnerabilities", 1).(map[string]any)
		ps := obj(v, "product_status")
		ps["known_affected"] = append(arr(ps, "known_affected"), "mta-4.95.3")
		return nil
	}
	release := func(d *Document) error {
		obj(obj(d.Raw, "document"), "tracking")["status"] = "final"
		return nil
	}
	cases := []struct {
		name        string
		status      string
		version     string
		history     []string
		edit        func(*Document) error
		wantVersion string
		wantHistory []string // numbers
		wantStatus  string
	}{
		{"text change", "final", "1.0.0", []string{"1.0.0"}, retitle, "1.1.0", []string{"1.0.0", "1.1.0"}, "final"},
		{"no change", "final", "1.2.0", []string{"1.0.0", "1.1.0", "1.2.0"}, nil, "1.3.0", []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"}, "final"},
		{"product status change", "final", "1.1.0", []string{"1.0.0", "1.1.0"}, rematch, "2.0.0", []string{"1.0.0", "1.1.0", "2.0.0"}, "final"},
		{"build metadata dropped", "final", "1.2.3+build.7", []string{"1.0.0", "1.2.3"}, retitle, "1.3.0", []string{"1.0.0", "1.2.3", "1.3.0"}, "final"},
		{"interim", "interim", "2.0.0", []string{"1.0.0", "2.0.0"}, retitle, "2.1.0", []string{"1.0.0", "2.0.0", "2.1.0"}, "interim"},
		{"draft in initial development", "draft", "0.2.0", []string{"0.1.0", "0.2.0"}, rematch, "0.3.0", []string{"0.1.0", "0.2.0", "0.3.0"}, "draft"},
		{"draft released", "draft", "0.2.0", []string{"0.1.0", "0.2.0"}, release, "1.0.0", []string{"1.0.0"}, "final"},
		{"pre-release draft", "draft", "1.0.0-rc.1", []string{"1.0.0"}, retitle, "1.1.0", []string{"1.0.0", "1.1.0"}, "draft"},
		{"integer draft released", "draft", "0", []string{"0"}, release, "1", []string{"1"}, "final"},
		{"integer", "final", "9", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}, rematch, "10", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, "final"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev := authorWithTracking(t, base, c.status, c.version, c.history...)
			out, err := Revise(prev, c.edit, "Changed.", authorT2)
			if err != nil {
				t.Fatal(err)
			}
			d := authorValid(t, out)
			r := authorReadRevision(t, d)
			authorEq(t, "version", r.version, c.wantVersion)
			var numbers []string
			for _, h := range r.history {
				numbers = append(numbers, h[1])
			}
			authorEq(t, "history", numbers, c.wantHistory)
			authorEq(t, "status", str(d.revTracking(), "status"), c.wantStatus)
			authorEq(t, "last entry", r.history[len(r.history)-1], [3]string{"2026-04-14T17:00:00Z", c.wantVersion, "Changed."})
		})
	}
}

// ReviseWithForm rebuilds the content from the updated form and keeps the tracking.
func TestReviseWithForm(t *testing.T) {
	f := authorExample(t)
	v1 := authorBuild(t, f, authorT0)

	// CVE-2026-21002 turns out to affect 4.95.3 too; the release date in the form moves.
	f2 := authorExample(t)
	f2.TrackingID = ""
	f2.ReleaseDate = "2026-03-11"
	f2.Vulnerabilities[1].Fixed = append(f2.Vulnerabilities[1].Fixed, FormFix{Products: ProductKeys{"mta-4.95.3"}, FixedVersion: "4.95.4"})
	v2, err := ReviseWithForm(v1, f2, "CVE-2026-21002 affects 4.95.3 too.", authorT1)
	if err != nil {
		t.Fatal(err)
	}
	d2 := authorValid(t, v2)
	r := authorReadRevision(t, d2)
	authorEq(t, "version", r.version, "2")
	authorEq(t, "initial release kept", r.initial, "2026-03-10T17:00:00Z")
	authorEq(t, "history", r.history, [][3]string{
		{"2026-03-10T17:00:00Z", "1", "Initial release."},
		{"2026-03-12T09:30:00Z", "2", "CVE-2026-21002 affects 4.95.3 too."},
	})
	authorEq(t, "tracking id", d2.Summarize().TrackingID, "EXS-2026-0042")
	v := authorAt(d2.Raw, "vulnerabilities", 1)
	authorEq(t, "known affected", authorStrings(authorAt(v, "product_status", "known_affected")), []string{"mta-4.95.3", "example-mail-server-4.96.1"})

	// The form's status applies; the next revision is 3.
	f3 := f2
	f3.Status = "interim"
	v3, err := ReviseWithForm(v2, f3, "Under review again.", authorT2)
	if err != nil {
		t.Fatal(err)
	}
	d3 := authorValid(t, v3)
	authorEq(t, "version", str(d3.revTracking(), "version"), "3")
	authorEq(t, "status", str(d3.revTracking(), "status"), "interim")
	authorEq(t, "entries", len(arr(d3.revTracking(), "revision_history")), 3)

	// Semantic versions: a changed product tree is a new major version, text a minor one.
	sv1 := authorWithTracking(t, v1, "final", "1.0.0", "1.0.0")
	sv2, err := ReviseWithForm(sv1, f2, "More products.", authorT1)
	if err != nil {
		t.Fatal(err)
	}
	authorEq(t, "semantic major", str(authorValid(t, sv2).revTracking(), "version"), "2.0.0")
	f4 := f2
	f4.Summary = "A better summary."
	sv3, err := ReviseWithForm(sv2, f4, "Summary.", authorT2)
	if err != nil {
		t.Fatal(err)
	}
	authorEq(t, "semantic minor", str(authorValid(t, sv3).revTracking(), "version"), "2.1.0")

	// The form must be for the same advisory.
	f5 := authorExample(t)
	f5.TrackingID = "EXS-2026-0043"
	_, err = ReviseWithForm(v1, f5, "x", authorT1)
	var fe *FormError
	if !errors.As(err, &fe) || fe.Problems[0].Field != "tracking_id" || fe.Problems[0].Line == 0 {
		t.Errorf("another tracking id: err = %v, want a *FormError on tracking_id with its line", err)
	}
	// Form problems are form errors.
	f6 := authorExample(t)
	f6.Title = ""
	if _, err = ReviseWithForm(v1, f6, "x", authorT1); !errors.As(err, &fe) || fe.Problems[0].Field != "title" {
		t.Errorf("no title: err = %v, want a *FormError on title", err)
	}
}

func TestReviseErrors(t *testing.T) {
	v1 := authorBuild(t, authorExample(t), authorT0)
	var ve *ValidationError
	cases := []struct {
		name    string
		doc     []byte
		edit    func(*Document) error
		summary string
		now     time.Time
		msg     string
		check   func(error) bool
	}{
		{name: "no summary", doc: v1, summary: " ", now: authorT1, msg: "needs a summary"},
		{name: "before the latest revision", doc: v1, summary: "x", now: authorT0, msg: "is before the latest revision, of 2026-03-10T17:00:00Z"},
		{name: "not JSON", doc: []byte("{"), summary: "x", now: authorT1, msg: "not JSON"},
		{name: "no tracking", doc: []byte(`{"document":{}}`), summary: "x", now: authorT1, msg: "no /document/tracking"},
		{name: "bad version", doc: []byte(`{"document":{"tracking":{"version":"v1"}}}`), summary: "x", now: authorT1, msg: `"v1" is not a document version`},
		{name: "edit fails", doc: v1, summary: "x", now: authorT1, edit: func(*Document) error { return errors.New("no such field") }, msg: "no such field"},
		{name: "edit removes the tracking", doc: v1, summary: "x", now: authorT1, edit: func(d *Document) error {
			delete(obj(d.Raw, "document"), "tracking")
			return nil
		}, msg: "removed /document/tracking"},
		{name: "edit breaks the document", doc: v1, summary: "x", now: authorT1, edit: func(d *Document) error {
			delete(d.Raw, "product_tree")
			return nil
		}, msg: "6.1.1", check: func(err error) bool { return errors.As(err, &ve) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Revise(c.doc, c.edit, c.summary, c.now)
			if err == nil || !strings.Contains(err.Error(), c.msg) || (c.check != nil && !c.check(err)) {
				t.Errorf("err = %v, want one containing %q", err, c.msg)
			}
		})
	}
}

// Every real example advisory revises into a valid document with a newer version.
func TestReviseRealDocuments(t *testing.T) {
	dir := needShared(t)
	var files []string
	filepath.Walk(filepath.Join(dir, "examples"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no example documents")
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		before := d.Summarize()
		entries := len(arr(d.revTracking(), "revision_history"))
		out, err := Revise(data, nil, "Reviewed.", now)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		nd, err := Validate(out)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		after := nd.Summarize()
		if cmp, err := CompareVersions(after.Version, before.Version); err != nil || cmp <= 0 {
			t.Errorf("%s: version %s after %s", filepath.Base(file), after.Version, before.Version)
		}
		if n := len(arr(nd.revTracking(), "revision_history")); n != entries+1 && after.Status == before.Status {
			t.Errorf("%s: %d revision history entries after %d", filepath.Base(file), n, entries)
		}
		if after.TrackingID != before.TrackingID || !after.InitialRelease.Equal(before.InitialRelease) || after.RevisionSummary != "Reviewed." {
			t.Errorf("%s: tracking not kept: %+v", filepath.Base(file), after)
		}
	}
}
