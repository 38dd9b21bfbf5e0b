package server_test

import (
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// A user who must change their password (here a partner whose password was reset) reads
// nothing of the CSAF provider's restricted folders either, until they do.
func TestProviderHonoursPasswordChangeRequired(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		past, future := e.clock().Add(-48*time.Hour), e.clock().Add(72*time.Hour)
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, tlpCSAF(t, "ACME-2026-0002", "AMBER", past))
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, tlpCSAF(t, "ACME-2026-0003", "AMBER", future))
		if err := e.srv.Publish(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.createUser("default", "pat", store.RolePartner)
		var reset struct{ Password string }
		e.must(200, "POST", "/api/v1/users/pat/password", e.admin, map[string]any{}).json(t, &reset)
		pat := e.login("pat", reset.Password)
		// The API proper refuses the token...
		if r := e.do("GET", "/api/v1/orgs/default/advisories", pat, nil); r.status != 403 {
			t.Fatalf("API before the change: %d %s", r.status, r.body)
		}
		// ...and so must the provider's restricted folders.
		amber := "/.well-known/csaf/amber/" + past.UTC().Format("2006") + "/acme-2026-0002.json"
		early := "/.well-known/csaf/amber/" + future.UTC().Format("2006") + "/acme-2026-0003.json"
		for _, p := range []string{amber, early, "/.well-known/csaf/amber/index.txt"} {
			if r := e.do("GET", p, pat, nil); r.status != 403 {
				t.Errorf("GET %s with a token whose password must change: %d, want 403 password_change_required: %.120s", p, r.status, r.body)
			}
		}
	})
}

// The forced change ends the use of a password someone else knows: the same password again
// is refused as the new one, and the requirement stays.
func TestForcedChangeRefusesSamePassword(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createUser("default", "alice", store.RoleViewer)
		var reset struct{ Password string }
		e.must(200, "POST", "/api/v1/users/alice/password", e.admin, map[string]any{}).json(t, &reset)
		tok := e.login("alice", reset.Password)
		r := e.do("POST", "/api/v1/me/password", tok, map[string]string{"current_password": reset.Password, "new_password": reset.Password})
		if r.status != 400 {
			t.Errorf("changing to the same (admin-known) password: %d, want 400 on new_password: %s", r.status, r.body)
		}
		if r := e.do("GET", "/api/v1/orgs/default/advisories", tok, nil); r.status != 403 {
			t.Errorf("after 'changing' to the same password the requirement is gone: GET advisories %d", r.status)
		}
	})
}
