package store

import (
	"context"
	"fmt"
	"time"
)

// Publishing: a revision is public once its published_at is set. PublishAdvisory sets it with
// a conditional UPDATE (WHERE published_at IS NULL), so that of several transactions racing
// to publish the same advisory (server nodes, restarts) exactly one changes a row, and only
// that one records the event, in the same transaction.

// Published is what PublishAdvisory did.
type Published struct {
	// Revisions is how many revisions it published (0: none was pending, or another
	// transaction published them first).
	Revisions int64
	// First is true when the advisory itself was not public before (its first publication).
	First bool
}

// PublishAdvisory publishes every pending revision of an advisory at now.
func (tx *Tx) PublishAdvisory(ctx context.Context, advisoryID int64, now time.Time) (Published, error) {
	var p Published
	if tx.engine == Postgres {
		// The advisory's row first, then its revisions: the order a reschedule takes them in
		// (ScheduleAdvisory, RewritePendingDocument), so the two wait instead of deadlocking.
		if _, err := tx.exec(ctx, `SELECT id FROM advisories WHERE id = $1 FOR UPDATE`, advisoryID); err != nil {
			return p, fmt.Errorf("publish advisory %d: %w", advisoryID, err)
		}
	}
	res, err := tx.exec(ctx, `UPDATE advisory_revisions SET published_at = $1 WHERE advisory_id = $2 AND published_at IS NULL`,
		utc(now), advisoryID)
	if err != nil {
		return p, fmt.Errorf("publish advisory %d: %w", advisoryID, err)
	}
	if p.Revisions, err = res.RowsAffected(); err != nil || p.Revisions == 0 {
		return p, err
	}
	res, err = tx.exec(ctx, `UPDATE advisories SET published_at = $1, scheduled_release = NULL WHERE id = $2 AND published_at IS NULL`,
		utc(now), advisoryID)
	if err != nil {
		return p, fmt.Errorf("publish advisory %d: %w", advisoryID, err)
	}
	n, err := res.RowsAffected()
	p.First = n == 1
	if err == nil && !p.First {
		_, err = tx.exec(ctx, `UPDATE advisories SET scheduled_release = NULL WHERE id = $1`, advisoryID)
	}
	return p, err
}

// DueAdvisory is an advisory with a revision whose release time has come.
type DueAdvisory struct {
	ID, OrgID int64
}

// DueAdvisories lists advisories with pending revisions whose scheduled release is at or
// before now (or that have none), at most limit.
func (r Reader) DueAdvisories(ctx context.Context, now time.Time, limit int) ([]DueAdvisory, error) {
	rows, err := r.query(ctx, `SELECT a.id, a.org_id FROM advisories a
		WHERE (a.scheduled_release IS NULL OR a.scheduled_release <= $1)
		AND EXISTS (SELECT 1 FROM advisory_revisions v WHERE v.advisory_id = a.id AND v.published_at IS NULL)
		ORDER BY a.id LIMIT $2`, utc(now), limit)
	if err != nil {
		return nil, fmt.Errorf("due advisories: %w", err)
	}
	defer rows.Close()
	var out []DueAdvisory
	for rows.Next() {
		var d DueAdvisory
		if err := rows.Scan(&d.ID, &d.OrgID); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ScheduleAdvisory moves an unpublished revision's release to at. It changes nothing (and
// says so) when the advisory has no pending revision.
func (tx *Tx) ScheduleAdvisory(ctx context.Context, orgID, advisoryID int64, at time.Time) (bool, error) {
	res, err := tx.exec(ctx, `UPDATE advisories SET scheduled_release = $1, updated_at = $2 WHERE org_id = $3 AND id = $4
		AND EXISTS (SELECT 1 FROM advisory_revisions v WHERE v.advisory_id = advisories.id AND v.published_at IS NULL)`,
		utc(at), Now(), orgID, advisoryID)
	if err != nil {
		return false, fmt.Errorf("schedule advisory %d: %w", advisoryID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PendingRevision is a revision of an advisory waiting for its release.
type PendingRevision struct {
	Revision int
	Document []byte
}

// PendingRevisions lists an advisory's unpublished revisions, oldest first.
func (tx *Tx) PendingRevisions(ctx context.Context, advisoryID int64) ([]PendingRevision, error) {
	rows, err := tx.query(ctx, `SELECT revision, document FROM advisory_revisions WHERE advisory_id = $1 AND published_at IS NULL
		ORDER BY revision`, advisoryID)
	if err != nil {
		return nil, fmt.Errorf("pending revisions of advisory %d: %w", advisoryID, err)
	}
	defer rows.Close()
	var out []PendingRevision
	for rows.Next() {
		var p PendingRevision
		if err := rows.Scan(&p.Revision, &p.Document); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RewritePendingDocument replaces the document of an unpublished revision (its release dates
// moved with its release), keeping the digest it was imported with, and counts the rewrite
// on the advisory. initial and current are the advisory's release dates after it.
func (tx *Tx) RewritePendingDocument(ctx context.Context, advisoryID int64, revision int, doc []byte, sha string, initial, current time.Time) error {
	res, err := tx.exec(ctx, `UPDATE advisory_revisions SET document = $3, sha256 = $4,
		imported_sha256 = CASE WHEN imported_sha256 = '' THEN sha256 ELSE imported_sha256 END
		WHERE advisory_id = $1 AND revision = $2 AND published_at IS NULL`, advisoryID, revision, doc, sha)
	if err != nil {
		return fmt.Errorf("rewrite revision %d of advisory %d: %w", revision, advisoryID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("rewrite revision %d of advisory %d: %w", revision, advisoryID, ErrNotFound)
	}
	if _, err := tx.exec(ctx, `UPDATE advisories SET document_rewrites = document_rewrites + 1, initial_release = $2,
		current_release = $3, updated_at = $4 WHERE id = $1`, advisoryID, utc(initial), utc(current), Now()); err != nil {
		return fmt.Errorf("rewrite advisory %d: %w", advisoryID, err)
	}
	return nil
}

// ScheduledAdvisory is an advisory waiting for its release.
type ScheduledAdvisory struct {
	ID         int64     `json:"id"`
	OrgID      int64     `json:"-"`
	TrackingID string    `json:"tracking_id"`
	Title      string    `json:"title"`
	Severity   string    `json:"severity"`
	Rank       int       `json:"-"`
	Products   string    `json:"-"` // the affected products' names, one a line
	Release    time.Time `json:"scheduled_release"`
	// Revised is true when an earlier revision is public already.
	Revised bool `json:"revised"`
	// TLP is the newest revision's label ("" when it has none).
	TLP string `json:"tlp,omitempty"`
}

// ScheduledAdvisories lists the organisation's (orgID 0: every organisation's) advisories
// with a pending revision scheduled in [from, until), by release time.
func (r Reader) ScheduledAdvisories(ctx context.Context, orgID int64, from, until time.Time) ([]ScheduledAdvisory, error) {
	rows, err := r.query(ctx, `SELECT a.id, a.org_id, a.tracking_id, a.title, a.severity, a.severity_rank, COALESCE(a.affected_products, a.products),
		a.scheduled_release, a.published_at IS NOT NULL, a.tlp
		FROM advisories a WHERE ($1 = 0 OR a.org_id = $1) AND a.scheduled_release >= $2 AND a.scheduled_release < $3
		AND EXISTS (SELECT 1 FROM advisory_revisions v WHERE v.advisory_id = a.id AND v.published_at IS NULL)
		ORDER BY a.scheduled_release, a.org_id, a.id`, orgID, utc(from), utc(until))
	if err != nil {
		return nil, fmt.Errorf("scheduled advisories: %w", err)
	}
	defer rows.Close()
	var out []ScheduledAdvisory
	for rows.Next() {
		var a ScheduledAdvisory
		if err := rows.Scan(&a.ID, &a.OrgID, &a.TrackingID, &a.Title, &a.Severity, &a.Rank, &a.Products, &a.Release, &a.Revised, &a.TLP); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ReleaseCalendar is an organisation's monthly release day and advance notice.
type ReleaseCalendar struct {
	Ordinal    int       `json:"ordinal"` // 1-4, or -1 for the last
	Weekday    int       `json:"weekday"` // 0 Sunday ... 6 Saturday
	TimeOfDay  string    `json:"time"`    // HH:MM
	Zone       string    `json:"zone"`    // IANA
	NoticeDays int       `json:"advance_notice_days"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
	UpdatedBy  string    `json:"updated_by,omitempty"`
}

// DefaultReleaseCalendar is the calendar of an organisation that set none: the second
// Tuesday of the month at 10:00 UTC, advance notice 3 business days before.
var DefaultReleaseCalendar = ReleaseCalendar{Ordinal: 2, Weekday: 2, TimeOfDay: "10:00", Zone: "UTC", NoticeDays: 3}

// ReleaseCalendar returns the organisation's calendar, or the default.
func (r Reader) ReleaseCalendar(ctx context.Context, orgID int64) (ReleaseCalendar, error) {
	c := DefaultReleaseCalendar
	err := r.queryRow(ctx, `SELECT ordinal, weekday, time_of_day, zone, notice_days, updated_at, updated_by
		FROM release_calendars WHERE org_id = $1`, orgID).Scan(&c.Ordinal, &c.Weekday, &c.TimeOfDay, &c.Zone, &c.NoticeDays,
		&c.UpdatedAt, &c.UpdatedBy)
	if err = mapErr(err); err == ErrNotFound {
		return DefaultReleaseCalendar, nil
	}
	if err != nil {
		return c, fmt.Errorf("release calendar: %w", err)
	}
	return c, nil
}

// SetReleaseCalendar stores the organisation's calendar.
func (tx *Tx) SetReleaseCalendar(ctx context.Context, orgID int64, c ReleaseCalendar, by string) (ReleaseCalendar, error) {
	c.UpdatedAt, c.UpdatedBy = Now(), by
	_, err := tx.exec(ctx, `INSERT INTO release_calendars (org_id, ordinal, weekday, time_of_day, zone, notice_days, updated_at, updated_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (org_id) DO UPDATE SET ordinal = excluded.ordinal, weekday = excluded.weekday, time_of_day = excluded.time_of_day,
		zone = excluded.zone, notice_days = excluded.notice_days, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		orgID, c.Ordinal, c.Weekday, c.TimeOfDay, c.Zone, c.NoticeDays, c.UpdatedAt, by)
	if err != nil {
		return c, fmt.Errorf("set release calendar: %w", err)
	}
	return c, nil
}

// Release is a release day of an organisation: an out-of-band release, or a monthly one that
// had its advance notification.
type Release struct {
	ID                int64      `json:"id"`
	OrgID             int64      `json:"-"`
	At                time.Time  `json:"release_at"`
	Kind              string     `json:"kind"` // monthly or out_of_band
	Title             string     `json:"title,omitempty"`
	AdvanceNotifiedAt *time.Time `json:"advance_notified_at,omitempty"`
	// AdvanceSummary is the JSON of what the advance notification last said ("" before
	// the first, and for notifications sent before summaries were kept).
	AdvanceSummary string `json:"-"`
	// AdvanceRevision counts the advance notifications sent: 1, and one more for each
	// revised notice.
	AdvanceRevision int       `json:"advance_revision,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	CreatedBy       string    `json:"created_by"`
}

const releaseCols = `id, org_id, release_at, kind, title, advance_notified_at, advance_summary, advance_revision, created_at, created_by`

func scanRelease(row interface{ Scan(...any) error }) (Release, error) {
	var r Release
	err := row.Scan(&r.ID, &r.OrgID, &r.At, &r.Kind, &r.Title, &r.AdvanceNotifiedAt, &r.AdvanceSummary, &r.AdvanceRevision,
		&r.CreatedAt, &r.CreatedBy)
	return r, err
}

// EnsureRelease returns the organisation's release at that time, creating it when missing.
func (tx *Tx) EnsureRelease(ctx context.Context, orgID int64, at time.Time, kind, title, by string) (Release, bool, error) {
	res, err := tx.exec(ctx, `INSERT INTO releases (org_id, release_at, kind, title, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, release_at) DO NOTHING`, orgID, utc(at), kind, title, Now(), by)
	if err != nil {
		return Release{}, false, fmt.Errorf("release: %w", err)
	}
	n, _ := res.RowsAffected()
	rel, err := scanRelease(tx.queryRow(ctx, `SELECT `+releaseCols+` FROM releases WHERE org_id = $1 AND release_at = $2`, orgID, utc(at)))
	if err != nil {
		return Release{}, false, fmt.Errorf("release: %w", mapErr(err))
	}
	return rel, n == 1, nil
}

// ReleaseAt finds the organisation's release at that time.
func (r Reader) ReleaseAt(ctx context.Context, orgID int64, at time.Time) (Release, error) {
	rel, err := scanRelease(r.queryRow(ctx, `SELECT `+releaseCols+` FROM releases WHERE org_id = $1 AND release_at = $2`, orgID, utc(at)))
	if err != nil {
		return Release{}, fmt.Errorf("release at %s: %w", at.UTC().Format(time.RFC3339), mapErr(err))
	}
	return rel, nil
}

// NotifiedReleases lists every organisation's releases in [from, until) whose advance
// notification went out, by time.
func (r Reader) NotifiedReleases(ctx context.Context, from, until time.Time) ([]Release, error) {
	rows, err := r.query(ctx, `SELECT `+releaseCols+` FROM releases WHERE advance_notified_at IS NOT NULL
		AND release_at >= $1 AND release_at < $2 ORDER BY release_at, org_id LIMIT 10000`, utc(from), utc(until))
	if err != nil {
		return nil, fmt.Errorf("notified releases: %w", err)
	}
	defer rows.Close()
	var out []Release
	for rows.Next() {
		rel, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, rows.Err()
}

// ListReleases lists the organisation's stored releases in [from, until), by time.
func (r Reader) ListReleases(ctx context.Context, orgID int64, from, until time.Time) ([]Release, error) {
	rows, err := r.query(ctx, `SELECT `+releaseCols+` FROM releases WHERE org_id = $1 AND release_at >= $2 AND release_at < $3
		ORDER BY release_at LIMIT 1000`, orgID, utc(from), utc(until))
	if err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	defer rows.Close()
	var out []Release
	for rows.Next() {
		rel, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, rows.Err()
}

// MarkAdvanceNotified records that a release's advance notification went out, saying
// summary. Like PublishAdvisory it changes a row only once: false means another transaction
// did it.
func (tx *Tx) MarkAdvanceNotified(ctx context.Context, releaseID int64, summary string, now time.Time) (bool, error) {
	res, err := tx.exec(ctx, `UPDATE releases SET advance_notified_at = $1, advance_summary = $3, advance_revision = 1
		WHERE id = $2 AND advance_notified_at IS NULL`, utc(now), releaseID, summary)
	if err != nil {
		return false, fmt.Errorf("advance notification: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReviseAdvanceNotice replaces what a release's advance notification said, from previous
// to summary, counting a revision when count is set. Conditional on previous, so of
// several transactions revising at once one does; false means another did (or the notice
// changed meanwhile).
func (tx *Tx) ReviseAdvanceNotice(ctx context.Context, releaseID int64, previous, summary string, count bool) (bool, error) {
	inc := 0
	if count {
		inc = 1
	}
	res, err := tx.exec(ctx, `UPDATE releases SET advance_summary = $3, advance_revision = advance_revision + $4
		WHERE id = $1 AND advance_notified_at IS NOT NULL AND advance_summary = $2`, releaseID, previous, summary, inc)
	if err != nil {
		return false, fmt.Errorf("revise advance notification: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PublishedDocument is the newest published revision of an advisory, for the CSAF provider.
type PublishedDocument struct {
	AdvisoryID  int64
	TrackingID  string
	Revision    int
	SHA256      string
	Document    []byte
	PublishedAt time.Time // for an embargoed revision, when it was stored
}

// PublishedDocuments lists the newest published revision of each of the organisation's
// advisories, with its document. With embargoed, the newest revision whether published or
// not: the early access of partners.
func (r Reader) PublishedDocuments(ctx context.Context, orgID int64, embargoed bool) ([]PublishedDocument, error) {
	cond := "v.published_at IS NOT NULL"
	newest := "w.published_at IS NOT NULL"
	if embargoed {
		cond, newest = "TRUE", "TRUE"
	}
	// Both times, not COALESCE(): SQLite's expressions lose the declared type.
	rows, err := r.query(ctx, `SELECT a.id, a.tracking_id, v.revision, v.sha256, v.document, v.published_at, v.created_at
		FROM advisories a JOIN advisory_revisions v ON v.advisory_id = a.id
		WHERE a.org_id = $1 AND `+cond+`
		AND v.revision = (SELECT MAX(w.revision) FROM advisory_revisions w WHERE w.advisory_id = a.id AND `+newest+`)
		ORDER BY a.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("published documents: %w", err)
	}
	defer rows.Close()
	var out []PublishedDocument
	for rows.Next() {
		var d PublishedDocument
		var published *time.Time
		if err := rows.Scan(&d.AdvisoryID, &d.TrackingID, &d.Revision, &d.SHA256, &d.Document, &published, &d.PublishedAt); err != nil {
			return nil, err
		}
		if published != nil {
			d.PublishedAt = *published
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// PublishedState summarises what is published in an organisation: when it changes, the CSAF
// provider's directory is built again. (Revisions are only ever added and published, never
// unpublished, and only pending ones are rewritten, so their count and the rewrites' are
// enough.)
func (r Reader) PublishedState(ctx context.Context, orgID int64, embargoed bool) (int64, error) {
	var n int64
	cond := "v.published_at IS NOT NULL"
	if embargoed {
		cond = "TRUE"
	}
	// Pending documents are rewritten when they move to another release (document_rewrites).
	err := r.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM advisory_revisions v JOIN advisories a ON a.id = v.advisory_id
		WHERE a.org_id = $1 AND `+cond+`) + (SELECT COALESCE(SUM(document_rewrites), 0) FROM advisories WHERE org_id = $1)`, orgID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("published state: %w", err)
	}
	return n, nil
}

// MoveScheduledAdvisory moves an advisory that waits for a release at from to the release
// at to, as a change of the release calendar does. Conditional on the advisory still
// waiting for from (with a pending revision), so an advisory published or rescheduled
// meanwhile is left alone: false says so.
func (tx *Tx) MoveScheduledAdvisory(ctx context.Context, orgID, advisoryID int64, from, to time.Time) (bool, error) {
	res, err := tx.exec(ctx, `UPDATE advisories SET scheduled_release = $1, updated_at = $2
		WHERE org_id = $3 AND id = $4 AND scheduled_release = $5
		AND EXISTS (SELECT 1 FROM advisory_revisions v WHERE v.advisory_id = advisories.id AND v.published_at IS NULL)`,
		utc(to), Now(), orgID, advisoryID, utc(from))
	if err != nil {
		return false, fmt.Errorf("move advisory %d: %w", advisoryID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// MoveRelease moves a release from one time to another and replaces what its advance
// notification said with summary, counting a revision when count is set (the moved
// release's revised notice). Conditional on the release still being at from: false means
// it moved meanwhile. A release already at to is a conflict (ErrConflict).
func (tx *Tx) MoveRelease(ctx context.Context, releaseID int64, from, to time.Time, summary string, count bool) (bool, error) {
	inc := 0
	if count {
		inc = 1
	}
	res, err := tx.exec(ctx, `UPDATE releases SET release_at = $2, advance_summary = $3, advance_revision = advance_revision + $4
		WHERE id = $1 AND release_at = $5`, releaseID, utc(to), summary, inc, utc(from))
	if err != nil {
		return false, fmt.Errorf("move release %d: %w", releaseID, mapErr(err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DeleteRelease removes a release that has nothing left to release (its advisories moved
// into another one).
func (tx *Tx) DeleteRelease(ctx context.Context, releaseID int64) error {
	if _, err := tx.exec(ctx, `DELETE FROM releases WHERE id = $1`, releaseID); err != nil {
		return fmt.Errorf("delete release %d: %w", releaseID, err)
	}
	return nil
}
