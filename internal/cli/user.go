package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

var userHeaders = []string{"username", "role", "name", "email", "site admin", "disabled", "created"}

func userRow(u apiUser) []string {
	return []string{u.Username, u.Role, u.DisplayName, u.Email, yesNo(u.SiteAdmin), yesNo(u.Disabled), timeCell(u.CreatedAt)}
}

func showUser(cmd *cobra.Command, org string, u apiUser) error {
	return keyValues(cmd.OutOrStdout(),
		"username", u.Username,
		"org", org,
		"role", u.Role,
		"display name", u.DisplayName,
		"email", u.Email,
		"site admin", yesNo(u.SiteAdmin),
		"disabled", yesNo(u.Disabled),
		"id", fmt.Sprint(u.ID),
		"created", timeCell(u.CreatedAt),
		"updated", timeCell(u.UpdatedAt),
	)
}

func usersPath(org string) string { return "/api/v1/orgs/" + url.PathEscape(org) + "/users" }

func userPath(org, user string) string { return usersPath(org) + "/" + url.PathEscape(user) }

func newUserCmd() *cobra.Command {
	cmd := groupCmd("user", "Manage an organisation's users and their roles", `  patchday user create alice --org acme --role operator
  patchday user list --org acme
  PATCHDAY_ORG=acme patchday user set-role alice admin`)
	cmd.Long = `Manage an organisation's users. Roles are admin, operator (approve, deploy), viewer and
partner (reads embargoed advisories). --org defaults to $` + envOrg + `.`
	cmd.AddCommand(newUserCreateCmd(), newUserListCmd(), newUserShowCmd(), newUserSetRoleCmd(), newUserRemoveCmd(),
		newUserResetPasswordCmd(), newUserDisableCmd(true), newUserDisableCmd(false))
	return cmd
}

func newUserCreateCmd() *cobra.Command {
	var org orgFlag
	var role, email, displayName string
	var passwordStdin bool
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create USERNAME --org ORG --role ROLE",
		Short: "Create a user with a role in an organisation (org admins)",
		Long: `Create a user with a role in an organisation. USERNAME is 1-64 characters of a-z, 0-9,
'.', '_' or '-'.

With --password-stdin the password is the first line of standard input (at least 12
characters). Without it the server generates one, which is printed this once: hand it to
the user, who must change it ("patchday passwd", or the console) before anything else.`,
		Example: `  patchday user create alice --org acme --role operator --email alice@example.org
  printf '%s\n' "$PASSWORD" | patchday user create ci --org acme --role viewer --password-stdin
  patchday user create bob --org acme --role viewer -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			slug, err := org.get()
			if err != nil {
				return err
			}
			if err := requireFlag("role", role); err != nil {
				return err
			}
			req := map[string]string{"username": args[0], "role": role}
			if email != "" {
				req["email"] = email
			}
			if displayName != "" {
				req["display_name"] = displayName
			}
			if passwordStdin {
				pw, err := stdinPassword(cmd)
				if err != nil {
					return err
				}
				req["password"] = pw
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, usersPath(slug), nil, req, &raw); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == outputJSON {
				return printJSON(w, raw)
			}
			var u struct {
				apiUser
				Password string `json:"password"`
			}
			if err := decodeItem(raw, &u); err != nil {
				return err
			}
			fmt.Fprintf(w, "Created user %s in %s with role %s\n", u.Username, slug, u.Role)
			if u.Password != "" {
				fmt.Fprintf(w, "Generated password (shown only this once): %s\n", u.Password)
			}
			return nil
		},
	}
	org.add(cmd)
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "role in the organisation: admin, operator, viewer or partner (required)")
	f.StringVar(&email, "email", "", "e-mail address")
	f.StringVar(&displayName, "display-name", "", "full name")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input instead of having one generated")
	addOutputFlag(cmd, &output)
	return cmd
}

func newUserListCmd() *cobra.Command {
	var org orgFlag
	var role string
	var all bool
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list (--org ORG | --all)",
		Short: "List an organisation's users, or with --all every account (site admins)",
		Long: `List an organisation's users and their roles, or with --all every account of the server,
in any organisation or none (site admins). --limit is the number shown in all (default 100,
0 for all); the command pages through the API.`,
		Example: `  patchday user list --org acme
  patchday user list --org acme --role admin -o json
  patchday user list --all`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			if all {
				if org.slug != "" || role != "" {
					return usageError{errors.New("--all lists every account: it takes no --org or --role")}
				}
				c, err := loggedInClient()
				if err != nil {
					return err
				}
				items, more, err := c.list(cmd.Context(), "/api/v1/users", nil, lf.limit)
				if err != nil {
					return err
				}
				return printList(cmd, lf, items, more, []string{"username", "name", "email", "site admin", "disabled", "created"},
					func(u apiUser) []string {
						return []string{u.Username, u.DisplayName, u.Email, yesNo(u.SiteAdmin), yesNo(u.Disabled), timeCell(u.CreatedAt)}
					})
			}
			slug, err := org.get()
			if err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			q := url.Values{}
			if role != "" {
				q.Set("role", role)
			}
			items, more, err := c.list(cmd.Context(), usersPath(slug), q, lf.limit)
			if err != nil {
				return err
			}
			return printList(cmd, lf, items, more, userHeaders, userRow)
		},
	}
	org.add(cmd)
	cmd.Flags().StringVar(&role, "role", "", "only users with this role")
	cmd.Flags().BoolVar(&all, "all", false, "every account of the server (site admins)")
	addListFlags(cmd, &lf)
	return cmd
}

func newUserShowCmd() *cobra.Command {
	var org orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "show USERNAME --org ORG",
		Short: "Show one user of an organisation",
		Example: `  patchday user show alice --org acme
  patchday user show alice --org acme -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			slug, err := org.get()
			if err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, userPath(slug, args[0]), nil, nil, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var u apiUser
			if err := decodeItem(raw, &u); err != nil {
				return err
			}
			return showUser(cmd, slug, u)
		},
	}
	org.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newUserSetRoleCmd() *cobra.Command {
	var org orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "set-role USERNAME ROLE --org ORG",
		Short: "Set a user's role in an organisation (org admins)",
		Long: `Set a member's role: admin, operator, viewer or partner. The last admin of an
organisation cannot be demoted. A site admin may also add any existing user to the
organisation this way.`,
		Example: `  patchday user set-role alice admin --org acme
  patchday user set-role alice viewer --org acme -o json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			slug, err := org.get()
			if err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			err = c.do(cmd.Context(), http.MethodPut, userPath(slug, args[0])+"/role", nil, map[string]string{"role": args[1]}, &raw)
			if err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var u apiUser
			if err := decodeItem(raw, &u); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is now %s in %s\n", u.Username, u.Role, slug)
			return nil
		},
	}
	org.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newUserRemoveCmd() *cobra.Command {
	var org orgFlag
	cmd := &cobra.Command{
		Use:   "remove USERNAME --org ORG",
		Short: "Remove a user from an organisation (org admins)",
		Long: `Remove a user's membership of an organisation. The account itself stays (it may belong
to other organisations). The last admin of an organisation cannot be removed.`,
		Example: `  patchday user remove alice --org acme`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			slug, err := org.get()
			if err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, userPath(slug, args[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %s from %s\n", args[0], slug)
			return nil
		},
	}
	org.add(cmd)
	return cmd
}

func newUserResetPasswordCmd() *cobra.Command {
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "reset-password USERNAME [--password-stdin]",
		Short: "Give a user a new password (site admins); their sessions and tokens end",
		Long: `Give a user a new password, for someone who forgot theirs or whose password leaked. Without
--password-stdin the server generates one, printed this once: hand it to the user, who
should change it with "patchday passwd". Every session and API token of the user ends.`,
		Example: `  patchday user reset-password alice
  printf '%s\n' "$PASSWORD" | patchday user reset-password ci --password-stdin`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := map[string]string{}
			if passwordStdin {
				pw, err := stdinPassword(cmd)
				if err != nil {
					return err
				}
				req["password"] = pw
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var out struct {
				Password      string `json:"password"`
				TokensRevoked int64  `json:"tokens_revoked"`
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/users/"+url.PathEscape(args[0])+"/password", nil, req, &out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "New password set for %s; %d session(s) and token(s) ended\n", args[0], out.TokensRevoked)
			if out.Password != "" {
				fmt.Fprintf(w, "Generated password (shown only this once): %s\n", out.Password)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input instead of having one generated")
	return cmd
}

// newUserDisableCmd makes "user disable" (or, with disable false, "user enable").
func newUserDisableCmd(disable bool) *cobra.Command {
	use, short, done := "disable", "Disable an account (site admins): no login and no token of it works", "Disabled"
	long := `Disable an account, for someone who left: the user can no longer log in, and every session
and API token of theirs ends at once. The account, its memberships and its history stay;
"patchday user enable" lets it log in again (with new sessions). You cannot disable your own
account, nor the last site administrator.`
	if !disable {
		use, short, done = "enable", "Enable a disabled account again (site admins)", "Enabled"
		long = `Let a disabled account log in again. Its earlier sessions and tokens stay ended.`
	}
	return &cobra.Command{
		Use:     use + " USERNAME",
		Short:   short,
		Long:    long,
		Example: "  patchday user " + use + " alice",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/users/"+url.PathEscape(args[0])+"/"+use, nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", done, args[0])
			return nil
		},
	}
}

// stdinPassword reads a password from the first line of standard input (--password-stdin).
func stdinPassword(cmd *cobra.Command) (string, error) {
	pw, err := readLine(cmd.InOrStdin())
	if err != nil {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	if pw == "" {
		return "", usageError{errors.New("--password-stdin: standard input is empty")}
	}
	return pw, nil
}
