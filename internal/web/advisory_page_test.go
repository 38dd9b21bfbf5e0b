package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/csaf"
)

// demoAdvisory finds a demo advisory by a word of its title.
func (e *env) demoAdvisory(q string) (id, trackingID string) {
	e.t.Helper()
	var l struct {
		Items []struct {
			ID         int64  `json:"id"`
			TrackingID string `json:"tracking_id"`
		}
	}
	e.api(200, "GET", "/api/v1/orgs/default/advisories?q="+url.QueryEscape(q), e.admin, nil, &l)
	if len(l.Items) != 1 {
		e.t.Fatalf("advisories matching %q: %+v", q, l.Items)
	}
	return strconv.FormatInt(l.Items[0].ID, 10), l.Items[0].TrackingID
}

// The advisory page reads like a bulletin: the demo's workaround-only advisory shows its
// summary, mitigating factors, workaround, FAQ and affected product, under headings; the
// texts of a document are escaped; the CSAF document downloads with the console's session.
func TestAdvisoryBulletinPage(t *testing.T) {
	e := newEnv(t)
	s := e.signIn("admin", adminPassword)
	id, trackingID := e.demoAdvisory("crafted headers")
	p := e.browse("GET", "/o/default/advisories/"+id, s, nil)
	if p.status != 200 {
		t.Fatalf("advisory page: %d", p.status)
	}
	for _, want := range []string{
		`<h2 id="h-n0">Summary</h2><p class="text">A message with thousands of nested MIME parts`,
		`<h2 id="h-mf">Mitigating factors</h2>`,
		`<li class="text">Servers that do not run the content filter are not affected.</li>`,
		`<h3>Workarounds</h3>`,
		`<p class="text">Set max_mime_depth = 32 in filter.conf and restart the filter.</p>`,
		`<p class="for">For: Example Software Example Mail Server 4.96.1</p>`,
		`<h3>No fix available</h3>`,
		`<h3>Affected</h3>`,
		`<h2 id="h-faq">FAQ</h2><dl class="faq"><dt>When will an update be available?</dt>`,
		` — Uncontrolled recursion in MIME parsing</h2>`,
		`<dt>Weakness</dt><dd>CWE-674 Uncontrolled Recursion</dd>`,
		`<a href="/o/default/advisories/` + id + `/csaf" download>Download the CSAF document</a>`,
		`<nav class="toc" aria-label="On this page">`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(p.body, "/api/v1/orgs/") {
		t.Error("the page links the API, which a browser session cannot use")
	}

	// The download: the API's export byte for byte, as an attachment named by the CSAF rule.
	d := e.browse("GET", "/o/default/advisories/"+id+"/csaf", s, nil)
	export := e.browse("GET", "/api/v1/orgs/default/advisories/"+id+"/csaf", "", nil, "Authorization", "Bearer "+e.admin)
	want := export.body
	if export.status != 200 || d.status != 200 || d.body != want || d.header.Get("Content-Type") != "application/json" ||
		d.header.Get("Content-Disposition") != `attachment; filename="`+csaf.Filename(trackingID)+`"` ||
		d.header.Get("X-Patchday-Revision") != "1" || d.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("download: %d %q %q, %d bytes (want %d)", d.status, d.header.Get("Content-Type"), d.header.Get("Content-Disposition"), len(d.body), len(want))
	}
	if d := e.browse("GET", "/o/default/advisories/"+id+"/csaf?revision=1", s, nil); d.status != 200 || d.body != want {
		t.Errorf("download ?revision=1: %d", d.status)
	}
	for path, status := range map[string]int{"/csaf?revision=9": 404, "/csaf?revision=x": 400} {
		if d := e.browse("GET", "/o/default/advisories/"+id+path, s, nil); d.status != status {
			t.Errorf("%s: %d, want %d", path, d.status, status)
		}
	}
	// By tracking id: on to the same download by number, the query kept; an unknown one is not found.
	if d := e.browse("GET", "/o/default/advisories/"+url.PathEscape(trackingID)+"/csaf?revision=1", s, nil); d.status != http.StatusSeeOther ||
		d.location != "/o/default/advisories/"+id+"/csaf?revision=1" {
		t.Errorf("download by the tracking id %s: %d to %q", trackingID, d.status, d.location)
	}
	if d := e.browse("GET", "/o/default/advisories/EXS-NOPE-1/csaf", s, nil); d.status != 404 {
		t.Errorf("download by an unknown tracking id: %d", d.status)
	}
	// Without a session: to the login page. Another organisation's user: not found.
	if d := e.browse("GET", "/o/default/advisories/"+id+"/csaf", "", nil); d.status != http.StatusSeeOther || !strings.HasPrefix(d.location, "/login") {
		t.Errorf("download without a session: %d to %q", d.status, d.location)
	}
	e.api(201, "POST", "/api/v1/orgs", e.admin, map[string]string{"slug": "acme", "name": "ACME"}, nil)
	e.createUser("acme", "alice", "admin")
	alice := e.signIn("alice", "password-of-alice")
	for _, path := range []string{"/o/default/advisories/" + id + "/csaf", "/o/acme/advisories/" + id + "/csaf"} {
		if d := e.browse("GET", path, alice, nil); d.status != 404 || strings.Contains(d.body, "max_mime_depth") ||
			d.header.Get("Content-Disposition") != "" {
			t.Errorf("another organisation's user: %s: %d", path, d.status)
		}
	}
}

// Markup in a document's texts shows as text.
func TestAdvisoryBulletinEscapes(t *testing.T) {
	e := newEnv(t)
	s := e.signIn("admin", adminPassword)
	f, err := csaf.ParseForm([]byte(`
tracking_id: ESC-2026-1
title: "Escaping <b>test</b>"
publisher: {name: Example PSIRT, namespace: "https://psirt.example.com"}
summary: "<script>alert('summary')</script> & <img src=x onerror=alert(1)>"
mitigating_factors:
  - "<em>emphasis</em> is not markup"
faq:
  - question: "Is </dt><dt>this</dt> a question?"
    answer: "Line one\nLine <two>"
references:
  - url: "https://example.com/?a=1&b=<2>"
    summary: "<i>ref</i>"
products:
  - {id: p1, vendor: Example, name: "Example <App>", version: "1.0"}
vulnerabilities:
  - cve: CVE-2026-60001
    title: "<script>alert('title')</script>"
    description: "<iframe src=https://evil.example></iframe>"
    affected: p1
    workarounds:
      - text: "Run: echo '<x>' > /etc/app.conf"
        url: "https://example.com/kb?x=<y>"
`))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := f.Build(time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var imp struct {
		Advisory struct {
			ID int64 `json:"id"`
		} `json:"advisory"`
	}
	e.api(201, "POST", "/api/v1/orgs/default/advisories", e.admin, json.RawMessage(doc), &imp)
	p := e.browse("GET", "/o/default/advisories/"+strconv.FormatInt(imp.Advisory.ID, 10), s, nil)
	if p.status != 200 {
		t.Fatalf("page: %d", p.status)
	}
	for _, bad := range []string{"<script>alert", "<img src=x", "<em>emphasis", "<iframe", "<i>ref", "</dt><dt>this", "<App>", "<x>", "<two>", "<b>test"} {
		if strings.Contains(p.body, bad) {
			t.Errorf("the page has the document's markup %s", bad)
		}
	}
	for _, want := range []string{
		"&lt;script&gt;alert(&#39;summary&#39;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;",
		"&lt;em&gt;emphasis&lt;/em&gt; is not markup",
		"<dt>Is &lt;/dt&gt;&lt;dt&gt;this&lt;/dt&gt; a question?</dt>",
		"Line one\nLine &lt;two&gt;",
		`<a href="https://example.com/?a=1&amp;b=%3c2%3e">&lt;i&gt;ref&lt;/i&gt;</a>`,
		"Example &lt;App&gt; 1.0",
		"Run: echo &#39;&lt;x&gt;&#39; &gt; /etc/app.conf",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks the escaped %s", want)
		}
	}
}

// A tracking id that is part of many others' (ACME-SA-1 in ACME-SA-10 to -19, all newer)
// still finds its own advisory, for the page and the download.
func TestAdvisoryByTrackingIDAmongSimilar(t *testing.T) {
	e := newEnv(t)
	s := e.signIn("admin", adminPassword)
	ids := map[string]int64{}
	for i, n := range []int{1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19} {
		tid := fmt.Sprint("ACME-SA-", n)
		f, err := csaf.ParseForm([]byte(fmt.Sprintf(`
tracking_id: %s
title: "Advisory %d"
publisher: {name: Example PSIRT, namespace: "https://psirt.example.com"}
products:
  - {id: p1, vendor: Example, name: "Example App", version: "1.0"}
vulnerabilities:
  - cve: CVE-2026-6%04d
    description: "A flaw in Example App lets an attacker read files."
    affected: p1
`, tid, n, n)))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := f.Build(time.Now().Add(-time.Duration(100-i) * time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		var imp struct {
			Advisory struct {
				ID int64 `json:"id"`
			} `json:"advisory"`
		}
		e.api(201, "POST", "/api/v1/orgs/default/advisories", e.admin, json.RawMessage(doc), &imp)
		ids[tid] = imp.Advisory.ID
	}
	for _, suffix := range []string{"", "/csaf"} {
		want := fmt.Sprint("/o/default/advisories/", ids["ACME-SA-1"], suffix)
		if d := e.browse("GET", "/o/default/advisories/ACME-SA-1"+suffix, s, nil); d.status != http.StatusSeeOther || d.location != want {
			t.Errorf("ACME-SA-1%s: %d to %q, want %s", suffix, d.status, d.location, want)
		}
	}
}
