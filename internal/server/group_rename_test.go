package server_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
)

// Renaming a group keeps its members, approvals and rules, and the enrollment tokens that put
// machines in it put new machines in it under its new name; a taken or bad name is refused
// and changes nothing; the group's report follows the group, not the name.
func TestGroupRename(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "pilot", "ring": 1})
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "broad", "ring": 2})
		// One token names both groups, one names another whose name contains "pilot".
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "pilot2"})
		tok := e.enrollToken("a", map[string]any{"name": "t1", "groups": []string{"broad", "pilot"}})
		e.enrollToken("a", map[string]any{"name": "t2", "groups": []string{"pilot2"}})
		e.enrollToken("a", map[string]any{"name": "t3", "groups": []string{"pilot", "pilot"}})
		web1 := e.enrollMachine(tok, machine("web-01", "amd64", "12", "3.0.11-1~deb12u1"))
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-u2", "3.0.11-1~deb12u2"))
		e.must(200, "POST", "/api/v1/orgs/a/updates/openssl-u2/approvals", e.admin, map[string]any{"group": "pilot"})
		e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "all-security", "group": "pilot"})
		var before store.Group
		e.must(200, "GET", "/api/v1/orgs/a/groups/pilot", e.admin, nil).json(t, &before)
		e.must(200, "GET", "/api/v1/orgs/a/reports/group?name=pilot", e.admin, nil)

		for _, tc := range []struct {
			name   string
			status int
		}{{"broad", 409}, {"Not A Slug", 400}, {"", 400}} {
			r := e.do("PATCH", "/api/v1/orgs/a/groups/pilot", e.admin, map[string]any{"name": tc.name, "description": "lost"})
			if r.status != tc.status || r.err(t).Error.Field != "name" {
				t.Errorf("rename to %q: %d %s, want %d on field name", tc.name, r.status, r.body, tc.status)
			}
		}
		var g store.Group
		e.must(200, "GET", "/api/v1/orgs/a/groups/pilot", e.admin, nil).json(t, &g)
		if g.Description != "" {
			t.Errorf("a refused rename changed the description to %q", g.Description)
		}

		e.must(200, "PATCH", "/api/v1/orgs/a/groups/pilot", e.admin, map[string]any{"name": "canary"}).json(t, &g)
		if g.ID != before.ID || g.Name != "canary" || g.Members != 1 || g.Ring == nil || *g.Ring != 1 {
			t.Errorf("renamed group %+v, was %+v", g, before)
		}
		// One audit entry says it all.
		var evs struct{ Items []store.AuditEvent }
		e.must(200, "GET", "/api/v1/audit?limit=2", e.admin, nil).json(t, &evs)
		if want := fmt.Sprintf(`{"enroll_tokens":2,"from":"pilot","group_id":%d,"to":"canary"}`, g.ID); len(evs.Items) != 2 ||
			evs.Items[0].Action != "group.rename" || string(evs.Items[0].Details) != want || evs.Items[1].Action == "group.update" {
			t.Errorf("audit of the rename: %+v, want details %s", evs.Items, want)
		}
		if r := e.do("GET", "/api/v1/orgs/a/groups/pilot", e.admin, nil); r.status != 404 {
			t.Errorf("old name still answers: %d", r.status)
		}
		var rules struct{ Items []store.ApprovalRule }
		e.must(200, "GET", "/api/v1/orgs/a/rules", e.admin, nil).json(t, &rules)
		if len(rules.Items) != 1 || rules.Items[0].Group != "canary" {
			t.Errorf("rules after the rename: %+v", rules.Items)
		}
		if s := e.states("a", web1.ComputerID); s["openssl-u2"] != "approved" {
			t.Errorf("web-01's approval through the renamed group: %v", s)
		}
		var toks struct{ Items []store.EnrollToken }
		e.must(200, "GET", "/api/v1/orgs/a/enroll-tokens", e.admin, nil).json(t, &toks)
		got := map[string]string{}
		for _, t := range toks.Items {
			got[t.Name] = fmt.Sprint(t.Groups)
		}
		if got["t1"] != "[broad canary]" || got["t2"] != "[pilot2]" || got["t3"] != "[canary canary]" {
			t.Errorf("token groups after the rename: %v", got)
		}
		// A machine enrolled with the token joins the group under its new name.
		web2 := e.enrollMachine(tok, machine("web-02", "amd64", "12", "3.0.11-1~deb12u1"))
		e.must(200, "GET", "/api/v1/orgs/a/groups/canary", e.admin, nil).json(t, &g)
		if g.Members != 2 {
			t.Errorf("after enrolling web-02 (id %d) the group has %d members", web2.ComputerID, g.Members)
		}

		// A new group with the old name is a new group, with its own (empty) report.
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "pilot"})
		var rep struct{ Computers int }
		e.must(200, "GET", "/api/v1/orgs/a/reports/group?name=pilot", e.admin, nil).json(t, &rep)
		if rep.Computers != 0 {
			t.Errorf("the new pilot group's report counts %d computers: the old group's", rep.Computers)
		}
	})
}

// Renames of one group at once, while machines enroll with a token that names it: each
// rename either lands or finds the group gone (404), enrollments succeed, nothing deadlocks,
// and the token names the group's final name, whichever rename came last.
func TestGroupRenameConcurrent(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "pilot"})
		tok := e.enrollToken("a", map[string]any{"name": "t1", "groups": []string{"pilot"}})
		var wg sync.WaitGroup
		statuses := make(chan string, 12)
		for i := range 6 {
			wg.Go(func() {
				r := e.do("PATCH", "/api/v1/orgs/a/groups/pilot", e.admin, map[string]any{"name": fmt.Sprint("ring-", i)})
				statuses <- fmt.Sprint("rename ", r.status, map[bool]string{true: " " + string(r.body)}[r.status == 500])
			})
			wg.Go(func() {
				inv := machine(fmt.Sprint("host-", i), "amd64", "12", "")
				r := e.do("POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: tok, Inventory: inv})
				statuses <- fmt.Sprint("enroll ", r.status, map[bool]string{true: " " + string(r.body)}[r.status == 500])
			})
		}
		wg.Wait()
		close(statuses)
		renamed := 0
		for st := range statuses {
			switch st {
			case "rename 200":
				renamed++
			case "rename 404", "enroll 201":
			default:
				t.Errorf("%s", st)
			}
		}
		var groups struct{ Items []store.Group }
		e.must(200, "GET", "/api/v1/orgs/a/groups", e.admin, nil).json(t, &groups)
		var toks struct{ Items []store.EnrollToken }
		e.must(200, "GET", "/api/v1/orgs/a/enroll-tokens", e.admin, nil).json(t, &toks)
		if renamed == 0 || len(groups.Items) != 1 || len(toks.Items) != 1 ||
			fmt.Sprint(toks.Items[0].Groups) != "["+groups.Items[0].Name+"]" {
			t.Fatalf("%d renames landed; groups %+v; token groups %v", renamed, groups.Items, toks.Items[0].Groups)
		}
		// Every machine enrolled joined the group, under whichever name it had then.
		if g := groups.Items[0]; g.Members != 6 {
			t.Errorf("group %s has %d members, want the 6 enrolled", g.Name, g.Members)
		}
	})
}

// Deleting a group takes its name out of the enrollment tokens (a group created later under
// the name does not receive their machines), and the audit log says what went with it.
func TestGroupDeleteTokensAndAudit(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "branch"})
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "canary"})
		tok := e.enrollToken("a", map[string]any{"name": "t1", "groups": []string{"branch", "canary"}})
		e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "branch-security", "group": "branch"})
		e.must(201, "POST", "/api/v1/orgs/a/scan-schedules", e.admin, map[string]any{"name": "branch-nightly", "group": "branch"})
		var g store.Group
		e.must(200, "GET", "/api/v1/orgs/a/groups/branch", e.admin, nil).json(t, &g)
		e.must(204, "DELETE", "/api/v1/orgs/a/groups/branch", e.admin, nil)
		a := e.lastAudit()
		if want := fmt.Sprintf(`{"enroll_tokens":1,"group_id":%d,"members":0,"rules":["branch-security"],"scan_schedules":["branch-nightly"]}`, g.ID); a.Action != "group.delete" || string(a.Details) != want {
			t.Errorf("audit %s %s, want details %s", a.Action, a.Details, want)
		}
		var toks struct{ Items []store.EnrollToken }
		e.must(200, "GET", "/api/v1/orgs/a/enroll-tokens", e.admin, nil).json(t, &toks)
		if len(toks.Items) != 1 || fmt.Sprint(toks.Items[0].Groups) != "[canary]" {
			t.Fatalf("token groups after the delete: %+v", toks.Items)
		}
		// A new group of the old name does not receive the token's machines.
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "branch"})
		e.enrollMachine(tok, machine("web-01", "amd64", "12", ""))
		e.must(200, "GET", "/api/v1/orgs/a/groups/branch", e.admin, nil).json(t, &g)
		if g.Members != 0 {
			t.Errorf("the new branch group got %d members from the old group's token", g.Members)
		}
	})
}
