package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Product is something advisories are about and machines run: a vendor's product in one
// version line, with its identifiers and lifecycle dates (YYYY-MM-DD, "" when unknown).
type Product struct {
	ID            int64     `json:"id"`
	OrgID         int64     `json:"org_id"`
	Vendor        string    `json:"vendor"`
	Name          string    `json:"name"`
	VersionLine   string    `json:"version_line"`
	CPE           string    `json:"cpe"`
	PURL          string    `json:"purl"`
	ReleasedOn    string    `json:"released_on"`
	MainstreamEnd string    `json:"mainstream_end"`
	ExtendedEnd   string    `json:"extended_end"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// SupportEnd is the last day of any support: extended support when the product has it, else
// mainstream support; "" when unknown.
func (p Product) SupportEnd() string {
	if p.ExtendedEnd != "" {
		return p.ExtendedEnd
	}
	return p.MainstreamEnd
}

const productCols = `id, org_id, vendor, name, version_line, cpe, purl, released_on, mainstream_end, extended_end, created_at, updated_at`

func scanProduct(row interface{ Scan(...any) error }) (Product, error) {
	var p Product
	err := row.Scan(&p.ID, &p.OrgID, &p.Vendor, &p.Name, &p.VersionLine, &p.CPE, &p.PURL,
		&p.ReleasedOn, &p.MainstreamEnd, &p.ExtendedEnd, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// CreateProduct stores a new product.
func (tx *Tx) CreateProduct(ctx context.Context, p Product) (Product, error) {
	now := Now()
	out, err := scanProduct(tx.queryRow(ctx,
		`INSERT INTO products (org_id, vendor, name, version_line, cpe, purl, released_on, mainstream_end, extended_end, created_at, updated_at, vendor_key, search)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) RETURNING `+productCols,
		p.OrgID, p.Vendor, p.Name, p.VersionLine, p.CPE, p.PURL, p.ReleasedOn, p.MainstreamEnd, p.ExtendedEnd, now,
		strings.ToLower(p.Vendor), productSearch(p)))
	if err != nil {
		return Product{}, fmt.Errorf("create product %s %s %s: %w", p.Vendor, p.Name, p.VersionLine, mapErr(err))
	}
	return out, nil
}

// UpdateProduct replaces a product's fields (all but id, organisation and creation time).
func (tx *Tx) UpdateProduct(ctx context.Context, p Product) (Product, error) {
	out, err := scanProduct(tx.queryRow(ctx,
		`UPDATE products SET vendor = $1, name = $2, version_line = $3, cpe = $4, purl = $5, released_on = $6,
		 mainstream_end = $7, extended_end = $8, updated_at = $9, vendor_key = $12, search = $13 WHERE org_id = $10 AND id = $11 RETURNING `+productCols,
		p.Vendor, p.Name, p.VersionLine, p.CPE, p.PURL, p.ReleasedOn, p.MainstreamEnd, p.ExtendedEnd, Now(), p.OrgID, p.ID,
		strings.ToLower(p.Vendor), productSearch(p)))
	if err != nil {
		return Product{}, fmt.Errorf("update product %d: %w", p.ID, mapErr(err))
	}
	return out, nil
}

// Product finds one product of an organisation.
func (r Reader) Product(ctx context.Context, orgID, id int64) (Product, error) {
	p, err := scanProduct(r.queryRow(ctx, `SELECT `+productCols+` FROM products WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return Product{}, fmt.Errorf("product %d: %w", id, mapErr(err))
	}
	return p, nil
}

// ProductFilter selects products. Zero fields match everything.
type ProductFilter struct {
	Vendor string // exact, case-insensitive
	Text   string // in vendor, name, version line, CPE or purl, case-insensitive
	// EndedBy selects products whose support (extended, else mainstream) ended before this
	// date (YYYY-MM-DD).
	EndedBy string
	Page
}

// ListProducts lists an organisation's products in id order.
func (r Reader) ListProducts(ctx context.Context, orgID int64, f ProductFilter) ([]Product, error) {
	rows, err := r.query(ctx, `SELECT `+productCols+` FROM products
		WHERE org_id = $1 AND id > $2
		AND ($3 = '' OR vendor_key = $3)
		AND ($4 = '' OR search LIKE $4 ESCAPE '\')
		AND ($5 = '' OR (CASE WHEN extended_end <> '' THEN extended_end ELSE mainstream_end END) <> ''
		              AND (CASE WHEN extended_end <> '' THEN extended_end ELSE mainstream_end END) < $5)
		ORDER BY id LIMIT $6`,
		orgID, f.After, strings.ToLower(f.Vendor), containsPattern(f.Text), f.EndedBy, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	defer rows.Close()
	var out []Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// productSearch is what a text search of products looks in.
func productSearch(p Product) string {
	return strings.ToLower(p.Vendor + " " + p.Name + " " + p.VersionLine + " " + p.CPE + " " + p.PURL)
}

// containsPattern is a LIKE pattern matching values that contain s (lower-cased), with LIKE's
// wildcards in s escaped; "" for an empty s.
func containsPattern(s string) string {
	if s == "" {
		return ""
	}
	return "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(s)) + "%"
}
