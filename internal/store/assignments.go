package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// States of an update on a computer (computer_updates.state).
const (
	StateNeeded        = "needed"
	StateSuperseded    = "superseded"
	StateApproved      = "approved"
	StateInstalled     = "installed"
	StateFailed        = "failed"
	StatePendingReboot = "pending_reboot"
	// StateNotApplicable is an update assigned to a computer by hand that the update does not
	// concern as the applicability evaluator judges it (the package is not installed, the
	// facts do not match, the machine had the fix before it needed the update), or that the
	// evaluator has not judged yet. The row only keeps the approval; without one there is no
	// row at all.
	StateNotApplicable = "not_applicable"
)

// ComputerUpdate is where one update stands on one computer.
type ComputerUpdate struct {
	ComputerID int64      `json:"computer_id"`
	UpdateID   int64      `json:"update_id"`
	UpdateName string     `json:"update"`
	Severity   string     `json:"severity"`
	Approved   bool       `json:"approved"`
	Deadline   *time.Time `json:"deadline,omitempty"`
	ApprovedBy string     `json:"approved_by,omitempty"`
	ApprovedAt *time.Time `json:"approved_at,omitempty"`
	State      string     `json:"state"`
	Error      string     `json:"error,omitempty"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Assign approves one update for one computer, with an optional deadline: the operator's
// intent (approved, deadline, approved_by), recorded whatever the update's applicability. It
// never overrides the applicability evaluator's judgement, and follows the rules of a group
// approval: a computer that needs the update has it approved (its agent gets it); one where
// it is superseded, installed, pending a reboot or failed keeps that state; one that it does
// not concern keeps no claim that it needs the update (StateNotApplicable), and gets it once
// the evaluator finds it needed.
//
// judged says the evaluator decides which computers the update concerns (a deb package with
// a version range): without a row, the computer does not need it, or has not been judged yet.
// An update it does not judge (an artifact) concerns the computers it is assigned to: there
// the assignment makes it needed, and approved. Assign returns the state.
func (tx *Tx) Assign(ctx context.Context, orgID, computerID, updateID int64, deadline *time.Time, by string, judged bool) (string, error) {
	now := Now()
	if deadline != nil {
		d := deadline.UTC().Truncate(time.Microsecond)
		deadline = &d
	}
	prev, err := tx.stateOf(ctx, computerID, updateID)
	if err != nil {
		return "", fmt.Errorf("assign update %d to computer %d: %w", updateID, computerID, err)
	}
	initial := StateApproved
	if judged {
		initial = StateNotApplicable
	}
	var state string
	err = tx.queryRow(ctx, `INSERT INTO computer_updates (computer_id, update_id, org_id, approved, deadline, approved_by, approved_at, state, updated_at)
		VALUES ($1, $2, $3, TRUE, $4, $5, $6, $7, $6)
		ON CONFLICT (computer_id, update_id) DO UPDATE SET approved = TRUE, deadline = excluded.deadline,
			approved_by = excluded.approved_by, approved_at = excluded.approved_at, updated_at = excluded.updated_at,
			state = CASE WHEN computer_updates.state = 'needed' THEN 'approved' ELSE computer_updates.state END
		RETURNING state`,
		computerID, updateID, orgID, deadline, by, now, initial).Scan(&state)
	if err != nil {
		return "", fmt.Errorf("assign update %d to computer %d: %w", updateID, computerID, mapErr(err))
	}
	if state != prev {
		if _, err := tx.exec(ctx, `INSERT INTO update_state_history (org_id, computer_id, update_id, state, at) VALUES ($1, $2, $3, $4, $5)`,
			orgID, computerID, updateID, state, now); err != nil {
			return "", fmt.Errorf("assign update %d to computer %d: %w", updateID, computerID, err)
		}
	}
	return state, tx.BumpAssignGen(ctx, orgID)
}

// Unassign withdraws the approval of one update for one computer. The state goes back to
// what the evaluator says: needed where it was approved (a group approval may still reach
// it), no row where the update does not concern the computer; installed stays installed.
func (tx *Tx) Unassign(ctx context.Context, orgID, computerID, updateID int64) error {
	prev, err := tx.stateOf(ctx, computerID, updateID)
	if err != nil {
		return fmt.Errorf("unassign update %d from computer %d: %w", updateID, computerID, err)
	}
	now := Now()
	res, err := tx.exec(ctx, `UPDATE computer_updates SET approved = FALSE, deadline = NULL, updated_at = $4,
		state = CASE WHEN state IN ('approved', 'failed') THEN 'needed' ELSE state END
		WHERE org_id = $1 AND computer_id = $2 AND update_id = $3 AND approved`, orgID, computerID, updateID, now)
	if err != nil {
		return fmt.Errorf("unassign update %d from computer %d: %w", updateID, computerID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update %d is not assigned to computer %d: %w", updateID, computerID, ErrNotFound)
	}
	// A row that only kept the approval goes: the evaluator records nothing for a computer
	// the update does not concern.
	if _, err := tx.exec(ctx, `DELETE FROM computer_updates WHERE computer_id = $1 AND update_id = $2 AND state = 'not_applicable'`,
		computerID, updateID); err != nil {
		return fmt.Errorf("unassign update %d from computer %d: %w", updateID, computerID, err)
	}
	if prev == StateApproved || prev == StateFailed {
		if _, err := tx.exec(ctx, `INSERT INTO update_state_history (org_id, computer_id, update_id, state, at) VALUES ($1, $2, $3, $4, $5)`,
			orgID, computerID, updateID, StateNeeded, now); err != nil {
			return fmt.Errorf("unassign update %d from computer %d: %w", updateID, computerID, err)
		}
	}
	// A group approval may still reach it.
	if _, err := tx.SyncApprovals(ctx, orgID, updateID, computerID); err != nil {
		return err
	}
	return tx.BumpAssignGen(ctx, orgID)
}

// stateOf is the state of one update on one computer, "" without a row.
func (tx *Tx) stateOf(ctx context.Context, computerID, updateID int64) (string, error) {
	var state string
	err := tx.queryRow(ctx, `SELECT state FROM computer_updates WHERE computer_id = $1 AND update_id = $2`, computerID, updateID).Scan(&state)
	if errors.Is(mapErr(err), ErrNotFound) {
		return "", nil
	}
	return state, err
}

// ComputerUpdates lists where updates stand on a computer, by update id.
func (r Reader) ComputerUpdates(ctx context.Context, computerID int64) ([]ComputerUpdate, error) {
	rows, err := r.query(ctx, `SELECT cu.computer_id, cu.update_id, u.name, u.severity, cu.approved, cu.deadline, cu.approved_by,
		cu.approved_at, cu.state, cu.error, cu.updated_at FROM computer_updates cu JOIN updates u ON u.id = cu.update_id
		WHERE cu.computer_id = $1 ORDER BY cu.update_id`, computerID)
	if err != nil {
		return nil, fmt.Errorf("updates of computer %d: %w", computerID, err)
	}
	defer rows.Close()
	var out []ComputerUpdate
	for rows.Next() {
		var cu ComputerUpdate
		if err := rows.Scan(&cu.ComputerID, &cu.UpdateID, &cu.UpdateName, &cu.Severity, &cu.Approved, &cu.Deadline,
			&cu.ApprovedBy, &cu.ApprovedAt, &cu.State, &cu.Error, &cu.UpdatedAt); err != nil {
			return nil, fmt.Errorf("updates of computer %d: %w", computerID, err)
		}
		out = append(out, cu)
	}
	return out, rows.Err()
}

// PendingAssignment is an approved update not yet installed on a computer, with what the
// agent needs to install it.
type PendingAssignment struct {
	UpdateID   int64
	Name       string
	Installer  string
	Definition json.RawMessage
	Deadline   *time.Time
	Digest     string // payload, for deb and artifact
	Size       int64
	DebPackage string
	DebVersion string
}

// PendingAssignments lists a computer's approved updates that are not installed, by update id.
// Failed ones stay: the agent retries them with its own backoff. An update waits while one
// of its prerequisites is still outstanding on the computer.
func (r Reader) PendingAssignments(ctx context.Context, computerID int64) ([]PendingAssignment, error) {
	rows, err := r.query(ctx, `SELECT u.id, u.name, u.installer, u.definition, cu.deadline, `+groupDeadline+`,
		COALESCE(p.digest, ''), COALESCE(p.size, 0), COALESCE(p.deb_package, ''), COALESCE(p.deb_version, '')
		FROM computer_updates cu JOIN updates u ON u.id = cu.update_id LEFT JOIN payloads p ON p.id = u.payload_id
		WHERE cu.computer_id = $1 AND cu.state IN ('approved', 'failed') AND u.declined_at IS NULL AND `+effectiveApproval+`
		AND NOT EXISTS (SELECT 1 FROM update_links l JOIN computer_updates p ON p.update_id = l.other_id AND p.computer_id = cu.computer_id
			WHERE l.update_id = u.id AND l.kind = 'requires' AND p.state IN ('needed', 'superseded', 'approved', 'failed'))
		ORDER BY u.id`, computerID)
	if err != nil {
		return nil, fmt.Errorf("assignments of computer %d: %w", computerID, err)
	}
	defer rows.Close()
	var out []PendingAssignment
	for rows.Next() {
		var a PendingAssignment
		var def string
		var group any
		if err := rows.Scan(&a.UpdateID, &a.Name, &a.Installer, &def, &a.Deadline, &group, &a.Digest, &a.Size, &a.DebPackage, &a.DebVersion); err != nil {
			return nil, fmt.Errorf("assignments of computer %d: %w", computerID, err)
		}
		if a.Deadline == nil {
			if a.Deadline, err = timeValue(group); err != nil {
				return nil, fmt.Errorf("assignments of computer %d: deadline: %w", computerID, err)
			}
		}
		a.Definition = json.RawMessage(def)
		out = append(out, a)
	}
	return out, rows.Err()
}

// InstallResult is one install attempt as an agent reported it.
type InstallResult struct {
	ComputerID     int64     `json:"computer_id"`
	ID             string    `json:"id"`
	OrgID          int64     `json:"-"`
	UpdateID       int64     `json:"update_id"`
	UpdateName     string    `json:"update,omitempty"`
	Sequence       uint64    `json:"sequence"`
	Status         string    `json:"status"`
	Version        string    `json:"version,omitempty"`
	ExitCode       int       `json:"exit_code"`
	Error          string    `json:"error,omitempty"`
	Log            string    `json:"log,omitempty"`
	RebootRequired bool      `json:"reboot_required"`
	StartedAt      time.Time `json:"started_at"`
	FinishedAt     time.Time `json:"finished_at"`
	ReceivedAt     time.Time `json:"received_at"`
}

// ErrUnknownUpdate is a result for an update that is not in the computer's organisation.
var ErrUnknownUpdate = errors.New("no such update in the organisation")

// RecordResult stores an install result and moves the update's state on the computer. A
// result id already stored is a no-op (stored false): agents resend until acknowledged.
func (tx *Tx) RecordResult(ctx context.Context, res InstallResult) (stored bool, err error) {
	var one int
	if err := tx.queryRow(ctx, `SELECT 1 FROM updates WHERE id = $1 AND org_id = $2`, res.UpdateID, res.OrgID).Scan(&one); err != nil {
		if errors.Is(mapErr(err), ErrNotFound) {
			return false, ErrUnknownUpdate
		}
		return false, fmt.Errorf("record result: %w", err)
	}
	now := Now()
	r, err := tx.exec(ctx, `INSERT INTO install_results (computer_id, id, org_id, update_id, sequence, status, version, exit_code, error, log,
		reboot_required, started_at, finished_at, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (computer_id, id) DO NOTHING`,
		res.ComputerID, res.ID, res.OrgID, res.UpdateID, int64(res.Sequence), res.Status, res.Version, res.ExitCode, res.Error, res.Log,
		res.RebootRequired, res.StartedAt.UTC().Truncate(time.Microsecond), res.FinishedAt.UTC().Truncate(time.Microsecond), now)
	if err != nil {
		return false, fmt.Errorf("record result %s: %w", res.ID, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return false, nil
	}
	state := StateFailed
	switch {
	case res.Status == "installed" && res.RebootRequired:
		state = StatePendingReboot
	case res.Status == "installed":
		state = StateInstalled
	}
	if _, err := tx.exec(ctx, `INSERT INTO computer_updates (computer_id, update_id, org_id, state, error, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (computer_id, update_id) DO UPDATE SET state = excluded.state, error = excluded.error, updated_at = excluded.updated_at`,
		res.ComputerID, res.UpdateID, res.OrgID, state, res.Error, now); err != nil {
		return false, fmt.Errorf("record result %s: %w", res.ID, err)
	}
	if _, err := tx.exec(ctx, `INSERT INTO update_state_history (org_id, computer_id, update_id, state, at) VALUES ($1, $2, $3, $4, $5)`,
		res.OrgID, res.ComputerID, res.UpdateID, state, now); err != nil {
		return false, fmt.Errorf("record result %s: %w", res.ID, err)
	}
	return true, nil
}

// ListResults lists a computer's install results, newest first.
func (r Reader) ListResults(ctx context.Context, computerID int64, limit int) ([]InstallResult, error) {
	rows, err := r.query(ctx, `SELECT ir.computer_id, ir.id, ir.update_id, u.name, ir.sequence, ir.status, ir.version, ir.exit_code, ir.error,
		ir.log, ir.reboot_required, ir.started_at, ir.finished_at, ir.received_at
		FROM install_results ir JOIN updates u ON u.id = ir.update_id WHERE ir.computer_id = $1
		ORDER BY ir.finished_at DESC, ir.id LIMIT $2`, computerID, limit)
	if err != nil {
		return nil, fmt.Errorf("results of computer %d: %w", computerID, err)
	}
	defer rows.Close()
	var out []InstallResult
	for rows.Next() {
		var ir InstallResult
		var seq int64
		if err := rows.Scan(&ir.ComputerID, &ir.ID, &ir.UpdateID, &ir.UpdateName, &seq, &ir.Status, &ir.Version, &ir.ExitCode,
			&ir.Error, &ir.Log, &ir.RebootRequired, &ir.StartedAt, &ir.FinishedAt, &ir.ReceivedAt); err != nil {
			return nil, fmt.Errorf("results of computer %d: %w", computerID, err)
		}
		ir.Sequence = uint64(seq)
		out = append(out, ir)
	}
	return out, rows.Err()
}

// timeValue reads a time that an expression (not a column) produced: SQLite gives such
// values as text in the driver's format, PostgreSQL as a time.
func timeValue(v any) (*time.Time, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t = t.UTC()
		return &t, nil
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
			if p, err := time.Parse(layout, t); err == nil {
				p = p.UTC()
				return &p, nil
			}
		}
		return nil, fmt.Errorf("unreadable time %q", t)
	}
	return nil, fmt.Errorf("unexpected time value %T", v)
}

// OfferLimited keeps the pending assignments a computer may start now under its groups'
// rollout limits, and records the first offer of each. An update offered before stays; one
// assigned to the computer directly has no limit; one approved for a group without a limit
// neither. withheld says some waited for a later window.
func (tx *Tx) OfferLimited(ctx context.Context, orgID, computerID int64, pending []PendingAssignment, now time.Time) (out []PendingAssignment, withheld bool, err error) {
	for _, p := range pending {
		var offered *time.Time
		var direct bool
		if err := tx.queryRow(ctx, `SELECT offered_at, approved FROM computer_updates WHERE computer_id = $1 AND update_id = $2`,
			computerID, p.UpdateID).Scan(&offered, &direct); err != nil {
			return nil, false, fmt.Errorf("offer %s: %w", p.Name, mapErr(err))
		}
		if offered != nil || direct {
			out = append(out, p)
			continue
		}
		rows, err := tx.query(ctx, `SELECT g.id, g.max_starts, g.start_window_minutes FROM approvals a
			JOIN group_members m ON m.group_id = a.group_id JOIN computer_groups g ON g.id = a.group_id
			WHERE a.update_id = $1 AND m.computer_id = $2 AND a.action = 'install' AND a.halted_at IS NULL
			ORDER BY g.max_starts = 0 DESC, g.id`, p.UpdateID, computerID)
		if err != nil {
			return nil, false, fmt.Errorf("offer %s: %w", p.Name, err)
		}
		type limit struct {
			group        int64
			max, minutes int
		}
		var limits []limit
		for rows.Next() {
			var l limit
			if err := rows.Scan(&l.group, &l.max, &l.minutes); err != nil {
				rows.Close()
				return nil, false, err
			}
			limits = append(limits, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, false, err
		}
		via := int64(0)
		for _, l := range limits {
			if l.max == 0 {
				via = l.group
				break
			}
			// Offers count against the limit in order: serialise them per organisation.
			if err := tx.LockOrg(ctx, orgID); err != nil {
				return nil, false, err
			}
			var started int
			if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM computer_updates WHERE update_id = $1 AND offered_via = $2 AND offered_at > $3`,
				p.UpdateID, l.group, now.Add(-time.Duration(l.minutes)*time.Minute).UTC()).Scan(&started); err != nil {
				return nil, false, fmt.Errorf("offer %s: %w", p.Name, err)
			}
			if started < l.max {
				via = l.group
				break
			}
		}
		if via == 0 {
			withheld = true
			continue
		}
		if _, err := tx.exec(ctx, `UPDATE computer_updates SET offered_at = $3, offered_via = $4 WHERE computer_id = $1 AND update_id = $2`,
			computerID, p.UpdateID, now.UTC().Truncate(time.Microsecond), via); err != nil {
			return nil, false, fmt.Errorf("offer %s: %w", p.Name, err)
		}
		out = append(out, p)
	}
	return out, withheld, nil
}
