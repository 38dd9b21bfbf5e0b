package server_test

import (
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
)

// A computer is deleted only once revoked, with its records; the fleet's reports lose it.
func TestDeleteComputer(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", map[string]any{"max_uses": 5})
		old := e.enroll(tok, "vm")
		e.enroll(tok, "vm") // enrolled again under a new identity
		viewer := e.createUser("a", "vera", store.RoleViewer)
		path := "/api/v1/orgs/a/computers/" + itoa(old.ComputerID)

		e.must(403, "DELETE", path, viewer, nil)
		if r := e.do("DELETE", path, e.admin, nil); r.status != 409 || !strings.Contains(string(r.body), "revoke it first") {
			t.Fatalf("deleting a computer that is not revoked: %d %s", r.status, r.body)
		}
		e.must(200, "POST", path+"/revoke", e.admin, nil)
		e.must(204, "DELETE", path, e.admin, nil)
		e.must(404, "GET", path, e.admin, nil)
		e.must(404, "DELETE", path, e.admin, nil)
		// Its agent stays refused.
		e.must(401, "POST", protocol.PathCheckIn, old.Credential, protocol.CheckIn{})

		var list struct{ Items []store.Computer }
		e.must(200, "GET", "/api/v1/orgs/a/computers", e.admin, nil).json(t, &list)
		if len(list.Items) != 1 || list.Items[0].ID == old.ComputerID {
			t.Errorf("computers after the delete: %+v", list.Items)
		}
		var rep compliance.OrgReport
		e.must(200, "GET", "/api/v1/orgs/a/reports/compliance", e.admin, nil).json(t, &rep)
		if rep.Computers != 1 {
			t.Errorf("compliance report counts %d computers, want 1", rep.Computers)
		}
		if ev := e.lastAudit(); ev.Action != "computer.delete" || ev.ObjectID != itoa(old.ComputerID) {
			t.Errorf("audit %+v", ev)
		}
	})
}
