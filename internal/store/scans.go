package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scan is one exposure scan as uploaded.
type Scan struct {
	ID          int64     `json:"id"`
	OrgID       int64     `json:"org_id"`
	Targets     string    `json:"targets"`
	Ports       int       `json:"ports"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	Interrupted bool      `json:"interrupted"`
	Attempts    int       `json:"attempts"`
	OpenPorts   int       `json:"open_ports"`
	Violations  int       `json:"violations"`
	Opened      int       `json:"opened"`
	Closed      int       `json:"closed"`
	UploadedBy  string    `json:"uploaded_by"`
	ReceivedAt  time.Time `json:"received_at"`
	// ScheduleID and ComputerID: the schedule and the agent of a distributed scan.
	ScheduleID *int64 `json:"schedule_id,omitempty"`
	ComputerID *int64 `json:"computer_id,omitempty"`
	// PortSet identifies the ports probed (the SHA-256 of their canonical list), "" when the
	// scanner did not say (saved, not read back).
	PortSet string `json:"-"`
}

// ScanFinding is one open port of a scan.
type ScanFinding struct {
	Host      string `json:"host"`
	Port      int    `json:"port"`
	Protocol  string `json:"protocol"`
	Service   string `json:"service,omitempty"`
	Product   string `json:"product,omitempty"`
	Version   string `json:"version,omitempty"`
	Violation string `json:"violation,omitempty"`
	Change    string `json:"change,omitempty"` // "opened": not open in the previous scan of the same targets
	// Advisories affect the product and version found (tracking ids); Severity is the
	// highest of theirs.
	Advisories []string        `json:"advisories,omitempty"`
	Severity   string          `json:"severity,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`
}

func (f ScanFinding) key() string { return fmt.Sprintf("%s/%s/%d", f.Protocol, f.Host, f.Port) }

const scanCols = `id, org_id, targets, ports, started_at, finished_at, interrupted, attempts, open_ports, violations, opened, closed,
	uploaded_by, received_at, schedule_id, computer_id`

func scanScan(row interface{ Scan(...any) error }) (Scan, error) {
	var s Scan
	err := row.Scan(&s.ID, &s.OrgID, &s.Targets, &s.Ports, &s.StartedAt, &s.FinishedAt, &s.Interrupted, &s.Attempts, &s.OpenPorts,
		&s.Violations, &s.Opened, &s.Closed, &s.UploadedBy, &s.ReceivedAt, &s.ScheduleID, &s.ComputerID)
	return s, err
}

// SaveScan stores a scan and its findings, marks the findings the previous scan of the same
// targets did not have, and returns the findings of that scan that are gone (closed). The
// previous scan is the last complete one that looked at the same: the same targets, the same
// ports (as many, when the scanner did not list them), for the same schedule (or none),
// finished before this one. A scan of other ports, of another schedule, or one stopped
// halfway would report what it did not look at as opened or closed; and an agent's report
// delivered late is compared with the one before it.
func (tx *Tx) SaveScan(ctx context.Context, s Scan, findings []ScanFinding) (Scan, []ScanFinding, error) {
	var prevID, schedule int64
	if s.ScheduleID != nil {
		schedule = *s.ScheduleID
	}
	// The same ports: the same list, else (a scan of either side without one: an older
	// scanner, or stored before lists were kept) as many; a scan of the same list first.
	err := tx.queryRow(ctx, `SELECT id FROM scans WHERE org_id = $1 AND targets = $2 AND ports = $3
		AND ($6 = '' OR port_set = $6 OR port_set = '')
		AND COALESCE(schedule_id, 0) = $4 AND NOT interrupted AND finished_at <= $5
		ORDER BY CASE WHEN $6 <> '' AND port_set = $6 THEN 0 ELSE 1 END, finished_at DESC, id DESC LIMIT 1`,
		s.OrgID, s.Targets, s.Ports, schedule, s.FinishedAt.UTC(), s.PortSet).Scan(&prevID)
	if err != nil && mapErr(err) != ErrNotFound {
		return Scan{}, nil, fmt.Errorf("previous scan: %w", err)
	}
	prev := map[string]ScanFinding{}
	if prevID > 0 {
		fs, err := tx.ScanFindings(ctx, prevID)
		if err != nil {
			return Scan{}, nil, err
		}
		for _, f := range fs {
			prev[f.key()] = f
		}
	}
	s.OpenPorts, s.Violations, s.Opened = len(findings), 0, 0
	for i := range findings {
		f := &findings[i]
		if f.Violation != "" {
			s.Violations++
		}
		if _, ok := prev[f.key()]; !ok && prevID > 0 {
			f.Change = "opened"
			s.Opened++
		}
		delete(prev, f.key())
	}
	var closed []ScanFinding
	if !s.Interrupted { // an interrupted scan did not look everywhere: it closes nothing
		for _, f := range prev {
			f.Change = ""
			closed = append(closed, f)
		}
	}
	s.Closed = len(closed)
	s.ReceivedAt = Now()
	err = tx.queryRow(ctx, `INSERT INTO scans (org_id, targets, ports, started_at, finished_at, interrupted, attempts, open_ports, violations,
		opened, closed, uploaded_by, received_at, schedule_id, computer_id, port_set) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		RETURNING id`,
		s.OrgID, s.Targets, s.Ports, s.StartedAt.UTC(), s.FinishedAt.UTC(), s.Interrupted, s.Attempts, s.OpenPorts, s.Violations,
		s.Opened, s.Closed, s.UploadedBy, s.ReceivedAt, s.ScheduleID, s.ComputerID, s.PortSet).Scan(&s.ID)
	if err != nil {
		return Scan{}, nil, fmt.Errorf("save scan: %w", mapErr(err))
	}
	err = tx.batchInsert(ctx, `INSERT INTO scan_findings (scan_id, host, port, protocol, service, product, version, detail, violation, change,
		advisories, severity) VALUES `,
		"", 12, len(findings), func(i int) []any {
			f := findings[i]
			detail := string(f.Detail)
			if detail == "" {
				detail = "{}"
			}
			return []any{s.ID, f.Host, f.Port, f.Protocol, f.Service, f.Product, f.Version, detail, f.Violation, f.Change,
				strings.Join(f.Advisories, " "), f.Severity}
		})
	if err != nil {
		return Scan{}, nil, fmt.Errorf("save scan findings: %w", mapErr(err))
	}
	return s, closed, nil
}

// Scan finds an organisation's scan.
func (r Reader) Scan(ctx context.Context, orgID, id int64) (Scan, error) {
	s, err := scanScan(r.queryRow(ctx, `SELECT `+scanCols+` FROM scans WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return Scan{}, fmt.Errorf("scan %d: %w", id, mapErr(err))
	}
	return s, nil
}

// ListScans lists an organisation's scans, newest first.
func (r Reader) ListScans(ctx context.Context, orgID int64, p Page) ([]Scan, error) {
	before := p.After
	if before == 0 {
		before = 1 << 62
	}
	rows, err := r.query(ctx, `SELECT `+scanCols+` FROM scans WHERE org_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, orgID, before, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list scans: %w", err)
	}
	defer rows.Close()
	var out []Scan
	for rows.Next() {
		s, err := scanScan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ScanFindings lists a scan's findings by protocol, host and port.
func (r Reader) ScanFindings(ctx context.Context, scanID int64) ([]ScanFinding, error) {
	rows, err := r.query(ctx, `SELECT host, port, protocol, service, product, version, detail, violation, change, advisories, severity
		FROM scan_findings WHERE scan_id = $1 ORDER BY protocol, host, port`, scanID)
	if err != nil {
		return nil, fmt.Errorf("scan findings: %w", err)
	}
	defer rows.Close()
	var out []ScanFinding
	for rows.Next() {
		var f ScanFinding
		var d, advisories string
		if err := rows.Scan(&f.Host, &f.Port, &f.Protocol, &f.Service, &f.Product, &f.Version, &d, &f.Violation, &f.Change,
			&advisories, &f.Severity); err != nil {
			return nil, err
		}
		f.Detail = json.RawMessage(d)
		f.Advisories = strings.Fields(advisories)
		out = append(out, f)
	}
	return out, rows.Err()
}

// NetworkExposure is what the latest scan of each set of targets found, for reports.
type NetworkExposure struct {
	Scans      int        `json:"scans"` // the latest scan of each set of targets since the cut-off
	Hosts      int        `json:"hosts"` // with an open port
	OpenPorts  int        `json:"open_ports"`
	Violations int        `json:"violations"`
	Vulnerable int        `json:"vulnerable"` // open ports whose product and version advisories affect
	Opened     int        `json:"opened"`     // open ports new since the scan before
	LastScanAt *time.Time `json:"last_scan_at,omitempty"`
	// Findings are the ones that need attention (vulnerable, breaking the policy or new),
	// most severe first.
	Findings []NetworkExposureFinding `json:"findings"`
}

// NetworkExposureFinding is a finding with the scan it comes from.
type NetworkExposureFinding struct {
	ScanID     int64     `json:"scan_id"`
	Targets    string    `json:"targets"`
	ReceivedAt time.Time `json:"received_at"`
	ScanFinding
}

// latestScans selects, of an organisation's scans received since $2, the newest complete one
// of each set of targets (the newest of all when none is complete): a scan stopped halfway
// did not look everywhere, and its missing ports must not hide what the last full one found.
const latestScans = `SELECT s.id FROM scans s WHERE s.org_id = $1 AND s.received_at >= $2
	AND s.id = COALESCE(
		(SELECT MAX(s2.id) FROM scans s2 WHERE s2.org_id = s.org_id AND s2.targets = s.targets AND s2.received_at >= $2 AND NOT s2.interrupted),
		(SELECT MAX(s2.id) FROM scans s2 WHERE s2.org_id = s.org_id AND s2.targets = s.targets AND s2.received_at >= $2))`

// FindingAdvisories keeps of a finding's advisories (tracking ids) those a reader may see
// for its product and version, and says the highest severity of those, as the reader may
// see it.
type FindingAdvisories func(trackingIDs []string, product, version string) (kept []string, severity string)

// NetworkExposure summarises the latest scans received since since, with at most limit
// findings. With a filter, findings show only the advisories it keeps, and count as
// vulnerable and need attention only for those.
func (r Reader) NetworkExposure(ctx context.Context, orgID int64, since time.Time, limit int, filter FindingAdvisories) (NetworkExposure, error) {
	var e NetworkExposure
	err := r.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(open_ports), 0), COALESCE(SUM(violations), 0), COALESCE(SUM(opened), 0)
		FROM scans WHERE id IN (`+latestScans+`)`, orgID, since.UTC()).Scan(&e.Scans, &e.OpenPorts, &e.Violations, &e.Opened)
	if err != nil {
		return NetworkExposure{}, fmt.Errorf("exposure: %w", err)
	}
	if e.Scans == 0 {
		e.Findings = []NetworkExposureFinding{}
		return e, nil
	}
	var at time.Time
	if err := r.queryRow(ctx, `SELECT received_at FROM scans WHERE org_id = $1 ORDER BY id DESC LIMIT 1`, orgID).Scan(&at); err == nil {
		e.LastScanAt = &at
	}
	err = r.queryRow(ctx, `SELECT COUNT(DISTINCT host), COUNT(CASE WHEN advisories <> '' THEN 1 END) FROM scan_findings
		WHERE scan_id IN (`+latestScans+`)`, orgID, since.UTC()).Scan(&e.Hosts, &e.Vulnerable)
	if err != nil {
		return NetworkExposure{}, fmt.Errorf("exposure hosts: %w", err)
	}
	// Bounded: a fleet's worth of findings that need attention, sorted here.
	rows, err := r.query(ctx, `SELECT s.id, s.targets, s.received_at, f.host, f.port, f.protocol, f.service, f.product, f.version,
		f.violation, f.change, f.advisories, f.severity FROM scan_findings f JOIN scans s ON s.id = f.scan_id
		WHERE f.scan_id IN (`+latestScans+`) AND (f.advisories <> '' OR f.violation <> '' OR f.change = 'opened')
		LIMIT 20000`, orgID, since.UTC())
	if err != nil {
		return NetworkExposure{}, fmt.Errorf("exposure findings: %w", err)
	}
	for rows.Next() {
		var f NetworkExposureFinding
		var advisories string
		if err := rows.Scan(&f.ScanID, &f.Targets, &f.ReceivedAt, &f.Host, &f.Port, &f.Protocol, &f.Service, &f.Product, &f.Version,
			&f.Violation, &f.Change, &advisories, &f.Severity); err != nil {
			rows.Close()
			return NetworkExposure{}, err
		}
		f.Advisories = strings.Fields(advisories)
		e.Findings = append(e.Findings, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return NetworkExposure{}, err
	}
	if filter != nil {
		// After the rows are closed: the filter reads too, and a reader holding its
		// connection while waiting for another could exhaust the pool.
		kept := e.Findings[:0]
		for _, f := range e.Findings {
			if len(f.Advisories) > 0 {
				f.Advisories, f.Severity = filter(f.Advisories, f.Product, f.Version)
				if len(f.Advisories) == 0 && f.Violation == "" && f.Change != "opened" {
					continue // it needed attention only for advisories the reader may not see
				}
			}
			kept = append(kept, f)
		}
		e.Findings = kept
		// Counted from the findings that need attention, which hold every vulnerable one.
		e.Vulnerable = 0
		for _, f := range e.Findings {
			if len(f.Advisories) > 0 {
				e.Vulnerable++
			}
		}
	}
	slices.SortFunc(e.Findings, func(a, b NetworkExposureFinding) int {
		return cmp.Or(
			cmp.Compare(severityRank(b.Severity), severityRank(a.Severity)),
			cmp.Compare(b2i(b.Violation != ""), b2i(a.Violation != "")),
			strings.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port), strings.Compare(a.Protocol, b.Protocol))
	})
	if len(e.Findings) > limit {
		e.Findings = e.Findings[:limit]
	}
	if e.Findings == nil {
		e.Findings = []NetworkExposureFinding{}
	}
	return e, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// severityRank orders severities as csaf.SeverityRank does, with no severity last.
func severityRank(s string) int {
	switch s {
	case "critical":
		return 4
	case "high":
		return 3
	case "medium":
		return 2
	case "low":
		return 1
	case "none":
		return 0
	case "":
		return -2
	}
	return -1
}
