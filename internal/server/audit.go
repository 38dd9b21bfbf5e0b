package server

import (
	"slices"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// listAudit lists audit events newest first. A site admin sees all; anyone else sees the
// events of the organisations they administer and their own actions.
func (s *Server) listAudit(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	f := store.AuditFilter{
		Actor: q.Get("actor"), Action: q.Get("action"), ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id"),
		Before: p.After, Limit: p.Limit + 1,
	}
	for _, tf := range []struct {
		field string
		dst   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(tf.field); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return errInvalid(tf.field, "must be an RFC 3339 time such as 2026-11-10T10:00:00Z")
			}
			*tf.dst = t
		}
	}
	if c.user.SiteAdmin {
		f.AllOrgs = true
	} else {
		f.OrgIDs = c.orgsAdministered()
		f.OrActorID = c.user.ID
	}
	if slug := q.Get("org"); slug != "" {
		org, err := s.store.OrgBySlug(c.r.Context(), slug)
		visible := err == nil && (c.user.SiteAdmin || slices.Contains(f.OrgIDs, org.ID))
		if !visible {
			return errNotFound("organisation " + quote(slug))
		}
		f.AllOrgs, f.OrgIDs, f.OrActorID = false, []int64{org.ID}, 0
	}
	evs, err := s.store.ListAudit(c.r.Context(), f)
	if err != nil {
		return err
	}
	writeList(c.w, evs, p.Limit, func(e store.AuditEvent) int64 { return e.ID })
	return nil
}
