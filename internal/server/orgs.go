package server

import (
	"net/http"

	"github.com/patchday/patchday/internal/store"
)

type orgRequest struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

func (s *Server) createOrg(c *call) error {
	var req orgRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkSlug("slug", req.Slug); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = req.Slug
	}
	if err := checkName("name", req.Name, 200); err != nil {
		return err
	}
	ctx := c.r.Context()
	var o store.Org
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if o, err = tx.CreateOrg(ctx, req.Slug, req.Name); err != nil {
			return storeErr(err, "organisation "+quote(req.Slug))
		}
		return c.audit(tx, o.ID, "org.create", "org", o.Slug, req)
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, o)
	return nil
}

func (s *Server) listOrgs(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	var only int64
	if !c.user.SiteAdmin {
		only = c.user.ID
	}
	orgs, err := s.store.ListOrgs(c.r.Context(), only, store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	writeList(c.w, orgs, p.Limit, func(o store.Org) int64 { return o.ID })
	return nil
}

func (s *Server) getOrg(c *call) error {
	writeJSON(c.w, http.StatusOK, c.org)
	return nil
}
