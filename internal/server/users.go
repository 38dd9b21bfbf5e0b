package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/patchday/patchday/internal/auth"
	"github.com/patchday/patchday/internal/notify"
	"github.com/patchday/patchday/internal/store"
)

type createUserRequest struct {
	Username    string     `json:"username"`
	Password    string     `json:"password"`
	DisplayName string     `json:"display_name"`
	Email       string     `json:"email"`
	Role        store.Role `json:"role"`
}

type createUserResponse struct {
	store.Member
	// Password is set only when the server generated it; it is shown this once.
	Password string `json:"password,omitempty"`
}

func checkRole(r store.Role) error {
	if r == "" {
		return errInvalid("role", "is required")
	}
	if !r.Valid() {
		return errInvalid("role", "must be one of admin, operator, viewer, partner")
	}
	return nil
}

func checkEmail(v string) error {
	if v == "" {
		return nil
	}
	at := strings.LastIndexByte(v, '@')
	if len(v) > 254 || at < 1 || at == len(v)-1 || strings.ContainsAny(v, " \t\r\n<>,;\"") {
		return errInvalid("email", "must be an address like name@example.org")
	}
	return nil
}

func (s *Server) createUser(c *call) error {
	var req createUserRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkSlug("username", req.Username); err != nil {
		return err
	}
	if req.Username == notify.SignupActor {
		// The audit log and the subscriptions name the public sign-up so.
		return errInvalid("username", "%q is reserved for the public sign-up", req.Username)
	}
	if err := checkRole(req.Role); err != nil {
		return err
	}
	if req.DisplayName != "" {
		if err := checkName("display_name", req.DisplayName, 200); err != nil {
			return err
		}
	}
	if err := checkEmail(req.Email); err != nil {
		return err
	}
	hash, generated, err := passwordHash(req.Password)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	var u store.User
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		u, err = tx.CreateUser(ctx, store.User{Username: req.Username, DisplayName: req.DisplayName, Email: req.Email, PasswordHash: hash,
			PasswordChangeRequired: generated != ""})
		if err != nil {
			return storeErr(err, "user "+quote(req.Username))
		}
		if err := tx.SetRole(ctx, c.org.ID, u.ID, req.Role); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "user.create", "user", u.Username,
			map[string]any{"role": req.Role, "display_name": req.DisplayName, "email": req.Email})
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, createUserResponse{Member: store.Member{User: u, OrgID: c.org.ID, Role: req.Role}, Password: generated})
	return nil
}

func (s *Server) listUsers(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	role := store.Role(c.r.URL.Query().Get("role"))
	if role != "" && !role.Valid() {
		return errInvalid("role", "must be one of admin, operator, viewer, partner")
	}
	ms, err := s.store.ListMembers(c.r.Context(), c.org.ID, role, store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	writeList(c.w, ms, p.Limit, func(m store.Member) int64 { return m.ID })
	return nil
}

func (s *Server) getUser(c *call) error {
	name := c.r.PathValue("user")
	m, err := s.store.Member(c.r.Context(), c.org.ID, name)
	if err != nil {
		return storeErr(err, "user "+quote(name))
	}
	writeJSON(c.w, http.StatusOK, m)
	return nil
}

type roleRequest struct {
	Role store.Role `json:"role"`
}

// setRole changes a member's role. A site admin may also add any existing user to the
// organisation this way; an organisation admin can only change its own members, so that
// other organisations' users stay invisible.
func (s *Server) setRole(c *call) error {
	var req roleRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkRole(req.Role); err != nil {
		return err
	}
	name := c.r.PathValue("user")
	ctx := c.r.Context()
	var m store.Member
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.Member(ctx, c.org.ID, name)
		switch {
		case errors.Is(err, store.ErrNotFound) && c.user.SiteAdmin:
			u, uerr := tx.UserByName(ctx, name)
			if uerr != nil {
				return storeErr(uerr, "user "+quote(name))
			}
			cur = store.Member{User: u, OrgID: c.org.ID}
		case err != nil:
			return storeErr(err, "user "+quote(name))
		}
		if cur.Role == store.RoleAdmin && req.Role != store.RoleAdmin {
			if err := lastAdminGuard(c, tx); err != nil {
				return err
			}
		}
		if err := tx.SetRole(ctx, c.org.ID, cur.ID, req.Role); err != nil {
			return err
		}
		m = cur
		m.Role = req.Role
		return c.audit(tx, c.org.ID, "user.set_role", "user", name, map[string]any{"from": cur.Role, "to": req.Role})
	})
	if err != nil {
		return err
	}
	s.cache.invalidate()
	writeJSON(c.w, http.StatusOK, m)
	return nil
}

func (s *Server) removeUser(c *call) error {
	name := c.r.PathValue("user")
	ctx := c.r.Context()
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.Member(ctx, c.org.ID, name)
		if err != nil {
			return storeErr(err, "user "+quote(name))
		}
		if cur.Role == store.RoleAdmin {
			if err := lastAdminGuard(c, tx); err != nil {
				return err
			}
		}
		if err := tx.RemoveMember(ctx, c.org.ID, cur.ID); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "user.remove", "user", name, map[string]any{"role": cur.Role})
	})
	if err != nil {
		return err
	}
	s.cache.invalidate()
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// lastAdminGuard refuses to leave an organisation without an admin.
func lastAdminGuard(c *call, tx *store.Tx) error {
	if err := tx.LockOrg(c.r.Context(), c.org.ID); err != nil {
		return err
	}
	admins, err := tx.ListMembers(c.r.Context(), c.org.ID, store.RoleAdmin, store.Page{Limit: 2})
	if err != nil {
		return err
	}
	if len(admins) < 2 {
		return errConflict("organisation %q would have no admin left", c.org.Slug)
	}
	return nil
}

// The site administrator's hold on accounts: reset a user's password (someone forgot
// theirs, or it leaked) and disable or enable an account (someone left). Each ends the
// user's sessions and API tokens, so that whoever held them is out at once.

type resetPasswordRequest struct {
	Password string `json:"password"` // empty: a random one, answered once
}

type resetPasswordResponse struct {
	Username      string `json:"username"`
	Password      string `json:"password,omitempty"` // the generated one, shown only now
	TokensRevoked int64  `json:"tokens_revoked"`
}

func (s *Server) resetPassword(c *call) error {
	var req resetPasswordRequest
	if err := decodeLimit(c.w, c.r, &req, maxLoginBody); err != nil {
		return err
	}
	hash, generated, err := passwordHash(req.Password)
	if err != nil {
		return err
	}
	name := c.r.PathValue("user")
	ctx := c.r.Context()
	var n int64
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByName(ctx, name)
		if err != nil {
			return storeErr(err, "user "+quote(name))
		}
		if err := tx.SetPassword(ctx, u.ID, hash, true); err != nil {
			return err
		}
		if n, err = tx.RevokeUserTokens(ctx, u.ID, c.token.ID); err != nil {
			return err
		}
		return c.audit(tx, 0, "user.password_reset", "user", name, map[string]any{"generated": generated != "", "tokens_revoked": n})
	})
	if err != nil {
		return err
	}
	s.cache.invalidate()
	writeJSON(c.w, http.StatusOK, resetPasswordResponse{Username: name, Password: generated, TokensRevoked: n})
	return nil
}

func (s *Server) disableUser(c *call) error { return s.setDisabled(c, true) }
func (s *Server) enableUser(c *call) error  { return s.setDisabled(c, false) }

func (s *Server) setDisabled(c *call, disabled bool) error {
	name := c.r.PathValue("user")
	ctx := c.r.Context()
	var out store.User
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByName(ctx, name)
		if err != nil {
			return storeErr(err, "user "+quote(name))
		}
		var revoked int64
		if disabled {
			if u.ID == c.user.ID {
				return errConflict("you cannot disable your own account")
			}
			if u.SiteAdmin && !u.Disabled {
				if n, err := tx.CountActiveSiteAdmins(ctx); err != nil {
					return err
				} else if n < 2 {
					return errConflict("%s is the last site administrator", name)
				}
			}
			if revoked, err = tx.RevokeUserTokens(ctx, u.ID, 0); err != nil {
				return err
			}
		}
		if err := tx.SetDisabled(ctx, u.ID, disabled); err != nil {
			return err
		}
		u.Disabled = disabled
		out = u
		action := "user.enable"
		if disabled {
			action = "user.disable"
		}
		return c.audit(tx, 0, action, "user", name, map[string]any{"tokens_revoked": revoked})
	})
	if err != nil {
		return err
	}
	s.cache.invalidate()
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// passwordHash hashes a password given for a user, checked against the policy, or, when
// none is given, a random one it also returns, for the caller to show once.
func passwordHash(given string) (hash, generated string, err error) {
	if given == "" {
		generated = auth.RandomPassword()
		given = generated
	} else if err := auth.CheckPasswordPolicy(given); err != nil {
		return "", "", errInvalid("password", "%v", err)
	}
	hash, err = auth.HashPassword(given)
	return hash, generated, err
}

// listAllUsers lists every account of the server, in any organisation or none (site admins).
func (s *Server) listAllUsers(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	us, err := s.store.ListUsers(c.r.Context(), store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	writeList(c.w, us, p.Limit, func(u store.User) int64 { return u.ID })
	return nil
}
