package rollout

import (
	"fmt"
	"github.com/robfig/cron/v3"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Schedule is a group's maintenance windows in its time zone, written like
// "mon-fri 22:00-04:00; sat,sun 00:00-24:00": days (a range or a list), then a start and an
// end time (an end at or before the start runs into the next day); or as a cron expression
// for the starts and a duration: "cron 0 2 * * sun 3h" (Sundays, 02:00 to 05:00). As in
// cron, a day of the month and a day of the week both given match either.
type Schedule struct {
	Spec  string
	loc   *time.Location
	slots []slot
}

type slot struct {
	days       [7]bool // by time.Weekday
	start, dur time.Duration
	cron       cron.Schedule // instead of days and start, when set
	cronSpec   string
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseSchedule reads a weekly schedule in the IANA time zone tz ("" is UTC). An empty spec
// is no schedule: any time.
func ParseSchedule(spec, tz string) (Schedule, error) {
	if len(spec) > 512 {
		return Schedule{}, fmt.Errorf("is longer than 512 characters")
	}
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return Schedule{}, fmt.Errorf("time zone %q: not an IANA time zone such as Europe/Zurich", tz)
	}
	s := Schedule{loc: loc}
	for _, part := range strings.Split(spec, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Fields(part)
		if len(f) > 0 && f[0] == "cron" {
			sl, err := parseCron(f[1:])
			if err != nil {
				return Schedule{}, fmt.Errorf("window %q: %v", part, err)
			}
			s.slots = append(s.slots, sl)
			continue
		}
		if len(f) != 2 {
			return Schedule{}, fmt.Errorf("window %q must be DAYS HH:MM-HH:MM, such as mon-fri 22:00-04:00", part)
		}
		var sl slot
		for _, d := range strings.Split(strings.ToLower(f[0]), ",") {
			from, to, isRange := strings.Cut(d, "-")
			a, ok1 := dayNames[from]
			b, ok2 := dayNames[to]
			if !ok1 || isRange && !ok2 {
				return Schedule{}, fmt.Errorf("window %q: days must be mon, tue, ... sun, a range (mon-fri) or a list (sat,sun)", part)
			}
			if !isRange {
				b = a
			}
			for w := a; ; w = (w + 1) % 7 {
				sl.days[w] = true
				if w == b {
					break
				}
			}
		}
		from, to, ok := strings.Cut(f[1], "-")
		start, err1 := clock(from)
		end, err2 := clock(to)
		if !ok || err1 != nil || err2 != nil || start == 24*time.Hour {
			return Schedule{}, fmt.Errorf("window %q: times must be HH:MM-HH:MM (00:00 to 24:00)", part)
		}
		sl.start, sl.dur = start, end-start
		if sl.dur <= 0 {
			sl.dur += 24 * time.Hour
		}
		s.slots = append(s.slots, sl)
	}
	s.Spec = s.String()
	return s, nil
}

func clock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh == 24 && mm != 0 || len(m) != 2 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// String writes the schedule in its canonical form.
func (s Schedule) String() string {
	var parts []string
	names := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	for _, sl := range s.slots {
		if sl.cron != nil {
			parts = append(parts, "cron "+sl.cronSpec+" "+sl.dur.String())
			continue
		}
		var days []string
		for _, w := range []time.Weekday{1, 2, 3, 4, 5, 6, 0} {
			if sl.days[w] {
				days = append(days, names[w])
			}
		}
		end := (sl.start + sl.dur) % (24 * time.Hour)
		if end == 0 && sl.start == 0 {
			end = 24 * time.Hour
		}
		parts = append(parts, fmt.Sprintf("%s %02d:%02d-%02d:%02d", strings.Join(days, ","),
			int(sl.start.Hours()), int(sl.start.Minutes())%60, int(end.Hours()), int(end.Minutes())%60))
	}
	return strings.Join(parts, "; ")
}

// Empty says the schedule has no windows: any time is fine.
func (s Schedule) Empty() bool { return len(s.slots) == 0 }

// Window is an interval [Start, End).
type Window struct{ Start, End time.Time }

// Windows lists the windows that overlap [from, to), merged where they touch, in UTC. Days
// are counted in the schedule's time zone, so a window at 22:00 stays at 22:00 across a
// change of daylight saving time.
func (s Schedule) Windows(from, to time.Time) []Window {
	var out []Window
	if s.loc == nil {
		return nil
	}
	local := from.In(s.loc)
	day := time.Date(local.Year(), local.Month(), local.Day()-1, 0, 0, 0, 0, s.loc)
	for _, sl := range s.slots {
		if sl.cron == nil {
			continue
		}
		// Starts from one duration before from, so a window open at from counts. Next
		// gives the zero time when no start is left; the count bounds a minutely schedule.
		t := sl.cron.Next(from.Add(-sl.dur).In(s.loc).Add(-time.Second))
		for n := 0; !t.IsZero() && t.Before(to) && n < maxCronStarts; n++ {
			w := Window{t.UTC(), t.Add(sl.dur).UTC()}
			if w.End.After(from) {
				out = append(out, w)
			}
			t = sl.cron.Next(t)
		}
	}
	for ; day.Before(to); day = day.AddDate(0, 0, 1) {
		for _, sl := range s.slots {
			if sl.cron != nil || !sl.days[day.Weekday()] {
				continue
			}
			// The wall-clock time on that day: 22:00 stays 22:00 when the clocks change.
			start := time.Date(day.Year(), day.Month(), day.Day(), int(sl.start/time.Hour), int(sl.start%time.Hour/time.Minute), 0, 0, s.loc)
			w := Window{start.UTC(), start.Add(sl.dur).UTC()}
			if w.End.After(from) && w.Start.Before(to) {
				out = append(out, w)
			}
		}
	}
	return Merge(out)
}

// Merge sorts windows and joins those that overlap or touch.
func Merge(ws []Window) []Window {
	ws = slices.Clone(ws)
	slices.SortFunc(ws, func(a, b Window) int { return a.Start.Compare(b.Start) })
	var merged []Window
	for _, w := range ws {
		if n := len(merged); n > 0 && !w.Start.After(merged[n-1].End) {
			if w.End.After(merged[n-1].End) {
				merged[n-1].End = w.End
			}
			continue
		}
		merged = append(merged, w)
	}
	return merged
}

// parseCron reads "MIN HOUR DOM MON DOW DURATION".
func parseCron(f []string) (slot, error) {
	if len(f) != 6 {
		return slot{}, fmt.Errorf("a cron window is cron MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK DURATION, such as cron 0 2 * * sun 3h")
	}
	spec := strings.Join(f[:5], " ")
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return slot{}, fmt.Errorf("cron expression %q: %v", spec, err)
	}
	dur, err := time.ParseDuration(f[5])
	if err != nil || dur <= 0 || dur > 7*24*time.Hour {
		return slot{}, fmt.Errorf("duration %q must be like 3h or 90m, at most a week", f[5])
	}
	// A schedule that never fires (the 30th of February) is a mistake, not "never": refuse it.
	if next := sched.Next(time.Now()); next.IsZero() || next.After(time.Now().AddDate(1, 0, 0)) {
		return slot{}, fmt.Errorf("cron expression %q has no start within a year", spec)
	}
	return slot{cron: sched, cronSpec: spec, dur: dur}, nil
}

// maxCronStarts bounds the windows one cron slot yields for one span.
const maxCronStarts = 10000

// Next returns the first window that ends after from, looking up to a year ahead; ok is
// false for an empty schedule.
func (s Schedule) Next(from time.Time) (Window, bool) {
	for span := 7 * 24 * time.Hour; span <= 400*24*time.Hour; span *= 4 {
		if ws := s.Windows(from, from.Add(span)); len(ws) > 0 {
			return ws[0], true
		}
	}
	return Window{}, false
}
