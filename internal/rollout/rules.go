package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// Approved is an approval an auto-approval rule made.
type Approved struct {
	Rule, Update, Group string
}

// ApplyRules runs an organisation's auto-approval rules at now: each approves, for its group,
// the updates of its classification and minimum severity that are at least delay_days old
// and, when the rule waits for the ring before, that ring approved and installed on at least
// after_ring_pct percent of its machines that needed them. A ring whose machines needed
// none of them proves nothing: the rule waits. Approvals are recorded, audited and synced in
// tx.
func ApplyRules(ctx context.Context, tx *store.Tx, orgID int64, now time.Time, audit func(rule string, a store.Approval) error) ([]Approved, error) {
	rules, err := tx.ListRules(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []Approved
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		g, err := tx.GroupByID(ctx, orgID, r.GroupID)
		if err != nil {
			return out, err
		}
		cutoff := now.Add(-time.Duration(r.DelayDays) * 24 * time.Hour)
		if r.DelayDays == 0 {
			cutoff = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) // every update, however new
		}
		cands, err := tx.RuleCandidates(ctx, r, cutoff)
		if err != nil {
			return out, err
		}
		for _, c := range cands {
			if r.MinSeverity != "" && csaf.SeverityRank(c.Severity) < csaf.SeverityRank(r.MinSeverity) {
				continue
			}
			if r.AfterRingPct > 0 {
				if g.Ring == nil || *g.Ring < 2 {
					continue
				}
				needed, installed, approved, err := tx.RingSuccess(ctx, orgID, c.ID, *g.Ring-1)
				if err != nil {
					return out, err
				}
				if !approved || needed == 0 || installed*100 < r.AfterRingPct*needed {
					continue
				}
			}
			a := store.Approval{OrgID: orgID, UpdateID: c.ID, GroupID: r.GroupID, Action: "install", CreatedBy: "rule:" + r.Name}
			if r.DeadlineDays != nil {
				d := now.Add(time.Duration(*r.DeadlineDays) * 24 * time.Hour)
				a.Deadline = &d
			}
			a, err := tx.SetApproval(ctx, a)
			if err != nil {
				return out, fmt.Errorf("rule %s: %w", r.Name, err)
			}
			if _, err := tx.SyncApprovals(ctx, orgID, c.ID, 0); err != nil {
				return out, err
			}
			if err := audit(r.Name, a); err != nil {
				return out, err
			}
			out = append(out, Approved{Rule: r.Name, Update: c.Name, Group: g.Name})
		}
	}
	return out, nil
}
