package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/auth"
	"github.com/patchday/patchday/internal/store"
)

// Token lifetimes: the default for new tokens, and the longest allowed.
const (
	defaultTokenTTL = 90 * 24 * time.Hour
	maxTokenTTL     = 366 * 24 * time.Hour
)

type createTokenRequest struct {
	Name      string `json:"name"`
	ExpiresIn string `json:"expires_in"` // a Go duration ("720h") or days ("30d")
}

// parseTTL reads a lifetime such as "12h", "90m" or "30d".
func parseTTL(v string) (time.Duration, error) {
	if v == "" {
		return defaultTokenTTL, nil
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, errInvalid("expires_in", "must be a duration like 12h or 30d")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, errInvalid("expires_in", "must be a duration like 12h or 30d")
		}
	}
	if d < time.Minute || d > maxTokenTTL {
		return 0, errInvalid("expires_in", "must be between 1m and %dd", int(maxTokenTTL/(24*time.Hour)))
	}
	return d, nil
}

func (s *Server) createToken(c *call) error {
	var req createTokenRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkName("name", req.Name, 100); err != nil {
		return err
	}
	ttl, err := parseTTL(req.ExpiresIn)
	if err != nil {
		return err
	}
	secret, prefix, hash := auth.NewToken()
	ctx := c.r.Context()
	var t store.Token
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		t, err = tx.CreateToken(ctx, store.Token{UserID: c.user.ID, Name: req.Name, Prefix: prefix, Hash: hash, ExpiresAt: s.cfg.Now().Add(ttl)})
		if err != nil {
			return err
		}
		return c.audit(tx, 0, "token.create", "token", itoa(t.ID), map[string]any{"name": t.Name, "expires_at": t.ExpiresAt})
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, tokenResponse{Token: t, Secret: secret})
	return nil
}

// listTokens lists the caller's tokens; a site admin may list everyone's with ?all=true.
func (s *Server) listTokens(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	user := c.user.ID
	switch c.r.URL.Query().Get("all") {
	case "", "false":
	case "true":
		if !c.user.SiteAdmin {
			return errForbidden
		}
		user = 0
	default:
		return errInvalid("all", "must be true or false")
	}
	ts, err := s.store.ListTokens(c.r.Context(), user, store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	writeList(c.w, ts, p.Limit, func(t store.Token) int64 { return t.ID })
	return nil
}

// revokeToken revokes one of the caller's tokens (any token, for a site admin).
func (s *Server) revokeToken(c *call) error {
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return errInvalid("id", "must be a token id (a positive integer)")
	}
	ctx := c.r.Context()
	var t store.Token
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.Token(ctx, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && cur.UserID != c.user.ID && !c.user.SiteAdmin {
			return errNotFound("token " + itoa(id))
		} else if err != nil {
			return err
		}
		if t, err = tx.RevokeToken(ctx, id); err != nil {
			return err
		}
		return c.audit(tx, 0, "token.revoke", "token", itoa(id), map[string]any{"name": cur.Name})
	})
	if err != nil {
		return err
	}
	s.cache.invalidate()
	writeJSON(c.w, http.StatusOK, t)
	return nil
}
