package server_test

import (
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/store"
)

// A site admin resets passwords and disables accounts; each ends the user's sessions.
func TestAccountControl(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		alice := e.createUser("a", "alice", store.RoleAdmin)
		e.createUser("a", "bob", store.RoleViewer)

		// An organisation admin is no site admin.
		e.must(403, "GET", "/api/v1/users", alice, nil)
		var all struct{ Items []store.User }
		e.must(200, "GET", "/api/v1/users?limit=500", e.admin, nil).json(t, &all)
		names := map[string]bool{}
		for _, u := range all.Items {
			names[u.Username] = true
		}
		if !names["admin"] || !names["alice"] || !names["bob"] {
			t.Errorf("every account: %v", names)
		}
		e.must(403, "POST", "/api/v1/users/bob/disable", alice, nil)
		e.must(403, "POST", "/api/v1/users/bob/password", alice, map[string]any{})

		// Disabled: the session ends and no login works; enabled again: logins work, the old
		// session stays ended.
		var u store.User
		e.must(200, "POST", "/api/v1/users/alice/disable", e.admin, nil).json(t, &u)
		if !u.Disabled {
			t.Errorf("disable answered %+v", u)
		}
		e.must(401, "GET", "/api/v1/me", alice, nil)
		e.must(401, "POST", "/api/v1/auth/login", "", map[string]string{"username": "alice", "password": "alice-password-123"})
		e.must(200, "POST", "/api/v1/users/alice/enable", e.admin, nil)
		e.must(401, "GET", "/api/v1/me", alice, nil)
		alice = e.login("alice", "alice-password-123")

		// A reset with a generated password: answered once, the old one and the session end.
		var reset struct {
			Username      string `json:"username"`
			Password      string `json:"password"`
			TokensRevoked int64  `json:"tokens_revoked"`
		}
		e.must(200, "POST", "/api/v1/users/alice/password", e.admin, map[string]any{}).json(t, &reset)
		if reset.Username != "alice" || len(reset.Password) < 12 || reset.TokensRevoked != 1 {
			t.Errorf("reset answered %+v", reset)
		}
		e.must(401, "GET", "/api/v1/me", alice, nil)
		e.must(401, "POST", "/api/v1/auth/login", "", map[string]string{"username": "alice", "password": "alice-password-123"})
		// A password someone else set: the login says so, and nothing but /me, the password
		// change and logout works until the owner chose their own.
		var login struct {
			Token                  string `json:"token"`
			PasswordChangeRequired bool   `json:"password_change_required"`
		}
		e.must(201, "POST", "/api/v1/auth/login", "", map[string]string{"username": "alice", "password": reset.Password}).json(t, &login)
		if !login.PasswordChangeRequired {
			t.Error("the login does not say the password must change")
		}
		if r := e.do("GET", "/api/v1/orgs/a/advisories", login.Token, nil); r.status != 403 || r.err(t).Error.Code != "password_change_required" {
			t.Errorf("before the change: %d %s", r.status, r.body)
		}
		e.must(403, "POST", "/api/v1/tokens", login.Token, map[string]string{"name": "sneaky"})
		e.must(200, "GET", "/api/v1/me", login.Token, nil)
		e.must(204, "POST", "/api/v1/me/password", login.Token, map[string]string{"current_password": reset.Password, "new_password": "alice-own-password-9"})
		e.must(200, "GET", "/api/v1/orgs/a/advisories", login.Token, nil)
		reset.Password = "alice-own-password-9"
		e.login("alice", reset.Password)
		// A chosen one is checked and not echoed.
		if r := e.do("POST", "/api/v1/users/alice/password", e.admin, map[string]any{"password": "short"}); r.status != 400 || r.err(t).Error.Field != "password" {
			t.Errorf("short password: %d %s", r.status, r.body)
		}
		r := e.must(200, "POST", "/api/v1/users/alice/password", e.admin, map[string]any{"password": "a-chosen-password-42"})
		if strings.Contains(string(r.body), "a-chosen-password-42") {
			t.Error("the chosen password is echoed")
		}
		e.login("alice", "a-chosen-password-42")

		e.must(409, "POST", "/api/v1/users/admin/disable", e.admin, nil) // oneself
		e.must(404, "POST", "/api/v1/users/nobody/disable", e.admin, nil)
		e.must(404, "POST", "/api/v1/users/nobody/password", e.admin, map[string]any{})
	})
}
