package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// minimalCSAF is a small valid CSAF 2.0 document.
func minimalCSAF(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/minimal-csaf.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// aptUpdate is a valid update definition that needs nothing else in the catalog.
func aptUpdate(name string) map[string]any {
	return map[string]any{"name": name, "title": "OpenSSL", "classification": "security",
		"applicability": map[string]any{"purl": "pkg:deb/debian/openssl", "vers": "vers:deb/<3.0.12-1"},
		"installer":     map[string]any{"type": "apt"}}
}

func isMutation(pattern string) bool { return !strings.HasPrefix(pattern, "GET ") }

// fill puts concrete values into a route pattern's wildcards.
func fill(pattern string, vals map[string]string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	for k, v := range vals {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return method, path
}

// Behind a trusted proxy the audit log records the client's address from X-Forwarded-For;
// from anyone else the header is ignored.
func TestSourceAddressThroughTrustedProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		xff     string
		want    string
	}{
		{"no proxy configured", nil, "203.0.113.9", "127.0.0.1"},
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "203.0.113.9", "203.0.113.9"},
		{"chain of trusted proxies", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}, "198.51.100.7, 203.0.113.9, 10.1.1.1", "203.0.113.9"},
		{"garbage header", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "not-an-ip", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, store.SQLite, func(c *server.Config) { c.TrustedProxies = tc.trusted })
			e.do("POST", "/api/v1/orgs", e.admin, map[string]string{"slug": "x"}, "X-Forwarded-For", tc.xff)
			var evs struct{ Items []store.AuditEvent }
			e.must(200, "GET", "/api/v1/audit?limit=1", e.admin, nil).json(t, &evs)
			if len(evs.Items) != 1 || evs.Items[0].Action != "org.create" || evs.Items[0].Source != tc.want {
				t.Fatalf("audit %+v, want source %s", evs.Items, tc.want)
			}
		})
	}
}

// A user of organisation A gets 404 for every object of organisation B, through every route.
func TestOrgIsolation(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.createOrg("b")
		alice := e.createUser("a", "alice", store.RoleAdmin)
		bob := e.createUser("b", "bob", store.RoleAdmin)
		e.createUser("b", "dave", store.RoleViewer)
		var bobTok struct{ ID int64 }
		e.must(201, "POST", "/api/v1/tokens", bob, map[string]string{"name": "bob-ci"}).json(t, &bobTok)

		var bProduct store.Product
		e.must(201, "POST", "/api/v1/orgs/b/products", bob, map[string]string{"vendor": "B Corp", "name": "Secret"}).json(t, &bProduct)
		before := e.auditCount()
		vals := map[string]string{"org": "b", "user": "dave", "id": fmt.Sprint(bobTok.ID)}
		productVals := map[string]string{"org": "b", "id": fmt.Sprint(bProduct.ID)}
		bodies := map[string]any{
			"POST /api/v1/orgs/{org}/users":            map[string]any{"username": "eve", "role": "viewer"},
			"PUT /api/v1/orgs/{org}/users/{user}/role": map[string]any{"role": "admin"},
			"PATCH /api/v1/orgs/{org}/products/{id}":   map[string]any{"name": "Stolen"},
			"POST /api/v1/orgs/{org}/products":         map[string]any{"vendor": "x", "name": "y"},
		}
		checked := 0
		for _, pattern := range e.srv.Routes() {
			if !strings.Contains(pattern, "{org}") && !strings.Contains(pattern, "{id}") {
				continue
			}
			method, path := fill(pattern, vals)
			if strings.Contains(pattern, "/products/") {
				method, path = fill(pattern, productVals)
			}
			r := e.do(method, path, alice, bodies[pattern])
			if r.status != http.StatusNotFound {
				t.Errorf("%s as a user of another organisation: status %d, want 404: %s", pattern, r.status, r.body)
				continue
			}
			if code := r.err(t).Error.Code; code != "not_found" {
				t.Errorf("%s: code %q", pattern, code)
			}
			checked++
		}
		if checked < 11 {
			t.Fatalf("only %d routes checked", checked)
		}
		// Lists show nothing of B.
		var orgs struct{ Items []store.Org }
		e.must(200, "GET", "/api/v1/orgs", alice, nil).json(t, &orgs)
		if len(orgs.Items) != 1 || orgs.Items[0].Slug != "a" {
			t.Errorf("alice sees organisations %+v", orgs.Items)
		}
		e.must(404, "GET", "/api/v1/audit?org=b", alice, nil)
		var evs struct{ Items []store.AuditEvent }
		e.must(200, "GET", "/api/v1/audit?limit=500", alice, nil).json(t, &evs)
		for _, ev := range evs.Items {
			if ev.Actor == "bob" || ev.ObjectID == "bob" || ev.ObjectID == "dave" {
				t.Errorf("alice sees B's audit event %+v", ev)
			}
		}
		var toks struct{ Items []store.Token }
		e.must(200, "GET", "/api/v1/tokens", alice, nil).json(t, &toks)
		for _, tk := range toks.Items {
			if tk.ID == bobTok.ID {
				t.Error("alice sees bob's token")
			}
		}
		e.must(403, "GET", "/api/v1/tokens?all=true", alice, nil)
		// Nothing changed: B's viewer is still a viewer, bob's token still works.
		var dave store.Member
		e.must(200, "GET", "/api/v1/orgs/b/users/dave", bob, nil).json(t, &dave)
		if dave.Role != store.RoleViewer {
			t.Errorf("dave's role became %s", dave.Role)
		}
		if n := e.auditCount(); n != before {
			t.Errorf("audit grew from %d to %d after refused calls", before, n)
		}
	})
}

// publicMutations are the mutations anyone may make, without an account: each checks what
// it is given instead (a subscriber's link, an e-mail to confirm); subscriptions_test.go
// tests them and their audit events.
var publicMutations = []string{
	"POST /api/v1/signup",
	"POST /notify/confirm",
	"POST /notify/unsubscribe",
}

// selfService are the mutations every signed-in user may make on their own account.
var selfService = []string{
	"POST /api/v1/auth/login",
	"POST /api/v1/auth/logout",
	"POST /api/v1/me/password",
	"POST /api/v1/tokens",
	"DELETE /api/v1/tokens/{id}",
}

// operatorMay are the mutations an operator may make in its organisation (the catalog and,
// later, approvals); everything else in an organisation needs an admin.
var operatorMay = []string{
	"POST /api/v1/orgs/{org}/advisories",
	"PUT /api/v1/orgs/{org}/payloads",
	"POST /api/v1/orgs/{org}/updates",
	"POST /api/v1/orgs/{org}/products",
	"PATCH /api/v1/orgs/{org}/products/{id}",
	"PUT /api/v1/orgs/{org}/computers/{computer}/assignments/{update}",
	"DELETE /api/v1/orgs/{org}/computers/{computer}/assignments/{update}",
	"POST /api/v1/orgs/{org}/updates/{name}/approvals",
	"POST /api/v1/orgs/{org}/updates/{name}/approvals/{group}/halt",
	"POST /api/v1/orgs/{org}/updates/{name}/approvals/{group}/resume",
	"DELETE /api/v1/orgs/{org}/updates/{name}/approvals/{group}",
	"POST /api/v1/orgs/{org}/scans",
	// Publishing: operators author advisories, so they schedule them and create releases.
	"POST /api/v1/orgs/{org}/releases",
	"DELETE /api/v1/orgs/{org}/releases/{at}",
	"POST /api/v1/orgs/{org}/advisories/{id}/schedule",
}

// agentProtocol are the routes agents call, authenticated by an enrollment token or an agent
// credential instead of a user's token; agent_test.go tests them.
var agentProtocol = []string{
	"POST /api/v1/agent/enroll",
	"POST /api/v1/agent/checkin",
	"POST /api/v1/agent/scans",
}

// A viewer cannot change anything in its organisation, nor create organisations; an operator
// can change only what operatorMay lists.
func TestViewerCannotMutate(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.createUser("a", "alice", store.RoleAdmin)
		viewer := e.createUser("a", "carol", store.RoleViewer)
		operator := e.createUser("a", "oscar", store.RoleOperator)
		partner := e.createUser("a", "pat", store.RolePartner)
		var prod store.Product
		e.must(201, "POST", "/api/v1/orgs/a/products", e.admin, map[string]string{"vendor": "V", "name": "N"}).json(t, &prod)
		e.enroll(e.enrollToken("a", nil), "web-01")
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, aptUpdate("op-assign"))
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "pilot"})
		// An embargoed advisory with the product's id (1), for the operator to schedule.
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, futureCSAF(t, "FUTURE-2026-1", time.Now().Add(30*24*time.Hour), ""))
		before := e.auditCount()
		oob := outOfBandTime()
		vals := map[string]string{"org": "a", "user": "alice", "id": fmt.Sprint(prod.ID), "computer": "web-01", "update": "op-assign",
			"name": "op-assign", "group": "pilot", "at": oob}
		bodies := map[string]any{
			"POST /api/v1/orgs/{org}/advisories":                               minimalCSAF(t),
			"PUT /api/v1/orgs/{org}/payloads":                                  "payload bytes",
			"POST /api/v1/orgs/{org}/updates":                                  aptUpdate("op-update"),
			"POST /api/v1/orgs/{org}/products":                                 map[string]any{"vendor": "V2", "name": "N2"},
			"PATCH /api/v1/orgs/{org}/products/{id}":                           map[string]any{"name": "Renamed"},
			"POST /api/v1/orgs":                                                map[string]any{"slug": "c"},
			"POST /api/v1/orgs/{org}/users":                                    map[string]any{"username": "eve", "role": "admin"},
			"PUT /api/v1/orgs/{org}/users/{user}/role":                         map[string]any{"role": "viewer"},
			"PUT /api/v1/orgs/{org}/computers/{computer}/assignments/{update}": map[string]any{},
			"POST /api/v1/orgs/{org}/enroll-tokens":                            map[string]any{"name": "x"},
			"POST /api/v1/orgs/{org}/groups":                                   map[string]any{"name": "g"},
			"POST /api/v1/orgs/{org}/updates/{name}/approvals":                 map[string]any{"group": "pilot"},
			"POST /api/v1/orgs/{org}/updates/{name}/approvals/{group}/halt":    map[string]any{"reason": "test"},
			"POST /api/v1/orgs/{org}/scans":                                    testScan(),
			"PUT /api/v1/orgs/{org}/release-calendar":                          map[string]any{"zone": "Europe/Berlin"},
			"POST /api/v1/orgs/{org}/releases":                                 map[string]any{"release_at": oob},
			"POST /api/v1/orgs/{org}/advisories/{id}/schedule":                 map[string]any{"release": "next"},
		}
		checked := 0
		for _, pattern := range e.srv.Routes() {
			if !isMutation(pattern) || slices.Contains(selfService, pattern) || slices.Contains(agentProtocol, pattern) ||
				slices.Contains(publicMutations, pattern) {
				continue
			}
			method, path := fill(pattern, vals)
			for who, tok := range map[string]string{"viewer": viewer, "operator": operator, "partner": partner} {
				if who == "operator" && slices.Contains(operatorMay, pattern) {
					continue
				}
				r := e.do(method, path, tok, bodies[pattern])
				if r.status != http.StatusForbidden {
					t.Errorf("%s as %s: status %d, want 403: %s", pattern, who, r.status, r.body)
				} else if r.err(t).Error.Code != "forbidden" {
					t.Errorf("%s: code %s", pattern, r.body)
				}
			}
			checked++
		}
		if checked < 4 {
			t.Fatalf("only %d routes checked", checked)
		}
		if n := e.auditCount(); n != before {
			t.Errorf("audit grew from %d to %d after refused calls", before, n)
		}
		// The operator's catalog rights are real.
		for _, pattern := range operatorMay {
			method, path := fill(pattern, vals)
			if r := e.do(method, path, operator, bodies[pattern]); r.status >= 300 {
				t.Errorf("%s as operator: %d %s", pattern, r.status, r.body)
			}
		}
		var alice store.Member
		e.must(200, "GET", "/api/v1/orgs/a/users/alice", viewer, nil).json(t, &alice)
		if alice.Role != store.RoleAdmin {
			t.Errorf("alice's role became %s", alice.Role)
		}
		// A viewer's own tokens are its own business.
		e.must(201, "POST", "/api/v1/tokens", viewer, map[string]string{"name": "mine"})
	})
}

// Every mutating route writes exactly one audit event naming actor, action, object, source and
// request id.
func TestAuditEveryMutation(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.createUser("a", "alice", store.RoleAdmin)
		spare := e.login("admin", adminPassword)
		oob := outOfBandTime()
		var tok struct{ ID int64 }
		e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": "to-revoke"}).json(t, &tok)
		var enrollTok struct {
			ID    int64
			Token string
		}
		e.must(201, "POST", "/api/v1/orgs/a/enroll-tokens", e.admin, map[string]any{"name": "spare"}).json(t, &enrollTok)
		steps := []struct {
			pattern, path, token string
			body                 any
			action, object       string
			org                  bool
			actor                string // default admin
		}{
			{"POST /api/v1/orgs", "/api/v1/orgs", e.admin, map[string]any{"slug": "z", "name": "Zed"}, "org.create", "z", true, ""},
			{"POST /api/v1/orgs/{org}/users", "/api/v1/orgs/a/users", e.admin, map[string]any{"username": "carol", "role": "viewer"}, "user.create", "carol", true, ""},
			{"PUT /api/v1/orgs/{org}/users/{user}/role", "/api/v1/orgs/a/users/carol/role", e.admin, map[string]any{"role": "operator"}, "user.set_role", "carol", true, ""},
			{"DELETE /api/v1/orgs/{org}/users/{user}", "/api/v1/orgs/a/users/carol", e.admin, nil, "user.remove", "carol", true, ""},
			{"POST /api/v1/orgs/{org}/products", "/api/v1/orgs/a/products", e.admin, map[string]any{"vendor": "V", "name": "N"}, "product.create", "", true, ""},
			{"PATCH /api/v1/orgs/{org}/products/{id}", "/api/v1/orgs/a/products/1", e.admin, map[string]any{"name": "M"}, "product.update", "1", true, ""},
			{"POST /api/v1/orgs/{org}/advisories", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t), "advisory.import", "EXAMPLE-2026-0001", true, ""},
			{"PUT /api/v1/orgs/{org}/payloads", "/api/v1/orgs/a/payloads?filename=x.bin", e.admin, "some payload", "payload.upload", digestOf([]byte("some payload")), true, ""},
			{"POST /api/v1/orgs/{org}/updates", "/api/v1/orgs/a/updates", e.admin, aptUpdate("u1"), "update.create", "u1", true, ""},
			{"POST /api/v1/orgs/{org}/enroll-tokens", "/api/v1/orgs/a/enroll-tokens", e.admin, map[string]any{"name": "laptops"}, "enroll_token.create", "", true, ""},
			{"POST /api/v1/agent/enroll", "/api/v1/agent/enroll", "", protocol.EnrollRequest{Token: enrollTok.Token, Inventory: testInventory("web-01")}, "computer.enroll", "1", true, "enroll-token:spare"},
			{"PUT /api/v1/orgs/{org}/computers/{computer}/assignments/{update}", "/api/v1/orgs/a/computers/web-01/assignments/u1", e.admin, map[string]any{}, "computer.assign", "1", true, ""},
			{"DELETE /api/v1/orgs/{org}/computers/{computer}/assignments/{update}", "/api/v1/orgs/a/computers/1/assignments/u1", e.admin, nil, "computer.unassign", "1", true, ""},
			{"POST /api/v1/orgs/{org}/computers/{computer}/revoke", "/api/v1/orgs/a/computers/1/revoke", e.admin, nil, "computer.revoke", "1", true, ""},
			{"POST /api/v1/orgs/{org}/groups", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "pilot", "ring": 1}, "group.create", "pilot", true, ""},
			{"PATCH /api/v1/orgs/{org}/groups/{group}", "/api/v1/orgs/a/groups/pilot", e.admin, map[string]any{"description": "first"}, "group.update", "pilot", true, ""},
			{"PUT /api/v1/orgs/{org}/groups/{group}/members/{computer}", "/api/v1/orgs/a/groups/pilot/members/web-01", e.admin, nil, "group.add_member", "pilot", true, ""},
			{"DELETE /api/v1/orgs/{org}/groups/{group}/members/{computer}", "/api/v1/orgs/a/groups/pilot/members/web-01", e.admin, nil, "group.remove_member", "pilot", true, ""},
			{"PUT /api/v1/orgs/{org}/computers/{computer}/tags", "/api/v1/orgs/a/computers/web-01/tags", e.admin, map[string]any{"tags": []string{"prod"}}, "computer.tag", "1", true, ""},
			{"POST /api/v1/orgs/{org}/updates/{name}/approvals", "/api/v1/orgs/a/updates/u1/approvals", e.admin, map[string]any{"group": "pilot"}, "update.install", "u1", true, ""},
			{"POST /api/v1/orgs/{org}/updates/{name}/approvals/{group}/halt", "/api/v1/orgs/a/updates/u1/approvals/pilot/halt", e.admin, map[string]any{}, "update.halt", "u1", true, ""},
			{"POST /api/v1/orgs/{org}/updates/{name}/approvals/{group}/resume", "/api/v1/orgs/a/updates/u1/approvals/pilot/resume", e.admin, nil, "update.resume", "u1", true, ""},
			{"DELETE /api/v1/orgs/{org}/updates/{name}/approvals/{group}", "/api/v1/orgs/a/updates/u1/approvals/pilot", e.admin, nil, "update.unapprove", "u1", true, ""},
			{"POST /api/v1/orgs/{org}/scans", "/api/v1/orgs/a/scans", e.admin, testScan(), "scan.upload", "1", true, ""},
			{"POST /api/v1/orgs/{org}/subscriptions", "/api/v1/orgs/a/subscriptions", e.admin, map[string]any{"kind": "webhook", "address": "http://127.0.0.1:9/hook"}, "subscription.create", "1", true, ""},
			{"PATCH /api/v1/orgs/{org}/subscriptions/{id}", "/api/v1/orgs/a/subscriptions/1", e.admin, map[string]any{"min_severity": "high"}, "subscription.update", "1", true, ""},
			{"POST /api/v1/orgs/{org}/subscriptions/{id}/enable", "/api/v1/orgs/a/subscriptions/1/enable", e.admin, nil, "subscription.enable", "1", true, ""},
			{"DELETE /api/v1/orgs/{org}/subscriptions/{id}", "/api/v1/orgs/a/subscriptions/1", e.admin, nil, "subscription.delete", "1", true, ""},
			{"POST /api/v1/orgs/{org}/scan-schedules", "/api/v1/orgs/a/scan-schedules", e.admin, map[string]any{"name": "lan", "group": "pilot"}, "scan_schedule.create", "lan", true, ""},
			{"PATCH /api/v1/orgs/{org}/scan-schedules/{name}", "/api/v1/orgs/a/scan-schedules/lan", e.admin, map[string]any{"every": "168h"}, "scan_schedule.update", "lan", true, ""},
			{"DELETE /api/v1/orgs/{org}/scan-schedules/{name}", "/api/v1/orgs/a/scan-schedules/lan", e.admin, nil, "scan_schedule.delete", "lan", true, ""},
			{"POST /api/v1/orgs/{org}/rules", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "pilot-critical", "group": "pilot", "min_severity": "critical"}, "rule.create", "pilot-critical", true, ""},
			{"POST /api/v1/orgs/{org}/rules/run", "/api/v1/orgs/a/rules/run", e.admin, nil, "rules.run", "a", true, ""},
			{"POST /api/v1/orgs/{org}/rules/{rule}/disable", "/api/v1/orgs/a/rules/pilot-critical/disable", e.admin, nil, "rule.disable", "pilot-critical", true, ""},
			{"POST /api/v1/orgs/{org}/rules/{rule}/enable", "/api/v1/orgs/a/rules/pilot-critical/enable", e.admin, nil, "rule.enable", "pilot-critical", true, ""},
			{"DELETE /api/v1/orgs/{org}/rules/{rule}", "/api/v1/orgs/a/rules/pilot-critical", e.admin, nil, "rule.delete", "pilot-critical", true, ""},
			{"DELETE /api/v1/orgs/{org}/groups/{group}", "/api/v1/orgs/a/groups/pilot", e.admin, nil, "group.delete", "pilot", true, ""},
			{"POST /api/v1/orgs/{org}/advisories", "/api/v1/orgs/a/advisories", e.admin, futureCSAF(t, "FUTURE-2026-1", time.Now().Add(30*24*time.Hour), ""), "advisory.import", "FUTURE-2026-1", true, ""},
			{"POST /api/v1/orgs/{org}/advisories/{id}/schedule", "/api/v1/orgs/a/advisories/2/schedule", e.admin, map[string]any{"release": "next"}, "advisory.schedule", "FUTURE-2026-1", true, ""},
			{"PUT /api/v1/orgs/{org}/release-calendar", "/api/v1/orgs/a/release-calendar", e.admin, map[string]any{"zone": "Europe/Berlin"}, "release_calendar.set", "a", true, ""},
			{"POST /api/v1/orgs/{org}/releases", "/api/v1/orgs/a/releases", e.admin, map[string]any{"release_at": oob}, "release.create", "", true, ""},
			{"DELETE /api/v1/orgs/{org}/releases/{at}", "/api/v1/orgs/a/releases/" + oob, e.admin, nil, "release.delete", oob, true, ""},
			{"PUT /api/v1/orgs/{org}/health-policy", "/api/v1/orgs/a/health-policy", e.admin, map[string]any{"grace_days": 3}, "health_policy.set", "a", true, ""},
			{"DELETE /api/v1/orgs/{org}/enroll-tokens/{id}", fmt.Sprintf("/api/v1/orgs/a/enroll-tokens/%d", enrollTok.ID), e.admin, nil, "enroll_token.revoke", fmt.Sprint(enrollTok.ID), true, ""},
			{"POST /api/v1/tokens", "/api/v1/tokens", e.admin, map[string]any{"name": "ci", "expires_in": "30d"}, "token.create", "", false, ""},
			{"POST /api/v1/users/{user}/password", "/api/v1/users/alice/password", e.admin, map[string]any{}, "user.password_reset", "alice", false, ""},
			{"POST /api/v1/users/{user}/disable", "/api/v1/users/alice/disable", e.admin, nil, "user.disable", "alice", false, ""},
			{"POST /api/v1/users/{user}/enable", "/api/v1/users/alice/enable", e.admin, nil, "user.enable", "alice", false, ""},
			{"DELETE /api/v1/tokens/{id}", fmt.Sprintf("/api/v1/tokens/%d", tok.ID), e.admin, nil, "token.revoke", fmt.Sprint(tok.ID), false, ""},
			{"POST /api/v1/auth/login", "/api/v1/auth/login", "", map[string]any{"username": "admin", "password": adminPassword}, "auth.login", "", false, ""},
			{"POST /api/v1/auth/logout", "/api/v1/auth/logout", spare, nil, "auth.logout", "", false, ""},
			{"POST /api/v1/me/password", "/api/v1/me/password", e.admin, map[string]any{"current_password": adminPassword, "new_password": "a-new-long-password"}, "user.password_change", "admin", false, ""},
			{"DELETE /api/v1/orgs/{org}/computers/{computer}", "/api/v1/orgs/a/computers/1", e.admin, nil, "computer.delete", "1", true, ""},
		}
		var covered []string
		for i, st := range steps {
			n := e.auditCount()
			reqID := fmt.Sprintf("test-%d", i)
			method, _, _ := strings.Cut(st.pattern, " ")
			r := e.do(method, st.path, st.token, st.body, "X-Request-Id", reqID)
			if r.status >= 300 {
				t.Fatalf("%s: status %d: %s", st.pattern, r.status, r.body)
			}
			if r.header.Get("X-Request-Id") != reqID {
				t.Errorf("%s: X-Request-Id %q, want %q", st.pattern, r.header.Get("X-Request-Id"), reqID)
			}
			if got := e.auditCount(); got != n+1 {
				t.Errorf("%s: %d audit events added, want 1", st.pattern, got-n)
			}
			var evs struct{ Items []store.AuditEvent }
			e.must(200, "GET", "/api/v1/audit?limit=1", e.admin, nil).json(t, &evs)
			ev := evs.Items[0]
			wantActor := "admin"
			if st.actor != "" {
				wantActor = st.actor
			}
			if ev.Action != st.action || ev.Actor != wantActor || ev.RequestID != reqID || ev.Source != "127.0.0.1" ||
				(st.object != "" && ev.ObjectID != st.object) || (ev.OrgID != nil) != st.org || (ev.Org != "") != st.org || ev.Time.IsZero() {
				t.Errorf("%s: audit event %+v", st.pattern, ev)
			}
			covered = append(covered, st.pattern)
		}
		// A check-in is telemetry, not an administrative change: what it brings is kept in the
		// computer's record and its install results.
		covered = append(covered, "POST /api/v1/agent/checkin")
		// An agent's scan upload needs a schedule, a member and its subnets:
		// TestDistributedScanning checks its audit event.
		covered = append(covered, "POST /api/v1/agent/scans")
		// Retrying needs a dead letter, and the public mutations a subscriber's mail:
		// subscriptions_test.go checks their audit events.
		covered = append(covered, "POST /api/v1/orgs/{org}/dead-letters/{id}/retry")
		covered = append(covered, publicMutations...)
		for _, pattern := range e.srv.Routes() {
			if isMutation(pattern) && !slices.Contains(covered, pattern) {
				t.Errorf("mutating route %s has no audit test step", pattern)
			}
		}
	})
}

func TestTokenExpiryAndRevocation(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		var tok struct {
			ID        int64
			Token     string
			ExpiresAt time.Time `json:"expires_at"`
		}
		e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": "short", "expires_in": "1h"}).json(t, &tok)
		if d := tok.ExpiresAt.Sub(e.clock()); d < 59*time.Minute || d > 61*time.Minute {
			t.Fatalf("expires in %v, want 1h", d)
		}
		e.must(200, "GET", "/api/v1/me", tok.Token, nil)
		e.advance(59 * time.Minute)
		e.must(200, "GET", "/api/v1/me", tok.Token, nil)
		e.advance(2 * time.Minute)
		if code := e.must(401, "GET", "/api/v1/me", tok.Token, nil).err(t).Error.Code; code != "token_expired" {
			t.Errorf("expired token: code %s", code)
		}

		var tok2 struct {
			ID    int64
			Token string
		}
		e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": "revoke-me"}).json(t, &tok2)
		e.must(200, "GET", "/api/v1/me", tok2.Token, nil)
		e.must(200, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok2.ID), e.admin, nil)
		if code := e.must(401, "GET", "/api/v1/me", tok2.Token, nil).err(t).Error.Code; code != "token_revoked" {
			t.Errorf("revoked token: code %s", code)
		}
		// Logout revokes the token it was called with.
		tok3 := e.login("admin", adminPassword)
		e.must(204, "POST", "/api/v1/auth/logout", tok3, nil)
		e.must(401, "GET", "/api/v1/me", tok3, nil)
		for _, bad := range []string{"", "pd_nonsense", "pd_" + strings.Repeat("A", 43), "Basic xyz"} {
			r := e.do("GET", "/api/v1/me", bad, nil)
			if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("token %q: status %d", bad, r.status)
			}
		}
		// The list shows the revocation; tokens are never shown again.
		r := e.must(200, "GET", "/api/v1/tokens", e.admin, nil)
		if strings.Contains(string(r.body), tok2.Token) || strings.Contains(string(r.body), `"hash"`) {
			t.Fatal("token list leaks a secret or hash")
		}
		var list struct{ Items []store.Token }
		r.json(t, &list)
		found := false
		for _, tk := range list.Items {
			if tk.ID == tok2.ID {
				found = tk.RevokedAt != nil
			}
		}
		if !found {
			t.Error("revoked token not listed as revoked")
		}
	})
}

// Bad input is answered 4xx in the common error shape, naming the field, and changes nothing.
func TestBadInput(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		before := e.auditCount()
		big := `{"slug":"x","name":"` + strings.Repeat("n", 2<<20) + `"}`
		for _, tc := range []struct {
			name, method, path, body string
			ctype                    string
			status                   int
			code, field              string
		}{
			{"unknown field", "POST", "/api/v1/orgs", `{"slug":"x","colour":"red"}`, "", 400, "unknown_field", "colour"},
			{"unknown nested field", "POST", "/api/v1/orgs/a/updates", `{"name":"u9","title":"T","classification":"security",` +
				`"applicability":{"purll":"pkg:deb/debian/openssl"},"installer":{"type":"apt"}}`, "", 400, "unknown_field", "applicability.purll"},
			{"wrong type", "POST", "/api/v1/orgs", `{"slug":42}`, "", 400, "invalid_field", "slug"},
			{"wrong nested type", "PUT", "/api/v1/orgs/a/users/admin/role", `{"role":["admin"]}`, "", 400, "invalid_field", "role"},
			{"broken JSON", "POST", "/api/v1/orgs", `{"slug":"x",`, "", 400, "invalid_json", ""},
			{"syntax error", "POST", "/api/v1/orgs", `{"slug" "x"}`, "", 400, "invalid_json", ""},
			{"not an object", "POST", "/api/v1/orgs", `["x"]`, "", 400, "invalid_json", ""},
			{"two objects", "POST", "/api/v1/orgs", `{"slug":"x"}{"slug":"y"}`, "", 400, "invalid_json", ""},
			{"empty body", "POST", "/api/v1/orgs", ``, "", 400, "invalid_json", ""},
			{"oversized body", "POST", "/api/v1/orgs", big, "", 413, "body_too_large", ""},
			{"wrong content type", "POST", "/api/v1/orgs", `{"slug":"x"}`, "text/plain", 415, "unsupported_media_type", ""},
			{"missing slug", "POST", "/api/v1/orgs", `{"name":"X"}`, "", 400, "invalid_field", "slug"},
			{"bad slug", "POST", "/api/v1/orgs", `{"slug":"Not A Slug"}`, "", 400, "invalid_field", "slug"},
			{"control characters", "POST", "/api/v1/orgs", `{"slug":"x","name":"a\u0007b"}`, "", 400, "invalid_field", "name"},
			{"duplicate org", "POST", "/api/v1/orgs", `{"slug":"a"}`, "", 409, "conflict", ""},
			{"bad role", "POST", "/api/v1/orgs/a/users", `{"username":"u1","role":"root"}`, "", 400, "invalid_field", "role"},
			{"reserved username", "POST", "/api/v1/orgs/a/users", `{"username":"signup","role":"viewer"}`, "", 400, "invalid_field", "username"},
			{"short password", "POST", "/api/v1/orgs/a/users", `{"username":"u1","role":"viewer","password":"short"}`, "", 400, "invalid_field", "password"},
			{"bad email", "POST", "/api/v1/orgs/a/users", `{"username":"u1","role":"viewer","email":"nope"}`, "", 400, "invalid_field", "email"},
			{"bad expiry", "POST", "/api/v1/tokens", `{"name":"t","expires_in":"forever"}`, "", 400, "invalid_field", "expires_in"},
			{"too long expiry", "POST", "/api/v1/tokens", `{"name":"t","expires_in":"9999d"}`, "", 400, "invalid_field", "expires_in"},
			{"bad limit", "GET", "/api/v1/orgs?limit=0", ``, "", 400, "invalid_field", "limit"},
			{"bad cursor", "GET", "/api/v1/orgs?cursor=zzz", ``, "", 400, "invalid_field", "cursor"},
			{"bad time filter", "GET", "/api/v1/audit?since=yesterday", ``, "", 400, "invalid_field", "since"},
			{"bad token id", "DELETE", "/api/v1/tokens/abc", ``, "", 400, "invalid_field", "id"},
			{"last admin", "PUT", "/api/v1/orgs/default/users/admin/role", `{"role":"viewer"}`, "", 409, "conflict", ""},
			{"no such route", "GET", "/api/v1/nothing", ``, "", 404, "not_found", ""},
			{"wrong method", "PATCH", "/api/v1/orgs", `{}`, "", 405, "method_not_allowed", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var body any
				if tc.body != "" {
					body = tc.body
				}
				hdr := []string{}
				if tc.ctype != "" {
					hdr = []string{"Content-Type", tc.ctype}
				}
				r := e.do(tc.method, tc.path, e.admin, body, hdr...)
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				ae := r.err(t)
				if ae.Error.Code != tc.code || ae.Error.Field != tc.field {
					t.Fatalf("error %+v, want code %s field %q", ae.Error, tc.code, tc.field)
				}
				if tc.field != "" && !strings.Contains(ae.Error.Message, tc.field) {
					t.Errorf("message %q does not name the field %s", ae.Error.Message, tc.field)
				}
			})
		}
		if n := e.auditCount(); n != before {
			t.Errorf("audit grew from %d to %d", before, n)
		}
		var orgs struct{ Items []store.Org }
		e.must(200, "GET", "/api/v1/orgs", e.admin, nil).json(t, &orgs)
		if len(orgs.Items) != 2 {
			t.Errorf("organisations after bad input: %+v", orgs.Items)
		}
	})
}

func TestPagination(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		for i := range 7 {
			e.createOrg(fmt.Sprintf("org%d", i))
		}
		var slugs []string
		cursor, pages := "", 0
		for {
			var page struct {
				Items      []store.Org
				NextCursor string `json:"next_cursor"`
			}
			e.must(200, "GET", "/api/v1/orgs?limit=3&cursor="+cursor, e.admin, nil).json(t, &page)
			pages++
			for _, o := range page.Items {
				slugs = append(slugs, o.Slug)
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		// default + 7 = 8 organisations: pages of 3, 3, 2.
		if got := strings.Join(slugs, ","); got != "default,org0,org1,org2,org3,org4,org5,org6" || pages != 3 {
			t.Fatalf("walked %d pages: %s", pages, got)
		}
	})
}

func TestLoginFailuresAreAuditedAndLimited(t *testing.T) {
	e := newEnv(t, store.SQLite)
	r := e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": "wrong-password!"})
	if r.status != 401 || r.err(t).Error.Code != "bad_credentials" {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	r2 := e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "nobody", "password": "wrong-password!"})
	if string(r2.body) != string(r.body) {
		t.Errorf("unknown user and wrong password answer differently: %s vs %s", r2.body, r.body)
	}
	var evs struct{ Items []store.AuditEvent }
	e.must(200, "GET", "/api/v1/audit?action=auth.login_failed", e.admin, nil).json(t, &evs)
	if len(evs.Items) != 2 || evs.Items[0].ObjectID != "nobody" || evs.Items[1].ObjectID != "admin" {
		t.Fatalf("failed logins audited as %+v", evs.Items)
	}

	// With the default limit, a source gets 10 attempts at once (the harness's own login
	// spent one), then 429 with Retry-After, right password or not.
	strict := newEnvWith(t, store.SQLite, func(*server.Config) {})
	for i := 2; i <= 10; i++ {
		strict.must(401, "POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": "wrong-password!"})
	}
	r = strict.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": adminPassword})
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.err(t).Error.Code != "rate_limited" {
		t.Fatalf("11th attempt: %d %s", r.status, r.body)
	}
	// Other endpoints are not affected.
	strict.must(200, "GET", "/api/v1/me", strict.admin, nil)
}

func TestOperationalEndpoints(t *testing.T) {
	e := newEnv(t, store.SQLite)
	if r := e.must(200, "GET", "/healthz", "", nil); string(r.body) != "ok\n" {
		t.Errorf("healthz: %s", r.body)
	}
	e.must(200, "GET", "/readyz", "", nil)
	e.must(200, "GET", "/api/v1/me", e.admin, nil)
	m := string(e.must(200, "GET", "/metrics", "", nil).body)
	for _, want := range []string{
		`patchday_http_requests_total{code="200",method="GET",route="GET /api/v1/me"} 1`,
		`patchday_http_request_duration_seconds_bucket{method="GET",route="GET /healthz"`,
		"go_goroutines",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "X-Request-Id"} {
		if e.do("GET", "/healthz", "", nil).header.Get(h) == "" {
			t.Errorf("response lacks %s", h)
		}
	}
	// An unsafe request id is replaced, not echoed.
	r := e.do("GET", "/healthz", "", nil, "X-Request-Id", "evil\tid with spaces")
	if id := r.header.Get("X-Request-Id"); id == "" || strings.ContainsAny(id, " \t") {
		t.Errorf("request id %q", id)
	}
	// Made-up methods do not make new metric series.
	e.do("FROBNICATE", "/healthz", "", nil)
	m = string(e.must(200, "GET", "/metrics", "", nil).body)
	if strings.Contains(m, "FROBNICATE") || !strings.Contains(m, `method="other"`) {
		t.Error("an unknown method became a metric label value")
	}
	e.srv.Drain()
	e.must(503, "GET", "/readyz", "", nil)
	e.must(200, "GET", "/api/v1/me", e.admin, nil) // draining still serves
}

// A revocation racing with requests of the token it revokes still takes effect at once on
// this node: no request in flight can put the revoked token back into the cache.
func TestRevocationRacingRequests(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		for i := range 30 {
			var tok struct {
				ID    int64
				Token string
			}
			e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": fmt.Sprint("race-", i)}).json(t, &tok)
			e.must(200, "GET", "/api/v1/me", tok.Token, nil)
			e.advance(2 * time.Minute) // the next uses record the token's use: the path that re-caches
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range 5 {
					e.do("GET", "/api/v1/me", tok.Token, nil)
				}
			}()
			e.must(200, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok.ID), e.admin, nil)
			<-done
			if r := e.do("GET", "/api/v1/me", tok.Token, nil); r.status != 401 {
				t.Fatalf("round %d: the revoked token still works: %d", i, r.status)
			}
		}
	})
}

// Two admins demoting each other at the same moment cannot leave the organisation without one.
func TestLastAdminUnderConcurrency(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		for i := range 8 {
			org := fmt.Sprint("race", i)
			e.createOrg(org)
			a := e.createUser(org, "a"+org, store.RoleAdmin)
			b := e.createUser(org, "b"+org, store.RoleAdmin)
			codes := make(chan int, 2)
			for _, step := range []struct{ tok, other string }{{a, "b" + org}, {b, "a" + org}} {
				go func() {
					codes <- e.do("PUT", "/api/v1/orgs/"+org+"/users/"+step.other+"/role", step.tok, map[string]string{"role": "viewer"}).status
				}()
			}
			c1, c2 := <-codes, <-codes
			var admins struct{ Items []store.Member }
			e.must(200, "GET", "/api/v1/orgs/"+org+"/users?role=admin", e.admin, nil).json(t, &admins)
			if len(admins.Items) == 0 {
				t.Fatalf("%s: no admin left (statuses %d, %d)", org, c1, c2)
			}
		}
	})
}

// Changing one's password ends one's other sessions; a wrong current password is audited and
// rate-limited.
func TestPasswordChange(t *testing.T) {
	e := newEnv(t, store.SQLite)
	e.createOrg("a")
	carol := e.createUser("a", "carol", store.RoleViewer)
	other := e.login("carol", "carol-password-123")
	r := e.do("POST", "/api/v1/me/password", carol, map[string]string{"current_password": "nope-nope-nope", "new_password": "another-long-password"})
	if r.status != 400 || r.err(t).Error.Field != "current_password" {
		t.Fatalf("wrong current password: %d %s", r.status, r.body)
	}
	var evs struct{ Items []store.AuditEvent }
	e.must(200, "GET", "/api/v1/audit?action=user.password_change_failed", e.admin, nil).json(t, &evs)
	if len(evs.Items) != 1 || evs.Items[0].Actor != "carol" {
		t.Fatalf("failed change audited as %+v", evs.Items)
	}
	e.must(204, "POST", "/api/v1/me/password", carol, map[string]string{"current_password": "carol-password-123", "new_password": "another-long-password"})
	e.must(200, "GET", "/api/v1/me", carol, nil)
	e.must(401, "GET", "/api/v1/me", other, nil)
	e.login("carol", "another-long-password")
}

// A login with an absurd username is refused like any bad login, and its audit record stays
// short.
func TestLoginJunkUsername(t *testing.T) {
	e := newEnv(t, store.SQLite)
	junk := strings.Repeat("\x07a", 1000)
	r := e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": junk, "password": "whatever-password"})
	if r.status != 401 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var evs struct{ Items []store.AuditEvent }
	e.must(200, "GET", "/api/v1/audit?action=auth.login_failed", e.admin, nil).json(t, &evs)
	if len(evs.Items) != 1 || len(evs.Items[0].Actor) > 100 || strings.ContainsRune(evs.Items[0].Actor, 7) {
		t.Fatalf("audit %+v", evs.Items)
	}
	big := `{"username":"admin","password":"` + strings.Repeat("x", 10<<10) + `"}`
	if r := e.do("POST", "/api/v1/auth/login", "", big); r.status != 413 {
		t.Fatalf("oversized login: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/orgs", e.admin, "null"); r.status != 400 {
		t.Fatalf("null body: %d %s", r.status, r.body)
	}
}

// A change made through one node takes effect there at once, and on other nodes of the same
// database within the authentication cache's lifetime.
func TestAuthChangesReachEveryNode(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		carol := e.createUser("a", "carol", store.RoleAdmin)
		e.createUser("a", "alice", store.RoleAdmin)
		e.must(201, "POST", "/api/v1/orgs/a/users", carol, map[string]any{"username": "u1", "role": "viewer"})

		// Node two shares the database; it has seen carol as an admin.
		two := httptest.NewServer(server.New(server.Config{Store: e.store, Now: e.clock}))
		defer two.Close()
		other := &env{t: t, http: two}
		other.must(201, "POST", "/api/v1/orgs/a/users", carol, map[string]any{"username": "u2", "role": "viewer"})

		// Demoted through node one: refused there at once.
		e.must(200, "PUT", "/api/v1/orgs/a/users/carol/role", e.admin, map[string]any{"role": "viewer"})
		e.must(403, "POST", "/api/v1/orgs/a/users", carol, map[string]any{"username": "u3", "role": "viewer"})
		// Node two learns it once its cache entry is older than its lifetime.
		e.advance(6 * time.Second)
		other.must(403, "POST", "/api/v1/orgs/a/users", carol, map[string]any{"username": "u4", "role": "viewer"})

		// The same for a revoked token.
		var tok struct {
			ID    int64
			Token string
		}
		e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": "two-nodes"}).json(t, &tok)
		other.must(200, "GET", "/api/v1/me", tok.Token, nil)
		e.must(200, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok.ID), e.admin, nil)
		e.must(401, "GET", "/api/v1/me", tok.Token, nil)
		e.advance(6 * time.Second)
		other.must(401, "GET", "/api/v1/me", tok.Token, nil)
	})
}
