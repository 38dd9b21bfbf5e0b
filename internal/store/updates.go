package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Payload is an organisation's record of a stored blob.
type Payload struct {
	ID         int64     `json:"id"`
	OrgID      int64     `json:"org_id"`
	Digest     string    `json:"sha256"`
	Size       int64     `json:"size"`
	MediaType  string    `json:"media_type"`
	Filename   string    `json:"filename"`
	DebPackage string    `json:"deb_package,omitempty"`
	DebVersion string    `json:"deb_version,omitempty"`
	DebArch    string    `json:"deb_architecture,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
}

const payloadCols = `id, org_id, digest, size, media_type, filename, deb_package, deb_version, deb_arch, created_at, created_by`

func scanPayload(row interface{ Scan(...any) error }) (Payload, error) {
	var p Payload
	err := row.Scan(&p.ID, &p.OrgID, &p.Digest, &p.Size, &p.MediaType, &p.Filename, &p.DebPackage, &p.DebVersion,
		&p.DebArch, &p.CreatedAt, &p.CreatedBy)
	return p, err
}

// SavePayload records a payload for an organisation; when the organisation already has the
// digest, the existing record is returned and existed is true.
func (tx *Tx) SavePayload(ctx context.Context, p Payload) (out Payload, existed bool, err error) {
	out, err = scanPayload(tx.queryRow(ctx, `SELECT `+payloadCols+` FROM payloads WHERE org_id = $1 AND digest = $2`, p.OrgID, p.Digest))
	if err == nil {
		return out, true, nil
	}
	if err = mapErr(err); err != ErrNotFound {
		return Payload{}, false, fmt.Errorf("save payload: %w", err)
	}
	out, err = scanPayload(tx.queryRow(ctx, `INSERT INTO payloads (org_id, digest, size, media_type, filename, deb_package, deb_version, deb_arch, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+payloadCols,
		p.OrgID, p.Digest, p.Size, p.MediaType, p.Filename, p.DebPackage, p.DebVersion, p.DebArch, Now(), p.CreatedBy))
	if err != nil {
		return Payload{}, false, fmt.Errorf("save payload: %w", mapErr(err))
	}
	return out, false, nil
}

// PayloadByDigest finds an organisation's payload record.
func (r Reader) PayloadByDigest(ctx context.Context, orgID int64, digest string) (Payload, error) {
	p, err := scanPayload(r.queryRow(ctx, `SELECT `+payloadCols+` FROM payloads WHERE org_id = $1 AND digest = $2`, orgID, digest))
	if err != nil {
		return Payload{}, fmt.Errorf("payload %s: %w", digest, mapErr(err))
	}
	return p, nil
}

// PayloadRecord finds any organisation's record of a digest, for serving the blob.
func (r Reader) PayloadRecord(ctx context.Context, digest string) (Payload, error) {
	p, err := scanPayload(r.queryRow(ctx, `SELECT `+payloadCols+` FROM payloads WHERE digest = $1 ORDER BY id LIMIT 1`, digest))
	if err != nil {
		return Payload{}, fmt.Errorf("payload %s: %w", digest, mapErr(err))
	}
	return p, nil
}

// ListPayloads lists an organisation's payloads in id order.
func (r Reader) ListPayloads(ctx context.Context, orgID int64, p Page) ([]Payload, error) {
	rows, err := r.query(ctx, `SELECT `+payloadCols+` FROM payloads WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`, orgID, p.After, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list payloads: %w", err)
	}
	defer rows.Close()
	var out []Payload
	for rows.Next() {
		pl, err := scanPayload(rows)
		if err != nil {
			return nil, fmt.Errorf("list payloads: %w", err)
		}
		out = append(out, pl)
	}
	return out, rows.Err()
}

// Update is something installable. Definition holds the full definition as JSON (its
// applicability and installer); the other fields are indexed.
type Update struct {
	ID             int64           `json:"id"`
	OrgID          int64           `json:"org_id"`
	Name           string          `json:"name"`
	Title          string          `json:"title"`
	Classification string          `json:"classification"`
	Severity       string          `json:"severity"`
	Installer      string          `json:"installer"`
	PURL           string          `json:"purl"`
	PayloadID      *int64          `json:"payload_id,omitempty"`
	Definition     json.RawMessage `json:"definition"`
	CreatedAt      time.Time       `json:"created_at"`
	CreatedBy      string          `json:"created_by"`
}

const updateCols = `id, org_id, name, title, classification, severity, installer, purl, payload_id, definition, created_at, created_by`

func scanUpdate(row interface{ Scan(...any) error }) (Update, error) {
	var u Update
	var def string
	err := row.Scan(&u.ID, &u.OrgID, &u.Name, &u.Title, &u.Classification, &u.Severity, &u.Installer, &u.PURL,
		&u.PayloadID, &def, &u.CreatedAt, &u.CreatedBy)
	u.Definition = json.RawMessage(def)
	return u, err
}

// UpdateLinks are an update's relations to advisories and other updates, by id.
type UpdateLinks struct {
	Advisories    []int64
	Supersedes    []int64
	Prerequisites []int64
}

// CreateUpdate stores an update and its links.
func (tx *Tx) CreateUpdate(ctx context.Context, u Update, links UpdateLinks) (Update, error) {
	out, err := scanUpdate(tx.queryRow(ctx, `INSERT INTO updates (org_id, name, title, classification, severity, installer, purl, payload_id, definition, created_at, created_by, search)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING `+updateCols,
		u.OrgID, u.Name, u.Title, u.Classification, u.Severity, u.Installer, u.PURL, u.PayloadID, string(u.Definition), Now(), u.CreatedBy,
		strings.ToLower(u.Name+" "+u.Title+" "+u.PURL)))
	if err != nil {
		return Update{}, fmt.Errorf("create update %s: %w", u.Name, mapErr(err))
	}
	for _, a := range links.Advisories {
		if _, err := tx.exec(ctx, `INSERT INTO update_advisories (update_id, advisory_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, out.ID, a); err != nil {
			return Update{}, fmt.Errorf("create update %s: %w", u.Name, err)
		}
	}
	for kind, ids := range map[string][]int64{"supersedes": links.Supersedes, "requires": links.Prerequisites} {
		for _, o := range ids {
			if _, err := tx.exec(ctx, `INSERT INTO update_links (update_id, kind, other_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, out.ID, kind, o); err != nil {
				return Update{}, fmt.Errorf("create update %s: %w", u.Name, err)
			}
		}
	}
	return out, nil
}

// UpdateByName finds an organisation's update by name.
func (r Reader) UpdateByName(ctx context.Context, orgID int64, name string) (Update, error) {
	u, err := scanUpdate(r.queryRow(ctx, `SELECT `+updateCols+` FROM updates WHERE org_id = $1 AND name = $2`, orgID, name))
	if err != nil {
		return Update{}, fmt.Errorf("update %s: %w", name, mapErr(err))
	}
	return u, nil
}

// UpdateFilter selects updates; zero fields match everything.
type UpdateFilter struct {
	Classification string
	Severity       string
	AdvisoryID     int64 // updates that fix this advisory
	Text           string
	Page
}

// ListUpdates lists an organisation's updates in id order.
func (r Reader) ListUpdates(ctx context.Context, orgID int64, f UpdateFilter) ([]Update, error) {
	rows, err := r.query(ctx, `SELECT `+updateCols+` FROM updates WHERE org_id = $1 AND id > $2
		AND ($3 = '' OR classification = $3) AND ($4 = '' OR severity = $4)
		AND ($5 = 0 OR id IN (SELECT update_id FROM update_advisories WHERE advisory_id = $5))
		AND ($6 = '' OR search LIKE $6 ESCAPE '\')
		ORDER BY id LIMIT $7`,
		orgID, f.After, f.Classification, f.Severity, f.AdvisoryID, containsPattern(f.Text), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	defer rows.Close()
	var out []Update
	for rows.Next() {
		u, err := scanUpdate(rows)
		if err != nil {
			return nil, fmt.Errorf("list updates: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateRelations names an update's advisories (tracking ids), the updates it supersedes and
// requires, and the updates that supersede it.
type UpdateRelations struct {
	Advisories    []string `json:"advisories"`
	Supersedes    []string `json:"supersedes"`
	Prerequisites []string `json:"prerequisites"`
	SupersededBy  []string `json:"superseded_by"`
}

// Relations loads an update's relations.
func (r Reader) Relations(ctx context.Context, updateID int64) (UpdateRelations, error) {
	rel := UpdateRelations{Advisories: []string{}, Supersedes: []string{}, Prerequisites: []string{}, SupersededBy: []string{}}
	for _, q := range []struct {
		sql string
		dst *[]string
	}{
		{`SELECT a.tracking_id FROM update_advisories ua JOIN advisories a ON a.id = ua.advisory_id WHERE ua.update_id = $1 ORDER BY a.tracking_id`, &rel.Advisories},
		{`SELECT u.name FROM update_links l JOIN updates u ON u.id = l.other_id WHERE l.update_id = $1 AND l.kind = 'supersedes' ORDER BY u.name`, &rel.Supersedes},
		{`SELECT u.name FROM update_links l JOIN updates u ON u.id = l.other_id WHERE l.update_id = $1 AND l.kind = 'requires' ORDER BY u.name`, &rel.Prerequisites},
		{`SELECT u.name FROM update_links l JOIN updates u ON u.id = l.update_id WHERE l.other_id = $1 AND l.kind = 'supersedes' ORDER BY u.name`, &rel.SupersededBy},
	} {
		rows, err := r.query(ctx, q.sql, updateID)
		if err != nil {
			return rel, fmt.Errorf("update relations: %w", err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return rel, fmt.Errorf("update relations: %w", err)
			}
			*q.dst = append(*q.dst, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return rel, err
		}
	}
	return rel, nil
}

// UpdateRule is what the applicability engine needs of an update.
type UpdateRule struct {
	ID            int64
	OrgID         int64
	Declined      bool
	Installer     string
	Definition    json.RawMessage
	Supersedes    []int64
	Prerequisites []int64
}

// UpdateRules lists every update with an id above after, in id order, with its links.
func (r Reader) UpdateRules(ctx context.Context, after int64) ([]UpdateRule, error) {
	rows, err := r.query(ctx, `SELECT id, org_id, installer, definition, declined_at IS NOT NULL FROM updates WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		return nil, fmt.Errorf("update rules: %w", err)
	}
	var out []UpdateRule
	byID := map[int64]int{}
	for rows.Next() {
		var u UpdateRule
		var def string
		if err := rows.Scan(&u.ID, &u.OrgID, &u.Installer, &def, &u.Declined); err != nil {
			rows.Close()
			return nil, fmt.Errorf("update rules: %w", err)
		}
		u.Definition = json.RawMessage(def)
		byID[u.ID] = len(out)
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	links, err := r.query(ctx, `SELECT update_id, kind, other_id FROM update_links WHERE update_id > $1`, after)
	if err != nil {
		return nil, fmt.Errorf("update rules: %w", err)
	}
	defer links.Close()
	for links.Next() {
		var id, other int64
		var kind string
		if err := links.Scan(&id, &kind, &other); err != nil {
			return nil, fmt.Errorf("update rules: %w", err)
		}
		i, ok := byID[id]
		if !ok {
			continue
		}
		if kind == "supersedes" {
			out[i].Supersedes = append(out[i].Supersedes, other)
		} else {
			out[i].Prerequisites = append(out[i].Prerequisites, other)
		}
	}
	return out, links.Err()
}

// DeclinedSince lists the updates declined at or after since, by organisation.
func (r Reader) DeclinedSince(ctx context.Context, since time.Time) (map[int64]int64, error) {
	rows, err := r.query(ctx, `SELECT id, org_id FROM updates WHERE declined_at >= $1`, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("declined updates: %w", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, org int64
		if err := rows.Scan(&id, &org); err != nil {
			return nil, err
		}
		out[id] = org
	}
	return out, rows.Err()
}
