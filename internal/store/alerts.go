package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// PassedDeadline is an approval whose deadline passed with computers of its group still
// missing the update.
type PassedDeadline struct {
	OrgID    int64     `json:"-"`
	Update   string    `json:"update"`
	Group    string    `json:"group"`
	Severity string    `json:"severity"`
	Deadline time.Time `json:"deadline"`
	Missing  int       `json:"missing"`
}

// NotifyPassedDeadlines raises a deadline.passed event for each install approval whose
// deadline is past now while computers of its group still miss the update: once per
// approval and deadline (approving again with a deadline starts over). The approval is
// claimed by a conditional update in the same transaction as the event, so of several nodes
// running this at once exactly one raises it.
func (tx *Tx) NotifyPassedDeadlines(ctx context.Context, now time.Time) ([]PassedDeadline, error) {
	rows, err := tx.query(ctx, `SELECT a.id, a.org_id, a.update_id, a.group_id, u.name, g.name, u.severity, a.deadline FROM approvals a
		JOIN updates u ON u.id = a.update_id JOIN computer_groups g ON g.id = a.group_id
		WHERE a.action = 'install' AND a.deadline IS NOT NULL AND a.deadline <= $1 AND a.deadline_notified_at IS NULL
		ORDER BY a.deadline LIMIT 500`, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("passed deadlines: %w", err)
	}
	type due struct {
		id, update, group int64
		PassedDeadline
	}
	var dues []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.OrgID, &d.update, &d.group, &d.Update, &d.Group, &d.Severity, &d.Deadline); err != nil {
			rows.Close()
			return nil, err
		}
		dues = append(dues, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	outstanding := "'" + strings.Join(OutstandingStates, "', '") + "'"
	var out []PassedDeadline
	for _, d := range dues {
		res, err := tx.exec(ctx, `UPDATE approvals SET deadline_notified_at = $1 WHERE id = $2 AND deadline_notified_at IS NULL`, now.UTC(), d.id)
		if err != nil {
			return nil, fmt.Errorf("claim deadline: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // another node has it
		}
		err = tx.queryRow(ctx, `SELECT COUNT(*) FROM computer_updates cu JOIN group_members m ON m.computer_id = cu.computer_id
			WHERE m.group_id = $1 AND cu.update_id = $2 AND cu.state IN (`+outstanding+`)`, d.group, d.update).Scan(&d.Missing)
		if err != nil {
			return nil, fmt.Errorf("missing after deadline: %w", err)
		}
		if d.Missing == 0 {
			continue
		}
		details, _ := json.Marshal(d.PassedDeadline)
		if err := tx.AddEvent(ctx, d.OrgID, "deadline.passed", d.Update, string(details)); err != nil {
			return nil, err
		}
		out = append(out, d.PassedDeadline)
	}
	return out, nil
}

// NotifyBelowThreshold raises a compliance.below_threshold event when an organisation's
// share of compliant computers (pct) is below its policy's MinCompliantPct, at most once per
// day (UTC): the policy row is claimed for the day in the same transaction as the event.
func (tx *Tx) NotifyBelowThreshold(ctx context.Context, orgID int64, day string, pct float64, computers, compliant int) (bool, error) {
	var threshold int
	err := tx.queryRow(ctx, `SELECT min_compliant_pct FROM health_policies WHERE org_id = $1`, orgID).Scan(&threshold)
	if mapErr(err) == ErrNotFound || err == nil && (threshold == 0 || computers == 0 || pct >= float64(threshold)) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("compliance threshold: %w", err)
	}
	res, err := tx.exec(ctx, `UPDATE health_policies SET below_notified_day = $1 WHERE org_id = $2 AND below_notified_day <> $1`, day, orgID)
	if err != nil {
		return false, fmt.Errorf("claim compliance alert: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	details, _ := json.Marshal(map[string]any{"percent_compliant": pct, "threshold": threshold, "computers": computers,
		"compliant": compliant, "day": day})
	if err := tx.AddEvent(ctx, orgID, "compliance.below_threshold", day, string(details)); err != nil {
		return false, err
	}
	return true, nil
}
