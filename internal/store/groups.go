package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Group is a group of computers: static when Rule is empty, else dynamic.
type Group struct {
	ID          int64  `json:"id"`
	OrgID       int64  `json:"org_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Rule        string `json:"rule"`
	Ring        *int   `json:"ring,omitempty"`
	Windows     string `json:"windows"`  // weekly maintenance windows; "" is any time
	Timezone    string `json:"timezone"` // of the windows
	// Rollout limits: at most MaxStarts computers (0: no limit) start an update per
	// StartWindowMinutes; an approval halts when more than HaltFailurePct percent (0: never)
	// of at least HaltMinAttempts attempted installs failed.
	MaxStarts          int       `json:"max_starts"`
	StartWindowMinutes int       `json:"start_window_minutes"`
	HaltFailurePct     int       `json:"halt_failure_pct"`
	HaltMinAttempts    int       `json:"halt_min_attempts"`
	Members            int       `json:"members"`
	CreatedAt          time.Time `json:"created_at"`
	CreatedBy          string    `json:"created_by"`
}

const groupCols = `g.id, g.org_id, g.name, g.description, g.rule, g.ring, g.windows, g.timezone,
	g.max_starts, g.start_window_minutes, g.halt_failure_pct, g.halt_min_attempts,
	(SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id), g.created_at, g.created_by`

func scanGroup(row interface{ Scan(...any) error }) (Group, error) {
	var g Group
	err := row.Scan(&g.ID, &g.OrgID, &g.Name, &g.Description, &g.Rule, &g.Ring, &g.Windows, &g.Timezone,
		&g.MaxStarts, &g.StartWindowMinutes, &g.HaltFailurePct, &g.HaltMinAttempts, &g.Members, &g.CreatedAt, &g.CreatedBy)
	return g, err
}

// CreateGroup stores a group.
func (tx *Tx) CreateGroup(ctx context.Context, g Group) (Group, error) {
	var id int64
	if g.Timezone == "" {
		g.Timezone = "UTC"
	}
	if g.StartWindowMinutes == 0 {
		g.StartWindowMinutes = 60
	}
	if g.HaltMinAttempts == 0 {
		g.HaltMinAttempts = 3
	}
	err := tx.queryRow(ctx, `INSERT INTO computer_groups (org_id, name, description, rule, ring, windows, timezone,
		max_starts, start_window_minutes, halt_failure_pct, halt_min_attempts, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`, g.OrgID, g.Name, g.Description, g.Rule, g.Ring,
		g.Windows, g.Timezone, g.MaxStarts, g.StartWindowMinutes, g.HaltFailurePct, g.HaltMinAttempts, Now(), g.CreatedBy).Scan(&id)
	if err != nil {
		return Group{}, fmt.Errorf("create group %s: %w", g.Name, mapErr(err))
	}
	return tx.GroupByID(ctx, g.OrgID, id)
}

// GroupByID finds an organisation's group.
func (r Reader) GroupByID(ctx context.Context, orgID, id int64) (Group, error) {
	g, err := scanGroup(r.queryRow(ctx, `SELECT `+groupCols+` FROM computer_groups g WHERE g.org_id = $1 AND g.id = $2`, orgID, id))
	if err != nil {
		return Group{}, fmt.Errorf("group %d: %w", id, mapErr(err))
	}
	return g, nil
}

// GroupByName finds an organisation's group by name.
func (r Reader) GroupByName(ctx context.Context, orgID int64, name string) (Group, error) {
	g, err := scanGroup(r.queryRow(ctx, `SELECT `+groupCols+` FROM computer_groups g WHERE g.org_id = $1 AND g.name = $2`, orgID, name))
	if err != nil {
		return Group{}, fmt.Errorf("group %s: %w", name, mapErr(err))
	}
	return g, nil
}

// ListGroups lists an organisation's groups, rings first in ring order, then by name.
func (r Reader) ListGroups(ctx context.Context, orgID int64) ([]Group, error) {
	rows, err := r.query(ctx, `SELECT `+groupCols+` FROM computer_groups g WHERE g.org_id = $1
		ORDER BY CASE WHEN g.ring IS NULL THEN 1 ELSE 0 END, g.ring, g.name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// UpdateGroup changes a group's description, rule and ring.
func (tx *Tx) UpdateGroup(ctx context.Context, g Group) (Group, error) {
	if _, err := tx.exec(ctx, `UPDATE computer_groups SET description = $3, rule = $4, ring = $5, windows = $6, timezone = $7,
		max_starts = $8, start_window_minutes = $9, halt_failure_pct = $10, halt_min_attempts = $11
		WHERE org_id = $1 AND id = $2`, g.OrgID, g.ID, g.Description, g.Rule, g.Ring, g.Windows, g.Timezone,
		g.MaxStarts, g.StartWindowMinutes, g.HaltFailurePct, g.HaltMinAttempts); err != nil {
		return Group{}, fmt.Errorf("update group %s: %w", g.Name, err)
	}
	return tx.GroupByID(ctx, g.OrgID, g.ID)
}

// RenameGroup gives a group a new name, and the enrollment tokens that put new machines in
// it the new name too, so that they keep doing so. It returns the name the group had and
// how many tokens changed. A name another group of the organisation has is ErrConflict.
func (tx *Tx) RenameGroup(ctx context.Context, orgID, id int64, to string) (from string, tokens int, err error) {
	if from, err = tx.lockGroup(ctx, orgID, id); err != nil {
		return "", 0, err
	}
	if tokens, err = tx.replaceTokenGroup(ctx, orgID, from, to); err != nil {
		return "", 0, err
	}
	res, err := tx.exec(ctx, `UPDATE computer_groups SET name = $3 WHERE org_id = $1 AND id = $2`, orgID, id, to)
	if err != nil {
		return "", 0, fmt.Errorf("rename group %s to %s: %w", from, to, mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", 0, fmt.Errorf("rename group %s: %w", from, ErrNotFound)
	}
	return from, tokens, nil
}

// DeleteGroup deletes a group with its memberships, approvals, rules and scan schedules,
// and takes its name out of the enrollment tokens that named it (a group created later
// under the name must not receive their machines). It returns how many tokens changed.
func (tx *Tx) DeleteGroup(ctx context.Context, orgID, id int64) (tokens int, err error) {
	name, err := tx.lockGroup(ctx, orgID, id)
	if err != nil {
		return 0, err
	}
	if tokens, err = tx.replaceTokenGroup(ctx, orgID, name, ""); err != nil {
		return 0, err
	}
	if _, err := tx.exec(ctx, `DELETE FROM computer_groups WHERE org_id = $1 AND id = $2`, orgID, id); err != nil {
		return 0, fmt.Errorf("delete group %s: %w", name, err)
	}
	return tokens, nil
}

// lockGroup reads a group's name for a change of it. On PostgreSQL the locks of a rename or
// a delete come in an order no enrollment can cross: first the group's row in a mode that
// only other such changes wait for (an enrollment's foreign key check does not), so that
// they follow one another and the name read is the group's; then the tokens naming it,
// which an enrollment locks first (replaceTokenGroup); only then the change of the group's
// row itself, which waits for the enrollments that hold those tokens to end.
func (tx *Tx) lockGroup(ctx context.Context, orgID, id int64) (string, error) {
	q := `SELECT name FROM computer_groups WHERE org_id = $1 AND id = $2`
	if tx.engine == Postgres {
		q += ` FOR NO KEY UPDATE`
	}
	var name string
	if err := tx.queryRow(ctx, q, orgID, id).Scan(&name); err != nil {
		return "", fmt.Errorf("group %d: %w", id, mapErr(err))
	}
	return name, nil
}

// replaceTokenGroup replaces the group name from by to in the organisation's enrollment
// tokens (to "" removes it), and returns how many tokens changed.
func (tx *Tx) replaceTokenGroup(ctx context.Context, orgID int64, from, to string) (int, error) {
	// Names are slugs, so the JSON text holds them verbatim; LIKE only narrows the rows down
	// ('_' matches any character) and the list decides.
	q := `SELECT ` + enrollTokenCols + ` FROM enroll_tokens WHERE org_id = $1 AND groups LIKE $2 ORDER BY id`
	if tx.engine == Postgres {
		q += ` FOR UPDATE`
	}
	rows, err := tx.query(ctx, q, orgID, `%"`+from+`"%`)
	if err != nil {
		return 0, fmt.Errorf("group %s: enrollment tokens: %w", from, err)
	}
	var changed []EnrollToken
	for rows.Next() {
		t, err := scanEnrollToken(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("group %s: enrollment tokens: %w", from, err)
		}
		groups := []string{}
		for _, g := range t.Groups {
			switch {
			case g != from:
				groups = append(groups, g)
			case to != "":
				groups = append(groups, to)
			}
		}
		if !slices.Equal(groups, t.Groups) {
			t.Groups = groups
			changed = append(changed, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("group %s: enrollment tokens: %w", from, err)
	}
	for _, t := range changed {
		groups, err := json.Marshal(t.Groups)
		if err != nil {
			return 0, err
		}
		if _, err := tx.exec(ctx, `UPDATE enroll_tokens SET groups = $2 WHERE id = $1`, t.ID, string(groups)); err != nil {
			return 0, fmt.Errorf("group %s: enrollment token %d: %w", from, t.ID, err)
		}
	}
	return len(changed), nil
}

// AddGroupMember puts a computer in a group (no error when it is already there).
func (tx *Tx) AddGroupMember(ctx context.Context, groupID, computerID int64, by string) error {
	if _, err := tx.exec(ctx, `INSERT INTO group_members (group_id, computer_id, added_by, added_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (group_id, computer_id) DO NOTHING`, groupID, computerID, by, Now()); err != nil {
		return fmt.Errorf("add computer %d to group %d: %w", computerID, groupID, err)
	}
	return nil
}

// RemoveGroupMember takes a computer out of a group; removed is false when it was not in it.
func (tx *Tx) RemoveGroupMember(ctx context.Context, groupID, computerID int64) (removed bool, err error) {
	res, err := tx.exec(ctx, `DELETE FROM group_members WHERE group_id = $1 AND computer_id = $2`, groupID, computerID)
	if err != nil {
		return false, fmt.Errorf("remove computer %d from group %d: %w", computerID, groupID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// GroupMemberIDs lists the computers of a group, by id.
func (r Reader) GroupMemberIDs(ctx context.Context, groupID int64) (map[int64]bool, error) {
	rows, err := r.query(ctx, `SELECT computer_id FROM group_members WHERE group_id = $1`, groupID)
	if err != nil {
		return nil, fmt.Errorf("members of group %d: %w", groupID, err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// ListGroupMembers lists a group's computers in id order.
func (r Reader) ListGroupMembers(ctx context.Context, groupID int64, p Page) ([]Computer, error) {
	rows, err := r.query(ctx, `SELECT `+computerCols+` FROM computers c JOIN group_members m ON m.computer_id = c.id
		WHERE m.group_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3`, groupID, p.After, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("members of group %d: %w", groupID, err)
	}
	defer rows.Close()
	var out []Computer
	for rows.Next() {
		c, err := scanComputer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ComputerGroups lists the groups a computer is in.
func (r Reader) ComputerGroups(ctx context.Context, computerID int64) ([]Group, error) {
	rows, err := r.query(ctx, `SELECT `+groupCols+` FROM computer_groups g JOIN group_members gm ON gm.group_id = g.id
		WHERE gm.computer_id = $1 ORDER BY g.name`, computerID)
	if err != nil {
		return nil, fmt.Errorf("groups of computer %d: %w", computerID, err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// ComputerGroupNames lists the names of the groups a computer is in.
func (r Reader) ComputerGroupNames(ctx context.Context, computerID int64) ([]string, error) {
	rows, err := r.query(ctx, `SELECT g.name FROM computer_groups g JOIN group_members m ON m.group_id = g.id
		WHERE m.computer_id = $1 ORDER BY g.name`, computerID)
	if err != nil {
		return nil, fmt.Errorf("groups of computer %d: %w", computerID, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// SetComputerTags replaces a computer's tags.
func (tx *Tx) SetComputerTags(ctx context.Context, computerID int64, tags []string) error {
	if _, err := tx.exec(ctx, `UPDATE computers SET tags = $2 WHERE id = $1`, computerID, strings.Join(tags, ",")); err != nil {
		return fmt.Errorf("tag computer %d: %w", computerID, err)
	}
	return nil
}
