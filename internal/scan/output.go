package scan

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes findings as an aligned table for people, then a
// summary line. Text that came from the scanned services is stripped of
// control characters, so a hostile banner cannot drive the terminal.
func WriteTable(w io.Writer, r Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tPORT\tSTATE\tSERVICE\tVERSION\tADVISORIES\tVIOLATION")
	for _, f := range r.Findings {
		version := strings.TrimSpace(f.Product + " " + f.Version)
		if f.TLS != nil {
			version = strings.TrimSpace(version + " (" + f.TLS.Version + ")")
		}
		violation := "-"
		if f.Violation != nil {
			violation = f.Violation.Message
		}
		fmt.Fprintf(tw, "%s\t%d/%s\t%s\t%s\t%s\t%s\t%s\n",
			f.Host, f.Port, f.Protocol, f.State,
			cell(f.Service), cell(version), cell(strings.Join(f.Advisories, ",")), cell(violation))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := r.Stats
	line := fmt.Sprintf("%d open, %d closed, %d filtered; %d probes on %s of %s in %s",
		s.Open, s.Closed, s.Filtered, s.Attempts, plural(r.Ports, "port"), plural(r.Addresses, "address"),
		r.Finished.Sub(r.Started).Round(time.Millisecond))
	if s.Errors > 0 {
		line += fmt.Sprintf("; %d local errors (lower --rate or concurrency)", s.Errors)
	}
	if r.Interrupted {
		line += " (interrupted: partial results)"
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

func cell(s string) string {
	s = printable([]byte(s), 0)
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "s") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteJSON writes the result as indented JSON.
func WriteJSON(w io.Writer, r Result) error {
	if r.Findings == nil {
		r.Findings = []Finding{} // [] rather than null for consumers
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader is the header row of WriteCSV.
var CSVHeader = []string{
	"host", "port", "protocol", "state", "service", "product", "version", "banner",
	"tls_version", "tls_cipher_suite", "tls_subject", "tls_issuer", "tls_not_after", "tls_self_signed",
	"details", "advisories", "violation_zone", "violation",
}

// WriteCSV writes one row per finding. Text that came from the scanned
// services is stripped of control characters, and cells that a
// spreadsheet would take for a formula are prefixed with a quote, so that
// a hostile banner cannot run as a formula on the reader's machine.
func WriteCSV(w io.Writer, r Result) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, f := range r.Findings {
		var tv, tc, ts, ti, tn, tss string
		if t := f.TLS; t != nil {
			tv, tc, ts, ti = t.Version, t.CipherSuite, t.Subject, t.Issuer
			tn, tss = t.NotAfter.UTC().Format(time.RFC3339), strconv.FormatBool(t.SelfSigned)
		}
		var details []string
		for _, k := range slices.Sorted(maps.Keys(f.Details)) {
			details = append(details, k+"="+f.Details[k])
		}
		var vz, vm string
		if f.Violation != nil {
			vz, vm = f.Violation.Zone, f.Violation.Message
		}
		row := []string{
			f.Host.String(), strconv.Itoa(int(f.Port)), f.Protocol, string(f.State),
			f.Service, f.Product, f.Version, f.Banner,
			tv, tc, ts, ti, tn, tss,
			strings.Join(details, ";"), strings.Join(f.Advisories, ";"), vz, vm,
		}
		for i := range row {
			row[i] = defuseFormula(printable([]byte(row[i]), 0))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

func defuseFormula(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
