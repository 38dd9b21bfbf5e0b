package notify

import (
	"strings"
	"testing"
	"time"
)

func mustCalendar(t *testing.T, ordinal, weekday int, tod, zone string, notice int) ReleaseCalendar {
	t.Helper()
	c, err := ParseReleaseCalendar(ordinal, weekday, tod, zone, notice)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReleaseCalendarDefaultSecondTuesday(t *testing.T) {
	c := mustCalendar(t, 2, 2, "10:00", "UTC", 3)
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var got []string
	for _, d := range c.NextReleaseDays(from, 4) {
		got = append(got, d.Format(time.RFC3339))
	}
	want := "2026-11-10T10:00:00Z 2026-12-08T10:00:00Z 2027-01-12T10:00:00Z 2027-02-09T10:00:00Z"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	// Strictly after: at the release instant the next one is a month later.
	if n := c.NextReleaseDay(time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)); !n.Equal(time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("next after a release day: %v", n)
	}
	if !c.IsReleaseDay(time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)) || c.IsReleaseDay(time.Date(2026, 11, 10, 11, 0, 0, 0, time.UTC)) {
		t.Fatal("IsReleaseDay")
	}
}

func TestReleaseCalendarLastFridayAndZones(t *testing.T) {
	c := mustCalendar(t, -1, 5, "09:30", "America/New_York", 3)
	d := c.ReleaseDayIn(2026, time.July)
	if d.Format(time.RFC3339) != "2026-07-31T09:30:00-04:00" {
		t.Fatalf("last Friday of July 2026: %v", d)
	}
	d = c.ReleaseDayIn(2026, time.February)
	if d.Format(time.RFC3339) != "2026-02-27T09:30:00-05:00" {
		t.Fatalf("last Friday of February 2026: %v", d)
	}
}

// Release days keep their wall-clock time across DST changes; times in a gap move forward,
// times that occur twice take the first.
func TestReleaseCalendarDST(t *testing.T) {
	c := mustCalendar(t, 2, 2, "10:00", "Europe/Berlin", 3)
	days := c.NextReleaseDays(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 3) // Feb, Mar (CET), Apr (CEST)
	for _, d := range days {
		if l := d.In(c.Location); l.Hour() != 10 || l.Minute() != 0 {
			t.Errorf("%v is not 10:00 in Berlin", d)
		}
	}
	if days[0].UTC().Hour() != 9 || days[2].UTC().Hour() != 8 {
		t.Errorf("UTC hours %d and %d, want 9 (CET) and 8 (CEST)", days[0].UTC().Hour(), days[2].UTC().Hour())
	}
	berlin := c.Location
	gap := WallTime(2026, time.March, 29, 2, 30, berlin) // clocks jump 02:00 -> 03:00
	if gap.Format(time.RFC3339) != "2026-03-29T03:30:00+02:00" {
		t.Errorf("02:30 in the spring gap: %v", gap)
	}
	twice := WallTime(2026, time.October, 25, 2, 30, berlin) // 03:00 -> 02:00
	if twice.Format(time.RFC3339) != "2026-10-25T02:30:00+02:00" {
		t.Errorf("02:30 on the autumn change: %v, want the first (CEST)", twice)
	}
}

func TestAdvanceNoticeBusinessDays(t *testing.T) {
	c := mustCalendar(t, 2, 2, "10:00", "Europe/Berlin", 3)
	rel := c.ReleaseDayIn(2026, time.November) // Tuesday 10 November 2026
	n := c.AdvanceNoticeTime(rel)
	if n.Format(time.RFC3339) != "2026-11-05T10:00:00+01:00" { // Thursday before: Mon, Fri, Thu
		t.Fatalf("notice %v", n)
	}
	// Across a DST change, the wall time stays.
	rel = WallTime(2026, time.October, 27, 10, 0, c.Location) // Tuesday after the change
	if n := c.AdvanceNoticeTime(rel); n.Format(time.RFC3339) != "2026-10-22T10:00:00+02:00" {
		t.Fatalf("notice across DST %v", n)
	}
	c.NoticeDays = 0
	if !c.AdvanceNoticeTime(rel).Equal(rel) {
		t.Fatal("0 days")
	}
}

func TestParseReleaseCalendarNamesFields(t *testing.T) {
	for _, tc := range []struct {
		ord, wd int
		tod     string
		zone    string
		notice  int
		field   string
	}{
		{0, 2, "10:00", "UTC", 3, "ordinal"},
		{5, 2, "10:00", "UTC", 3, "ordinal"},
		{2, 7, "10:00", "UTC", 3, "weekday"},
		{2, 2, "25:00", "UTC", 3, "time"},
		{2, 2, "10", "UTC", 3, "time"},
		{2, 2, "10:00", "Mars/Olympus", 3, "zone"},
		{2, 2, "10:00", "Local", 3, "zone"},
		{2, 2, "10:00", "UTC", 21, "advance_notice_days"},
	} {
		_, err := ParseReleaseCalendar(tc.ord, tc.wd, tc.tod, tc.zone, tc.notice)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%+v: %v, want an error about %s", tc, err, tc.field)
		}
	}
}

// Where clocks skip midnight (00:00 -> 01:00), a wall time in the gap moves forward by it,
// and the day's digest is due at the next day's first instant: not an hour early, on the
// day before, as when the gap's offset was read at the day's own (missing) midnight.
func TestMidnightGap(t *testing.T) {
	for _, tc := range []struct {
		zone       string
		y          int
		m          time.Month
		d          int
		at0030, at string // WallTime of 00:30, and the digest due for the day before
	}{
		{"Asia/Beirut", 2025, time.March, 30, "2025-03-30T01:30:00+03:00", "2025-03-30T01:00:00+03:00"},
		{"America/Santiago", 2025, time.September, 7, "2025-09-07T01:30:00-03:00", "2025-09-07T01:00:00-03:00"},
		{"America/Havana", 2025, time.March, 9, "2025-03-09T01:30:00-04:00", "2025-03-09T01:00:00-04:00"},
	} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		if got := WallTime(tc.y, tc.m, tc.d, 0, 30, loc).Format(time.RFC3339); got != tc.at0030 {
			t.Errorf("%s: 00:30 on %d-%02d-%02d is %s, want %s", tc.zone, tc.y, tc.m, tc.d, got, tc.at0030)
		}
		n := &Notifier{cfg: Config{DigestLocation: loc}}
		evening := time.Date(tc.y, tc.m, tc.d-1, 23, 30, 0, 0, loc)
		due := n.digestDue(evening)
		if got := due.Format(time.RFC3339); got != tc.at || !due.After(evening) {
			t.Errorf("%s: the digest of %s is due %s, want %s", tc.zone, evening.Format(time.RFC3339), got, tc.at)
		}
		if day := due.In(loc).Add(-time.Hour).Format(time.DateOnly); day != evening.Format(time.DateOnly) {
			t.Errorf("%s: the digest due %s is labelled %s", tc.zone, due, day)
		}
	}
}

// The lease a worker holds a delivery for outlasts the longest send: by default twice over
// (more than 5 minutes when the SMTP timeout is long), and a lease set shorter is refused.
func TestLeaseOutlastsSend(t *testing.T) {
	base := Config{TokenKey: make([]byte, 32), BaseURL: "https://patchday.example.org"}
	for _, tc := range []struct {
		smtp, lease, want time.Duration
		err               string
	}{
		{0, 0, 6 * time.Minute, ""},                // 6 x 30 s, twice
		{2 * time.Minute, 0, 24 * time.Minute, ""}, // 6 x 2 min, twice
		{30 * time.Second, time.Minute, 0, "Lease 1m0s must be longer"},
	} {
		c := base
		c.SMTP.Timeout, c.Lease = tc.smtp, tc.lease
		n, err := New(nil, c, nil)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("smtp %v lease %v: %v, want %q", tc.smtp, tc.lease, err, tc.err)
			}
		case err != nil:
			t.Errorf("smtp %v: %v", tc.smtp, err)
		case n.cfg.Lease != tc.want:
			t.Errorf("smtp %v: lease %v, want %v", tc.smtp, n.cfg.Lease, tc.want)
		}
	}
}
