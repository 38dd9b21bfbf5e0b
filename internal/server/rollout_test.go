package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
)

// simAgent is a simulated agent: it checks in, verifies its signed list and reports results.
type simAgent struct {
	er  protocol.EnrollResponse
	seq uint64
	doc string
}

// list checks in (with results) and returns the names of the assigned updates.
func (a *simAgent) list(t *testing.T, e *env, results ...protocol.Result) map[string]protocol.Assignment {
	t.Helper()
	key, _ := protocol.DecodeKey(a.er.SigningKey)
	cr := e.checkin(a.er.Credential, protocol.CheckIn{Results: results, Sequence: a.seq})
	l, err := protocol.VerifyAssignments(cr.Assignments, key, a.er.ComputerID, a.seq, a.doc)
	if err != nil {
		t.Fatalf("computer %d: %v", a.er.ComputerID, err)
	}
	a.seq, a.doc = l.Sequence, cr.Assignments.DocumentDigest()
	out := map[string]protocol.Assignment{}
	for _, it := range l.Items {
		out[it.Name] = it
	}
	return out
}

func result(id string, it protocol.Assignment, ok bool, now time.Time) protocol.Result {
	r := protocol.Result{ID: id, UpdateID: it.UpdateID, Status: "installed", StartedAt: now, FinishedAt: now}
	if !ok {
		r.Status, r.ExitCode, r.Error = "failed", 100, "E: Sub-process /usr/bin/dpkg returned an error code (1)"
	}
	return r
}

// The release-day scenario of a pilot ring of 10 machines and a broad ring of 1,000:
// auto-approval to the pilot, the ring advances on the pilot's success, the broad ring
// starts at most 100 machines an hour; then a bad update fails on the pilot, its rollout
// halts, and no broad machine ever gets it.
func TestRolloutScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("enrolls 1,010 simulated agents")
	}
	e := newEnv(t, store.SQLite)
	e.createOrg("a")
	e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "pilot", "ring": 1, "halt_failure_pct": 30, "halt_min_attempts": 3})
	e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "broad", "ring": 2, "max_starts": 100, "start_window_minutes": 60,
		"halt_failure_pct": 10, "halt_min_attempts": 10})
	e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "pilot-first", "group": "pilot", "classification": "security"})
	e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "broad-after-pilot", "group": "broad", "after_ring_pct": 90, "deadline_days": 7})
	pilotTok := e.enrollToken("a", map[string]any{"groups": []string{"pilot"}})
	broadTok := e.enrollToken("a", map[string]any{"groups": []string{"broad"}})
	var pilot, broad []*simAgent
	for i := range 10 {
		pilot = append(pilot, &simAgent{er: e.enrollMachine(pilotTok, machine(fmt.Sprintf("pilot-%02d", i), "amd64", "12", "3.0.11-1~deb12u1"))})
	}
	for i := range 1000 {
		broad = append(broad, &simAgent{er: e.enrollMachine(broadTok, machine(fmt.Sprintf("broad-%04d", i), "amd64", "12", "3.0.11-1~deb12u1"))})
	}

	// Release day: a good update. The rule approves it for the pilot at once.
	e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
	e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-good", "3.0.11-1~deb12u2"))
	for i, a := range pilot {
		l := a.list(t, e)
		it, ok := l["openssl-good"]
		if !ok {
			t.Fatalf("pilot-%02d did not get the approved update", i)
		}
		a.list(t, e, result(fmt.Sprintf("good-pilot-%02d", i), it, true, e.clock()))
	}
	if l := broad[0].list(t, e); len(l) != 0 {
		t.Fatalf("a broad machine got %v before the pilot succeeded", l)
	}
	// The pilot succeeded: the broad ring advances.
	if err := e.srv.ApplyRules(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The rate limit: 100 starts per hour in the broad ring, whatever the number of check-ins.
	started := func() int {
		n := 0
		for _, a := range broad {
			if _, ok := a.list(t, e)["openssl-good"]; ok {
				n++
			}
		}
		return n
	}
	if n := started(); n != 100 {
		t.Fatalf("%d broad machines started in the first hour, want 100", n)
	}
	if n := started(); n != 100 {
		t.Fatalf("checking in again: %d broad machines have it, want still 100", n)
	}
	e.advance(61 * time.Minute)
	if n := started(); n != 200 {
		t.Fatalf("after an hour: %d, want 200", n)
	}

	// A bad update: it fails on the pilot, the rollout halts after three failures, and the
	// broad ring never starts it.
	e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-bad", "3.0.11-1~deb12u3"))
	failed := 0
	for i, a := range pilot {
		l := a.list(t, e)
		it, ok := l["openssl-bad"]
		if !ok {
			if failed < 3 {
				t.Fatalf("pilot-%02d did not get the bad update before the halt", i)
			}
			continue // halted: the rest of the pilot no longer gets it
		}
		a.list(t, e, result(fmt.Sprintf("bad-pilot-%02d", i), it, false, e.clock()))
		failed++
	}
	if failed != 3 {
		t.Errorf("%d pilot machines tried the bad update, want 3 (then the halt)", failed)
	}
	if err := e.srv.ApplyRules(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Hour)
	for i, a := range broad {
		if _, ok := a.list(t, e)["openssl-bad"]; ok {
			t.Fatalf("broad-%04d got the bad update", i)
		}
	}
	var rs struct{ Groups []store.RolloutGroup }
	e.must(200, "GET", "/api/v1/orgs/a/updates/openssl-bad/rollout", e.admin, nil).json(t, &rs)
	if p := rs.Groups[0]; p.Group != "pilot" || p.HaltedAt == nil || p.Failed != 3 || p.HaltReason != "3 of 3 attempted installs failed" {
		t.Errorf("pilot rollout of the bad update: %+v", p)
	}
	if b := rs.Groups[1]; b.Group != "broad" || b.Action != "" {
		t.Errorf("broad rollout of the bad update: %+v", b)
	}
	var evs struct{ Items []store.Event }
	e.must(200, "GET", "/api/v1/orgs/a/events", e.admin, nil).json(t, &evs)
	// (Imports raise advisory.published events too; this test looks at rollouts.)
	evs.Items = slices.DeleteFunc(evs.Items, func(ev store.Event) bool { return strings.HasPrefix(ev.Kind, "advisory.") })
	if len(evs.Items) != 1 || evs.Items[0].Kind != "rollout.halted" || evs.Items[0].Subject != "openssl-bad" {
		t.Errorf("events %+v", evs.Items)
	}
	// An operator resumes it.
	e.must(204, "POST", "/api/v1/orgs/a/updates/openssl-bad/approvals/pilot/resume", e.admin, nil)
	if _, ok := pilot[9].list(t, e)["openssl-bad"]; !ok {
		t.Error("after resuming, the rest of the pilot does not get it")
	}
}

// An auto-approval rule waits its delay, and filters on severity; bad rules name the field.
func TestApprovalRuleDelayAndFilters(t *testing.T) {
	e := newEnv(t, store.SQLite)
	e.createOrg("a")
	e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "all", "rule": "os=debian"})
	e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "first", "ring": 1})
	e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "critical-after-2-days", "group": "all",
		"min_severity": "critical", "delay_days": 2})
	e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
	e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("crit", "3.0.11-1~deb12u2")) // critical
	low := opensslUpdate("low", "3.0.11-1~deb12u3")
	low["severity"] = "low"
	e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, low)
	approvals := func(update string) int {
		var l struct{ Items []store.Approval }
		e.must(200, "GET", "/api/v1/orgs/a/updates/"+update+"/approvals", e.admin, nil).json(t, &l)
		return len(l.Items)
	}
	if err := e.srv.ApplyRules(t.Context()); err != nil {
		t.Fatal(err)
	}
	if approvals("crit") != 0 {
		t.Fatal("approved before its delay")
	}
	e.advance(3 * 24 * time.Hour)
	e.admin = e.login("admin", adminPassword) // the session ended meanwhile
	// The preview says what a run would do and changes nothing; the run does it.
	var preview, run struct {
		Items []struct{ Rule, Update, Group string }
	}
	e.must(200, "GET", "/api/v1/orgs/a/rules/preview", e.admin, nil).json(t, &preview)
	if len(preview.Items) != 1 || preview.Items[0].Rule != "critical-after-2-days" || preview.Items[0].Update != "crit" || preview.Items[0].Group != "all" {
		t.Errorf("preview %+v", preview.Items)
	}
	if approvals("crit") != 0 {
		t.Fatal("the preview approved")
	}
	viewer := e.createUser("a", "vic", store.RoleViewer)
	e.must(403, "GET", "/api/v1/orgs/a/rules/preview", viewer, nil)
	e.must(403, "POST", "/api/v1/orgs/a/rules/run", viewer, nil)
	e.must(200, "POST", "/api/v1/orgs/a/rules/run", e.admin, nil).json(t, &run)
	if len(run.Items) != 1 || run.Items[0] != preview.Items[0] {
		t.Errorf("run %+v, preview %+v", run.Items, preview.Items)
	}
	if approvals("crit") != 1 || approvals("low") != 0 {
		t.Errorf("after the delay: crit %d, low %d approvals", approvals("crit"), approvals("low"))
	}
	// Rules by package and by advisory.
	e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "openssl-pkg", "group": "first", "purl_prefix": "pkg:deb/debian/openssl"})
	e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "by-advisory", "group": "all", "advisory": "EXAMPLE-2026-0001"})
	e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "ssh-only"})
	e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "other-pkg", "group": "ssh-only", "purl_prefix": "pkg:deb/debian/openssh"})
	if err := e.srv.ApplyRules(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := approvals("low"); n != 2 { // first (by package) and all (by advisory)
		t.Errorf("low after the package and advisory rules: %d approvals, want 2", n)
	}
	// A superseded update is no candidate; its successor is.
	e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "late"})
	e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("newer", "3.0.11-1~deb12u4", "crit"))
	e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "late-all", "group": "late"})
	if err := e.srv.ApplyRules(t.Context()); err != nil {
		t.Fatal(err)
	}
	lateApproved := func(update string) bool {
		var l struct{ Items []store.Approval }
		e.must(200, "GET", "/api/v1/orgs/a/updates/"+update+"/approvals", e.admin, nil).json(t, &l)
		for _, a := range l.Items {
			if a.GroupName == "late" {
				return true
			}
		}
		return false
	}
	if lateApproved("crit") || !lateApproved("newer") || !lateApproved("low") {
		t.Errorf("rule late-all: crit (superseded) %v, newer %v, low %v; want false, true, true",
			lateApproved("crit"), lateApproved("newer"), lateApproved("low"))
	}
	var evs struct{ Items []store.AuditEvent }
	e.must(200, "GET", "/api/v1/audit?actor=rule:critical-after-2-days", e.admin, nil).json(t, &evs)
	if len(evs.Items) != 1 || evs.Items[0].ObjectID != "crit" {
		t.Errorf("the rule's approval is not audited: %+v", evs.Items)
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "x", "group": "nope"}, "group"},
		{map[string]any{"name": "x", "group": "all", "min_severity": "urgent"}, "min_severity"},
		{map[string]any{"name": "x", "group": "first", "after_ring_pct": 90}, "after_ring_pct"},
		{map[string]any{"name": "x", "group": "all", "classification": "optional"}, "classification"},
		{map[string]any{"name": "X!", "group": "all"}, "name"},
		{map[string]any{"name": "x", "group": "all", "purl_prefix": "openssl"}, "purl_prefix"},
	} {
		r := e.do("POST", "/api/v1/orgs/a/rules", e.admin, tc.body)
		if r.status != 400 || r.err(t).Error.Field != tc.field {
			t.Errorf("%v: %d %s", tc.body, r.status, r.body)
		}
	}
}

// A disabled rule stays and approves nothing until it is enabled again.
func TestRuleDisable(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "all", "rule": "os=debian"})
		e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "everything", "group": "all"})
		var r store.ApprovalRule
		e.must(200, "POST", "/api/v1/orgs/a/rules/everything/disable", e.admin, nil).json(t, &r)
		if r.Enabled || r.DisabledAt == nil || r.DisabledBy != "admin" {
			t.Errorf("disabled rule %+v", r)
		}
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("u1", "3.0.11-1~deb12u2"))
		var run struct {
			Items []struct{ Rule, Update, Group string }
		}
		e.must(200, "POST", "/api/v1/orgs/a/rules/run", e.admin, nil).json(t, &run)
		var approvals struct{ Items []store.Approval }
		e.must(200, "GET", "/api/v1/orgs/a/updates/u1/approvals", e.admin, nil).json(t, &approvals)
		if len(run.Items) != 0 || len(approvals.Items) != 0 {
			t.Fatalf("a disabled rule approved: run %+v, approvals %+v", run.Items, approvals.Items)
		}
		var list struct{ Items []store.ApprovalRule }
		e.must(200, "GET", "/api/v1/orgs/a/rules", e.admin, nil).json(t, &list)
		if len(list.Items) != 1 || list.Items[0].Enabled {
			t.Errorf("rule list %+v", list.Items)
		}
		viewer := e.createUser("a", "vic", store.RoleViewer)
		e.must(403, "POST", "/api/v1/orgs/a/rules/everything/enable", viewer, nil)
		e.must(404, "POST", "/api/v1/orgs/a/rules/nothing/enable", e.admin, nil)
		e.must(200, "POST", "/api/v1/orgs/a/rules/everything/enable", e.admin, nil)
		e.must(200, "POST", "/api/v1/orgs/a/rules/run", e.admin, nil).json(t, &run)
		if len(run.Items) != 1 || run.Items[0].Update != "u1" {
			t.Errorf("after enabling: run %+v", run.Items)
		}
	})
}
