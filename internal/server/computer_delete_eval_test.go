package server_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/patchday/patchday/internal/server"
)

// A computer deleted (after its revocation) leaves the applicability evaluation: a later
// update that it would need is judged for the other computers as before, instead of the
// batch failing on a row for a computer that is gone.
func TestDeletedComputerLeavesEvaluation(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", map[string]any{"max_uses": 5})
		old := "3.0.11-1~deb12u1"
		gone := e.enrollMachine(tok, machine("gone-01", "amd64", "12", old))
		live := e.enrollMachine(tok, machine("live-01", "amd64", "12", old))
		path := "/api/v1/orgs/a/computers/" + itoa(gone.ComputerID)
		e.must(200, "POST", path+"/revoke", e.admin, nil)
		e.must(204, "DELETE", path, e.admin, nil)

		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		r := e.do("POST", "/api/v1/orgs/a/updates", e.admin, opensslUpdate("openssl-u2", "3.0.11-1~deb12u2"))
		if r.status != 201 {
			t.Fatalf("creating an update after a computer was deleted: %d %s", r.status, r.body)
		}
		if got := e.states("a", live.ComputerID); got["openssl-u2"] != "needed" {
			t.Errorf("live-01 (needs the update) has states %v, want openssl-u2 needed: the deleted computer's row failed the batch", got)
		}
	})
}

// Another node's evaluator still holds a computer this node deleted: the store drops its
// changes for the computer that is gone instead of failing the batch.
func TestDeletedComputerOnAnotherNode(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", map[string]any{"max_uses": 5})
		old := "3.0.11-1~deb12u1"
		gone := e.enrollMachine(tok, machine("gone-01", "amd64", "12", old))
		live := e.enrollMachine(tok, machine("live-01", "amd64", "12", old))
		other := server.New(server.Config{Store: e.store, Now: e.clock}) // loads both computers
		path := "/api/v1/orgs/a/computers/" + itoa(gone.ComputerID)
		e.must(200, "POST", path+"/revoke", e.admin, nil)
		e.must(204, "DELETE", path, e.admin, nil)

		e.must(201, "POST", "/api/v1/orgs/a/advisories", e.admin, minimalCSAF(t))
		body, _ := json.Marshal(opensslUpdate("openssl-u2", "3.0.11-1~deb12u2"))
		req := httptest.NewRequest("POST", "/api/v1/orgs/a/updates", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		other.ServeHTTP(rec, req)
		if rec.Code != 201 {
			t.Fatalf("creating the update on the other node: %d %s", rec.Code, rec.Body)
		}
		if got := e.states("a", live.ComputerID); got["openssl-u2"] != "needed" {
			t.Errorf("live-01 has states %v, want openssl-u2 needed", got)
		}
	})
}
