package store

import (
	"context"
	"fmt"
	"time"
)

// CleanupCounts tells what a cleanup removed.
type CleanupCounts struct {
	DeclinedUpdates int64    `json:"declined_updates"`
	DroppedStates   int64    `json:"dropped_states"`
	Payloads        int64    `json:"payloads"`
	BlobsUnused     []string `json:"-"` // digests no organisation uses any more
	History         int64    `json:"history"`
	Results         int64    `json:"results"`
	Inventories     int64    `json:"inventories"`
}

// DeclineSuperseded declines, for everyone, the updates that a newer update superseded
// before supersededBefore and that no active computer still needs (no state but installed),
// and drops their states. It returns the ids declined.
func (tx *Tx) DeclineSuperseded(ctx context.Context, supersededBefore time.Time, by string) ([]int64, int64, error) {
	rows, err := tx.query(ctx, `SELECT u.id FROM updates u
		WHERE u.declined_at IS NULL
		AND EXISTS (SELECT 1 FROM update_links l JOIN updates n ON n.id = l.update_id
			WHERE l.other_id = u.id AND l.kind = 'supersedes' AND n.created_at < $1 AND n.declined_at IS NULL)
		AND NOT EXISTS (SELECT 1 FROM computer_updates cu JOIN computers c ON c.id = cu.computer_id
			WHERE cu.update_id = u.id AND cu.state IN ('needed', 'approved', 'failed') AND c.revoked_at IS NULL)`, supersededBefore.UTC())
	if err != nil {
		return nil, 0, fmt.Errorf("decline superseded: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var dropped int64
	now := Now()
	for _, id := range ids {
		if _, err := tx.exec(ctx, `UPDATE updates SET declined_at = $2, declined_by = $3 WHERE id = $1`, id, now, by); err != nil {
			return nil, 0, fmt.Errorf("decline update %d: %w", id, err)
		}
		res, err := tx.exec(ctx, `DELETE FROM computer_updates WHERE update_id = $1`, id)
		if err != nil {
			return nil, 0, fmt.Errorf("decline update %d: %w", id, err)
		}
		n, _ := res.RowsAffected()
		dropped += n
		if _, err := tx.exec(ctx, `DELETE FROM approvals WHERE update_id = $1`, id); err != nil {
			return nil, 0, fmt.Errorf("decline update %d: %w", id, err)
		}
	}
	return ids, dropped, nil
}

// DeleteUnusedPayloads deletes the payload records that no undeclined update uses and that
// were uploaded before olderThan. It returns how many, and the digests no record names any
// more (their blobs can go).
func (tx *Tx) DeleteUnusedPayloads(ctx context.Context, olderThan time.Time) (int64, []string, error) {
	rows, err := tx.query(ctx, `SELECT p.id, p.digest FROM payloads p WHERE p.created_at < $1
		AND NOT EXISTS (SELECT 1 FROM updates u WHERE u.payload_id = p.id AND u.declined_at IS NULL)`, olderThan.UTC())
	if err != nil {
		return 0, nil, fmt.Errorf("unused payloads: %w", err)
	}
	type pl struct {
		id     int64
		digest string
	}
	var ps []pl
	for rows.Next() {
		var p pl
		if err := rows.Scan(&p.id, &p.digest); err != nil {
			rows.Close()
			return 0, nil, err
		}
		ps = append(ps, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	var gone []string
	for _, p := range ps {
		// Declined updates keep their record of the payload for history; the link goes.
		if _, err := tx.exec(ctx, `UPDATE updates SET payload_id = NULL WHERE payload_id = $1`, p.id); err != nil {
			return 0, nil, err
		}
		if _, err := tx.exec(ctx, `DELETE FROM payloads WHERE id = $1`, p.id); err != nil {
			return 0, nil, fmt.Errorf("delete payload %s: %w", p.digest, err)
		}
		var left int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM payloads WHERE digest = $1`, p.digest).Scan(&left); err != nil {
			return 0, nil, err
		}
		if left == 0 {
			gone = append(gone, p.digest)
		}
	}
	return int64(len(ps)), gone, nil
}

// DeleteOldHistory deletes state history and install results older than before.
func (tx *Tx) DeleteOldHistory(ctx context.Context, before time.Time) (history, results int64, err error) {
	res, err := tx.exec(ctx, `DELETE FROM update_state_history WHERE at < $1`, before.UTC())
	if err != nil {
		return 0, 0, fmt.Errorf("delete old history: %w", err)
	}
	history, _ = res.RowsAffected()
	res, err = tx.exec(ctx, `DELETE FROM install_results WHERE received_at < $1`, before.UTC())
	if err != nil {
		return 0, 0, fmt.Errorf("delete old results: %w", err)
	}
	results, _ = res.RowsAffected()
	return history, results, nil
}

// TableRows counts the rows of the tables that grow with time, for the cleanup's tests and
// for operators.
func (r Reader) TableRows(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range []string{"updates", "payloads", "computer_updates", "update_state_history", "install_results", "inventories",
		"approvals", "events", "audit_events"} {
		var n int64
		if err := r.queryRow(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}
