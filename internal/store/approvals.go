package store

import (
	"context"
	"fmt"
	"time"
)

// Approval is the decision for one update and one group.
type Approval struct {
	ID         int64      `json:"id"`
	OrgID      int64      `json:"org_id"`
	UpdateID   int64      `json:"update_id"`
	UpdateName string     `json:"update"`
	GroupID    int64      `json:"group_id"`
	GroupName  string     `json:"group"`
	Action     string     `json:"action"` // install or decline
	Deadline   *time.Time `json:"deadline,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
}

const approvalCols = `a.id, a.org_id, a.update_id, u.name, a.group_id, g.name, a.action, a.deadline, a.created_at, a.created_by`

func scanApproval(row interface{ Scan(...any) error }) (Approval, error) {
	var a Approval
	err := row.Scan(&a.ID, &a.OrgID, &a.UpdateID, &a.UpdateName, &a.GroupID, &a.GroupName, &a.Action, &a.Deadline, &a.CreatedAt, &a.CreatedBy)
	return a, err
}

// SetApproval records (or replaces) the decision for an update and a group, and marks the
// organisation's assignment lists stale.
func (tx *Tx) SetApproval(ctx context.Context, a Approval) (Approval, error) {
	if a.Deadline != nil {
		d := a.Deadline.UTC().Truncate(time.Microsecond)
		a.Deadline = &d
	}
	var id int64
	err := tx.queryRow(ctx, `INSERT INTO approvals (org_id, update_id, group_id, action, deadline, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (update_id, group_id) DO UPDATE SET action = excluded.action, deadline = excluded.deadline,
			created_at = excluded.created_at, created_by = excluded.created_by RETURNING id`,
		a.OrgID, a.UpdateID, a.GroupID, a.Action, a.Deadline, Now(), a.CreatedBy).Scan(&id)
	if err != nil {
		return Approval{}, fmt.Errorf("approve update %d for group %d: %w", a.UpdateID, a.GroupID, mapErr(err))
	}
	if err := tx.BumpAssignGen(ctx, a.OrgID); err != nil {
		return Approval{}, err
	}
	out, err := scanApproval(tx.queryRow(ctx, `SELECT `+approvalCols+` FROM approvals a JOIN updates u ON u.id = a.update_id
		JOIN computer_groups g ON g.id = a.group_id WHERE a.id = $1`, id))
	if err != nil {
		return Approval{}, fmt.Errorf("approval %d: %w", id, mapErr(err))
	}
	return out, nil
}

// DeleteApproval withdraws the decision for an update and a group.
func (tx *Tx) DeleteApproval(ctx context.Context, orgID, updateID, groupID int64) error {
	res, err := tx.exec(ctx, `DELETE FROM approvals WHERE org_id = $1 AND update_id = $2 AND group_id = $3`, orgID, updateID, groupID)
	if err != nil {
		return fmt.Errorf("unapprove: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("no approval of update %d for group %d: %w", updateID, groupID, ErrNotFound)
	}
	return tx.BumpAssignGen(ctx, orgID)
}

// ListApprovals lists an update's approvals, by group name.
func (r Reader) ListApprovals(ctx context.Context, orgID, updateID int64) ([]Approval, error) {
	rows, err := r.query(ctx, `SELECT `+approvalCols+` FROM approvals a JOIN updates u ON u.id = a.update_id
		JOIN computer_groups g ON g.id = a.group_id WHERE a.org_id = $1 AND a.update_id = $2 ORDER BY g.name`, orgID, updateID)
	if err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RolloutGroup is where an update stands in one group.
type RolloutGroup struct {
	Group         string     `json:"group"`
	Ring          *int       `json:"ring,omitempty"`
	Action        string     `json:"approval"` // install, decline or "" (not approved)
	Deadline      *time.Time `json:"deadline,omitempty"`
	Members       int        `json:"members"`
	Needed        int        `json:"needed"` // needed or superseded, not approved for them
	Approved      int        `json:"approved"`
	Installed     int        `json:"installed"`
	PendingReboot int        `json:"pending_reboot"`
	Failed        int        `json:"failed"`
}

// Rollout tells, per group of the organisation, where an update stands.
func (r Reader) Rollout(ctx context.Context, orgID, updateID int64) ([]RolloutGroup, error) {
	rows, err := r.query(ctx, `SELECT g.name, g.ring, COALESCE(a.action, ''), a.deadline,
		(SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id),
		COUNT(CASE WHEN cu.state IN ('needed', 'superseded') THEN 1 END),
		COUNT(CASE WHEN cu.state = 'approved' THEN 1 END),
		COUNT(CASE WHEN cu.state = 'installed' THEN 1 END),
		COUNT(CASE WHEN cu.state = 'pending_reboot' THEN 1 END),
		COUNT(CASE WHEN cu.state = 'failed' THEN 1 END)
		FROM computer_groups g
		LEFT JOIN approvals a ON a.group_id = g.id AND a.update_id = $2
		LEFT JOIN group_members m ON m.group_id = g.id
		LEFT JOIN computer_updates cu ON cu.computer_id = m.computer_id AND cu.update_id = $2
		WHERE g.org_id = $1
		GROUP BY g.id, g.name, g.ring, a.action, a.deadline
		ORDER BY CASE WHEN g.ring IS NULL THEN 1 ELSE 0 END, g.ring, g.name`, orgID, updateID)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	defer rows.Close()
	var out []RolloutGroup
	for rows.Next() {
		var g RolloutGroup
		if err := rows.Scan(&g.Group, &g.Ring, &g.Action, &g.Deadline, &g.Members, &g.Needed, &g.Approved, &g.Installed,
			&g.PendingReboot, &g.Failed); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// effectiveApproval is true for a computer_updates row cu whose update reaches the computer:
// assigned to it directly, or approved for install for one of its groups and declined for
// none of them.
const effectiveApproval = `(cu.approved OR (
	EXISTS (SELECT 1 FROM approvals a JOIN group_members m ON m.group_id = a.group_id
		WHERE a.update_id = cu.update_id AND m.computer_id = cu.computer_id AND a.action = 'install')
	AND NOT EXISTS (SELECT 1 FROM approvals a JOIN group_members m ON m.group_id = a.group_id
		WHERE a.update_id = cu.update_id AND m.computer_id = cu.computer_id AND a.action = 'decline')))`

// groupDeadline is the earliest deadline of the group approvals that reach row cu.
const groupDeadline = `(SELECT MIN(a.deadline) FROM approvals a JOIN group_members m ON m.group_id = a.group_id
	WHERE a.update_id = cu.update_id AND m.computer_id = cu.computer_id AND a.action = 'install')`

// SyncApprovals moves rows between needed and approved as approvals, assignments and group
// memberships say, for one update (updateID > 0), one computer (computerID > 0) or the whole
// organisation, and records the changes in the history. It returns how many moved.
func (tx *Tx) SyncApprovals(ctx context.Context, orgID, updateID, computerID int64) (int, error) {
	now := Now()
	moved := 0
	for _, step := range []struct{ from, to, cond string }{
		{StateNeeded, StateApproved, effectiveApproval},
		{StateApproved, StateNeeded, "NOT " + effectiveApproval},
	} {
		rows, err := tx.query(ctx, `UPDATE computer_updates AS cu SET state = $5, updated_at = $6
			WHERE cu.org_id = $1 AND cu.state = $4 AND ($2 = 0 OR cu.update_id = $2) AND ($3 = 0 OR cu.computer_id = $3)
			AND `+step.cond+` RETURNING computer_id, update_id`, orgID, updateID, computerID, step.from, step.to, now)
		if err != nil {
			return moved, fmt.Errorf("sync approvals: %w", err)
		}
		var changed [][2]int64
		for rows.Next() {
			var c, u int64
			if err := rows.Scan(&c, &u); err != nil {
				rows.Close()
				return moved, err
			}
			changed = append(changed, [2]int64{c, u})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return moved, fmt.Errorf("sync approvals: %w", err)
		}
		err = tx.batchInsert(ctx, `INSERT INTO update_state_history (org_id, computer_id, update_id, state, at) VALUES `, "", 5, len(changed),
			func(i int) []any { return []any{orgID, changed[i][0], changed[i][1], step.to, now} })
		if err != nil {
			return moved, fmt.Errorf("sync approvals: history: %w", err)
		}
		moved += len(changed)
	}
	if moved > 0 {
		return moved, tx.BumpAssignGen(ctx, orgID)
	}
	return 0, nil
}
