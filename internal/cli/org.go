package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// apiOrg is an organisation as the API shows it.
type apiOrg struct {
	ID        int64     `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

var orgHeaders = []string{"slug", "name", "id", "created"}

func orgRow(o apiOrg) []string {
	return []string{o.Slug, o.Name, fmt.Sprint(o.ID), timeCell(o.CreatedAt)}
}

func newOrgCmd() *cobra.Command {
	cmd := groupCmd("org", "Manage organisations (tenants)", `  patchday org create acme --name "Acme Corp"
  patchday org list`)
	cmd.AddCommand(newOrgCreateCmd(), newOrgListCmd(), newOrgShowCmd())
	return cmd
}

func newOrgCreateCmd() *cobra.Command {
	var name string
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create SLUG",
		Short: "Create an organisation (site admins)",
		Long: `Create an organisation. SLUG is its short name in URLs and commands: 1-64 characters of
a-z, 0-9, '.', '_' or '-'. --name is its display name (default: the slug).`,
		Example: `  patchday org create acme --name "Acme Corp"
  patchday org create acme -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			req := map[string]string{"slug": args[0]}
			if name != "" {
				req["name"] = name
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/orgs", nil, req, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var o apiOrg
			if err := decodeItem(raw, &o); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created organisation %s (%s)\n", o.Slug, o.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name (default: the slug)")
	addOutputFlag(cmd, &output)
	return cmd
}

func newOrgListCmd() *cobra.Command {
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the organisations you belong to (all of them, for a site admin)",
		Long: `List organisations, oldest first: those you belong to, or all for a site admin.
--limit is the number shown in all (default 100, 0 for all); the command pages through the API.`,
		Example: `  patchday org list
  patchday org list --limit 0 -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			items, more, err := c.list(cmd.Context(), "/api/v1/orgs", nil, lf.limit)
			if err != nil {
				return err
			}
			return printList(cmd, lf, items, more, orgHeaders, orgRow)
		},
	}
	addListFlags(cmd, &lf)
	return cmd
}

func newOrgShowCmd() *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "show SLUG",
		Short: "Show one organisation",
		Example: `  patchday org show acme
  patchday org show acme -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/orgs/"+url.PathEscape(args[0]), nil, nil, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var o apiOrg
			if err := decodeItem(raw, &o); err != nil {
				return err
			}
			return keyValues(cmd.OutOrStdout(), "slug", o.Slug, "name", o.Name, "id", fmt.Sprint(o.ID), "created", timeCell(o.CreatedAt))
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}
