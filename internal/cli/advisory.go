package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/patchday/patchday/internal/csaf"
)

// apiAdvisory is an advisory as the API shows it.
type apiAdvisory struct {
	ID             int64     `json:"id"`
	TrackingID     string    `json:"tracking_id"`
	Title          string    `json:"title"`
	Publisher      string    `json:"publisher"`
	Severity       string    `json:"severity"`
	CVSSMax        *float64  `json:"cvss_max"`
	TLP            string    `json:"tlp"`
	Status         string    `json:"status"`
	Version        string    `json:"version"`
	Revisions      int       `json:"revisions"`
	InitialRelease time.Time `json:"initial_release"`
	CurrentRelease time.Time `json:"current_release"`
	// ScheduledRelease is set while a revision waits for its release (under embargo);
	// PublishedAt is when the first revision went public.
	ScheduledRelease *time.Time `json:"scheduled_release"`
	PublishedAt      *time.Time `json:"published_at"`
	CVEs             []string   `json:"cves"`
	RevisionList     []struct {
		Revision  int       `json:"revision"`
		Version   string    `json:"version"`
		Status    string    `json:"status"`
		Summary   string    `json:"summary"`
		SHA256    string    `json:"sha256"`
		CreatedAt time.Time `json:"created_at"`
		CreatedBy string    `json:"created_by"`
	} `json:"revision_list"`
}

var advisoryHeaders = []string{"id", "tracking id", "released", "severity", "status", "version", "cves", "title"}

func advisoryRow(a apiAdvisory) []string {
	cves := strings.Join(a.CVEs, " ")
	if len(a.CVEs) > 3 {
		cves = strings.Join(a.CVEs[:3], " ") + fmt.Sprintf(" (+%d)", len(a.CVEs)-3)
	}
	title := a.Title
	if len(title) > 70 {
		title = title[:67] + "..."
	}
	released := a.CurrentRelease.UTC().Format(time.DateOnly)
	if a.ScheduledRelease != nil {
		released = "scheduled " + a.ScheduledRelease.UTC().Format(time.DateOnly)
	}
	return []string{fmt.Sprint(a.ID), a.TrackingID, released, a.Severity, a.Status, a.Version, cves, title}
}

// releaseState says whether an advisory is public, and when a revision waiting for its
// release goes out.
func (a apiAdvisory) releaseState() string {
	switch {
	case a.ScheduledRelease != nil && a.PublishedAt == nil:
		return "embargoed until " + timeCell(*a.ScheduledRelease)
	case a.ScheduledRelease != nil:
		return "published " + timeCell(*a.PublishedAt) + "; a new revision is embargoed until " + timeCell(*a.ScheduledRelease)
	case a.PublishedAt != nil:
		return "published " + timeCell(*a.PublishedAt)
	}
	return "not published"
}

func advisoriesPath(org string) string {
	return "/api/v1/orgs/" + url.PathEscape(org) + "/advisories"
}

func newAdvisoryCmd() *cobra.Command {
	cmd := groupCmd("advisory", "Import, list, show and export security advisories (CSAF 2.0)", `  patchday advisory import --org acme rhsa-2021_5217.json
  patchday advisory list --org acme --min-severity high --since 2026-01-01
  patchday advisory export --org acme RHSA-2021:5217 > rhsa-2021_5217.json`)
	cmd.AddCommand(newAdvisoryImportCmd(), newAdvisoryCreateCmd(), newAdvisoryEditCmd(), newAdvisoryListCmd(),
		newAdvisoryShowCmd(), newAdvisoryExportCmd())
	return cmd
}

func newAdvisoryImportCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import CSAF 2.0 documents (admins and operators); - reads standard input",
		Long: `Import CSAF 2.0 JSON documents. Each is validated by the server against the CSAF 2.0 JSON
schema and every mandatory test of section 6.1; an invalid one is refused with every problem
listed (test id, JSON path, message), and nothing of it is stored. A document with a new
tracking id starts an advisory; a newer version of a known one adds a revision; a document
already stored is reported unchanged. Files are imported in order; the command stops at the
first failure and exits 1.`,
		Example: `  patchday advisory import --org acme advisories/*.json
  curl -s https://vendor.example/csaf/2026/x.json | patchday advisory import --org acme -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("advisory import: give one or more files (- for standard input)")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var results []json.RawMessage
			for _, name := range args {
				var data []byte
				if name == "-" {
					data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<20))
				} else {
					data, err = os.ReadFile(name)
				}
				if err != nil {
					return fmt.Errorf("read %s: %w", name, err)
				}
				var raw json.RawMessage
				if err := c.do(cmd.Context(), http.MethodPost, advisoriesPath(org), nil, data, &raw); err != nil {
					var ae *apiError
					if errors.As(err, &ae) && len(ae.Findings) > 0 {
						fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d problem(s):\n", name, len(ae.Findings))
						for _, f := range ae.Findings {
							fmt.Fprintf(cmd.ErrOrStderr(), "  %s %s at %s\n", f.Test, f.Message, f.Path)
						}
						return fmt.Errorf("%s: not a valid CSAF 2.0 document", name)
					}
					return fmt.Errorf("%s: %w", name, err)
				}
				if output == outputJSON {
					results = append(results, raw)
					continue
				}
				var res struct {
					Advisory  apiAdvisory `json:"advisory"`
					New       bool        `json:"new"`
					Unchanged bool        `json:"unchanged"`
					Revision  struct {
						Revision int `json:"revision"`
					} `json:"revision"`
				}
				if err := decodeItem(raw, &res); err != nil {
					return err
				}
				what := fmt.Sprintf("added revision %d (version %s)", res.Revision.Revision, res.Advisory.Version)
				switch {
				case res.Unchanged:
					what = "unchanged (already stored)"
				case res.New:
					what = fmt.Sprintf("imported as advisory %d (version %s)", res.Advisory.ID, res.Advisory.Version)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s\n", name, res.Advisory.TrackingID, what)
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), results)
			}
			return nil
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newAdvisoryListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	filters := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List advisories, newest release first",
		Long: `List the organisation's advisories, newest current release first. Filters combine:
--search finds text in the tracking id, title or product names; --cve, --product,
--severity (exact) or --min-severity (critical, high, medium, low, none); --status (draft,
interim, final); --since and --until bound the current release date (YYYY-MM-DD or RFC 3339).`,
		Example: `  patchday advisory list --org acme --cve CVE-2021-44228
  patchday advisory list --org acme --min-severity high --since 2026-11-01 -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := map[string]string{}
			for k, v := range filters {
				params[k] = *v
			}
			return listInOrg(cmd, &of, lf, "advisories", params, advisoryHeaders, advisoryRow)
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	for _, f := range []struct{ flag, param, help string }{
		{"search", "q", "text in tracking id, title or product names"},
		{"cve", "cve", "only advisories about this CVE"},
		{"product", "product", "text in the product names"},
		{"severity", "severity", "only this severity"},
		{"min-severity", "min_severity", "only this severity or higher"},
		{"status", "status", "draft, interim or final"},
		{"since", "since", "current release on or after (YYYY-MM-DD or RFC 3339)"},
		{"until", "until", "current release before (YYYY-MM-DD or RFC 3339)"},
	} {
		filters[f.param] = cmd.Flags().String(f.flag, "", f.help)
	}
	return cmd
}

// resolveAdvisory turns a numeric id or a tracking id into the advisory's id.
func resolveAdvisory(cmd *cobra.Command, c *client, org, ref string) (int64, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil && id > 0 {
		return id, nil
	}
	items, _, err := c.list(cmd.Context(), advisoriesPath(org), url.Values{"q": {ref}}, 0)
	if err != nil {
		return 0, err
	}
	for _, raw := range items {
		var a apiAdvisory
		if err := decodeItem(raw, &a); err != nil {
			return 0, err
		}
		if a.TrackingID == ref {
			return a.ID, nil
		}
	}
	return 0, fmt.Errorf("advisory %q not found in %s", ref, org)
}

func newAdvisoryShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "show ID|TRACKING-ID",
		Short: "Show an advisory, its revisions and what it says",
		Long: `Show an advisory: its indexed fields and revisions, then what its CSAF document says, the
way a security bulletin reads: the summary and other notes, the mitigating factors, and per
vulnerability its severity and CVSS score, description, mitigating factors, workarounds,
mitigations, fixes, FAQ, the affected and fixed products, and references; then the FAQ and
references of the advisory. Viewers see the newest published revision. -o json adds this
content under "bulletin" (as GET .../advisories/ID/bulletin answers it).`,
		Example: `  patchday advisory show --org acme RHSA-2021:5217`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			id, err := resolveAdvisory(cmd, c, org, args[0])
			if err != nil {
				return err
			}
			var raw, bulletin json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, fmt.Sprintf("%s/%d", advisoriesPath(org), id), nil, nil, &raw); err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodGet, fmt.Sprintf("%s/%d/bulletin", advisoriesPath(org), id), nil, nil, &bulletin); err != nil {
				return err
			}
			if output == outputJSON {
				var fields map[string]json.RawMessage
				if err := decodeItem(raw, &fields); err != nil {
					return err
				}
				fields["bulletin"] = bulletin
				return printJSON(cmd.OutOrStdout(), fields)
			}
			var a apiAdvisory
			var b csaf.Bulletin
			if err := decodeItem(raw, &a); err != nil {
				return err
			}
			if err := decodeItem(bulletin, &b); err != nil {
				return err
			}
			cvss := "-"
			if a.CVSSMax != nil {
				cvss = strconv.FormatFloat(*a.CVSSMax, 'f', 1, 64)
			}
			if err := keyValues(cmd.OutOrStdout(), "id", fmt.Sprint(a.ID), "tracking id", a.TrackingID, "title", a.Title,
				"publisher", a.Publisher, "severity", a.Severity, "highest cvss", cvss, "tlp", a.TLP, "status", a.Status,
				"version", a.Version, "release", a.releaseState(), "initial release", timeCell(a.InitialRelease), "current release", timeCell(a.CurrentRelease),
				"cves", strings.Join(a.CVEs, " ")); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout())
			t := newTable(cmd.OutOrStdout(), "revision", "version", "status", "stored", "by", "summary")
			for _, r := range a.RevisionList {
				t.row(fmt.Sprint(r.Revision), r.Version, r.Status, timeCell(r.CreatedAt), r.CreatedBy, r.Summary)
			}
			if err := t.flush(); err != nil {
				return err
			}
			return printBulletin(cmd.OutOrStdout(), b)
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newAdvisoryExportCmd() *cobra.Command {
	var of orgFlag
	var revision int
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "export ID|TRACKING-ID",
		Short: "Write an advisory's CSAF document, byte for byte as stored",
		Long: `Write the CSAF document of one revision (--revision N, default the newest) to standard
output, or with --dir into that directory under the CSAF file name rule (tracking id in lower
case, other characters as "_", .json).`,
		Example: `  patchday advisory export --org acme RHSA-2021:5217 > advisory.json
  patchday advisory export --org acme RHSA-2021:5217 --revision 1 --dir ./csaf`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			if revision < 0 {
				return usageError{errors.New("--revision must be 1 or more")}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			id, err := resolveAdvisory(cmd, c, org, args[0])
			if err != nil {
				return err
			}
			q := url.Values{}
			if revision > 0 {
				q.Set("revision", strconv.Itoa(revision))
			}
			var doc []byte
			path := fmt.Sprintf("%s/%d/csaf", advisoriesPath(org), id)
			if err := c.do(cmd.Context(), http.MethodGet, path, q, nil, &doc); err != nil {
				return err
			}
			if dir == "" {
				_, err := cmd.OutOrStdout().Write(doc)
				return err
			}
			var a apiAdvisory
			if err := c.do(cmd.Context(), http.MethodGet, fmt.Sprintf("%s/%d", advisoriesPath(org), id), nil, nil, &a); err != nil {
				return err
			}
			// One file name per tracking id: an export does not replace a file (another
			// revision, most likely) unless told to.
			name := filepath.Join(dir, csaf.Filename(a.TrackingID))
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(name, flags, 0o644)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s exists: --force replaces it (or give another --dir, e.g. one per revision)", name)
			}
			if err != nil {
				return err
			}
			if _, err := f.Write(doc); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", name)
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().IntVar(&revision, "revision", 0, "revision number (default: the newest)")
	cmd.Flags().StringVar(&dir, "dir", "", "write into this directory under the CSAF file name instead of to standard output")
	cmd.Flags().BoolVar(&force, "force", false, "with --dir, replace the file when it exists")
	return cmd
}

// bulletinWidth is the width advisory show wraps the bulletin's texts to.
const bulletinWidth = 80

// printBulletin writes what an advisory says, after its fields and revisions, in the order of
// a security bulletin: summary and other notes, mitigating factors, each vulnerability (its
// severity and scores, notes, mitigating factors, remediations, FAQ, product status,
// references), then the advisory's FAQ, references and legal notes. A part that is empty is
// left out; texts are wrapped, and control characters (terminal escapes) are dropped.
func printBulletin(w io.Writer, b csaf.Bulletin) error {
	p := &textWriter{w: w}
	var legal []csaf.Note
	for _, n := range b.Notes {
		if n.Category == "legal_disclaimer" {
			legal = append(legal, n)
			continue
		}
		p.section(0, noteTitle(n))
		p.para(2, n.Text)
	}
	if len(b.MitigatingFactors) > 0 {
		p.section(0, "Mitigating factors")
		p.bullets(2, b.MitigatingFactors)
	}
	for _, v := range b.Vulnerabilities {
		printVulnerability(p, v)
	}
	if len(b.FAQ) > 0 {
		p.section(0, "FAQ")
		p.faq(2, b.FAQ)
	}
	if len(b.References) > 0 {
		p.section(0, "References")
		p.references(2, b.References)
	}
	for _, n := range legal {
		p.section(0, noteTitle(n))
		p.para(2, n.Text)
	}
	if b.Truncated {
		p.section(0, "")
		p.para(0, "Some texts or lists are shortened here; advisory export has the whole CSAF document.")
	}
	return p.err
}

func printVulnerability(p *textWriter, v csaf.BulletinVulnerability) {
	heading := v.CVE
	if v.Title != "" {
		heading = strings.TrimPrefix(heading+" — "+v.Title, " — ")
	}
	p.line("")
	p.para(0, heading)
	if s := v.Impact(); s != "" {
		p.para(2, "Severity: "+s)
	}
	seen := map[string]bool{}
	for _, s := range v.Scores {
		line := fmt.Sprintf("CVSS %s: %s", s.Version, strconv.FormatFloat(s.BaseScore, 'f', 1, 64))
		if s.Severity != "" {
			line += " " + s.Severity
		}
		line += " (" + s.Vector + ")"
		if !seen[line] {
			seen[line] = true
			p.para(2, line)
		}
	}
	if v.CWE != nil {
		p.para(2, strings.TrimSpace("Weakness: "+v.CWE.ID+" "+v.CWE.Name))
	}
	if s := v.ExploitStatus(); s != "" {
		p.para(2, "Exploit status: "+s)
	}
	for _, n := range v.Notes {
		p.section(2, noteTitle(n))
		p.para(4, n.Text)
	}
	if len(v.MitigatingFactors) > 0 {
		p.section(2, "Mitigating factors")
		p.bullets(4, v.MitigatingFactors)
	}
	rm := v.Remediations
	for _, g := range []struct {
		title string
		items []csaf.Remediation
	}{
		{"Workarounds", rm.Workaround}, {"Mitigations", rm.Mitigation}, {"Fixes", rm.VendorFix},
		{"No fix available", rm.NoneAvailable}, {"No fix planned", rm.NoFixPlanned},
	} {
		if len(g.items) == 0 {
			continue
		}
		p.section(2, g.title)
		for _, r := range g.items {
			p.item(4, "- ", r.Details)
			if r.Products.Len() > 0 {
				p.item(6, "", "For: "+productNames(r.Products, 5))
			}
			if r.RestartRequired != "" {
				p.item(6, "", "Restart required: "+strings.ReplaceAll(r.RestartRequired, "_", " "))
			}
			if r.URL != "" {
				p.item(6, "", r.URL)
			}
		}
	}
	if len(v.FAQ) > 0 {
		p.section(2, "FAQ")
		p.faq(4, v.FAQ)
	}
	for _, l := range v.ProductStatus.Lists() {
		p.section(2, l.Label)
		if len(l.Products.Names) == 0 {
			p.item(4, "- ", productNames(*l.Products, 0))
		}
		p.bullets(4, l.Products.Names)
		if l.Products.More > 0 && len(l.Products.Names) > 0 {
			p.item(4, "- ", fmt.Sprintf("and %d more", l.Products.More))
		}
	}
	if len(v.References) > 0 {
		p.section(2, "References")
		p.references(4, v.References)
	}
}

// noteTitle is a note's title, else its category in words.
func noteTitle(n csaf.Note) string {
	if n.Title != "" {
		return n.Title
	}
	t := strings.ReplaceAll(n.Category, "_", " ")
	if t == "" {
		return "Note"
	}
	return strings.ToUpper(t[:1]) + t[1:]
}

// productNames lists at most limit names of a product list (0: all it has), and counts the
// others.
func productNames(l csaf.ProductList, limit int) string {
	names, more := l.Names, l.More
	if limit > 0 && len(names) > limit {
		names, more = names[:limit], more+len(names)-limit
	}
	s := strings.Join(names, ", ")
	switch {
	case more > 0 && s == "":
		s = fmt.Sprintf("%d products", more)
	case more > 0:
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// textWriter writes indented, wrapped text, keeping the first error.
type textWriter struct {
	w   io.Writer
	err error
}

func (p *textWriter) line(s string) {
	if p.err == nil {
		_, p.err = io.WriteString(p.w, strings.TrimRight(s, " ")+"\n")
	}
}

// section starts a part: a blank line, then its title (upper case at the top level, as the
// keys above).
func (p *textWriter) section(indent int, title string) {
	p.line("")
	if title == "" {
		return
	}
	title = cleanCell(title)
	if indent == 0 {
		title = strings.ToUpper(title)
	}
	p.line(strings.Repeat(" ", indent) + title)
}

// para writes a text, its lines kept, each wrapped.
func (p *textWriter) para(indent int, text string) {
	p.item(indent, "", text)
}

// item writes a text wrapped at bulletinWidth: its first line after indent and mark (a
// list bullet), the others under the first's text.
func (p *textWriter) item(indent int, mark, text string) {
	pad := strings.Repeat(" ", indent)
	first, rest := pad+mark, pad+strings.Repeat(" ", len(mark))
	for i, ln := range strings.Split(text, "\n") {
		prefix := rest
		if i == 0 {
			prefix = first
		}
		words := strings.Fields(cleanCell(ln))
		if len(words) == 0 {
			p.line("")
			continue
		}
		cur, n := prefix+words[0], utf8.RuneCountInString(prefix+words[0])
		for _, word := range words[1:] {
			if k := utf8.RuneCountInString(word); n+1+k <= bulletinWidth {
				cur, n = cur+" "+word, n+1+k
				continue
			}
			p.line(cur)
			cur, n = rest+word, utf8.RuneCountInString(rest+word)
		}
		p.line(cur)
	}
}

func (p *textWriter) bullets(indent int, items []string) {
	for _, it := range items {
		p.item(indent, "- ", it)
	}
}

func (p *textWriter) faq(indent int, faq []csaf.FAQ) {
	for i, q := range faq {
		if i > 0 {
			p.line("")
		}
		p.item(indent, "", q.Question)
		p.item(indent+2, "", q.Answer)
	}
}

func (p *textWriter) references(indent int, refs []csaf.Reference) {
	for _, r := range refs {
		if r.Summary == r.URL {
			p.item(indent, "- ", r.URL)
			continue
		}
		p.item(indent, "- ", r.Summary)
		p.item(indent+2, "", r.URL)
	}
}
