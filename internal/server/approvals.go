package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/patchday/patchday/internal/store"
)

type approvalRequest struct {
	Group    string     `json:"group"`
	Action   string     `json:"action"` // install (default) or decline
	Deadline *time.Time `json:"deadline"`
}

type approvalResponse struct {
	store.Approval
	Warnings []string `json:"warnings"`
}

func (s *Server) updateOf(c *call) (store.Update, error) {
	name := c.r.PathValue("name")
	u, err := s.store.UpdateByName(c.r.Context(), c.org.ID, name)
	if err != nil {
		return store.Update{}, storeErr(err, "update "+quote(name))
	}
	return u, nil
}

// approve records the decision for an update and a group: install, with an optional
// deadline, or decline. It reaches the group's computers at their next check-in.
func (s *Server) approve(c *call) error {
	var req approvalRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	switch req.Action {
	case "":
		req.Action = "install"
	case "install", "decline":
	default:
		return errInvalid("action", "must be install or decline")
	}
	if req.Action == "decline" && req.Deadline != nil {
		return errInvalid("deadline", "is for install approvals")
	}
	if req.Deadline != nil && req.Deadline.Before(s.cfg.Now().Add(-24*time.Hour)) {
		return errInvalid("deadline", "is in the past")
	}
	u, err := s.updateOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	g, err := s.store.GroupByName(ctx, c.org.ID, req.Group)
	if errors.Is(err, store.ErrNotFound) {
		return errInvalid("group", "names no group of this organisation")
	} else if err != nil {
		return err
	}
	rel, err := s.store.Relations(ctx, u.ID)
	if err != nil {
		return err
	}
	resp := approvalResponse{Warnings: []string{}}
	if req.Action == "install" && len(rel.SupersededBy) > 0 {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("%s is superseded by %v: machines that need the newer update get that one instead", u.Name, rel.SupersededBy))
	}
	var moved int
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if resp.Approval, err = tx.SetApproval(ctx, store.Approval{OrgID: c.org.ID, UpdateID: u.ID, GroupID: g.ID, Action: req.Action,
			Deadline: req.Deadline, CreatedBy: c.user.Username}); err != nil {
			return err
		}
		if moved, err = tx.SyncApprovals(ctx, c.org.ID, u.ID, 0); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "update."+req.Action, "update", u.Name, map[string]any{"group": g.Name, "deadline": req.Deadline, "computers": moved})
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, resp)
	return nil
}

// changeApproval runs change on the approval of the path's update for the path's group, then
// re-syncs the update's states and audits action. what names the object a 404 is about.
func (s *Server) changeApproval(c *call, action, what string, details map[string]any,
	change func(tx *store.Tx, u store.Update, g store.Group) error) error {
	u, err := s.updateOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	name := c.r.PathValue("group")
	g, err := s.store.GroupByName(ctx, c.org.ID, name)
	if err != nil {
		return storeErr(err, "group "+quote(name))
	}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if err := change(tx, u, g); err != nil {
			return err
		}
		if _, err := tx.SyncApprovals(ctx, c.org.ID, u.ID, 0); err != nil {
			return err
		}
		if details == nil {
			details = map[string]any{}
		}
		details["group"] = g.Name
		return c.audit(tx, c.org.ID, action, "update", u.Name, details)
	})
	if err != nil {
		return storeErr(err, what+" of "+quote(u.Name)+" in group "+quote(g.Name))
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) unapprove(c *call) error {
	return s.changeApproval(c, "update.unapprove", "approval", nil, func(tx *store.Tx, u store.Update, g store.Group) error {
		return tx.DeleteApproval(c.r.Context(), c.org.ID, u.ID, g.ID)
	})
}

func (s *Server) listApprovals(c *call) error {
	u, err := s.updateOf(c)
	if err != nil {
		return err
	}
	as, err := s.store.ListApprovals(c.r.Context(), c.org.ID, u.ID)
	if err != nil {
		return err
	}
	if as == nil {
		as = []store.Approval{}
	}
	writeJSON(c.w, http.StatusOK, listResponse[store.Approval]{Items: as})
	return nil
}

// rolloutStatus tells, group by group (rings first), where an update stands.
func (s *Server) rolloutStatus(c *call) error {
	u, err := s.updateOf(c)
	if err != nil {
		return err
	}
	gs, err := s.store.Rollout(c.r.Context(), c.org.ID, u.ID)
	if err != nil {
		return err
	}
	if gs == nil {
		gs = []store.RolloutGroup{}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"update": u.Name, "groups": gs})
	return nil
}

// haltRollout stops an update's approval for a group by hand.
func (s *Server) haltRollout(c *call) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if len(req.Reason) > 500 {
		return errInvalid("reason", "must be at most 500 characters")
	}
	if req.Reason == "" {
		req.Reason = "halted by " + c.user.Username
	}
	return s.changeApproval(c, "update.halt", "running rollout", map[string]any{"reason": req.Reason},
		func(tx *store.Tx, u store.Update, g store.Group) error {
			ctx := c.r.Context()
			if err := tx.HaltApproval(ctx, c.org.ID, u.ID, g.ID, req.Reason); err != nil {
				return err
			}
			return tx.AddEvent(ctx, c.org.ID, "rollout.halted", u.Name, fmt.Sprintf(`{"update":%q,"group":%q,"by":%q}`, u.Name, g.Name, c.user.Username))
		})
}

// resumeRollout lifts the halt of an update's approval for a group.
func (s *Server) resumeRollout(c *call) error {
	return s.changeApproval(c, "update.resume", "halted rollout", nil, func(tx *store.Tx, u store.Update, g store.Group) error {
		return tx.ResumeApproval(c.r.Context(), c.org.ID, u.ID, g.ID)
	})
}

// listEvents answers the organisation's latest events (rollout halts, ...).
func (s *Server) listEvents(c *call) error {
	evs, err := s.store.ListEvents(c.r.Context(), c.org.ID, 100)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []store.Event{}
	}
	writeJSON(c.w, http.StatusOK, listResponse[store.Event]{Items: evs})
	return nil
}
