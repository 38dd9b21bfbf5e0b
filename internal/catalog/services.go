package catalog

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// AdvisoryReader reads what service matching needs: a *store.Store or a *store.Tx.
type AdvisoryReader interface {
	ListAdvisories(ctx context.Context, orgID int64, f store.AdvisoryFilter) ([]store.Advisory, error)
	AdvisoryRevision(ctx context.Context, advisoryID int64, revision int) (store.AdvisoryRevision, error)
}

// MatchServices marks each scan finding with the organisation's advisories whose affected
// products are its product at its version (csaf.Document.MatchService on the newest
// revision), and the highest of their severities; the tracking ids also go into the
// finding's detail. Candidates are the advisories that name the product; each document is
// read once.
func MatchServices(ctx context.Context, r AdvisoryReader, orgID int64, findings []store.ScanFinding) error {
	type hit struct {
		ids      []string
		severity string
	}
	byProduct := map[string]hit{}
	docs := map[int64]*csaf.Document{}
	for i := range findings {
		f := &findings[i]
		if f.Product == "" {
			continue
		}
		key := f.Product + "\x00" + f.Version
		h, done := byProduct[key]
		if !done {
			cands, err := r.ListAdvisories(ctx, orgID, store.AdvisoryFilter{Product: f.Product, Limit: 500})
			if err != nil {
				return err
			}
			for _, a := range cands {
				d, ok := docs[a.ID]
				if !ok {
					rev, err := r.AdvisoryRevision(ctx, a.ID, a.Revisions)
					if err != nil {
						return err
					}
					if d, err = csaf.Parse(rev.Document); err != nil {
						return fmt.Errorf("advisory %s: %w", a.TrackingID, err)
					}
					docs[a.ID] = d
				}
				if len(d.MatchService(f.Product, f.Version)) == 0 {
					continue
				}
				h.ids = append(h.ids, a.TrackingID)
				if h.severity == "" || csaf.SeverityRank(a.Severity) > csaf.SeverityRank(h.severity) {
					h.severity = a.Severity
				}
			}
			byProduct[key] = h
		}
		if len(h.ids) == 0 {
			continue
		}
		f.Advisories, f.Severity = h.ids, h.severity
		var d map[string]any
		if json.Unmarshal(f.Detail, &d) == nil && d != nil {
			d["advisories"] = h.ids
			f.Detail, _ = json.Marshal(d)
		}
	}
	return nil
}
