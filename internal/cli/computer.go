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

type apiEnrollToken struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	Groups    []string   `json:"groups"`
	MaxUses   *int64     `json:"max_uses"`
	Uses      int64      `json:"uses"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Secret    string     `json:"token"`
}

func enrollTokenStatus(t apiEnrollToken, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	case t.MaxUses != nil && t.Uses >= *t.MaxUses:
		return "used up"
	}
	return "active"
}

func newEnrollTokenCmd() *cobra.Command {
	cmd := groupCmd("enroll-token", "Manage the tokens machines enroll with (admins)", `  patchday enroll-token create --org acme office-laptops --expires-in 7d --max-uses 50
  patchday enroll-token list --org acme
  patchday enroll-token revoke --org acme 3`)
	cmd.Long = `Enrollment tokens let machines join an organisation: "patchday-agent enroll --server URL
--token TOKEN" on the machine. A token expires (default 7 days, at most 366), may be limited
to a number of machines, and can be revoked at once. Only its hash is stored.`
	cmd.AddCommand(newEnrollTokenCreateCmd(), newEnrollTokenListCmd(), newEnrollTokenRevokeCmd())
	return cmd
}

func newEnrollTokenCreateCmd() *cobra.Command {
	var of orgFlag
	var expiresIn string
	var maxUses int64
	var groups []string
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an enrollment token; the secret is shown once",
		Long: `Create an enrollment token. NAME says what it is for. --expires-in is its lifetime (such as
12h or 30d; default 7d), --max-uses the number of machines it may enroll (default no limit),
--group the groups machines enrolled with it join (repeatable).

The secret is printed once; with -o json it is the "token" field.`,
		Example: `  patchday enroll-token create --org acme office-laptops --max-uses 50
  TOKEN=$(patchday enroll-token create --org acme ci -o json | jq -r .token)`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			req := map[string]any{"name": args[0]}
			if expiresIn != "" {
				req["expires_in"] = expiresIn
			}
			if cmd.Flags().Changed("max-uses") {
				req["max_uses"] = maxUses
			}
			if len(groups) > 0 {
				req["groups"] = groups
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/orgs/"+url.PathEscape(org)+"/enroll-tokens", nil, req, &raw); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == outputJSON {
				return printJSON(w, raw)
			}
			var t apiEnrollToken
			if err := decodeItem(raw, &t); err != nil {
				return err
			}
			fmt.Fprintf(w, "Created enrollment token %d %q (expires %s)\n", t.ID, t.Name, timeCell(t.ExpiresAt))
			fmt.Fprintf(w, "Token (shown only this once): %s\n", t.Secret)
			fmt.Fprintf(w, "On each machine: patchday-agent enroll --server %s --token %s\n", c.server, t.Secret)
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringVar(&expiresIn, "expires-in", "", "lifetime such as 12h or 30d (at most 366d; default 7d)")
	cmd.Flags().Int64Var(&maxUses, "max-uses", 0, "how many machines may enroll with it (default no limit)")
	cmd.Flags().StringSliceVar(&groups, "group", nil, "a group enrolled machines join (repeatable)")
	addOutputFlag(cmd, &output)
	return cmd
}

func newEnrollTokenListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List an organisation's enrollment tokens",
		Example: `  patchday enroll-token list --org acme`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			return listInOrg(cmd, &of, lf, "enroll-tokens", nil,
				[]string{"id", "name", "prefix", "status", "uses", "max uses", "expires", "groups"}, func(t apiEnrollToken) []string {
					max := "-"
					if t.MaxUses != nil {
						max = strconv.FormatInt(*t.MaxUses, 10)
					}
					return []string{fmt.Sprint(t.ID), t.Name, t.Prefix, enrollTokenStatus(t, now), fmt.Sprint(t.Uses), max,
						timeCell(t.ExpiresAt), strings.Join(t.Groups, ",")}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	return cmd
}

func newEnrollTokenRevokeCmd() *cobra.Command {
	var of orgFlag
	cmd := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke an enrollment token: no machine can enroll with it any more",
		Example: `  patchday enroll-token revoke --org acme 3`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("token ID %q: must be a positive integer (see patchday enroll-token list)", args[0])}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var t apiEnrollToken
			if err := c.do(cmd.Context(), http.MethodDelete, fmt.Sprintf("/api/v1/orgs/%s/enroll-tokens/%d", url.PathEscape(org), id), nil, nil, &t); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked enrollment token %d %q\n", t.ID, t.Name)
			return nil
		},
	}
	of.add(cmd)
	return cmd
}

type apiComputer struct {
	ID            int64           `json:"id"`
	Hostname      string          `json:"hostname"`
	MachineID     string          `json:"machine_id"`
	OSName        string          `json:"os_name"`
	OSID          string          `json:"os_id"`
	OSVersion     string          `json:"os_version"`
	Kernel        string          `json:"kernel"`
	Arch          string          `json:"arch"`
	AgentVersion  string          `json:"agent_version"`
	InventoryHash string          `json:"inventory_hash"`
	Health        json.RawMessage `json:"health"`
	EnrolledAt    time.Time       `json:"enrolled_at"`
	LastCheckInAt *time.Time      `json:"last_checkin_at"`
	RevokedAt     *time.Time      `json:"revoked_at"`
	RevokedBy     string          `json:"revoked_by"`
	Packages      int             `json:"packages"`
	Updates       []struct {
		Update   string     `json:"update"`
		Severity string     `json:"severity"`
		Approved bool       `json:"approved"`
		Deadline *time.Time `json:"deadline"`
		State    string     `json:"state"`
		Error    string     `json:"error"`
	} `json:"updates"`
	Results []struct {
		Update     string    `json:"update"`
		Status     string    `json:"status"`
		ExitCode   int       `json:"exit_code"`
		Error      string    `json:"error"`
		FinishedAt time.Time `json:"finished_at"`
	} `json:"results"`
}

type apiHealth struct {
	RebootRequired bool `json:"reboot_required"`
	Antivirus      []struct {
		Engine           string     `json:"engine"`
		SignatureVersion string     `json:"signature_version"`
		SignatureTime    *time.Time `json:"signature_time"`
	} `json:"antivirus"`
	Firewall struct {
		Enabled      bool   `json:"enabled"`
		DefaultInput string `json:"default_input"`
		Tools        []string
	} `json:"firewall"`
}

func computerState(c apiComputer) string {
	if c.RevokedAt != nil {
		return "revoked"
	}
	return "active"
}

func newComputerCmd() *cobra.Command {
	cmd := groupCmd("computer", "Enrolled computers: inventory, health, assignments", `  patchday computer list --org acme
  patchday computer show --org acme web-01
  patchday computer assign --org acme web-01 openssl-3.0.11-1-deb12u2 --deadline 2026-12-01T18:00:00Z
  patchday computer revoke --org acme web-01`)
	cmd.AddCommand(newComputerListCmd(), newComputerShowCmd(), newComputerInventoryCmd(), newComputerRevokeCmd(), newComputerDeleteCmd(),
		newComputerAssignCmd(), newComputerUnassignCmd(), newComputerTagCmd())
	return cmd
}

func newComputerListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	var q string
	var notSeen int
	var revoked string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List enrolled computers with their last check-in",
		Example: `  patchday computer list --org acme
  patchday computer list --org acme --not-seen-days 7`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := map[string]string{"q": q, "revoked": revoked}
			if notSeen > 0 {
				params["not_seen_days"] = strconv.Itoa(notSeen)
			}
			return listInOrg(cmd, &of, lf, "computers", params,
				[]string{"id", "hostname", "os", "arch", "agent", "last check-in", "state"}, func(c apiComputer) []string {
					return []string{fmt.Sprint(c.ID), c.Hostname, c.OSName, c.Arch, c.AgentVersion, timePtrCell(c.LastCheckInAt), computerState(c)}
				})
		},
	}
	of.add(cmd)
	cmd.Flags().StringVar(&q, "q", "", "text in the host name, OS name or machine id")
	cmd.Flags().IntVar(&notSeen, "not-seen-days", 0, "only computers silent for at least this many days")
	cmd.Flags().StringVar(&revoked, "revoked", "", "true: only revoked computers; false: only active ones")
	addListFlags(cmd, &lf)
	return cmd
}

// computerPath is the API path of a computer given by id or host name.
func computerPath(org, ref string) string {
	return "/api/v1/orgs/" + url.PathEscape(org) + "/computers/" + url.PathEscape(ref)
}

func newComputerShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "show ID|HOSTNAME",
		Short:   "Show a computer: facts, health, last check-in, updates and recent results",
		Example: `  patchday computer show --org acme web-01`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, computerPath(org, args[0]), nil, nil, &raw); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == outputJSON {
				return printJSON(w, raw)
			}
			var comp apiComputer
			if err := decodeItem(raw, &comp); err != nil {
				return err
			}
			var h apiHealth
			json.Unmarshal(comp.Health, &h)
			av := "none found"
			for _, a := range h.Antivirus {
				av = a.Engine + " signatures " + a.SignatureVersion
				if a.SignatureTime != nil {
					av += fmt.Sprintf(" (%d days old)", int(time.Since(*a.SignatureTime).Hours()/24))
				}
			}
			fw := "off"
			if h.Firewall.Enabled {
				fw = "on"
			}
			fw += ", default input " + h.Firewall.DefaultInput
			if err := keyValues(w, "id", fmt.Sprint(comp.ID), "hostname", comp.Hostname, "os", comp.OSName, "kernel", comp.Kernel,
				"arch", comp.Arch, "machine id", comp.MachineID, "agent", comp.AgentVersion, "packages", fmt.Sprint(comp.Packages),
				"enrolled", timeCell(comp.EnrolledAt), "last check-in", timePtrCell(comp.LastCheckInAt), "state", computerState(comp),
				"reboot required", yesNo(h.RebootRequired), "antivirus", av, "firewall", fw); err != nil {
				return err
			}
			if len(comp.Updates) > 0 {
				fmt.Fprintln(w, "\nUPDATES")
				t := newTable(w, "update", "severity", "approved", "deadline", "state", "error")
				for _, u := range comp.Updates {
					t.row(u.Update, u.Severity, yesNo(u.Approved), timePtrCell(u.Deadline), u.State, u.Error)
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			if len(comp.Results) > 0 {
				fmt.Fprintln(w, "\nRECENT RESULTS")
				t := newTable(w, "finished", "update", "status", "exit code", "error")
				for _, r := range comp.Results {
					t.row(timeCell(r.FinishedAt), r.Update, r.Status, fmt.Sprint(r.ExitCode), r.Error)
				}
				return t.flush()
			}
			return nil
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newComputerInventoryCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "inventory ID|HOSTNAME",
		Short:   "List a computer's installed packages",
		Example: `  patchday computer inventory --org acme web-01 | grep openssl`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, computerPath(org, args[0])+"/inventory", nil, nil, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var inv struct {
				Packages []struct{ Name, Version, Arch string }
			}
			if err := json.Unmarshal(raw, &inv); err != nil {
				return err
			}
			t := newTable(cmd.OutOrStdout(), "package", "version", "arch")
			for _, p := range inv.Packages {
				t.row(p.Name, p.Version, p.Arch)
			}
			return t.flush()
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newComputerRevokeCmd() *cobra.Command {
	var of orgFlag
	cmd := &cobra.Command{
		Use:   "revoke ID|HOSTNAME",
		Short: "Revoke a computer's agent credential: the server refuses the agent from then on",
		Long: `Revoke a computer's agent credential. Its agent is refused at its next check-in and logs
why; its history stays. Enrolling the machine again makes a new computer.`,
		Example: `  patchday computer revoke --org acme old-laptop`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var comp apiComputer
			if err := c.do(cmd.Context(), http.MethodPost, computerPath(org, args[0])+"/revoke", nil, nil, &comp); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked computer %d %s\n", comp.ID, comp.Hostname)
			return nil
		},
	}
	of.add(cmd)
	return cmd
}

func newComputerDeleteCmd() *cobra.Command {
	return orgCall{use: "delete ID|HOSTNAME", short: "Delete a revoked computer with its states, history and results (admins)",
		long: `Delete a computer that is gone, or that was enrolled again under a new identity, with
everything recorded of it; the scans it made stay. Revoke it first ("patchday computer
revoke"), so that its agent is refused. With two computers of one host name, give the ID.`,
		example: `  patchday computer delete --org acme 17`, method: http.MethodDelete, path: computerPath,
		done: "Deleted computer %s"}.command()
}

func newComputerAssignCmd() *cobra.Command {
	var of orgFlag
	var deadline string
	cmd := &cobra.Command{
		Use:   "assign ID|HOSTNAME UPDATE",
		Short: "Approve an update for one computer (admins and operators)",
		Long: `Approve an update for one computer. Its agent receives it in its signed assignment list
at its next check-in and installs it inside a maintenance window, or at once when the deadline
(RFC 3339) has passed.

The approval never overrides applicability: on a computer that does not need the update (the
package is not installed or already newer, or a newer update that supersedes it is offered
instead) it is recorded, the computer keeps its state (not_applicable, installed,
superseded) and is not counted as missing the update, and its agent gets the update only
once the computer comes to need it.`,
		Example: `  patchday computer assign --org acme web-01 openssl-3.0.11-1-deb12u2 --deadline 2026-12-01T18:00:00Z`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			req := map[string]any{}
			if deadline != "" {
				t, err := time.Parse(time.RFC3339, deadline)
				if err != nil {
					return usageError{fmt.Errorf("--deadline %q: must be an RFC 3339 time such as 2026-12-01T18:00:00Z", deadline)}
				}
				req["deadline"] = t
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var cu struct {
				State string `json:"state"`
			}
			if err := c.do(cmd.Context(), http.MethodPut, computerPath(org, args[0])+"/assignments/"+url.PathEscape(args[1]), nil, req, &cu); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), assignedMessage(args[1], args[0], cu.State))
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringVar(&deadline, "deadline", "", "install even outside maintenance windows after this time (RFC 3339)")
	return cmd
}

// assignedMessage says what an assignment did: approved for install, or approved where the
// computer does not need the update (state names where it stands).
func assignedMessage(update, computer, state string) string {
	switch state {
	case "approved", "failed":
		return fmt.Sprintf("Assigned %s to %s (state %s)", update, computer, state)
	case "superseded":
		return fmt.Sprintf("Assigned %s to %s: approved, but superseded on %s by a newer update it needs (state %s)", update, computer, computer, state)
	}
	return fmt.Sprintf("Assigned %s to %s: approved, but not needed on %s (state %s)", update, computer, computer, state)
}

func newComputerUnassignCmd() *cobra.Command {
	var of orgFlag
	cmd := &cobra.Command{
		Use:     "unassign ID|HOSTNAME UPDATE",
		Short:   "Withdraw the approval of an update for one computer",
		Example: `  patchday computer unassign --org acme web-01 openssl-3.0.11-1-deb12u2`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, computerPath(org, args[0])+"/assignments/"+url.PathEscape(args[1]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Unassigned %s from %s\n", args[1], args[0])
			return nil
		},
	}
	of.add(cmd)
	return cmd
}
