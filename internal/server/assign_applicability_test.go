package server_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// assignAgent is a simulated agent that keeps its inventory and health: it checks in,
// verifies its signed list and, when given one, reports a new inventory.
type assignAgent struct {
	er  protocol.EnrollResponse
	inv protocol.Inventory
	seq uint64
	doc string
}

var firewallOn = protocol.Health{Firewall: protocol.Firewall{Enabled: true, DefaultInput: "drop"}}

// checkin checks in (with a new inventory when inv is not nil) and returns the names of the
// updates in the agent's signed assignment list.
func (a *assignAgent) checkin(t *testing.T, e *env, inv *protocol.Inventory) []string {
	t.Helper()
	req := protocol.CheckIn{InventoryHash: a.inv.Hash(), Health: firewallOn, Sequence: a.seq}
	if inv != nil {
		a.inv = *inv
		req.InventoryHash, req.Inventory = inv.Hash(), inv
	}
	cr := e.checkin(a.er.Credential, req)
	if cr.NeedInventory {
		t.Fatalf("computer %d: the server asks for an inventory it was sent", a.er.ComputerID)
	}
	key, _ := protocol.DecodeKey(a.er.SigningKey)
	l, err := protocol.VerifyAssignments(cr.Assignments, key, a.er.ComputerID, a.seq, a.doc)
	if err != nil {
		t.Fatalf("computer %d: %v", a.er.ComputerID, err)
	}
	a.seq, a.doc = l.Sequence, cr.Assignments.DocumentDigest()
	names := []string{}
	for _, it := range l.Items {
		names = append(names, it.Name)
	}
	return names
}

// withPackage is inv with one more package: a new inventory that leaves openssl alone.
func withPackage(inv protocol.Inventory, name, version string) protocol.Inventory {
	inv.Packages = append(slices.Clone(inv.Packages), protocol.Package{Name: name, Version: version, Arch: inv.Arch})
	inv.Normalize()
	return inv
}

func assignPath(computer int64, update string) string {
	return fmt.Sprintf("/api/v1/orgs/a/computers/%d/assignments/%s", computer, update)
}

// outstanding is whether a state counts as missing the update.
func outstanding(state string) bool {
	return state == store.StateNeeded || state == store.StateApproved || state == store.StateFailed
}

// A direct assignment (patchday computer assign) records the operator's intent, an
// approval with its deadline, but never the evaluator's judgement of applicability: a
// computer that does not need the update (not applicable, or patched already) keeps that
// judgement, is not counted as missing the update, and its agent is not sent it; withdrawing
// the assignment restores what the evaluator says. Check-ins, new inventories and a restart
// of the server (which evaluates everything again) change none of it.
func TestAssignFollowsApplicability(t *testing.T) {
	old, fixed, newer := "3.0.11-1~deb12u1", "3.0.12-1", "3.0.13-1"
	cases := []struct {
		name     string
		inv      protocol.Inventory
		upgrade  string // an openssl version the machine reports after the update arrived
		before   string // state before the assignment; "" no row (the update does not concern it)
		assigned string // state once assigned
		offered  bool   // in the agent's signed list once assigned
		after    string // state once the assignment is withdrawn
	}{
		{name: "needed", inv: machine("needs-01", "amd64", "12", old),
			before: "needed", assigned: "approved", offered: true, after: "needed"},
		{name: "patched before the update arrived", inv: machine("newer-01", "amd64", "12", newer),
			before: "", assigned: "not_applicable", after: ""},
		{name: "package not installed", inv: machine("absent-01", "amd64", "12", ""),
			before: "", assigned: "not_applicable", after: ""},
		{name: "architecture does not match", inv: machine("arm-01", "arm64", "12", old),
			before: "", assigned: "not_applicable", after: ""},
		{name: "installed since", inv: machine("upgraded-01", "amd64", "12", old), upgrade: newer,
			before: "installed", assigned: "installed", after: "installed"},
	}
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", nil)
		agents := make([]*assignAgent, len(cases))
		for i, tc := range cases {
			agents[i] = &assignAgent{er: e.enrollMachine(tok, tc.inv), inv: tc.inv}
		}
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-fix", fixed))
		for i, tc := range cases {
			if tc.upgrade != "" {
				inv := machine(tc.inv.Hostname, tc.inv.Arch, tc.inv.OSVersion, tc.upgrade)
				agents[i].checkin(t, e, &inv)
			}
		}

		// check compares everything that shows where the update stands with want (a state
		// per case); overdue says the assignments' deadline has passed.
		check := func(t *testing.T, step string, srv *env, want func(i int) string, overdue bool) {
			t.Helper()
			missing, rows, installed, nonCompliant := 0, 0, 0, 0
			for i, tc := range cases {
				a := agents[i]
				state := want(i)
				got := srv.states("a", a.er.ComputerID)["openssl-fix"]
				if got != state {
					t.Errorf("%s: %s: state %q, want %q", step, tc.name, got, state)
				}
				offered := slices.Contains(a.checkin(t, srv, nil), "openssl-fix")
				if offered != (state == "approved" || state == "failed") {
					t.Errorf("%s: %s: offered to the agent: %v (state %q)", step, tc.name, offered, state)
				}
				var rep compliance.ComputerReport
				srv.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/computers/%d/report", a.er.ComputerID), srv.admin, nil).json(t, &rep)
				reported := slices.ContainsFunc(rep.Missing, func(m compliance.MissingUpdate) bool { return m.Update == "openssl-fix" })
				if reported != outstanding(state) {
					t.Errorf("%s: %s: report computer lists openssl-fix as missing: %v (state %q)", step, tc.name, reported, state)
				}
				if outstanding(state) {
					missing++
					if overdue {
						nonCompliant++
					}
				}
				if state != "" && state != "not_applicable" {
					rows++
				}
				if state == "installed" {
					installed++
				}
				var v compliance.Verdict
				srv.must(200, "GET", fmt.Sprintf("/api/v1/computers/%d/health", a.er.ComputerID), srv.admin, nil).json(t, &v)
				if v.Compliant == (outstanding(state) && overdue) {
					t.Errorf("%s: %s: health %+v (state %q)", step, tc.name, v, state)
				}
			}
			var ms struct{ Items []store.MissingUpdate }
			srv.must(200, "GET", "/api/v1/orgs/a/reports/missing", srv.admin, nil).json(t, &ms)
			machines := 0
			for _, m := range ms.Items {
				if m.Update == "openssl-fix" {
					machines = m.Machines
				}
			}
			if machines != missing {
				t.Errorf("%s: report missing: openssl-fix missing on %d machines, want %d (%+v)", step, machines, missing, ms.Items)
			}
			var org compliance.OrgReport
			srv.must(200, "GET", "/api/v1/orgs/a/reports/compliance", srv.admin, nil).json(t, &org)
			if org.Computers != len(cases) || org.Compliant != len(cases)-nonCompliant || org.Missing != missing {
				t.Errorf("%s: compliance %d/%d compliant, %d missing; want %d/%d, %d missing", step, org.Compliant, org.Computers,
					org.Missing, len(cases)-nonCompliant, len(cases), missing)
			}
			var adv compliance.AdvisoryReport
			srv.must(200, "GET", "/api/v1/orgs/a/reports/advisory?tracking_id=EXAMPLE-2026-0001", srv.admin, nil).json(t, &adv)
			if adv.Affected != rows || adv.Patched != installed || adv.Pending != missing || len(adv.Computers) != rows {
				t.Errorf("%s: advisory report: affected %d, patched %d, pending %d, %d computers; want %d, %d, %d, %d",
					step, adv.Affected, adv.Patched, adv.Pending, len(adv.Computers), rows, installed, missing, rows)
			}
		}
		check(t, "before", e, func(i int) string { return cases[i].before }, false)

		// Assigned twice, with a deadline: idempotent, audited each time, and the answer
		// says where the update stands.
		deadline := e.clock().Add(time.Hour).UTC().Truncate(time.Second)
		audits := e.auditCount()
		for i, tc := range cases {
			for range 2 {
				var cu store.ComputerUpdate
				e.must(200, "PUT", assignPath(agents[i].er.ComputerID, "openssl-fix"), e.admin, map[string]any{"deadline": deadline}).json(t, &cu)
				if cu.State != tc.assigned || !cu.Approved || cu.Deadline == nil || !cu.Deadline.Equal(deadline) || cu.ApprovedBy != "admin" {
					t.Errorf("%s: assign answered %+v, want state %q, approved by admin with the deadline", tc.name, cu, tc.assigned)
				}
			}
		}
		if n := e.auditCount() - audits; n != 2*len(cases) {
			t.Errorf("%d audit events for %d assignments", n, 2*len(cases))
		}
		e.advance(2 * time.Hour) // past the deadline: what is missing now counts against compliance
		assigned := func(i int) string { return cases[i].assigned }
		check(t, "assigned", e, assigned, true)

		// A new inventory of every machine (openssl unchanged) is evaluated again.
		for i, a := range agents {
			inv := withPackage(a.inv, "curl", "7.88.1-10+deb12u8")
			if names := a.checkin(t, e, &inv); slices.Contains(names, "openssl-fix") != cases[i].offered {
				t.Errorf("%s: the new inventory's check-in offers %v", cases[i].name, names)
			}
		}
		check(t, "after new inventories", e, assigned, true)

		// A restarted server (a new node on the same database) evaluates everything again.
		restarted := &env{t: t, http: httptest.NewServer(server.New(server.Config{Store: e.store, Now: e.clock})), admin: e.admin}
		defer restarted.http.Close()
		check(t, "after a restart", restarted, assigned, true)

		// The assignments withdrawn: what the evaluator says, and the approval is gone.
		for i, tc := range cases {
			e.must(204, "DELETE", assignPath(agents[i].er.ComputerID, "openssl-fix"), e.admin, nil)
			if r := e.do("DELETE", assignPath(agents[i].er.ComputerID, "openssl-fix"), e.admin, nil); r.status != 404 {
				t.Errorf("%s: unassign again: %d %s", tc.name, r.status, r.body)
			}
			var d struct{ Updates []store.ComputerUpdate }
			e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/computers/%d", agents[i].er.ComputerID), e.admin, nil).json(t, &d)
			for _, cu := range d.Updates {
				if cu.Approved || cu.Deadline != nil {
					t.Errorf("%s: still approved after unassign: %+v", tc.name, cu)
				}
			}
		}
		after := func(i int) string { return cases[i].after }
		check(t, "unassigned", e, after, false)
		for _, a := range agents {
			inv := withPackage(a.inv, "zstd", "1.5.4+dfsg2-5")
			a.checkin(t, e, &inv)
		}
		check(t, "unassigned, after new inventories", e, after, false)
		restarted2 := &env{t: t, http: httptest.NewServer(server.New(server.Config{Store: e.store, Now: e.clock})), admin: e.admin}
		defer restarted2.http.Close()
		check(t, "unassigned, after a restart", restarted2, after, false)
	})
}

// The approval of a computer that does not need the update is kept: once the machine needs
// it (it installs an affected version), the evaluator makes it approved and the agent gets
// it, with the assignment's deadline; once the machine is patched it is installed.
func TestAssignmentWaitsUntilNeeded(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", nil)
		inv := machine("absent-01", "amd64", "12", "")
		a := &assignAgent{er: e.enrollMachine(tok, inv), inv: inv}
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-fix", "3.0.12-1"))
		deadline := e.clock().Add(24 * time.Hour).UTC().Truncate(time.Second)
		var cu store.ComputerUpdate
		e.must(200, "PUT", assignPath(a.er.ComputerID, "openssl-fix"), e.admin, map[string]any{"deadline": deadline}).json(t, &cu)
		if cu.State != "not_applicable" || !cu.Approved {
			t.Fatalf("assign answered %+v", cu)
		}
		if names := a.checkin(t, e, nil); len(names) != 0 {
			t.Errorf("offered %v before the machine needs it", names)
		}

		vulnerable := machine("absent-01", "amd64", "12", "3.0.11-1~deb12u1")
		names := a.checkin(t, e, &vulnerable)
		if got := e.states("a", a.er.ComputerID)["openssl-fix"]; got != "approved" || !slices.Equal(names, []string{"openssl-fix"}) {
			t.Errorf("once needed: state %q, offered %v", got, names)
		}
		var d struct{ Updates []store.ComputerUpdate }
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/computers/%d", a.er.ComputerID), e.admin, nil).json(t, &d)
		if len(d.Updates) != 1 || d.Updates[0].Deadline == nil || !d.Updates[0].Deadline.Equal(deadline) {
			t.Errorf("once needed: %+v", d.Updates)
		}

		patched := machine("absent-01", "amd64", "12", "3.0.12-1")
		if names := a.checkin(t, e, &patched); len(names) != 0 {
			t.Errorf("offered %v once patched", names)
		}
		if got := e.states("a", a.er.ComputerID)["openssl-fix"]; got != "installed" {
			t.Errorf("once patched: state %q", got)
		}
		// The package removed: the update concerns it no more, the approval stays.
		gone := machine("absent-01", "amd64", "12", "")
		a.checkin(t, e, &gone)
		if got := e.states("a", a.er.ComputerID)["openssl-fix"]; got != "not_applicable" {
			t.Errorf("once removed: state %q", got)
		}
		e.must(204, "DELETE", assignPath(a.er.ComputerID, "openssl-fix"), e.admin, nil)
		if got, ok := e.states("a", a.er.ComputerID)["openssl-fix"]; ok {
			t.Errorf("unassigned: state %q, want none", got)
		}
	})
}

// A superseded update stays superseded when assigned (the newer update is what the machine
// gets), as with a group approval; an update the evaluator does not judge (a vendor tool's
// artifact) concerns the computers it is assigned to, so there it is approved and offered.
func TestAssignSupersededAndUnjudged(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", nil)
		inv := machine("web-01", "amd64", "12", "3.0.11-1~deb12u1")
		a := &assignAgent{er: e.enrollMachine(tok, inv), inv: inv}
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-u2", "3.0.12-1"))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-u3", "3.0.13-1", "openssl-u2"))
		var p struct {
			Digest string `json:"sha256"`
		}
		e.must(201, "PUT", "/api/v1/orgs/a/payloads?filename=tool.tar", e.admin, "tool build 1").json(t, &p)
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, map[string]any{"name": "tool-1", "title": "Tool", "classification": "feature",
			"applicability": map[string]any{"purl": "pkg:generic/acme/tool"},
			"installer":     map[string]any{"type": "artifact", "payload": p.Digest, "command": []string{"./install.sh"}}})

		for _, tc := range []struct {
			update, state string
			offered       bool
		}{
			{"openssl-u2", "superseded", false},
			{"tool-1", "approved", true},
			{"openssl-u3", "approved", true},
		} {
			var cu store.ComputerUpdate
			e.must(200, "PUT", assignPath(a.er.ComputerID, tc.update), e.admin, map[string]any{}).json(t, &cu)
			if cu.State != tc.state || !cu.Approved {
				t.Errorf("assign %s answered %+v, want state %q", tc.update, cu, tc.state)
			}
			if got := e.states("a", a.er.ComputerID)[tc.update]; got != tc.state {
				t.Errorf("%s: state %q, want %q", tc.update, got, tc.state)
			}
			if offered := slices.Contains(a.checkin(t, e, nil), tc.update); offered != tc.offered {
				t.Errorf("%s: offered %v, want %v", tc.update, offered, tc.offered)
			}
		}
		next := withPackage(inv, "curl", "7.88.1-10+deb12u8")
		a.checkin(t, e, &next)
		if got, want := e.states("a", a.er.ComputerID), (stateOf{"openssl-u2": "superseded", "openssl-u3": "approved", "tool-1": "approved"}); !sameStates(got, want) {
			t.Errorf("after a new inventory: %v, want %v", got, want)
		}
		e.must(204, "DELETE", assignPath(a.er.ComputerID, "openssl-u2"), e.admin, nil)
		e.must(204, "DELETE", assignPath(a.er.ComputerID, "openssl-u3"), e.admin, nil)
		if got, want := e.states("a", a.er.ComputerID), (stateOf{"openssl-u2": "superseded", "openssl-u3": "needed", "tool-1": "approved"}); !sameStates(got, want) {
			t.Errorf("unassigned: %v, want %v", got, want)
		}
	})
}
