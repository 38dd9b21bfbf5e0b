package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/csaf"
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
	return s.readCalendar(ctx, s.store.Reader, orgID)
}

// readCalendar is calendarOf through r (a transaction's reader: what it sees).
func (s *Server) readCalendar(ctx context.Context, r store.Reader, orgID int64) (store.ReleaseCalendar, notify.ReleaseCalendar, error) {
	sc, err := r.ReleaseCalendar(ctx, orgID)
	if err != nil {
		return sc, notify.ReleaseCalendar{}, err
	}
	return sc, s.parseCalendar(orgID, sc), nil
}

// parseCalendar is the calendar that settings stand for.
func (s *Server) parseCalendar(orgID int64, sc store.ReleaseCalendar) notify.ReleaseCalendar {
	nc, err := notify.ParseReleaseCalendar(sc.Ordinal, sc.Weekday, sc.TimeOfDay, sc.Zone, sc.NoticeDays)
	if err != nil {
		// A zone the system's time zone database lost since: fall back to UTC, loudly.
		s.log.Warn("release calendar unusable; using the default", "org", orgID, "err", err)
		d := store.DefaultReleaseCalendar
		nc, _ = notify.ParseReleaseCalendar(d.Ordinal, d.Weekday, d.TimeOfDay, d.Zone, sc.NoticeDays)
	}
	return nc
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

// setReleaseCalendar changes the settings given; the others keep their values. What waits
// for a monthly release day of the calendar before moves with it (followCalendar), in the
// same transaction.
func (s *Server) setReleaseCalendar(c *call) error {
	var req calendarRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	ctx := c.r.Context()
	var resp calendarSetResponse
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		// Serialised with scheduling and advance notifications (which lock it too), so that
		// nothing is scheduled for, or announced at, a release time this change moves.
		if err := tx.LockOrg(ctx, c.org.ID); err != nil {
			return err
		}
		prev, old, err := s.readCalendar(ctx, tx.Reader, c.org.ID)
		if err != nil {
			return err
		}
		sc := prev
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
		if sc, err = tx.SetReleaseCalendar(ctx, c.org.ID, sc, c.user.Username); err != nil {
			return err
		}
		now := s.cfg.Now()
		change, err := s.followCalendar(ctx, tx, c.org.ID, old, nc, now)
		if err != nil {
			return err
		}
		resp = calendarSetResponse{calendarResponse: calendarResponse{ReleaseCalendar: sc, Next: nc.NextReleaseDays(now, 3)}, calendarChange: change}
		return c.audit(tx, c.org.ID, "release_calendar.set", "org", c.org.Slug, struct {
			store.ReleaseCalendar
			Previous store.ReleaseCalendar `json:"previous"`
			calendarChange
		}{sc, prev, change})
	})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, resp)
	return nil
}

// calendarSetResponse is the calendar after a change, and what the change moved.
type calendarSetResponse struct {
	calendarResponse
	calendarChange
}

// calendarChange is what a change of the release calendar did to the scheduled advisories.
type calendarChange struct {
	Moved   int            `json:"moved_advisories"`
	Moves   []calendarMove `json:"moves,omitempty"`
	Kept    []calendarKept `json:"kept,omitempty"`
	Message string         `json:"message,omitempty"` // the above in words, times in UTC
}

// calendarMove is a monthly release that moved to the new calendar's release day.
type calendarMove struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Advisories []string  `json:"advisories"` // tracking ids, at most maxMoveNames
	Count      int       `json:"advisory_count"`
	// AdvanceNotice is what became of a notice sent for the old time: "moved" (a revised
	// notice told subscribers the new time) or "merged" (a revised notice told them the
	// release moved into the one at To, which has a notice of its own); empty when none was
	// sent yet.
	AdvanceNotice string `json:"advance_notice,omitempty"`
}

// calendarKept is a monthly release that stayed at its time because the new calendar's
// release time of that month has passed already.
type calendarKept struct {
	At         time.Time `json:"release_at"`
	Passed     time.Time `json:"new_release_at"`
	Advisories []string  `json:"advisories"`
	Count      int       `json:"advisory_count"`
}

// maxMoveNames bounds the tracking ids a move lists (the count is complete).
const maxMoveNames = 100

// releaseMovedNotice is the revised advance notification of a release that a change of the
// calendar moved: the notice as the publisher sends it, and the time the one before named
// (previous_release_at) or, for a release merged into another, where it went (moved_to).
type releaseMovedNotice struct {
	catalog.AdvanceNotice
	PreviousReleaseAt *time.Time `json:"previous_release_at,omitempty"`
	MovedTo           *time.Time `json:"moved_to,omitempty"`
}

// sameReleaseDays tells whether two calendars have the same release days (they may differ in
// the advance notice).
func sameReleaseDays(a, b notify.ReleaseCalendar) bool {
	return a.Ordinal == b.Ordinal && a.Weekday == b.Weekday && a.Hour == b.Hour && a.Minute == b.Minute &&
		a.Location.String() == b.Location.String()
}

// followCalendar moves, in tx, what waits for a monthly release day of the old calendar to the
// new calendar's release day of the same month: the advisories scheduled for it and its
// release row (an advance notification sent for it is revised with the new time, once). A
// release time that is no monthly release day of the old calendar (an out-of-band release,
// an import's own date), or that has an out-of-band release stored, stays; so does a monthly
// release whose new time in its month has passed already (it is published at the time it
// was scheduled for, never earlier, and reported as kept). See docs/csaf.md.
func (s *Server) followCalendar(ctx context.Context, tx *store.Tx, orgID int64, old, nc notify.ReleaseCalendar, now time.Time) (calendarChange, error) {
	ch := calendarChange{}
	if sameReleaseDays(old, nc) {
		return ch, nil
	}
	end := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	as, err := tx.ScheduledAdvisories(ctx, orgID, now, end)
	if err != nil {
		return ch, err
	}
	groups := map[int64][]store.ScheduledAdvisory{}
	var times []time.Time
	for _, a := range as {
		if !a.Release.After(now) {
			continue // due: the publisher's now
		}
		k := a.Release.UnixMicro()
		if _, ok := groups[k]; !ok {
			times = append(times, a.Release)
		}
		groups[k] = append(groups[k], a)
	}
	stored, err := tx.ListReleases(ctx, orgID, now, end)
	if err != nil {
		return ch, err
	}
	rels := map[int64]store.Release{}
	for _, r := range stored {
		if !r.At.After(now) {
			continue
		}
		rels[r.At.UnixMicro()] = r
		if _, ok := groups[r.At.UnixMicro()]; !ok && r.Kind == releaseKindMonthy {
			times = append(times, r.At) // a notified monthly release whose advisories left
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for _, at := range times {
		local := at.In(old.Location)
		y, m := local.Year(), local.Month()
		if !old.ReleaseDayIn(y, m).Equal(at) {
			continue // not a monthly release day: an explicit time stays
		}
		rel, hasRel := rels[at.UnixMicro()]
		if hasRel && rel.Kind == releaseKindOOB {
			continue // an out-of-band release that happens to fall on it stays
		}
		to := nc.ReleaseDayIn(y, m)
		if to.Equal(at) {
			continue
		}
		group := groups[at.UnixMicro()]
		if !to.After(now) {
			if len(group) > 0 {
				ch.Kept = append(ch.Kept, calendarKept{At: at.UTC(), Passed: to.UTC(), Advisories: trackingIDs(group), Count: len(group)})
			}
			continue
		}
		mv := calendarMove{From: at.UTC(), To: to.UTC(), Advisories: []string{}}
		for _, a := range group {
			ok, err := tx.MoveScheduledAdvisory(ctx, orgID, a.ID, at, to)
			if err != nil {
				return ch, err
			}
			if ok {
				if err := catalog.RedateScheduled(ctx, tx, orgID, a.ID, to); err != nil {
					return ch, err
				}
				mv.Count++
				if len(mv.Advisories) < maxMoveNames {
					mv.Advisories = append(mv.Advisories, a.TrackingID)
				}
			}
		}
		ch.Moved += mv.Count
		if hasRel {
			if mv.AdvanceNotice, err = s.moveRelease(ctx, tx, orgID, rel, to); err != nil {
				return ch, err
			}
		}
		if mv.Count > 0 || mv.AdvanceNotice != "" {
			ch.Moves = append(ch.Moves, mv)
		}
	}
	ch.Message = ch.describe()
	return ch, nil
}

// moveRelease moves a stored monthly release to its new time to, whose advisories moved
// there already, and tells subscribers when its advance notification went out: a revised
// notice with the new time (previous_release_at the old one), counted like any revision,
// so that the publisher sends nothing again for it. When a release is stored at to already
// (an out-of-band release created at that time before), the two merge: the old release's
// revised notice says it moved there (moved_to, no advisories left) and its row goes; the
// release at to is announced by the publisher as usual. It returns what became of the
// notice ("moved", "merged" or "" when none was sent).
func (s *Server) moveRelease(ctx context.Context, tx *store.Tx, orgID int64, rel store.Release, to time.Time) (string, error) {
	from := rel.At
	var prev *catalog.NoticeContent
	if rel.AdvanceSummary != "" {
		prev = &catalog.NoticeContent{}
		if err := json.Unmarshal([]byte(rel.AdvanceSummary), prev); err != nil {
			return "", fmt.Errorf("release %d: the notice sent before: %w", rel.ID, err)
		}
	}
	tell := func(sum catalog.AdvanceSummary, previousAt, movedTo *time.Time) error {
		b, err := json.Marshal(releaseMovedNotice{
			AdvanceNotice:     catalog.AdvanceNotice{AdvanceSummary: sum, Revision: rel.AdvanceRevision + 1, Previous: prev},
			PreviousReleaseAt: previousAt, MovedTo: movedTo,
		})
		if err != nil {
			return err
		}
		return tx.AddEvent(ctx, orgID, catalog.EventAdvance, sum.ReleaseAt.UTC().Format(time.RFC3339), string(b))
	}
	_, err := tx.ReleaseAt(ctx, orgID, to)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if rel.AdvanceNotifiedAt == nil {
			_, err := tx.MoveRelease(ctx, rel.ID, from, to, rel.AdvanceSummary, false)
			return "", err
		}
		g, err := tx.ScheduledAdvisories(ctx, orgID, to, to.Add(time.Microsecond))
		if err != nil {
			return "", err
		}
		sum := catalog.SummarizeRelease(to, rel.Kind, g)
		if ok, err := tx.MoveRelease(ctx, rel.ID, from, to, sum.Said(), true); err != nil || !ok {
			return "", err
		}
		f := from.UTC()
		return "moved", tell(sum, &f, nil)
	case err != nil:
		return "", err
	}
	if rel.AdvanceNotifiedAt != nil {
		t := to.UTC()
		if err := tell(catalog.SummarizeRelease(from, rel.Kind, nil), nil, &t); err != nil {
			return "", err
		}
	}
	if err := tx.DeleteRelease(ctx, rel.ID); err != nil || rel.AdvanceNotifiedAt == nil {
		return "", err
	}
	return "merged", nil
}

func trackingIDs(as []store.ScheduledAdvisory) []string {
	out := make([]string, 0, min(len(as), maxMoveNames))
	for _, a := range as[:min(len(as), maxMoveNames)] {
		out = append(out, a.TrackingID)
	}
	return out
}

// releaseTimeText is how the calendar change's message writes a time.
func releaseTimeText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

func advisoriesText(n int) string {
	if n == 1 {
		return "1 scheduled advisory"
	}
	return strconv.Itoa(n) + " scheduled advisories"
}

// describe says what the change did, in sentences ("" when it moved and kept nothing).
func (ch calendarChange) describe() string {
	var parts []string
	var to []string
	for _, m := range ch.Moves {
		if m.Count > 0 {
			to = append(to, releaseTimeText(m.To))
		}
	}
	switch {
	case len(to) == 1:
		parts = append(parts, fmt.Sprintf("Moved %s to the new release time %s.", advisoriesText(ch.Moved), to[0]))
	case len(to) > 1:
		var each []string
		for _, m := range ch.Moves {
			if m.Count > 0 {
				each = append(each, fmt.Sprintf("%s (%d)", releaseTimeText(m.To), m.Count))
			}
		}
		parts = append(parts, fmt.Sprintf("Moved %s to the new release times %s.", advisoriesText(ch.Moved), strings.Join(each, ", ")))
	}
	for _, m := range ch.Moves {
		switch m.AdvanceNotice {
		case "moved":
			parts = append(parts, fmt.Sprintf("Sent a revised advance notification: the release of %s is now at %s.",
				releaseTimeText(m.From), releaseTimeText(m.To)))
		case "merged":
			parts = append(parts, fmt.Sprintf("Sent a revised advance notification: the release of %s moved into the release at %s, which is announced on its own.",
				releaseTimeText(m.From), releaseTimeText(m.To)))
		}
	}
	for _, k := range ch.Kept {
		parts = append(parts, fmt.Sprintf("Kept %s at %s as scheduled: the new release time of that month, %s, has passed already (\"advisory schedule ID --release next\" moves one to the next release day).",
			advisoriesText(k.Count), releaseTimeText(k.At), releaseTimeText(k.Passed)))
	}
	return strings.Join(parts, " ")
}

// releaseKind is the kind of a release at t that has no stored release: monthly on a
// monthly release day, else out of band.
func releaseKind(nc notify.ReleaseCalendar, t time.Time) string {
	if nc.IsReleaseDay(t) {
		return releaseKindMonthy
	}
	return releaseKindOOB
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
	var rel store.Release
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		// The calendar as it is when this commits (a change of it locks the organisation).
		nc, err := s.lockedCalendar(ctx, tx, c.org.ID)
		if err != nil {
			return err
		}
		if nc.IsReleaseDay(at) {
			return errInvalid("release_at", "is a monthly release day already")
		}
		var created bool
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

// deleteRelease cancels an out-of-band release that no advisory waits for any more (move
// them first). When its advance notification went out, subscribers get a revised notice
// that it holds nothing now.
func (s *Server) deleteRelease(c *call) error {
	at, err := time.Parse(time.RFC3339, c.r.PathValue("at"))
	if err != nil {
		return errInvalid("at", "must be the release's RFC 3339 time, such as 2026-11-20T18:00:00Z")
	}
	ctx, now := c.r.Context(), s.cfg.Now()
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		// As scheduling and the calendar do: what waits for the release is read under the lock.
		nc, err := s.lockedCalendar(ctx, tx, c.org.ID)
		if err != nil {
			return err
		}
		rel, err := tx.ReleaseAt(ctx, c.org.ID, at)
		if nc.IsReleaseDay(at) || err == nil && rel.Kind != releaseKindOOB {
			return errConflict("the release at %s is a monthly release day: change the release calendar instead", at.UTC().Format(time.RFC3339))
		}
		if err != nil {
			return storeErr(err, "release at "+at.UTC().Format(time.RFC3339))
		}
		g, err := tx.ScheduledAdvisories(ctx, c.org.ID, at, at.Add(time.Microsecond))
		if err != nil {
			return err
		}
		if len(g) > 0 {
			return errConflict("%d advisories wait for the release at %s (%s): move them first (patchday advisory schedule ID --release next|TIME|now)",
				len(g), at.UTC().Format(time.RFC3339), strings.Join(trackingIDs(g), ", "))
		}
		if rel.AdvanceNotifiedAt != nil && !at.Before(now) {
			// Announced: the revised notice says it holds nothing now (none when it said so).
			if _, err := catalog.NotifyRelease(ctx, tx, c.org.ID, catalog.SummarizeRelease(at, rel.Kind, nil), now); err != nil {
				return err
			}
		}
		if err := tx.DeleteRelease(ctx, rel.ID); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "release.delete", "release", at.UTC().Format(time.RFC3339), map[string]any{"title": rel.Title})
	})
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

type scheduleRequest struct {
	Release *string `json:"release"`
}

// lockedCalendar locks the organisation for the rest of the transaction and reads its
// release calendar: what depends on the release days (scheduling, releases, notices) sees
// them as they are when it commits, since a change of the calendar takes the same lock.
func (s *Server) lockedCalendar(ctx context.Context, tx *store.Tx, orgID int64) (notify.ReleaseCalendar, error) {
	if err := tx.LockOrg(ctx, orgID); err != nil {
		return notify.ReleaseCalendar{}, err
	}
	_, nc, err := s.readCalendar(ctx, tx.Reader, orgID)
	return nc, err
}

// scheduleAdvisory moves an unpublished advisory to a release day: "next" (the next monthly
// release day), a monthly release day, or an out-of-band release; or publishes it at once
// ("now": its own out-of-band release).
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
		return errInvalid("release", `is required: "next", "now" or the RFC 3339 time of a release day`)
	}
	ctx := c.r.Context()
	now := s.cfg.Now()
	var at time.Time
	publishNow := *req.Release == "now" // an out-of-band release of its own, at once
	if publishNow {
		at = now.UTC().Truncate(time.Second)
	} else if *req.Release != "next" {
		if at, err = time.Parse(time.RFC3339, *req.Release); err != nil {
			return errInvalid("release", `must be "next", "now" or an RFC 3339 time such as 2026-12-08T10:00:00Z`)
		}
		if !at.After(now) {
			return errInvalid("release", "must be in the future")
		}
	}
	a, err := s.store.Advisory(ctx, c.org.ID, id)
	if err != nil {
		return storeErr(err, "advisory "+itoa(id))
	}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		// The release days as they are when this commits: a change of the calendar locks
		// the organisation too, and moves what is scheduled for its release days.
		nc, err := s.lockedCalendar(ctx, tx, c.org.ID)
		if err != nil {
			return err
		}
		if *req.Release == "next" {
			at = nc.NextReleaseDay(now)
		} else if !publishNow && !nc.IsReleaseDay(at) {
			if _, err := tx.ReleaseAt(ctx, c.org.ID, at); errors.Is(err, store.ErrNotFound) {
				return errInvalid("release", "%s is not a release day: give a monthly release day (patchday release list; GET .../releases) or create an out-of-band release first (patchday release create)",
					at.UTC().Format(time.RFC3339))
			} else if err != nil {
				return err
			}
		}
		ok, err := tx.ScheduleAdvisory(ctx, c.org.ID, id, at)
		if err != nil {
			return err
		}
		if !ok {
			return errConflict("advisory %s has no unpublished revision to schedule", a.TrackingID)
		}
		if err := catalog.RedateScheduled(ctx, tx, c.org.ID, id, at); err != nil {
			var ve *csaf.ValidationError
			if errors.As(err, &ve) {
				return errInvalid("release", "%v", err)
			}
			return err
		}
		if publishNow {
			// In this transaction, with its event: the answer shows it published.
			if _, err := catalog.PublishAdvisory(ctx, tx, c.org.ID, id, at); err != nil {
				return err
			}
		}
		return c.audit(tx, c.org.ID, "advisory.schedule", "advisory", a.TrackingID,
			map[string]any{"release": at.UTC(), "previous": a.ScheduledRelease, "now": publishNow})
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
		sum := catalog.SummarizeRelease(at, releaseKind(nc, at), g)
		if rel, err := s.store.ReleaseAt(ctx, k.org, at); err == nil && rel.AdvanceNotifiedAt != nil && rel.AdvanceSummary == sum.Said() {
			continue // the common case, without a write transaction
		}
		err := s.store.Update(ctx, func(tx *store.Tx) error {
			// Again under the organisation's lock, which a change of the calendar takes: it
			// may have moved these advisories since they were read, and a notice must name
			// the time they are released at.
			nc, err := s.lockedCalendar(ctx, tx, k.org)
			if err != nil {
				return err
			}
			g, err := tx.ScheduledAdvisories(ctx, k.org, at, at.Add(time.Microsecond))
			if err != nil || len(g) == 0 || now.Before(nc.AdvanceNoticeTime(at)) {
				return err
			}
			_, err = catalog.NotifyRelease(ctx, tx, k.org, catalog.SummarizeRelease(at, releaseKind(nc, at), g), now)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("advance notification of %s: %w", at.UTC().Format(time.RFC3339), err))
		}
	}
	// A release announced with advisories of which none is left (all moved to other
	// releases): a revised notice tells subscribers it holds none now.
	notified, err := s.store.NotifiedReleases(ctx, now, now.Add(advanceHorizon))
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, rel := range notified {
		if _, ok := groups[key{rel.OrgID, rel.At.UnixMicro()}]; ok {
			continue
		}
		var said catalog.NoticeContent
		if json.Unmarshal([]byte(rel.AdvanceSummary), &said) != nil || said.Advisories == 0 {
			continue
		}
		err := s.store.Update(ctx, func(tx *store.Tx) error {
			if err := tx.LockOrg(ctx, rel.OrgID); err != nil {
				return err
			}
			// Read again under the lock: cancelled (release delete) or told again meanwhile,
			// it is left as it is now.
			if cur, err := tx.ReleaseAt(ctx, rel.OrgID, rel.At); errors.Is(err, store.ErrNotFound) ||
				err == nil && (cur.AdvanceSummary != rel.AdvanceSummary || cur.AdvanceRevision != rel.AdvanceRevision) {
				return nil
			} else if err != nil {
				return err
			}
			g, err := tx.ScheduledAdvisories(ctx, rel.OrgID, rel.At, rel.At.Add(time.Microsecond))
			if err != nil || len(g) > 0 {
				return err // scheduled again meanwhile: the loop above tells it next time
			}
			_, err = catalog.NotifyRelease(ctx, tx, rel.OrgID, catalog.SummarizeRelease(rel.At, rel.Kind, nil), now)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("advance notification of %s: %w", rel.At.UTC().Format(time.RFC3339), err))
		}
	}
	return errors.Join(errs...)
}
