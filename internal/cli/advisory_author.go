package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchday/patchday/internal/csaf"
)

// importDocument sends a CSAF document to the server and prints the outcome as import does.
func importDocument(cmd *cobra.Command, c *client, org, name string, doc []byte, output outputFormat) error {
	var raw json.RawMessage
	if err := c.do(cmd.Context(), http.MethodPost, advisoriesPath(org), nil, doc, &raw); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && len(ae.Findings) > 0 {
			for _, f := range ae.Findings {
				fmt.Fprintf(cmd.ErrOrStderr(), "  %s %s at %s\n", f.Test, f.Message, f.Path)
			}
			return fmt.Errorf("%s: the server refused the document", name)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	if output == outputJSON {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var res struct {
		Advisory apiAdvisory `json:"advisory"`
		Revision struct {
			Revision int `json:"revision"`
		} `json:"revision"`
	}
	if err := decodeItem(raw, &res); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: advisory %d, version %s (revision %d)\n", res.Advisory.TrackingID, res.Advisory.ID,
		res.Advisory.Version, res.Revision.Revision)
	return nil
}

func readForm(file string) (csaf.Form, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return csaf.Form{}, err
	}
	f, err := csaf.ParseForm(b)
	if err != nil {
		return csaf.Form{}, fmt.Errorf("%s: %w", file, err)
	}
	return f, nil
}

func newAdvisoryCreateCmd() *cobra.Command {
	var of orgFlag
	var file string
	var print bool
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create -f FORM.yaml",
		Short: "Write an advisory as a short YAML form; patchday makes the CSAF 2.0 document",
		Long: `Create an advisory from a short YAML form: title, publisher, severity, CVEs with CVSS v3.1
vectors, affected products and fixed versions, summary, mitigating factors, workarounds, FAQ
and references. patchday turns it into a CSAF 2.0 document that passes the schema and every
mandatory test (scores computed from the vectors) and imports it. --print writes the
document to standard output instead of importing it.

The documented example form is internal/csaf/testdata/advisory.yaml in the source tree.`,
		Example: `  patchday advisory create --org acme -f exs-2026-0042.yaml
  patchday advisory create -f exs-2026-0042.yaml --print > exs-2026-0042.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("file", file); err != nil {
				return err
			}
			form, err := readForm(file)
			if err != nil {
				return err
			}
			doc, err := form.Build(time.Now().UTC())
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if print {
				_, err := cmd.OutOrStdout().Write(doc)
				return err
			}
			org, c, err := of.client()
			if err != nil {
				return err
			}
			return importDocument(cmd, c, org, file, doc, output)
		},
	}
	of.add(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "the advisory form (YAML)")
	cmd.Flags().BoolVar(&print, "print", false, "write the CSAF document to standard output instead of importing it")
	addOutputFlag(cmd, &output)
	return cmd
}

func newAdvisoryEditCmd() *cobra.Command {
	var of orgFlag
	var file, summary string
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "edit ID|TRACKING-ID -f FORM.yaml --summary TEXT",
		Short: "Publish a new revision of an advisory from its edited form",
		Long: `Make the next revision of an advisory: the content comes from the edited form, the
tracking id, initial release date and revision history from the published document. The
version goes up by one (integer versioning); with semantic versioning the major version goes
up when the products or the vulnerabilities' CVEs or product status change, else the minor
version. The revision history gets an entry with --summary. Every earlier revision stays readable
with "patchday advisory export --revision N".`,
		Example: `  patchday advisory edit --org acme EXS-2026-0042 -f exs-2026-0042.yaml --summary "Added a workaround."`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("file", file); err != nil {
				return err
			}
			if err := requireFlag("summary", summary); err != nil {
				return err
			}
			org, err := of.get()
			if err != nil {
				return err
			}
			form, err := readForm(file)
			if err != nil {
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
			var prev []byte
			if err := c.do(cmd.Context(), http.MethodGet, fmt.Sprintf("%s/%d/csaf", advisoriesPath(org), id), nil, nil, &prev); err != nil {
				return err
			}
			doc, err := csaf.ReviseWithForm(prev, form, summary, time.Now().UTC())
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			return importDocument(cmd, c, org, file, doc, output)
		},
	}
	of.add(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "the edited advisory form (YAML)")
	cmd.Flags().StringVar(&summary, "summary", "", "what changed, for the revision history")
	addOutputFlag(cmd, &output)
	return cmd
}
