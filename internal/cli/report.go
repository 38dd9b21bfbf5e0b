package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// reportCmd is a report: it GETs path (with query) in --org and prints the answer as JSON,
// or through show as a table or CSV.
func reportCmd(use, short, long, example string, nargs int, path func(cmd *cobra.Command, args []string) (string, url.Values),
	show func(cmd *cobra.Command, format outputFormat, raw json.RawMessage) error) *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long, Example: example, Args: exactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			p, q := path(cmd, args)
			var raw json.RawMessage
			if p == "reports/advisory" {
				// Its machines come a page at a time: fetch them all.
				if raw, err = advisoryReportPages(cmd, c, org, q.Get("tracking_id")); err != nil {
					return err
				}
			} else if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/orgs/"+url.PathEscape(org)+"/"+p, q, nil, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			return show(cmd, output, raw)
		},
	}
	of.add(cmd)
	addOutputFlagCSV(cmd, &output)
	return cmd
}

type apiExposedComputer struct {
	ComputerID int64    `json:"computer_id"`
	Hostname   string   `json:"hostname"`
	Status     string   `json:"status"`
	Updates    []string `json:"updates"`
	DaysOpen   int      `json:"days_exposed"`
	Error      string   `json:"error"`
}

type apiAdvisoryReport struct {
	TrackingID    string               `json:"tracking_id"`
	Title         string               `json:"title"`
	Severity      string               `json:"severity"`
	Updates       []string             `json:"updates"`
	Affected      int                  `json:"affected"`
	Patched       int                  `json:"patched"`
	Pending       int                  `json:"pending"`
	PendingReboot int                  `json:"pending_reboot"`
	Failed        int                  `json:"failed"`
	Computers     []apiExposedComputer `json:"computers"`
}

// exposedRows are the table or CSV rows of the computers of advisory reports.
func exposedRows(reps []apiAdvisoryReport) [][]string {
	var rows [][]string
	for _, r := range reps {
		for _, c := range r.Computers {
			rows = append(rows, []string{r.TrackingID, fmt.Sprint(c.ComputerID), c.Hostname, c.Status,
				strings.Join(c.Updates, " "), fmt.Sprint(c.DaysOpen), c.Error})
		}
	}
	return rows
}

var exposedHeaders = []string{"advisory", "computer id", "hostname", "status", "updates", "days exposed", "error"}

// advisoryReportPages fetches every page of an advisory report and joins their computers.
func advisoryReportPages(cmd *cobra.Command, c *client, org, trackingID string) (json.RawMessage, error) {
	var all map[string]any
	var computers []any
	cursor := ""
	for {
		q := url.Values{"tracking_id": {trackingID}, "limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page map[string]any
		if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/orgs/"+url.PathEscape(org)+"/reports/advisory", q, nil, &page); err != nil {
			return nil, err
		}
		if all == nil {
			all = page
		}
		if cs, ok := page["computers"].([]any); ok {
			computers = append(computers, cs...)
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	all["computers"] = computers
	delete(all, "next_cursor")
	return json.Marshal(all)
}

func newReportAdvisoryCmd() *cobra.Command {
	return reportCmd("advisory TRACKING-ID", "Which machines an advisory concerns: patched, pending, failed",
		`Show an advisory's exposure: how many machines it concerns, how many are patched, pending
(the update is needed or approved but not installed), pending a reboot, or failed, and which.
With -o csv, one row per machine.`,
		`  patchday report advisory --org acme DSA-5532-1
  patchday report advisory --org acme DSA-5532-1 -o csv > dsa-5532-1.csv`, 1,
		func(_ *cobra.Command, args []string) (string, url.Values) {
			return "reports/advisory", url.Values{"tracking_id": {args[0]}}
		},
		func(cmd *cobra.Command, format outputFormat, raw json.RawMessage) error {
			var r apiAdvisoryReport
			if err := decodeItem(raw, &r); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == outputTable {
				if err := keyValues(w, "advisory", r.TrackingID, "title", r.Title, "severity", r.Severity,
					"updates", strings.Join(r.Updates, " "), "affected", fmt.Sprint(r.Affected), "patched", fmt.Sprint(r.Patched),
					"pending", fmt.Sprint(r.Pending), "pending reboot", fmt.Sprint(r.PendingReboot), "failed", fmt.Sprint(r.Failed)); err != nil {
					return err
				}
				if len(r.Computers) == 0 {
					return nil
				}
				fmt.Fprintln(w)
			}
			return writeRows(w, format, exposedHeaders, exposedRows([]apiAdvisoryReport{r}))
		})
}

func newReportCVECmd() *cobra.Command {
	return reportCmd("cve CVE-ID", "Which machines are exposed to a CVE, through the advisories that name it",
		`Show the advisories that name a CVE and, for each, the machines it concerns and where they
stand. With -o csv, one row per advisory and machine.`,
		`  patchday report cve --org acme CVE-2023-5678`, 1,
		func(_ *cobra.Command, args []string) (string, url.Values) {
			return "reports/cve", url.Values{"cve": {args[0]}}
		},
		func(cmd *cobra.Command, format outputFormat, raw json.RawMessage) error {
			var r struct {
				CVE        string              `json:"cve"`
				Advisories []apiAdvisoryReport `json:"advisories"`
				Affected   int                 `json:"affected"`
				Patched    int                 `json:"patched"`
				Unpatched  int                 `json:"unpatched"`
			}
			if err := decodeItem(raw, &r); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == outputTable {
				var ids []string
				for _, a := range r.Advisories {
					ids = append(ids, a.TrackingID)
				}
				if err := keyValues(w, "cve", r.CVE, "advisories", strings.Join(ids, " "), "affected", fmt.Sprint(r.Affected),
					"patched", fmt.Sprint(r.Patched), "unpatched", fmt.Sprint(r.Unpatched)); err != nil {
					return err
				}
				if r.Affected == 0 {
					return nil
				}
				fmt.Fprintln(w)
			}
			return writeRows(w, format, exposedHeaders, exposedRows(r.Advisories))
		})
}

func newReportComputerCmd() *cobra.Command {
	return reportCmd("computer ID|HOSTNAME", "What a computer still needs, by severity, and its health verdict",
		`Show the updates a computer still needs, the most severe first, with how long each has been
needed (days exposed) and its deadline; updates waiting for a reboot; products past their
support that it runs; and its health verdict with the reasons. With -o csv, one row per
missing update.`,
		`  patchday report computer --org acme web-01`, 1,
		func(_ *cobra.Command, args []string) (string, url.Values) {
			return "computers/" + url.PathEscape(args[0]) + "/report", nil
		},
		func(cmd *cobra.Command, format outputFormat, raw json.RawMessage) error {
			var r struct {
				Hostname string `json:"hostname"`
				Missing  []struct {
					Update      string     `json:"update"`
					Severity    string     `json:"severity"`
					State       string     `json:"state"`
					Deadline    *time.Time `json:"deadline"`
					DaysExposed int        `json:"days_exposed"`
					Error       string     `json:"error"`
				} `json:"missing"`
				BySeverity    map[string]int `json:"missing_by_severity"`
				PendingReboot []string       `json:"pending_reboot"`
				Installed     int            `json:"installed"`
				EndOfSupport  []string       `json:"end_of_support"`
				Health        apiVerdict     `json:"health"`
			}
			if err := decodeItem(raw, &r); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == outputTable {
				var sev []string
				for k, n := range r.BySeverity {
					sev = append(sev, fmt.Sprintf("%s %d", k, n))
				}
				sort.Strings(sev)
				if err := keyValues(w, "hostname", r.Hostname, "health", r.Health.summary(), "missing", strings.Join(sev, ", "),
					"pending reboot", strings.Join(r.PendingReboot, " "), "installed", fmt.Sprint(r.Installed),
					"end of support", strings.Join(r.EndOfSupport, "; ")); err != nil {
					return err
				}
				if len(r.Missing) == 0 {
					return nil
				}
				fmt.Fprintln(w)
			}
			var rows [][]string
			for _, m := range r.Missing {
				rows = append(rows, []string{m.Update, m.Severity, m.State, timePtrCell(m.Deadline), fmt.Sprint(m.DaysExposed), m.Error})
			}
			return writeRows(w, format, []string{"update", "severity", "state", "deadline", "days exposed", "error"}, rows)
		})
}

func newReportComplianceCmd() *cobra.Command {
	cmd := reportCmd("compliance", "The organisation's compliance: now, and day by day",
		`Show how many active computers comply with the organisation's health policy (see "patchday
health policy"), the updates still missing by severity, the computers that are silent, those on
products past their support, and the compliance of each past day (--days, default 30). With -o
csv, one row per day.`,
		`  patchday report compliance --org acme
  patchday report compliance --org acme --days 365 -o csv`, 0,
		func(cmd *cobra.Command, _ []string) (string, url.Values) {
			days, _ := cmd.Flags().GetInt("days")
			return "reports/compliance", url.Values{"days": {fmt.Sprint(days)}}
		}, showCompliance)
	cmd.Flags().Int("days", 30, "days of history to show")
	return cmd
}

func showCompliance(cmd *cobra.Command, format outputFormat, raw json.RawMessage) error {
	var r struct {
		Computers    int            `json:"computers"`
		Compliant    int            `json:"compliant"`
		Percent      float64        `json:"percent_compliant"`
		Missing      int            `json:"missing_updates"`
		BySeverity   map[string]int `json:"missing_by_severity"`
		WithCritical int            `json:"computers_missing_critical"`
		Silent       []string       `json:"not_seen"`
		EndOfSupport map[string]int `json:"end_of_support"`
		Network      *apiNetwork    `json:"network"`
		History      []struct {
			Day             string `json:"day"`
			Computers       int    `json:"computers"`
			Compliant       int    `json:"compliant"`
			MissingCritical int    `json:"missing_critical"`
			MissingHigh     int    `json:"missing_high"`
			MissingTotal    int    `json:"missing_total"`
		} `json:"history"`
	}
	if err := decodeItem(raw, &r); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if format == outputTable {
		var eos []string
		for p, n := range r.EndOfSupport {
			eos = append(eos, fmt.Sprintf("%s: %d", p, n))
		}
		sort.Strings(eos)
		compliant := fmt.Sprintf("%d (%.1f%%)", r.Compliant, r.Percent)
		if r.Computers == 0 {
			compliant = "- (no computers yet)"
		}
		if err := keyValues(w, "computers", fmt.Sprint(r.Computers),
			"compliant", compliant,
			"missing installs", fmt.Sprintf("%d, an update on a computer each (critical %d, high %d); by update: patchday report missing",
				r.Missing, r.BySeverity["critical"], r.BySeverity["high"]),
			"missing critical", fmt.Sprintf("%d computers", r.WithCritical),
			"not seen", strings.Join(r.Silent, " "), "end of support", strings.Join(eos, "; ")); err != nil {
			return err
		}
		if n := r.Network; n != nil && n.Scans > 0 {
			if err := keyValues(w, "network", n.summary()); err != nil {
				return err
			}
		}
		if len(r.History) == 0 {
			return nil
		}
		fmt.Fprintln(w)
	}
	var rows [][]string
	for _, h := range r.History {
		pct := 0.0
		if h.Computers > 0 {
			pct = float64(h.Compliant) * 100 / float64(h.Computers)
		}
		rows = append(rows, []string{h.Day, fmt.Sprint(h.Computers), fmt.Sprint(h.Compliant), fmt.Sprintf("%.1f", pct),
			fmt.Sprint(h.MissingCritical), fmt.Sprint(h.MissingHigh), fmt.Sprint(h.MissingTotal)})
	}
	return writeRows(w, format, []string{"day", "computers", "compliant", "percent", "missing critical", "missing high", "missing total"}, rows)
}

// apiNetwork is the exposure report (store.NetworkExposure).
type apiNetwork struct {
	Scans      int        `json:"scans"`
	Hosts      int        `json:"hosts"`
	OpenPorts  int        `json:"open_ports"`
	Violations int        `json:"violations"`
	Vulnerable int        `json:"vulnerable"`
	Opened     int        `json:"opened"`
	LastScanAt *time.Time `json:"last_scan_at"`
	Findings   []struct {
		ScanID     int64    `json:"scan_id"`
		Host       string   `json:"host"`
		Port       int      `json:"port"`
		Protocol   string   `json:"protocol"`
		Service    string   `json:"service"`
		Product    string   `json:"product"`
		Version    string   `json:"version"`
		Violation  string   `json:"violation"`
		Change     string   `json:"change"`
		Advisories []string `json:"advisories"`
		Severity   string   `json:"severity"`
	} `json:"findings"`
}

func (n apiNetwork) summary() string {
	return fmt.Sprintf("%d open ports on %d hosts in %d scans: %d of vulnerable products, %d breaking the policy, %d new",
		n.OpenPorts, n.Hosts, n.Scans, n.Vulnerable, n.Violations, n.Opened)
}

func newReportExposureCmd() *cobra.Command {
	cmd := reportCmd("exposure", "What the latest exposure scans found: vulnerable services, policy violations, new ports",
		`Show, for the latest scan of each set of targets received in the last --days (default 30), the
open ports, those of products that advisories affect (matched by product and version), those
that break the firewall policy the scan was run with, and those that were not open in the scan
before. Scans come from "patchday scan --upload" and from agents' scan schedules ("patchday
scan-schedule"). The findings are listed most severe first.`,
		`  patchday report exposure --org acme
  patchday report exposure --org acme --days 7 --limit 1000 -o csv`, 0,
		func(cmd *cobra.Command, _ []string) (string, url.Values) {
			days, _ := cmd.Flags().GetInt("days")
			limit, _ := cmd.Flags().GetInt("limit")
			return "reports/exposure", url.Values{"days": {fmt.Sprint(days)}, "limit": {fmt.Sprint(limit)}}
		}, showExposure)
	cmd.Flags().Int("days", 30, "only scans received in these last days")
	cmd.Flags().Int("limit", 100, "findings to list")
	return cmd
}

func showExposure(cmd *cobra.Command, format outputFormat, raw json.RawMessage) error {
	var n apiNetwork
	if err := decodeItem(raw, &n); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if format == outputTable {
		last := "never"
		if n.LastScanAt != nil {
			last = n.LastScanAt.Local().Format(time.DateTime)
		}
		if err := keyValues(w, "exposure", n.summary(), "last scan", last); err != nil {
			return err
		}
		if len(n.Findings) == 0 {
			return nil
		}
		fmt.Fprintln(w)
	}
	var rows [][]string
	for _, f := range n.Findings {
		rows = append(rows, []string{f.Host, fmt.Sprint(f.Port), f.Protocol, f.Service, strings.TrimSpace(f.Product + " " + f.Version),
			f.Severity, strings.Join(f.Advisories, " "), f.Violation, f.Change, fmt.Sprint(f.ScanID)})
	}
	return writeRows(w, format, []string{"host", "port", "protocol", "service", "product", "severity", "advisories", "violation", "change", "scan"}, rows)
}

type apiVerdict struct {
	ComputerID int64  `json:"computer_id"`
	Hostname   string `json:"hostname"`
	Compliant  bool   `json:"compliant"`
	Reasons    []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"reasons"`
	LastSeen *time.Time `json:"last_checkin_at"`
}

func (v apiVerdict) summary() string {
	if v.Compliant {
		return "compliant"
	}
	var rs []string
	for _, r := range v.Reasons {
		rs = append(rs, r.Message)
	}
	return "NOT compliant: " + strings.Join(rs, "; ")
}

func newHealthCmd() *cobra.Command {
	cmd := groupCmd("health", "Health verdicts, and the policy they are judged by", `  patchday health show --org acme web-01
  patchday health list --org acme --non-compliant
  patchday health policy show --org acme
  patchday health policy set --org acme --grace-days 3 --max-silent-hours 24`)
	cmd.Long = `A computer is compliant when it breaks no rule of its organisation's health policy: no
critical or high-severity update missing past its deadline (or its grace period), antivirus
signatures fresh where an antivirus is installed, a host firewall, a recent check-in.
VPN and network access control systems ask GET /api/v1/computers/ID/health with a viewer's
token (see docs/compliance.md).`
	policy := groupCmd("policy", "Show or set the organisation's health policy", `  patchday health policy set --org acme --max-missing-critical 0 --grace-days 7`)
	policy.AddCommand(newHealthPolicyShowCmd(), newHealthPolicySetCmd())
	cmd.AddCommand(newHealthShowCmd(), newHealthListCmd(), policy)
	return cmd
}

func newHealthShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "show ID|HOSTNAME",
		Short:   "A computer's health verdict, with the reasons; exits 3 when it is not compliant",
		Example: `  patchday health show --org acme web-01 && echo "let it in"`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, computerPath(org, args[0])+"/health", nil, nil, &raw); err != nil {
				return err
			}
			var v apiVerdict
			if err := decodeItem(raw, &v); err != nil {
				return err
			}
			if output == outputJSON {
				if err := printJSON(cmd.OutOrStdout(), raw); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", v.Hostname, v.summary())
			}
			if !v.Compliant {
				return errNotCompliant
			}
			return nil
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newHealthListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	var nonCompliant bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "Health verdicts of the organisation's computers",
		Example: `  patchday health list --org acme --non-compliant -o csv`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := map[string]string{}
			if nonCompliant {
				params["compliant"] = "false"
			}
			return listInOrg(cmd, &of, lf, "health", params, []string{"id", "hostname", "compliant", "reasons"},
				func(v apiVerdict) []string {
					var codes []string
					for _, r := range v.Reasons {
						codes = append(codes, r.Code)
					}
					return []string{fmt.Sprint(v.ComputerID), v.Hostname, yesNo(v.Compliant), strings.Join(codes, " ")}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	cmd.Flags().BoolVar(&nonCompliant, "non-compliant", false, "only the computers that are not compliant")
	return cmd
}

type apiHealthPolicy struct {
	MaxMissingCritical  int        `json:"max_missing_critical"`
	MaxMissingHigh      int        `json:"max_missing_high"`
	GraceDays           int        `json:"grace_days"`
	MaxAntivirusAgeDays int        `json:"max_antivirus_age_days"`
	RequireFirewall     bool       `json:"require_firewall"`
	MaxSilentHours      int        `json:"max_silent_hours"`
	MinCompliantPct     int        `json:"min_compliant_pct"`
	UpdatedAt           *time.Time `json:"updated_at"`
	UpdatedBy           string     `json:"updated_by"`
}

func printPolicy(cmd *cobra.Command, output outputFormat, raw json.RawMessage) error {
	if output == outputJSON {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var p apiHealthPolicy
	if err := decodeItem(raw, &p); err != nil {
		return err
	}
	return keyValues(cmd.OutOrStdout(), "max missing critical", fmt.Sprint(p.MaxMissingCritical),
		"max missing high", fmt.Sprint(p.MaxMissingHigh), "grace days", fmt.Sprint(p.GraceDays),
		"max antivirus age days", fmt.Sprint(p.MaxAntivirusAgeDays), "require firewall", yesNo(p.RequireFirewall),
		"max silent hours", fmt.Sprint(p.MaxSilentHours), "alert below", fmt.Sprintf("%d%% compliant", p.MinCompliantPct),
		"updated", timePtrCell(p.UpdatedAt), "updated by", p.UpdatedBy)
}

func newHealthPolicyShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the health policy (the default until an admin sets one)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/orgs/"+url.PathEscape(org)+"/health-policy", nil, nil, &raw); err != nil {
				return err
			}
			return printPolicy(cmd, output, raw)
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newHealthPolicySetCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	var p apiHealthPolicy
	cmd := &cobra.Command{
		Use:   "set [--max-missing-critical N] [--max-missing-high N] [--grace-days N] ...",
		Short: "Change the health policy (admins); settings not given keep their values",
		Example: `  patchday health policy set --org acme --grace-days 3 --max-antivirus-age-days 2
  patchday health policy set --org acme --require-firewall=false`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			req := map[string]any{}
			for flag, v := range map[string]any{"max-missing-critical": p.MaxMissingCritical, "max-missing-high": p.MaxMissingHigh,
				"grace-days": p.GraceDays, "max-antivirus-age-days": p.MaxAntivirusAgeDays, "require-firewall": p.RequireFirewall,
				"max-silent-hours": p.MaxSilentHours, "min-compliant-pct": p.MinCompliantPct} {
				if cmd.Flags().Changed(flag) {
					req[strings.ReplaceAll(flag, "-", "_")] = v
				}
			}
			if len(req) == 0 {
				return usageError{fmt.Errorf("give at least one setting to change (see --help)")}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPut, "/api/v1/orgs/"+url.PathEscape(org)+"/health-policy", nil, req, &raw); err != nil {
				return err
			}
			return printPolicy(cmd, output, raw)
		},
	}
	f := cmd.Flags()
	f.IntVar(&p.MaxMissingCritical, "max-missing-critical", 0, "critical updates that may be missing past their deadline or grace period")
	f.IntVar(&p.MaxMissingHigh, "max-missing-high", 0, "high-severity updates that may be missing past their deadline or grace period")
	f.IntVar(&p.GraceDays, "grace-days", 0, "days an update without a deadline may be missing before it counts")
	f.IntVar(&p.MaxAntivirusAgeDays, "max-antivirus-age-days", 0, "oldest antivirus signatures allowed (0: not checked)")
	f.BoolVar(&p.RequireFirewall, "require-firewall", false, "a host firewall must filter incoming traffic")
	f.IntVar(&p.MaxSilentHours, "max-silent-hours", 0, "longest silence of the agent allowed (0: not checked)")
	f.IntVar(&p.MinCompliantPct, "min-compliant-pct", 0, "raise a compliance.below_threshold event for subscribers, once a day, while fewer computers than this percentage comply (0: never)")
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newReportMissingCmd() *cobra.Command {
	cmd := reportCmd("missing", "The updates still missing, and on how many computers",
		`List every update still missing on the organisation's active computers (needed, approved or
failed there), how many computers miss it, how many failed to install it, and the earliest
deadline of its assignments and approvals; --min-severity keeps the graver ones.`,
		`  patchday report missing --org acme
  patchday report missing --org acme --min-severity high -o csv`, 0,
		func(cmd *cobra.Command, _ []string) (string, url.Values) {
			q := url.Values{}
			if s, _ := cmd.Flags().GetString("min-severity"); s != "" {
				q.Set("min_severity", s)
			}
			return "reports/missing", q
		}, showMissing)
	cmd.Flags().String("min-severity", "", "only updates of this severity or higher: critical, high, medium, low")
	return cmd
}

func showMissing(cmd *cobra.Command, format outputFormat, raw json.RawMessage) error {
	var l struct {
		Items []struct {
			Update   string     `json:"update"`
			Severity string     `json:"severity"`
			Machines int        `json:"machines"`
			Failed   int        `json:"failed"`
			Deadline *time.Time `json:"deadline"`
			Title    string     `json:"title"`
		} `json:"items"`
	}
	if err := decodeItem(raw, &l); err != nil {
		return err
	}
	var rows [][]string
	for _, m := range l.Items {
		rows = append(rows, []string{m.Update, m.Severity, fmt.Sprint(m.Machines), fmt.Sprint(m.Failed), timePtrCell(m.Deadline), m.Title})
	}
	return writeRows(cmd.OutOrStdout(), format, []string{"update", "severity", "machines", "failed", "deadline", "title"}, rows)
}
