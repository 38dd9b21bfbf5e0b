package server_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
)

// A scan schedule gives, at each check-in, one member per subnet a signed task; results
// come back through the agent API, only for the computer's own subnets, and are audited.
func TestDistributedScanning(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", map[string]any{"name": "lan"})
		machine := func(host string, nets ...string) (protocol.EnrollResponse, protocol.Inventory) {
			inv := testInventory(host)
			inv.Networks = nets
			inv.Normalize()
			return e.enrollMachine(tok, inv), inv
		}
		a, invA := machine("host-a", "10.1.0.0/24")
		b, invB := machine("host-b", "10.1.0.0/24", "10.2.0.0/24")
		c, invC := machine("host-c", "10.1.0.0/24")
		key, err := protocol.DecodeKey(a.SigningKey)
		if err != nil {
			t.Fatal(err)
		}
		e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "lan"})
		e.must(204, "PUT", "/api/v1/orgs/a/groups/lan/members/host-a", e.admin, nil)
		e.must(204, "PUT", "/api/v1/orgs/a/groups/lan/members/host-b", e.admin, nil)
		policy := "zones:\n  - name: office\n    cidrs: [10.0.0.0/8]\n    allow: [tcp/22]\n"
		var sched store.ScanSchedule
		e.must(201, "POST", "/api/v1/orgs/a/scan-schedules", e.admin, map[string]any{"name": "nightly", "group": "lan",
			"ports": "22,80,445", "udp": "1434", "rate": 50, "policy": policy, "every": "1d"}).json(t, &sched)
		if sched.EverySecs != 86400 || !sched.Enabled || sched.Group != "lan" {
			t.Fatalf("schedule %+v", sched)
		}

		tasks := func(er protocol.EnrollResponse, inv protocol.Inventory) []string {
			t.Helper()
			cr := e.checkin(er.Credential, protocol.CheckIn{AgentVersion: "test", InventoryHash: inv.Hash()})
			if cr.ScanTasks == nil {
				return nil
			}
			l, err := protocol.VerifyScanTasks(*cr.ScanTasks, ed25519.PublicKey(key), er.ComputerID, time.Time{}, e.clock())
			if err != nil {
				t.Fatalf("scan tasks of %d: %v", er.ComputerID, err)
			}
			var out []string
			for _, tk := range l.Tasks {
				if tk.ScheduleID != sched.ID || tk.Ports != "22,80,445" || tk.UDP != "1434" || tk.Rate != 50 || tk.Policy != policy || tk.Every != 86400 {
					t.Errorf("task %+v", tk)
				}
				out = append(out, tk.Target)
			}
			return out
		}
		// The lowest id on a subnet scans it; a computer outside the group never does.
		if got := tasks(a, invA); !slices.Equal(got, []string{"10.1.0.0/24"}) {
			t.Errorf("host-a's tasks %v", got)
		}
		if got := tasks(b, invB); !slices.Equal(got, []string{"10.2.0.0/24"}) {
			t.Errorf("host-b's tasks %v", got)
		}
		if got := tasks(c, invC); got != nil {
			t.Errorf("host-c (not in the group) got tasks %v", got)
		}

		start := e.clock().Add(-time.Minute)
		report := func(target string, findings ...map[string]any) protocol.ScanReport {
			if findings == nil {
				findings = []map[string]any{}
			}
			res, _ := json.Marshal(map[string]any{"targets": []string{target}, "ports": 4, "started": start, "finished": start.Add(30 * time.Second),
				"findings": findings})
			return protocol.ScanReport{ScheduleID: sched.ID, Target: target, Result: res}
		}
		before := e.auditCount()
		var stored store.Scan
		e.must(201, "POST", protocol.PathScans, a.Credential, report("10.1.0.0/24",
			map[string]any{"host": "10.1.0.9", "port": 445, "protocol": "tcp", "service": "smb",
				"violation": map[string]any{"message": "tcp/445 open in zone office, which allows only tcp/22"}})).json(t, &stored)
		if stored.ScheduleID == nil || *stored.ScheduleID != sched.ID || stored.ComputerID == nil || *stored.ComputerID != a.ComputerID ||
			stored.Violations != 1 || stored.UploadedBy != "agent:host-a" {
			t.Errorf("stored scan %+v", stored)
		}
		if e.auditCount() != before+1 {
			t.Errorf("the upload wrote %d audit events", e.auditCount()-before)
		}
		var evs struct{ Items []store.AuditEvent }
		e.must(200, "GET", "/api/v1/audit?limit=1", e.admin, nil).json(t, &evs)
		if ev := evs.Items[0]; ev.Action != "scan.upload" || ev.Actor != "agent:host-a" {
			t.Errorf("audit event %+v", ev)
		}
		// The schedule shows its coverage: each subnet, its agents, its last scan.
		var cov struct{ Subnets []store.SubnetCoverage }
		e.must(200, "GET", "/api/v1/orgs/a/scan-schedules/nightly", e.admin, nil).json(t, &cov)
		got := map[string]string{}
		for _, sn := range cov.Subnets {
			last := "never"
			if sn.LastScanID != nil {
				last = fmt.Sprintf("scan %d, %d open, %d violations", *sn.LastScanID, sn.OpenPorts, sn.Violations)
			}
			got[sn.Subnet] = fmt.Sprintf("%d agents, %s", sn.Agents, last)
		}
		if want := map[string]string{"10.1.0.0/24": fmt.Sprintf("2 agents, scan %d, 1 open, 1 violations", stored.ID), "10.2.0.0/24": "1 agents, never"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("coverage %v, want %v", got, want)
		}
		// Scanned within the interval: no task; a day later, again.
		if got := tasks(a, invA); got != nil {
			t.Errorf("host-a's tasks right after its scan %v", got)
		}
		e.advance(25 * time.Hour)
		e.admin = e.login("admin", adminPassword) // the session ended meanwhile
		// host-a is silent now: host-b takes its subnet over.
		if got := tasks(b, invB); !slices.Equal(got, []string{"10.1.0.0/24", "10.2.0.0/24"}) {
			t.Errorf("host-b's tasks with host-a silent %v", got)
		}

		// What an agent may not upload.
		start = e.clock().Add(-time.Minute)
		for _, tc := range []struct {
			name  string
			cred  string
			rep   protocol.ScanReport
			field string
		}{
			{"a subnet it did not report", a.Credential, report("10.2.0.0/24"), "target"},
			{"not in the group", c.Credential, report("10.1.0.0/24"), "schedule_id"},
			{"another schedule", a.Credential, func() protocol.ScanReport { r := report("10.1.0.0/24"); r.ScheduleID = 999; return r }(), "schedule_id"},
			{"a finding outside the subnet", a.Credential, report("10.1.0.0/24", map[string]any{"host": "10.9.0.1", "port": 22, "protocol": "tcp"}), "result.findings[0].host"},
			{"other targets", a.Credential, func() protocol.ScanReport {
				r := report("10.1.0.0/24")
				r.Result, _ = json.Marshal(map[string]any{"targets": []string{"10.1.0.0/16"}, "ports": 1, "started": start, "finished": start, "findings": []any{}})
				return r
			}(), "result.targets"},
		} {
			r := e.do("POST", protocol.PathScans, tc.cred, tc.rep)
			if r.status != 400 || r.err(t).Error.Field != tc.field {
				t.Errorf("%s: %d %s", tc.name, r.status, r.body)
			}
		}
		// Only private subnets of at most /22, in canonical form, are accepted as networks.
		for i, bad := range []string{"8.8.8.0/24", "10.0.0.0/16", "10.1.0.5/24", "fd00::/64"} {
			inv := testInventory(fmt.Sprintf("bad-%d", i))
			inv.Networks = []string{bad}
			r := e.do("POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: tok, Inventory: inv})
			if r.status != 400 || r.err(t).Error.Field != "inventory.networks[0]" {
				t.Errorf("network %s: %d %s", bad, r.status, r.body)
			}
		}
		// Bad schedules name their field.
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"group": "lan"}, "name"},
			{map[string]any{"name": "x"}, "group"},
			{map[string]any{"name": "x", "group": "nope"}, "group"},
			{map[string]any{"name": "x", "group": "lan", "every": "10m"}, "every"},
			{map[string]any{"name": "x", "group": "lan", "every": "91d"}, "every"},
			{map[string]any{"name": "x", "group": "lan", "every": "xd"}, "every"},
			{map[string]any{"name": "x", "group": "lan", "ports": "1-65535"}, "ports"},
			{map[string]any{"name": "x", "group": "lan", "ports": "22,x"}, "ports"},
			{map[string]any{"name": "x", "group": "lan", "udp": "0"}, "udp"},
			{map[string]any{"name": "x", "group": "lan", "rate": 0}, "rate"},
			{map[string]any{"name": "x", "group": "lan", "policy": "zones: ["}, "policy"},
		} {
			r := e.do("POST", "/api/v1/orgs/a/scan-schedules", e.admin, tc.body)
			if r.status != 400 || r.err(t).Error.Field != tc.field {
				t.Errorf("%v: %d %s", tc.body, r.status, r.body)
			}
		}
		e.must(409, "POST", "/api/v1/orgs/a/scan-schedules", e.admin, map[string]any{"name": "nightly", "group": "lan"})
		// Disabled: no more tasks.
		e.must(200, "PATCH", "/api/v1/orgs/a/scan-schedules/nightly", e.admin, map[string]any{"enabled": false})
		e.advance(25 * time.Hour)
		if got := tasks(b, invB); got != nil {
			t.Errorf("tasks of a disabled schedule %v", got)
		}
		// Nor results of a task given before it was disabled.
		start = e.clock().Add(-time.Minute)
		if r := e.do("POST", protocol.PathScans, a.Credential, report("10.1.0.0/24")); r.status != 400 || r.err(t).Error.Field != "schedule_id" {
			t.Errorf("a report for the disabled schedule: %d %s", r.status, r.body)
		}
	})
}
