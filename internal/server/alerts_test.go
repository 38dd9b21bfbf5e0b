package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// eventsOf counts an organisation's events by kind.
func (e *env) eventsOf(org string) (map[string]int, []store.Event) {
	e.t.Helper()
	var evs struct{ Items []store.Event }
	e.must(200, "GET", "/api/v1/orgs/"+org+"/events", e.admin, nil).json(e.t, &evs)
	kinds := map[string]int{}
	for _, ev := range evs.Items {
		kinds[ev.Kind]++
	}
	return kinds, evs.Items
}

// A deadline that passes with machines still missing the update raises deadline.passed,
// once per approval and deadline; compliance below the policy's threshold raises
// compliance.below_threshold, once a day.
func TestDeadlineAndComplianceEvents(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.createOrg("a")
		tok := e.enrollToken("a", nil)
		e.enrollMachine(tok, machine("web-01", "amd64", "12", "3.0.11-1~deb12u1"))
		e.enrollMachine(tok, machine("web-02", "amd64", "12", "3.0.11-1~deb12u2"))
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-u2", "3.0.11-1~deb12u2"))
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "pilot"})
		for _, h := range []string{"web-01", "web-02"} {
			e.must(204, "PUT", "/api/v1/orgs/a/groups/pilot/members/"+h, e.admin, nil)
		}
		e.must(200, "POST", "/api/v1/orgs/a/updates/openssl-u2/approvals", e.admin, map[string]any{"group": "pilot",
			"deadline": e.clock().Add(time.Hour)})

		if err := e.srv.NotifyDeadlines(ctx); err != nil {
			t.Fatal(err)
		}
		if kinds, _ := e.eventsOf("a"); kinds["deadline.passed"] != 0 {
			t.Fatalf("deadline.passed before the deadline: %v", kinds)
		}
		e.advance(2 * time.Hour)
		e.admin = e.login("admin", adminPassword)
		for range 2 { // the second run finds it done
			if err := e.srv.NotifyDeadlines(ctx); err != nil {
				t.Fatal(err)
			}
		}
		kinds, evs := e.eventsOf("a")
		if kinds["deadline.passed"] != 1 {
			t.Fatalf("deadline.passed events %v", kinds)
		}
		var d struct {
			Update, Group, Severity string
			Missing                 int
		}
		json.Unmarshal(evs[0].Details, &d)
		if evs[0].Kind != "deadline.passed" || d.Update != "openssl-u2" || d.Group != "pilot" || d.Missing != 1 || d.Severity != "critical" {
			t.Errorf("event %+v, details %+v", evs[0], d)
		}
		// The group approval's deadline is the machine's: past it, the critical update counts
		// against its health verdict (before it, it did not: within the grace period).
		var v struct {
			Compliant bool
			Reasons   []struct{ Code string }
		}
		e.must(200, "GET", "/api/v1/orgs/a/computers/web-01/health", e.admin, nil).json(t, &v)
		if v.Compliant || len(v.Reasons) != 1 || v.Reasons[0].Code != "missing_critical" {
			t.Errorf("web-01 past the group deadline: %+v", v)
		}
		// Approved again with a new deadline: a new event when that one passes too.
		e.must(200, "POST", "/api/v1/orgs/a/updates/openssl-u2/approvals", e.admin, map[string]any{"group": "pilot",
			"deadline": e.clock().Add(time.Hour)})
		e.advance(2 * time.Hour)
		e.admin = e.login("admin", adminPassword)
		if err := e.srv.NotifyDeadlines(ctx); err != nil {
			t.Fatal(err)
		}
		if kinds, _ := e.eventsOf("a"); kinds["deadline.passed"] != 2 {
			t.Errorf("deadline.passed events after the second deadline %v", kinds)
		}

		// A machine without a firewall does not comply (the default policy wants one).
		e.enroll(tok, "lab-01")
		if r := e.do("PUT", "/api/v1/orgs/a/health-policy", e.admin, map[string]any{"min_compliant_pct": 101}); r.status != 400 ||
			r.err(t).Error.Field != "min_compliant_pct" {
			t.Errorf("min_compliant_pct 101: %d %s", r.status, r.body)
		}
		e.must(200, "PUT", "/api/v1/orgs/a/health-policy", e.admin, map[string]any{"min_compliant_pct": 1})
		if err := e.srv.TakeSnapshots(ctx); err != nil {
			t.Fatal(err)
		}
		if kinds, _ := e.eventsOf("a"); kinds["compliance.below_threshold"] != 0 {
			t.Fatalf("an event above the threshold: %v", kinds)
		}
		e.must(200, "PUT", "/api/v1/orgs/a/health-policy", e.admin, map[string]any{"min_compliant_pct": 100})
		for range 2 { // hourly snapshots the same day: one event
			if err := e.srv.TakeSnapshots(ctx); err != nil {
				t.Fatal(err)
			}
		}
		kinds, evs = e.eventsOf("a")
		if kinds["compliance.below_threshold"] != 1 {
			t.Fatalf("compliance events %v", kinds)
		}
		var rep struct {
			Computers int     `json:"computers"`
			Percent   float64 `json:"percent_compliant"`
		}
		e.must(200, "GET", "/api/v1/orgs/a/reports/compliance", e.admin, nil).json(t, &rep)
		var c struct {
			Percent   float64 `json:"percent_compliant"`
			Threshold int
			Computers int
		}
		json.Unmarshal(evs[0].Details, &c)
		if evs[0].Kind != "compliance.below_threshold" || c.Percent != rep.Percent || c.Percent >= 100 || c.Threshold != 100 || c.Computers != rep.Computers || c.Computers != 3 {
			t.Errorf("compliance event %s; report %+v", evs[0].Details, rep)
		}
		// The next day, still below: another.
		e.advance(24 * time.Hour)
		e.admin = e.login("admin", adminPassword)
		if err := e.srv.TakeSnapshots(ctx); err != nil {
			t.Fatal(err)
		}
		if kinds, _ := e.eventsOf("a"); kinds["compliance.below_threshold"] != 2 {
			t.Errorf("compliance events the next day %v", kinds)
		}
	})
}

// The missing-updates report counts each computer once, whatever groups it is in, and gives
// the earliest deadline of the update's approvals.
func TestMissingReport(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", nil)
		e.enrollMachine(tok, machine("web-01", "amd64", "12", "3.0.11-1~deb12u1"))
		e.enrollMachine(tok, machine("web-02", "amd64", "12", "3.0.11-1~deb12u2"))
		e.enrollMachine(tok, machine("web-03", "amd64", "12", "3.0.11-1~deb12u1"))
		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-u2", "3.0.11-1~deb12u2"))
		for _, g := range []string{"pilot", "broad"} {
			e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": g})
			e.must(204, "PUT", "/api/v1/orgs/a/groups/"+g+"/members/web-01", e.admin, nil)
		}
		deadline := e.clock().Add(48 * time.Hour).UTC().Truncate(time.Second)
		e.must(200, "POST", "/api/v1/orgs/a/updates/openssl-u2/approvals", e.admin, map[string]any{"group": "pilot", "deadline": deadline})
		e.must(200, "POST", "/api/v1/orgs/a/updates/openssl-u2/approvals", e.admin, map[string]any{"group": "broad", "deadline": deadline.Add(24 * time.Hour)})
		var l struct{ Items []store.MissingUpdate }
		e.must(200, "GET", "/api/v1/orgs/a/reports/missing?min_severity=critical", e.admin, nil).json(t, &l)
		if len(l.Items) != 1 {
			t.Fatalf("missing updates %+v", l.Items)
		}
		m := l.Items[0]
		if m.Update != "openssl-u2" || m.Severity != "critical" || m.Machines != 2 || m.Failed != 0 || m.Deadline == nil || !m.Deadline.Equal(deadline) {
			t.Errorf("missing update %+v (deadline %v)", m, m.Deadline)
		}
		if r := e.do("GET", "/api/v1/orgs/a/reports/missing?min_severity=urgent", e.admin, nil); r.status != 400 || r.err(t).Error.Field != "min_severity" {
			t.Errorf("min_severity=urgent: %d %s", r.status, r.body)
		}
	})
}
