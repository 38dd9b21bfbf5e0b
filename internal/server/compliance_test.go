package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
)

// machine is an inventory with one version of openssl (none when ver is "").
func machine(host, arch, osVersion, ver string) protocol.Inventory {
	inv := protocol.Inventory{Hostname: host, MachineID: "mid-" + host, OSID: "debian", OSVersion: osVersion, Arch: arch,
		Packages: []protocol.Package{{Name: "bash", Version: "5.2.15-2+b7", Arch: arch}}}
	if ver != "" {
		inv.Packages = append(inv.Packages, protocol.Package{Name: "openssl", Version: ver, Arch: arch})
	}
	inv.Normalize()
	return inv
}

func (e *env) enrollMachine(token string, inv protocol.Inventory) protocol.EnrollResponse {
	e.t.Helper()
	var er protocol.EnrollResponse
	e.must(201, "POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: token, Inventory: inv,
		Health: protocol.Health{Firewall: protocol.Firewall{Enabled: true, DefaultInput: "drop"}}}).json(e.t, &er)
	return er
}

func opensslUpdate(name, fixed string, supersedes ...string) map[string]any {
	u := map[string]any{"name": name, "title": "OpenSSL " + fixed, "classification": "security", "severity": "critical",
		"advisories":    []string{"EXAMPLE-2026-0001"},
		"applicability": map[string]any{"purl": "pkg:deb/debian/openssl", "vers": "vers:deb/<" + fixed, "architectures": []string{"amd64"}},
		"installer":     map[string]any{"type": "apt"}}
	if len(supersedes) > 0 {
		u["supersedes"] = supersedes
	}
	return u
}

type stateOf map[string]string // update name -> state

func (e *env) states(org string, computer int64) stateOf {
	e.t.Helper()
	var d struct{ Updates []store.ComputerUpdate }
	e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/%s/computers/%d", org, computer), e.admin, nil).json(e.t, &d)
	out := stateOf{}
	for _, u := range d.Updates {
		out[u.UpdateName] = u.State
	}
	return out
}

func sameStates(a, b stateOf) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Applicability end to end: enrolled inventories, an update and its advisory, a superseding
// update, an upgrade reported by a check-in; the reports and the health verdicts follow.
func TestApplicabilityAndReports(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", nil)
		old := "3.0.11-1~deb12u1"
		web1 := e.enrollMachine(tok, machine("web-01", "amd64", "12", old))
		web2 := e.enrollMachine(tok, machine("web-02", "amd64", "12", "3.0.11-1~deb12u2"))
		db1 := e.enrollMachine(tok, machine("db-01", "amd64", "12", ""))
		arm1 := e.enrollMachine(tok, machine("arm-01", "arm64", "12", old))
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-u2", "3.0.11-1~deb12u2"))

		for _, tc := range []struct {
			id   int64
			want stateOf
		}{
			{web1.ComputerID, stateOf{"openssl-u2": "needed"}},
			{web2.ComputerID, stateOf{}}, // patched before it was ever needed: nothing to record
			{db1.ComputerID, stateOf{}},
			{arm1.ComputerID, stateOf{}}, // the update is for amd64
		} {
			if got := e.states("a", tc.id); !sameStates(got, tc.want) {
				t.Errorf("computer %d: states %v, want %v", tc.id, got, tc.want)
			}
		}
		var rep compliance.AdvisoryReport
		e.must(200, "GET", "/api/v1/orgs/a/reports/advisory?tracking_id=EXAMPLE-2026-0001", e.admin, nil).json(t, &rep)
		if rep.Affected != 1 || rep.Pending != 1 || rep.Patched != 0 || len(rep.Computers) != 1 || rep.Computers[0].Hostname != "web-01" {
			t.Errorf("advisory report %+v", rep)
		}

		// A newer update supersedes it: only the newest is offered.
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-u3", "3.0.13-1~deb12u1", "openssl-u2"))
		if got, want := e.states("a", web1.ComputerID), (stateOf{"openssl-u2": "superseded", "openssl-u3": "needed"}); !sameStates(got, want) {
			t.Errorf("after supersedence: %v, want %v", got, want)
		}
		if got, want := e.states("a", web2.ComputerID), (stateOf{"openssl-u3": "needed"}); !sameStates(got, want) {
			t.Errorf("web-02 after the newer update: %v, want %v", got, want)
		}

		// Health: critical updates missing past the grace period make a machine non-compliant.
		e.must(200, "PUT", "/api/v1/orgs/a/health-policy", e.admin, map[string]any{"grace_days": 0, "max_antivirus_age_days": 0})
		var v compliance.Verdict
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/computers/%d/health", web1.ComputerID), e.admin, nil).json(t, &v)
		if v.Compliant || len(v.Reasons) != 1 || v.Reasons[0].Code != "missing_critical" {
			t.Errorf("web-01 health %+v", v)
		}
		e.must(200, "GET", fmt.Sprintf("/api/v1/computers/%d/health", db1.ComputerID), e.admin, nil).json(t, &v)
		if !v.Compliant {
			t.Errorf("db-01 health %+v", v)
		}
		var bulk struct{ Items []compliance.Verdict }
		e.must(200, "GET", "/api/v1/orgs/a/health?compliant=false", e.admin, nil).json(t, &bulk)
		if len(bulk.Items) != 2 {
			t.Errorf("non-compliant computers %+v", bulk.Items)
		}

		// web-01 upgrades openssl: its next check-in brings the new inventory.
		inv := machine("web-01", "amd64", "12", "3.0.13-1~deb12u1")
		fw := protocol.Health{Firewall: protocol.Firewall{Enabled: true, DefaultInput: "drop"}}
		cr := e.checkin(web1.Credential, protocol.CheckIn{InventoryHash: inv.Hash(), Health: fw})
		if !cr.NeedInventory {
			t.Fatal("the server does not ask for the new inventory")
		}
		e.checkin(web1.Credential, protocol.CheckIn{InventoryHash: inv.Hash(), Inventory: &inv, Health: fw})
		if got, want := e.states("a", web1.ComputerID), (stateOf{"openssl-u2": "installed", "openssl-u3": "installed"}); !sameStates(got, want) {
			t.Errorf("after the upgrade: %v, want %v", got, want)
		}
		var d struct{ History []store.StateHistoryEntry }
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/computers/%d", web1.ComputerID), e.admin, nil).json(t, &d)
		var story []string
		for i := len(d.History) - 1; i >= 0; i-- {
			story = append(story, d.History[i].UpdateName+"="+d.History[i].State)
		}
		// Each evaluation's changes may come in any order; what happened is fixed.
		slices.Sort(story)
		// Each row's first state is in its needed_since, not in the history.
		if got := strings.Join(story, " "); got != "openssl-u2=installed openssl-u2=superseded openssl-u3=installed" {
			t.Errorf("history: %s", got)
		}
		e.must(200, "GET", "/api/v1/orgs/a/reports/advisory?tracking_id=EXAMPLE-2026-0001", e.admin, nil).json(t, &rep)
		if rep.Affected != 2 || rep.Patched != 1 || rep.Pending != 1 {
			t.Errorf("advisory report after the upgrade %+v", rep)
		}
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/computers/%d/health", web1.ComputerID), e.admin, nil).json(t, &v)
		if !v.Compliant {
			t.Errorf("web-01 after the upgrade %+v", v)
		}
		// The report's machines come a page at a time; its counts are of all.
		var p1, p2 compliance.AdvisoryReport
		e.must(200, "GET", "/api/v1/orgs/a/reports/advisory?tracking_id=EXAMPLE-2026-0001&limit=1", e.admin, nil).json(t, &p1)
		if p1.Affected != 2 || len(p1.Computers) != 1 || p1.NextCursor == "" {
			t.Fatalf("first page %+v", p1)
		}
		e.must(200, "GET", "/api/v1/orgs/a/reports/advisory?tracking_id=EXAMPLE-2026-0001&limit=1&cursor="+p1.NextCursor, e.admin, nil).json(t, &p2)
		if len(p2.Computers) != 1 || p2.NextCursor != "" || p2.Computers[0].ComputerID == p1.Computers[0].ComputerID {
			t.Errorf("second page %+v", p2)
		}

		// The organisation's report and its daily snapshot.
		today := e.clock().UTC().Format(time.DateOnly)
		if err := e.srv.TakeSnapshots(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.advance(5 * time.Second)
		var org compliance.OrgReport
		e.must(200, "GET", "/api/v1/orgs/a/reports/compliance", e.admin, nil).json(t, &org)
		if org.Computers != 4 || org.Compliant != 3 || org.BySeverity["critical"] != 1 || org.WithCritical != 1 ||
			len(org.Snapshots) != 1 || org.Snapshots[0].Compliant != 3 || org.Snapshots[0].Day != today {
			t.Errorf("organisation report %+v", org)
		}
		// The report is the one the snapshot was taken from, cached.
		if len(org.Snapshots) == 1 && org.ComputedAt.Sub(org.Snapshots[0].TakenAt).Abs() > time.Millisecond {
			t.Errorf("report computed at %s, snapshot taken at %s: the snapshot did not fill the cache", org.ComputedAt, org.Snapshots[0].TakenAt)
		}
		var cve compliance.CVEReport
		r := e.do("GET", "/api/v1/orgs/a/reports/cve?cve=not-a-cve", e.admin, nil)
		if r.status != 400 || r.err(t).Error.Field != "cve" {
			t.Errorf("bad cve: %d %s", r.status, r.body)
		}
		_ = cve
	})
}

// A dynamic group follows a computer's facts as its check-ins report them.
func TestDynamicGroupFollowsInventory(t *testing.T) {
	e := newEnv(t, store.SQLite)
	e.createOrg("a")
	e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "bookworm", "rule": "os=debian:12"})
	er := e.enrollMachine(e.enrollToken("a", nil), machine("h", "amd64", "11", ""))
	members := func() int {
		var g store.Group
		e.must(200, "GET", "/api/v1/orgs/a/groups/bookworm", e.admin, nil).json(t, &g)
		return g.Members
	}
	if n := members(); n != 0 {
		t.Fatalf("a Debian 11 machine is in the Debian 12 group (%d)", n)
	}
	inv := machine("h", "amd64", "12", "")
	e.checkin(er.Credential, protocol.CheckIn{InventoryHash: inv.Hash(), Inventory: &inv})
	if n := members(); n != 1 {
		t.Fatalf("after the upgrade to Debian 12 the group has %d members", n)
	}
	r := e.do("PATCH", "/api/v1/orgs/a/groups/bookworm", e.admin, map[string]any{"rule": ""})
	if r.status != 400 || r.err(t).Error.Field != "rule" {
		t.Errorf("turning a dynamic group static: %d %s", r.status, r.body)
	}
}

// Approvals for groups reach the members' signed assignment lists, with the deadline and the
// group's maintenance windows; a decline in any of a computer's groups wins; the rollout
// status counts each group's machines.
func TestGroupApprovals(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "pilot", "ring": 1,
			"windows": "mon-sun 00:00-24:00", "timezone": "Europe/Zurich"})
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "broad", "ring": 2, "rule": "hostname=web-*"})
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "frozen"})
		tok := e.enrollToken("a", map[string]any{"groups": []string{"pilot"}})
		web1 := e.enrollMachine(tok, machine("web-01", "amd64", "12", "3.0.11-1~deb12u1"))
		web2 := e.enrollMachine(e.enrollToken("a", nil), machine("web-02", "amd64", "12", "3.0.11-1~deb12u1"))
		key, _ := protocol.DecodeKey(web1.SigningKey)
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-u2", "3.0.11-1~deb12u2"))

		list := func(er protocol.EnrollResponse) protocol.AssignmentList {
			t.Helper()
			cr := e.checkin(er.Credential, protocol.CheckIn{})
			var l protocol.AssignmentList
			if err := cr.Assignments.Verify(key, protocol.KindAssignments, &l); err != nil {
				t.Fatal(err)
			}
			return l
		}
		if l := list(web1); len(l.Items) != 0 {
			t.Fatalf("assigned before any approval: %+v", l.Items)
		}
		deadline := e.clock().Add(72 * time.Hour).UTC().Truncate(time.Second)
		var ap struct {
			store.Approval
			Warnings []string
		}
		e.must(200, "POST", "/api/v1/orgs/a/updates/openssl-u2/approvals", e.admin, map[string]any{"group": "pilot", "deadline": deadline}).json(t, &ap)
		if ap.Action != "install" || ap.GroupName != "pilot" || len(ap.Warnings) != 0 {
			t.Errorf("approval %+v", ap)
		}
		l := list(web1)
		if len(l.Items) != 1 || l.Items[0].Deadline == nil || !l.Items[0].Deadline.Equal(deadline) || len(l.Items[0].Windows) == 0 {
			t.Fatalf("web-01's list after approving for pilot: %+v", l.Items)
		}
		if w := l.Items[0].Windows[0]; !w.End.After(w.Start) || w.End.Sub(w.Start) < 24*time.Hour {
			t.Errorf("the pilot's always-open window came out as %v", w)
		}
		if l := list(web2); len(l.Items) != 0 {
			t.Errorf("web-02 (not in pilot) got %+v", l.Items)
		}
		if s := e.states("a", web1.ComputerID); s["openssl-u2"] != "approved" {
			t.Errorf("web-01 state %v", s)
		}

		// The broad ring (web-*: both machines) approves too; frozen declines for web-01.
		e.must(200, "POST", "/api/v1/orgs/a/updates/openssl-u2/approvals", e.admin, map[string]any{"group": "broad"})
		if l := list(web2); len(l.Items) != 1 || l.Items[0].Deadline != nil || len(l.Items[0].Windows) != 0 {
			t.Errorf("web-02 via broad: %+v", l.Items)
		}
		e.must(204, "PUT", fmt.Sprintf("/api/v1/orgs/a/groups/frozen/members/%d", web1.ComputerID), e.admin, nil)
		e.must(200, "POST", "/api/v1/orgs/a/updates/openssl-u2/approvals", e.admin, map[string]any{"group": "frozen", "action": "decline"})
		if l := list(web1); len(l.Items) != 0 {
			t.Errorf("declined for frozen, web-01 still gets %+v", l.Items)
		}
		var rs struct {
			Groups []store.RolloutGroup
		}
		e.must(200, "GET", "/api/v1/orgs/a/updates/openssl-u2/rollout", e.admin, nil).json(t, &rs)
		byName := map[string]store.RolloutGroup{}
		for _, g := range rs.Groups {
			byName[g.Group] = g
		}
		if p := byName["pilot"]; p.Members != 1 || p.Needed != 1 || p.Approved != 0 || p.Action != "install" {
			t.Errorf("pilot %+v", p)
		}
		if b := byName["broad"]; b.Members != 2 || b.Approved != 1 || b.Needed != 1 {
			t.Errorf("broad %+v", b)
		}
		if rs.Groups[0].Group != "pilot" || rs.Groups[1].Group != "broad" {
			t.Errorf("rings first, in order: %+v", rs.Groups)
		}
		// Withdrawing the decline gives it back.
		e.must(204, "DELETE", "/api/v1/orgs/a/updates/openssl-u2/approvals/frozen", e.admin, nil)
		if l := list(web1); len(l.Items) != 1 {
			t.Errorf("after the decline went: %+v", l.Items)
		}
		// Bad input names the field.
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"group": "nope"}, "group"},
			{map[string]any{"group": "pilot", "action": "maybe"}, "action"},
			{map[string]any{"group": "pilot", "action": "decline", "deadline": deadline}, "deadline"},
		} {
			r := e.do("POST", "/api/v1/orgs/a/updates/openssl-u2/approvals", e.admin, tc.body)
			if r.status != 400 || r.err(t).Error.Field != tc.field {
				t.Errorf("%v: %d %s", tc.body, r.status, r.body)
			}
		}
		r := e.do("PATCH", "/api/v1/orgs/a/groups/pilot", e.admin, map[string]any{"windows": "someday 10:00-11:00"})
		if r.status != 400 || r.err(t).Error.Field != "windows" {
			t.Errorf("bad windows: %d %s", r.status, r.body)
		}
	})
}
