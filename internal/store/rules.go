package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// ApprovalRule approves matching updates for a group by itself.
type ApprovalRule struct {
	ID             int64  `json:"id"`
	OrgID          int64  `json:"org_id"`
	Name           string `json:"name"`
	GroupID        int64  `json:"group_id"`
	Group          string `json:"group"`
	Classification string `json:"classification,omitempty"`
	MinSeverity    string `json:"min_severity,omitempty"`
	PURLPrefix     string `json:"purl_prefix,omitempty"`
	Advisory       string `json:"advisory,omitempty"`
	DelayDays      int    `json:"delay_days"`
	AfterRingPct   int    `json:"after_ring_pct,omitempty"`
	DeadlineDays   *int   `json:"deadline_days,omitempty"`
	// Enabled is false while the rule is disabled (kept, not run): since DisabledAt, by
	// DisabledBy.
	Enabled    bool       `json:"enabled"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	DisabledBy string     `json:"disabled_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
}

const ruleCols = `r.id, r.org_id, r.name, r.group_id, g.name, r.classification, r.min_severity, r.purl_prefix, r.advisory,
	r.delay_days, r.after_ring_pct,
	r.deadline_days, r.disabled_at, r.disabled_by, r.created_at, r.created_by`

func scanRule(row interface{ Scan(...any) error }) (ApprovalRule, error) {
	var r ApprovalRule
	err := row.Scan(&r.ID, &r.OrgID, &r.Name, &r.GroupID, &r.Group, &r.Classification, &r.MinSeverity, &r.PURLPrefix, &r.Advisory,
		&r.DelayDays, &r.AfterRingPct,
		&r.DeadlineDays, &r.DisabledAt, &r.DisabledBy, &r.CreatedAt, &r.CreatedBy)
	r.Enabled = r.DisabledAt == nil
	return r, err
}

// SetRuleEnabled disables (enabled false) or enables a rule; disabling a disabled rule keeps
// when and by whom it was.
func (tx *Tx) SetRuleEnabled(ctx context.Context, orgID int64, name string, enabled bool, by string) (ApprovalRule, error) {
	var res sql.Result
	var err error
	if enabled {
		res, err = tx.exec(ctx, `UPDATE approval_rules SET disabled_at = NULL, disabled_by = '' WHERE org_id = $1 AND name = $2`, orgID, name)
	} else {
		res, err = tx.exec(ctx, `UPDATE approval_rules SET disabled_at = COALESCE(disabled_at, $3),
			disabled_by = CASE WHEN disabled_at IS NULL THEN $4 ELSE disabled_by END WHERE org_id = $1 AND name = $2`,
			orgID, name, Now(), by)
	}
	if err != nil {
		return ApprovalRule{}, fmt.Errorf("rule %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ApprovalRule{}, fmt.Errorf("rule %s: %w", name, ErrNotFound)
	}
	return scanRule(tx.queryRow(ctx, `SELECT `+ruleCols+` FROM approval_rules r JOIN computer_groups g ON g.id = r.group_id
		WHERE r.org_id = $1 AND r.name = $2`, orgID, name))
}

// CreateRule stores an auto-approval rule.
func (tx *Tx) CreateRule(ctx context.Context, r ApprovalRule) (ApprovalRule, error) {
	var id int64
	err := tx.queryRow(ctx, `INSERT INTO approval_rules (org_id, name, group_id, classification, min_severity, purl_prefix, advisory,
		delay_days, after_ring_pct, deadline_days, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		r.OrgID, r.Name, r.GroupID, r.Classification, r.MinSeverity, r.PURLPrefix, r.Advisory, r.DelayDays, r.AfterRingPct, r.DeadlineDays,
		Now(), r.CreatedBy).Scan(&id)
	if err != nil {
		return ApprovalRule{}, fmt.Errorf("create rule %s: %w", r.Name, mapErr(err))
	}
	return scanRule(tx.queryRow(ctx, `SELECT `+ruleCols+` FROM approval_rules r JOIN computer_groups g ON g.id = r.group_id WHERE r.id = $1`, id))
}

// ListRules lists an organisation's auto-approval rules by name.
func (r Reader) ListRules(ctx context.Context, orgID int64) ([]ApprovalRule, error) {
	rows, err := r.query(ctx, `SELECT `+ruleCols+` FROM approval_rules r JOIN computer_groups g ON g.id = r.group_id
		WHERE r.org_id = $1 ORDER BY r.name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	defer rows.Close()
	var out []ApprovalRule
	for rows.Next() {
		x, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// DeleteRule deletes an auto-approval rule; the approvals it made stay.
func (tx *Tx) DeleteRule(ctx context.Context, orgID int64, name string) error {
	res, err := tx.exec(ctx, `DELETE FROM approval_rules WHERE org_id = $1 AND name = $2`, orgID, name)
	if err != nil {
		return fmt.Errorf("delete rule %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("rule %s: %w", name, ErrNotFound)
	}
	return nil
}

// RuleCandidate is an update an auto-approval rule may approve for its group.
type RuleCandidate struct {
	ID             int64
	Name           string
	Classification string
	Severity       string
}

// RuleCandidates lists the updates created before cutoff that have no decision yet for the
// group and match the rule's classification, package and advisory (each when set). An update
// superseded by another that is not declined is no candidate: the newer one is approved
// instead (machines that need the older one only get it by hand).
func (r Reader) RuleCandidates(ctx context.Context, rule ApprovalRule, cutoff time.Time) ([]RuleCandidate, error) {
	rows, err := r.query(ctx, `SELECT u.id, u.name, u.classification, u.severity FROM updates u
		WHERE u.org_id = $1 AND u.declined_at IS NULL AND u.created_at <= $2 AND ($3 = '' OR u.classification = $3)
		AND ($5 = '' OR u.purl = $5 OR u.purl LIKE $6 ESCAPE '\')
		AND ($7 = '' OR EXISTS (SELECT 1 FROM update_advisories ua JOIN advisories ad ON ad.id = ua.advisory_id
			WHERE ua.update_id = u.id AND ad.tracking_id = $7))
		AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.update_id = u.id AND a.group_id = $4)
		AND NOT EXISTS (SELECT 1 FROM update_links l JOIN updates n ON n.id = l.update_id
			WHERE l.other_id = u.id AND l.kind = 'supersedes' AND n.declined_at IS NULL) ORDER BY u.id`,
		rule.OrgID, cutoff.UTC(), rule.Classification, rule.GroupID, rule.PURLPrefix, prefixPattern(rule.PURLPrefix), rule.Advisory)
	if err != nil {
		return nil, fmt.Errorf("rule candidates: %w", err)
	}
	defer rows.Close()
	var out []RuleCandidate
	for rows.Next() {
		var c RuleCandidate
		if err := rows.Scan(&c.ID, &c.Name, &c.Classification, &c.Severity); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RingSuccess tells how an update fared in the groups of one ring: the machines that needed
// it there, those it is installed on, whether it is approved (and not halted) for all of
// them.
func (r Reader) RingSuccess(ctx context.Context, orgID, updateID int64, ring int) (needed, installed int, approved bool, err error) {
	var groups, running int
	err = r.queryRow(ctx, `SELECT COUNT(*), COUNT(CASE WHEN a.action = 'install' AND a.halted_at IS NULL THEN 1 END)
		FROM computer_groups g LEFT JOIN approvals a ON a.group_id = g.id AND a.update_id = $3
		WHERE g.org_id = $1 AND g.ring = $2`, orgID, ring, updateID).Scan(&groups, &running)
	if err != nil {
		return 0, 0, false, fmt.Errorf("ring %d: %w", ring, err)
	}
	err = r.queryRow(ctx, `SELECT COUNT(DISTINCT cu.computer_id),
		COUNT(DISTINCT CASE WHEN cu.state IN ('installed', 'pending_reboot') THEN cu.computer_id END)
		FROM computer_updates cu JOIN group_members m ON m.computer_id = cu.computer_id
		JOIN computer_groups g ON g.id = m.group_id
		WHERE g.org_id = $1 AND g.ring = $2 AND cu.update_id = $3 AND cu.state <> 'not_applicable'`, orgID, ring, updateID).Scan(&needed, &installed)
	if err != nil {
		return 0, 0, false, fmt.Errorf("ring %d: %w", ring, err)
	}
	return needed, installed, groups > 0 && running == groups, nil
}

// prefixPattern is a LIKE pattern for values starting with s, at a purl boundary.
func prefixPattern(s string) string {
	if s == "" {
		return ""
	}
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.TrimSuffix(s, "/")) + "/%"
}
