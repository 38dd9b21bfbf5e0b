// Package catalog keeps what every other part of patchday reads: products, advisories (as
// CSAF 2.0 documents with their revisions), updates and payload records.
package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// ErrRevisionConflict is an import whose version clashes with what is stored.
var ErrRevisionConflict = errors.New("revision conflict")

// Imported is the outcome of an import.
type Imported struct {
	Advisory store.Advisory
	Revision store.AdvisoryRevision
	// New is true when the document started a new advisory; Unchanged when the same
	// document (byte for byte) was already stored, so nothing changed.
	New, Unchanged bool
}

// maxProductText bounds the product names kept for text search.
const maxProductText = 64 << 10

// Document is a validated CSAF document, ready to import.
type Document struct {
	data   []byte
	sum    csaf.Summary
	sha256 string
}

// ValidateAdvisory checks a CSAF 2.0 document (JSON schema and every mandatory test) and
// reads what the catalog indexes of it. Call it before the write transaction: validation
// takes milliseconds to seconds, and SQLite has one writer. Invalid documents give a
// *csaf.ValidationError.
func ValidateAdvisory(data []byte) (*Document, error) {
	doc, err := csaf.Validate(data)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(data)
	return &Document{data: data, sum: doc.Summarize(), sha256: hex.EncodeToString(digest[:])}, nil
}

// ImportAdvisory stores a validated document in the organisation: a new advisory, or a new
// revision of the advisory with the same tracking id when its version is newer. Importing any
// stored revision again, byte for byte, changes nothing. A version that is not newer than the
// stored one gives ErrRevisionConflict.
//
// A document whose current release date lies in the future is scheduled: its release date
// is kept as the advisory's scheduled release, and the revision stays unpublished (embargoed)
// until the publisher (PublishDue) publishes it then. Any other revision is published at
// once, with its "advisory.published" or "advisory.revised" event.
func ImportAdvisory(ctx context.Context, tx *store.Tx, orgID int64, d *Document, actor string) (Imported, error) {
	sum, data := d.sum, d.data
	rev := store.AdvisoryRevision{
		Version: sum.Version, Status: sum.Status, Summary: sum.RevisionSummary,
		SHA256: d.sha256, Document: data, CreatedBy: actor,
	}
	a, err := tx.AdvisoryByTrackingID(ctx, orgID, sum.TrackingID)
	isNew := errors.Is(err, store.ErrNotFound)
	if err != nil && !isNew {
		return Imported{}, err
	}
	if !isNew {
		if same, err := tx.AdvisoryRevisionBySHA256(ctx, a.ID, rev.SHA256); err == nil {
			return Imported{Advisory: a, Revision: same, Unchanged: true}, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return Imported{}, err
		}
		latest, err := tx.AdvisoryRevision(ctx, a.ID, 0)
		if err != nil {
			return Imported{}, err
		}
		cmp, err := csaf.CompareVersions(sum.Version, latest.Version)
		if err != nil {
			return Imported{}, fmt.Errorf("%w: %s: %v", ErrRevisionConflict, sum.TrackingID, err)
		}
		if cmp <= 0 {
			return Imported{}, fmt.Errorf("%w: %s version %s is stored; an import must bring a newer version than that, not %s",
				ErrRevisionConflict, sum.TrackingID, latest.Version, sum.Version)
		}
		rev.Revision = latest.Revision + 1
	} else {
		rev.Revision = 1
		a = store.Advisory{OrgID: orgID, TrackingID: sum.TrackingID}
	}
	a.Title, a.Category, a.Publisher = sum.Title, sum.Category, sum.Publisher
	a.Severity, a.SeverityRank, a.CVSSMax = sum.Severity, csaf.SeverityRank(sum.Severity), sum.CVSSMax
	a.TLP, a.Status, a.Version, a.Revisions = sum.TLP, sum.Status, sum.Version, rev.Revision
	a.InitialRelease, a.CurrentRelease = sum.InitialRelease, sum.CurrentRelease
	a.CVEs = sum.CVEs
	a.ScheduledRelease = nil
	if sum.CurrentRelease.After(time.Now()) {
		t := sum.CurrentRelease
		a.ScheduledRelease = &t
	}
	a.Products = strings.Join(sum.ProductNames, "\n")
	a.AffectedProducts = strings.Join(sum.AffectedNames, "\n")
	if len(a.Products) > maxProductText {
		// Cut at a line end, so that no name (nor UTF-8 sequence) is split.
		a.Products = a.Products[:strings.LastIndexByte(a.Products[:maxProductText], '\n')+1]
	}
	if a, err = tx.SaveAdvisory(ctx, a); err != nil {
		return Imported{}, err
	}
	rev.AdvisoryID = a.ID
	if rev, err = tx.AddAdvisoryRevision(ctx, rev); err != nil {
		return Imported{}, err
	}
	if a.ScheduledRelease == nil {
		// Not embargoed: public at once, with its event, in this transaction.
		now := store.Now()
		if _, err := PublishAdvisory(ctx, tx, orgID, a.ID, now); err != nil {
			return Imported{}, err
		}
		if a, err = tx.Advisory(ctx, orgID, a.ID); err != nil {
			return Imported{}, err
		}
		rev.PublishedAt = &now
	}
	return Imported{Advisory: a, Revision: rev, New: isNew}, nil
}
