package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ScanSchedule lets the agents of a group scan the subnets they sit on (distributed
// scanning): every Every, one live member per subnet scans it and uploads the result.
type ScanSchedule struct {
	ID        int64         `json:"id"`
	OrgID     int64         `json:"org_id"`
	Name      string        `json:"name"`
	GroupID   int64         `json:"group_id"`
	Group     string        `json:"group"`
	Every     time.Duration `json:"-"`
	EverySecs int64         `json:"every_seconds"`
	Ports     string        `json:"ports"`
	UDP       string        `json:"udp"`
	Rate      int           `json:"rate"`
	Policy    string        `json:"policy,omitempty"`
	Enabled   bool          `json:"enabled"`
	CreatedAt time.Time     `json:"created_at"`
	CreatedBy string        `json:"created_by"`
	UpdatedAt time.Time     `json:"updated_at"`
}

const scanScheduleCols = `s.id, s.org_id, s.name, s.group_id, g.name, s.every_seconds, s.ports, s.udp, s.rate, s.policy, s.enabled,
	s.created_at, s.created_by, s.updated_at`

func scanScanSchedule(row interface{ Scan(...any) error }) (ScanSchedule, error) {
	var s ScanSchedule
	err := row.Scan(&s.ID, &s.OrgID, &s.Name, &s.GroupID, &s.Group, &s.EverySecs, &s.Ports, &s.UDP, &s.Rate, &s.Policy, &s.Enabled,
		&s.CreatedAt, &s.CreatedBy, &s.UpdatedAt)
	s.Every = time.Duration(s.EverySecs) * time.Second
	return s, err
}

// SaveScanSchedule creates a schedule (ID 0) or replaces one, and bumps the organisation's
// assignment generation so agents hear of it at their next check-in.
func (tx *Tx) SaveScanSchedule(ctx context.Context, s ScanSchedule) (ScanSchedule, error) {
	now := Now()
	secs := int64(s.Every / time.Second)
	var err error
	if s.ID == 0 {
		err = tx.queryRow(ctx, `INSERT INTO scan_schedules (org_id, name, group_id, every_seconds, ports, udp, rate, policy, enabled,
			created_at, created_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			s.OrgID, s.Name, s.GroupID, secs, s.Ports, s.UDP, s.Rate, s.Policy, s.Enabled, now, s.CreatedBy, now).Scan(&s.ID)
	} else {
		_, err = tx.exec(ctx, `UPDATE scan_schedules SET group_id = $1, every_seconds = $2, ports = $3, udp = $4, rate = $5, policy = $6,
			enabled = $7, updated_at = $8 WHERE org_id = $9 AND id = $10`, s.GroupID, secs, s.Ports, s.UDP, s.Rate, s.Policy, s.Enabled, now, s.OrgID, s.ID)
	}
	if err != nil {
		return ScanSchedule{}, fmt.Errorf("save scan schedule %s: %w", s.Name, mapErr(err))
	}
	if err := tx.BumpAssignGen(ctx, s.OrgID); err != nil {
		return ScanSchedule{}, err
	}
	return tx.ScanSchedule(ctx, s.OrgID, s.Name)
}

// DeleteScanSchedule removes a schedule; its scans stay.
func (tx *Tx) DeleteScanSchedule(ctx context.Context, orgID, id int64) error {
	res, err := tx.exec(ctx, `DELETE FROM scan_schedules WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil {
		return fmt.Errorf("delete scan schedule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("scan schedule %d: %w", id, ErrNotFound)
	}
	return tx.BumpAssignGen(ctx, orgID)
}

// ScanSchedule finds an organisation's schedule by name.
func (r Reader) ScanSchedule(ctx context.Context, orgID int64, name string) (ScanSchedule, error) {
	s, err := scanScanSchedule(r.queryRow(ctx, `SELECT `+scanScheduleCols+` FROM scan_schedules s JOIN computer_groups g ON g.id = s.group_id
		WHERE s.org_id = $1 AND s.name = $2`, orgID, name))
	if err != nil {
		return ScanSchedule{}, fmt.Errorf("scan schedule %s: %w", name, mapErr(err))
	}
	return s, nil
}

// ScanSchedules lists an organisation's schedules by name.
func (r Reader) ScanSchedules(ctx context.Context, orgID int64) ([]ScanSchedule, error) {
	return r.scanSchedules(ctx, `WHERE s.org_id = $1 ORDER BY s.name`, orgID)
}

func (r Reader) scanSchedules(ctx context.Context, where string, args ...any) ([]ScanSchedule, error) {
	rows, err := r.query(ctx, `SELECT `+scanScheduleCols+` FROM scan_schedules s JOIN computer_groups g ON g.id = s.group_id `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("scan schedules: %w", err)
	}
	defer rows.Close()
	var out []ScanSchedule
	for rows.Next() {
		s, err := scanScanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// OrgsWithScanSchedules lists the organisations that have an enabled schedule: only their
// agents' check-ins look for scan tasks.
func (r Reader) OrgsWithScanSchedules(ctx context.Context) ([]int64, error) {
	rows, err := r.query(ctx, `SELECT DISTINCT org_id FROM scan_schedules WHERE enabled`)
	if err != nil {
		return nil, fmt.Errorf("organisations with scan schedules: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// SetComputerNetworks replaces the subnets a computer reports.
func (tx *Tx) SetComputerNetworks(ctx context.Context, computerID int64, prefixes []string) error {
	if _, err := tx.exec(ctx, `DELETE FROM computer_networks WHERE computer_id = $1`, computerID); err != nil {
		return fmt.Errorf("computer networks: %w", err)
	}
	prefixes = slices.Compact(slices.Sorted(slices.Values(prefixes)))
	err := tx.batchInsert(ctx, `INSERT INTO computer_networks (computer_id, prefix) VALUES `, "", 2, len(prefixes), func(i int) []any {
		return []any{computerID, prefixes[i]}
	})
	if err != nil {
		return fmt.Errorf("computer networks: %w", mapErr(err))
	}
	return nil
}

// ComputerNetworks lists the subnets a computer reported, sorted.
func (r Reader) ComputerNetworks(ctx context.Context, computerID int64) ([]string, error) {
	rows, err := r.query(ctx, `SELECT prefix FROM computer_networks WHERE computer_id = $1 ORDER BY prefix`, computerID)
	if err != nil {
		return nil, fmt.Errorf("computer networks: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ScanTask is a subnet one computer is to scan for a schedule.
type ScanTask struct {
	Schedule ScanSchedule
	Target   string // the subnet, as the computer reported it
}

// ScanTasks returns what a computer is to scan now: for each enabled schedule of a group it
// is in and each subnet it reported, the task when it is the subnet's scanner (the lowest id
// among the group's members on that subnet that are not revoked and checked in since
// liveSince) and no scan of that schedule and subnet finished within the schedule's interval.
func (r Reader) ScanTasks(ctx context.Context, comp Computer, now, liveSince time.Time) ([]ScanTask, error) {
	scheds, err := r.scanSchedules(ctx, `JOIN group_members m ON m.group_id = s.group_id AND m.computer_id = $1
		WHERE s.org_id = $2 AND s.enabled ORDER BY s.name`, comp.ID, comp.OrgID)
	if err != nil || len(scheds) == 0 {
		return nil, err
	}
	nets, err := r.ComputerNetworks(ctx, comp.ID)
	if err != nil || len(nets) == 0 {
		return nil, err
	}
	var out []ScanTask
	for _, s := range scheds {
		for _, n := range nets {
			var first int64
			err := r.queryRow(ctx, `SELECT MIN(n.computer_id) FROM computer_networks n
				JOIN group_members m ON m.computer_id = n.computer_id AND m.group_id = $1
				JOIN computers c ON c.id = n.computer_id
				WHERE n.prefix = $2 AND c.revoked_at IS NULL AND (c.id = $3 OR c.last_checkin_at >= $4)`,
				s.GroupID, n, comp.ID, liveSince.UTC()).Scan(&first)
			if err != nil {
				return nil, fmt.Errorf("scanner of %s: %w", n, err)
			}
			if first != comp.ID {
				continue
			}
			// The column itself, not MAX(): SQLite's aggregates lose the declared type.
			var last time.Time
			err = r.queryRow(ctx, `SELECT finished_at FROM scans WHERE schedule_id = $1 AND targets = $2 ORDER BY id DESC LIMIT 1`,
				s.ID, n).Scan(&last)
			if err != nil && mapErr(err) != ErrNotFound {
				return nil, fmt.Errorf("last scan of %s: %w", n, err)
			}
			if err == nil && now.Sub(last) < s.Every {
				continue
			}
			out = append(out, ScanTask{Schedule: s, Target: n})
		}
	}
	return out, nil
}

// SubnetCoverage is one subnet a schedule's group sits on: how many of its members
// reported it, and the schedule's last scan of it.
type SubnetCoverage struct {
	Subnet     string     `json:"subnet"`
	Agents     int        `json:"agents"` // members that reported it (one of them scans it)
	LastScanID *int64     `json:"last_scan_id,omitempty"`
	LastScanAt *time.Time `json:"last_scan_at,omitempty"`
	OpenPorts  int        `json:"open_ports"`
	Violations int        `json:"violations"`
}

// ScheduleCoverage lists the subnets a schedule covers: those its group's members that are
// not revoked reported, each with the schedule's last scan of it.
func (r Reader) ScheduleCoverage(ctx context.Context, s ScanSchedule) ([]SubnetCoverage, error) {
	rows, err := r.query(ctx, `SELECT n.prefix, COUNT(DISTINCT n.computer_id) FROM computer_networks n
		JOIN group_members m ON m.computer_id = n.computer_id AND m.group_id = $1
		JOIN computers c ON c.id = n.computer_id AND c.revoked_at IS NULL
		GROUP BY n.prefix ORDER BY n.prefix`, s.GroupID)
	if err != nil {
		return nil, fmt.Errorf("subnets of schedule %s: %w", s.Name, err)
	}
	var out []SubnetCoverage
	for rows.Next() {
		var c SubnetCoverage
		if err := rows.Scan(&c.Subnet, &c.Agents); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		// The column itself, not MAX(): SQLite's aggregates lose the declared type.
		var id int64
		var at time.Time
		err := r.queryRow(ctx, `SELECT id, finished_at, open_ports, violations FROM scans WHERE schedule_id = $1 AND targets = $2
			ORDER BY id DESC LIMIT 1`, s.ID, out[i].Subnet).Scan(&id, &at, &out[i].OpenPorts, &out[i].Violations)
		switch {
		case err == nil:
			out[i].LastScanID, out[i].LastScanAt = &id, &at
		case mapErr(err) != ErrNotFound:
			return nil, fmt.Errorf("last scan of %s: %w", out[i].Subnet, err)
		}
	}
	return out, nil
}
