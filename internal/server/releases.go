package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/notify"
	"github.com/patchday/patchday/internal/store"
)

// Limits of the release calendar API.
const (
	maxReleaseCount   = 24                       // release days GET /releases lists at most
	maxReleaseAhead   = 5 * 366 * 24 * time.Hour // how far ahead a release may be
	advanceHorizon    = 40 * 24 * time.Hour      // how far ahead the publisher looks for advance notices
	maxReleaseTitle   = 200
	publishBatch      = 500
	scheduledHorizon  = 10 * 366 * 24 * time.Hour // scheduled advisories the release list considers
	releaseKindOOB    = "out_of_band"
	releaseKindMonthy = "monthly"
)

// mayReadEmbargoed tells whether the caller's role shows advisories before their release:
// admins and operators (who author them) and partners do; viewers see published ones only.
func (c *call) mayReadEmbargoed() bool {
	switch c.role {
	case store.RoleAdmin, store.RoleOperator, store.RolePartner:
		return true
	}
	return false
}

// calendarOf returns an organisation's release calendar, parsed.
func (s *Server) calendarOf(ctx context.Context, orgID int64) (store.ReleaseCalendar, notify.ReleaseCalendar, error) {
	sc, err := s.store.ReleaseCalendar(ctx, orgID)
	if err != nil {
		return sc, notify.ReleaseCalendar{}, err
	}
	nc, err := notify.ParseReleaseCalendar(sc.Ordinal, sc.Weekday, sc.TimeOfDay, sc.Zone, sc.NoticeDays)
	if err != nil {
		// A zone the system's time zone database lost since: fall back to UTC, loudly.
		s.log.Warn("release calendar unusable; using the default", "org", orgID, "err", err)
		d := store.DefaultReleaseCalendar
		nc, _ = notify.ParseReleaseCalendar(d.Ordinal, d.Weekday, d.TimeOfDay, d.Zone, sc.NoticeDays)
	}
	return sc, nc, nil
}

type calendarResponse struct {
	store.ReleaseCalendar
	Next []time.Time `json:"next_release_days"`
}

func (s *Server) getReleaseCalendar(c *call) error {
	sc, nc, err := s.calendarOf(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, calendarResponse{ReleaseCalendar: sc, Next: nc.NextReleaseDays(s.cfg.Now(), 3)})
	return nil
}

type calendarRequest struct {
	Ordinal    *int    `json:"ordinal"`
	Weekday    *int    `json:"weekday"`
	Time       *string `json:"time"`
	Zone       *string `json:"zone"`
	NoticeDays *int    `json:"advance_notice_days"`
}

// setReleaseCalendar changes the settings given; the others keep their values.
func (s *Server) setReleaseCalendar(c *call) error {
	var req calendarRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	ctx := c.r.Context()
	sc, err := s.store.ReleaseCalendar(ctx, c.org.ID)
	if err != nil {
		return err
	}
	if req.Ordinal != nil {
		sc.Ordinal = *req.Ordinal
	}
	if req.Weekday != nil {
		sc.Weekday = *req.Weekday
	}
	if req.Time != nil {
		sc.TimeOfDay = *req.Time
	}
	if req.Zone != nil {
		sc.Zone = *req.Zone
	}
	if req.NoticeDays != nil {
		sc.NoticeDays = *req.NoticeDays
	}
	nc, err := notify.ParseReleaseCalendar(sc.Ordinal, sc.Weekday, sc.TimeOfDay, sc.Zone, sc.NoticeDays)
	if err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		return errInvalid(field, "%s", msg)
	}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if sc, err = tx.SetReleaseCalendar(ctx, c.org.ID, sc, c.user.Username); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "release_calendar.set", "org", c.org.Slug, sc)
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, calendarResponse{ReleaseCalendar: sc, Next: nc.NextReleaseDays(s.cfg.Now(), 3)})
	return nil
}

// releaseDay is one release in the list: its time, kind, and what is scheduled for it.
type releaseDay struct {
	At                time.Time                 `json:"release_at"`
	Kind              string                    `json:"kind"`
	Title             string                    `json:"title,omitempty"`
	AdvanceNoticeAt   time.Time                 `json:"advance_notice_at"`
	AdvanceNotifiedAt *time.Time                `json:"advance_notified_at,omitempty"`
	AdvanceRevision   int                       `json:"advance_revision,omitempty"` // notices sent: 1, more when revised
	AdvisoryCount     int                       `json:"advisory_count"`
	Advisories        []store.ScheduledAdvisory `json:"advisories,omitempty"`
}

// listReleases answers the next ?count= (default 3) release days: the monthly ones, the
// out-of-band ones, and any other time advisories are scheduled for. Viewers see the counts,
// not the embargoed advisories.
func (s *Server) listReleases(c *call) error {
	count := 3
	if v := c.r.URL.Query().Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxReleaseCount {
			return errInvalid("count", "must be an integer from 1 to %d", maxReleaseCount)
		}
		count = n
	}
	ctx := c.r.Context()
	now := s.cfg.Now()
	_, nc, err := s.calendarOf(ctx, c.org.ID)
	if err != nil {
		return err
	}
	days, err := s.releaseDays(ctx, c.org.ID, nc, now, count)
	if err != nil {
		return err
	}
	if !c.mayReadEmbargoed() {
		for i := range days {
			days[i].Advisories = nil
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"items": days})
	return nil
}

// releaseDays merges the calendar, the stored releases and the scheduled advisories after now.
func (s *Server) releaseDays(ctx context.Context, orgID int64, nc notify.ReleaseCalendar, now time.Time, count int) ([]releaseDay, error) {
	byTime := map[int64]*releaseDay{}
	add := func(t time.Time, kind string) *releaseDay {
		k := t.UnixMicro()
		if d, ok := byTime[k]; ok {
			return d
		}
		d := &releaseDay{At: t.UTC(), Kind: kind, AdvanceNoticeAt: nc.AdvanceNoticeTime(t).UTC()}
		byTime[k] = d
		return d
	}
	monthly := nc.NextReleaseDays(now, count)
	for _, t := range monthly {
		add(t, releaseKindMonthy)
	}
	until := monthly[len(monthly)-1].Add(time.Second)
	stored, err := s.store.ListReleases(ctx, orgID, now, until)
	if err != nil {
		return nil, err
	}
	for _, r := range stored {
		d := add(r.At, r.Kind)
		d.Kind, d.Title, d.AdvanceNotifiedAt, d.AdvanceRevision = r.Kind, r.Title, r.AdvanceNotifiedAt, r.AdvanceRevision
	}
	as, err := s.store.ScheduledAdvisories(ctx, orgID, now, until)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		kind := releaseKindOOB
		if nc.IsReleaseDay(a.Release) {
			kind = releaseKindMonthy
		}
		d := add(a.Release, kind)
		d.Advisories = append(d.Advisories, a)
		d.AdvisoryCount++
	}
	out := make([]releaseDay, 0, len(byTime))
	for _, d := range byTime {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b releaseDay) int { return a.At.Compare(b.At) })
	if len(out) > count {
		out = out[:count]
	}
	return out, nil
}

type releaseRequest struct {
	At    *string `json:"release_at"`
	Title string  `json:"title"`
}

// createRelease adds an out-of-band release at an explicit time.
func (s *Server) createRelease(c *call) error {
	var req releaseRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if req.At == nil {
		return errInvalid("release_at", "is required: an RFC 3339 time such as 2026-11-20T18:00:00Z")
	}
	at, err := time.Parse(time.RFC3339, *req.At)
	now := s.cfg.Now()
	switch {
	case err != nil:
		return errInvalid("release_at", "must be an RFC 3339 time such as 2026-11-20T18:00:00Z")
	case !at.After(now):
		return errInvalid("release_at", "must be in the future")
	case at.After(now.Add(maxReleaseAhead)):
		return errInvalid("release_at", "must be within 5 years")
	}
	if err := checkName("title", req.Title, maxReleaseTitle); err != nil && req.Title != "" {
		return err
	}
	ctx := c.r.Context()
	_, nc, err := s.calendarOf(ctx, c.org.ID)
	if err != nil {
		return err
	}
	if nc.IsReleaseDay(at) {
		return errInvalid("release_at", "is a monthly release day already")
	}
	var rel store.Release
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var created bool
		var err error
		if rel, created, err = tx.EnsureRelease(ctx, c.org.ID, at, releaseKindOOB, req.Title, c.user.Username); err != nil {
			return err
		}
		if !created {
			return errConflict("a release at %s exists already", at.UTC().Format(time.RFC3339))
		}
		return c.audit(tx, c.org.ID, "release.create", "release", at.UTC().Format(time.RFC3339), map[string]any{"title": req.Title})
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, rel)
	return nil
}

type scheduleRequest struct {
	Release *string `json:"release"`
}

// scheduleAdvisory moves an unpublished advisory to a release day: "next" (the next monthly
// release day), a monthly release day, or an out-of-band release.
func (s *Server) scheduleAdvisory(c *call) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req scheduleRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	if req.Release == nil || *req.Release == "" {
		return errInvalid("release", `is required: "next" or the RFC 3339 time of a release day`)
	}
	ctx := c.r.Context()
	now := s.cfg.Now()
	_, nc, err := s.calendarOf(ctx, c.org.ID)
	if err != nil {
		return err
	}
	var at time.Time
	if *req.Release == "next" {
		at = nc.NextReleaseDay(now)
	} else {
		if at, err = time.Parse(time.RFC3339, *req.Release); err != nil {
			return errInvalid("release", `must be "next" or an RFC 3339 time such as 2026-12-08T10:00:00Z`)
		}
		if !at.After(now) {
			return errInvalid("release", "must be in the future")
		}
		if !nc.IsReleaseDay(at) {
			if _, err := s.store.ReleaseAt(ctx, c.org.ID, at); errors.Is(err, store.ErrNotFound) {
				return errInvalid("release", "%s is not a release day: give a monthly release day (GET .../releases) or create an out-of-band release first",
					at.UTC().Format(time.RFC3339))
			} else if err != nil {
				return err
			}
		}
	}
	a, err := s.store.Advisory(ctx, c.org.ID, id)
	if err != nil {
		return storeErr(err, "advisory "+itoa(id))
	}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		ok, err := tx.ScheduleAdvisory(ctx, c.org.ID, id, at)
		if err != nil {
			return err
		}
		if !ok {
			return errConflict("advisory %s has no unpublished revision to schedule", a.TrackingID)
		}
		return c.audit(tx, c.org.ID, "advisory.schedule", "advisory", a.TrackingID,
			map[string]any{"release": at.UTC(), "previous": a.ScheduledRelease})
	})
	if err != nil {
		return err
	}
	if a, err = s.store.Advisory(ctx, c.org.ID, id); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, a)
	return nil
}

// Publish publishes the advisories whose release time has come and raises the advance
// notifications that are due. The server runs it every few seconds; several nodes may run it
// at once (conditional updates make each publication and notification happen once).
func (s *Server) Publish(ctx context.Context) error {
	now := s.cfg.Now()
	n, err := catalog.PublishDue(ctx, s.store, now, publishBatch)
	if n > 0 {
		s.log.Info("published advisories", "count", n)
	}
	return errors.Join(err, s.advanceNotifications(ctx, now))
}

// advanceNotifications raises the "advance_notification" event of each release with
// scheduled advisories whose notice time has come, and a revised one when what it said
// changed before the release (advisories added or moved away, a severity raised).
func (s *Server) advanceNotifications(ctx context.Context, now time.Time) error {
	as, err := s.store.ScheduledAdvisories(ctx, 0, now, now.Add(advanceHorizon))
	if err != nil {
		return err
	}
	type key struct {
		org int64
		at  int64
	}
	groups := map[key][]store.ScheduledAdvisory{}
	var order []key
	for _, a := range as {
		k := key{a.OrgID, a.Release.UnixMicro()}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], a)
	}
	cals := map[int64]notify.ReleaseCalendar{}
	var errs []error
	for _, k := range order {
		g := groups[k]
		nc, ok := cals[k.org]
		if !ok {
			if _, nc, err = s.calendarOf(ctx, k.org); err != nil {
				return err
			}
			cals[k.org] = nc
		}
		at := g[0].Release
		if now.Before(nc.AdvanceNoticeTime(at)) {
			continue
		}
		kind := releaseKindOOB
		if nc.IsReleaseDay(at) {
			kind = releaseKindMonthy
		}
		sum := catalog.SummarizeRelease(at, kind, g)
		if rel, err := s.store.ReleaseAt(ctx, k.org, at); err == nil && rel.AdvanceNotifiedAt != nil && rel.AdvanceSummary == sum.Said() {
			continue // the common case, without a write transaction
		}
		err := s.store.Update(ctx, func(tx *store.Tx) error {
			_, err := catalog.NotifyRelease(ctx, tx, k.org, sum, now)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("advance notification of %s: %w", at.UTC().Format(time.RFC3339), err))
		}
	}
	return errors.Join(errs...)
}
