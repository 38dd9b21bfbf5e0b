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

// apiScan is a stored scan as the API shows it.
type apiScan struct {
	ID          int64     `json:"id"`
	Targets     string    `json:"targets"`
	Ports       int       `json:"ports"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	Interrupted bool      `json:"interrupted"`
	OpenPorts   int       `json:"open_ports"`
	Violations  int       `json:"violations"`
	Opened      int       `json:"opened"`
	Closed      int       `json:"closed"`
	UploadedBy  string    `json:"uploaded_by"`
}

// apiScanFinding is one open port of a stored scan.
type apiScanFinding struct {
	Host       string   `json:"host"`
	Port       int      `json:"port"`
	Protocol   string   `json:"protocol"`
	Service    string   `json:"service"`
	Product    string   `json:"product"`
	Version    string   `json:"version"`
	Violation  string   `json:"violation"`
	Change     string   `json:"change"`
	Advisories []string `json:"advisories"`
	Severity   string   `json:"severity"`
}

func newScansCmd() *cobra.Command {
	cmd := groupCmd("scans", "The scans stored on the server (patchday scan --upload, agents' scan schedules)", `  patchday scans list --org acme
  patchday scans show --org acme 12`)
	cmd.AddCommand(newScansListCmd(), newScansShowCmd())
	return cmd
}

func newScansListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the stored scans, in the order they arrived",
		Example: `  patchday scans list --org acme`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "scans", nil,
				[]string{"id", "targets", "ports", "finished", "open", "opened", "closed", "violations", "by"},
				func(s apiScan) []string {
					finished := timeCell(s.FinishedAt)
					if s.Interrupted {
						finished += " (interrupted)"
					}
					return []string{fmt.Sprint(s.ID), s.Targets, fmt.Sprint(s.Ports), finished, fmt.Sprint(s.OpenPorts),
						fmt.Sprint(s.Opened), fmt.Sprint(s.Closed), fmt.Sprint(s.Violations), s.UploadedBy}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	return cmd
}

func newScansShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show a stored scan and its open ports, with the advisories matched to them",
		Example: `  patchday scans show --org acme 12`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/orgs/"+url.PathEscape(org)+"/scans/"+url.PathEscape(args[0]), nil, nil, &raw); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == outputJSON {
				return printJSON(w, raw)
			}
			var s struct {
				apiScan
				Findings []apiScanFinding `json:"findings"`
			}
			if err := decodeItem(raw, &s); err != nil {
				return err
			}
			if err := keyValues(w, "scan", fmt.Sprint(s.ID), "targets", s.Targets, "ports", fmt.Sprintf("%d per target", s.Ports),
				"started", timeCell(s.StartedAt), "finished", timeCell(s.FinishedAt), "interrupted", yesNo(s.Interrupted),
				"open", fmt.Sprintf("%d ports (%d opened, %d closed since the previous scan), %d breaking the policy", s.OpenPorts, s.Opened, s.Closed, s.Violations),
				"uploaded by", s.UploadedBy); err != nil {
				return err
			}
			fmt.Fprintln(w)
			rows := make([][]string, 0, len(s.Findings))
			for _, f := range s.Findings {
				rows = append(rows, []string{f.Host, fmt.Sprintf("%d/%s", f.Port, f.Protocol), strings.TrimSpace(f.Service + " " + f.Product + " " + f.Version),
					strings.Join(f.Advisories, " "), f.Severity, f.Violation, f.Change})
			}
			return writeRows(w, outputTable, []string{"host", "port", "service", "advisories", "severity", "violation", "change"}, rows)
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}
