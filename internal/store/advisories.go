package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Advisory indexes the newest revision of an advisory: the fields lists and filters need.
// The documents themselves are AdvisoryRevisions.
type Advisory struct {
	ID               int64      `json:"id"`
	OrgID            int64      `json:"org_id"`
	TrackingID       string     `json:"tracking_id"`
	Title            string     `json:"title"`
	Category         string     `json:"category"`
	Publisher        string     `json:"publisher"`
	Severity         string     `json:"severity"`
	SeverityRank     int        `json:"-"`
	CVSSMax          *float64   `json:"cvss_max,omitempty"`
	TLP              string     `json:"tlp"`
	Status           string     `json:"status"`
	Version          string     `json:"version"`
	Revisions        int        `json:"revisions"`
	InitialRelease   time.Time  `json:"initial_release"`
	CurrentRelease   time.Time  `json:"current_release"`
	ScheduledRelease *time.Time `json:"scheduled_release,omitempty"`
	// PublishedAt is when the advisory's first revision went public; nil while it waits for
	// its release (embargoed).
	PublishedAt *time.Time `json:"published_at,omitempty"`
	Products    string     `json:"-"` // product names, for text search
	// AffectedProducts are the names of the products its vulnerabilities affect, one a
	// line, for advance notifications (saved, not read back).
	AffectedProducts string    `json:"-"`
	CVEs             []string  `json:"cves"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// AdvisoryRevision is one immutable CSAF document of an advisory.
type AdvisoryRevision struct {
	AdvisoryID int64     `json:"advisory_id"`
	Revision   int       `json:"revision"`
	Version    string    `json:"version"`
	Status     string    `json:"status"`
	Summary    string    `json:"summary"`
	SHA256     string    `json:"sha256"`
	Document   []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
	// PublishedAt is when this revision went public; nil while it waits for its release.
	PublishedAt *time.Time `json:"published_at,omitempty"`
}

const advisoryCols = `id, org_id, tracking_id, title, category, publisher, severity, severity_rank, cvss_max, tlp, status,
	version, revisions, initial_release, current_release, scheduled_release, products, created_at, updated_at, published_at`

func scanAdvisory(row interface{ Scan(...any) error }) (Advisory, error) {
	var a Advisory
	err := row.Scan(&a.ID, &a.OrgID, &a.TrackingID, &a.Title, &a.Category, &a.Publisher, &a.Severity, &a.SeverityRank,
		&a.CVSSMax, &a.TLP, &a.Status, &a.Version, &a.Revisions, &a.InitialRelease, &a.CurrentRelease,
		&a.ScheduledRelease, &a.Products, &a.CreatedAt, &a.UpdatedAt, &a.PublishedAt)
	return a, err
}

// searchText is what a text search of advisories looks in, lower-cased once on write (Go's
// lower-casing, like the search terms', also for non-ASCII letters).
func searchText(a Advisory) string {
	return strings.ToLower(a.TrackingID + " " + a.Title + " " + a.Products)
}

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

// SaveAdvisory inserts the advisory's index row (a.ID == 0) or replaces it, and its CVE list.
func (tx *Tx) SaveAdvisory(ctx context.Context, a Advisory) (Advisory, error) {
	now := Now()
	var err error
	var out Advisory
	if a.ID == 0 {
		out, err = scanAdvisory(tx.queryRow(ctx, `INSERT INTO advisories (org_id, tracking_id, title, category, publisher,
			severity, severity_rank, cvss_max, tlp, status, version, revisions, initial_release, current_release,
			scheduled_release, products, search, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $18, $17, $17) RETURNING `+advisoryCols,
			a.OrgID, a.TrackingID, a.Title, a.Category, a.Publisher, a.Severity, a.SeverityRank, a.CVSSMax, a.TLP, a.Status,
			a.Version, a.Revisions, utc(a.InitialRelease), utc(a.CurrentRelease), utcPtr(a.ScheduledRelease), a.Products, now, searchText(a)))
	} else {
		out, err = scanAdvisory(tx.queryRow(ctx, `UPDATE advisories SET title = $1, category = $2, publisher = $3,
			severity = $4, severity_rank = $5, cvss_max = $6, tlp = $7, status = $8, version = $9, revisions = $10,
			initial_release = $11, current_release = $12, scheduled_release = $13, products = $14, updated_at = $15, search = $18
			WHERE org_id = $16 AND id = $17 RETURNING `+advisoryCols,
			a.Title, a.Category, a.Publisher, a.Severity, a.SeverityRank, a.CVSSMax, a.TLP, a.Status, a.Version, a.Revisions,
			utc(a.InitialRelease), utc(a.CurrentRelease), utcPtr(a.ScheduledRelease), a.Products, now, a.OrgID, a.ID, searchText(a)))
	}
	if err != nil {
		return Advisory{}, fmt.Errorf("save advisory %s: %w", a.TrackingID, mapErr(err))
	}
	if _, err := tx.exec(ctx, `UPDATE advisories SET affected_products = $2 WHERE id = $1`, out.ID, a.AffectedProducts); err != nil {
		return Advisory{}, fmt.Errorf("save advisory %s: %w", a.TrackingID, err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM advisory_cves WHERE advisory_id = $1`, out.ID); err != nil {
		return Advisory{}, fmt.Errorf("save advisory %s: %w", a.TrackingID, err)
	}
	for _, cve := range a.CVEs {
		if _, err := tx.exec(ctx, `INSERT INTO advisory_cves (advisory_id, cve) VALUES ($1, $2) ON CONFLICT DO NOTHING`, out.ID, cve); err != nil {
			return Advisory{}, fmt.Errorf("save advisory %s: %w", a.TrackingID, err)
		}
	}
	out.CVEs = a.CVEs
	return out, nil
}

// AddAdvisoryRevision stores one more document of an advisory.
func (tx *Tx) AddAdvisoryRevision(ctx context.Context, r AdvisoryRevision) (AdvisoryRevision, error) {
	r.CreatedAt = Now()
	_, err := tx.exec(ctx, `INSERT INTO advisory_revisions (advisory_id, revision, version, status, summary, sha256, document, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.AdvisoryID, r.Revision, r.Version, r.Status, r.Summary, r.SHA256, r.Document, r.CreatedAt, r.CreatedBy)
	r.PublishedAt = nil // PublishAdvisory publishes it
	if err != nil {
		return AdvisoryRevision{}, fmt.Errorf("add revision %d of advisory %d: %w", r.Revision, r.AdvisoryID, mapErr(err))
	}
	return r, nil
}

// AdvisoryByTrackingID finds an organisation's advisory by its CSAF tracking id.
func (r Reader) AdvisoryByTrackingID(ctx context.Context, orgID int64, trackingID string) (Advisory, error) {
	a, err := scanAdvisory(r.queryRow(ctx, `SELECT `+advisoryCols+` FROM advisories WHERE org_id = $1 AND tracking_id = $2`, orgID, trackingID))
	if err != nil {
		return Advisory{}, fmt.Errorf("advisory %s: %w", trackingID, mapErr(err))
	}
	return a, r.loadCVEs(ctx, []*Advisory{&a})
}

// Advisory finds an organisation's advisory by id.
func (r Reader) Advisory(ctx context.Context, orgID, id int64) (Advisory, error) {
	a, err := scanAdvisory(r.queryRow(ctx, `SELECT `+advisoryCols+` FROM advisories WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return Advisory{}, fmt.Errorf("advisory %d: %w", id, mapErr(err))
	}
	return a, r.loadCVEs(ctx, []*Advisory{&a})
}

// loadCVEs fills in the CVE lists of advisories.
func (r Reader) loadCVEs(ctx context.Context, as []*Advisory) error {
	if len(as) == 0 {
		return nil
	}
	byID := map[int64]*Advisory{}
	ph := make([]string, len(as))
	args := make([]any, len(as))
	for i, a := range as {
		a.CVEs = []string{}
		byID[a.ID] = a
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = a.ID
	}
	rows, err := r.db.QueryContext(ctx, `SELECT advisory_id, cve FROM advisory_cves WHERE advisory_id IN (`+strings.Join(ph, ", ")+`) ORDER BY cve`, args...)
	if err != nil {
		return fmt.Errorf("advisory CVEs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var cve string
		if err := rows.Scan(&id, &cve); err != nil {
			return fmt.Errorf("advisory CVEs: %w", err)
		}
		byID[id].CVEs = append(byID[id].CVEs, cve)
	}
	return rows.Err()
}

// AdvisoryRevision returns one revision of an advisory, with its document; revision 0 is the
// newest.
func (r Reader) AdvisoryRevision(ctx context.Context, advisoryID int64, revision int) (AdvisoryRevision, error) {
	q := `SELECT advisory_id, revision, version, status, summary, sha256, document, created_at, created_by, published_at
		FROM advisory_revisions WHERE advisory_id = $1 AND revision = $2`
	args := []any{advisoryID, revision}
	if revision == 0 {
		q = `SELECT advisory_id, revision, version, status, summary, sha256, document, created_at, created_by, published_at
			FROM advisory_revisions WHERE advisory_id = $1 ORDER BY revision DESC LIMIT 1`
		args = args[:1]
	}
	var rev AdvisoryRevision
	err := r.queryRow(ctx, q, args...).Scan(&rev.AdvisoryID, &rev.Revision, &rev.Version, &rev.Status, &rev.Summary,
		&rev.SHA256, &rev.Document, &rev.CreatedAt, &rev.CreatedBy, &rev.PublishedAt)
	if err != nil {
		return AdvisoryRevision{}, fmt.Errorf("revision %d of advisory %d: %w", revision, advisoryID, mapErr(err))
	}
	return rev, nil
}

// AdvisoryRevisions lists an advisory's revisions, oldest first, without their documents.
func (r Reader) AdvisoryRevisions(ctx context.Context, advisoryID int64) ([]AdvisoryRevision, error) {
	rows, err := r.query(ctx, `SELECT advisory_id, revision, version, status, summary, sha256, created_at, created_by, published_at
		FROM advisory_revisions WHERE advisory_id = $1 ORDER BY revision`, advisoryID)
	if err != nil {
		return nil, fmt.Errorf("advisory revisions: %w", err)
	}
	defer rows.Close()
	var out []AdvisoryRevision
	for rows.Next() {
		var rev AdvisoryRevision
		if err := rows.Scan(&rev.AdvisoryID, &rev.Revision, &rev.Version, &rev.Status, &rev.Summary, &rev.SHA256,
			&rev.CreatedAt, &rev.CreatedBy, &rev.PublishedAt); err != nil {
			return nil, fmt.Errorf("advisory revisions: %w", err)
		}
		out = append(out, rev)
	}
	return out, rows.Err()
}

// AdvisoryFilter selects advisories; zero fields match everything. Advisories are listed by
// current release date, newest first, then by id; the cursor is the last one listed.
type AdvisoryFilter struct {
	Text        string // in tracking id, title or product names, any case
	CVE         string
	Product     string // in product names, any case
	Severity    string // exactly this severity
	MinSeverity int    // severity rank at least this (with HasMin)
	HasMin      bool
	Status      string
	Since       time.Time // current release at or after
	Until       time.Time // current release before
	// PublishedOnly leaves out advisories not yet published (embargoed), for viewers.
	PublishedOnly bool
	// Cursor: advisories after (AfterRelease, AfterID) in the list's order.
	AfterRelease time.Time
	AfterID      int64
	Limit        int
}

// ListAdvisories lists an organisation's advisories.
func (r Reader) ListAdvisories(ctx context.Context, orgID int64, f AdvisoryFilter) ([]Advisory, error) {
	where := []string{"org_id = $1"}
	args := []any{orgID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Text != "" {
		where = append(where, "search LIKE "+arg(containsPattern(f.Text))+" ESCAPE '\\'")
	}
	if f.Product != "" {
		where = append(where, "lower(products) LIKE "+arg(containsPattern(f.Product))+" ESCAPE '\\'")
	}
	if f.CVE != "" {
		where = append(where, "id IN (SELECT advisory_id FROM advisory_cves WHERE cve = "+arg(strings.ToUpper(f.CVE))+")")
	}
	if f.Severity != "" {
		where = append(where, "severity = "+arg(f.Severity))
	}
	if f.HasMin {
		where = append(where, "severity_rank >= "+arg(f.MinSeverity))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status))
	}
	if f.PublishedOnly {
		where = append(where, "published_at IS NOT NULL")
		// The row's fields are those of the newest revision. While a newer revision waits
		// for its release they would let filters test what it says: with any filter, such
		// an advisory is left out until then (an unfiltered list shows its published
		// revision, through the server's public view).
		if f.Text != "" || f.CVE != "" || f.Product != "" || f.Severity != "" || f.HasMin || f.Status != "" ||
			!f.Since.IsZero() || !f.Until.IsZero() {
			where = append(where, "scheduled_release IS NULL")
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "current_release >= "+arg(utc(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "current_release < "+arg(utc(f.Until)))
	}
	if f.AfterID > 0 {
		// A row-value comparison, which both engines answer from the (org_id,
		// current_release, id) index.
		where = append(where, "(current_release, id) < ("+arg(utc(f.AfterRelease))+", "+arg(f.AfterID)+")")
	}
	q := `SELECT ` + advisoryCols + ` FROM advisories WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY current_release DESC, id DESC LIMIT ` + arg(f.Limit)
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list advisories: %w", err)
	}
	defer rows.Close()
	var out []Advisory
	for rows.Next() {
		a, err := scanAdvisory(rows)
		if err != nil {
			return nil, fmt.Errorf("list advisories: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ptrs := make([]*Advisory, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	return out, r.loadCVEs(ctx, ptrs)
}

// AdvisoryRevisionBySHA256 finds the revision of an advisory whose document has this SHA-256,
// or had it as imported (before patchday rewrote its release dates).
func (r Reader) AdvisoryRevisionBySHA256(ctx context.Context, advisoryID int64, sha string) (AdvisoryRevision, error) {
	var rev AdvisoryRevision
	err := r.queryRow(ctx, `SELECT advisory_id, revision, version, status, summary, sha256, created_at, created_by, published_at
		FROM advisory_revisions WHERE advisory_id = $1 AND (sha256 = $2 OR imported_sha256 = $2) ORDER BY revision LIMIT 1`, advisoryID, sha).Scan(
		&rev.AdvisoryID, &rev.Revision, &rev.Version, &rev.Status, &rev.Summary, &rev.SHA256, &rev.CreatedAt, &rev.CreatedBy, &rev.PublishedAt)
	if err != nil {
		return AdvisoryRevision{}, fmt.Errorf("revision of advisory %d: %w", advisoryID, mapErr(err))
	}
	return rev, nil
}
