package rollout

import (
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct{ spec, tz, want, err string }{
		{"mon-fri 22:00-04:00", "", "mon,tue,wed,thu,fri 22:00-04:00", ""},
		{"sat,sun 00:00-24:00; wed 12:00-13:30", "Europe/Zurich", "sat,sun 00:00-24:00; wed 12:00-13:30", ""},
		{"fri-mon 23:00-01:00", "", "mon,fri,sat,sun 23:00-01:00", ""},
		{"", "", "", ""},
		{"someday 10:00-11:00", "", "", "days must be"},
		{"mon 25:00-26:00", "", "", "times must be"},
		{"mon 10:00", "", "", "times must be"},
		{"mon", "", "", "must be DAYS"},
		{"mon 10:00-11:00", "Mars/Olympus", "", "IANA time zone"},
	} {
		s, err := ParseSchedule(tc.spec, tc.tz)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || s.Spec != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.spec, s.Spec, err, tc.want)
		}
	}
}

func TestScheduleWindows(t *testing.T) {
	s, err := ParseSchedule("mon-fri 22:00-04:00; sat 00:00-24:00", "Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	// Friday 2026-03-27 12:00 UTC; daylight saving time starts on Sunday 2026-03-29.
	from := time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC)
	ws := s.Windows(from, from.Add(4*24*time.Hour))
	var got []string
	for _, w := range ws {
		got = append(got, w.Start.Format("Mon 15:04")+"-"+w.End.Format("Mon 15:04"))
	}
	// Friday 22:00 CET (21:00 UTC) runs through Saturday into Sunday 00:00 CET (23:00 UTC
	// Saturday); Monday 22:00 CEST is 20:00 UTC.
	want := "Fri 21:00-Sat 23:00 Mon 20:00-Tue 02:00"
	if strings.Join(got, " ") != want {
		t.Errorf("windows %q, want %q", strings.Join(got, " "), want)
	}
	if empty, _ := ParseSchedule("", ""); !empty.Empty() || empty.Windows(from, from.Add(time.Hour)) != nil {
		t.Error("an empty schedule has windows")
	}
}

func TestCronWindows(t *testing.T) {
	s, err := ParseSchedule("cron 0 2 * * sun 3h", "Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec != "cron 0 2 * * sun 3h0m0s" {
		t.Errorf("spec %q", s.Spec)
	}
	// From 2026-11-01 (a Sunday) 02:30 Zurich: that window is open, then the next Sundays.
	from := time.Date(2026, 11, 1, 1, 30, 0, 0, time.UTC)
	ws := s.Windows(from, from.Add(15*24*time.Hour))
	var got []string
	for _, w := range ws {
		got = append(got, w.Start.Format(time.RFC3339)+"/"+w.End.Format("15:04"))
	}
	want := "2026-11-01T01:00:00Z/04:00 2026-11-08T01:00:00Z/04:00 2026-11-15T01:00:00Z/04:00"
	if strings.Join(got, " ") != want {
		t.Errorf("cron windows %q, want %q", strings.Join(got, " "), want)
	}
	for _, bad := range []string{"cron 0 2 * * sun", "cron 61 2 * * sun 3h", "cron 0 2 * * sun forever"} {
		if _, err := ParseSchedule(bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWindowEdgeCases(t *testing.T) {
	if _, err := ParseSchedule("cron 0 2 30 2 * 3h", ""); err == nil {
		t.Error("a cron window on the 30th of February was accepted")
	}
	// A monthly window: none in the coming week, but Next finds it.
	s, err := ParseSchedule("cron 0 2 1 * * 3h", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	if ws := s.Windows(from, from.Add(7*24*time.Hour)); len(ws) != 0 {
		t.Fatalf("windows in the week: %v", ws)
	}
	if w, ok := s.Next(from); !ok || !w.Start.Equal(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("next window %v %v", w, ok)
	}
	// The wall clock holds across the changes of daylight saving time.
	z, _ := ParseSchedule("sun 22:00-23:00", "Europe/Zurich")
	loc, _ := time.LoadLocation("Europe/Zurich")
	for _, day := range []time.Time{time.Date(2026, 3, 29, 0, 0, 0, 0, loc), time.Date(2026, 10, 25, 0, 0, 0, 0, loc)} {
		ws := z.Windows(day, day.Add(24*time.Hour))
		if len(ws) != 1 || ws[0].Start.In(loc).Hour() != 22 || ws[0].End.In(loc).Hour() != 23 {
			t.Errorf("%s: %v", day.Format(time.DateOnly), ws)
		}
	}
}
