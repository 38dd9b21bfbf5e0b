package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchday/patchday/internal/auth"
	"github.com/patchday/patchday/internal/store"
)

// touchEvery is how often a token's last-used time is written: often enough to be useful,
// rarely enough that reads do not become writes.
const touchEvery = time.Minute

// authenticate finds the caller from the bearer token.
func (s *Server) authenticate(c *call) error {
	h := c.r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errUnauthenticated
	}
	tok = strings.TrimSpace(tok)
	if !auth.LooksLikeToken(tok) {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "malformed API token"}
	}
	ctx := c.r.Context()
	// The generation is read before the lookup: a change that commits while this request
	// runs must not have its effect undone by re-caching what this request read.
	gen := s.cache.gen.Load()
	p, err := s.principal(ctx, auth.HashToken(tok), gen)
	if errors.Is(err, store.ErrNotFound) {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "unknown API token"}
	} else if err != nil {
		return err
	}
	t, u := p.token, p.user
	now := s.cfg.Now()
	switch {
	case t.RevokedAt != nil:
		return &apiError{Status: http.StatusUnauthorized, Code: "token_revoked", Message: "the API token was revoked"}
	case !now.Before(t.ExpiresAt):
		return &apiError{Status: http.StatusUnauthorized, Code: "token_expired", Message: "the API token expired at " + t.ExpiresAt.Format(time.RFC3339)}
	case u.Disabled:
		return &apiError{Status: http.StatusUnauthorized, Code: "user_disabled", Message: "the user is disabled"}
	}
	c.user, c.token, c.member = u, t, p.members
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > touchEvery {
		if err := s.store.Update(ctx, func(tx *store.Tx) error { return tx.TouchToken(ctx, t.ID, now) }); err != nil {
			s.log.Warn("record token use", "token_id", t.ID, "err", err)
		}
		// Keep the cached copy current, or every request would write again until it expires.
		t.LastUsedAt = &now
		remember(s.cache, s.cache.principals, p.token.Hash, principal{token: t, user: u, members: p.members}, gen, now)
	}
	return nil
}

// principal loads the caller a token hash belongs to, through the cache.
func (s *Server) principal(ctx context.Context, hash string, gen uint64) (principal, error) {
	now := s.cfg.Now()
	if p, ok := lookup(s.cache, s.cache.principals, hash, now); ok {
		return p, nil
	}
	t, u, err := s.store.TokenByHash(ctx, hash)
	if err != nil {
		return principal{}, err
	}
	members, err := s.store.Memberships(ctx, u.ID)
	if err != nil {
		return principal{}, err
	}
	p := principal{token: t, user: u, members: members}
	remember(s.cache, s.cache.principals, hash, p, gen, now)
	return p, nil
}

type loginRequest struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	TokenName string `json:"token_name"`
}

type tokenResponse struct {
	store.Token
	Secret string `json:"token"`
	// PasswordChangeRequired (a login's answer) says the user must choose their own password
	// before the token does anything else.
	PasswordChangeRequired bool `json:"password_change_required,omitempty"`
}

// maxLoginBody bounds a login request: a name and a password.
const maxLoginBody = 8 << 10

// dummyHash is verified against when the user does not exist, so that a login for an unknown
// name takes as long as one for a known name. Made on first use: the CLI never needs it.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword("patchday-dummy-password")
	return h
})

func (s *Server) login(c *call) error {
	ri := info(c.r.Context())
	if wait := s.allowLogin(ri.source); wait > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many login attempts from this address; try again later"}
	}
	var req loginRequest
	if err := decodeLimit(c.w, c.r, &req, maxLoginBody); err != nil {
		return err
	}
	if req.Username == "" {
		return errInvalid("username", "is required")
	}
	if len(req.Username) > 64 || !slugRE.MatchString(req.Username) {
		// No such user can exist; answer like a wrong password, and keep the audit log's
		// record of the attempt short and printable.
		req.Username = strconv.QuoteToASCII(truncate(req.Username, 64))
	}
	if req.Password == "" {
		return errInvalid("password", "is required")
	}
	if req.TokenName == "" {
		req.TokenName = "login"
	}
	if err := checkName("token_name", req.TokenName, 100); err != nil {
		return err
	}
	ctx := c.r.Context()
	u, err := s.store.UserByName(ctx, req.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = dummyHash()
	}
	verr := auth.VerifyPassword(hash, req.Password)
	if err != nil || verr != nil || u.Disabled {
		c.user = store.User{Username: req.Username}
		if aerr := s.store.Update(ctx, func(tx *store.Tx) error {
			return c.audit(tx, 0, "auth.login_failed", "user", req.Username, nil)
		}); aerr != nil {
			return aerr
		}
		return &apiError{Status: http.StatusUnauthorized, Code: "bad_credentials", Message: "wrong username or password"}
	}
	c.user = u
	secret, prefix, tokHash := auth.NewToken()
	var t store.Token
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		t, err = tx.CreateToken(ctx, store.Token{UserID: u.ID, Name: req.TokenName, Prefix: prefix, Hash: tokHash,
			ExpiresAt: s.cfg.Now().Add(s.cfg.SessionTTL)})
		if err != nil {
			return err
		}
		return c.audit(tx, 0, "auth.login", "token", itoa(t.ID), map[string]string{"name": t.Name})
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, tokenResponse{Token: t, Secret: secret, PasswordChangeRequired: u.PasswordChangeRequired})
	return nil
}

func (s *Server) logout(c *call) error {
	ctx := c.r.Context()
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.RevokeToken(ctx, c.token.ID); err != nil {
			return err
		}
		return c.audit(tx, 0, "auth.logout", "token", itoa(c.token.ID), nil)
	})
	if err != nil {
		return err
	}
	s.cache.invalidate()
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

type meResponse struct {
	store.User
	Memberships []store.Membership `json:"memberships"`
	TokenID     int64              `json:"token_id"`
}

func (s *Server) me(c *call) error {
	ms := c.member
	if ms == nil {
		ms = []store.Membership{}
	}
	writeJSON(c.w, http.StatusOK, meResponse{User: c.user, Memberships: ms, TokenID: c.token.ID})
	return nil
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) changePassword(c *call) error {
	if wait := s.allowLogin("user:" + c.user.Username); wait > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many password attempts; try again later"}
	}
	var req passwordRequest
	if err := decodeLimit(c.w, c.r, &req, maxLoginBody); err != nil {
		return err
	}
	ctx := c.r.Context()
	if auth.VerifyPassword(c.user.PasswordHash, req.CurrentPassword) != nil {
		if err := s.store.Update(ctx, func(tx *store.Tx) error {
			return c.audit(tx, 0, "user.password_change_failed", "user", c.user.Username, nil)
		}); err != nil {
			return err
		}
		return errInvalid("current_password", "is wrong")
	}
	if err := auth.CheckPasswordPolicy(req.NewPassword); err != nil {
		return errInvalid("new_password", "%v", err)
	}
	if req.NewPassword == req.CurrentPassword {
		// Above all when someone else set the current one: they would still know it.
		return errInvalid("new_password", "must differ from the current password")
	}
	hash, err := auth.HashPassword(req.NewPassword)
	if err != nil {
		return err
	}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SetPassword(ctx, c.user.ID, hash, false); err != nil {
			return err
		}
		// Sessions opened with the old password (perhaps by whoever learnt it) end now.
		n, err := tx.RevokeUserTokens(ctx, c.user.ID, c.token.ID)
		if err != nil {
			return err
		}
		return c.audit(tx, 0, "user.password_change", "user", c.user.Username, map[string]int64{"tokens_revoked": n})
	})
	if err != nil {
		return err
	}
	s.cache.invalidate()
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
