package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

func updatePath(org, name string) string {
	return "/api/v1/orgs/" + url.PathEscape(org) + "/updates/" + url.PathEscape(name)
}

// newApproveCmd is "approve" (action install) or "decline".
func newApproveCmd(action string) *cobra.Command {
	var of orgFlag
	var groups []string
	var deadline string
	short := "Approve an update for groups: their computers install it (admins and operators)"
	long := `Approve an update for one or more groups. Their computers that need it receive it in their
signed assignment list at their next check-in and install it inside their group's maintenance
windows, or at once after --deadline (RFC 3339). A decline in any of a computer's groups keeps
the update off that computer; "patchday unapprove" withdraws either.`
	example := `  patchday approve --org acme openssl-3.0.11-1-deb12u2 --group pilot
  patchday approve --org acme openssl-3.0.11-1-deb12u2 --group broad --deadline 2026-12-08T18:00:00Z`
	if action == "decline" {
		short = "Decline an update for groups: their computers do not get it (admins and operators)"
		long = `Decline an update for one or more groups: none of their computers receives it, even when
another of its groups approves it. "patchday unapprove" withdraws the decline.`
		example = `  patchday decline --org acme example-browser-esr-128.5.0 --group kiosks`
	}
	cmd := &cobra.Command{
		Use:     action + " UPDATE --group G [--group G...]",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			if len(groups) == 0 {
				return usageError{fmt.Errorf("--group is required")}
			}
			req := map[string]any{"action": action}
			if deadline != "" {
				t, err := time.Parse(time.RFC3339, deadline)
				if err != nil {
					return usageError{fmt.Errorf("--deadline %q: must be an RFC 3339 time such as 2026-12-08T18:00:00Z", deadline)}
				}
				req["deadline"] = t
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			for _, g := range groups {
				req["group"] = g
				var resp struct {
					Warnings []string `json:"warnings"`
				}
				if err := c.do(cmd.Context(), http.MethodPost, updatePath(org, args[0])+"/approvals", nil, req, &resp); err != nil {
					return fmt.Errorf("group %s: %w", g, err)
				}
				verb := "Approved"
				if action == "decline" {
					verb = "Declined"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s for group %s\n", verb, args[0], g)
				for _, w := range resp.Warnings {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
				}
			}
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringSliceVar(&groups, "group", nil, "a group (repeatable)")
	if action == "install" {
		cmd.Use = "approve UPDATE --group G [--group G...] [--deadline T]"
		cmd.Flags().StringVar(&deadline, "deadline", "", "install even outside maintenance windows after this time (RFC 3339)")
	}
	return cmd
}

func newUnapproveCmd() *cobra.Command {
	var of orgFlag
	var groups []string
	cmd := &cobra.Command{
		Use:     "unapprove UPDATE --group G [--group G...]",
		Short:   "Withdraw the approval or decline of an update for groups (admins and operators)",
		Example: `  patchday unapprove --org acme openssl-3.0.11-1-deb12u2 --group broad`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			if len(groups) == 0 {
				return usageError{fmt.Errorf("--group is required")}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			for _, g := range groups {
				if err := c.do(cmd.Context(), http.MethodDelete, updatePath(org, args[0])+"/approvals/"+url.PathEscape(g), nil, nil, nil); err != nil {
					return fmt.Errorf("group %s: %w", g, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Withdrew the decision on %s for group %s\n", args[0], g)
			}
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringSliceVar(&groups, "group", nil, "a group (repeatable)")
	return cmd
}

func newRolloutCmd() *cobra.Command {
	cmd := groupCmd("rollout", "Where an update stands in each group and ring", `  patchday rollout status --org acme openssl-3.0.11-1-deb12u2`)
	cmd.AddCommand(newRolloutStatusCmd(), newRolloutHaltCmd(false), newRolloutHaltCmd(true))
	return cmd
}

func newRolloutStatusCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "status UPDATE",
		Short: "Per group, rings first: approval, members, needed, approved, installed, pending reboot, failed",
		Example: `  patchday rollout status --org acme openssl-3.0.11-1-deb12u2
  patchday rollout status --org acme openssl-3.0.11-1-deb12u2 -o csv`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, updatePath(org, args[0])+"/rollout", nil, nil, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var r struct {
				Groups []struct {
					Group         string     `json:"group"`
					Ring          *int       `json:"ring"`
					Approval      string     `json:"approval"`
					Deadline      *time.Time `json:"deadline"`
					Members       int        `json:"members"`
					Needed        int        `json:"needed"`
					Approved      int        `json:"approved"`
					Installed     int        `json:"installed"`
					PendingReboot int        `json:"pending_reboot"`
					Failed        int        `json:"failed"`
					HaltReason    string     `json:"halt_reason"`
				} `json:"groups"`
			}
			if err := decodeItem(raw, &r); err != nil {
				return err
			}
			var rows [][]string
			for _, g := range r.Groups {
				rows = append(rows, []string{g.Group, ringCell(g.Ring), g.Approval, timePtrCell(g.Deadline), fmt.Sprint(g.Members),
					fmt.Sprint(g.Needed), fmt.Sprint(g.Approved), fmt.Sprint(g.Installed), fmt.Sprint(g.PendingReboot), fmt.Sprint(g.Failed), g.HaltReason})
			}
			return writeRows(cmd.OutOrStdout(), output, []string{"group", "ring", "approval", "deadline", "members", "needed",
				"approved", "installed", "pending reboot", "failed", "halted"}, rows)
		},
	}
	of.add(cmd)
	addOutputFlagCSV(cmd, &output)
	return cmd
}

func newApprovalListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	cmd := &cobra.Command{
		Use:     "approvals UPDATE",
		Short:   "List an update's approvals and declines, by group",
		Example: `  patchday update approvals --org acme openssl-3.0.11-1-deb12u2`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "updates/"+url.PathEscape(args[0])+"/approvals", nil,
				[]string{"group", "action", "deadline", "by", "when"}, func(a struct {
					Group     string     `json:"group"`
					Action    string     `json:"action"`
					Deadline  *time.Time `json:"deadline"`
					CreatedBy string     `json:"created_by"`
					CreatedAt time.Time  `json:"created_at"`
				}) []string {
					return []string{a.Group, a.Action, timePtrCell(a.Deadline), a.CreatedBy, timeCell(a.CreatedAt)}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	return cmd
}

func newRolloutHaltCmd(resume bool) *cobra.Command {
	var of orgFlag
	var groups []string
	var reason string
	use, short, suffix, done := "halt", "Halt an update's rollout in groups by hand (admins and operators)", "/halt", "Halted"
	if resume {
		use, short, suffix, done = "resume", "Resume an update's halted rollout in groups (admins and operators)", "/resume", "Resumed"
	}
	cmd := &cobra.Command{
		Use:     use + " UPDATE --group G [--group G...]",
		Short:   short,
		Example: `  patchday rollout ` + use + ` --org acme openssl-3.0.11-1-deb12u2 --group broad`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			if len(groups) == 0 {
				return usageError{fmt.Errorf("--group is required")}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			for _, g := range groups {
				var body any
				if !resume {
					body = map[string]any{"reason": reason}
				}
				if err := c.do(cmd.Context(), http.MethodPost, updatePath(org, args[0])+"/approvals/"+url.PathEscape(g)+suffix, nil, body, nil); err != nil {
					return fmt.Errorf("group %s: %w", g, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s in group %s\n", done, args[0], g)
			}
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringSliceVar(&groups, "group", nil, "a group (repeatable)")
	if !resume {
		cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	}
	return cmd
}

func newRuleCmd() *cobra.Command {
	cmd := groupCmd("rule", "Auto-approval rules", `  patchday rule create --org acme pilot-security --group pilot --classification security
  patchday rule create --org acme broad-after-pilot --group broad --after-ring-pct 95 --deadline-days 7
  patchday rule list --org acme`)
	cmd.Long = `An auto-approval rule approves updates for a group by itself: those of a classification
(--classification), at least a severity (--min-severity), a package (--package, a package
URL or its start) or an advisory (--advisory), each when given, --delay-days after they
arrived, and, with --after-ring-pct, only once the ring before the group's (the group of
ring N-1) has the update approved, not halted, and installed on at least that percentage of
its machines that needed it: rings advance only on success. Rules run every minute and
whenever an update arrives; what they approve is audited as rule:NAME. "rule preview" shows
what they would approve now, changing nothing; "rule run" runs them at once.`
	cmd.AddCommand(newRuleCreateCmd(), newRuleListCmd(), newRuleDeleteCmd(), newRuleEnableCmd(false), newRuleEnableCmd(true),
		newRuleRunCmd(true), newRuleRunCmd(false))
	return cmd
}

func newRuleCreateCmd() *cobra.Command {
	var of orgFlag
	var group, classification, minSeverity, purl, advisory string
	var delay, afterPct, deadline int
	cmd := &cobra.Command{
		Use:     "create NAME --group G [--classification C] [--min-severity S] [--package PURL] [--advisory ID] [--delay-days N] [--after-ring-pct P] [--deadline-days D]",
		Short:   "Create an auto-approval rule (admins)",
		Example: `  patchday rule create --org acme broad-after-pilot --group broad --after-ring-pct 95`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			if err := requireFlag("group", group); err != nil {
				return err
			}
			req := map[string]any{"name": args[0], "group": group, "classification": classification, "min_severity": minSeverity,
				"purl_prefix": purl, "advisory": advisory, "delay_days": delay, "after_ring_pct": afterPct}
			if cmd.Flags().Changed("deadline-days") {
				req["deadline_days"] = deadline
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/orgs/"+url.PathEscape(org)+"/rules", nil, req, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created rule %s for group %s\n", args[0], group)
			return nil
		},
	}
	of.add(cmd)
	f := cmd.Flags()
	f.StringVar(&group, "group", "", "the group it approves for")
	f.StringVar(&classification, "classification", "", "only updates of this classification: security, critical, definition or feature")
	f.StringVar(&minSeverity, "min-severity", "", "only updates of at least this severity: critical, high, medium or low")
	f.StringVar(&purl, "package", "", "only updates of this package URL or below it, such as pkg:deb/debian/openssl")
	f.StringVar(&advisory, "advisory", "", "only updates that fix this advisory (tracking id)")
	f.IntVar(&delay, "delay-days", 0, "days to wait after the update arrived")
	f.IntVar(&afterPct, "after-ring-pct", 0, "wait until the ring before installed it on this percentage of its machines that needed it")
	f.IntVar(&deadline, "deadline-days", 0, "give the approval a deadline this many days after it is made")
	return cmd
}

func newRuleListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the auto-approval rules",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "rules", nil, []string{"name", "group", "classification", "min severity", "delay days",
				"after ring %", "deadline days", "state"}, func(r struct {
				Name           string `json:"name"`
				Group          string `json:"group"`
				Classification string `json:"classification"`
				MinSeverity    string `json:"min_severity"`
				DelayDays      int    `json:"delay_days"`
				AfterRingPct   int    `json:"after_ring_pct"`
				DeadlineDays   *int   `json:"deadline_days"`
				Enabled        bool   `json:"enabled"`
				DisabledBy     string `json:"disabled_by"`
			}) []string {
				d := ""
				if r.DeadlineDays != nil {
					d = fmt.Sprint(*r.DeadlineDays)
				}
				state := "enabled"
				if !r.Enabled {
					state = "disabled by " + r.DisabledBy
				}
				return []string{r.Name, r.Group, r.Classification, r.MinSeverity, fmt.Sprint(r.DelayDays), fmt.Sprint(r.AfterRingPct), d, state}
			})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	return cmd
}

func newRuleDeleteCmd() *cobra.Command {
	return orgCall{use: "delete NAME", short: "Delete an auto-approval rule (admins); its approvals stay", method: http.MethodDelete,
		path: func(org, name string) string {
			return "/api/v1/orgs/" + url.PathEscape(org) + "/rules/" + url.PathEscape(name)
		},
		done: "Deleted rule %s"}.command()
}

// newRuleRunCmd makes "rule preview" (preview true) or "rule run".
func newRuleRunCmd(preview bool) *cobra.Command {
	var of orgFlag
	var output outputFormat
	use, short, method, suffix := "run", "Run the auto-approval rules now (admins)", http.MethodPost, "/rules/run"
	if preview {
		use, short, method, suffix = "preview", "What the auto-approval rules would approve now, changing nothing (admins and operators)",
			http.MethodGet, "/rules/preview"
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: "  patchday rule " + use + " --org acme",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var resp struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := c.do(cmd.Context(), method, "/api/v1/orgs/"+url.PathEscape(org)+suffix, nil, nil, &resp); err != nil {
				return err
			}
			if len(resp.Items) == 0 && output == outputTable {
				if preview {
					fmt.Fprintln(cmd.OutOrStdout(), "The rules would approve nothing now.")
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), "The rules approved nothing.")
				}
				return nil
			}
			return printList(cmd, listFlags{output: output}, resp.Items, false, []string{"rule", "update", "group"},
				func(a struct{ Rule, Update, Group string }) []string { return []string{a.Rule, a.Update, a.Group} })
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

// newRuleEnableCmd makes "rule enable" (enable true) or "rule disable".
func newRuleEnableCmd(enable bool) *cobra.Command {
	use, short, done := "disable", "Disable an auto-approval rule (admins): it stays, and approves nothing until enabled", "Disabled"
	if enable {
		use, short, done = "enable", "Enable a disabled auto-approval rule (admins)", "Enabled"
	}
	return orgCall{use: use + " NAME", short: short, example: "  patchday rule " + use + " --org acme broad-after-pilot",
		method: http.MethodPost, done: done + " rule %s",
		path: func(org, name string) string {
			return "/api/v1/orgs/" + url.PathEscape(org) + "/rules/" + url.PathEscape(name) + "/" + use
		}}.command()
}
