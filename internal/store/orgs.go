package store

import (
	"context"
	"fmt"
	"time"
)

// Org is an organisation: a tenant. Every other row belongs to one.
type Org struct {
	ID        int64     `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Page selects one page of a list ordered by id: rows after the cursor id, at most Limit.
type Page struct {
	After int64
	Limit int
}

const orgCols = `id, slug, name, created_at`

func scanOrg(row interface{ Scan(...any) error }) (Org, error) {
	var o Org
	err := row.Scan(&o.ID, &o.Slug, &o.Name, &o.CreatedAt)
	return o, err
}

// CreateOrg stores a new organisation.
func (tx *Tx) CreateOrg(ctx context.Context, slug, name string) (Org, error) {
	o, err := scanOrg(tx.queryRow(ctx,
		`INSERT INTO orgs (slug, name, created_at) VALUES ($1, $2, $3) RETURNING `+orgCols,
		slug, name, Now()))
	if err != nil {
		return Org{}, fmt.Errorf("create organisation %q: %w", slug, mapErr(err))
	}
	return o, nil
}

// OrgBySlug finds an organisation by its slug.
func (r Reader) OrgBySlug(ctx context.Context, slug string) (Org, error) {
	o, err := scanOrg(r.queryRow(ctx, `SELECT `+orgCols+` FROM orgs WHERE slug = $1`, slug))
	if err != nil {
		return Org{}, fmt.Errorf("organisation %q: %w", slug, mapErr(err))
	}
	return o, nil
}

// ListOrgs lists organisations in id order. With onlyFor > 0 it lists just those the user
// with that id is a member of.
func (r Reader) ListOrgs(ctx context.Context, onlyFor int64, p Page) ([]Org, error) {
	q := `SELECT ` + orgCols + ` FROM orgs WHERE id > $1 ORDER BY id LIMIT $2`
	args := []any{p.After, p.Limit}
	if onlyFor > 0 {
		q = `SELECT ` + orgCols + ` FROM orgs WHERE id > $1
		     AND id IN (SELECT org_id FROM memberships WHERE user_id = $3) ORDER BY id LIMIT $2`
		args = append(args, onlyFor)
	}
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list organisations: %w", err)
	}
	defer rows.Close()
	var out []Org
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, fmt.Errorf("list organisations: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// CountOrgs counts all organisations.
func (r Reader) CountOrgs(ctx context.Context) (int, error) {
	var n int
	err := r.queryRow(ctx, `SELECT COUNT(*) FROM orgs`).Scan(&n)
	return n, err
}

// Org finds an organisation by id.
func (r Reader) Org(ctx context.Context, id int64) (Org, error) {
	o, err := scanOrg(r.queryRow(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = $1`, id))
	if err != nil {
		return Org{}, fmt.Errorf("organisation %d: %w", id, mapErr(err))
	}
	return o, nil
}
