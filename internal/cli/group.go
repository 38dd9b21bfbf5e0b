package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type apiGroup struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Rule        string `json:"rule"`
	Ring        *int   `json:"ring"`
	Windows     string `json:"windows"`
	Timezone    string `json:"timezone"`
	Members     int    `json:"members"`
	// Rollout limits (see group create --help).
	MaxStarts          int       `json:"max_starts"`
	StartWindowMinutes int       `json:"start_window_minutes"`
	HaltFailurePct     int       `json:"halt_failure_pct"`
	HaltMinAttempts    int       `json:"halt_min_attempts"`
	CreatedAt          time.Time `json:"created_at"`
	CreatedBy          string    `json:"created_by"`
}

func (g apiGroup) kind() string {
	if g.Rule == "" {
		return "static"
	}
	return "dynamic"
}

// limits says a group's rollout limits in a line.
func (g apiGroup) limits() string {
	var out []string
	if g.MaxStarts > 0 {
		out = append(out, fmt.Sprintf("at most %d starts per %d min", g.MaxStarts, g.StartWindowMinutes))
	}
	if g.HaltFailurePct > 0 {
		out = append(out, fmt.Sprintf("halt above %d%% failed (after %d attempts)", g.HaltFailurePct, g.HaltMinAttempts))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

func ringCell(r *int) string {
	if r == nil {
		return ""
	}
	return fmt.Sprint(*r)
}

func groupPath(org, name string) string {
	return "/api/v1/orgs/" + url.PathEscape(org) + "/groups/" + url.PathEscape(name)
}

func newGroupCmd() *cobra.Command {
	cmd := groupCmd("group", "Groups of computers, static or by a rule, and rings", `  patchday group create --org acme pilot --ring 1
  patchday group create --org acme web --rule "os=debian:12 hostname=web-*"
  patchday group add --org acme pilot web-01 web-02
  patchday group list --org acme
  patchday group show --org acme web`)
	cmd.Long = `Groups collect computers: a static group holds the computers added to it (by hand, or by an
enrollment token that names it); a dynamic group holds the computers its rule matches, kept
current as their facts and tags change. A rule's terms must all hold:

  os=debian:12,debian:11   os-release ID, or ID:VERSION_ID
  arch=amd64               package architecture
  hostname=web-*           a shell pattern
  tag=prod                 a tag (patchday computer tag)
  key!=value               the term negated

A group with --ring N is a ring of a rollout: ring 1 (a pilot) goes first.`
	cmd.AddCommand(newGroupCreateCmd(), newGroupListCmd(), newGroupShowCmd(), newGroupUpdateCmd(), newGroupDeleteCmd(),
		newGroupMemberCmd(true), newGroupMemberCmd(false))
	return cmd
}

func newGroupCreateCmd() *cobra.Command {
	var of orgFlag
	var rule, description, windows, timezone string
	var ring int
	var limits groupLimits
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create NAME [--rule RULE] [--ring N] [--windows W --timezone TZ] [--description TEXT]",
		Short: "Create a group (admins): static, or dynamic with --rule",
		Example: `  patchday group create --org acme pilot --ring 1
  patchday group create --org acme debian-web --rule "os=debian hostname=web-*" --ring 2`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			req := map[string]any{"name": args[0]}
			if rule != "" {
				req["rule"] = rule
			}
			if description != "" {
				req["description"] = description
			}
			if cmd.Flags().Changed("ring") {
				req["ring"] = ring
			}
			if windows != "" {
				req["windows"] = windows
			}
			if timezone != "" {
				req["timezone"] = timezone
			}
			limits.put(cmd, req)
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/orgs/"+url.PathEscape(org)+"/groups", nil, req, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var g apiGroup
			if err := decodeItem(raw, &g); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created %s group %s with %d members\n", g.kind(), g.Name, g.Members)
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringVar(&rule, "rule", "", `membership rule of a dynamic group, such as "os=debian:12 hostname=web-*"`)
	cmd.Flags().StringVar(&description, "description", "", "what the group is for")
	cmd.Flags().IntVar(&ring, "ring", 0, "its ring in rollouts: 1 goes first")
	cmd.Flags().StringVar(&windows, "windows", "", `weekly maintenance windows, such as "mon-fri 22:00-04:00; sat,sun 00:00-24:00"`)
	cmd.Flags().StringVar(&timezone, "timezone", "", "IANA time zone of the windows, such as Europe/Zurich (default UTC)")
	limits.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

// groupLimits are the rollout limit flags of group create and update.
type groupLimits struct {
	maxStarts, window, haltPct, haltMin int
}

func (l *groupLimits) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&l.maxStarts, "max-starts", 0, "at most this many members start an update per --start-window minutes (0: no limit)")
	f.IntVar(&l.window, "start-window", 60, "the window of --max-starts, in minutes")
	f.IntVar(&l.haltPct, "halt-failure-pct", 0, "halt an update's rollout when more than this percentage of attempted installs fail (0: never)")
	f.IntVar(&l.haltMin, "halt-min-attempts", 3, "attempts needed before the halt can trigger")
}

func (l *groupLimits) put(cmd *cobra.Command, req map[string]any) {
	for flag, v := range map[string]int{"max-starts": l.maxStarts, "start-window": l.window, "halt-failure-pct": l.haltPct, "halt-min-attempts": l.haltMin} {
		if cmd.Flags().Changed(flag) {
			key := map[string]string{"max-starts": "max_starts", "start-window": "start_window_minutes",
				"halt-failure-pct": "halt_failure_pct", "halt-min-attempts": "halt_min_attempts"}[flag]
			req[key] = v
		}
	}
}

func newGroupListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the groups, rings first",
		Example: `  patchday group list --org acme`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "groups", nil, []string{"name", "ring", "kind", "members", "rule", "windows", "description"},
				func(g apiGroup) []string {
					w := g.Windows
					if w != "" && g.Timezone != "UTC" {
						w += " (" + g.Timezone + ")"
					}
					return []string{g.Name, ringCell(g.Ring), g.kind(), fmt.Sprint(g.Members), g.Rule, w, g.Description}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	return cmd
}

func newGroupShowCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	cmd := &cobra.Command{
		Use:     "show NAME",
		Short:   "Show a group and its computers",
		Example: `  patchday group show --org acme pilot`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			if err := lf.check(); err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, groupPath(org, args[0]), nil, nil, &raw); err != nil {
				return err
			}
			var g apiGroup
			if err := decodeItem(raw, &g); err != nil {
				return err
			}
			items, more, err := c.list(cmd.Context(), groupPath(org, args[0])+"/members", nil, lf.limit)
			if err != nil {
				return err
			}
			if lf.output == outputJSON {
				// The group as the API shows it, with its members.
				var obj map[string]json.RawMessage
				if err := json.Unmarshal(raw, &obj); err != nil {
					return fmt.Errorf("unexpected answer from the server: %w", err)
				}
				list, _ := json.Marshal(items)
				obj["member_list"] = list
				return printJSON(cmd.OutOrStdout(), obj)
			}
			if lf.output == outputTable {
				if err := keyValues(cmd.OutOrStdout(), "name", g.Name, "kind", g.kind(), "rule", g.Rule, "ring", ringCell(g.Ring),
					"windows", g.Windows, "timezone", g.Timezone, "rollout limits", g.limits(), "description", g.Description,
					"members", fmt.Sprint(g.Members)); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
			return printList(cmd, lf, items, more, []string{"id", "hostname", "os", "last check-in"}, func(c apiComputer) []string {
				return []string{fmt.Sprint(c.ID), c.Hostname, c.OSName, timePtrCell(c.LastCheckInAt)}
			})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	return cmd
}

func newGroupUpdateCmd() *cobra.Command {
	var of orgFlag
	var newName, rule, description, windows, timezone string
	var ring int
	var noRing bool
	var limits groupLimits
	cmd := &cobra.Command{
		Use:   "update NAME [--name NEW] [--rule RULE] [--ring N | --no-ring] [--windows W] [--timezone TZ] [--description TEXT]",
		Short: "Change a group's name, rule, ring, windows, limits or description (admins)",
		Long: `Change a group. Only the flags given change.

--name renames the group; its members, approvals, rules, scan schedules and the
enrollment tokens that put new machines in it follow it to the new name.`,
		Example: `  patchday group update --org acme web --rule "os=debian:12,debian:13 hostname=web-*"
  patchday group update --org acme pilot --name canary`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			req := map[string]any{}
			if cmd.Flags().Changed("name") {
				req["name"] = newName
			}
			if cmd.Flags().Changed("rule") {
				req["rule"] = rule
			}
			if cmd.Flags().Changed("description") {
				req["description"] = description
			}
			if cmd.Flags().Changed("ring") {
				req["ring"] = ring
			}
			if noRing {
				req["no_ring"] = true
			}
			if cmd.Flags().Changed("windows") {
				req["windows"] = windows
			}
			if cmd.Flags().Changed("timezone") {
				req["timezone"] = timezone
			}
			limits.put(cmd, req)
			if len(req) == 0 {
				return usageError{fmt.Errorf("give something to change: --name, --rule, --ring, --no-ring, --windows, --timezone, --description or a limit")}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var g apiGroup
			if err := c.do(cmd.Context(), http.MethodPatch, groupPath(org, args[0]), nil, req, &g); err != nil {
				return err
			}
			if g.Name != args[0] {
				fmt.Fprintf(cmd.OutOrStdout(), "Renamed group %s to %s: %d members\n", args[0], g.Name, g.Members)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Updated group %s: %d members\n", g.Name, g.Members)
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringVar(&newName, "name", "", "the group's new name")
	cmd.Flags().StringVar(&rule, "rule", "", "the new rule (dynamic groups only)")
	cmd.Flags().StringVar(&description, "description", "", "the new description")
	cmd.Flags().IntVar(&ring, "ring", 0, "its ring in rollouts")
	cmd.Flags().BoolVar(&noRing, "no-ring", false, "take the group out of the rings")
	cmd.Flags().StringVar(&windows, "windows", "", `weekly maintenance windows ("" for any time)`)
	cmd.Flags().StringVar(&timezone, "timezone", "", "IANA time zone of the windows")
	limits.add(cmd)
	return cmd
}

func newGroupDeleteCmd() *cobra.Command {
	return orgCall{use: "delete NAME", short: "Delete a group with its approvals, auto-approval rules and scan schedules (admins); its computers stay", example: `  patchday group delete --org acme old-pilot`,
		method: http.MethodDelete, path: groupPath, done: "Deleted group %s"}.command()
}

func newGroupMemberCmd(add bool) *cobra.Command {
	var of orgFlag
	use, short, method, verb := "add", "Put computers in a static group (admins)", http.MethodPut, "Added"
	if !add {
		use, short, method, verb = "remove", "Take computers out of a static group (admins)", http.MethodDelete, "Removed"
	}
	cmd := &cobra.Command{
		Use:     use + " GROUP ID|HOSTNAME...",
		Short:   short,
		Example: `  patchday group ` + use + ` --org acme pilot web-01 web-02`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError{fmt.Errorf("%s needs a group and at least one computer", cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			for _, comp := range args[1:] {
				if err := c.do(cmd.Context(), method, groupPath(org, args[0])+"/members/"+url.PathEscape(comp), nil, nil, nil); err != nil {
					return fmt.Errorf("%s: %w", comp, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", verb, comp)
			}
			return nil
		},
	}
	of.add(cmd)
	return cmd
}

func newComputerTagCmd() *cobra.Command {
	var of orgFlag
	cmd := &cobra.Command{
		Use:   "tag ID|HOSTNAME [TAG...]",
		Short: "Set a computer's tags (admins); no tags clears them",
		Long: `Replace a computer's tags with the ones given. Dynamic groups whose rules name tags
(tag=prod) take the computer in or out at once.`,
		Example: `  patchday computer tag --org acme web-01 prod dmz`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageError{fmt.Errorf("%s needs a computer", cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			tags := args[1:]
			if tags == nil {
				tags = []string{}
			}
			var comp struct{ Tags []string }
			if err := c.do(cmd.Context(), http.MethodPut, computerPath(org, args[0])+"/tags", nil, map[string]any{"tags": tags}, &comp); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s tags: %s\n", args[0], strings.Join(comp.Tags, " "))
			return nil
		},
	}
	of.add(cmd)
	return cmd
}

func newReportGroupCmd() *cobra.Command {
	cmd := reportCmd("group NAME", "Compliance of one group's computers",
		`Show the compliance of the computers of one group, as "report compliance" does for the
whole organisation (without the daily history).`,
		`  patchday report group --org acme pilot`, 1,
		func(_ *cobra.Command, args []string) (string, url.Values) {
			return "reports/group", url.Values{"name": {args[0]}}
		},
		showCompliance)
	return cmd
}
