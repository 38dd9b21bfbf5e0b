package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/rollout"
	"github.com/patchday/patchday/internal/store"
)

type ruleRequest struct {
	Name           string `json:"name"`
	Group          string `json:"group"`
	Classification string `json:"classification"`
	MinSeverity    string `json:"min_severity"`
	PURLPrefix     string `json:"purl_prefix"`
	Advisory       string `json:"advisory"`
	DelayDays      int    `json:"delay_days"`
	AfterRingPct   int    `json:"after_ring_pct"`
	DeadlineDays   *int   `json:"deadline_days"`
}

func (s *Server) createRule(c *call) error {
	var req ruleRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkSlug("name", req.Name); err != nil {
		return err
	}
	switch req.Classification {
	case "", "security", "critical", "definition", "feature":
	default:
		return errInvalid("classification", "must be security, critical, definition or feature (or absent for any)")
	}
	if req.MinSeverity != "" && csaf.SeverityRank(req.MinSeverity) < 0 {
		return errInvalid("min_severity", "must be one of %s", strings.Join(csaf.Severities, ", "))
	}
	if req.PURLPrefix != "" && (!strings.HasPrefix(req.PURLPrefix, "pkg:") || len(req.PURLPrefix) > 300) {
		return errInvalid("purl_prefix", "must be a package URL or its start, such as pkg:deb/debian/openssl or pkg:deb/debian")
	}
	if len(req.Advisory) > 200 {
		return errInvalid("advisory", "must be at most 200 characters")
	}
	if req.DelayDays < 0 || req.DelayDays > 365 {
		return errInvalid("delay_days", "must be from 0 to 365")
	}
	if req.AfterRingPct < 0 || req.AfterRingPct > 100 {
		return errInvalid("after_ring_pct", "must be from 0 to 100")
	}
	if req.DeadlineDays != nil && (*req.DeadlineDays < 0 || *req.DeadlineDays > 365) {
		return errInvalid("deadline_days", "must be from 0 to 365")
	}
	ctx := c.r.Context()
	g, err := s.store.GroupByName(ctx, c.org.ID, req.Group)
	if errors.Is(err, store.ErrNotFound) {
		return errInvalid("group", "names no group of this organisation")
	} else if err != nil {
		return err
	}
	if req.AfterRingPct > 0 && (g.Ring == nil || *g.Ring < 2) {
		return errInvalid("after_ring_pct", "needs a group of ring 2 or later: it waits for the ring before")
	}
	var r store.ApprovalRule
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = tx.CreateRule(ctx, store.ApprovalRule{OrgID: c.org.ID, Name: req.Name, GroupID: g.ID, Classification: req.Classification,
			MinSeverity: req.MinSeverity, PURLPrefix: req.PURLPrefix, Advisory: req.Advisory, DelayDays: req.DelayDays, AfterRingPct: req.AfterRingPct, DeadlineDays: req.DeadlineDays,
			CreatedBy: c.user.Username}); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "rule.create", "rule", r.Name, req)
	})
	if errors.Is(err, store.ErrConflict) {
		return errConflict("a rule named %q exists", req.Name)
	} else if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, r)
	return nil
}

func (s *Server) listRules(c *call) error {
	rs, err := s.store.ListRules(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []store.ApprovalRule{}
	}
	writeJSON(c.w, http.StatusOK, listResponse[store.ApprovalRule]{Items: rs})
	return nil
}

func (s *Server) deleteRule(c *call) error {
	name := c.r.PathValue("rule")
	ctx := c.r.Context()
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteRule(ctx, c.org.ID, name); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "rule.delete", "rule", name, nil)
	})
	if err != nil {
		return storeErr(err, "rule "+quote(name))
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) disableRule(c *call) error { return s.setRuleEnabled(c, false) }
func (s *Server) enableRule(c *call) error  { return s.setRuleEnabled(c, true) }

// setRuleEnabled disables a rule (it stays, and runs no more) or enables it again.
func (s *Server) setRuleEnabled(c *call, enabled bool) error {
	name := c.r.PathValue("rule")
	ctx := c.r.Context()
	var r store.ApprovalRule
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = tx.SetRuleEnabled(ctx, c.org.ID, name, enabled, c.user.Username); err != nil {
			return err
		}
		action := "rule.enable"
		if !enabled {
			action = "rule.disable"
		}
		return c.audit(tx, c.org.ID, action, "rule", name, nil)
	})
	if err != nil {
		return storeErr(err, "rule "+quote(name))
	}
	writeJSON(c.w, http.StatusOK, r)
	return nil
}

// ApplyRules runs every organisation's auto-approval rules; the server does it every minute
// and after each new update.
func (s *Server) ApplyRules(ctx context.Context) error {
	p := store.Page{Limit: 500}
	for {
		orgs, err := s.store.ListOrgs(ctx, 0, p)
		if err != nil {
			return err
		}
		for _, o := range orgs {
			if _, err := s.applyOrgRules(ctx, o, false); err != nil {
				return err
			}
		}
		if len(orgs) < p.Limit {
			return nil
		}
		p.After = orgs[len(orgs)-1].ID
	}
}

// errDryRun rolls back the transaction of a preview.
var errDryRun = errors.New("dry run")

// applyOrgRules runs one organisation's rules and returns the approvals they made. A dry run
// makes them in a transaction it then rolls back: the preview is exactly what a run would do.
func (s *Server) applyOrgRules(ctx context.Context, o store.Org, dry bool) ([]rollout.Approved, error) {
	var made []rollout.Approved
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		made, err = rollout.ApplyRules(ctx, tx, o.ID, s.cfg.Now(), func(rule string, a store.Approval) error {
			orgID := o.ID
			details, _ := jsonMarshal(map[string]any{"group": a.GroupName, "deadline": a.Deadline})
			_, err := tx.AppendAudit(ctx, store.AuditEvent{OrgID: &orgID, Actor: "rule:" + rule, Action: "update.install",
				ObjectType: "update", ObjectID: a.UpdateName, Source: "server", Time: s.cfg.Now(), Details: details})
			return err
		})
		if err == nil && dry {
			return errDryRun
		}
		return err
	})
	if dry {
		if errors.Is(err, errDryRun) {
			err = nil
		}
		return made, err
	}
	if err != nil {
		return nil, err
	}
	for _, m := range made {
		s.log.Info("auto-approved", "org", o.Slug, "rule", m.Rule, "update", m.Update, "group", m.Group)
	}
	return made, nil
}

// ruleApprovals is the answer of a preview or a run: the approvals the rules make now.
type ruleApprovals struct {
	Items []ruleApproval `json:"items"`
}

type ruleApproval struct {
	Rule   string `json:"rule"`
	Update string `json:"update"`
	Group  string `json:"group"`
}

func toRuleApprovals(made []rollout.Approved) ruleApprovals {
	out := ruleApprovals{Items: make([]ruleApproval, 0, len(made))}
	for _, m := range made {
		out.Items = append(out.Items, ruleApproval{Rule: m.Rule, Update: m.Update, Group: m.Group})
	}
	return out
}

// previewRules answers what the organisation's rules would approve if they ran now,
// changing nothing.
func (s *Server) previewRules(c *call) error {
	made, err := s.applyOrgRules(c.r.Context(), c.org, true)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toRuleApprovals(made))
	return nil
}

// runRules runs the organisation's rules now rather than at the next minute.
func (s *Server) runRules(c *call) error {
	made, err := s.applyOrgRules(c.r.Context(), c.org, false)
	if err != nil {
		return err
	}
	if err := s.auditOnly(c, c.org.ID, "rules.run", "org", c.org.Slug, map[string]any{"approvals": len(made)}); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toRuleApprovals(made))
	return nil
}
