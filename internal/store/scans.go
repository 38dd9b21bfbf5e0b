package store

import (
	"context"
	"encoding/json"
	"fmt"
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
}

// ScanFinding is one open port of a scan.
type ScanFinding struct {
	Host      string          `json:"host"`
	Port      int             `json:"port"`
	Protocol  string          `json:"protocol"`
	Service   string          `json:"service,omitempty"`
	Product   string          `json:"product,omitempty"`
	Version   string          `json:"version,omitempty"`
	Violation string          `json:"violation,omitempty"`
	Change    string          `json:"change,omitempty"` // "opened": not open in the previous scan of the same targets
	Detail    json.RawMessage `json:"detail,omitempty"`
}

func (f ScanFinding) key() string { return fmt.Sprintf("%s/%s/%d", f.Protocol, f.Host, f.Port) }

const scanCols = `id, org_id, targets, ports, started_at, finished_at, interrupted, attempts, open_ports, violations, opened, closed,
	uploaded_by, received_at`

func scanScan(row interface{ Scan(...any) error }) (Scan, error) {
	var s Scan
	err := row.Scan(&s.ID, &s.OrgID, &s.Targets, &s.Ports, &s.StartedAt, &s.FinishedAt, &s.Interrupted, &s.Attempts, &s.OpenPorts,
		&s.Violations, &s.Opened, &s.Closed, &s.UploadedBy, &s.ReceivedAt)
	return s, err
}

// SaveScan stores a scan and its findings, marks the findings the previous scan of the same
// targets did not have, and returns the findings of that scan that are gone (closed).
func (tx *Tx) SaveScan(ctx context.Context, s Scan, findings []ScanFinding) (Scan, []ScanFinding, error) {
	var prevID int64
	err := tx.queryRow(ctx, `SELECT id FROM scans WHERE org_id = $1 AND targets = $2 ORDER BY id DESC LIMIT 1`, s.OrgID, s.Targets).Scan(&prevID)
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
		opened, closed, uploaded_by, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
		s.OrgID, s.Targets, s.Ports, s.StartedAt.UTC(), s.FinishedAt.UTC(), s.Interrupted, s.Attempts, s.OpenPorts, s.Violations,
		s.Opened, s.Closed, s.UploadedBy, s.ReceivedAt).Scan(&s.ID)
	if err != nil {
		return Scan{}, nil, fmt.Errorf("save scan: %w", mapErr(err))
	}
	err = tx.batchInsert(ctx, `INSERT INTO scan_findings (scan_id, host, port, protocol, service, product, version, detail, violation, change) VALUES `,
		"", 10, len(findings), func(i int) []any {
			f := findings[i]
			detail := string(f.Detail)
			if detail == "" {
				detail = "{}"
			}
			return []any{s.ID, f.Host, f.Port, f.Protocol, f.Service, f.Product, f.Version, detail, f.Violation, f.Change}
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
	rows, err := r.query(ctx, `SELECT host, port, protocol, service, product, version, detail, violation, change FROM scan_findings
		WHERE scan_id = $1 ORDER BY protocol, host, port`, scanID)
	if err != nil {
		return nil, fmt.Errorf("scan findings: %w", err)
	}
	defer rows.Close()
	var out []ScanFinding
	for rows.Next() {
		var f ScanFinding
		var d string
		if err := rows.Scan(&f.Host, &f.Port, &f.Protocol, &f.Service, &f.Product, &f.Version, &d, &f.Violation, &f.Change); err != nil {
			return nil, err
		}
		f.Detail = json.RawMessage(d)
		out = append(out, f)
	}
	return out, rows.Err()
}
