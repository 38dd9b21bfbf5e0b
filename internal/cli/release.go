package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Publishing: the release calendar, releases and scheduling advisories for them.

// addPublishingCommands adds "release", "release-calendar" and "advisory schedule".
func addPublishingCommands(root *cobra.Command) {
	root.AddCommand(newReleaseCmd(), newReleaseCalendarCmd())
	for _, c := range root.Commands() {
		if c.Name() == "advisory" {
			c.AddCommand(newAdvisoryScheduleCmd())
		}
	}
}

func orgPath(org, suffix string) string { return "/api/v1/orgs/" + url.PathEscape(org) + "/" + suffix }

type apiCalendar struct {
	Ordinal    int         `json:"ordinal"`
	Weekday    int         `json:"weekday"`
	Time       string      `json:"time"`
	Zone       string      `json:"zone"`
	NoticeDays int         `json:"advance_notice_days"`
	UpdatedAt  time.Time   `json:"updated_at"`
	UpdatedBy  string      `json:"updated_by"`
	Next       []time.Time `json:"next_release_days"`
}

func ordinalName(n int) string {
	switch n {
	case 1:
		return "first"
	case 2:
		return "second"
	case 3:
		return "third"
	case 4:
		return "fourth"
	case -1:
		return "last"
	}
	return strconv.Itoa(n)
}

func printCalendar(cmd *cobra.Command, output outputFormat, raw json.RawMessage) error {
	if output == outputJSON {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var c apiCalendar
	if err := decodeItem(raw, &c); err != nil {
		return err
	}
	var next []string
	for _, t := range c.Next {
		next = append(next, t.Format(time.RFC3339))
	}
	return keyValues(cmd.OutOrStdout(),
		"release day", fmt.Sprintf("the %s %s of each month at %s (%s)", ordinalName(c.Ordinal), time.Weekday(c.Weekday), c.Time, c.Zone),
		"advance notice", fmt.Sprintf("%d business days before", c.NoticeDays),
		"next release days", strings.Join(next, ", "))
}

func newReleaseCalendarCmd() *cobra.Command {
	cmd := groupCmd("release-calendar", "The monthly release day and advance notice of an organisation", `  patchday release-calendar show --org acme
  patchday release-calendar set --org acme --zone Europe/Berlin --time 10:00 --notice-days 3`)
	cmd.AddCommand(newReleaseCalendarShowCmd(), newReleaseCalendarSetCmd())
	return cmd
}

func newReleaseCalendarShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the release calendar and the next release days",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, orgPath(org, "release-calendar"), nil, nil, &raw); err != nil {
				return err
			}
			return printCalendar(cmd, output, raw)
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

var weekdayNames = map[string]int{"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}

func newReleaseCalendarSetCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	var ordinal, notice int
	var weekday, tod, zone string
	cmd := &cobra.Command{
		Use:   "set [--ordinal N] [--weekday DAY] [--time HH:MM] [--zone ZONE] [--notice-days N]",
		Short: "Change the release calendar (admins); settings not given keep their values",
		Long: `Change the organisation's monthly release day: the --ordinal-th (1-4, or -1 for the last)
--weekday of each month at --time in the IANA time zone --zone (DST-safe: the wall-clock time
stays). Advance notifications go out --notice-days business days (Monday to Friday) before a
release that has scheduled advisories. A setting not given keeps its value; a new calendar is
the second Tuesday at 10:00 UTC with 3 business days' notice.

Advisories scheduled for a monthly release day move with it to the new release day of the
same month (in the same change), and a release whose advance notification went out gets a
revised one with the new time. Out-of-band releases and other explicit times stay, and so
does a release whose new time in its month has passed already (it is published when it
was scheduled for). The output says what moved.`,
		Example: `  patchday release-calendar set --org acme --zone Europe/Berlin
  patchday release-calendar set --org acme --ordinal -1 --weekday thursday --time 17:00 --notice-days 5`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			req := map[string]any{}
			fl := cmd.Flags()
			if fl.Changed("ordinal") {
				req["ordinal"] = ordinal
			}
			if fl.Changed("weekday") {
				wd, ok := weekdayNames[strings.ToLower(weekday)]
				if !ok {
					n, err := strconv.Atoi(weekday)
					if err != nil {
						return usageError{fmt.Errorf("--weekday %q: a day name (tuesday) or 0 (Sunday) to 6", weekday)}
					}
					wd = n
				}
				req["weekday"] = wd
			}
			if fl.Changed("time") {
				req["time"] = tod
			}
			if fl.Changed("zone") {
				req["zone"] = zone
			}
			if fl.Changed("notice-days") {
				req["advance_notice_days"] = notice
			}
			if len(req) == 0 {
				return usageError{fmt.Errorf("give something to change: --ordinal, --weekday, --time, --zone or --notice-days")}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPut, orgPath(org, "release-calendar"), nil, req, &raw); err != nil {
				return err
			}
			if err := printCalendar(cmd, output, raw); err != nil || output == outputJSON {
				return err
			}
			// What moved with the release days (or stayed, its new time having passed).
			var moved struct {
				Message string `json:"message"`
			}
			if err := decodeItem(raw, &moved); err != nil {
				return err
			}
			if moved.Message != "" {
				fmt.Fprintln(cmd.OutOrStdout(), moved.Message)
			}
			return nil
		},
	}
	of.add(cmd)
	f := cmd.Flags()
	// No defaults shown: a flag not given keeps the calendar's setting (a new calendar is the
	// second Tuesday, 10:00 UTC, 3 business days' notice).
	f.IntVar(&ordinal, "ordinal", 0, "which weekday of the month: 1-4, or -1 for the last")
	f.StringVar(&weekday, "weekday", "", "the weekday: a name, or 0 (Sunday) to 6")
	f.StringVar(&tod, "time", "", "wall-clock time HH:MM")
	f.StringVar(&zone, "zone", "", "IANA time zone, such as Europe/Berlin")
	f.IntVar(&notice, "notice-days", 0, "advance notice, in business days before a release (0-20)")
	cmd.Annotations = map[string]string{"field:advance_notice_days": "notice-days"}
	addOutputFlag(cmd, &output)
	return cmd
}

func newReleaseCmd() *cobra.Command {
	cmd := groupCmd("release", "Release days: the monthly ones and out-of-band releases", `  patchday release list --org acme --count 6
  patchday release create --org acme --at 2026-11-20T18:00:00Z --title "Emergency fix"
  patchday release delete --org acme 2026-11-20T18:00:00Z`)
	cmd.AddCommand(newReleaseListCmd(), newReleaseCreateCmd(), orgCall{
		use:   "delete TIME",
		short: "Cancel an out-of-band release no advisory waits for (operators and admins)",
		long: `Cancel an out-of-band release. Move the advisories that wait for it first (patchday
advisory schedule ID --release next|TIME|now). If its advance notification went out,
subscribers get a revised notice that it holds nothing now. Monthly release days come from
the release calendar (patchday release-calendar set).`,
		example: `  patchday release delete --org acme 2026-11-20T18:00:00Z`,
		method:  http.MethodDelete,
		path:    func(org, at string) string { return orgPath(org, "releases/"+url.PathEscape(at)) },
		done:    "Cancelled the release at %s",
	}.command())
	return cmd
}

type apiReleaseDay struct {
	At                time.Time  `json:"release_at"`
	Kind              string     `json:"kind"`
	Title             string     `json:"title"`
	AdvanceNoticeAt   time.Time  `json:"advance_notice_at"`
	AdvanceNotifiedAt *time.Time `json:"advance_notified_at"`
	AdvanceRevision   int        `json:"advance_revision"`
	AdvisoryCount     int        `json:"advisory_count"`
	Advisories        []struct {
		TrackingID string `json:"tracking_id"`
		Severity   string `json:"severity"`
	} `json:"advisories"`
}

func newReleaseListCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	var count int
	cmd := &cobra.Command{
		Use:   "list [--count N]",
		Short: "The next release days with the advisories scheduled for each",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var resp struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := c.do(cmd.Context(), http.MethodGet, orgPath(org, "releases"), url.Values{"count": {strconv.Itoa(count)}}, nil, &resp); err != nil {
				return err
			}
			return printList(cmd, listFlags{output: output}, resp.Items, false,
				[]string{"RELEASE", "KIND", "ADVISORIES", "ADVANCE NOTICE", "SCHEDULED"}, func(d apiReleaseDay) []string {
					var ids []string
					for _, a := range d.Advisories {
						ids = append(ids, a.TrackingID+" ("+a.Severity+")")
					}
					notice := d.AdvanceNoticeAt.Local().Format(time.DateTime + " MST")
					if d.AdvanceNotifiedAt != nil {
						notice = "sent " + d.AdvanceNotifiedAt.Local().Format(time.DateTime+" MST")
						switch n := d.AdvanceRevision - 1; {
						case n == 1:
							notice += ", revised once"
						case n > 1:
							notice += fmt.Sprintf(", revised %d times", n)
						}
					}
					kind := d.Kind
					if d.Title != "" {
						kind += ": " + d.Title
					}
					return []string{d.At.Local().Format(time.DateTime + " MST"), kind, strconv.Itoa(d.AdvisoryCount), notice, strings.Join(ids, ", ")}
				})
		},
	}
	of.add(cmd)
	cmd.Flags().IntVar(&count, "count", 3, "how many release days (1-24)")
	addOutputFlag(cmd, &output)
	return cmd
}

func newReleaseCreateCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	var at, title string
	cmd := &cobra.Command{
		Use:     "create --at TIME [--title T]",
		Short:   "Create an out-of-band release (operators and admins)",
		Example: `  patchday release create --org acme --at 2026-11-20T18:00:00Z --title "Emergency fix"`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			if err := requireFlag("at", at); err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, orgPath(org, "releases"), nil, map[string]any{"release_at": at, "title": title}, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created the out-of-band release at %s\n", at)
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringVar(&at, "at", "", "the release time, RFC 3339 (2026-11-20T18:00:00Z)")
	cmd.Flags().StringVar(&title, "title", "", "what the release is for")
	cmd.Annotations = map[string]string{"field:release_at": "at"}
	addOutputFlag(cmd, &output)
	return cmd
}

func newAdvisoryScheduleCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	var release string
	cmd := &cobra.Command{
		Use:   "schedule ID --release next|now|TIME",
		Short: "Move an unpublished advisory to a release day, or publish it now (operators and admins)",
		Long: `Schedule an advisory that is not yet published for a release: "next" is the next monthly
release day; a time must be a monthly release day or an out-of-band release ("patchday
release list"). Until then only admins, operators and partners see it; at that moment it is
published, once, and subscribers are notified. "now" publishes it at once, out of band (an
exploit in the wild will not wait). Its CSAF document is dated at the release it moves to.`,
		Example: `  patchday advisory schedule --org acme ACME-2026-0042 --release next
  patchday advisory schedule --org acme ACME-2026-0042 --release 2026-11-20T18:00:00Z
  patchday advisory schedule --org acme ACME-2026-0042 --release now`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			if err := requireFlag("release", release); err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			id, err := resolveAdvisory(cmd, c, org, args[0])
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, orgPath(org, fmt.Sprintf("advisories/%d/schedule", id)), nil,
				map[string]any{"release": release}, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var a struct {
				TrackingID       string     `json:"tracking_id"`
				ScheduledRelease *time.Time `json:"scheduled_release"`
				PublishedAt      *time.Time `json:"published_at"`
			}
			if err := decodeItem(raw, &a); err != nil {
				return err
			}
			if release == "now" && a.PublishedAt != nil && a.ScheduledRelease == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Published %s now\n", a.TrackingID)
				return nil
			}
			when := "?"
			if a.ScheduledRelease != nil {
				when = a.ScheduledRelease.Format(time.RFC3339)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Scheduled %s for the release at %s\n", a.TrackingID, when)
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringVar(&release, "release", "", `"next" (the next monthly release day), "now" (publish at once) or the RFC 3339 time of a release`)
	addOutputFlag(cmd, &output)
	return cmd
}
