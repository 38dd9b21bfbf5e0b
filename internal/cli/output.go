package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
)

// outputFormat is the value of -o/--output: table for people, json for programs.
type outputFormat string

const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
	outputCSV   outputFormat = "csv" // lists and reports only
)

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Type() string   { return "format" }

// Set refuses anything but table and json; the flag parser turns the error into a usage error.
func (o *outputFormat) Set(v string) error {
	switch outputFormat(v) {
	case outputTable, outputJSON:
		*o = outputFormat(v)
		return nil
	}
	return fmt.Errorf("must be table or json")
}

// addOutputFlag adds -o/--output to a command.
func addOutputFlag(cmd *cobra.Command, o *outputFormat) {
	*o = outputTable
	cmd.Flags().VarP(o, "output", "o", "output format: table or json")
}

// csvCapable is the -o flag of lists and reports, which may also be CSV.
type csvCapable struct{ *outputFormat }

func (c csvCapable) Set(v string) error {
	if outputFormat(v) == outputCSV {
		*c.outputFormat = outputCSV
		return nil
	}
	if c.outputFormat.Set(v) != nil {
		return fmt.Errorf("must be table, json or csv")
	}
	return nil
}

// addOutputFlagCSV adds -o/--output, with CSV, to a command.
func addOutputFlagCSV(cmd *cobra.Command, o *outputFormat) {
	*o = outputTable
	cmd.Flags().VarP(csvCapable{o}, "output", "o", "output format: table, json or csv")
}

// writeRows writes headers and rows as an aligned table or as CSV (RFC 4180, headers as
// given, in lower case).
func writeRows(w io.Writer, format outputFormat, headers []string, rows [][]string) error {
	if format == outputCSV {
		cw := csv.NewWriter(w)
		h := make([]string, len(headers))
		for i, x := range headers {
			h[i] = strings.ToLower(strings.ReplaceAll(x, " ", "_"))
		}
		cw.Write(h)
		for _, r := range rows {
			cw.Write(r)
		}
		cw.Flush()
		return cw.Error()
	}
	t := newTable(w, headers...)
	for _, r := range rows {
		t.row(r...)
	}
	return t.flush()
}

// printJSON writes v as indented JSON. A json.RawMessage is re-indented as it is.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns under upper-case headers.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	for i, h := range headers {
		headers[i] = strings.ToUpper(h)
	}
	t.row(headers...)
	return t
}

// row adds a row. Empty cells show as "-", so that columns stay countable.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		c = cleanCell(c)
		if c == "" {
			c = "-"
		}
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		io.WriteString(t.tw, c)
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// cleanCell keeps a cell on its line and in its column: control characters (tabs, newlines,
// terminal escapes) become spaces.
func cleanCell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// keyValues writes one object as aligned "KEY  value" lines.
func keyValues(w io.Writer, pairs ...string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		v := cleanCell(pairs[i+1])
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\n", strings.ToUpper(pairs[i]), v)
	}
	return tw.Flush()
}

// timeCell formats a time for a table: UTC, to the second; "" for none.
func timeCell(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func timePtrCell(t *time.Time) string {
	if t == nil {
		return ""
	}
	return timeCell(*t)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// listFlags are the flags every list command has.
type listFlags struct {
	output outputFormat
	limit  int
}

// defaultListLimit is how many items a list shows unless --limit says otherwise.
const defaultListLimit = 100

func addListFlags(cmd *cobra.Command, f *listFlags) {
	addOutputFlagCSV(cmd, &f.output)
	cmd.Flags().IntVar(&f.limit, "limit", defaultListLimit,
		"show at most this many items in all (pages through the API as needed); 0 shows all")
}

func (f *listFlags) check() error {
	if f.limit < 0 {
		return usageError{fmt.Errorf("--limit %d: must be 0 (all) or more", f.limit)}
	}
	return nil
}

// printList prints a list: with -o json the API's items as a JSON array; as a table one row
// per item, decoded into T. When the list was cut at --limit, a note on stderr says so.
func printList[T any](cmd *cobra.Command, f listFlags, items []json.RawMessage, more bool, headers []string, row func(T) []string) error {
	w := cmd.OutOrStdout()
	if f.output == outputJSON {
		return printJSON(w, items)
	}
	rows := make([][]string, 0, len(items))
	for _, raw := range items {
		var v T
		if err := decodeItem(raw, &v); err != nil {
			return err
		}
		rows = append(rows, row(v))
	}
	if err := writeRows(w, f.output, headers, rows); err != nil {
		return err
	}
	if more {
		fmt.Fprintf(cmd.ErrOrStderr(), "(showing the first %d; there are more: use --limit N, or --limit 0 for all)\n", f.limit)
	}
	return nil
}

// decodeItem decodes one object of the server's answer.
func decodeItem(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("unexpected answer from the server: %w", err)
	}
	return nil
}

// listInOrg runs a list command on one organisation's objects: it checks --org and the list
// flags, pages through /api/v1/orgs/ORG/SUFFIX with the non-empty params, and prints.
func listInOrg[T any](cmd *cobra.Command, of *orgFlag, lf listFlags, suffix string, params map[string]string, headers []string, row func(T) []string) error {
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
	q := url.Values{}
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	items, more, err := c.list(cmd.Context(), "/api/v1/orgs/"+url.PathEscape(org)+"/"+suffix, q, lf.limit)
	if err != nil {
		return err
	}
	return printList(cmd, lf, items, more, headers, row)
}
