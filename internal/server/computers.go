package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/patchday/patchday/internal/auth"
	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
)

// Enrollment tokens live 7 days unless asked otherwise, at most a year.
const defaultEnrollTTL = 7 * 24 * time.Hour

type createEnrollTokenRequest struct {
	Name      string   `json:"name"`
	ExpiresIn string   `json:"expires_in"`
	MaxUses   *int64   `json:"max_uses"`
	Groups    []string `json:"groups"`
}

type enrollTokenResponse struct {
	store.EnrollToken
	Secret string `json:"token"`
}

func (s *Server) createEnrollToken(c *call) error {
	var req createEnrollTokenRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkName("name", req.Name, 100); err != nil {
		return err
	}
	ttl := defaultEnrollTTL
	if req.ExpiresIn != "" {
		var err error
		if ttl, err = parseTTL(req.ExpiresIn); err != nil {
			return err
		}
	}
	if req.MaxUses != nil && (*req.MaxUses < 1 || *req.MaxUses > 1_000_000) {
		return errInvalid("max_uses", "must be from 1 to 1000000, or absent for no limit")
	}
	if len(req.Groups) > 32 {
		return errInvalid("groups", "must name at most 32 groups")
	}
	for i, g := range req.Groups {
		field := "groups[" + strconv.Itoa(i) + "]"
		if err := checkSlug(field, g); err != nil {
			return err
		}
		grp, err := s.store.GroupByName(c.r.Context(), c.org.ID, g)
		if errors.Is(err, store.ErrNotFound) {
			return errInvalid(field, "names no group of this organisation (patchday group create %s)", g)
		} else if err != nil {
			return err
		}
		if grp.Rule != "" {
			return errInvalid(field, "names a dynamic group, whose rule decides its members")
		}
	}
	secret, prefix, hash := auth.NewSecret(auth.EnrollPrefix)
	ctx := c.r.Context()
	var t store.EnrollToken
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		t, err = tx.CreateEnrollToken(ctx, store.EnrollToken{OrgID: c.org.ID, Name: req.Name, Prefix: prefix, Hash: hash,
			Groups: req.Groups, MaxUses: req.MaxUses, CreatedBy: c.user.Username, ExpiresAt: s.cfg.Now().Add(ttl)})
		if err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "enroll_token.create", "enroll_token", itoa(t.ID),
			map[string]any{"name": t.Name, "expires_at": t.ExpiresAt, "max_uses": t.MaxUses, "groups": t.Groups})
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, enrollTokenResponse{EnrollToken: t, Secret: secret})
	return nil
}

func (s *Server) listEnrollTokens(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	ts, err := s.store.ListEnrollTokens(c.r.Context(), c.org.ID, store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	writeList(c.w, ts, p.Limit, func(t store.EnrollToken) int64 { return t.ID })
	return nil
}

func (s *Server) revokeEnrollToken(c *call) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	var t store.EnrollToken
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if t, err = tx.RevokeEnrollToken(ctx, c.org.ID, id); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "enroll_token.revoke", "enroll_token", itoa(id), map[string]any{"name": t.Name})
	})
	if err != nil {
		return storeErr(err, "enrollment token "+itoa(id))
	}
	writeJSON(c.w, http.StatusOK, t)
	return nil
}

// computerOf finds the computer a path names, by id or by host name.
func (s *Server) computerOf(c *call) (store.Computer, error) {
	ref := c.r.PathValue("computer")
	var comp store.Computer
	var err error
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		comp, err = s.store.Computer(c.r.Context(), c.org.ID, id)
	} else {
		comp, err = s.store.ComputerByHostname(c.r.Context(), c.org.ID, ref)
	}
	if err != nil {
		return store.Computer{}, storeErr(err, "computer "+quote(ref))
	}
	return comp, nil
}

func (s *Server) listComputers(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	f := store.ComputerFilter{Text: q.Get("q"), Page: store.Page{After: p.After, Limit: p.Limit + 1}}
	if v := q.Get("not_seen_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3650 {
			return errInvalid("not_seen_days", "must be a number of days from 1 to 3650")
		}
		f.NotSeenFor = time.Duration(n) * 24 * time.Hour
	}
	switch v := q.Get("revoked"); v {
	case "":
	case "true", "false":
		b := v == "true"
		f.Revoked = &b
	default:
		return errInvalid("revoked", "must be true or false")
	}
	cs, err := s.store.ListComputers(c.r.Context(), c.org.ID, f)
	if err != nil {
		return err
	}
	writeList(c.w, cs, p.Limit, func(c store.Computer) int64 { return c.ID })
	return nil
}

// computerDetail is a computer with where its updates stand and its latest results.
type computerDetail struct {
	store.Computer
	Packages int                       `json:"packages"`
	Updates  []store.ComputerUpdate    `json:"updates"`
	Results  []store.InstallResult     `json:"results"`
	History  []store.StateHistoryEntry `json:"history"` // the latest changes of state
}

func (s *Server) getComputer(c *call) error {
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	d := computerDetail{Computer: comp, Updates: []store.ComputerUpdate{}, Results: []store.InstallResult{}, History: []store.StateHistoryEntry{}}
	if comp.InventoryHash != "" {
		inv, err := s.inventoryOf(c, comp)
		if err != nil {
			return err
		}
		d.Packages = len(inv.Packages)
	}
	if ups, err := s.store.ComputerUpdates(ctx, comp.ID); err != nil {
		return err
	} else if ups != nil {
		d.Updates = ups
	}
	if rs, err := s.store.ListResults(ctx, comp.ID, 20); err != nil {
		return err
	} else if rs != nil {
		d.Results = rs
	}
	if h, err := s.store.StateHistory(ctx, comp.ID, 50); err != nil {
		return err
	} else if h != nil {
		d.History = h
	}
	writeJSON(c.w, http.StatusOK, d)
	return nil
}

func (s *Server) inventoryOf(c *call, comp store.Computer) (protocol.Inventory, error) {
	b, err := s.store.Inventory(c.r.Context(), comp.InventoryHash)
	if err != nil {
		return protocol.Inventory{}, err
	}
	return compliance.DecodeInventory(b)
}

func (s *Server) getInventory(c *call) error {
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	if comp.InventoryHash == "" {
		return errNotFound("inventory of computer " + itoa(comp.ID))
	}
	inv, err := s.inventoryOf(c, comp)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, inv)
	return nil
}

func (s *Server) revokeComputer(c *call) error {
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if comp, err = tx.RevokeComputer(ctx, c.org.ID, comp.ID, c.user.Username); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "computer.revoke", "computer", itoa(comp.ID), map[string]any{"hostname": comp.Hostname})
	})
	if err != nil {
		return storeErr(err, "computer "+itoa(comp.ID))
	}
	s.eval.Forget(comp.ID)
	writeJSON(c.w, http.StatusOK, comp)
	return nil
}

// deleteComputer removes a revoked computer and its records, for machines that are gone
// (or enrolled again under a new identity).
func (s *Server) deleteComputer(c *call) error {
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteComputer(ctx, c.org.ID, comp.ID); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "computer.delete", "computer", itoa(comp.ID), map[string]any{"hostname": comp.Hostname})
	})
	if errors.Is(err, store.ErrConflict) {
		return errConflict("computer %d (%s) is not revoked: revoke it first, so that its agent is refused", comp.ID, comp.Hostname)
	}
	if err != nil {
		return storeErr(err, "computer "+itoa(comp.ID))
	}
	s.eval.Forget(comp.ID)
	s.reports.changed(c.org.ID)
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

type assignRequest struct {
	Deadline *time.Time `json:"deadline"`
}

// assignUpdate approves one update for one computer: it reaches the agent at its next
// check-in when the computer needs it. The approval never changes what the applicability
// evaluator judged: assigning an update the computer does not need (not applicable, already
// installed, superseded) records the approval and answers 200 with that state, and its agent
// gets nothing to install. Assigning again replaces the deadline: the same state.
func (s *Server) assignUpdate(c *call) error {
	var req assignRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	if comp.RevokedAt != nil {
		return errConflict("computer %d is revoked", comp.ID)
	}
	ctx := c.r.Context()
	name := c.r.PathValue("update")
	u, err := s.store.UpdateByName(ctx, c.org.ID, name)
	if err != nil {
		return storeErr(err, "update "+quote(name))
	}
	judged := compliance.Judges(u.Definition)
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		state, err := tx.Assign(ctx, c.org.ID, comp.ID, u.ID, req.Deadline, c.user.Username, judged)
		if err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "computer.assign", "computer", itoa(comp.ID), map[string]any{"update": u.Name, "deadline": req.Deadline,
			"state": state})
	})
	if err != nil {
		return err
	}
	ups, err := s.store.ComputerUpdates(ctx, comp.ID)
	if err != nil {
		return err
	}
	for _, cu := range ups {
		if cu.UpdateID == u.ID {
			writeJSON(c.w, http.StatusOK, cu)
			return nil
		}
	}
	return errors.New("assignment vanished")
}

func (s *Server) unassignUpdate(c *call) error {
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	name := c.r.PathValue("update")
	u, err := s.store.UpdateByName(ctx, c.org.ID, name)
	if err != nil {
		return storeErr(err, "update "+quote(name))
	}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Unassign(ctx, c.org.ID, comp.ID, u.ID); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "computer.unassign", "computer", itoa(comp.ID), map[string]any{"update": u.Name})
	})
	if err != nil {
		return storeErr(err, "assignment of "+quote(name)+" to computer "+itoa(comp.ID))
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
