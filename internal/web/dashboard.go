package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// report is the part of the compliance report the dashboard computes with.
type report struct {
	Computers    int            `json:"computers"`
	Compliant    int            `json:"compliant"`
	Percent      float64        `json:"percent_compliant"`
	Missing      int            `json:"missing_updates"`
	BySeverity   map[string]int `json:"missing_by_severity"`
	WithCritical int            `json:"computers_missing_critical"`
	NotSeen      []string       `json:"not_seen"`
	EndOfSupport map[string]int `json:"end_of_support"`
	NonCompliant []struct {
		Hostname string `json:"hostname"`
		Reasons  []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"reasons"`
	} `json:"non_compliant"`
	History []struct {
		Day       string `json:"day"`
		Computers int    `json:"computers"`
		Compliant int    `json:"compliant"`
	} `json:"history"`
}

// urgent is a missing update ranked by severity x machines x days past deadline.
type urgent struct {
	Name, Title, Severity string
	Machines              int
	DaysLate              int
	Deadline              *time.Time
	Score                 float64
}

type halted struct {
	Update, Group, Reason string
	At                    time.Time
}

type count struct {
	Label string
	N     int
}

type dashboardView struct {
	Report      report
	Chart       template.HTML
	States      []count
	Reasons     []count
	Urgent      []urgent
	Halted      []halted
	Exposure    obj
	ReleaseDay  time.Time
	ReleaseFrom string // "calendar" when the organisation's release calendar gave it
}

var severityWeight = map[string]float64{"critical": 8, "high": 4, "medium": 2, "low": 1}

func (c *Console) dashboard(q *req) error {
	var v dashboardView
	now := c.cfg.Now()
	err := parallel(
		func() error {
			return q.api.do(q.ctx(), http.MethodGet, orgPath(q.org, "reports", "compliance"), url.Values{"days": {"90"}}, nil, &v.Report)
		},
		func() (err error) { v.Urgent, err = c.urgentUpdates(q, now); return err },
		func() (err error) { v.Halted, err = c.haltedRollouts(q); return err },
		func() (err error) {
			v.Exposure, err = q.api.get(q.ctx(), orgPath(q.org, "reports", "exposure"), url.Values{"days": {"30"}, "limit": {"10"}})
			return err
		},
		func() error { v.ReleaseDay, v.ReleaseFrom = c.nextRelease(q, now); return nil },
	)
	if err != nil {
		return err
	}
	v.Chart = complianceChart(v.Report, now)
	nc := len(v.Report.NonCompliant)
	v.States = []count{{"compliant", v.Report.Compliant}, {"not compliant", nc}, {"silent (not seen)", len(v.Report.NotSeen)},
		{"missing a critical update", v.Report.WithCritical}}
	reasons := map[string]int{}
	for _, n := range v.Report.NonCompliant {
		for _, r := range n.Reasons {
			reasons[r.Code]++
		}
	}
	for k, n := range reasons {
		v.Reasons = append(v.Reasons, count{strings.ReplaceAll(k, "_", " "), n})
	}
	sort.Slice(v.Reasons, func(i, j int) bool {
		return v.Reasons[i].N > v.Reasons[j].N || v.Reasons[i].N == v.Reasons[j].N && v.Reasons[i].Label < v.Reasons[j].Label
	})
	c.render(q.w, q, http.StatusOK, "dashboard", view{Title: "Dashboard", Nav: "dashboard", Data: v})
	return nil
}

// urgentUpdates ranks the updates still missing (reports/missing: one pass over the
// outstanding states) by the severity's weight times the machines missing them times the
// days past the earliest deadline of their assignments and approvals (at least 1).
func (c *Console) urgentUpdates(q *req, now time.Time) ([]urgent, error) {
	var l struct {
		Items []struct {
			Update   string     `json:"update"`
			Title    string     `json:"title"`
			Severity string     `json:"severity"`
			Machines int        `json:"machines"`
			Deadline *time.Time `json:"deadline"`
		} `json:"items"`
	}
	if err := q.api.do(q.ctx(), http.MethodGet, orgPath(q.org, "reports", "missing"), url.Values{"min_severity": {"low"}}, nil, &l); err != nil {
		return nil, err
	}
	var out []urgent
	for _, m := range l.Items {
		if m.Machines == 0 {
			continue
		}
		it := urgent{Name: m.Update, Title: m.Title, Severity: m.Severity, Machines: m.Machines, Deadline: m.Deadline}
		if it.Deadline != nil && now.After(*it.Deadline) {
			it.DaysLate = int(now.Sub(*it.Deadline).Hours() / 24)
		}
		it.Score = severityWeight[it.Severity] * float64(it.Machines) * float64(max(1, it.DaysLate))
		out = append(out, it)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if len(out) > 10 {
		out = out[:10]
	}
	return out, nil
}

// haltedRollouts lists rollouts halted now: the groups of recently halted updates whose
// rollout status still says halted.
func (c *Console) haltedRollouts(q *req) ([]halted, error) {
	var ev struct {
		Items []struct {
			Kind    string `json:"kind"`
			Subject string `json:"subject"`
		} `json:"items"`
	}
	if err := q.api.do(q.ctx(), http.MethodGet, orgPath(q.org, "events"), nil, nil, &ev); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []halted
	for _, e := range ev.Items {
		if e.Kind != "rollout.halted" || seen[e.Subject] || len(seen) >= 10 {
			continue
		}
		seen[e.Subject] = true
		var ro struct {
			Groups []struct {
				Group      string     `json:"group"`
				HaltedAt   *time.Time `json:"halted_at"`
				HaltReason string     `json:"halt_reason"`
			} `json:"groups"`
		}
		if err := q.api.do(q.ctx(), http.MethodGet, orgPath(q.org, "updates", e.Subject, "rollout"), nil, nil, &ro); err != nil {
			continue // the update is gone
		}
		for _, g := range ro.Groups {
			if g.HaltedAt != nil {
				out = append(out, halted{Update: e.Subject, Group: g.Group, Reason: g.HaltReason, At: *g.HaltedAt})
			}
		}
	}
	return out, nil
}

// nextRelease is the next monthly release day: from the organisation's release calendar
// when the server has one (GET .../releases), else the second Tuesday of the month.
func (c *Console) nextRelease(q *req, now time.Time) (time.Time, string) {
	var cal struct {
		Items []struct {
			Date string    `json:"date"`
			At   time.Time `json:"release_at"`
		} `json:"items"`
	}
	if q.api.do(q.ctx(), http.MethodGet, orgPath(q.org, "releases"), url.Values{"count": {"3"}}, nil, &cal) == nil {
		for _, it := range cal.Items {
			t := it.At
			if t.IsZero() {
				t, _ = time.Parse(time.DateOnly, it.Date)
			}
			if !t.IsZero() && !t.Before(now.Truncate(24*time.Hour)) {
				return t, "calendar"
			}
		}
	}
	return SecondTuesday(now), ""
}

// SecondTuesday is the first second Tuesday of a month on or after t's day (UTC).
func SecondTuesday(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for m := 0; m < 2; m++ {
		first := time.Date(t.Year(), t.Month()+time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		d := first.AddDate(0, 0, (int(time.Tuesday)-int(first.Weekday())+7)%7+7)
		if !d.Before(day) {
			return d
		}
	}
	panic("unreachable")
}

// complianceChart draws the percentage of compliant computers per day, and now, as an
// inline SVG line chart with a text alternative.
func complianceChart(r report, now time.Time) template.HTML {
	type pt struct {
		day string
		pct float64
	}
	var pts []pt
	today := now.UTC().Format(time.DateOnly)
	for _, h := range r.History {
		if h.Day == today || h.Computers == 0 {
			continue
		}
		pts = append(pts, pt{h.Day, 100 * float64(h.Compliant) / float64(h.Computers)})
	}
	if r.Computers > 0 {
		pts = append(pts, pt{today, r.Percent})
	}
	const w, h, left, right, top, bottom = 640.0, 220.0, 44.0, 12.0, 12.0, 28.0
	var b strings.Builder
	desc := "No computers yet."
	if len(pts) > 0 {
		desc = fmt.Sprintf("Compliant computers from %s (%.0f%%) to %s (%.0f%%).", pts[0].day, pts[0].pct, pts[len(pts)-1].day, pts[len(pts)-1].pct)
	}
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet">`, w, h)
	fmt.Fprintf(&b, `<title id="chart-title">Compliance over time</title><desc id="chart-desc">%s</desc>`, template.HTMLEscapeString(desc))
	x := func(i int) float64 {
		if len(pts) < 2 {
			return left + (w-left-right)/2
		}
		return left + float64(i)*(w-left-right)/float64(len(pts)-1)
	}
	y := func(p float64) float64 { return top + (100-p)/100*(h-top-bottom) }
	for _, g := range []float64{0, 25, 50, 75, 100} {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#c8ccd2" stroke-width="1"/>`, left, w-right, y(g), y(g))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="12" fill="#3b4250">%.0f%%</text>`, left-6, y(g)+4, g)
	}
	if len(pts) > 0 {
		var path strings.Builder
		for i, p := range pts {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, x(i), y(p.pct))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#0b5cad" stroke-width="2.5"/>`, strings.TrimSpace(path.String()))
		for i, p := range pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="#0b5cad"><title>%s: %.1f%%</title></circle>`, x(i), y(p.pct), p.day, p.pct)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" fill="#3b4250">%s</text>`, left, h-8, pts[0].day)
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="12" fill="#3b4250">%s</text>`, w-right, h-8, pts[len(pts)-1].day)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
