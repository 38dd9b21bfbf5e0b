package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StateRow is the stored state of one update on one computer.
type StateRow struct {
	ComputerID  int64
	UpdateID    int64
	Approved    bool
	State       string
	NeededSince *time.Time
}

func scanStateRows(rows *sql.Rows, key func(StateRow) int64) (map[int64]StateRow, error) {
	defer rows.Close()
	out := map[int64]StateRow{}
	for rows.Next() {
		var s StateRow
		if err := rows.Scan(&s.ComputerID, &s.UpdateID, &s.Approved, &s.State, &s.NeededSince); err != nil {
			return nil, err
		}
		out[key(s)] = s
	}
	return out, rows.Err()
}

// UpdateStates returns the stored states of one update, by computer id.
func (r Reader) UpdateStates(ctx context.Context, updateID int64) (map[int64]StateRow, error) {
	rows, err := r.query(ctx, `SELECT computer_id, update_id, approved, state, needed_since FROM computer_updates WHERE update_id = $1`, updateID)
	if err != nil {
		return nil, fmt.Errorf("states of update %d: %w", updateID, err)
	}
	return scanStateRows(rows, func(s StateRow) int64 { return s.ComputerID })
}

// ComputerStates returns the stored states on one computer, by update id.
func (r Reader) ComputerStates(ctx context.Context, computerID int64) (map[int64]StateRow, error) {
	rows, err := r.query(ctx, `SELECT computer_id, update_id, approved, state, needed_since FROM computer_updates WHERE computer_id = $1`, computerID)
	if err != nil {
		return nil, fmt.Errorf("states of computer %d: %w", computerID, err)
	}
	return scanStateRows(rows, func(s StateRow) int64 { return s.UpdateID })
}

// StateChange sets the state of one update on one computer; State "" removes the row (the
// update no longer concerns the computer).
type StateChange struct {
	OrgID, ComputerID, UpdateID int64
	State                       string
	NeededSince                 *time.Time
	// First marks a row that appears for the first time; its needed_since records when, so
	// it gets no history row (a full evaluation creates millions of them).
	First bool
}

// ApplyStateChanges writes state changes and their history. A full evaluation may change
// millions of rows, so rows go in multi-row statements of a few hundred, each prepared once.
func (tx *Tx) ApplyStateChanges(ctx context.Context, changes []StateChange) error {
	now := Now()
	// An evaluator on some node may still hold a computer deleted meanwhile: its changes
	// go, rather than the batch failing on the foreign key for everyone else.
	changes, err := tx.existingComputers(ctx, changes)
	if err != nil {
		return fmt.Errorf("apply states: %w", err)
	}
	var upserts, deletes []StateChange
	for _, c := range changes {
		if c.State == "" {
			deletes = append(deletes, c)
		} else {
			upserts = append(upserts, c)
		}
	}
	err = tx.batchInsert(ctx, `INSERT INTO computer_updates (computer_id, update_id, org_id, state, needed_since, updated_at) VALUES `,
		` ON CONFLICT (computer_id, update_id) DO UPDATE SET state = excluded.state,
			needed_since = COALESCE(computer_updates.needed_since, excluded.needed_since), updated_at = excluded.updated_at`,
		6, len(upserts), func(i int) []any {
			c := upserts[i]
			return []any{c.ComputerID, c.UpdateID, c.OrgID, c.State, c.NeededSince, now}
		})
	if err != nil {
		return fmt.Errorf("apply states: %w", err)
	}
	if len(deletes) > 0 {
		del, err := tx.tx.PrepareContext(ctx, `DELETE FROM computer_updates WHERE computer_id = $1 AND update_id = $2`)
		if err != nil {
			return fmt.Errorf("apply states: %w", err)
		}
		defer del.Close()
		for _, c := range deletes {
			if _, err := del.ExecContext(ctx, c.ComputerID, c.UpdateID); err != nil {
				return fmt.Errorf("apply states: %w", err)
			}
		}
	}
	hist := make([]StateChange, 0, len(changes))
	for _, c := range changes {
		if !c.First {
			hist = append(hist, c)
		}
	}
	err = tx.batchInsert(ctx, `INSERT INTO update_state_history (org_id, computer_id, update_id, state, at) VALUES `, "",
		5, len(hist), func(i int) []any {
			c := hist[i]
			state := c.State
			if state == "" {
				state = "not_applicable"
			}
			return []any{c.OrgID, c.ComputerID, c.UpdateID, state, now}
		})
	if err != nil {
		return fmt.Errorf("apply states: history: %w", err)
	}
	return nil
}

// batchInsert inserts n rows of cols values each (row(i) gives them) with statements of up
// to rowsPerStatement rows: head, the placeholders, tail.
// existingComputers returns the changes whose computers exist, in order.
func (tx *Tx) existingComputers(ctx context.Context, changes []StateChange) ([]StateChange, error) {
	ids := make([]int64, 0, len(changes))
	seen := map[int64]bool{}
	for _, c := range changes {
		if !seen[c.ComputerID] {
			seen[c.ComputerID] = true
			ids = append(ids, c.ComputerID)
		}
	}
	exists := make(map[int64]bool, len(ids))
	const chunk = 500
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		args := make([]any, n)
		marks := make([]string, n)
		for i := range n {
			args[i] = ids[i]
			marks[i] = "$" + strconv.Itoa(i+1)
		}
		// FOR KEY SHARE on PostgreSQL: a delete in flight is waited for (and then the row is
		// gone), and none can start before this transaction ends, so the inserts below never
		// meet a computer deleted meanwhile. SQLite has one writer.
		lock := ""
		if tx.engine == Postgres {
			lock = " FOR KEY SHARE"
		}
		rows, err := tx.query(ctx, `SELECT id FROM computers WHERE id IN (`+strings.Join(marks, ",")+`)`+lock, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			exists[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	if len(exists) == len(seen) {
		return changes, nil
	}
	out := changes[:0:0]
	for _, c := range changes {
		if exists[c.ComputerID] {
			out = append(out, c)
		}
	}
	return out, nil
}

func (tx *Tx) batchInsert(ctx context.Context, head, tail string, cols, n int, row func(int) []any) error {
	const rowsPerStatement = 400
	statement := func(rows int) string {
		var q strings.Builder
		q.WriteString(head)
		for r := range rows {
			if r > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			for c := range cols {
				if c > 0 {
					q.WriteString(", ")
				}
				if tx.engine == Postgres {
					fmt.Fprintf(&q, "$%d", r*cols+c+1)
				} else {
					// Anonymous parameters: the SQLite driver looks up each numbered one's
					// name by a linear search, quadratic over a statement of 2,000.
					q.WriteByte('?')
				}
			}
			q.WriteByte(')')
		}
		q.WriteString(tail)
		return q.String()
	}
	var full *sql.Stmt
	if n >= rowsPerStatement {
		var err error
		if full, err = tx.tx.PrepareContext(ctx, statement(rowsPerStatement)); err != nil {
			return err
		}
		defer full.Close()
	}
	args := make([]any, 0, rowsPerStatement*cols)
	for i := 0; i < n; i += rowsPerStatement {
		k := min(rowsPerStatement, n-i)
		args = args[:0]
		for j := i; j < i+k; j++ {
			args = append(args, row(j)...)
		}
		var err error
		if k == rowsPerStatement {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.exec(ctx, statement(k), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// StateHistoryEntry is one change of state.
type StateHistoryEntry struct {
	UpdateID   int64     `json:"update_id"`
	UpdateName string    `json:"update"`
	State      string    `json:"state"`
	At         time.Time `json:"at"`
}

// StateHistory lists a computer's changes of state, newest first.
func (r Reader) StateHistory(ctx context.Context, computerID int64, limit int) ([]StateHistoryEntry, error) {
	rows, err := r.query(ctx, `SELECT h.update_id, u.name, h.state, h.at FROM update_state_history h JOIN updates u ON u.id = h.update_id
		WHERE h.computer_id = $1 ORDER BY h.id DESC LIMIT $2`, computerID, limit)
	if err != nil {
		return nil, fmt.Errorf("history of computer %d: %w", computerID, err)
	}
	defer rows.Close()
	var out []StateHistoryEntry
	for rows.Next() {
		var e StateHistoryEntry
		if err := rows.Scan(&e.UpdateID, &e.UpdateName, &e.State, &e.At); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ClearPendingReboot marks a computer's updates that waited for a reboot as installed: the
// machine reports no pending reboot any more.
func (tx *Tx) ClearPendingReboot(ctx context.Context, orgID, computerID int64) error {
	now := Now()
	if _, err := tx.exec(ctx, `INSERT INTO update_state_history (org_id, computer_id, update_id, state, at)
		SELECT org_id, computer_id, update_id, 'installed', $2 FROM computer_updates WHERE computer_id = $1 AND state = 'pending_reboot'`,
		computerID, now); err != nil {
		return fmt.Errorf("clear pending reboot: %w", err)
	}
	if _, err := tx.exec(ctx, `UPDATE computer_updates SET state = 'installed', updated_at = $2 WHERE computer_id = $1 AND state = 'pending_reboot'`,
		computerID, now); err != nil {
		return fmt.Errorf("clear pending reboot: %w", err)
	}
	return nil
}
