package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// apiProduct is a product as the API shows it.
type apiProduct struct {
	ID            int64  `json:"id"`
	Vendor        string `json:"vendor"`
	Name          string `json:"name"`
	VersionLine   string `json:"version_line"`
	CPE           string `json:"cpe"`
	PURL          string `json:"purl"`
	ReleasedOn    string `json:"released_on"`
	MainstreamEnd string `json:"mainstream_end"`
	ExtendedEnd   string `json:"extended_end"`
	SupportEnded  string `json:"support_ended"` // in the end-of-support report
	DaysSince     int    `json:"days_since"`    // in the end-of-support report
}

var productHeaders = []string{"id", "vendor", "name", "version", "mainstream end", "extended end", "identifier"}

func productRow(p apiProduct) []string {
	id := p.CPE
	if id == "" {
		id = p.PURL
	}
	return []string{fmt.Sprint(p.ID), p.Vendor, p.Name, p.VersionLine, p.MainstreamEnd, p.ExtendedEnd, id}
}

// productFlags are the settable fields of a product, as flags.
type productFlags struct {
	fields map[string]*string
}

var productFieldFlags = []struct{ flag, field, help string }{
	{"vendor", "vendor", "vendor, e.g. Microsoft"},
	{"name", "name", "product name, e.g. SQL Server"},
	{"version-line", "version_line", "version line, e.g. 2019 or 3.0"},
	{"cpe", "cpe", "CPE 2.3 formatted string, e.g. cpe:2.3:a:microsoft:sql_server:2019:*:*:*:*:*:*:*"},
	{"purl", "purl", "package URL, e.g. pkg:deb/debian/openssl"},
	{"released", "released_on", "release date, YYYY-MM-DD"},
	{"mainstream-end", "mainstream_end", "end of mainstream support, YYYY-MM-DD"},
	{"extended-end", "extended_end", "end of extended support, YYYY-MM-DD"},
}

func (f *productFlags) add(cmd *cobra.Command) {
	f.fields = map[string]*string{}
	for _, pf := range productFieldFlags {
		f.fields[pf.flag] = cmd.Flags().String(pf.flag, "", pf.help)
	}
}

// body is the request body: the flags given on the command line (an empty value clears).
func (f *productFlags) body(cmd *cobra.Command) map[string]string {
	b := map[string]string{}
	for _, pf := range productFieldFlags {
		if cmd.Flags().Changed(pf.flag) {
			b[pf.field] = *f.fields[pf.flag]
		}
	}
	return b
}

func newProductCmd() *cobra.Command {
	cmd := groupCmd("product", "Manage the products advisories and updates are about", `  patchday product create --org acme --vendor OpenSSL --name OpenSSL --version-line 3.0 \
      --purl pkg:deb/debian/openssl --mainstream-end 2026-09-07
  patchday product list --org acme --ended-by 2027-01-01`)
	cmd.AddCommand(newProductCreateCmd(), newProductUpdateCmd(), newProductListCmd(), newProductShowCmd())
	return cmd
}

func productsPath(org string) string { return "/api/v1/orgs/" + url.PathEscape(org) + "/products" }

// showProduct prints one product (or its JSON).
func showProduct(cmd *cobra.Command, output outputFormat, raw json.RawMessage, verb string) error {
	if output == outputJSON {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var p apiProduct
	if err := decodeItem(raw, &p); err != nil {
		return err
	}
	if verb != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "%s product %d: %s %s %s\n", verb, p.ID, p.Vendor, p.Name, p.VersionLine)
		return nil
	}
	return keyValues(cmd.OutOrStdout(), "id", fmt.Sprint(p.ID), "vendor", p.Vendor, "name", p.Name,
		"version line", p.VersionLine, "cpe", p.CPE, "purl", p.PURL, "released", p.ReleasedOn,
		"mainstream end", p.MainstreamEnd, "extended end", p.ExtendedEnd)
}

func newProductCreateCmd() *cobra.Command {
	var of orgFlag
	var pf productFlags
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create --vendor V --name N [flags]",
		Short: "Create a product (admins and operators)",
		Example: `  patchday product create --org acme --vendor Microsoft --name "SQL Server" --version-line 2000 \
      --cpe "cpe:2.3:a:microsoft:sql_server:2000:*:*:*:*:*:*:*" --mainstream-end 2008-04-08 --extended-end 2013-04-09`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			b := pf.body(cmd)
			if err := requireFlag("vendor", b["vendor"]); err != nil {
				return err
			}
			if err := requireFlag("name", b["name"]); err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, productsPath(org), nil, b, &raw); err != nil {
				return err
			}
			return showProduct(cmd, output, raw, "Created")
		},
	}
	of.add(cmd)
	pf.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newProductUpdateCmd() *cobra.Command {
	var of orgFlag
	var pf productFlags
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a product: only the flags given change; an empty value clears a field",
		Example: `  patchday product update 3 --org acme --extended-end 2028-09-07
  patchday product update 3 --org acme --purl ""`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			b := pf.body(cmd)
			if len(b) == 0 {
				return usageError{fmt.Errorf("nothing to change: give at least one of the field flags (see %s --help)", cmd.CommandPath())}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPatch, productsPath(org)+"/"+url.PathEscape(args[0]), nil, b, &raw); err != nil {
				return err
			}
			return showProduct(cmd, output, raw, "Updated")
		},
	}
	of.add(cmd)
	pf.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newProductListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	var vendor, text, endedBy string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List products",
		Long: `List the organisation's products, oldest first. --vendor matches the vendor exactly (any
case), --search finds text in vendor, name, version line, CPE or purl, --ended-by keeps the
products whose support (extended, else mainstream) ended before that date.`,
		Example: `  patchday product list --org acme --vendor microsoft
  patchday product list --org acme --ended-by 2027-01-01 -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "products", map[string]string{"vendor": vendor, "q": text, "ended_by": endedBy},
				productHeaders, productRow)
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	cmd.Flags().StringVar(&vendor, "vendor", "", "only this vendor")
	cmd.Flags().StringVar(&text, "search", "", "only products containing this text")
	cmd.Flags().StringVar(&endedBy, "ended-by", "", "only products whose support ended before this date (YYYY-MM-DD)")
	return cmd
}

func newProductShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one product",
		Example: `  patchday product show 3 --org acme`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, productsPath(org)+"/"+url.PathEscape(args[0]), nil, nil, &raw); err != nil {
				return err
			}
			return showProduct(cmd, output, raw, "")
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newReportCmd() *cobra.Command {
	cmd := groupCmd("report", "Reports on the fleet and the catalog", `  patchday report compliance --org acme
  patchday report advisory --org acme DSA-5532-1
  patchday report cve --org acme CVE-2023-5678 -o csv
  patchday report computer --org acme web-01
  patchday report group --org acme pilot
  patchday report end-of-support --org acme`)
	cmd.AddCommand(newReportEndOfSupportCmd(), newReportComplianceCmd(), newReportAdvisoryCmd(), newReportCVECmd(), newReportComputerCmd(), newReportGroupCmd(), newReportExposureCmd(), newReportMissingCmd())
	return cmd
}

func newReportEndOfSupportCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	var on string
	cmd := &cobra.Command{
		Use:   "end-of-support",
		Short: "Products whose support (extended, else mainstream) has ended",
		Long: `List the products whose last support date (extended support when they have it, else
mainstream support) is before --on (default: today, UTC), with the days since.`,
		Example: `  patchday report end-of-support --org acme
  patchday report end-of-support --org acme --on 2027-01-01 -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "reports/end-of-support", map[string]string{"on": on},
				[]string{"id", "vendor", "name", "version", "support ended", "days since"},
				func(p apiProduct) []string {
					return []string{fmt.Sprint(p.ID), p.Vendor, p.Name, p.VersionLine, p.SupportEnded, fmt.Sprint(p.DaysSince)}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	cmd.Flags().StringVar(&on, "on", "", "judge support on this date, YYYY-MM-DD (default today)")
	return cmd
}
