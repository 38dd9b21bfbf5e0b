package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/rollout"
	"github.com/patchday/patchday/internal/store"
)

type groupRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Rule        *string `json:"rule"`
	Ring        *int    `json:"ring"`
	NoRing      bool    `json:"no_ring"` // PATCH: take the group out of the rings
	Windows     *string `json:"windows"`
	Timezone    *string `json:"timezone"`
	// Rollout limits and halt.
	MaxStarts          *int `json:"max_starts"`
	StartWindowMinutes *int `json:"start_window_minutes"`
	HaltFailurePct     *int `json:"halt_failure_pct"`
	HaltMinAttempts    *int `json:"halt_min_attempts"`
}

// checkGroup validates the fields of a group request that are present.
func checkGroup(req groupRequest) error {
	if req.Name != nil {
		if err := checkSlug("name", *req.Name); err != nil {
			return err
		}
	}
	if req.Description != nil && len(*req.Description) > 1000 {
		return errInvalid("description", "must be at most 1000 characters")
	}
	if req.Rule != nil {
		if _, err := rollout.ParseRule(*req.Rule); err != nil {
			return errInvalid("rule", "%v", err)
		}
	}
	if req.Ring != nil && (*req.Ring < 1 || *req.Ring > 100) {
		return errInvalid("ring", "must be from 1 (the first ring, such as a pilot) to 100")
	}
	for _, f := range []struct {
		name     string
		v        *int
		min, max int
	}{{"max_starts", req.MaxStarts, 0, 1000000}, {"start_window_minutes", req.StartWindowMinutes, 1, 7 * 24 * 60},
		{"halt_failure_pct", req.HaltFailurePct, 0, 100}, {"halt_min_attempts", req.HaltMinAttempts, 1, 1000000}} {
		if f.v != nil && (*f.v < f.min || *f.v > f.max) {
			return errInvalid(f.name, "must be from %d to %d", f.min, f.max)
		}
	}
	if req.Windows != nil || req.Timezone != nil {
		spec, tz := "", ""
		if req.Windows != nil {
			spec = *req.Windows
		}
		if req.Timezone != nil {
			tz = *req.Timezone
		}
		if _, err := rollout.ParseSchedule(spec, tz); err != nil {
			field := "windows"
			if strings.Contains(err.Error(), "time zone") {
				field = "timezone"
			}
			return errInvalid(field, "%v", err)
		}
	}
	return nil
}

// applySchedule sets a group's windows and time zone (in canonical form) and its rollout
// limits from a request.
func applySchedule(g *store.Group, req groupRequest) {
	for _, f := range []struct {
		dst *int
		v   *int
	}{{&g.MaxStarts, req.MaxStarts}, {&g.StartWindowMinutes, req.StartWindowMinutes}, {&g.HaltFailurePct, req.HaltFailurePct},
		{&g.HaltMinAttempts, req.HaltMinAttempts}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if req.Windows != nil {
		g.Windows = *req.Windows
	}
	if req.Timezone != nil {
		g.Timezone = *req.Timezone
	}
	if g.Timezone == "" {
		g.Timezone = "UTC"
	}
	sched, _ := rollout.ParseSchedule(g.Windows, g.Timezone)
	g.Windows = sched.Spec
}

func (s *Server) createGroup(c *call) error {
	var req groupRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return errInvalid("name", "is required")
	}
	if err := checkGroup(req); err != nil {
		return err
	}
	g := store.Group{OrgID: c.org.ID, Name: *req.Name, Ring: req.Ring, CreatedBy: c.user.Username}
	if req.Description != nil {
		g.Description = *req.Description
	}
	if req.Rule != nil {
		r, _ := rollout.ParseRule(*req.Rule)
		g.Rule = r.String()
	}
	applySchedule(&g, req)
	ctx := c.r.Context()
	name := g.Name
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if g, err = tx.CreateGroup(ctx, g); err != nil {
			return err
		}
		if g.Rule != "" {
			if _, _, err := rollout.RefreshGroup(ctx, tx, g); err != nil {
				return err
			}
			if g, err = tx.GroupByID(ctx, g.OrgID, g.ID); err != nil {
				return err
			}
		}
		return c.audit(tx, c.org.ID, "group.create", "group", g.Name, map[string]any{"rule": g.Rule, "ring": g.Ring})
	})
	if errors.Is(err, store.ErrConflict) {
		return &apiError{Status: http.StatusConflict, Code: "conflict", Field: "name", Message: fmt.Sprintf("a group named %q exists", name)}
	} else if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, g)
	return nil
}

func (s *Server) listGroups(c *call) error {
	gs, err := s.store.ListGroups(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	if gs == nil {
		gs = []store.Group{}
	}
	writeJSON(c.w, http.StatusOK, listResponse[store.Group]{Items: gs})
	return nil
}

func (s *Server) groupOf(c *call) (store.Group, error) {
	name := c.r.PathValue("group")
	g, err := s.store.GroupByName(c.r.Context(), c.org.ID, name)
	if err != nil {
		return store.Group{}, storeErr(err, "group "+quote(name))
	}
	return g, nil
}

func (s *Server) getGroup(c *call) error {
	g, err := s.groupOf(c)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, g)
	return nil
}

func (s *Server) updateGroup(c *call) error {
	var req groupRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkGroup(req); err != nil {
		return err
	}
	g, err := s.groupOf(c)
	if err != nil {
		return err
	}
	renamed := req.Name != nil && *req.Name != g.Name
	if req.Description != nil {
		g.Description = *req.Description
	}
	if req.Ring != nil {
		g.Ring = req.Ring
	}
	if req.NoRing {
		g.Ring = nil
	}
	scheduleChanged := req.Windows != nil || req.Timezone != nil || req.MaxStarts != nil || req.StartWindowMinutes != nil
	applySchedule(&g, req)
	ruleChanged := false
	if req.Rule != nil {
		r, _ := rollout.ParseRule(*req.Rule)
		if (g.Rule == "") != (r.String() == "") {
			return errInvalid("rule", "cannot turn a static group into a dynamic one or back; create a new group")
		}
		ruleChanged = g.Rule != r.String()
		g.Rule = r.String()
	}
	ctx := c.r.Context()
	var joined, left int
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if renamed {
			from, tokens, err := tx.RenameGroup(ctx, g.OrgID, g.ID, *req.Name)
			if err != nil {
				return err
			}
			g.Name = *req.Name
			if err := c.audit(tx, c.org.ID, "group.rename", "group", g.Name,
				map[string]any{"group_id": g.ID, "from": from, "to": g.Name, "enroll_tokens": tokens}); err != nil {
				return err
			}
		}
		if g, err = tx.UpdateGroup(ctx, g); err != nil {
			return err
		}
		if ruleChanged {
			if joined, left, err = rollout.RefreshGroup(ctx, tx, g); err != nil {
				return err
			}
			if g, err = tx.GroupByID(ctx, g.OrgID, g.ID); err != nil {
				return err
			}
		}
		if scheduleChanged {
			// The windows go into the members' assignment lists.
			if err := tx.BumpAssignGen(ctx, g.OrgID); err != nil {
				return err
			}
		}
		otherChange := req.Description != nil || req.Rule != nil || req.Ring != nil || req.NoRing || scheduleChanged ||
			req.HaltFailurePct != nil || req.HaltMinAttempts != nil
		if renamed && !otherChange {
			return nil // group.rename says it all
		}
		return c.audit(tx, c.org.ID, "group.update", "group", g.Name, map[string]any{"rule": g.Rule, "ring": g.Ring,
			"description": g.Description, "windows": g.Windows, "timezone": g.Timezone, "joined": joined, "left": left})
	})
	if errors.Is(err, store.ErrConflict) && renamed {
		return &apiError{Status: http.StatusConflict, Code: "conflict", Field: "name", Message: fmt.Sprintf("a group named %q exists", *req.Name)}
	} else if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, g)
	return nil
}

func (s *Server) deleteGroup(c *call) error {
	g, err := s.groupOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		// What goes with it, for the audit log: its auto-approval rules and scan schedules.
		rules, schedules := []string{}, []string{}
		rs, err := tx.ListRules(ctx, c.org.ID)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.GroupID == g.ID {
				rules = append(rules, r.Name)
			}
		}
		ss, err := tx.ScanSchedules(ctx, c.org.ID)
		if err != nil {
			return err
		}
		for _, sc := range ss {
			if sc.GroupID == g.ID {
				schedules = append(schedules, sc.Name)
			}
		}
		tokens, err := tx.DeleteGroup(ctx, c.org.ID, g.ID)
		if err != nil {
			return err
		}
		if _, err := tx.SyncApprovals(ctx, c.org.ID, 0, 0); err != nil {
			return err
		}
		if err := tx.BumpAssignGen(ctx, c.org.ID); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "group.delete", "group", g.Name, map[string]any{"group_id": g.ID, "members": g.Members,
			"rules": rules, "scan_schedules": schedules, "enroll_tokens": tokens})
	})
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listGroupMembers(c *call) error {
	g, err := s.groupOf(c)
	if err != nil {
		return err
	}
	p, err := page(c.r)
	if err != nil {
		return err
	}
	cs, err := s.store.ListGroupMembers(c.r.Context(), g.ID, store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	writeList(c.w, cs, p.Limit, func(c store.Computer) int64 { return c.ID })
	return nil
}

// addGroupMember puts a computer in a static group.
func (s *Server) addGroupMember(c *call) error {
	return s.changeMember(c, true)
}

func (s *Server) removeGroupMember(c *call) error {
	return s.changeMember(c, false)
}

func (s *Server) changeMember(c *call, add bool) error {
	g, err := s.groupOf(c)
	if err != nil {
		return err
	}
	if g.Rule != "" {
		return errConflict("group %q is dynamic: its rule decides its members (%s)", g.Name, g.Rule)
	}
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	action := "group.add_member"
	if !add {
		action = "group.remove_member"
	}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if add {
			if err := tx.AddGroupMember(ctx, g.ID, comp.ID, c.user.Username); err != nil {
				return err
			}
		} else if removed, err := tx.RemoveGroupMember(ctx, g.ID, comp.ID); err != nil {
			return err
		} else if !removed {
			return errNotFound("computer " + itoa(comp.ID) + " in group " + quote(g.Name))
		}
		if _, err := tx.SyncApprovals(ctx, c.org.ID, 0, comp.ID); err != nil {
			return err
		}
		if err := tx.BumpAssignGen(ctx, c.org.ID); err != nil { // its windows may change
			return err
		}
		return c.audit(tx, c.org.ID, action, "group", g.Name, map[string]any{"computer_id": comp.ID, "hostname": comp.Hostname})
	})
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

type tagsRequest struct {
	Tags []string `json:"tags"`
}

// setComputerTags replaces a computer's tags; dynamic groups follow.
func (s *Server) setComputerTags(c *call) error {
	var req tagsRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if len(req.Tags) > 32 {
		return errInvalid("tags", "must be at most 32")
	}
	for i, t := range req.Tags {
		if err := checkSlug("tags["+strconv.Itoa(i)+"]", t); err != nil {
			return err
		}
	}
	slices.Sort(req.Tags)
	req.Tags = slices.Compact(req.Tags)
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SetComputerTags(ctx, comp.ID, req.Tags); err != nil {
			return err
		}
		var err error
		if comp, err = tx.Computer(ctx, c.org.ID, comp.ID); err != nil {
			return err
		}
		if err := rollout.RefreshComputer(ctx, tx, comp); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "computer.tag", "computer", itoa(comp.ID), map[string]any{"tags": req.Tags})
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, comp)
	return nil
}

// groupReport is the organisation's compliance report for the members of one group.
func (s *Server) groupReport(c *call) error {
	name := c.r.URL.Query().Get("name")
	if name == "" {
		return errInvalid("name", "is required")
	}
	g, err := s.store.GroupByName(c.r.Context(), c.org.ID, name)
	if err != nil {
		return storeErr(err, "group "+quote(name))
	}
	orgID := c.org.ID
	rep, err := s.fleetReport(c.r.Context(), reportKey{org: orgID, group: g.ID}, func(ctx context.Context, now time.Time) (compliance.OrgReport, error) {
		members, err := s.store.GroupMemberIDs(ctx, g.ID)
		if err != nil {
			return compliance.OrgReport{}, err
		}
		return compliance.ForComputers(ctx, s.store, orgID, func(id int64) bool { return members[id] }, now)
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, rep)
	return nil
}
