package web_test

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

// The administration forms (admin.go), each through the console as a browser posts it: the
// change happens (checked through the API), a bad value is the API's refusal on the form's
// page with the field named and the values kept, a form without the session's CSRF token is
// refused, and the roles the API refuses get no form and a 403 when they post one anyway.

const sqlAPI = "/api/v1/orgs/default/updates/example-sql-engine-2022.160.4140"

// get asks the API as the site admin and returns the status and the JSON answer, without
// failing the test on a status other than 200.
func (e *env) get(path string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.http.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// txt is the field k of a JSON answer as text ("" when absent).
func txt(m map[string]any, k string) string {
	if v, ok := m[k]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// listed is the item of an API list whose key is v, or nil.
func (e *env) listed(path, key, v string) map[string]any {
	e.t.Helper()
	_, l := e.get(path)
	items, _ := l["items"].([]any)
	for _, it := range items {
		if m, _ := it.(map[string]any); txt(m, key) == v {
			return m
		}
	}
	return nil
}

// postForm opens page as the session's user, takes the CSRF token of its forms and posts form
// to action with it (csrf "" keeps it; "-" leaves it out; anything else replaces it).
func (e *env) postForm(session, pagePath, action string, form url.Values, csrf string) page {
	e.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	switch csrf {
	case "":
		m := csrfRE.FindStringSubmatch(e.browse("GET", pagePath, session, nil).body)
		if m == nil {
			e.t.Fatalf("%s: no CSRF token in the page", pagePath)
		}
		f.Set("csrf", m[1])
	case "-":
	default:
		f.Set("csrf", csrf)
	}
	return e.browse("POST", action, session, f)
}

type formCase struct {
	name   string
	role   string // the least role that may post the form: admin or operator
	setup  func(e *env)
	page   string // where the form is
	marker string // in the page for the roles that may post the form, and only for them
	post   string // the console route
	good   url.Values
	done   string                     // the flash of the redirect; "" when the page answers 201
	check  func(e *env) bool          // whether the change happened, asked of the API
	bad    url.Values                 // a value the API refuses
	badAt  string                     // the route for bad when not post
	badSC  int                        // the API's status for it
	badHas []string                   // on the page that answers: the message naming the field, the values kept
	extra  func(t *testing.T, p page) // more checks of the good answer
}

func formCases() []formCase {
	approve := func(e *env) {
		e.api(200, "POST", sqlAPI+"/approvals", e.admin, map[string]any{"group": "pilot", "action": "install"}, nil)
	}
	rollout := func(e *env, group string) map[string]any {
		_, ro := e.get(sqlAPI + "/rollout")
		gs, _ := ro["groups"].([]any)
		for _, g := range gs {
			if m, _ := g.(map[string]any); txt(m, "group") == group {
				return m
			}
		}
		return nil
	}
	inTenDays := time.Now().UTC().AddDate(0, 0, 10).Format("2006-01-02") + "T15:00"
	return []formCase{
		{
			name: "create a group", role: "admin", page: "/o/default/groups", marker: `id="group-create"`, post: "/o/default/groups",
			good: url.Values{"name": {"canary"}, "description": {"the first machines"}, "rule": {""}, "ring": {"1"}, "windows": {"mon-fri 22:00-04:00"},
				"timezone": {"Europe/Zurich"}, "max_starts": {"5"}, "start_window_minutes": {"30"}, "halt_failure_pct": {"10"}, "halt_min_attempts": {"4"}},
			done: "group-created",
			check: func(e *env) bool {
				sc, g := e.get("/api/v1/orgs/default/groups/canary")
				return sc == 200 && txt(g, "ring") == "1" && txt(g, "timezone") == "Europe/Zurich" && txt(g, "windows") != "" &&
					txt(g, "max_starts") == "5" && txt(g, "start_window_minutes") == "30" && txt(g, "halt_failure_pct") == "10" &&
					txt(g, "halt_min_attempts") == "4" && txt(g, "description") == "the first machines" && txt(g, "rule") == ""
			},
			bad:   url.Values{"name": {"canary"}, "description": {"kept description"}, "windows": {"someday 25:00-26:00"}, "timezone": {"UTC"}},
			badSC: 400, badHas: []string{"windows ", `value="someday 25:00-26:00"`, `value="kept description"`, `value="canary"`, `aria-invalid="true"`},
		},
		{
			name: "create a dynamic group", role: "admin", page: "/o/default/groups", marker: `id="group-create"`, post: "/o/default/groups",
			good: url.Values{"name": {"debian-web"}, "rule": {"hostname=web-*"}, "ring": {""}, "timezone": {"UTC"}},
			done: "group-created",
			check: func(e *env) bool {
				sc, g := e.get("/api/v1/orgs/default/groups/debian-web")
				return sc == 200 && txt(g, "rule") == "hostname=web-*" && txt(g, "ring") == "" && txt(g, "members") != "0"
			},
			bad:   url.Values{"name": {"debian-web"}, "rule": {"colour=blue"}, "ring": {"101"}},
			badSC: 400, badHas: []string{"rule ", `value="colour=blue"`, `value="101"`},
		},
		{
			name: "edit a group", role: "admin", page: "/o/default/groups/pilot", marker: `id="group-save"`, post: "/o/default/groups/pilot/edit",
			good: url.Values{"description": {"pilot machines"}, "ring": {""}, "windows": {"sat 00:00-06:00"}, "timezone": {"Europe/Berlin"},
				"max_starts": {"0"}, "start_window_minutes": {"60"}, "halt_failure_pct": {"20"}, "halt_min_attempts": {"3"}},
			done: "group-saved",
			check: func(e *env) bool {
				_, g := e.get("/api/v1/orgs/default/groups/pilot")
				return txt(g, "ring") == "" && txt(g, "windows") != "" && txt(g, "timezone") == "Europe/Berlin" && txt(g, "halt_failure_pct") == "20" &&
					txt(g, "description") == "pilot machines"
			},
			bad:   url.Values{"description": {"kept description"}, "ring": {"1"}, "windows": {"sat 00:00-06:00"}, "timezone": {"Mars/Olympus_Mons"}},
			badSC: 400, badHas: []string{"timezone ", `value="Mars/Olympus_Mons"`, `value="kept description"`, `aria-invalid="true"`},
		},
		{
			name: "rename a group", role: "admin", page: "/o/default/groups/pilot", marker: `id="e-name"`, post: "/o/default/groups/pilot/edit",
			good: url.Values{"name": {"first-ring"}, "description": {"renamed"}, "ring": {"1"}, "timezone": {"UTC"}},
			done: "group-saved",
			check: func(e *env) bool {
				sc, g := e.get("/api/v1/orgs/default/groups/first-ring")
				old, _ := e.get("/api/v1/orgs/default/groups/pilot")
				return sc == 200 && old == 404 && txt(g, "description") == "renamed" && txt(g, "members") != "0"
			},
			bad:   url.Values{"name": {"broad"}, "description": {"kept description"}, "ring": {"1"}, "timezone": {"UTC"}},
			badSC: 409, badHas: []string{`a group named &#34;broad&#34; exists`, `value="broad"`, `value="kept description"`, `aria-invalid="true"`},
		},
		{
			name: "delete a group", role: "admin", page: "/o/default/groups/broad", marker: `id="group-delete"`, post: "/o/default/groups/broad/delete",
			good: url.Values{"confirm": {"yes"}}, done: "group-deleted",
			check: func(e *env) bool { sc, _ := e.get("/api/v1/orgs/default/groups/broad"); return sc == 404 },
			bad:   url.Values{}, badSC: 400, badHas: []string{"confirm must be ticked", `id="group-delete"`},
		},
		{
			name: "add a computer to a group", role: "admin",
			setup: func(e *env) {
				e.api(201, "POST", "/api/v1/orgs/default/groups", e.admin, map[string]any{"name": "canary"}, nil)
			},
			page: "/o/default/groups/canary", marker: `id="member-add"`, post: "/o/default/groups/canary/members",
			good: url.Values{"computer": {"web-01"}}, done: "member-added",
			check: func(e *env) bool { return e.isMember("canary", "web-01") },
			bad:   url.Values{"computer": {"no-such-host"}}, badSC: 404, badHas: []string{"no-such-host", "not found", `value="no-such-host"`},
		},
		{
			name: "remove a computer from a group", role: "admin", page: "/o/default/groups/pilot", marker: `aria-label="Remove web-01 from the group"`,
			post: "/o/default/groups/pilot/members/web-01/remove", done: "member-removed",
			check: func(e *env) bool { return !e.isMember("pilot", "web-01") },
			badAt: "/o/default/groups/pilot/members/no-such-host/remove", badSC: 404, badHas: []string{"no-such-host", "not found"},
		},
		{
			name: "create a rule", role: "admin", page: "/o/default/rules", marker: `id="rule-create"`, post: "/o/default/rules",
			good: url.Values{"name": {"pilot-security"}, "group": {"pilot"}, "classification": {"security"}, "min_severity": {"high"},
				"purl_prefix": {"pkg:deb/debian"}, "advisory": {""}, "delay_days": {"2"}, "after_ring_pct": {"0"}, "deadline_days": {"7"}},
			done: "rule-created",
			check: func(e *env) bool {
				r := e.listed("/api/v1/orgs/default/rules", "name", "pilot-security")
				return r != nil && txt(r, "group") == "pilot" && txt(r, "classification") == "security" && txt(r, "min_severity") == "high" &&
					txt(r, "purl_prefix") == "pkg:deb/debian" && txt(r, "delay_days") == "2" && txt(r, "deadline_days") == "7"
			},
			bad:   url.Values{"name": {"pilot-after"}, "group": {"pilot"}, "advisory": {"EXS-KEPT"}, "min_severity": {"critical"}, "after_ring_pct": {"90"}},
			badSC: 400, badHas: []string{"after_ring_pct needs a group of ring 2", `value="EXS-KEPT"`, `value="pilot-after"`,
				`<option value="pilot" selected>`, `<option value="critical" selected>`},
		},
		{
			name: "delete a rule", role: "admin",
			setup: func(e *env) {
				e.api(201, "POST", "/api/v1/orgs/default/rules", e.admin, map[string]any{"name": "r1", "group": "pilot"}, nil)
			},
			page: "/o/default/rules", marker: `action="/o/default/rules/r1/delete"`, post: "/o/default/rules/r1/delete", done: "rule-deleted",
			check: func(e *env) bool { return e.listed("/api/v1/orgs/default/rules", "name", "r1") == nil },
			badAt: "/o/default/rules/no-such-rule/delete", badSC: 404, badHas: []string{`rule &#34;no-such-rule&#34; not found`},
		},
		{
			name: "disable a rule", role: "admin",
			setup: func(e *env) {
				e.api(201, "POST", "/api/v1/orgs/default/rules", e.admin, map[string]any{"name": "r2", "group": "pilot"}, nil)
			},
			page: "/o/default/rules", marker: `action="/o/default/rules/r2/switch"`, post: "/o/default/rules/r2/switch",
			good: url.Values{"to": {"disable"}}, done: "rule-disabled",
			check: func(e *env) bool {
				r := e.listed("/api/v1/orgs/default/rules", "name", "r2")
				return r != nil && txt(r, "enabled") == "false" && txt(r, "disabled_by") != ""
			},
			badAt: "/o/default/rules/no-such-rule/switch", badSC: 404, badHas: []string{`rule &#34;no-such-rule&#34; not found`},
		},
		{
			name: "halt a rollout", role: "operator", setup: approve, page: sqlUpdate, marker: `id="halt-submit"`, post: sqlUpdate + "/halt",
			good: url.Values{"group": {"pilot"}, "reason": {"the pilot reports crashes"}}, done: "halted",
			check: func(e *env) bool {
				g := rollout(e, "pilot")
				return txt(g, "halted_at") != "" && txt(g, "halt_reason") == "the pilot reports crashes"
			},
			bad:   url.Values{"group": {"pilot"}, "reason": {strings.Repeat("why ", 130)}},
			badSC: 400, badHas: []string{"reason must be at most 500", `value="` + strings.Repeat("why ", 130) + `"`},
		},
		{
			name: "resume a rollout", role: "operator",
			setup: func(e *env) {
				approve(e)
				e.api(204, "POST", sqlAPI+"/approvals/pilot/halt", e.admin, map[string]any{"reason": "test"}, nil)
			},
			page: sqlUpdate, marker: `aria-label="Resume the rollout in pilot"`, post: sqlUpdate + "/resume",
			good: url.Values{"group": {"pilot"}}, done: "resumed",
			check: func(e *env) bool { g := rollout(e, "pilot"); return g != nil && txt(g, "halted_at") == "" },
			bad:   url.Values{"group": {"broad"}}, badSC: 404, badHas: []string{`halted rollout of &#34;example-sql-engine-2022.160.4140&#34; in group &#34;broad&#34; not found`},
		},
		{
			name: "withdraw a decision", role: "operator", setup: approve, page: sqlUpdate, marker: `aria-label="Withdraw the decision for pilot"`,
			post: sqlUpdate + "/withdraw", good: url.Values{"group": {"pilot"}}, done: "withdrawn",
			check: func(e *env) bool { return txt(rollout(e, "pilot"), "approval") == "" },
			bad:   url.Values{"group": {"broad"}}, badSC: 404, badHas: []string{`in group &#34;broad&#34; not found`},
		},
		{
			name: "change the release calendar", role: "admin", page: "/o/default/releases", marker: `id="calendar-save"`, post: "/o/default/release-calendar",
			good: url.Values{"ordinal": {"-1"}, "weekday": {"4"}, "time": {"18:30"}, "zone": {"Europe/Berlin"}, "advance_notice_days": {"5"}},
			done: "calendar-saved",
			check: func(e *env) bool {
				_, c := e.get("/api/v1/orgs/default/release-calendar")
				return txt(c, "ordinal") == "-1" && txt(c, "weekday") == "4" && txt(c, "time") == "18:30" && txt(c, "zone") == "Europe/Berlin" &&
					txt(c, "advance_notice_days") == "5"
			},
			bad:   url.Values{"ordinal": {"3"}, "weekday": {"5"}, "time": {"07:15"}, "zone": {"Mars/Base"}, "advance_notice_days": {"2"}},
			badSC: 400, badHas: []string{"zone ", `value="Mars/Base"`, `value="07:15"`, `<option value="3" selected>third`, `<option value="5" selected>Friday`},
		},
		{
			name: "add an out-of-band release", role: "operator", page: "/o/default/releases", marker: `id="release-create"`, post: "/o/default/releases",
			good: url.Values{"release_at": {inTenDays}, "title": {"OpenSSL emergency"}}, done: "release-created",
			check: func(e *env) bool {
				r := e.listed("/api/v1/orgs/default/releases?count=24", "title", "OpenSSL emergency")
				return r != nil && txt(r, "kind") == "out_of_band" && strings.HasPrefix(txt(r, "release_at"), inTenDays)
			},
			bad:   url.Values{"release_at": {"2020-01-01T10:00"}, "title": {"kept title"}},
			badSC: 400, badHas: []string{"release_at must be in the future", `value="kept title"`, `value="2020-01-01T10:00"`},
		},
		{
			name: "add a user", role: "admin", page: "/o/default/users", marker: `id="user-add"`, post: "/o/default/users",
			good: url.Values{"username": {"newbie"}, "display_name": {"New Bie"}, "email": {"newbie@example.org"}, "role": {"operator"},
				"password": {"the-newbies-password"}},
			done: "user-added",
			check: func(e *env) bool {
				sc, u := e.get("/api/v1/orgs/default/users/newbie")
				return sc == 200 && txt(u, "role") == "operator" && txt(u, "display_name") == "New Bie" && txt(u, "email") == "newbie@example.org"
			},
			bad:   url.Values{"username": {"Bad Name"}, "display_name": {"Kept Name"}, "role": {"partner"}, "password": {"not-to-be-shown-again"}},
			badSC: 400, badHas: []string{"username must be", `value="Bad Name"`, `value="Kept Name"`, `value="partner" checked`},
		},
		{
			name: "change a role", role: "admin", setup: func(e *env) { e.createUser("default", "otto", "operator") },
			page: "/o/default/users", marker: `action="/o/default/users/otto/role"`, post: "/o/default/users/otto/role",
			good: url.Values{"role": {"viewer"}}, done: "role-changed",
			check: func(e *env) bool { _, u := e.get("/api/v1/orgs/default/users/otto"); return txt(u, "role") == "viewer" },
			bad:   url.Values{"role": {"king"}}, badSC: 400, badHas: []string{"role must be one of admin, operator, viewer, partner"},
		},
		{
			name: "remove a user", role: "admin", setup: func(e *env) { e.createUser("default", "otto", "operator") },
			page: "/o/default/users", marker: `action="/o/default/users/otto/remove"`, post: "/o/default/users/otto/remove", done: "user-removed",
			check: func(e *env) bool { sc, _ := e.get("/api/v1/orgs/default/users/otto"); return sc == 404 },
			badAt: "/o/default/users/nobody/remove", badSC: 404, badHas: []string{`user &#34;nobody&#34; not found`},
		},
		{
			name: "create an enrollment token", role: "admin", page: "/o/default/enrollment", marker: `id="enroll-create"`, post: "/o/default/enrollment",
			good: url.Values{"name": {"office laptops"}, "expires_in": {"30d"}, "max_uses": {"10"}, "groups": {"pilot"}},
			check: func(e *env) bool {
				t := e.listed("/api/v1/orgs/default/enroll-tokens", "name", "office laptops")
				return t != nil && txt(t, "max_uses") == "10" && fmt.Sprint(t["groups"]) == "[pilot]"
			},
			bad:   url.Values{"name": {"kept name"}, "expires_in": {"forever"}, "groups": {"pilot"}},
			badSC: 400, badHas: []string{"expires_in must be", `value="forever"`, `value="kept name"`, `value="pilot" checked`},
			extra: func(t *testing.T, p page) {
				if !regexp.MustCompile(`<code id="enroll-token">[^<]{20,}</code>`).MatchString(p.body) {
					t.Errorf("the new token is not on the page:\n%s", p.body)
				}
			},
		},
		{
			name: "revoke an enrollment token", role: "admin",
			setup: func(e *env) {
				e.api(201, "POST", "/api/v1/orgs/default/enroll-tokens", e.admin, map[string]any{"name": "old"}, nil)
			},
			page: "/o/default/enrollment", marker: `aria-label="Revoke the enrollment token old"`, done: "enroll-revoked",
			check: func(e *env) bool {
				return txt(e.listed("/api/v1/orgs/default/enroll-tokens", "name", "old"), "revoked_at") != ""
			},
			badAt: "/o/default/enrollment/999999/revoke", badSC: 404, badHas: []string{"enrollment token 999999 not found"},
		},
	}
}

func TestAdminForms(t *testing.T) {
	for _, tc := range formCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			if tc.post == "" { // a route with an id: the form's own action
				m := regexp.MustCompile(`action="([^"]+)"><input type="hidden" name="csrf" value="[^"]+"><button type="submit" class="quiet" ` +
					regexp.QuoteMeta(tc.marker)).FindStringSubmatch(e.browse("GET", tc.page, e.signIn("admin", adminPassword), nil).body)
				if m == nil {
					t.Fatalf("no form with %s on %s", tc.marker, tc.page)
				}
				tc.post = m[1]
			}
			e.createUser("default", "vera", "viewer")
			refused := map[string]string{"vera": "viewer"}
			actor := "opal"
			e.createUser("default", "opal", "operator")
			if tc.role == "admin" {
				refused["opal"] = "operator"
				actor = "ada"
				e.createUser("default", "ada", "admin")
			}
			// The roles the API refuses: no form, and a posted one is the API's 403.
			for user, role := range refused {
				s := e.signIn(user, "password-of-"+user)
				if p := e.browse("GET", tc.page, s, nil); p.status != 200 || strings.Contains(p.body, tc.marker) {
					t.Errorf("a %s's page %s: %d, has the form: %v", role, tc.page, p.status, strings.Contains(p.body, tc.marker))
				}
				if p := e.postForm(s, tc.page, tc.post, tc.good, ""); p.status != http.StatusForbidden || !contains(p.body, "403", "your role does not allow this") {
					t.Errorf("a %s posts the form: %d\n%s", role, p.status, p.body)
				}
			}
			s := e.signIn(actor, "password-of-"+actor)
			if p := e.browse("GET", tc.page, s, nil); p.status != 200 || !strings.Contains(p.body, tc.marker) {
				t.Fatalf("%s's page %s: %d, no form %s", tc.role, tc.page, p.status, tc.marker)
			}
			// Without the session's CSRF token the form is refused.
			for _, csrf := range []string{"-", "wrong-token"} {
				if p := e.postForm(s, tc.page, tc.post, tc.good, csrf); p.status != http.StatusForbidden || !strings.Contains(p.body, "did not come from this console") {
					t.Errorf("CSRF token %q: %d", csrf, p.status)
				}
			}
			if tc.check(e) {
				t.Fatal("the change happened before a form was accepted")
			}
			// A value the API refuses: its message, naming the field, on the form's page, with
			// the values as posted.
			at := tc.post
			if tc.badAt != "" {
				at = tc.badAt
			}
			p := e.postForm(s, tc.page, at, tc.bad, "")
			if p.status != tc.badSC || !contains(p.body, tc.badHas...) || !strings.Contains(p.body, `role="alert"`) {
				t.Errorf("a bad value: %d, want %d and %q on the page\n%s", p.status, tc.badSC, tc.badHas, p.body)
			}
			if strings.Contains(p.body, "not-to-be-shown-again") {
				t.Error("the posted password is on the page")
			}
			if tc.check(e) {
				t.Fatal("the change happened with a bad value")
			}
			// The form: the change happens, the browser goes back with the flash.
			p = e.postForm(s, tc.page, tc.post, tc.good, "")
			if tc.done == "" {
				if p.status != http.StatusCreated {
					t.Fatalf("the form: %d\n%s", p.status, p.body)
				}
			} else {
				if p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "?done="+tc.done) {
					t.Fatalf("the form: %d to %q\n%s", p.status, p.location, p.body)
				}
				if p := e.browse("GET", p.location, s, nil); p.status != 200 || !strings.Contains(p.body, `class="flash"`) {
					t.Errorf("after the form, %s: %d, no flash", p.location, p.status)
				}
			}
			if !tc.check(e) {
				t.Error("the change did not happen")
			}
			if tc.extra != nil {
				tc.extra(t, p)
			}
		})
	}
}

// A rollout halted on the dashboard is resumed there, and the browser comes back to it.
func TestResumeFromDashboard(t *testing.T) {
	e := newEnv(t)
	e.api(200, "POST", sqlAPI+"/approvals", e.admin, map[string]any{"group": "pilot", "action": "install"}, nil)
	e.api(204, "POST", sqlAPI+"/approvals/pilot/halt", e.admin, map[string]any{"reason": "too many failures"}, nil)
	e.createUser("default", "vera", "viewer")
	if p := e.browse("GET", "/o/default/", e.signIn("vera", "password-of-vera"), nil); !strings.Contains(p.body, "too many failures") ||
		strings.Contains(p.body, "Resume the rollout") {
		t.Errorf("a viewer's dashboard: the halt is not listed, or has a resume button")
	}
	s := e.signIn("admin", adminPassword)
	p := e.browse("GET", "/o/default/", s, nil)
	if !strings.Contains(p.body, `aria-label="Resume the rollout of example-sql-engine-2022.160.4140 in pilot"`) {
		t.Fatalf("no resume button on the dashboard:\n%s", p.body)
	}
	p = e.postForm(s, "/o/default/", "/o/default/updates/example-sql-engine-2022.160.4140/resume", url.Values{"group": {"pilot"}, "from": {"dashboard"}}, "")
	if p.status != http.StatusSeeOther || p.location != "/o/default/?done=resumed" {
		t.Fatalf("resume from the dashboard: %d to %q", p.status, p.location)
	}
	if p := e.browse("GET", p.location, s, nil); strings.Contains(p.body, "too many failures") || !strings.Contains(p.body, "No rollout is halted.") {
		t.Error("the dashboard still lists the halt")
	}
	// Resumed already: the API's 404 is on the dashboard.
	p = e.postForm(s, "/o/default/", "/o/default/updates/example-sql-engine-2022.160.4140/resume", url.Values{"group": {"pilot"}, "from": {"dashboard"}}, "")
	if p.status != http.StatusNotFound || !contains(p.body, "halted rollout", "not found", "Compliance over time") {
		t.Errorf("resume twice: %d\n%s", p.status, p.body)
	}
}

// A user added without a password gets one from the API, shown once, that signs in; an
// enrollment token made in the console enrolls an agent, and is not shown again.
func TestSecretsShownOnce(t *testing.T) {
	e := newEnv(t)
	s := e.signIn("admin", adminPassword)
	p := e.postForm(s, "/o/default/users", "/o/default/users", url.Values{"username": {"gen"}, "role": {"viewer"}}, "")
	m := regexp.MustCompile(`<code id="new-password">([^<]+)</code>`).FindStringSubmatch(p.body)
	if p.status != http.StatusCreated || m == nil || !strings.Contains(p.body, "<strong>gen</strong>") {
		t.Fatalf("a user without a password: %d\n%s", p.status, p.body)
	}
	e.login("gen", m[1])
	if p := e.browse("GET", "/o/default/users", s, nil); strings.Contains(p.body, m[1]) || !strings.Contains(p.body, ">gen<") {
		t.Error("the generated password is shown again, or the user is not listed")
	}

	p = e.postForm(s, "/o/default/enrollment", "/o/default/enrollment", url.Values{"name": {"lab"}, "groups": {"pilot"}, "expires_in": {"7d"}}, "")
	m = regexp.MustCompile(`<code id="enroll-token">([^<]+)</code>`).FindStringSubmatch(p.body)
	if p.status != http.StatusCreated || m == nil || !strings.Contains(p.body, "patchday-agent enroll --server "+e.http.URL+" --token "+m[1]) {
		t.Fatalf("a new enrollment token: %d\n%s", p.status, p.body)
	}
	inv := protocol.Inventory{Hostname: "lab-01", MachineID: "mid-lab-01", OSID: "debian", OSVersion: "12", Arch: "amd64"}
	inv.Normalize()
	e.api(201, "POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: m[1], AgentVersion: "test", Inventory: inv, Health: health()}, nil)
	if !e.isMember("pilot", "lab-01") {
		t.Error("the agent enrolled with the console's token is not in the pilot group")
	}
	p = e.browse("GET", "/o/default/enrollment", s, nil)
	if strings.Contains(p.body, m[1]) || !contains(p.body, "lab", "active") {
		t.Errorf("the enrollment page afterwards:\n%s", p.body)
	}
	// The state of a token follows its uses and expiry.
	e.api(201, "POST", "/api/v1/orgs/default/enroll-tokens", e.admin, map[string]any{"name": "once", "max_uses": 1, "expires_in": "1h"}, nil)
	e.advance(2 * time.Hour)
	if p := e.browse("GET", "/o/default/enrollment", s, nil); !regexp.MustCompile(`<td>once</td>(?s:.*?)<td>expired</td>`).MatchString(p.body) {
		t.Errorf("an expired token is not shown as expired:\n%s", p.body)
	}
}

func (e *env) isMember(group, host string) bool {
	return e.listed("/api/v1/orgs/default/groups/"+group+"/members?limit=200", "hostname", host) != nil
}

// An admin of another organisation posting the forms of this one gets the API's 404, as on
// its pages, and changes nothing.
func TestAdminFormsOtherOrganisation(t *testing.T) {
	e := newEnv(t)
	e.api(201, "POST", "/api/v1/orgs", e.admin, map[string]string{"slug": "acme", "name": "ACME"}, nil)
	e.createUser("acme", "alice", "admin")
	s := e.signIn("alice", "password-of-alice")
	if p := e.browse("GET", "/o/default/enrollment", s, nil); p.status != http.StatusNotFound || strings.Contains(p.body, "e2e") {
		t.Errorf("another organisation's enrollment page: %d", p.status)
	}
	for _, f := range []struct {
		action string
		form   url.Values
	}{
		{"/o/default/groups", url.Values{"name": {"intruders"}}},
		{"/o/default/groups/pilot/edit", url.Values{"description": {"owned"}}},
		{"/o/default/groups/pilot/delete", url.Values{"confirm": {"yes"}}},
		{"/o/default/rules", url.Values{"name": {"intruders"}, "group": {"pilot"}}},
		{"/o/default/release-calendar", url.Values{"zone": {"Europe/Berlin"}}},
		{"/o/default/users", url.Values{"username": {"mallory"}, "role": {"admin"}, "password": {"mallorys-password"}}},
		{"/o/default/users/admin/role", url.Values{"role": {"viewer"}}},
		{"/o/default/enrollment", url.Values{"name": {"intruders"}}},
	} {
		if p := e.postForm(s, "/o/acme/", f.action, f.form, ""); p.status != http.StatusNotFound {
			t.Errorf("alice posts %s: %d", f.action, p.status)
		}
	}
	if sc, _ := e.get("/api/v1/orgs/default/groups/pilot"); sc != 200 {
		t.Error("the pilot group is gone")
	}
	if sc, _ := e.get("/api/v1/orgs/default/users/mallory"); sc != 404 {
		t.Error("alice added a user to another organisation")
	}
	if _, c := e.get("/api/v1/orgs/default/release-calendar"); txt(c, "zone") != "UTC" {
		t.Error("alice changed another organisation's release calendar")
	}
}

// The rules page previews what the rules would approve now, changing nothing, and an admin
// runs them at once.
func TestRulesPreviewAndRun(t *testing.T) {
	e := newEnv(t)
	e.api(201, "POST", "/api/v1/orgs/default/groups", e.admin, map[string]any{"name": "canary"}, nil)
	e.api(201, "POST", "/api/v1/orgs/default/rules", e.admin, map[string]any{"name": "canary-all", "group": "canary", "delay_days": 0}, nil)
	// Creating an update runs the rules, so this one waits a year.
	e.api(201, "POST", "/api/v1/orgs/default/rules", e.admin, map[string]any{"name": "later", "group": "canary", "delay_days": 365}, nil)
	s := e.signIn("admin", adminPassword)
	before := e.listed("/api/v1/audit?org=default&action=update.install", "actor", "rule:canary-all")
	p := e.browse("GET", "/o/default/rules", s, nil)
	if !strings.Contains(p.body, `id="rules-preview-link"`) || strings.Contains(p.body, `id="rules-preview"`) {
		t.Fatalf("the rules page without a preview: %d", p.status)
	}
	p = e.browse("GET", "/o/default/rules?preview=1", s, nil)
	if !strings.Contains(p.body, `id="rules-preview"`) || !strings.Contains(p.body, "<td>canary-all</td>") {
		t.Fatalf("the preview does not show what canary-all would approve:\n%s", p.body)
	}
	if before != nil || e.listed("/api/v1/audit?org=default&action=update.install", "actor", "rule:canary-all") != nil {
		t.Error("the preview approved something")
	}
	if p := e.browse("POST", "/o/default/rules/run", s, url.Values{"csrf": {csrfOf(t, p.body)}}); p.status != http.StatusSeeOther ||
		!strings.Contains(p.location, "done=rules-run") {
		t.Fatalf("run: %d %q", p.status, p.location)
	}
	if e.listed("/api/v1/audit?org=default&action=update.install", "actor", "rule:canary-all") == nil {
		t.Error("the run approved nothing")
	}
	e.createUser("default", "vera", "viewer")
	if p := e.browse("GET", "/o/default/rules?preview=1", e.signIn("vera", "password-of-vera"), nil); strings.Contains(p.body, `id="rules-preview`) {
		t.Error("a viewer gets a preview")
	}
}

// A site admin gives a user a new password (shown once) and disables and enables the
// account from the users page; an organisation's admin sees no such buttons.
func TestAccountButtons(t *testing.T) {
	e := newEnv(t)
	e.createUser("default", "vera", "viewer")
	s := e.signIn("admin", adminPassword)
	p := e.browse("GET", "/o/default/users", s, nil)
	if !strings.Contains(p.body, `action="/o/default/users/vera/reset"`) {
		t.Fatalf("a site admin has no account buttons:\n%s", p.body)
	}
	tok := csrfOf(t, p.body)
	p = e.browse("POST", "/o/default/users/vera/reset", s, url.Values{"csrf": {tok}})
	m := regexp.MustCompile(`<code id="new-password">([^<]+)</code>`).FindStringSubmatch(p.body)
	if p.status != http.StatusCreated || m == nil || !strings.Contains(p.body, "New password for <strong>vera</strong>") {
		t.Fatalf("reset: %d\n%s", p.status, p.body)
	}
	if p := e.browse("POST", "/login", "", url.Values{"username": {"vera"}, "password": {"password-of-vera"}}); p.status == http.StatusSeeOther {
		t.Error("the old password still signs in")
	}
	e.signIn("vera", html.UnescapeString(m[1]))
	if p := e.browse("POST", "/o/default/users/vera/switch", s, url.Values{"csrf": {tok}, "to": {"disable"}}); p.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", p.status, p.body)
	}
	if u := e.listed("/api/v1/orgs/default/users", "username", "vera"); u == nil || txt(u, "disabled") != "true" {
		t.Errorf("after disable: %v", u)
	}
	if p := e.browse("POST", "/login", "", url.Values{"username": {"vera"}, "password": {html.UnescapeString(m[1])}}); p.status == http.StatusSeeOther {
		t.Error("a disabled account signs in")
	}
	e.browse("POST", "/o/default/users/vera/switch", s, url.Values{"csrf": {tok}, "to": {"enable"}})
	if u := e.listed("/api/v1/orgs/default/users", "username", "vera"); u == nil || txt(u, "disabled") != "false" {
		t.Errorf("after enable: %v", u)
	}

	// An organisation's admin: no buttons, and the API's 403 when posting anyway.
	var created struct{ Password string }
	e.api(201, "POST", "/api/v1/orgs/default/users", e.admin, map[string]any{"username": "olga", "role": "admin", "password": "olgas-password-1"}, &created)
	so := e.signIn("olga", "olgas-password-1")
	p = e.browse("GET", "/o/default/users", so, nil)
	if strings.Contains(p.body, "/reset\"") {
		t.Error("an organisation's admin gets the account buttons")
	}
	if p := e.browse("POST", "/o/default/users/vera/reset", so, url.Values{"csrf": {csrfOf(t, p.body)}}); p.status != http.StatusForbidden {
		t.Errorf("an organisation's admin resetting: %d", p.status)
	}
}
