package notify

// The release calendar: when an organisation's monthly release day falls, and when its
// advance notification is due. Only date arithmetic lives here; the server stores the
// settings and raises the events.

import (
	"errors"
	"fmt"
	"time"
)

// ReleaseCalendar is a monthly release day: the Ordinal-th Weekday of each month (Ordinal
// -1: the last one) at Hour:Minute wall-clock time in Location, and an advance notice
// NoticeDays business days (Monday to Friday) before.
type ReleaseCalendar struct {
	Ordinal      int
	Weekday      time.Weekday
	Hour, Minute int
	Location     *time.Location
	NoticeDays   int
}

// ReleaseCalendarLimits bound the settings.
const (
	ReleaseCalendarMaxNoticeDays = 20
)

// ParseReleaseCalendar checks settings as the API takes them (ordinal 1-4 or -1, weekday
// 0-6, time "HH:MM", an IANA zone name, notice days 0-20). The error names the bad field
// as "field: message".
func ParseReleaseCalendar(ordinal, weekday int, timeOfDay, zone string, noticeDays int) (ReleaseCalendar, error) {
	c := ReleaseCalendar{Ordinal: ordinal, Weekday: time.Weekday(weekday), NoticeDays: noticeDays}
	if ordinal != -1 && (ordinal < 1 || ordinal > 4) {
		return c, errors.New("ordinal: must be 1, 2, 3, 4 or -1 (the last)")
	}
	if weekday < 0 || weekday > 6 {
		return c, errors.New("weekday: must be 0 (Sunday) to 6 (Saturday)")
	}
	t, err := time.Parse("15:04", timeOfDay)
	if err != nil || len(timeOfDay) != 5 {
		return c, errors.New("time: must be a wall-clock time HH:MM such as 10:00")
	}
	c.Hour, c.Minute = t.Hour(), t.Minute()
	if zone == "" || len(zone) > 64 {
		return c, errors.New("zone: must be an IANA time zone name such as Europe/Berlin or UTC")
	}
	if c.Location, err = time.LoadLocation(zone); err != nil || zone == "Local" {
		return c, fmt.Errorf("zone: %q is not an IANA time zone name (such as Europe/Berlin or UTC)", zone)
	}
	if noticeDays < 0 || noticeDays > ReleaseCalendarMaxNoticeDays {
		return c, fmt.Errorf("advance_notice_days: must be from 0 to %d", ReleaseCalendarMaxNoticeDays)
	}
	return c, nil
}

// WallTime is the instant of a wall-clock time on a day in loc, DST-safe: a time that does
// not exist (skipped when clocks go forward) moves forward by the gap, as a clock that was
// not changed would show it (02:30 becomes 03:30); a time that exists twice (clocks go back)
// is the first of the two.
func WallTime(year int, month time.Month, day, hour, minute int, loc *time.Location) time.Time {
	t := time.Date(year, month, day, hour, minute, 0, 0, loc)
	if t.Hour() != hour || t.Minute() != minute {
		// In a gap: Go may have chosen either offset; take the later instant, which is the
		// wall time read with the offset before the change, the one in force a day earlier
		// (not at the day's midnight, which may itself be in the gap, as where clocks go
		// forward at midnight).
		_, before := time.Date(year, month, day, hour, minute, 0, 0, time.UTC).Add(-24 * time.Hour).In(loc).Zone()
		u := time.Date(year, month, day, hour, minute, 0, 0, time.FixedZone("", before))
		return u.In(loc)
	}
	// Ambiguous: the same wall time an hour (or the zone's step) earlier is the first.
	for _, step := range []time.Duration{time.Hour, 30 * time.Minute, 2 * time.Hour} {
		e := t.Add(-step)
		if e.Hour() == hour && e.Minute() == minute && e.Day() == day {
			return e
		}
	}
	return t
}

// ReleaseDayIn returns the release day of a month, at its wall-clock time.
func (c ReleaseCalendar) ReleaseDayIn(year int, month time.Month) time.Time {
	var day int
	if c.Ordinal > 0 {
		first := time.Date(year, month, 1, 12, 0, 0, 0, time.UTC).Weekday()
		day = 1 + (int(c.Weekday)-int(first)+7)%7 + 7*(c.Ordinal-1)
	} else {
		last := time.Date(year, month+1, 0, 12, 0, 0, 0, time.UTC)
		day = last.Day() - (int(last.Weekday())-int(c.Weekday)+7)%7
	}
	return WallTime(year, month, day, c.Hour, c.Minute, c.Location)
}

// NextReleaseDays returns the next n monthly release days strictly after from.
func (c ReleaseCalendar) NextReleaseDays(from time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	local := from.In(c.Location)
	y, m := local.Year(), local.Month()
	for len(out) < n {
		if t := c.ReleaseDayIn(y, m); t.After(from) {
			out = append(out, t)
		}
		m++
		if m > time.December {
			m, y = time.January, y+1
		}
	}
	return out
}

// NextReleaseDay is the first monthly release day strictly after from.
func (c ReleaseCalendar) NextReleaseDay(from time.Time) time.Time {
	return c.NextReleaseDays(from, 1)[0]
}

// IsReleaseDay tells whether t is one of the calendar's monthly release days.
func (c ReleaseCalendar) IsReleaseDay(t time.Time) bool {
	local := t.In(c.Location)
	return c.ReleaseDayIn(local.Year(), local.Month()).Equal(t)
}

// AdvanceNoticeTime is when the advance notification of a release at t is due: NoticeDays
// business days (Monday to Friday) before t's day, at t's wall-clock time in the calendar's
// zone (so a Tuesday 10:00 release with 3 days is announced the Thursday before at 10:00).
// With 0 days it is t itself.
func (c ReleaseCalendar) AdvanceNoticeTime(t time.Time) time.Time {
	local := t.In(c.Location)
	y, m, d := local.Date()
	day := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
	for left := c.NoticeDays; left > 0; {
		day = day.AddDate(0, 0, -1)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			left--
		}
	}
	if c.NoticeDays == 0 {
		return t
	}
	return WallTime(day.Year(), day.Month(), day.Day(), local.Hour(), local.Minute(), c.Location)
}
