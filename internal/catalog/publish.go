package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// Event kinds raised by publishing (internal/notify fans them out to subscribers).
const (
	EventPublished = "advisory.published"
	EventRevised   = "advisory.revised"
	EventAdvance   = "advance_notification"
)

// maxEventProducts bounds the product names an event carries.
const maxEventProducts = 100

// PublishAdvisory publishes the advisory's pending revisions at now, in tx, and records the
// event: "advisory.published" for its first publication, "advisory.revised" for a later
// revision. The update is conditional (see store.Tx.PublishAdvisory): when another
// transaction published them first, it does nothing and records no event. It reports whether
// it published anything.
func PublishAdvisory(ctx context.Context, tx *store.Tx, orgID, advisoryID int64, now time.Time) (bool, error) {
	p, err := tx.PublishAdvisory(ctx, advisoryID, now)
	if err != nil || p.Revisions == 0 {
		return false, err
	}
	a, err := tx.Advisory(ctx, orgID, advisoryID)
	if err != nil {
		return false, err
	}
	details := map[string]any{
		"tracking_id": a.TrackingID, "title": a.Title, "version": a.Version, "revision": a.Revisions,
		"severity": a.Severity, "tlp": a.TLP, "cves": a.CVEs, "products": productList(a.Products),
		"current_release": a.CurrentRelease,
	}
	kind := EventPublished
	if !p.First {
		kind = EventRevised
		revs, err := tx.AdvisoryRevisions(ctx, advisoryID)
		if err != nil {
			return false, err
		}
		// The revision subscribers knew: the newest one published before this moment.
		var before *store.AdvisoryRevision
		for i := range revs {
			if r := revs[i]; r.PublishedAt != nil && r.PublishedAt.Before(now.UTC().Truncate(time.Microsecond)) {
				before = &revs[i]
			}
		}
		latest, err := tx.AdvisoryRevision(ctx, advisoryID, 0)
		if err != nil {
			return false, err
		}
		details["summary"] = latest.Summary
		if before != nil {
			old, err := tx.AdvisoryRevision(ctx, advisoryID, before.Revision)
			if err != nil {
				return false, err
			}
			details["previous_version"] = old.Version
			if doc, err := csaf.Parse(old.Document); err == nil {
				details["severity_before"] = doc.Summarize().Severity
			}
		}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return false, err
	}
	if err := tx.AddEvent(ctx, orgID, kind, a.TrackingID, string(b)); err != nil {
		return false, err
	}
	return true, nil
}

func productList(names string) []string {
	out := []string{}
	for _, n := range strings.Split(names, "\n") {
		if n = strings.TrimSpace(n); n != "" && len(out) < maxEventProducts {
			out = append(out, n)
		}
	}
	return out
}

// PublishDue publishes every advisory whose release time has come (at most limit per call),
// each in its own transaction, and returns how many this call published. Several nodes may
// run it at once: each advisory is published, and its event raised, exactly once.
func PublishDue(ctx context.Context, st *store.Store, now time.Time, limit int) (int, error) {
	due, err := st.DueAdvisories(ctx, now, limit)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, d := range due {
		var did bool
		err := st.Update(ctx, func(tx *store.Tx) error {
			var err error
			did, err = PublishAdvisory(ctx, tx, d.OrgID, d.ID, now)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("publish advisory %d: %w", d.ID, err))
			continue
		}
		if did {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// AdvanceSummary is what an advance notification says of a release: counts, the highest
// severity and the affected products, never titles or CVEs.
type AdvanceSummary struct {
	ReleaseAt time.Time `json:"release_at"`
	Kind      string    `json:"kind"`
	NoticeContent
}

// NoticeContent is the part of an advance notification that can change before the release;
// a change after the notice went out is told in a revised notice.
type NoticeContent struct {
	Advisories int      `json:"advisories"`
	New        int      `json:"new"`
	Revised    int      `json:"revised"`
	Severity   string   `json:"severity"` // the highest
	Products   []string `json:"products"` // sorted
	// Restricted counts the advisories marked TLP:AMBER or RED, which are in the counts but
	// whose products are not named: the notice may reach anyone.
	Restricted int `json:"restricted,omitempty"`
}

// key is the content's canonical JSON, stored with the release to see changes.
func (c NoticeContent) key() string {
	b, _ := json.Marshal(c) // plain fields: cannot fail
	return string(b)
}

// Said is what the notice of this summary says, in the form Release.AdvanceSummary keeps.
func (s AdvanceSummary) Said() string { return s.key() }

// AdvanceNotice is the "advance_notification" event's details: the summary, which notice
// of the release this is (1, then 2, 3 ... for revised notices) and, in a revised one, what
// the one before said.
type AdvanceNotice struct {
	AdvanceSummary
	Revision int            `json:"revision"`
	Previous *NoticeContent `json:"previous,omitempty"`
}

// SummarizeRelease builds the advance notification of the advisories of one release.
func SummarizeRelease(at time.Time, kind string, as []store.ScheduledAdvisory) AdvanceSummary {
	s := AdvanceSummary{ReleaseAt: at.UTC(), Kind: kind, NoticeContent: NoticeContent{Advisories: len(as), Severity: "unknown", Products: []string{}}}
	seen := map[string]bool{}
	for _, a := range as {
		if a.Revised {
			s.Revised++
		} else {
			s.New++
		}
		if csaf.SeverityRank(a.Severity) > csaf.SeverityRank(s.Severity) {
			s.Severity = a.Severity
		}
		if restrictedTLP(a.TLP) {
			s.Restricted++
			continue
		}
		for _, p := range productList(a.Products) {
			if !seen[p] && len(s.Products) < maxEventProducts {
				seen[p] = true
				s.Products = append(s.Products, p)
			}
		}
	}
	slices.Sort(s.Products)
	return s
}

// NotifyRelease records the advance notification of an organisation's release (creating the
// release row when missing) exactly once, and a revised notice once for each change of
// what it says before the release: an unchanged release, or one notified (or revised) by
// this node or another meanwhile, changes nothing. It reports whether it raised an event.
func NotifyRelease(ctx context.Context, tx *store.Tx, orgID int64, sum AdvanceSummary, now time.Time) (bool, error) {
	rel, _, err := tx.EnsureRelease(ctx, orgID, sum.ReleaseAt, sum.Kind, "", "publisher")
	if err != nil {
		return false, err
	}
	sum.Kind = rel.Kind
	said := sum.Said()
	notice := AdvanceNotice{AdvanceSummary: sum, Revision: 1}
	switch {
	case rel.AdvanceNotifiedAt == nil:
		ok, err := tx.MarkAdvanceNotified(ctx, rel.ID, said, now)
		if err != nil || !ok {
			return false, err
		}
	case rel.AdvanceSummary == said:
		return false, nil
	case rel.AdvanceSummary == "":
		// Notified before notices were kept: what it said is unknown, so keep this one
		// without telling anyone.
		_, err := tx.ReviseAdvanceNotice(ctx, rel.ID, "", said, false)
		return false, err
	default:
		ok, err := tx.ReviseAdvanceNotice(ctx, rel.ID, rel.AdvanceSummary, said, true)
		if err != nil || !ok {
			return false, err
		}
		var prev NoticeContent
		if err := json.Unmarshal([]byte(rel.AdvanceSummary), &prev); err != nil {
			return false, fmt.Errorf("release %d: the notice sent before: %w", rel.ID, err)
		}
		notice.Revision, notice.Previous = rel.AdvanceRevision+1, &prev
	}
	b, err := json.Marshal(notice)
	if err != nil {
		return false, err
	}
	return true, tx.AddEvent(ctx, orgID, EventAdvance, sum.ReleaseAt.UTC().Format(time.RFC3339), string(b))
}

// restrictedTLP tells whether a TLP label limits who may learn of an advisory.
func restrictedTLP(tlp string) bool {
	switch strings.ToUpper(tlp) {
	case "AMBER", "AMBER+STRICT", "RED":
		return true
	}
	return false
}

// RedateScheduled dates an advisory's pending revisions at the release they now wait for
// (csaf.Redate): the document published then says when it was released, and for a first
// release, that it was first released then. The caller has just scheduled the advisory at at.
func RedateScheduled(ctx context.Context, tx *store.Tx, orgID, advisoryID int64, at time.Time) error {
	a, err := tx.Advisory(ctx, orgID, advisoryID)
	if err != nil {
		return err
	}
	revs, err := tx.PendingRevisions(ctx, advisoryID)
	if err != nil {
		return err
	}
	first := a.PublishedAt == nil
	initial := a.InitialRelease
	if first {
		initial = at
	}
	for _, r := range revs {
		out, changed, err := csaf.Redate(r.Document, at, first)
		if err != nil {
			return fmt.Errorf("advisory %s, revision %d, dated at its new release %s: %w", a.TrackingID, r.Revision, at.UTC().Format(time.RFC3339), err)
		}
		if !changed {
			continue
		}
		sum := sha256.Sum256(out)
		if err := tx.RewritePendingDocument(ctx, advisoryID, r.Revision, out, hex.EncodeToString(sum[:]), initial, at); err != nil {
			return err
		}
	}
	return nil
}
