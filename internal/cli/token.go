package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// tokenStatus is active, expired or revoked.
func tokenStatus(t apiToken, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

func newTokenCmd() *cobra.Command {
	cmd := groupCmd("token", "Manage your API tokens", `  patchday token create ci-runner --expires-in 30d
  patchday token list
  patchday token revoke 12`)
	cmd.Long = `Manage API tokens. A token acts as the user who made it; give it to a script as
$` + envToken + ` (with $` + envServer + `). Only a hash is stored on the server: the secret
is shown once, when the token is made.`
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var expiresIn string
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API token for yourself; the secret is shown once",
		Long: `Create an API token for the logged-in user. NAME says what it is for (at most 100
characters). --expires-in is its lifetime, such as 12h or 30d: at most 366d, default 90d.

The secret is printed once; with -o json it is the "token" field.`,
		Example: `  patchday token create ci-runner --expires-in 30d
  patchday token create backup -o json | jq -r .token`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			req := map[string]string{"name": args[0]}
			if expiresIn != "" {
				req["expires_in"] = expiresIn
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/tokens", nil, req, &raw); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == outputJSON {
				return printJSON(w, raw)
			}
			var t apiToken
			if err := decodeItem(raw, &t); err != nil {
				return err
			}
			fmt.Fprintf(w, "Created token %d %q (expires %s)\n", t.ID, t.Name, timeCell(t.ExpiresAt))
			fmt.Fprintf(w, "Token (shown only this once): %s\n", t.Secret)
			return nil
		},
	}
	cmd.Flags().StringVar(&expiresIn, "expires-in", "", "lifetime such as 12h or 30d (at most 366d; default 90d)")
	addOutputFlag(cmd, &output)
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var all bool
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your API tokens (everyone's with --all, for a site admin)",
		Long: `List API tokens, oldest first, with their status: active, expired or revoked. --all
lists every user's tokens (site admins only). --limit is the number shown in all (default
100, 0 for all); the command pages through the API.`,
		Example: `  patchday token list
  patchday token list --all -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			q := url.Values{}
			if all {
				q.Set("all", "true")
			}
			items, more, err := c.list(cmd.Context(), "/api/v1/tokens", q, lf.limit)
			if err != nil {
				return err
			}
			now := time.Now()
			headers := []string{"id", "name", "prefix", "status", "created", "expires", "last used"}
			if all {
				headers = append(headers, "user id")
			}
			return printList(cmd, lf, items, more, headers, func(t apiToken) []string {
				row := []string{fmt.Sprint(t.ID), t.Name, t.Prefix, tokenStatus(t, now), timeCell(t.CreatedAt), timeCell(t.ExpiresAt), timePtrCell(t.LastUsedAt)}
				if all {
					row = append(row, fmt.Sprint(t.UserID))
				}
				return row
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every user's tokens (site admins)")
	addListFlags(cmd, &lf)
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token (your own; any, for a site admin)",
		Long: `Revoke an API token by its ID (see "patchday token list"). It stops working at once.
To revoke the token of your own login, use "patchday logout".`,
		Example: `  patchday token revoke 12`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("token ID %q: must be a positive integer (see patchday token list)", args[0])}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodDelete, "/api/v1/tokens/"+strconv.FormatInt(id, 10), nil, nil, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var t apiToken
			if err := decodeItem(raw, &t); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked token %d %q\n", t.ID, t.Name)
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}
