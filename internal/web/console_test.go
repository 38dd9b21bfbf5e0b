package web_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/web"
)

// page is a console answer.
type page struct {
	status   int
	location string
	body     string
	header   http.Header
	cookies  []*http.Cookie
}

// browse sends a console request with the session cookie (when not empty), as a browser on
// the same origin would, without following redirects. form, when not nil, is POSTed.
func (e *env) browse(method, path, session string, form url.Values, hdr ...string) page {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, e.http.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", e.http.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	if session != "" {
		req.AddCookie(&http.Cookie{Name: web.CookieName, Value: session})
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), header: resp.Header, cookies: resp.Cookies()}
}

// signIn logs in through the console's form and returns the session cookie's value.
func (e *env) signIn(user, pass string) string {
	e.t.Helper()
	p := e.browse("POST", "/login", "", url.Values{"username": {user}, "password": {pass}})
	if p.status != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: %d %s", user, p.status, p.body)
	}
	for _, c := range p.cookies {
		if c.Name == web.CookieName {
			return c.Value
		}
	}
	e.t.Fatalf("sign in as %s: no session cookie", user)
	return ""
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf reads the CSRF token from a page's forms.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page")
	}
	return m[1]
}

const sqlUpdate = "/o/default/updates/example-sql-engine-2022.160.4140"

func TestLoginCookieAndFailure(t *testing.T) {
	e := newEnv(t)
	p := e.browse("GET", "/o/default/updates", "", nil)
	if p.status != http.StatusSeeOther || p.location != "/login?next=%2Fo%2Fdefault%2Fupdates" {
		t.Fatalf("without a session: %d to %q", p.status, p.location)
	}
	p = e.browse("POST", "/login", "", url.Values{"username": {"admin"}, "password": {"wrong-password"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Wrong username or password.") || len(p.cookies) != 0 {
		t.Errorf("wrong password: %d, cookies %v, body has the message: %v", p.status, p.cookies, strings.Contains(p.body, "Wrong username"))
	}
	p = e.browse("POST", "/login", "", url.Values{"username": {"admin"}, "password": {adminPassword}, "next": {"//evil.example/x"}})
	if p.status != http.StatusSeeOther || p.location != "/" {
		t.Errorf("login with next=//evil.example: %d to %q, want / (no open redirect)", p.status, p.location)
	}
	var c *http.Cookie
	for _, k := range p.cookies {
		if k.Name == web.CookieName {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.MaxAge <= 0 {
		t.Fatalf("session cookie over plain HTTP: %+v (want HttpOnly, SameSite=Lax, Path=/, an expiry, not Secure)", c)
	}
	if p := e.browse("GET", "/o/default/", c.Value, nil); p.status != 200 ||
		!strings.Contains(p.header.Get("Content-Security-Policy"), "default-src 'self'") || p.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("dashboard: %d, headers %v", p.status, p.header)
	}

	// Behind a trusted TLS-terminating proxy, or over TLS, the cookie is Secure.
	console, err := web.New(web.Config{API: e.srv, Key: []byte("0123456789abcdef0123456789abcdef"), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		remote string
		proto  string
		tls    bool
		secure bool
	}{
		{"trusted proxy, https", "10.1.2.3:5555", "https", false, true},
		{"untrusted proxy claiming https", "192.0.2.1:5555", "https", false, false},
		{"direct TLS", "192.0.2.1:5555", "", true, true},
	} {
		form := url.Values{"username": {"admin"}, "password": {adminPassword}}
		req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = tc.remote
		if tc.proto != "" {
			req.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		if tc.tls {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		console.ServeHTTP(rec, req)
		cs := rec.Result().Cookies()
		if rec.Code != http.StatusSeeOther || len(cs) != 1 || cs[0].Secure != tc.secure {
			t.Errorf("%s: %d, cookies %+v, want Secure=%v", tc.name, rec.Code, cs, tc.secure)
		}
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	s := e.signIn("admin", adminPassword)
	p := e.browse("GET", sqlUpdate, s, nil)
	tok := csrfOf(t, p.body)
	form := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "group": {"pilot"}, "action": {"install"}, "deadline": {""}}
	}
	post := sqlUpdate + "/approvals"
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no token", form(""), nil},
		{"wrong token", form(strings.Repeat("A", len(tok))), nil},
		{"another session's token", form(csrfOf(t, e.browse("GET", sqlUpdate, e.signIn("admin", adminPassword), nil).body)), nil},
		{"right token, foreign Origin", form(tok), []string{"Origin", "https://evil.example", "Sec-Fetch-Site", ""}},
		{"right token, cross-site fetch", form(tok), []string{"Origin", "", "Sec-Fetch-Site", "cross-site"}},
	} {
		p := e.browse("POST", post, s, tc.form, tc.hdr...)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "did not come from this console") {
			t.Errorf("%s: %d %q", tc.name, p.status, p.location)
		}
	}
	var ap struct{ Items []any }
	e.api(200, "GET", "/api/v1/orgs/default/updates/example-sql-engine-2022.160.4140/approvals", e.admin, nil, &ap)
	if len(ap.Items) != 0 {
		t.Fatalf("a refused form approved: %v", ap.Items)
	}
	// The login form checks the origin too (login CSRF).
	if p := e.browse("POST", "/login", "", url.Values{"username": {"admin"}, "password": {adminPassword}}, "Origin", "https://evil.example"); p.status != http.StatusForbidden {
		t.Errorf("login from a foreign origin: %d", p.status)
	}
	// With the token and the same origin it goes through.
	p = e.browse("POST", post, s, form(tok))
	if p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "?done=approved") {
		t.Fatalf("a good form: %d %q %s", p.status, p.location, p.body)
	}
	// Logout is a POST with the token too; afterwards the session is dead.
	if p := e.browse("POST", "/logout", s, url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("logout without the token: %d", p.status)
	}
	if p := e.browse("POST", "/logout", s, url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther || p.location != "/login?done=loggedout" {
		t.Errorf("logout: %d %q", p.status, p.location)
	}
	if p := e.browse("GET", "/o/default/", s, nil); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/login") {
		t.Errorf("after logout: %d %q", p.status, p.location)
	}
	e.api(401, "GET", "/api/v1/me", s, nil, nil) // the token itself is revoked
}

func TestViewerCannotApprove(t *testing.T) {
	e := newEnv(t)
	e.createUser("default", "vera", "viewer")
	s := e.signIn("vera", "password-of-vera")
	p := e.browse("GET", sqlUpdate, s, nil)
	if p.status != 200 || strings.Contains(p.body, "approve-submit") || !strings.Contains(p.body, "Status per group") {
		t.Fatalf("a viewer's update page: %d, has the approve form: %v", p.status, strings.Contains(p.body, "approve-submit"))
	}
	// A crafted form with a valid CSRF token: the API refuses it, and the page says so.
	tok := csrfOf(t, p.body) // the sign-out form's
	p = e.browse("POST", sqlUpdate+"/approvals", s, url.Values{"csrf": {tok}, "group": {"pilot"}, "action": {"install"}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "403") || !strings.Contains(p.body, "role") {
		t.Errorf("a viewer's approval: %d\n%s", p.status, p.body)
	}
	// An operator gets the form and can approve; a bad group is the API's 400, on the page.
	e.createUser("default", "otto", "operator")
	so := e.signIn("otto", "password-of-otto")
	p = e.browse("GET", sqlUpdate, so, nil)
	if !strings.Contains(p.body, "approve-submit") {
		t.Fatal("an operator does not get the approve form")
	}
	tok = csrfOf(t, p.body)
	p = e.browse("POST", sqlUpdate+"/approvals", so, url.Values{"csrf": {tok}, "group": {"no-such-group"}, "action": {"install"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "names no group") ||
		!regexp.MustCompile(`<select id="a-group"[^>]*aria-invalid="true"`).MatchString(p.body) {
		t.Errorf("approval for an unknown group: %d (the group field marked invalid?)", p.status)
	}
	p = e.browse("POST", sqlUpdate+"/approvals", so, url.Values{"csrf": {tok}, "group": {"broad"}, "action": {"install"}, "deadline": {"yesterday"}})
	if p.status != http.StatusBadRequest || !regexp.MustCompile(`<input id="a-deadline"[^>]*aria-invalid="true"`).MatchString(p.body) ||
		!strings.Contains(p.body, `value="yesterday"`) {
		t.Errorf("approval with a bad deadline: %d (the deadline marked invalid and kept?)", p.status)
	}
	p = e.browse("POST", sqlUpdate+"/approvals", so, url.Values{"csrf": {tok}, "group": {"broad"}, "action": {"decline"}})
	if p.status != http.StatusSeeOther {
		t.Errorf("an operator's decline: %d %s", p.status, p.body)
	}
}

func TestOrganisationIsolation(t *testing.T) {
	e := newEnv(t)
	e.api(201, "POST", "/api/v1/orgs", e.admin, map[string]string{"slug": "acme", "name": "ACME"}, nil)
	e.createUser("acme", "alice", "admin")
	s := e.signIn("alice", "password-of-alice")
	if p := e.browse("GET", "/", s, nil); p.status != http.StatusSeeOther || p.location != "/o/acme/" {
		t.Errorf("alice's start: %d %q", p.status, p.location)
	}
	if p := e.browse("GET", "/o/acme/", s, nil); p.status != 200 {
		t.Errorf("alice's own dashboard: %d", p.status)
	}
	for _, path := range []string{"/o/default/", "/o/default/advisories", "/o/default/advisories/1", sqlUpdate,
		"/o/default/computers", "/o/default/computers/web-01", "/o/default/groups/pilot", "/o/default/audit", "/o/default/users"} {
		if p := e.browse("GET", path, s, nil); p.status != http.StatusNotFound || strings.Contains(p.body, "web-01") {
			t.Errorf("alice on %s: %d, want 404 without the other organisation's data", path, p.status)
		}
	}
	tok := csrfOf(t, e.browse("GET", "/o/acme/", s, nil).body)
	if p := e.browse("POST", sqlUpdate+"/approvals", s, url.Values{"csrf": {tok}, "group": {"pilot"}, "action": {"install"}}); p.status != http.StatusNotFound {
		t.Errorf("alice approving in another organisation: %d", p.status)
	}
	// A site admin switches between organisations.
	a := e.signIn("admin", adminPassword)
	p := e.browse("GET", "/o/default/updates", a, nil)
	if !strings.Contains(p.body, `id="org-switch"`) || !strings.Contains(p.body, `<option value="acme">`) {
		t.Error("the site admin has no organisation switcher")
	}
	for section, want := range map[string]string{"updates": "/o/acme/updates", "enrollment": "/o/acme/enrollment",
		"releases": "/o/acme/releases", "../admin": "/o/acme/", "": "/o/acme/"} {
		if p := e.browse("GET", "/switch?org=acme&section="+url.QueryEscape(section), a, nil); p.status != http.StatusSeeOther || p.location != want {
			t.Errorf("switch to section %q: %d %q, want %q", section, p.status, p.location, want)
		}
	}
}

// Every page renders for the demo organisation, and lists page.
func TestPagesRender(t *testing.T) {
	e := newEnv(t)
	s := e.signIn("admin", adminPassword)
	for _, tc := range []struct{ path, want string }{
		{"/o/default/", "Compliance over time"},
		{"/o/default/advisories?min_severity=critical", "Example SQL Engine"},
		{"/o/default/advisories/1", "Revisions"},
		{"/o/default/updates?severity=critical", "example-sql-engine-2022.160.4140"},
		{sqlUpdate, "Status per group"},
		{"/o/default/computers?q=web", "web-01"},
		{"/o/default/computers/web-01?pkg=openssl", "3.0.11-1~deb12u1"},
		{"/o/default/groups", "pilot"},
		{"/o/default/groups/pilot", "web-01"},
		{"/o/default/rules", "Auto-approval rules"},
		{"/o/default/scans", "Scans"},
		{"/o/default/audit?action=demo.load", "demo.load"},
		{"/o/default/users", "admin"},
		{"/o/default/subscriptions", "Add a subscription"},
		{"/o/default/releases", "the second\n    Tuesday at 10:00 (UTC)"},
		{"/tokens", "this session"},
	} {
		p := e.browse("GET", tc.path, s, nil)
		if p.status != 200 || !strings.Contains(p.body, tc.want) {
			t.Errorf("%s: %d, want %q in the page", tc.path, p.status, tc.want)
		}
		for _, bad := range []string{"<no value>", "%!"} {
			if strings.Contains(p.body, bad) {
				t.Errorf("%s: the page has %q", tc.path, bad)
			}
		}
	}
	// An advisory named by its tracking id (the update page's links) opens its page.
	m0 := regexp.MustCompile(`href="(/o/default/advisories/EXS-[^"]+)"`).FindStringSubmatch(e.browse("GET", sqlUpdate, s, nil).body)
	if m0 == nil {
		t.Fatal("the update page does not link its advisory")
	}
	if p := e.browse("GET", m0[1], s, nil); p.status != http.StatusSeeOther || p.location != "/o/default/advisories/1" {
		t.Errorf("%s: %d to %q, want /o/default/advisories/1", m0[1], p.status, p.location)
	}
	// Pagination: a page of 2 computers links to the next, which keeps the filter.
	p := e.browse("GET", "/o/default/computers?limit=2", s, nil)
	m := regexp.MustCompile(`href="(/o/default/computers\?[^"]*cursor=[^"]*)" rel="next"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatal("no next-page link with limit=2")
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	if p2 := e.browse("GET", next, s, nil); p2.status != 200 || !strings.Contains(p2.body, "First page") || strings.Contains(p2.body, ">web-01<") {
		t.Errorf("second page %s: %d", next, p2.status)
	}
	// Unknown console pages are 404; API paths still reach the API.
	if p := e.browse("GET", "/o/default/nothing-here", s, nil); p.status != http.StatusNotFound {
		t.Errorf("unknown page: %d", p.status)
	}
	if p := e.browse("GET", "/healthz", "", nil); p.status != 200 {
		t.Errorf("/healthz through the mux: %d", p.status)
	}
}

// Subscriptions from the console: a webhook shows its secret once, an e-mail waits for its
// owner's confirmation, a removal goes through the API; a viewer gets no form.
func TestSubscriptionsPage(t *testing.T) {
	e := newEnv(t)
	s := e.signIn("admin", adminPassword)
	p := e.browse("GET", "/o/default/subscriptions", s, nil)
	tok := csrfOf(t, p.body)
	p = e.browse("POST", "/o/default/subscriptions", s, url.Values{"csrf": {tok}, "kind": {"webhook"}, "address": {"http://127.0.0.1:9/hook"},
		"min_severity": {"high"}, "event": {"advisory.published", "rollout.halted"}})
	m := regexp.MustCompile(`<code id="webhook-secret">([^<]{32,})</code>`).FindStringSubmatch(p.body)
	if p.status != http.StatusCreated || m == nil || !contains(p.body, "advisory.published, rollout.halted", "active") {
		t.Fatalf("webhook subscription: %d\n%s", p.status, p.body)
	}
	if p := e.browse("GET", "/o/default/subscriptions", s, nil); strings.Contains(p.body, m[1]) {
		t.Error("the webhook's secret is shown again")
	}
	p = e.browse("POST", "/o/default/subscriptions", s, url.Values{"csrf": {tok}, "kind": {"email"}, "address": {"SecOps@Example.org"}, "digest": {"daily"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("e-mail subscription: %d %s", p.status, p.body)
	}
	p = e.browse("GET", p.location, s, nil)
	if !contains(p.body, "secops@example.org", "awaiting confirmation", "confirmation mail") {
		t.Errorf("after the e-mail subscription:\n%s", p.body)
	}
	// A bad address: the API's 400 on the page, the form kept.
	p = e.browse("POST", "/o/default/subscriptions", s, url.Values{"csrf": {tok}, "kind": {"email"}, "address": {"not an address"}})
	if p.status != http.StatusBadRequest || !contains(p.body, "address", `value="not an address"`) {
		t.Errorf("a bad address: %d\n%s", p.status, p.body)
	}
	id := regexp.MustCompile(`action="/o/default/subscriptions/(\d+)/delete"`).FindStringSubmatch(p.body)
	if id == nil {
		t.Fatal("no remove button")
	}
	if p := e.browse("POST", "/o/default/subscriptions/"+id[1]+"/delete", s, url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther {
		t.Errorf("remove: %d %s", p.status, p.body)
	}
	if p := e.browse("GET", "/o/default/subscriptions", s, nil); strings.Count(p.body, "/delete\"") != 1 {
		t.Errorf("after removing one of two: %d remove buttons", strings.Count(p.body, "/delete\""))
	}
	e.createUser("default", "vera", "viewer")
	sv := e.signIn("vera", "password-of-vera")
	if p := e.browse("GET", "/o/default/subscriptions", sv, nil); p.status != 200 || !contains(p.body, `id="admins-only"`) ||
		strings.Contains(p.body, "subscribe-submit") || strings.Contains(p.body, "/delete\"") || strings.Contains(p.body, "secops@example.org") {
		t.Errorf("a viewer's subscriptions page: %d", p.status)
	}
}

func TestSecondTuesday(t *testing.T) {
	for in, want := range map[string]string{
		"2026-11-01": "2026-11-10", "2026-11-10": "2026-11-10", "2026-11-11": "2026-12-08", "2026-12-31": "2027-01-12",
	} {
		d, _ := time.Parse(time.DateOnly, in)
		if got := web.SecondTuesday(d).Format(time.DateOnly); got != want {
			t.Errorf("SecondTuesday(%s) = %s, want %s", in, got, want)
		}
	}
}
