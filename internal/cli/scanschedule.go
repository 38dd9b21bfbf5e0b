package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type apiScanSchedule struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Group     string    `json:"group"`
	EverySecs int64     `json:"every_seconds"`
	Ports     string    `json:"ports"`
	UDP       string    `json:"udp"`
	Rate      int       `json:"rate"`
	Policy    string    `json:"policy"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// Subnets is the coverage (scan-schedule show).
	Subnets []struct {
		Subnet     string     `json:"subnet"`
		Agents     int        `json:"agents"`
		LastScanID *int64     `json:"last_scan_id"`
		LastScanAt *time.Time `json:"last_scan_at"`
		OpenPorts  int        `json:"open_ports"`
		Violations int        `json:"violations"`
	} `json:"subnets"`
}

func (s apiScanSchedule) every() string { return (time.Duration(s.EverySecs) * time.Second).String() }

func scanSchedulePath(org, name string) string {
	p := "/api/v1/orgs/" + url.PathEscape(org) + "/scan-schedules"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

func newScanScheduleCmd() *cobra.Command {
	cmd := groupCmd("scan-schedule", "Distributed scanning: a group's agents scan the subnets they sit on", `  patchday scan-schedule create --org acme nightly --group office --every 24h --ports top100 --policy firewall.yaml
  patchday scan-schedule list --org acme
  patchday scan-schedule update --org acme nightly --enabled=false`)
	cmd.Long = `A scan schedule lets the agents of a group scan the subnets they sit on, every interval, and
upload what they find like "patchday scan --upload" does (compared with the previous scan of the
subnet, matched to advisories, checked against the policy, events raised).

Each agent reports the private IPv4 subnets of its interfaces (a subnet wider than /22 is
narrowed to the /24 around the machine). At each check-in, the server gives a signed scan task
for a subnet to one member only: the lowest id among the group's members on that subnet that
checked in lately, and only when the subnet was not scanned for the schedule within the
interval. The agent scans only subnets it reported itself, and never public addresses.`
	cmd.AddCommand(newScanScheduleCreateCmd(), newScanScheduleListCmd(), newScanScheduleShowCmd(), newScanScheduleUpdateCmd(),
		newScanScheduleDeleteCmd())
	return cmd
}

// scanScheduleFlags are the settings of create and update.
type scanScheduleFlags struct {
	group, every, ports, udp, policy string
	rate                             int
	enabled                          bool
}

func (f *scanScheduleFlags) add(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.group, "group", "", "the group whose agents scan")
	fl.StringVar(&f.every, "every", "24h", "how often each subnet is scanned, 1h to 90d (24h, 12h, 7d)")
	fl.StringVar(&f.ports, "ports", "top100", "TCP ports, as patchday scan --ports takes them (at most 1,000)")
	fl.StringVar(&f.udp, "udp", "", `UDP ports to probe too, such as "53,161,1434" (at most 100)`)
	fl.IntVar(&f.rate, "rate", 200, "probes per second at most, per agent")
	fl.StringVar(&f.policy, "policy", "", `a firewall policy file (YAML, see "patchday scan --help"); "" removes it on update`)
	fl.BoolVar(&f.enabled, "enabled", true, "whether agents scan for it")
	if create {
		_ = cmd.MarkFlagRequired("group")
	}
}

// request is the API body: on create every setting, on update those given.
func (f *scanScheduleFlags) request(cmd *cobra.Command, create bool) (map[string]any, error) {
	req := map[string]any{}
	for flag, key := range map[string]string{"group": "group", "every": "every", "ports": "ports", "udp": "udp", "rate": "rate", "enabled": "enabled"} {
		if !create && !cmd.Flags().Changed(flag) {
			continue
		}
		switch flag {
		case "rate":
			req[key] = f.rate
		case "enabled":
			req[key] = f.enabled
		default:
			req[key], _ = cmd.Flags().GetString(flag)
		}
	}
	if cmd.Flags().Changed("policy") {
		req["policy"] = ""
		if f.policy != "" {
			b, err := os.ReadFile(f.policy)
			if err != nil {
				return nil, fmt.Errorf("--policy: %w", err)
			}
			req["policy"] = string(b)
		}
	}
	return req, nil
}

func printScanSchedule(cmd *cobra.Command, output outputFormat, raw json.RawMessage, verb string) error {
	if output == outputJSON {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var s apiScanSchedule
	if err := decodeItem(raw, &s); err != nil {
		return err
	}
	if verb != "" && !s.Enabled {
		fmt.Fprintf(cmd.OutOrStdout(), "%s scan schedule %s: disabled (group %s scans nothing until it is enabled)\n", verb, s.Name, s.Group)
		return nil
	}
	if verb != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "%s scan schedule %s: group %s scans its subnets every %s\n", verb, s.Name, s.Group, s.every())
		return nil
	}
	policy := "none"
	if s.Policy != "" {
		policy = "below"
	}
	w := cmd.OutOrStdout()
	if err := keyValues(w, "name", s.Name, "group", s.Group, "every", s.every(), "ports", s.Ports, "udp", s.UDP,
		"rate", fmt.Sprintf("%d probes/s", s.Rate), "enabled", fmt.Sprint(s.Enabled), "created", s.CreatedAt.Local().Format(time.DateTime)+" by "+s.CreatedBy,
		"policy", policy); err != nil {
		return err
	}
	if s.Policy != "" {
		// As written: a table cell would fold the YAML onto one line.
		fmt.Fprintf(w, "\n%s", strings.TrimRight(s.Policy, "\n")+"\n")
	}
	// Coverage: the subnets the group's agents reported, and the last scan of each.
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(s.Subnets))
	for _, sn := range s.Subnets {
		last, found := "never", "-"
		if sn.LastScanID != nil {
			last = fmt.Sprintf("scan %d, %s", *sn.LastScanID, timePtrCell(sn.LastScanAt))
			found = fmt.Sprintf("%d open, %d breaking the policy", sn.OpenPorts, sn.Violations)
		}
		rows = append(rows, []string{sn.Subnet, fmt.Sprint(sn.Agents), last, found})
	}
	if len(rows) == 0 {
		fmt.Fprintf(w, "No agent of group %s reported a subnet to scan yet.\n", s.Group)
		return nil
	}
	return writeRows(w, outputTable, []string{"subnet", "agents", "last scan", "found"}, rows)
}

func newScanScheduleCreateCmd() *cobra.Command {
	var of orgFlag
	var f scanScheduleFlags
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create NAME --group GROUP [--every 24h] [--ports top100] [--udp PORTS] [--rate 200] [--policy FILE]",
		Short: "Let a group's agents scan their subnets on a schedule (admins)",
		Example: `  patchday scan-schedule create --org acme nightly --group office
  patchday scan-schedule create --org acme weekly-full --group servers --every 168h --ports 1-1000 --udp 53,161,1434 --policy firewall.yaml`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			req, err := f.request(cmd, true)
			if err != nil {
				return err
			}
			req["name"] = args[0]
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, scanSchedulePath(org, ""), nil, req, &raw); err != nil {
				return err
			}
			return printScanSchedule(cmd, output, raw, "Created")
		},
	}
	of.add(cmd)
	f.add(cmd, true)
	addOutputFlag(cmd, &output)
	return cmd
}

func newScanScheduleUpdateCmd() *cobra.Command {
	var of orgFlag
	var f scanScheduleFlags
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "update NAME [--group G] [--every D] [--ports P] [--udp P] [--rate N] [--policy FILE] [--enabled=false]",
		Short:   "Change a scan schedule (admins)",
		Example: `  patchday scan-schedule update --org acme nightly --every 12h --policy firewall.yaml`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			req, err := f.request(cmd, false)
			if err != nil {
				return err
			}
			if len(req) == 0 {
				return usageError{fmt.Errorf("give something to change: --group, --every, --ports, --udp, --rate, --policy or --enabled")}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPatch, scanSchedulePath(org, args[0]), nil, req, &raw); err != nil {
				return err
			}
			return printScanSchedule(cmd, output, raw, "Updated")
		},
	}
	of.add(cmd)
	f.add(cmd, false)
	addOutputFlag(cmd, &output)
	return cmd
}

func newScanScheduleListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the scan schedules",
		Example: `  patchday scan-schedule list --org acme`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "scan-schedules", nil, []string{"name", "group", "every", "ports", "udp", "rate", "policy", "enabled"},
				func(s apiScanSchedule) []string {
					return []string{s.Name, s.Group, s.every(), s.Ports, s.UDP, fmt.Sprint(s.Rate), fmt.Sprint(s.Policy != ""), fmt.Sprint(s.Enabled)}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	return cmd
}

func newScanScheduleShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "show NAME",
		Short:   "Show a scan schedule with its policy",
		Example: `  patchday scan-schedule show --org acme nightly`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, scanSchedulePath(org, args[0]), nil, nil, &raw); err != nil {
				return err
			}
			return printScanSchedule(cmd, output, raw, "")
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newScanScheduleDeleteCmd() *cobra.Command {
	return orgCall{use: "delete NAME", short: "Delete a scan schedule (admins); the scans made for it stay",
		example: `  patchday scan-schedule delete --org acme nightly`, method: http.MethodDelete, path: scanSchedulePath,
		done: "Deleted scan schedule %s"}.command()
}
