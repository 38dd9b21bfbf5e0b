package compliance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/knqyf263/go-cpe/naming"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// Status of a computer towards an advisory: the worst state of the advisory's updates there.
const (
	StatusPatched       = "patched"
	StatusPending       = "pending"
	StatusFailed        = "failed"
	StatusPendingReboot = "pending_reboot"
)

// statusOf ranks the states of one computer's updates for one advisory.
func statusOf(states []string) string {
	rank := map[string]int{StatusPatched: 0, StatusPendingReboot: 1, StatusPending: 2, StatusFailed: 3}
	worst := StatusPatched
	for _, s := range states {
		st := StatusPending
		switch s {
		case store.StateInstalled:
			st = StatusPatched
		case store.StatePendingReboot:
			st = StatusPendingReboot
		case store.StateFailed:
			st = StatusFailed
		}
		if rank[st] > rank[worst] {
			worst = st
		}
	}
	return worst
}

// ExposedComputer is one computer an advisory concerns.
type ExposedComputer struct {
	ComputerID int64      `json:"computer_id"`
	Hostname   string     `json:"hostname"`
	Status     string     `json:"status"`
	Updates    []string   `json:"updates"`
	Since      *time.Time `json:"needed_since,omitempty"`
	DaysOpen   int        `json:"days_exposed"`
	Error      string     `json:"error,omitempty"`
}

// AdvisoryReport says which machines an advisory concerns and where each stands.
type AdvisoryReport struct {
	AdvisoryID    int64             `json:"advisory_id"`
	TrackingID    string            `json:"tracking_id"`
	Title         string            `json:"title"`
	Severity      string            `json:"severity"`
	CVEs          []string          `json:"cves"`
	Updates       []string          `json:"updates"`
	Affected      int               `json:"affected"`
	Patched       int               `json:"patched"`
	Pending       int               `json:"pending"`
	PendingReboot int               `json:"pending_reboot"`
	Failed        int               `json:"failed"`
	Computers     []ExposedComputer `json:"computers"`
	// NextCursor, when set, continues the list of computers (the counts are of all).
	NextCursor string `json:"next_cursor,omitempty"`
}

// AllComputers asks ForAdvisory for every computer at once.
var AllComputers = store.Page{Limit: 1 << 30}

// ForAdvisory builds the report of one advisory, its computers a page at a time (counts are
// always of all of them, counted in the database).
func ForAdvisory(ctx context.Context, st *store.Store, orgID int64, a store.Advisory, page store.Page, now time.Time) (AdvisoryReport, error) {
	rep := AdvisoryReport{AdvisoryID: a.ID, TrackingID: a.TrackingID, Title: a.Title, Severity: a.Severity, CVEs: a.CVEs,
		Updates: []string{}, Computers: []ExposedComputer{}}
	ups, err := st.ListUpdates(ctx, orgID, store.UpdateFilter{AdvisoryID: a.ID, Page: store.Page{Limit: 10000}})
	if err != nil {
		return rep, err
	}
	for _, u := range ups {
		rep.Updates = append(rep.Updates, u.Name)
	}
	counts, err := st.AdvisoryStatusCounts(ctx, a.ID)
	if err != nil {
		return rep, err
	}
	rep.Affected, rep.Patched, rep.Pending, rep.PendingReboot, rep.Failed = counts.Affected, counts.Patched, counts.Pending,
		counts.PendingReboot, counts.Failed
	exps, err := st.AdvisoryExposures(ctx, a.ID, store.Page{After: page.After, Limit: page.Limit + 1})
	if err != nil {
		return rep, err
	}
	rep.Computers = group(exps, now)
	if len(rep.Computers) > page.Limit {
		rep.Computers = rep.Computers[:page.Limit]
		rep.NextCursor = fmt.Sprint(rep.Computers[page.Limit-1].ComputerID)
	}
	return rep, nil
}

// group folds exposures (ordered by computer) into one entry per computer.
func group(exps []store.Exposure, now time.Time) []ExposedComputer {
	out := []ExposedComputer{}
	var states []string
	flush := func() {
		if len(out) > 0 {
			out[len(out)-1].Status = statusOf(states)
		}
		states = states[:0]
	}
	for _, e := range exps {
		if len(out) == 0 || out[len(out)-1].ComputerID != e.ComputerID {
			flush()
			out = append(out, ExposedComputer{ComputerID: e.ComputerID, Hostname: e.Hostname, Updates: []string{}})
		}
		c := &out[len(out)-1]
		c.Updates = append(c.Updates, e.UpdateName)
		states = append(states, e.State)
		if e.Error != "" {
			c.Error = e.Error
		}
		if e.NeededSince != nil && e.State != store.StateInstalled && (c.Since == nil || e.NeededSince.Before(*c.Since)) {
			c.Since = e.NeededSince
			c.DaysOpen = int(now.Sub(*e.NeededSince).Hours() / 24)
		}
	}
	flush()
	return out
}

// CVEReport gathers the advisories that name a CVE and the machines they concern.
type CVEReport struct {
	CVE        string           `json:"cve"`
	Advisories []AdvisoryReport `json:"advisories"`
	Affected   int              `json:"affected"`
	Patched    int              `json:"patched"`
	Unpatched  int              `json:"unpatched"` // pending, pending reboot or failed
}

// ForCVE builds the report of one CVE.
//
// With publishedOnly (for callers who may not read embargoed advisories), advisories not yet
// published are left out, and so are those with a newer revision waiting for its release:
// the CVEs indexed are the newest revision's.
func ForCVE(ctx context.Context, st *store.Store, orgID int64, cve string, publishedOnly bool, now time.Time) (CVEReport, error) {
	rep := CVEReport{CVE: cve, Advisories: []AdvisoryReport{}}
	as, err := st.AdvisoriesByCVE(ctx, orgID, cve)
	if err != nil {
		return rep, err
	}
	worst := map[int64]string{}
	for _, a := range as {
		if publishedOnly && (a.PublishedAt == nil || a.ScheduledRelease != nil) {
			continue
		}
		ar, err := ForAdvisory(ctx, st, orgID, a, AllComputers, now)
		if err != nil {
			return rep, err
		}
		rep.Advisories = append(rep.Advisories, ar)
		for _, c := range ar.Computers {
			worst[c.ComputerID] = statusOf2(worst[c.ComputerID], c.Status)
		}
	}
	for _, s := range worst {
		rep.Affected++
		if s == StatusPatched {
			rep.Patched++
		} else {
			rep.Unpatched++
		}
	}
	return rep, nil
}

func statusOf2(a, b string) string {
	if a == "" {
		return b
	}
	rank := map[string]int{StatusPatched: 0, StatusPendingReboot: 1, StatusPending: 2, StatusFailed: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// MissingUpdate is an update a computer still needs.
type MissingUpdate struct {
	Update      string     `json:"update"`
	Severity    string     `json:"severity"`
	State       string     `json:"state"`
	Deadline    *time.Time `json:"deadline,omitempty"`
	NeededSince *time.Time `json:"needed_since,omitempty"`
	DaysExposed int        `json:"days_exposed"`
	Error       string     `json:"error,omitempty"`
}

// ComputerReport is what a computer still needs, and its health verdict.
type ComputerReport struct {
	ComputerID    int64           `json:"computer_id"`
	Hostname      string          `json:"hostname"`
	Missing       []MissingUpdate `json:"missing"`
	BySeverity    map[string]int  `json:"missing_by_severity"`
	PendingReboot []string        `json:"pending_reboot"`
	Installed     int             `json:"installed"`
	EndOfSupport  []string        `json:"end_of_support"` // products past support it runs
	Health        Verdict         `json:"health"`
}

// ForComputer builds the report of one computer.
func ForComputer(ctx context.Context, st *store.Store, c store.Computer, now time.Time) (ComputerReport, error) {
	rep := ComputerReport{ComputerID: c.ID, Hostname: c.Hostname, Missing: []MissingUpdate{}, BySeverity: map[string]int{},
		PendingReboot: []string{}, EndOfSupport: []string{}}
	exps, err := st.ComputerExposures(ctx, c.OrgID, c.ID)
	if err != nil {
		return rep, err
	}
	var outstanding []store.Exposure
	for _, e := range exps {
		switch e.State {
		case store.StateNeeded, store.StateApproved, store.StateFailed:
			outstanding = append(outstanding, e)
			m := MissingUpdate{Update: e.UpdateName, Severity: e.Severity, State: e.State, Deadline: e.Deadline, NeededSince: e.NeededSince, Error: e.Error}
			if e.NeededSince != nil {
				m.DaysExposed = int(now.Sub(*e.NeededSince).Hours() / 24)
			}
			rep.Missing = append(rep.Missing, m)
			rep.BySeverity[e.Severity]++
		case store.StatePendingReboot:
			rep.PendingReboot = append(rep.PendingReboot, e.UpdateName)
		case store.StateInstalled:
			rep.Installed++
		}
	}
	slices.SortStableFunc(rep.Missing, func(a, b MissingUpdate) int {
		if d := csaf.SeverityRank(b.Severity) - csaf.SeverityRank(a.Severity); d != 0 {
			return d
		}
		return b.DaysExposed - a.DaysExposed
	})
	policy, err := st.HealthPolicy(ctx, c.OrgID)
	if err != nil {
		return rep, err
	}
	rep.Health = Judge(policy, c, outstanding, now)
	eos, err := EndOfSupport(ctx, st, c.OrgID, now)
	if err != nil {
		return rep, err
	}
	for _, p := range eos {
		if RunsProduct(c, p) {
			rep.EndOfSupport = append(rep.EndOfSupport, productLabel(p))
		}
	}
	return rep, nil
}

// EndOfSupport lists an organisation's products whose support has ended by now.
func EndOfSupport(ctx context.Context, st *store.Store, orgID int64, now time.Time) ([]store.Product, error) {
	return st.ListProducts(ctx, orgID, store.ProductFilter{EndedBy: now.UTC().Format(time.DateOnly), Page: store.Page{Limit: 10000}})
}

// osCPEs maps os-release IDs to the CPE vendor and product of the operating system.
var osCPEs = map[string][2]string{
	"debian": {"debian", "debian_linux"},
	"ubuntu": {"canonical", "ubuntu_linux"},
	"rhel":   {"redhat", "enterprise_linux"},
	"centos": {"centos", "centos"},
	"rocky":  {"rocky", "rocky_linux"},
	"sles":   {"suse", "linux_enterprise_server"},
}

// RunsProduct says whether a computer runs a product: an operating system product whose CPE
// (part o) names the computer's OS and release (cpe:2.3:o:debian:debian_linux:11).
func RunsProduct(c store.Computer, p store.Product) bool {
	if p.CPE == "" || c.OSID == "" {
		return false
	}
	wfn, err := naming.UnbindFS(p.CPE)
	if err != nil {
		return false
	}
	// WFN values escape punctuation with backslashes ("11\.5").
	attr := func(k string) string { return strings.ToLower(strings.ReplaceAll(wfn.GetString(k), `\`, "")) }
	want, ok := osCPEs[c.OSID]
	if !ok || attr("part") != "o" || attr("vendor") != want[0] || attr("product") != want[1] {
		return false
	}
	v := attr("version")
	return v == strings.ToLower(c.OSVersion) || strings.HasPrefix(strings.ToLower(c.OSVersion), v+".")
}

// OrgReport summarises an organisation's fleet.
type OrgReport struct {
	Computers    int              `json:"computers"`
	Compliant    int              `json:"compliant"`
	Percent      float64          `json:"percent_compliant"`
	Missing      int              `json:"missing_updates"` // computer x update pairs outstanding
	BySeverity   map[string]int   `json:"missing_by_severity"`
	WithCritical int              `json:"computers_missing_critical"`
	Silent       []string         `json:"not_seen"`       // computers silent past the policy
	EndOfSupport map[string]int   `json:"end_of_support"` // product -> computers running it
	NonCompliant []Verdict        `json:"non_compliant"`
	Snapshots    []store.Snapshot `json:"history"`
	// Network is what the latest exposure scans found (organisation reports only).
	Network *store.NetworkExposure `json:"network,omitempty"`
	// ComputedAt is when the server judged the computers (a server may answer from a
	// report it computed a little earlier).
	ComputedAt time.Time `json:"computed_at"`
}

// NetworkDays is how far back an organisation's report looks for exposure scans, and
// NetworkFindings how many of their findings it lists.
const (
	NetworkDays     = 30
	NetworkFindings = 10
)

// ForOrg builds the organisation's report: every active computer judged by the policy.
func ForOrg(ctx context.Context, st *store.Store, orgID int64, now time.Time) (OrgReport, error) {
	rep, err := ForComputers(ctx, st, orgID, nil, now)
	if err != nil {
		return rep, err
	}
	ne, err := st.NetworkExposure(ctx, orgID, now.AddDate(0, 0, -NetworkDays), NetworkFindings, nil)
	if err != nil {
		return rep, err
	}
	rep.Network = &ne
	return rep, nil
}

// ForComputers is ForOrg for the active computers that include accepts (all when nil), such
// as the members of a group.
func ForComputers(ctx context.Context, st *store.Store, orgID int64, include func(id int64) bool, now time.Time) (OrgReport, error) {
	rep := OrgReport{BySeverity: map[string]int{}, Silent: []string{}, EndOfSupport: map[string]int{}, NonCompliant: []Verdict{}}
	policy, err := st.HealthPolicy(ctx, orgID)
	if err != nil {
		return rep, err
	}
	outstanding := map[int64][]store.Exposure{}
	err = st.OrgOutstanding(ctx, orgID, func(e store.Exposure) error {
		if include != nil && !include(e.ComputerID) {
			return nil
		}
		outstanding[e.ComputerID] = append(outstanding[e.ComputerID], e)
		rep.Missing++
		rep.BySeverity[e.Severity]++
		return nil
	})
	if err != nil {
		return rep, err
	}
	eos, err := EndOfSupport(ctx, st, orgID, now)
	if err != nil {
		return rep, err
	}
	revoked := false
	f := store.ComputerFilter{Revoked: &revoked, Page: store.Page{Limit: 1000}}
	for {
		cs, err := st.ListComputers(ctx, orgID, f)
		if err != nil {
			return rep, err
		}
		for _, c := range cs {
			if include != nil && !include(c.ID) {
				continue
			}
			rep.Computers++
			out := outstanding[c.ID]
			v := Judge(policy, c, out, now)
			if v.Compliant {
				rep.Compliant++
			} else {
				rep.NonCompliant = append(rep.NonCompliant, v)
			}
			for _, r := range v.Reasons {
				if r.Code == "agent_silent" {
					rep.Silent = append(rep.Silent, c.Hostname)
				}
			}
			for _, e := range out {
				if e.Severity == "critical" {
					rep.WithCritical++
					break
				}
			}
			for _, p := range eos {
				if RunsProduct(c, p) {
					rep.EndOfSupport[productLabel(p)]++
				}
			}
		}
		if len(cs) < f.Limit {
			break
		}
		f.After = cs[len(cs)-1].ID
	}
	if rep.Computers > 0 {
		rep.Percent = float64(rep.Compliant) * 100 / float64(rep.Computers)
	}
	return rep, nil
}

// TakeSnapshot stores today's (UTC) compliance figures of an organisation, replacing an
// earlier snapshot of the same day: running it on several nodes or several times a day is
// harmless.
//
// When the share of compliant computers is below the policy's MinCompliantPct, it also
// raises a compliance.below_threshold event, once a day.
func TakeSnapshot(ctx context.Context, st *store.Store, orgID int64, now time.Time) (store.Snapshot, error) {
	rep, err := ForOrg(ctx, st, orgID, now)
	if err != nil {
		return store.Snapshot{}, err
	}
	return SaveSnapshot(ctx, st, orgID, rep, now)
}

// SaveSnapshot stores the snapshot of the day of an organisation's report made at now, and
// raises the compliance.below_threshold event when it is below the policy's minimum.
func SaveSnapshot(ctx context.Context, st *store.Store, orgID int64, rep OrgReport, now time.Time) (store.Snapshot, error) {
	s := store.Snapshot{Day: now.UTC().Format(time.DateOnly), Computers: rep.Computers, Compliant: rep.Compliant,
		MissingCritical: rep.BySeverity["critical"], MissingHigh: rep.BySeverity["high"], MissingTotal: rep.Missing, TakenAt: now.UTC()}
	err := st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SaveSnapshot(ctx, orgID, s); err != nil {
			return err
		}
		_, err := tx.NotifyBelowThreshold(ctx, orgID, s.Day, rep.Percent, rep.Computers, rep.Compliant)
		return err
	})
	return s, err
}

// productLabel names a product for people: "Debian GNU/Linux 11", "Example Software Example SQL Engine 2012".
func productLabel(p store.Product) string {
	name := p.Name
	if !strings.HasPrefix(strings.ToLower(p.Name), strings.ToLower(p.Vendor)) {
		name = p.Vendor + " " + p.Name
	}
	return strings.TrimSpace(name + " " + p.VersionLine)
}
