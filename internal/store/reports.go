package store

import (
	"context"
	"fmt"
	"time"
)

// OutstandingStates are the states in which an update is still missing on a computer.
var OutstandingStates = []string{StateNeeded, StateApproved, StateFailed}

// Exposure is one update's state on one computer, with what reports show about both.
type Exposure struct {
	ComputerID  int64      `json:"computer_id"`
	Hostname    string     `json:"hostname"`
	UpdateID    int64      `json:"update_id"`
	UpdateName  string     `json:"update"`
	Severity    string     `json:"severity"`
	State       string     `json:"state"`
	Approved    bool       `json:"approved"`
	Deadline    *time.Time `json:"deadline,omitempty"`
	NeededSince *time.Time `json:"needed_since,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// exposureCols are an Exposure's columns (scanExposure reads them). Its deadline is the one
// of a direct assignment, else the earliest of the group approvals that reach the computer
// (groupDeadline), as in the agent's assignment list: a health verdict counts a missing
// update against the policy from the same moment the agent must install it.
const exposureCols = `cu.computer_id, c.hostname, cu.update_id, u.name, u.severity, cu.state, cu.approved, cu.deadline, cu.needed_since, cu.error,
	` + groupDeadline

func scanExposure(row interface{ Scan(...any) error }) (Exposure, error) {
	var e Exposure
	var group any // MIN() of a timestamp: SQLite gives text (timeValue reads both)
	if err := row.Scan(&e.ComputerID, &e.Hostname, &e.UpdateID, &e.UpdateName, &e.Severity, &e.State, &e.Approved,
		&e.Deadline, &e.NeededSince, &e.Error, &group); err != nil {
		return e, err
	}
	if e.Deadline == nil {
		d, err := timeValue(group)
		if err != nil {
			return e, fmt.Errorf("deadline: %w", err)
		}
		e.Deadline = d
	}
	return e, nil
}

func (r Reader) exposures(ctx context.Context, q string, args ...any) ([]Exposure, error) {
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Exposure
	for rows.Next() {
		e, err := scanExposure(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AdvisoryExposures lists the states of the updates that fix an advisory on the active
// computers it concerns, by computer: those with an id above p.After, at most p.Limit
// computers (all their rows). The assignment of an update to a computer it does not concern
// (not_applicable) is no exposure. The advisory belongs to one organisation, and so do its
// updates' states: no organisation filter, which would lead the planner to scan them all.
func (r Reader) AdvisoryExposures(ctx context.Context, advisoryID int64, p Page) ([]Exposure, error) {
	// First the page's computers, walking the primary key (computer_id, update_id) in
	// order so that the scan stops at the page's end (the unary + keeps SQLite from
	// choosing the update_id index and sorting every row); then their rows.
	rows, err := r.query(ctx, `SELECT DISTINCT cu.computer_id FROM computer_updates cu JOIN computers c ON c.id = cu.computer_id
		WHERE cu.computer_id > $2 AND c.revoked_at IS NULL AND cu.state <> 'not_applicable'
		AND +cu.update_id IN (SELECT update_id FROM update_advisories WHERE advisory_id = $1)
		ORDER BY cu.computer_id LIMIT $3`, advisoryID, p.After, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("exposure to advisory %d: %w", advisoryID, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return nil, err
	}
	out, err := r.exposures(ctx, `SELECT `+exposureCols+` FROM computer_updates cu
		JOIN update_advisories ua ON ua.update_id = cu.update_id
		JOIN updates u ON u.id = cu.update_id JOIN computers c ON c.id = cu.computer_id
		WHERE ua.advisory_id = $1 AND cu.computer_id >= $2 AND cu.computer_id <= $3 AND cu.state <> 'not_applicable'
		ORDER BY cu.computer_id, cu.update_id`, advisoryID, ids[0], ids[len(ids)-1])
	if err != nil {
		return nil, fmt.Errorf("exposure to advisory %d: %w", advisoryID, err)
	}
	// The range may hold revoked computers between the page's: keep the page's only.
	keep := map[int64]bool{}
	for _, id := range ids {
		keep[id] = true
	}
	n := 0
	for _, e := range out {
		if keep[e.ComputerID] {
			out[n] = e
			n++
		}
	}
	return out[:n], nil
}

// StatusCounts are how many computers stand where towards an advisory: the worst state of
// its updates on each.
type StatusCounts struct {
	Affected, Patched, Pending, PendingReboot, Failed int
}

// AdvisoryStatusCounts counts the active computers an advisory concerns by status, in the
// database, without reading them.
func (r Reader) AdvisoryStatusCounts(ctx context.Context, advisoryID int64) (StatusCounts, error) {
	var c StatusCounts
	// Most advisories have one update: then the states count straight from the index on
	// (update_id, state), without grouping by computer. (No organisation filter: see
	// AdvisoryExposures.)
	var updates int
	var only int64
	if err := r.queryRow(ctx, `SELECT COUNT(*), COALESCE(MIN(update_id), 0) FROM update_advisories WHERE advisory_id = $1`,
		advisoryID).Scan(&updates, &only); err != nil {
		return c, fmt.Errorf("exposure to advisory %d: %w", advisoryID, err)
	}
	if updates == 1 {
		// All states from the index alone, less those of the (few) revoked computers.
		for _, q := range []struct {
			sql  string
			sign int
		}{
			{`SELECT state, COUNT(*) FROM computer_updates WHERE update_id = $1 GROUP BY state`, 1},
			{`SELECT cu.state, COUNT(*) FROM computers c JOIN computer_updates cu ON cu.computer_id = c.id AND cu.update_id = $1
				WHERE c.revoked_at IS NOT NULL AND c.org_id = (SELECT org_id FROM updates WHERE id = $1) GROUP BY cu.state`, -1},
		} {
			rows, err := r.query(ctx, q.sql, only)
			if err != nil {
				return c, fmt.Errorf("exposure to advisory %d: %w", advisoryID, err)
			}
			for rows.Next() {
				var state string
				var n int
				if err := rows.Scan(&state, &n); err != nil {
					rows.Close()
					return c, err
				}
				if state == StateNotApplicable {
					continue // assignments to computers the update does not concern
				}
				n *= q.sign
				c.Affected += n
				switch state {
				case StateInstalled:
					c.Patched += n
				case StatePendingReboot:
					c.PendingReboot += n
				case StateFailed:
					c.Failed += n
				default:
					c.Pending += n
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return c, err
			}
		}
		return c, nil
	}
	err := r.queryRow(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN worst = 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN worst = 2 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN worst = 1 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN worst = 3 THEN 1 ELSE 0 END), 0)
		FROM (SELECT cu.computer_id, MAX(CASE cu.state WHEN 'installed' THEN 0 WHEN 'pending_reboot' THEN 1
				WHEN 'failed' THEN 3 ELSE 2 END) AS worst
			FROM computer_updates cu JOIN update_advisories ua ON ua.update_id = cu.update_id
			JOIN computers c ON c.id = cu.computer_id
			WHERE ua.advisory_id = $1 AND c.revoked_at IS NULL AND cu.state <> 'not_applicable' GROUP BY cu.computer_id) x`,
		advisoryID).Scan(&c.Affected, &c.Patched, &c.Pending, &c.PendingReboot, &c.Failed)
	if err != nil {
		return StatusCounts{}, fmt.Errorf("exposure to advisory %d: %w", advisoryID, err)
	}
	return c, nil
}

// ComputerExposures lists the updates that concern a computer.
func (r Reader) ComputerExposures(ctx context.Context, orgID, computerID int64) ([]Exposure, error) {
	out, err := r.exposures(ctx, `SELECT `+exposureCols+` FROM computer_updates cu
		JOIN updates u ON u.id = cu.update_id JOIN computers c ON c.id = cu.computer_id
		WHERE cu.computer_id = $1 AND c.org_id = $2 ORDER BY cu.update_id`, computerID, orgID)
	if err != nil {
		return nil, fmt.Errorf("exposure of computer %d: %w", computerID, err)
	}
	return out, nil
}

// OrgOutstanding calls fn with every outstanding update of every active computer of the
// organisation, by computer.
func (r Reader) OrgOutstanding(ctx context.Context, orgID int64, fn func(Exposure) error) error {
	rows, err := r.query(ctx, `SELECT `+exposureCols+` FROM computer_updates cu
		JOIN updates u ON u.id = cu.update_id JOIN computers c ON c.id = cu.computer_id
		WHERE cu.org_id = $1 AND cu.state IN ('needed', 'approved', 'failed') AND c.revoked_at IS NULL
		ORDER BY cu.computer_id`, orgID)
	if err != nil {
		return fmt.Errorf("outstanding updates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanExposure(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AdvisoriesByCVE lists an organisation's advisories that name a CVE.
func (r Reader) AdvisoriesByCVE(ctx context.Context, orgID int64, cve string) ([]Advisory, error) {
	rows, err := r.query(ctx, `SELECT a.id FROM advisories a JOIN advisory_cves ac ON ac.advisory_id = a.id
		WHERE a.org_id = $1 AND ac.cve = $2 ORDER BY a.id`, orgID, cve)
	if err != nil {
		return nil, fmt.Errorf("advisories of %s: %w", cve, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Advisory
	for _, id := range ids {
		a, err := r.Advisory(ctx, orgID, id)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// HealthPolicy is what makes a computer of an organisation non-compliant.
type HealthPolicy struct {
	MaxMissingCritical  int  `json:"max_missing_critical"`
	MaxMissingHigh      int  `json:"max_missing_high"`
	GraceDays           int  `json:"grace_days"`
	MaxAntivirusAgeDays int  `json:"max_antivirus_age_days"`
	RequireFirewall     bool `json:"require_firewall"`
	MaxSilentHours      int  `json:"max_silent_hours"`
	// MinCompliantPct: when the share of compliant computers falls below it, a
	// compliance.below_threshold event goes to subscribers, once a day (0: never).
	MinCompliantPct int       `json:"min_compliant_pct"`
	UpdatedAt       time.Time `json:"updated_at,omitempty"`
	UpdatedBy       string    `json:"updated_by,omitempty"`
}

// DefaultHealthPolicy applies until an admin sets one: no critical or high update missing
// past its deadline (or a week after it became needed), antivirus signatures at most 7 days
// old where an antivirus is installed, a firewall, and a check-in within 48 hours.
var DefaultHealthPolicy = HealthPolicy{GraceDays: 7, MaxAntivirusAgeDays: 7, RequireFirewall: true, MaxSilentHours: 48}

// HealthPolicy loads an organisation's policy, or the default.
func (r Reader) HealthPolicy(ctx context.Context, orgID int64) (HealthPolicy, error) {
	var p HealthPolicy
	err := r.queryRow(ctx, `SELECT max_missing_critical, max_missing_high, grace_days, max_antivirus_age_days, require_firewall,
		max_silent_hours, min_compliant_pct, updated_at, updated_by FROM health_policies WHERE org_id = $1`, orgID).Scan(&p.MaxMissingCritical,
		&p.MaxMissingHigh, &p.GraceDays, &p.MaxAntivirusAgeDays, &p.RequireFirewall, &p.MaxSilentHours, &p.MinCompliantPct, &p.UpdatedAt, &p.UpdatedBy)
	if err := mapErr(err); err == ErrNotFound {
		return DefaultHealthPolicy, nil
	} else if err != nil {
		return HealthPolicy{}, fmt.Errorf("health policy: %w", err)
	}
	return p, nil
}

// SetHealthPolicy stores an organisation's policy.
func (tx *Tx) SetHealthPolicy(ctx context.Context, orgID int64, p HealthPolicy, by string) (HealthPolicy, error) {
	p.UpdatedAt, p.UpdatedBy = Now(), by
	_, err := tx.exec(ctx, `INSERT INTO health_policies (org_id, max_missing_critical, max_missing_high, grace_days, max_antivirus_age_days,
		require_firewall, max_silent_hours, min_compliant_pct, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (org_id) DO UPDATE SET max_missing_critical = excluded.max_missing_critical, max_missing_high = excluded.max_missing_high,
			grace_days = excluded.grace_days, max_antivirus_age_days = excluded.max_antivirus_age_days,
			require_firewall = excluded.require_firewall, max_silent_hours = excluded.max_silent_hours,
			min_compliant_pct = excluded.min_compliant_pct, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		orgID, p.MaxMissingCritical, p.MaxMissingHigh, p.GraceDays, p.MaxAntivirusAgeDays, p.RequireFirewall, p.MaxSilentHours, p.MinCompliantPct,
		p.UpdatedAt, by)
	if err != nil {
		return HealthPolicy{}, fmt.Errorf("set health policy: %w", err)
	}
	return p, nil
}

// Snapshot is an organisation's compliance on one day.
type Snapshot struct {
	Day             string    `json:"day"`
	Computers       int       `json:"computers"`
	Compliant       int       `json:"compliant"`
	MissingCritical int       `json:"missing_critical"`
	MissingHigh     int       `json:"missing_high"`
	MissingTotal    int       `json:"missing_total"`
	TakenAt         time.Time `json:"taken_at"`
}

// SaveSnapshot stores (or replaces) the organisation's snapshot of its day.
func (tx *Tx) SaveSnapshot(ctx context.Context, orgID int64, s Snapshot) error {
	_, err := tx.exec(ctx, `INSERT INTO compliance_snapshots (org_id, day, computers, compliant, missing_critical, missing_high, missing_total, taken_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (org_id, day) DO UPDATE SET computers = excluded.computers, compliant = excluded.compliant,
			missing_critical = excluded.missing_critical, missing_high = excluded.missing_high,
			missing_total = excluded.missing_total, taken_at = excluded.taken_at`,
		orgID, s.Day, s.Computers, s.Compliant, s.MissingCritical, s.MissingHigh, s.MissingTotal, s.TakenAt.UTC())
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	return nil
}

// Snapshots lists an organisation's snapshots from a day on, oldest first.
func (r Reader) Snapshots(ctx context.Context, orgID int64, fromDay string) ([]Snapshot, error) {
	rows, err := r.query(ctx, `SELECT day, computers, compliant, missing_critical, missing_high, missing_total, taken_at
		FROM compliance_snapshots WHERE org_id = $1 AND day >= $2 ORDER BY day`, orgID, fromDay)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		var s Snapshot
		if err := rows.Scan(&s.Day, &s.Computers, &s.Compliant, &s.MissingCritical, &s.MissingHigh, &s.MissingTotal, &s.TakenAt); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// MissingUpdate is an update still missing on an organisation's active computers.
type MissingUpdate struct {
	Update   string     `json:"update"`
	Title    string     `json:"title"`
	Severity string     `json:"severity"`
	Machines int        `json:"machines"` // active computers on which it is needed, approved or failed
	Failed   int        `json:"failed"`
	Deadline *time.Time `json:"deadline,omitempty"` // the earliest of its direct assignments' and install approvals' deadlines
}

// MissingUpdates lists the updates still missing on the organisation's active computers, with
// how many computers miss each: one pass over the outstanding states, for dashboards that
// rank what to push first.
func (r Reader) MissingUpdates(ctx context.Context, orgID int64) ([]MissingUpdate, error) {
	rows, err := r.query(ctx, `SELECT u.name, u.title, u.severity, COUNT(*), COUNT(CASE WHEN cu.state = 'failed' THEN 1 END), MIN(cu.deadline),
		(SELECT MIN(a.deadline) FROM approvals a WHERE a.update_id = u.id AND a.action = 'install' AND a.halted_at IS NULL)
		FROM computer_updates cu JOIN updates u ON u.id = cu.update_id JOIN computers c ON c.id = cu.computer_id
		WHERE cu.org_id = $1 AND cu.state IN ('needed', 'approved', 'failed') AND c.revoked_at IS NULL
		GROUP BY u.id, u.name, u.title, u.severity ORDER BY u.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("missing updates: %w", err)
	}
	defer rows.Close()
	var out []MissingUpdate
	for rows.Next() {
		var m MissingUpdate
		var direct, approval any // MIN() of timestamps: text on SQLite (timeValue reads both)
		if err := rows.Scan(&m.Update, &m.Title, &m.Severity, &m.Machines, &m.Failed, &direct, &approval); err != nil {
			return nil, err
		}
		for _, v := range []any{direct, approval} {
			d, err := timeValue(v)
			if err != nil {
				return nil, fmt.Errorf("missing updates: deadline: %w", err)
			}
			if d != nil && (m.Deadline == nil || d.Before(*m.Deadline)) {
				m.Deadline = d
			}
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
