package server_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// testInventory is a small Debian inventory for host.
func testInventory(host string) protocol.Inventory {
	inv := protocol.Inventory{Hostname: host, MachineID: "mid-" + host, OSID: "debian", OSVersion: "12", OSName: "Debian GNU/Linux 12 (bookworm)",
		Kernel: "6.1.0-26-amd64", Arch: "amd64", Languages: []string{"en-US"},
		Packages: []protocol.Package{{Name: "openssl", Version: "3.0.11-1~deb12u1", Arch: "amd64"}, {Name: "bash", Version: "5.2.15-2+b7", Arch: "amd64"}}}
	inv.Normalize()
	return inv
}

// enrollToken makes an enrollment token in org and returns its secret.
func (e *env) enrollToken(org string, body map[string]any) string {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if body["name"] == nil {
		body["name"] = "test"
	}
	var tok struct{ Token string }
	e.must(201, "POST", "/api/v1/orgs/"+org+"/enroll-tokens", e.admin, body).json(e.t, &tok)
	return tok.Token
}

// enroll enrolls host with token and returns the answer.
func (e *env) enroll(token, host string) protocol.EnrollResponse {
	e.t.Helper()
	var er protocol.EnrollResponse
	e.must(201, "POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: token, AgentVersion: "test", Inventory: testInventory(host)}).json(e.t, &er)
	return er
}

// checkin sends a check-in and returns the answer.
func (e *env) checkin(cred string, req protocol.CheckIn) protocol.CheckInResponse {
	e.t.Helper()
	var cr protocol.CheckInResponse
	e.must(200, "POST", protocol.PathCheckIn, cred, req).json(e.t, &cr)
	return cr
}

func TestEnrollAndCheckIn(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		er := e.enroll(e.enrollToken("a", nil), "web-01")
		if er.Org != "a" || er.ComputerID == 0 || len(er.Credential) != 47 || er.CheckInInterval != 900 {
			t.Fatalf("enroll answer %+v", er)
		}
		key, err := protocol.DecodeKey(er.SigningKey)
		if err != nil {
			t.Fatal(err)
		}
		inv := testInventory("web-01")
		var c store.Computer
		e.must(200, "GET", "/api/v1/orgs/a/computers/web-01", e.admin, nil).json(t, &c)
		if c.LastCheckInAt != nil {
			t.Errorf("checked in at %v before its first check-in", c.LastCheckInAt)
		}
		// The server knows the inventory sent at enrollment: no need to send it again.
		cr := e.checkin(er.Credential, protocol.CheckIn{InventoryHash: inv.Hash(), AgentVersion: "test", KeyID: protocol.KeyID(key)})
		if cr.NeedInventory {
			t.Error("the server asks again for the inventory it got at enrollment")
		}
		// The first check-in is recorded at once, without waiting for the batch.
		e.must(200, "GET", "/api/v1/orgs/a/computers/web-01", e.admin, nil).json(t, &c)
		if c.LastCheckInAt == nil || !c.LastCheckInAt.Equal(e.clock().UTC().Truncate(time.Microsecond)) {
			t.Errorf("first check-in recorded as %v", c.LastCheckInAt)
		}
		e.advance(time.Minute)
		l, err := protocol.VerifyAssignments(cr.Assignments, key, er.ComputerID, 0, "")
		if err != nil {
			t.Fatalf("the first list does not verify: %v", err)
		}
		if l.Sequence != 1 || len(l.Items) != 0 {
			t.Errorf("first list: sequence %d, %d items", l.Sequence, len(l.Items))
		}
		if cr.NextCheckIn < 450 || cr.NextCheckIn > 1350 {
			t.Errorf("next check-in in %d s, want between half and one and a half of 900", cr.NextCheckIn)
		}
		// A changed inventory: the server asks for it, then takes it.
		inv.Packages[1].Version = "3.0.13-1~deb12u1"
		inv.Normalize()
		cr = e.checkin(er.Credential, protocol.CheckIn{InventoryHash: inv.Hash(), KeyID: protocol.KeyID(key)})
		if !cr.NeedInventory {
			t.Fatal("the server does not ask for a changed inventory")
		}
		// An inventory whose hash does not match what it claims is refused.
		r := e.do("POST", protocol.PathCheckIn, er.Credential, protocol.CheckIn{InventoryHash: inv.Hash(), Inventory: &protocol.Inventory{Hostname: "x", Arch: "amd64"}})
		if r.status != 400 || r.err(t).Error.Field != "inventory_hash" {
			t.Fatalf("mismatched inventory: %d %s", r.status, r.body)
		}
		cr = e.checkin(er.Credential, protocol.CheckIn{InventoryHash: inv.Hash(), Inventory: &inv})
		if cr.NeedInventory {
			t.Error("still asks after receiving it")
		}
		var got protocol.Inventory
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/computers/%d/inventory", er.ComputerID), e.admin, nil).json(t, &got)
		if got.Hash() != inv.Hash() || len(got.Packages) != 2 {
			t.Errorf("stored inventory %+v", got)
		}
		// The list is unchanged: same sequence, same bytes.
		cr2 := e.checkin(er.Credential, protocol.CheckIn{InventoryHash: inv.Hash(), Sequence: 1})
		if cr2.Assignments.DocumentDigest() != cr.Assignments.DocumentDigest() {
			t.Error("an unchanged list was re-issued")
		}
		// Later check-in times are recorded when the batch is flushed.
		e.must(200, "GET", "/api/v1/orgs/a/computers/web-01", e.admin, nil).json(t, &c)
		if c.LastCheckInAt.Equal(e.clock().UTC().Truncate(time.Microsecond)) {
			t.Error("a later check-in was written before the flush")
		}
		if err := e.srv.FlushCheckIns(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.must(200, "GET", "/api/v1/orgs/a/computers/web-01", e.admin, nil).json(t, &c)
		if c.LastCheckInAt == nil || !c.LastCheckInAt.Equal(e.clock().UTC().Truncate(time.Microsecond)) || c.Hostname != "web-01" {
			t.Errorf("computer after the flush: %+v", c)
		}
	})
}

func TestEnrollmentTokenRules(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		refused := func(token, want string) {
			t.Helper()
			r := e.do("POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: token, Inventory: testInventory("h")})
			if r.status != 401 || r.err(t).Error.Code != "enrollment_refused" || !strings.Contains(string(r.body), want) {
				t.Errorf("enroll with a %s token: %d %s", want, r.status, r.body)
			}
		}
		// Expired.
		tok := e.enrollToken("a", map[string]any{"expires_in": "1h"})
		e.advance(61 * time.Minute)
		refused(tok, "expired")
		// Revoked.
		var created struct {
			ID    int64
			Token string
		}
		e.must(201, "POST", "/api/v1/orgs/a/enroll-tokens", e.admin, map[string]any{"name": "r"}).json(t, &created)
		e.must(200, "DELETE", fmt.Sprintf("/api/v1/orgs/a/enroll-tokens/%d", created.ID), e.admin, nil)
		refused(created.Token, "revoked")
		// Unknown.
		refused("pde_"+strings.Repeat("A", 43), "unknown")
		// Not a token at all names the field.
		r := e.do("POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: "hello", Inventory: testInventory("h")})
		if r.status != 400 || r.err(t).Error.Field != "token" {
			t.Errorf("malformed token: %d %s", r.status, r.body)
		}
		// Maximum uses hold under concurrency: 3 uses, 8 machines at once.
		tok = e.enrollToken("a", map[string]any{"max_uses": 3})
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = e.do("POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: tok, Inventory: testInventory(fmt.Sprintf("m%d", i))}).status
			}()
		}
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			if s == 201 {
				ok++
			} else if s != 401 {
				t.Errorf("concurrent enrollment: status %d", s)
			}
		}
		if ok != 3 {
			t.Errorf("%d enrollments with a 3-use token", ok)
		}
		var list struct{ Items []store.EnrollToken }
		e.must(200, "GET", "/api/v1/orgs/a/enroll-tokens", e.admin, nil).json(t, &list)
		if n := len(list.Items); n != 3 || list.Items[2].Uses != 3 {
			t.Errorf("token list %+v", list.Items)
		}
	})
}

// Failed enrollments from one address are rate limited; successful ones are not, so a fleet
// behind one NAT address enrolls at once.
func TestEnrollmentRateLimit(t *testing.T) {
	e := newEnvWith(t, store.SQLite, func(c *server.Config) { c.LoginBurst = 3 })
	e.createOrg("a")
	tok := e.enrollToken("a", nil)
	for i := range 10 {
		e.enroll(tok, fmt.Sprintf("host-%d", i))
	}
	bad := protocol.EnrollRequest{Token: "pde_" + strings.Repeat("B", 43), Inventory: testInventory("x")}
	for range 3 {
		e.must(401, "POST", protocol.PathEnroll, "", bad)
	}
	r := e.do("POST", protocol.PathEnroll, "", bad)
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("4th failed enrollment: %d %s", r.status, r.body)
	}
}

func TestAssignmentsResultsAndRevocation(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		tok := e.enrollToken("a", nil)
		er := e.enroll(tok, "web-01")
		key, _ := protocol.DecodeKey(er.SigningKey)
		inv := testInventory("web-01")
		base := protocol.CheckIn{InventoryHash: inv.Hash(), KeyID: protocol.KeyID(key)}
		first := e.checkin(er.Credential, base)

		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, aptUpdate("openssl-fix"))
		deadline := e.clock().Add(48 * time.Hour).UTC().Truncate(time.Second)
		var cu store.ComputerUpdate
		e.must(200, "PUT", fmt.Sprintf("/api/v1/orgs/a/computers/%d/assignments/openssl-fix", er.ComputerID), e.admin,
			map[string]any{"deadline": deadline}).json(t, &cu)
		if cu.State != "approved" || !cu.Approved || cu.Deadline == nil || !cu.Deadline.Equal(deadline) {
			t.Fatalf("assignment %+v", cu)
		}
		cr := e.checkin(er.Credential, base)
		l, err := protocol.VerifyAssignments(cr.Assignments, key, er.ComputerID, 1, first.Assignments.DocumentDigest())
		if err != nil {
			t.Fatal(err)
		}
		if l.Sequence != 2 || len(l.Items) != 1 {
			t.Fatalf("list after assignment: %+v", l)
		}
		it := l.Items[0]
		if it.Name != "openssl-fix" || it.Installer != "apt" || it.Package != "openssl" || it.Version != "3.0.12-1" ||
			it.Deadline == nil || !it.Deadline.Equal(deadline) {
			t.Errorf("assignment item %+v", it)
		}
		// The older list is a replay to an agent that accepted this one.
		if _, err := protocol.VerifyAssignments(first.Assignments, key, er.ComputerID, 2, cr.Assignments.DocumentDigest()); !errors.Is(err, protocol.ErrReplay) {
			t.Errorf("old list: %v, want ErrReplay", err)
		}

		// A failed result keeps the update assigned (the agent retries); an installed one
		// takes it off the list. Results sent twice are stored once.
		now := e.clock().UTC()
		fail := protocol.Result{ID: "result-0001", UpdateID: it.UpdateID, Sequence: 2, Status: "failed", ExitCode: 100,
			Error: "apt-get failed", Log: "E: Unable to locate package", StartedAt: now, FinishedAt: now}
		req := base
		req.Sequence, req.Results = 2, []protocol.Result{fail}
		seq2 := cr.Assignments.DocumentDigest()
		cr = e.checkin(er.Credential, req)
		if len(cr.Acknowledged) != 1 || cr.Acknowledged[0] != "result-0001" {
			t.Errorf("acknowledged %v", cr.Acknowledged)
		}
		if l, err := protocol.VerifyAssignments(cr.Assignments, key, er.ComputerID, 2, seq2); err != nil || len(l.Items) != 1 {
			t.Errorf("a failed update left the list: %+v %v", l, err)
		}
		ok := fail
		ok.ID, ok.Status, ok.ExitCode, ok.Error, ok.Version = "result-0002", "installed", 0, "", "3.0.12-1"
		req.Results = []protocol.Result{ok, fail} // the failed one again: a resend after a lost answer
		cr = e.checkin(er.Credential, req)
		if len(cr.Acknowledged) != 2 {
			t.Errorf("acknowledged %v", cr.Acknowledged)
		}
		l, err = protocol.VerifyAssignments(cr.Assignments, key, er.ComputerID, 2, "")
		if err != nil || l.Sequence != 3 || len(l.Items) != 0 {
			t.Errorf("list after install: %+v %v", l, err)
		}
		var d struct {
			store.Computer
			Updates []store.ComputerUpdate
			Results []store.InstallResult
		}
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/computers/%d", er.ComputerID), e.admin, nil).json(t, &d)
		if len(d.Results) != 2 || len(d.Updates) != 1 || d.Updates[0].State != "installed" {
			t.Errorf("computer detail: %d results, updates %+v", len(d.Results), d.Updates)
		}
		// Bad results name the field.
		bad := fail
		bad.ID = "../../etc"
		req.Results = []protocol.Result{bad}
		if r := e.do("POST", protocol.PathCheckIn, er.Credential, req); r.status != 400 || r.err(t).Error.Field != "results[0].id" {
			t.Errorf("bad result id: %d %s", r.status, r.body)
		}

		// An agent enrolling again with the credential it holds stays the same computer; its
		// floor is the last sequence issued, so lists recorded earlier are replays.
		var er2 protocol.EnrollResponse
		e.must(201, "POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: tok, PreviousCredential: er.Credential,
			Inventory: testInventory("web-01")}).json(t, &er2)
		if er2.ComputerID != er.ComputerID || er2.Credential == er.Credential || er2.Sequence != 3 {
			t.Errorf("re-enrollment: computer %d (was %d), sequence %d", er2.ComputerID, er.ComputerID, er2.Sequence)
		}
		e.must(401, "POST", protocol.PathCheckIn, er.Credential, base)
		if _, err := protocol.VerifyAssignments(first.Assignments, key, er.ComputerID, er2.Sequence, ""); !errors.Is(err, protocol.ErrReplay) {
			t.Errorf("an old list after re-enrollment: %v", err)
		}
		cr = e.checkin(er2.Credential, base)
		if l, err := protocol.VerifyAssignments(cr.Assignments, key, er.ComputerID, er2.Sequence, ""); err != nil || l.Sequence != 4 {
			t.Errorf("the first list after re-enrollment: %+v %v", l, err)
		}
		// The machine id alone takes nothing over: the same machine without the credential
		// becomes another computer.
		er3 := e.enroll(tok, "web-01")
		if er3.ComputerID == er.ComputerID {
			t.Error("a machine id alone rebound the computer")
		}
		e.checkin(er2.Credential, base)

		// Revocation: the agent is refused and told why, and stays revoked.
		e.must(200, "POST", fmt.Sprintf("/api/v1/orgs/a/computers/%d/revoke", er.ComputerID), e.admin, nil)
		r := e.do("POST", protocol.PathCheckIn, er2.Credential, base)
		if r.status != 401 || r.err(t).Error.Code != "agent_revoked" {
			t.Errorf("revoked agent: %d %s", r.status, r.body)
		}
		var er4 protocol.EnrollResponse
		e.must(201, "POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: tok, PreviousCredential: er2.Credential,
			Inventory: testInventory("web-01")}).json(t, &er4)
		if er4.ComputerID == er.ComputerID {
			t.Error("enrolling again un-revoked a revoked computer")
		}
		// Enrollment is audited, as the enrollment token.
		var evs struct{ Items []store.AuditEvent }
		e.must(200, "GET", "/api/v1/audit?action=computer.enroll", e.admin, nil).json(t, &evs)
		if len(evs.Items) != 4 || evs.Items[0].Actor != "enroll-token:test" {
			t.Errorf("enroll audit %+v", evs.Items)
		}
	})
}

// After a key rotation the server vouches for its new key with the old one; an agent that
// trusts a key the server does not know is told to enroll again.
func TestSigningKeyRotation(t *testing.T) {
	_, oldKey, _ := ed25519.GenerateKey(nil)
	_, newKey, _ := ed25519.GenerateKey(nil)
	e := newEnvWith(t, store.SQLite, func(c *server.Config) { c.SigningKey = newKey; c.PreviousSigningKeys = []ed25519.PrivateKey{oldKey} })
	e.createOrg("a")
	er := e.enroll(e.enrollToken("a", nil), "h")
	oldPub := oldKey.Public().(ed25519.PublicKey)
	cr := e.checkin(er.Credential, protocol.CheckIn{KeyID: protocol.KeyID(oldPub)})
	if cr.KeyRotation == nil {
		t.Fatal("no key rotation for an agent that trusts the old key")
	}
	var rot protocol.KeyRotation
	if err := cr.KeyRotation.Verify(oldPub, protocol.KindKeyRotation, &rot); err != nil {
		t.Fatal(err)
	}
	if rot.NewKey != protocol.EncodeKey(newKey.Public().(ed25519.PublicKey)) {
		t.Error("the rotation names another key")
	}
	if _, err := protocol.VerifyAssignments(cr.Assignments, newKey.Public().(ed25519.PublicKey), er.ComputerID, 0, ""); err != nil {
		t.Errorf("list under the new key: %v", err)
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	r := e.do("POST", protocol.PathCheckIn, er.Credential, protocol.CheckIn{KeyID: protocol.KeyID(stranger.Public().(ed25519.PublicKey))})
	if r.status != 409 || r.err(t).Error.Code != "unknown_signing_key" {
		t.Errorf("unknown key: %d %s", r.status, r.body)
	}
}

// Check-ins are rate limited per computer: one machine (or a stolen credential) cannot
// flood the server, and others are not affected.
func TestCheckInRateLimit(t *testing.T) {
	e := newEnvWith(t, store.SQLite, func(c *server.Config) { c.AgentBurst = 3 })
	e.createOrg("a")
	tok := e.enrollToken("a", nil)
	one, two := e.enroll(tok, "one"), e.enroll(tok, "two")
	for range 3 {
		e.checkin(one.Credential, protocol.CheckIn{})
	}
	r := e.do("POST", protocol.PathCheckIn, one.Credential, protocol.CheckIn{})
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.err(t).Error.Code != "rate_limited" {
		t.Fatalf("4th check-in: %d %s", r.status, r.body)
	}
	e.checkin(two.Credential, protocol.CheckIn{})
}
