package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// apiPayload is a payload as the API shows it.
type apiPayload struct {
	ID         int64  `json:"id"`
	Digest     string `json:"sha256"`
	Size       int64  `json:"size"`
	MediaType  string `json:"media_type"`
	Filename   string `json:"filename"`
	DebPackage string `json:"deb_package"`
	DebVersion string `json:"deb_version"`
	DebArch    string `json:"deb_architecture"`
	URL        string `json:"url"`
}

func newPayloadCmd() *cobra.Command {
	cmd := groupCmd("payload", "Upload and list update payloads", `  patchday payload upload --org acme openssl_3.0.11-1~deb12u2_amd64.deb`)
	cmd.AddCommand(newPayloadUploadCmd(), newPayloadListCmd())
	return cmd
}

func newPayloadUploadCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "upload FILE",
		Short: "Upload a payload (admins and operators)",
		Long: `Upload a file as a payload. The command computes its SHA-256 first and the server checks
the upload against it and its size, so an interrupted or corrupted upload is refused and
nothing partial is kept; uploading again is safe. A Debian package's name, version and
architecture are read by the server. The payload is then served at /payloads/sha256/DIGEST.`,
		Example: `  patchday payload upload --org acme openssl_3.0.11-1~deb12u2_amd64.deb`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			digest, err := sha256File(f)
			if err != nil {
				return err
			}
			q := url.Values{"sha256": {digest}, "filename": {filepath.Base(args[0])}}
			var raw json.RawMessage
			if err := c.upload(cmd.Context(), "/api/v1/orgs/"+url.PathEscape(org)+"/payloads", q, f, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var p apiPayload
			if err := decodeItem(raw, &p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Uploaded %s (%d bytes) sha256:%s\n", args[0], p.Size, p.Digest)
			if p.DebPackage != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Debian package %s %s (%s)\n", p.DebPackage, p.DebVersion, p.DebArch)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "URL: %s%s\n", c.server, p.URL)
			return nil
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newPayloadListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List payloads",
		Example: `  patchday payload list --org acme`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "payloads", nil, []string{"sha256", "size", "filename", "package", "version", "arch"},
				func(p apiPayload) []string {
					return []string{p.Digest[:16] + "...", fmt.Sprint(p.Size), p.Filename, p.DebPackage, p.DebVersion, p.DebArch}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	return cmd
}

// apiUpdate is an update as the API shows it.
type apiUpdate struct {
	ID             int64           `json:"id"`
	Name           string          `json:"name"`
	Title          string          `json:"title"`
	Classification string          `json:"classification"`
	Severity       string          `json:"severity"`
	Installer      string          `json:"installer"`
	PURL           string          `json:"purl"`
	Definition     json.RawMessage `json:"definition"`
	Relations      struct {
		Advisories    []string `json:"advisories"`
		Supersedes    []string `json:"supersedes"`
		Prerequisites []string `json:"prerequisites"`
		SupersededBy  []string `json:"superseded_by"`
	} `json:"relations"`
}

func newUpdateCmd() *cobra.Command {
	cmd := groupCmd("update", "Define and list updates", `  patchday update create --org acme -f openssl-update.yaml
  patchday update list --org acme --advisory DSA-5532-1`)
	cmd.AddCommand(newUpdateCreateCmd(), newUpdateListCmd(), newUpdateShowCmd(), newApprovalListCmd())
	return cmd
}

// yamlToJSON turns a YAML document into JSON, for the API.
func yamlToJSON(b []byte) ([]byte, error) {
	var v any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, err
	}
	return json.Marshal(v)
}

func newUpdateCreateCmd() *cobra.Command {
	var of orgFlag
	var file string
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create an update from a YAML or JSON definition (admins and operators)",
		Long: `Create an update from a definition file (YAML or JSON), for example:

  name: openssl-3.0.11-1-deb12u2
  title: OpenSSL security update for Debian 12
  classification: security          # security, critical, definition or feature
  advisories: [DSA-5532-1]          # tracking ids of the advisories it fixes
  applicability:
    purl: pkg:deb/debian/openssl
    vers: vers:deb/<3.0.11-1~deb12u2 # the affected versions
    os_releases: [debian:12]
    architectures: [amd64]
  supersedes: [openssl-3.0.10-1-deb12u1]
  reboot: never                     # never, maybe or always
  installer:
    type: deb                       # deb (an uploaded .deb), apt or artifact
    payload: 5d41402abc4b2a76...    # SHA-256 from "patchday payload upload"

The server checks it against the catalog: the advisories and superseded updates must exist;
a deb payload must be the package the purl names, its version the one upper bound of the
vers range (<VERSION), and its architecture the only one listed (unless it is "all").`,
		Example: `  patchday update create --org acme -f openssl-update.yaml`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			if err := requireFlag("file", file); err != nil {
				return err
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			body, err := yamlToJSON(b)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/orgs/"+url.PathEscape(org)+"/updates", nil, body, &raw); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var u apiUpdate
			if err := decodeItem(raw, &u); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created update %s (%s, %s, installer %s)\n", u.Name, u.Classification, u.Severity, u.Installer)
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "the definition file (YAML or JSON)")
	addOutputFlag(cmd, &output)
	return cmd
}

func newUpdateListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	var classification, severity, advisory, text string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List updates",
		Example: `  patchday update list --org acme --classification security --advisory DSA-5532-1`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "updates",
				map[string]string{"classification": classification, "severity": severity, "advisory": advisory, "q": text},
				[]string{"name", "classification", "severity", "installer", "package", "title"},
				func(u apiUpdate) []string {
					return []string{u.Name, u.Classification, u.Severity, u.Installer, u.PURL, u.Title}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	cmd.Flags().StringVar(&classification, "classification", "", "security, critical, definition or feature")
	cmd.Flags().StringVar(&severity, "severity", "", "only this severity")
	cmd.Flags().StringVar(&advisory, "advisory", "", "only updates fixing this advisory (tracking id)")
	cmd.Flags().StringVar(&text, "search", "", "text in name, title or package URL")
	return cmd
}

func newUpdateShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "show NAME",
		Short:   "Show an update, its definition and relations",
		Example: `  patchday update show --org acme openssl-3.0.11-1-deb12u2`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/orgs/"+url.PathEscape(org)+"/updates/"+url.PathEscape(args[0]), nil, nil, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var u apiUpdate
			if err := decodeItem(raw, &u); err != nil {
				return err
			}
			var def bytes.Buffer
			json.Indent(&def, u.Definition, "  ", "  ")
			if err := keyValues(cmd.OutOrStdout(), "name", u.Name, "title", u.Title, "classification", u.Classification,
				"severity", u.Severity, "installer", u.Installer, "package", u.PURL,
				"advisories", strings.Join(u.Relations.Advisories, " "), "supersedes", strings.Join(u.Relations.Supersedes, " "),
				"superseded by", strings.Join(u.Relations.SupersededBy, " "), "prerequisites", strings.Join(u.Relations.Prerequisites, " ")); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nDEFINITION\n  %s\n", def.String())
			return nil
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}
