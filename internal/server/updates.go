package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// updateDetail is an update with its definition and relations.
type updateDetail struct {
	store.Update
	Relations store.UpdateRelations `json:"relations"`
}

func (s *Server) createUpdate(c *call) error {
	var d catalog.UpdateDef
	if err := decode(c.w, c.r, &d); err != nil {
		return err
	}
	ctx := c.r.Context()
	var u store.Update
	var rel store.UpdateRelations
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if u, err = catalog.CreateUpdate(ctx, tx, c.org.ID, d, c.user.Username); err != nil {
			return err
		}
		if rel, err = tx.Relations(ctx, u.ID); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "update.create", "update", u.Name, map[string]any{"installer": u.Installer, "purl": u.PURL})
	})
	var fe *catalog.FieldError
	if errors.As(err, &fe) {
		return errInvalid(fe.Field, "%s", fe.Reason)
	} else if err != nil {
		return err
	}
	// Which computers need it. A failure here leaves the update stored; the background
	// poll evaluates it again.
	if err := s.eval.UpdateAdded(ctx); err != nil {
		s.log.Error("evaluate new update", "update", u.Name, "err", err)
	} else if err := s.ApplyRules(ctx); err != nil {
		s.log.Error("auto-approval rules", "err", err)
	}
	writeJSON(c.w, http.StatusCreated, updateDetail{Update: u, Relations: rel})
	return nil
}

func (s *Server) getUpdate(c *call) error {
	name := c.r.PathValue("name")
	u, err := s.store.UpdateByName(c.r.Context(), c.org.ID, name)
	if err != nil {
		return storeErr(err, "update "+quote(name))
	}
	rel, err := s.store.Relations(c.r.Context(), u.ID)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, updateDetail{Update: u, Relations: rel})
	return nil
}

func (s *Server) listUpdates(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	f := store.UpdateFilter{Classification: q.Get("classification"), Severity: q.Get("severity"), Text: q.Get("q"),
		Page: store.Page{After: p.After, Limit: p.Limit + 1}}
	switch f.Classification {
	case "", "security", "critical", "definition", "feature":
	default:
		return errInvalid("classification", "must be security, critical, definition or feature")
	}
	if f.Severity != "" && csaf.SeverityRank(f.Severity) < 0 && f.Severity != "unknown" {
		return errInvalid("severity", "must be one of %s", strings.Join(csaf.Severities, ", "))
	}
	if tid := q.Get("advisory"); tid != "" {
		a, err := s.store.AdvisoryByTrackingID(c.r.Context(), c.org.ID, tid)
		if errors.Is(err, store.ErrNotFound) {
			return errInvalid("advisory", "names an advisory that is not in the catalog")
		} else if err != nil {
			return err
		}
		f.AdvisoryID = a.ID
	}
	us, err := s.store.ListUpdates(c.r.Context(), c.org.ID, f)
	if err != nil {
		return err
	}
	writeList(c.w, us, p.Limit, func(u store.Update) int64 { return u.ID })
	return nil
}
