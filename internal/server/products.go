package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/knqyf263/go-cpe/naming"
	"github.com/package-url/packageurl-go"

	"github.com/patchday/patchday/internal/store"
)

// productFields are a product's settable fields. In an update, an absent field keeps its value
// and "" clears it.
type productFields struct {
	Vendor        *string `json:"vendor"`
	Name          *string `json:"name"`
	VersionLine   *string `json:"version_line"`
	CPE           *string `json:"cpe"`
	PURL          *string `json:"purl"`
	ReleasedOn    *string `json:"released_on"`
	MainstreamEnd *string `json:"mainstream_end"`
	ExtendedEnd   *string `json:"extended_end"`
}

// apply copies the fields that are set onto p.
func (f productFields) apply(p *store.Product) {
	for _, c := range []struct {
		src *string
		dst *string
	}{
		{f.Vendor, &p.Vendor}, {f.Name, &p.Name}, {f.VersionLine, &p.VersionLine}, {f.CPE, &p.CPE},
		{f.PURL, &p.PURL}, {f.ReleasedOn, &p.ReleasedOn}, {f.MainstreamEnd, &p.MainstreamEnd}, {f.ExtendedEnd, &p.ExtendedEnd},
	} {
		if c.src != nil {
			*c.dst = *c.src
		}
	}
}

// checkProduct validates a product as it would be stored.
func checkProduct(p store.Product) error {
	if err := checkName("vendor", p.Vendor, 200); err != nil {
		return err
	}
	if err := checkName("name", p.Name, 200); err != nil {
		return err
	}
	if p.VersionLine != "" {
		if err := checkName("version_line", p.VersionLine, 100); err != nil {
			return err
		}
	}
	if p.CPE != "" {
		if len(p.CPE) > 1000 {
			return errInvalid("cpe", "must be at most 1000 characters")
		}
		if _, err := naming.UnbindFS(p.CPE); err != nil {
			return errInvalid("cpe", "must be a CPE 2.3 formatted string such as cpe:2.3:a:openssl:openssl:3.0.0:*:*:*:*:*:*:* (%v)", err)
		}
	}
	if p.PURL != "" {
		if len(p.PURL) > 1000 {
			return errInvalid("purl", "must be at most 1000 characters")
		}
		if _, err := packageurl.FromString(p.PURL); err != nil {
			return errInvalid("purl", "must be a package URL such as pkg:deb/debian/openssl (%v)", err)
		}
	}
	dates := []struct{ field, v string }{
		{"released_on", p.ReleasedOn}, {"mainstream_end", p.MainstreamEnd}, {"extended_end", p.ExtendedEnd},
	}
	for _, d := range dates {
		if d.v == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d.v); err != nil {
			return errInvalid(d.field, "must be a date YYYY-MM-DD")
		}
	}
	// Dates go in lifecycle order (YYYY-MM-DD strings compare like the dates they are).
	for i := 0; i < len(dates); i++ {
		for j := i + 1; j < len(dates); j++ {
			if dates[i].v != "" && dates[j].v != "" && dates[j].v < dates[i].v {
				return errInvalid(dates[j].field, "must not be before %s (%s)", dates[i].field, dates[i].v)
			}
		}
	}
	return nil
}

func (s *Server) createProduct(c *call) error {
	var f productFields
	if err := decode(c.w, c.r, &f); err != nil {
		return err
	}
	p := store.Product{OrgID: c.org.ID}
	f.apply(&p)
	if err := checkProduct(p); err != nil {
		return err
	}
	ctx := c.r.Context()
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = tx.CreateProduct(ctx, p); err != nil {
			return storeErr(err, "product "+quote(p.Vendor+" "+p.Name+" "+p.VersionLine))
		}
		return c.audit(tx, c.org.ID, "product.create", "product", itoa(p.ID), f)
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, p)
	return nil
}

func pathID(c *call, name string) (int64, error) {
	id, err := strconv.ParseInt(c.r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errInvalid(name, "must be a positive integer")
	}
	return id, nil
}

func (s *Server) updateProduct(c *call) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var f productFields
	if err := decode(c.w, c.r, &f); err != nil {
		return err
	}
	ctx := c.r.Context()
	var p store.Product
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.Product(ctx, c.org.ID, id)
		if err != nil {
			return storeErr(err, "product "+itoa(id))
		}
		p = cur
		f.apply(&p)
		if err := checkProduct(p); err != nil {
			return err
		}
		if p, err = tx.UpdateProduct(ctx, p); err != nil {
			return storeErr(err, "product "+quote(p.Vendor+" "+p.Name+" "+p.VersionLine))
		}
		return c.audit(tx, c.org.ID, "product.update", "product", itoa(p.ID), f)
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, p)
	return nil
}

func (s *Server) getProduct(c *call) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := s.store.Product(c.r.Context(), c.org.ID, id)
	if err != nil {
		return storeErr(err, "product "+itoa(id))
	}
	writeJSON(c.w, http.StatusOK, p)
	return nil
}

func (s *Server) listProducts(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	f := store.ProductFilter{Vendor: q.Get("vendor"), Text: q.Get("q"), Page: store.Page{After: p.After, Limit: p.Limit + 1}}
	if v := q.Get("ended_by"); v != "" {
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return errInvalid("ended_by", "must be a date YYYY-MM-DD")
		}
		f.EndedBy = v
	}
	ps, err := s.store.ListProducts(c.r.Context(), c.org.ID, f)
	if err != nil {
		return err
	}
	writeList(c.w, ps, p.Limit, func(p store.Product) int64 { return p.ID })
	return nil
}

// unsupportedProduct is a line of the end-of-support report.
type unsupportedProduct struct {
	store.Product
	SupportEnded string `json:"support_ended"`
	DaysSince    int    `json:"days_since"`
}

// endOfSupportReport lists the products whose support (extended, else mainstream) ended
// before ?on= (default today, UTC).
func (s *Server) endOfSupportReport(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	on := s.cfg.Now().UTC().Format(time.DateOnly)
	if v := c.r.URL.Query().Get("on"); v != "" {
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return errInvalid("on", "must be a date YYYY-MM-DD")
		}
		on = v
	}
	ps, err := s.store.ListProducts(c.r.Context(), c.org.ID, store.ProductFilter{EndedBy: on, Page: store.Page{After: p.After, Limit: p.Limit + 1}})
	if err != nil {
		return err
	}
	day, _ := time.Parse(time.DateOnly, on)
	out := make([]unsupportedProduct, len(ps))
	for i, pr := range ps {
		end, err := time.Parse(time.DateOnly, pr.SupportEnd())
		if err != nil {
			return errors.New("stored product has a malformed date: " + pr.SupportEnd())
		}
		out[i] = unsupportedProduct{Product: pr, SupportEnded: pr.SupportEnd(), DaysSince: int(day.Sub(end).Hours() / 24)}
	}
	writeList(c.w, out, p.Limit, func(u unsupportedProduct) int64 { return u.ID })
	return nil
}
