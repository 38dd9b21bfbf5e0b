package store

import (
	"context"
	"encoding/json"
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
	HaltedAt   *time.Time `json:"halted_at,omitempty"`
	HaltReason string     `json:"halt_reason,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
}

const approvalCols = `a.id, a.org_id, a.update_id, u.name, a.group_id, g.name, a.action, a.deadline, a.halted_at, a.halt_reason,
	a.created_at, a.created_by`

func scanApproval(row interface{ Scan(...any) error }) (Approval, error) {
	var a Approval
	err := row.Scan(&a.ID, &a.OrgID, &a.UpdateID, &a.UpdateName, &a.GroupID, &a.GroupName, &a.Action, &a.Deadline, &a.HaltedAt,
		&a.HaltReason, &a.CreatedAt, &a.CreatedBy)
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
			created_at = excluded.created_at, created_by = excluded.created_by, halted_at = NULL, halt_reason = '',
			deadline_notified_at = NULL RETURNING id`,
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
	HaltedAt      *time.Time `json:"halted_at,omitempty"`
	HaltReason    string     `json:"halt_reason,omitempty"`
	Members       int        `json:"members"`
	Needed        int        `json:"needed"` // needed or superseded, not approved for them
	Approved      int        `json:"approved"`
	Installed     int        `json:"installed"`
	PendingReboot int        `json:"pending_reboot"`
	Failed        int        `json:"failed"`
}

// Rollout tells, per group of the organisation, where an update stands.
func (r Reader) Rollout(ctx context.Context, orgID, updateID int64) ([]RolloutGroup, error) {
	rows, err := r.query(ctx, `SELECT g.name, g.ring, COALESCE(a.action, ''), a.deadline, a.halted_at, COALESCE(a.halt_reason, ''),
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
		GROUP BY g.id, g.name, g.ring, a.action, a.deadline, a.halted_at, a.halt_reason
		ORDER BY CASE WHEN g.ring IS NULL THEN 1 ELSE 0 END, g.ring, g.name`, orgID, updateID)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	defer rows.Close()
	var out []RolloutGroup
	for rows.Next() {
		var g RolloutGroup
		if err := rows.Scan(&g.Group, &g.Ring, &g.Action, &g.Deadline, &g.HaltedAt, &g.HaltReason, &g.Members, &g.Needed, &g.Approved, &g.Installed,
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
		WHERE a.update_id = cu.update_id AND m.computer_id = cu.computer_id AND a.action = 'install' AND a.halted_at IS NULL)
	AND NOT EXISTS (SELECT 1 FROM approvals a JOIN group_members m ON m.group_id = a.group_id
		WHERE a.update_id = cu.update_id AND m.computer_id = cu.computer_id AND a.action = 'decline')))`

// groupDeadline is the earliest deadline of the group approvals that reach row cu.
const groupDeadline = `(SELECT MIN(a.deadline) FROM approvals a JOIN group_members m ON m.group_id = a.group_id
	WHERE a.update_id = cu.update_id AND m.computer_id = cu.computer_id AND a.action = 'install' AND a.halted_at IS NULL)`

// SyncApprovals moves rows between needed and approved as approvals, assignments and group
// memberships say, for one update (updateID > 0), one computer (computerID > 0) or the whole
// organisation, and records the changes in the history. It returns how many moved.
func (tx *Tx) SyncApprovals(ctx context.Context, orgID, updateID, computerID int64) (int, error) {
	// Most updates have no approval yet, and no row can be approved then but by a direct
	// assignment, which Assign already marks: skip the scan.
	var some int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM approvals WHERE org_id = $1 AND ($2 = 0 OR update_id = $2) LIMIT 1) x`,
		orgID, updateID).Scan(&some); err != nil {
		return 0, fmt.Errorf("sync approvals: %w", err)
	}
	var approvedRows int
	if some == 0 {
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM computer_updates WHERE org_id = $1 AND state = 'approved'
			AND NOT approved AND ($2 = 0 OR update_id = $2) LIMIT 1) x`, orgID, updateID).Scan(&approvedRows); err != nil {
			return 0, fmt.Errorf("sync approvals: %w", err)
		}
		if approvedRows == 0 {
			return 0, nil
		}
	}
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

// ResumeApproval lifts the halt of an approval.
func (tx *Tx) ResumeApproval(ctx context.Context, orgID, updateID, groupID int64) error {
	res, err := tx.exec(ctx, `UPDATE approvals SET halted_at = NULL, halt_reason = '' WHERE org_id = $1 AND update_id = $2 AND group_id = $3
		AND halted_at IS NOT NULL`, orgID, updateID, groupID)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("no halted approval of update %d for group %d: %w", updateID, groupID, ErrNotFound)
	}
	return tx.BumpAssignGen(ctx, orgID)
}

// Halt is an approval an automatic halt stopped.
type Halt struct {
	UpdateID, GroupID  int64
	Update, Group      string
	Attempts, Failures int
}

// CheckHalts stops the install approvals of an update whose group's failure rate passed
// its threshold, for the groups of computerID (whose result just arrived).
func (tx *Tx) CheckHalts(ctx context.Context, orgID, computerID, updateID int64) ([]Halt, error) {
	rows, err := tx.query(ctx, `SELECT a.id, a.group_id, g.name, u.name, g.halt_failure_pct, g.halt_min_attempts,
		(SELECT COUNT(*) FROM computer_updates cu JOIN group_members m2 ON m2.computer_id = cu.computer_id
			WHERE m2.group_id = g.id AND cu.update_id = a.update_id AND cu.state IN ('installed', 'pending_reboot', 'failed')),
		(SELECT COUNT(*) FROM computer_updates cu JOIN group_members m2 ON m2.computer_id = cu.computer_id
			WHERE m2.group_id = g.id AND cu.update_id = a.update_id AND cu.state = 'failed')
		FROM approvals a JOIN computer_groups g ON g.id = a.group_id JOIN group_members m ON m.group_id = g.id
		JOIN updates u ON u.id = a.update_id
		WHERE a.org_id = $1 AND a.update_id = $2 AND m.computer_id = $3 AND a.action = 'install' AND a.halted_at IS NULL
		AND g.halt_failure_pct > 0`, orgID, updateID, computerID)
	if err != nil {
		return nil, fmt.Errorf("check halts: %w", err)
	}
	type cand struct {
		id int64
		h  Halt
	}
	var halts []cand
	for rows.Next() {
		var c cand
		var pct, minAttempts int
		if err := rows.Scan(&c.id, &c.h.GroupID, &c.h.Group, &c.h.Update, &pct, &minAttempts, &c.h.Attempts, &c.h.Failures); err != nil {
			rows.Close()
			return nil, err
		}
		c.h.UpdateID = updateID
		if c.h.Attempts >= minAttempts && c.h.Failures*100 > pct*c.h.Attempts {
			halts = append(halts, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Halt
	now := Now()
	for _, c := range halts {
		reason := fmt.Sprintf("%d of %d attempted installs failed", c.h.Failures, c.h.Attempts)
		if _, err := tx.exec(ctx, `UPDATE approvals SET halted_at = $2, halt_reason = $3 WHERE id = $1`, c.id, now, reason); err != nil {
			return nil, fmt.Errorf("halt: %w", err)
		}
		details := fmt.Sprintf(`{"update":%q,"group":%q,"attempts":%d,"failures":%d}`, c.h.Update, c.h.Group, c.h.Attempts, c.h.Failures)
		if err := tx.AddEvent(ctx, orgID, "rollout.halted", c.h.Update, details); err != nil {
			return nil, err
		}
		out = append(out, c.h)
	}
	if len(out) > 0 {
		if _, err := tx.SyncApprovals(ctx, orgID, updateID, 0); err != nil {
			return nil, err
		}
		if err := tx.BumpAssignGen(ctx, orgID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Event is something that happened that subscribers may want to hear about.
type Event struct {
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	Subject   string          `json:"subject"`
	Details   json.RawMessage `json:"details"`
	CreatedAt time.Time       `json:"created_at"`
}

// AddEvent records an event (details is JSON).
func (tx *Tx) AddEvent(ctx context.Context, orgID int64, kind, subject, details string) error {
	if _, err := tx.exec(ctx, `INSERT INTO events (org_id, kind, subject, details, created_at) VALUES ($1, $2, $3, $4, $5)`,
		orgID, kind, subject, details, Now()); err != nil {
		return fmt.Errorf("event %s: %w", kind, err)
	}
	return nil
}

// ListEvents lists an organisation's events, newest first.
func (r Reader) ListEvents(ctx context.Context, orgID int64, limit int) ([]Event, error) {
	rows, err := r.query(ctx, `SELECT id, kind, subject, details, created_at FROM events WHERE org_id = $1 ORDER BY id DESC LIMIT $2`, orgID, limit)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var d string
		if err := rows.Scan(&e.ID, &e.Kind, &e.Subject, &d, &e.CreatedAt); err != nil {
			return nil, err
		}
		e.Details = json.RawMessage(d)
		out = append(out, e)
	}
	return out, rows.Err()
}

// HaltApproval stops an install approval by hand (an operator saw a problem).
func (tx *Tx) HaltApproval(ctx context.Context, orgID, updateID, groupID int64, reason string) error {
	res, err := tx.exec(ctx, `UPDATE approvals SET halted_at = $4, halt_reason = $5 WHERE org_id = $1 AND update_id = $2 AND group_id = $3
		AND action = 'install' AND halted_at IS NULL`, orgID, updateID, groupID, Now(), reason)
	if err != nil {
		return fmt.Errorf("halt: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("no running install approval of update %d for group %d: %w", updateID, groupID, ErrNotFound)
	}
	return tx.BumpAssignGen(ctx, orgID)
}
