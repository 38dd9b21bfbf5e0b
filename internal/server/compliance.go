package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// advisoryReport answers which machines an advisory concerns: ?tracking_id=T or ?id=N.
func (s *Server) advisoryReport(c *call) error {
	ctx := c.r.Context()
	q := c.r.URL.Query()
	var a store.Advisory
	var err error
	switch {
	case q.Get("tracking_id") != "":
		a, err = s.store.AdvisoryByTrackingID(ctx, c.org.ID, q.Get("tracking_id"))
	case q.Get("id") != "":
		id, perr := strconv.ParseInt(q.Get("id"), 10, 64)
		if perr != nil || id <= 0 {
			return errInvalid("id", "must be a positive integer")
		}
		a, err = s.store.Advisory(ctx, c.org.ID, id)
	default:
		return errInvalid("tracking_id", "is required (or id)")
	}
	if err == nil && !c.mayReadEmbargoed() {
		// As the advisory's own page: not found while embargoed, as published otherwise.
		a, err = s.visibleAdvisory(c, a.ID)
	}
	if err != nil {
		return storeErr(err, "advisory")
	}
	p, err := page(c.r)
	if err != nil {
		return err
	}
	rep, err := compliance.ForAdvisory(ctx, s.store, c.org.ID, a, p, s.cfg.Now())
	if err != nil {
		return err
	}
	if rep.NextCursor != "" {
		id, _ := strconv.ParseInt(rep.NextCursor, 10, 64)
		rep.NextCursor = encodeCursor(id)
	}
	writeJSON(c.w, http.StatusOK, rep)
	return nil
}

func (s *Server) cveReport(c *call) error {
	cve := strings.ToUpper(c.r.URL.Query().Get("cve"))
	if !cveRE.MatchString(cve) {
		return errInvalid("cve", "must be a CVE id such as CVE-2021-44228")
	}
	rep, err := compliance.ForCVE(c.r.Context(), s.store, c.org.ID, cve, !c.mayReadEmbargoed(), s.cfg.Now())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, rep)
	return nil
}

func (s *Server) computerReport(c *call) error {
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	rep, err := compliance.ForComputer(c.r.Context(), s.store, comp, s.cfg.Now())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, rep)
	return nil
}

// complianceReport answers the organisation's summary and its daily history (?days=N,
// default 90).
func (s *Server) complianceReport(c *call) error {
	days := 90
	if v := c.r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3660 {
			return errInvalid("days", "must be a number of days from 1 to 3660")
		}
		days = n
	}
	ctx := c.r.Context()
	now := s.cfg.Now()
	orgID := c.org.ID
	rep, err := s.fleetReport(ctx, reportKey{org: orgID}, func(ctx context.Context, now time.Time) (compliance.OrgReport, error) {
		return compliance.ForOrg(ctx, s.store, orgID, now)
	})
	if err != nil {
		return err
	}
	if f := s.advisoryFilter(c); f != nil && rep.Network != nil {
		// The cached report is everyone's; its scan findings are told again for a reader who
		// may not read embargoed advisories.
		ne, err := s.store.NetworkExposure(ctx, orgID, rep.ComputedAt.AddDate(0, 0, -compliance.NetworkDays), compliance.NetworkFindings, f)
		if err != nil {
			return err
		}
		rep.Network = &ne
	}
	if rep.Snapshots, err = s.store.Snapshots(ctx, c.org.ID, now.AddDate(0, 0, -days).UTC().Format(time.DateOnly)); err != nil {
		return err
	}
	if rep.Snapshots == nil {
		rep.Snapshots = []store.Snapshot{}
	}
	writeJSON(c.w, http.StatusOK, rep)
	return nil
}

// missingReport answers which updates are still missing on how many active computers, with
// the earliest deadline of each: ?min_severity=S keeps those of that severity or higher.
func (s *Server) missingReport(c *call) error {
	minRank := -2
	if v := c.r.URL.Query().Get("min_severity"); v != "" {
		if csaf.SeverityRank(v) < 0 {
			return errInvalid("min_severity", "must be critical, high, medium, low or none")
		}
		minRank = csaf.SeverityRank(v)
	}
	ms, err := s.store.MissingUpdates(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	out := []store.MissingUpdate{}
	for _, m := range ms {
		if csaf.SeverityRank(m.Severity) >= minRank {
			out = append(out, m)
		}
	}
	writeJSON(c.w, http.StatusOK, listResponse[store.MissingUpdate]{Items: out})
	return nil
}

// exposureReport answers what the latest scan of each set of targets found: ?days=N (default
// 30) and ?limit=N findings (default 100, at most 10,000).
func (s *Server) exposureReport(c *call) error {
	q := c.r.URL.Query()
	days, limit := compliance.NetworkDays, 100
	if v := q.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3660 {
			return errInvalid("days", "must be a number of days from 1 to 3660")
		}
		days = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return errInvalid("limit", "must be from 1 to 10000")
		}
		limit = n
	}
	rep, err := s.store.NetworkExposure(c.r.Context(), c.org.ID, s.cfg.Now().AddDate(0, 0, -days), limit, s.advisoryFilter(c))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, rep)
	return nil
}

// computerHealth answers one computer's health verdict.
func (s *Server) computerHealth(c *call) error {
	comp, err := s.computerOf(c)
	if err != nil {
		return err
	}
	return s.writeHealth(c, comp)
}

// healthByID is the health verdict of a computer named only by its id, for network access
// control systems: the caller must be able to read the computer's organisation.
func (s *Server) healthByID(c *call) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	orgID, err := s.store.ComputerOrg(c.r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("computer " + itoa(id))
	} else if err != nil {
		return err
	}
	member := c.user.SiteAdmin
	for _, m := range c.member {
		if m.OrgID == orgID {
			member = true
		}
	}
	if !member {
		return errNotFound("computer " + itoa(id))
	}
	comp, err := s.store.Computer(c.r.Context(), orgID, id)
	if err != nil {
		return storeErr(err, "computer "+itoa(id))
	}
	return s.writeHealth(c, comp)
}

func (s *Server) writeHealth(c *call, comp store.Computer) error {
	ctx := c.r.Context()
	policy, err := s.store.HealthPolicy(ctx, comp.OrgID)
	if err != nil {
		return err
	}
	exps, err := s.store.ComputerExposures(ctx, comp.OrgID, comp.ID)
	if err != nil {
		return err
	}
	var out []store.Exposure
	for _, e := range exps {
		if e.State == store.StateNeeded || e.State == store.StateApproved || e.State == store.StateFailed {
			out = append(out, e)
		}
	}
	writeJSON(c.w, http.StatusOK, compliance.Judge(policy, comp, out, s.cfg.Now()))
	return nil
}

// bulkHealth answers the verdicts of an organisation's active computers, a page at a time;
// ?compliant=false lists only those that fail.
func (s *Server) bulkHealth(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	var want *bool
	switch v := c.r.URL.Query().Get("compliant"); v {
	case "":
	case "true", "false":
		b := v == "true"
		want = &b
	default:
		return errInvalid("compliant", "must be true or false")
	}
	ctx := c.r.Context()
	policy, err := s.store.HealthPolicy(ctx, c.org.ID)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	revoked := false
	f := store.ComputerFilter{Revoked: &revoked, Page: store.Page{After: p.After, Limit: 500}}
	var out []compliance.Verdict
	for len(out) <= p.Limit {
		cs, err := s.store.ListComputers(ctx, c.org.ID, f)
		if err != nil {
			return err
		}
		for _, comp := range cs {
			exps, err := s.store.ComputerExposures(ctx, c.org.ID, comp.ID)
			if err != nil {
				return err
			}
			var missing []store.Exposure
			for _, e := range exps {
				if e.State == store.StateNeeded || e.State == store.StateApproved || e.State == store.StateFailed {
					missing = append(missing, e)
				}
			}
			v := compliance.Judge(policy, comp, missing, now)
			if want == nil || *want == v.Compliant {
				out = append(out, v)
				if len(out) > p.Limit {
					break
				}
			}
		}
		if len(cs) < f.Limit {
			break
		}
		f.After = cs[len(cs)-1].ID
	}
	writeList(c.w, out, p.Limit, func(v compliance.Verdict) int64 { return v.ComputerID })
	return nil
}

func (s *Server) getHealthPolicy(c *call) error {
	p, err := s.store.HealthPolicy(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, p)
	return nil
}

func (s *Server) setHealthPolicy(c *call) error {
	p, err := s.store.HealthPolicy(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	// Fields not sent keep their values.
	if err := decode(c.w, c.r, &p); err != nil {
		return err
	}
	for _, f := range []struct {
		name     string
		v, limit int
	}{{"max_missing_critical", p.MaxMissingCritical, 10000}, {"max_missing_high", p.MaxMissingHigh, 10000},
		{"grace_days", p.GraceDays, 365}, {"max_antivirus_age_days", p.MaxAntivirusAgeDays, 365}, {"max_silent_hours", p.MaxSilentHours, 24 * 365},
		{"min_compliant_pct", p.MinCompliantPct, 100}} {
		if f.v < 0 || f.v > f.limit {
			return errInvalid(f.name, "must be from 0 to %d", f.limit)
		}
	}
	ctx := c.r.Context()
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = tx.SetHealthPolicy(ctx, c.org.ID, p, c.user.Username); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "health_policy.set", "org", c.org.Slug, p)
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, p)
	return nil
}
