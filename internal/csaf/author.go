package csaf

// Authoring advisories without writing JSON: the short form an author writes in YAML (Form),
// which Build turns into a CSAF 2.0 security advisory, and the revisions of published
// documents (Revise, ReviseWithForm). testdata/advisory.yaml is a commented example form.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"
	gocvss31 "github.com/pandatix/go-cvss/31"
	"go.yaml.in/yaml/v3"
)

// GeneratorEngine is the engine name patchday writes to /document/tracking/generator.
const GeneratorEngine = "patchday"

// MaxFormSize bounds a YAML form (a long advisory is a few KiB).
const MaxFormSize = 1 << 20

// Form is the short form of a CSAF 2.0 security advisory (category csaf_security_advisory)
// that an author writes in YAML; Build makes the CSAF document from it. Text fields are
// trimmed of surrounding white space; keys are snake_case, and an unknown key is an error.
//
// Product keys: each product of Products has a key (its id), and the vulnerabilities, fixes,
// workarounds and mitigations name products by it. Wherever the form takes product keys, it
// takes one key or a list of them ("affected: srv-2.4" or "affected: [srv-2.3, srv-2.4]").
type Form struct {
	// TrackingID is the advisory's id, unique within the publisher's namespace
	// (/document/tracking/id), such as "EXS-2026-0042". Required. It also names the file
	// (see Filename).
	TrackingID string `yaml:"tracking_id"`
	// Title is the advisory's title (/document/title). Required.
	Title string `yaml:"title"`
	// Publisher is the issuing party (/document/publisher). Required.
	Publisher FormPublisher `yaml:"publisher"`
	// Severity is the advisory's aggregate severity as the publisher words it
	// (/document/aggregate_severity/text), such as "Critical" or "Important". Optional;
	// patchday's own severity comes from the highest CVSS score and falls back to this text.
	Severity string `yaml:"severity"`
	// TLP is the Traffic Light Protocol label of CSAF 2.0 (/document/distribution/tlp):
	// WHITE, GREEN, AMBER or RED, in any case. Default WHITE. (CSAF 2.0 uses TLP 1.0, whose
	// WHITE is TLP 2.0's CLEAR.)
	TLP string `yaml:"tlp"`
	// Status is draft, interim or final (/document/tracking/status). Default final.
	Status string `yaml:"status"`
	// Lang is the language of the texts, a BCP 47 tag (/document/lang). Default "en".
	Lang string `yaml:"lang"`
	// SourceLang is the language of the original when the advisory is a translation
	// (/document/source_lang); required when the publisher's category is translator.
	SourceLang string `yaml:"source_lang"`
	// ReleaseDate is the initial release date: an RFC 3339 date-time
	// ("2026-03-10T17:00:00Z") or a date ("2026-03-10", midnight UTC). A future date is a
	// scheduled release. Default: the time Build is given. Revisions keep the initial release
	// date of the published document and ignore this field.
	ReleaseDate string `yaml:"release_date"`
	// Summary is a short high-level summary of the advisory (a document note of category
	// summary).
	Summary string `yaml:"summary"`
	// MitigatingFactors are conditions that limit the exposure or the impact, such as "the
	// service is not enabled by default" (one document note of category details, titled
	// "Mitigating factors"; several factors become a list). Actions are Workarounds.
	MitigatingFactors []string `yaml:"mitigating_factors"`
	// Workarounds are actions that avoid the exposure without a fix. A workaround here applies
	// to every vulnerability that affects its products (remediations of category workaround);
	// one for a single vulnerability goes under that vulnerability.
	Workarounds []FormRemedy `yaml:"workarounds"`
	// FAQ are frequently asked questions and their answers (document notes of category faq).
	FAQ []FormFAQ `yaml:"faq"`
	// References are links to further information (/document/references, category
	// external).
	References []FormReference `yaml:"references"`
	// LegalDisclaimer is the publisher's terms of use (a note of category legal_disclaimer).
	LegalDisclaimer string `yaml:"legal_disclaimer"`
	// Products are the products the advisory talks about: the affected versions and,
	// unless a fix gives only a fixed_version, the fixed ones. At least one.
	Products []FormProduct `yaml:"products"`
	// Vulnerabilities are the advisory's vulnerabilities, one per CVE. At least one.
	Vulnerabilities []FormVulnerability `yaml:"vulnerabilities"`

	lines map[string]int // YAML line of each field, by path, when the form was parsed
}

// FormPublisher is the issuing party of an advisory.
type FormPublisher struct {
	// Name is the publisher's name, such as "Example Software PSIRT". Required.
	Name string `yaml:"name"`
	// Namespace is a URL the publisher controls that identifies it, such as
	// "https://security.example.com". Required.
	Namespace string `yaml:"namespace"`
	// Category is vendor, coordinator, discoverer, translator, user or other. Default vendor.
	Category string `yaml:"category"`
	// ContactDetails says how to reach the publisher (e-mail, web site, phone). Optional.
	ContactDetails string `yaml:"contact_details"`
	// IssuingAuthority describes the publisher's authority and constituency. Optional.
	IssuingAuthority string `yaml:"issuing_authority"`
}

// FormProduct is one product version (a product_version branch of the product tree, under
// its vendor and product name branches, and an architecture branch when it has one).
type FormProduct struct {
	// ID is the product's key in the form and its product_id in the document. Optional:
	// the default is made of the name, version and architecture, lower case, with runs of
	// other characters than a-z, 0-9, ".", "+" and "_" replaced by "-" ("Example Mail Server"
	// 4.96.1 is "example-mail-server-4.96.1").
	ID string `yaml:"id"`
	// Vendor is the product's vendor, such as "Example Software". Required.
	Vendor string `yaml:"vendor"`
	// Name is the product's name, such as "Example Mail Server". Required.
	Name string `yaml:"name"`
	// Version is one version, such as "4.96.1" (no ranges such as "before 4.96.2": list the
	// versions). Optional for a product without versions.
	Version string `yaml:"version"`
	// Architecture is the build's architecture, such as "x64" or "arm64". Optional.
	Architecture string `yaml:"architecture"`
	// CPE is the product's CPE 2.3 name (or CPE 2.2 URI). Optional.
	CPE string `yaml:"cpe"`
	// PURL is the product's package URL, such as "pkg:deb/debian/exim4@4.96-15". Optional.
	PURL string `yaml:"purl"`
}

// FormVulnerability is one vulnerability.
type FormVulnerability struct {
	// CVE is the CVE id, such as "CVE-2026-21001". A vulnerability without a CVE needs a
	// title.
	CVE string `yaml:"cve"`
	// Title is a short title. Optional when there is a CVE.
	Title string `yaml:"title"`
	// CWE is the weakness: "CWE-787" (the name comes from the CWE list) or {id, name}.
	// Optional.
	CWE *FormCWE `yaml:"cwe"`
	// CVSSv31 is the CVSS v3.1 vector, such as "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
	// (the "CVSS:3.1/" prefix may be left out). patchday computes the scores and severities
	// from it and writes the vector in its canonical metric order. Optional.
	CVSSv31 string `yaml:"cvss_v31"`
	// Severity is the publisher's rating of the vulnerability, such as "Critical" (a threat
	// of category impact for the affected products). Optional.
	Severity string `yaml:"severity"`
	// ExploitStatus says whether the vulnerability is exploited or publicly disclosed, such
	// as "Exploited: No; publicly disclosed: No" (a threat of category exploit_status).
	// Optional.
	ExploitStatus string `yaml:"exploit_status"`
	// Description says what the vulnerability is and what an attacker can do with it (a
	// note of category description). Required.
	Description string `yaml:"description"`
	// MitigatingFactors are this vulnerability's mitigating factors (as Form's).
	MitigatingFactors []string `yaml:"mitigating_factors"`
	// FAQ are this vulnerability's questions and answers (as Form's).
	FAQ []FormFAQ `yaml:"faq"`
	// Affected are the keys of the affected products. The products that Fixed fixes are
	// affected too and need not be repeated here. Affected products without a fix get a
	// remediation of category none_available ("No fix is available yet.").
	Affected ProductKeys `yaml:"affected"`
	// Fixed are the fixes: which affected products they are for and which version or
	// product contains the fix.
	Fixed []FormFix `yaml:"fixed"`
	// Workarounds are workarounds for this vulnerability (remediations of category
	// workaround). Without products, a workaround is for all affected products.
	Workarounds []FormRemedy `yaml:"workarounds"`
	// Mitigations reduce the risk without fixing the vulnerability, such as a firewall rule
	// (remediations of category mitigation). Without products, for all affected products.
	Mitigations []FormRemedy `yaml:"mitigations"`
	// References are links about this vulnerability.
	References []FormReference `yaml:"references"`
}

// FormFix is a fix of a vulnerability: a remediation of category vendor_fix for the affected
// products, and the product with the fix in the product status lists fixed and first_fixed.
type FormFix struct {
	// Products are the keys of the affected products that the fix is for (they are affected
	// by the vulnerability). Default: all products in the vulnerability's affected list.
	Products ProductKeys `yaml:"products"`
	// FixedVersion is the first version with the fix, such as "4.96.2". patchday adds that
	// version of each of the products to the product tree (same vendor, name and
	// architecture; the CPE and purl follow when they carry the affected version), unless
	// the form has it already. Give either this or FixedProduct.
	FixedVersion string `yaml:"fixed_version"`
	// FixedProduct is the key of the product of the form that contains the fix.
	FixedProduct string `yaml:"fixed_product"`
	// URL is where to get the fix. Optional.
	URL string `yaml:"url"`
	// Details is the remediation's text. Default: "Update <product> to version <fixed
	// version> or later." or "Update to <fixed product>."
	Details string `yaml:"details"`
}

// FormRemedy is a workaround or a mitigation.
type FormRemedy struct {
	// Text says what to do. Required.
	Text string `yaml:"text"`
	// Products are the keys of the products it is for. Default: all affected products.
	Products ProductKeys `yaml:"products"`
	// URL links to instructions. Optional.
	URL string `yaml:"url"`
}

// FormFAQ is a question and its answer.
type FormFAQ struct {
	Question string `yaml:"question"`
	Answer   string `yaml:"answer"`
}

// FormReference is a link with a summary of what it is.
type FormReference struct {
	// URL is the link. Required.
	URL string `yaml:"url"`
	// Summary says what the link is. Default: the URL.
	Summary string `yaml:"summary"`
}

// FormCWE is a CWE weakness. In YAML it is "CWE-787" or {id: CWE-787, name: ...}.
type FormCWE struct {
	// ID is "CWE-<number>" ("787" alone is read as CWE-787).
	ID string `yaml:"id"`
	// Name is the weakness's name in the CWE list; default its name there. A name that
	// differs from the list's is an error (CSAF mandatory test 6.1.11).
	Name string `yaml:"name"`
}

// UnmarshalYAML reads "CWE-787" or {id, name}.
func (c *FormCWE) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*c = FormCWE{ID: n.Value}
		return nil
	}
	type plain FormCWE
	return n.Decode((*plain)(c))
}

// ProductKeys is a list of product keys; in YAML one key or a list of keys.
type ProductKeys []string

// UnmarshalYAML reads one key or a list of keys.
func (k *ProductKeys) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			*k = nil
		} else {
			*k = ProductKeys{n.Value}
		}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*k = l
	return nil
}

// FieldError is one problem with one field of a form.
type FieldError struct {
	// Field is the field's path, such as "vulnerabilities[0].cvss_v31"; "" for the whole form.
	Field string `json:"field"`
	// Line is the line of the YAML form, 0 when unknown (such as a Form made in Go).
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// String reads like "line 12: vulnerabilities[0].cvss_v31: ...".
func (e FieldError) String() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// FormError is a form that cannot become an advisory, with every problem found.
type FormError struct {
	Problems []FieldError
}

func (e *FormError) Error() string {
	var b strings.Builder
	b.WriteString("advisory form: ")
	for i, p := range e.Problems {
		if i == 10 {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-10)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// ParseForm reads a YAML form strictly: an unknown or repeated key, or a value of the wrong
// kind, is an error naming the field and its line; so is every problem Build would find in
// the form (a missing title, a bad CVSS vector, an unknown product key, ...). Problems are
// reported together in a *FormError.
func ParseForm(data []byte) (Form, error) {
	fail := func(line int, format string, args ...any) (Form, error) {
		return Form{}, &FormError{Problems: []FieldError{{Line: line, Message: fmt.Sprintf(format, args...)}}}
	}
	if len(data) > MaxFormSize {
		return fail(0, "the form has %d bytes, more than the limit of %d", len(data), MaxFormSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(0, "the form is empty")
		}
		return fail(authorYAMLLine(err), "not valid YAML: %s", authorYAMLMessage(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return fail(authorYAMLLine(err), "not valid YAML: %s", authorYAMLMessage(err))
		}
		return fail(extra.Line, "the form has more than one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return fail(root.Line, "the form is empty")
	}
	c := &authorChecker{lines: map[string]int{}}
	c.walk(root, reflect.TypeOf(Form{}), "")
	if len(c.problems) > 0 {
		return Form{}, &FormError{Problems: c.problems}
	}
	var f Form
	if err := root.Decode(&f); err != nil {
		return fail(authorYAMLLine(err), "%s", authorYAMLMessage(err))
	}
	f.lines = c.lines
	if _, err := f.compile(); err != nil {
		return Form{}, err
	}
	return f, nil
}

var authorYAMLLineRE = regexp.MustCompile(`line (\d+)`)

func authorYAMLLine(err error) int {
	if m := authorYAMLLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func authorYAMLMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = authorYAMLLineRE.ReplaceAllString(msg, "")
	return strings.Trim(strings.Join(strings.Fields(msg), " "), ": ")
}

// authorChecker collects the problems of a form, with their lines.
type authorChecker struct {
	lines    map[string]int
	problems []FieldError
}

func (c *authorChecker) add(field, format string, args ...any) {
	c.problems = append(c.problems, FieldError{Field: field, Line: c.line(field), Message: fmt.Sprintf(format, args...)})
}

// line is the line of field, else of its nearest enclosing field that has one.
func (c *authorChecker) line(field string) int {
	for field != "" {
		if n, ok := c.lines[field]; ok {
			return n
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

var (
	authorProductKeysType = reflect.TypeOf(ProductKeys{})
	authorCWEType         = reflect.TypeOf(FormCWE{})
)

// walk checks that the YAML node n fits the Go type t: mappings with known keys, each
// once, for structs; sequences for slices; scalars for strings. It records the line of each
// field.
func (c *authorChecker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if _, ok := c.lines[path]; !ok && path != "" {
		c.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value: the field's zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == authorProductKeysType:
		if n.Kind == yaml.ScalarNode {
			return
		}
		if n.Kind != yaml.SequenceNode {
			c.add(path, "expected a product key or a list of product keys, found %s", authorKind(n))
			return
		}
		for i, e := range n.Content {
			c.walk(e, reflect.TypeOf(""), fmt.Sprintf("%s[%d]", path, i))
		}
	case t == authorCWEType && n.Kind == yaml.ScalarNode:
		return
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.add(path, "expected a mapping of keys (%s), found %s", strings.Join(authorKeys(t), ", "), authorKind(n))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			field := key
			if path != "" {
				field = path + "." + key
			}
			if k.Kind != yaml.ScalarNode {
				c.problems = append(c.problems, FieldError{Field: path, Line: k.Line, Message: "a key must be a plain word"})
				continue
			}
			if first, dup := seen[key]; dup {
				c.problems = append(c.problems, FieldError{Field: field, Line: k.Line, Message: fmt.Sprintf("key %q is given twice (first on line %d)", key, first)})
				continue
			}
			seen[key] = k.Line
			ft, ok := authorField(t, key)
			if !ok {
				msg := fmt.Sprintf("unknown key %q", key)
				if s := authorSuggest(key, authorKeys(t)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					msg += " (known keys: " + strings.Join(authorKeys(t), ", ") + ")"
				}
				c.problems = append(c.problems, FieldError{Field: field, Line: k.Line, Message: msg})
				continue
			}
			c.lines[field] = k.Line
			c.walk(v, ft, field)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.add(path, "expected a list, found %s", authorKind(n))
			return
		}
		for i, e := range n.Content {
			c.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			c.add(path, "expected text, found %s", authorKind(n))
		}
	}
}

func authorKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// authorKeys lists the YAML keys of a struct type, in field order.
func authorKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

func authorField(t reflect.Type, key string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k == key {
			return t.Field(i).Type, true
		}
	}
	return nil, false
}

// authorSuggest returns the known key closest to key when it is a likely typo.
func authorSuggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := authorDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// authorDistance is the Levenshtein distance of two strings.
func authorDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Build makes the CSAF 2.0 security advisory of the form, as indented JSON: version "1"
// with one revision history entry, released at the form's release date (default now), made
// by the generator "patchday" at now. The same form and now give the same bytes. The
// document passes Validate (the JSON schema and every mandatory test); a form that cannot
// make such a document gives a *FormError.
func (f Form) Build(now time.Time) ([]byte, error) {
	p, err := f.compile()
	if err != nil {
		return nil, err
	}
	data, err := authorEncode(p.document(now))
	if err != nil {
		return nil, err
	}
	if _, err := Validate(data); err != nil {
		return nil, fmt.Errorf("csaf: the document built from the form is not valid: %w", err)
	}
	return data, nil
}

// authorProduct is a product of the document: declared in the form or added for a
// fixed_version.
type authorProduct struct {
	id, vendor, name, version, arch, cpe, purl string
	field                                      string         // where the form declares or implies it
	order                                      int            // position in the product tree
	source                                     *authorProduct // for a fixed version patchday added: the product it fixes
}

func (p *authorProduct) identity() string {
	return strings.Join([]string{p.vendor, p.name, p.version, p.arch}, "\x00")
}

// fullName is the product's full name: vendor (unless the name starts with it), name,
// version and architecture.
func (p *authorProduct) fullName() string {
	s := p.name
	if !strings.HasPrefix(strings.ToLower(p.name), strings.ToLower(p.vendor)) {
		s = p.vendor + " " + s
	}
	if p.version != "" {
		s += " " + p.version
	}
	if p.arch != "" {
		s += " for " + p.arch
	}
	return s
}

// authorRemedy is a resolved workaround or mitigation.
type authorRemedy struct {
	text, url string
	products  []*authorProduct // nil: all affected products
}

type authorFix struct {
	products []*authorProduct
	targets  []*authorProduct // the product with the fix, for each of products
	url      string
	details  string // given details, or ""
	version  string // fixed_version, or ""
}

type authorVuln struct {
	cve, title       string
	cwe              *FormCWE
	cvss             map[string]any
	affected         []*authorProduct // known_affected, in product order
	fixes            []authorFix
	workarounds      []authorRemedy
	mitigations      []authorRemedy
	references       []FormReference
	notes            []map[string]any
	severity, status string // threats
}

// authorPlan is a checked form, resolved into what the document needs.
type authorPlan struct {
	tlp, status, lang  string
	pubCategory        string
	release            time.Time // zero: now
	products           []*authorProduct
	vulns              []authorVuln
	docWorkarounds     []authorRemedy
	docNotes           []map[string]any
	references         []FormReference
	trackingID, title  string
	severity           string
	sourceLang         string
	publisher          FormPublisher
	legal              string
	productKeysInOrder []string
}

var (
	authorCVERE         = regexp.MustCompile(`^CVE-[0-9]{4}-[0-9]{4,}$`)
	authorCWERE         = regexp.MustCompile(`^CWE-[1-9]\d{0,5}$`)
	authorSlugUnsafe    = regexp.MustCompile(`[^a-z0-9.+_]+`)
	authorLineBreaks    = regexp.MustCompile("[\r\n\u2028\u2029]")
	authorPublisherCats = []string{"vendor", "coordinator", "discoverer", "translator", "user", "other"}
	// authorCPERE is the pattern of cpe in the CSAF 2.0 JSON schema.
	authorCPERE = regexp.MustCompile(`^(cpe:2\.3:[aho\*\-](:(((\?*|\*?)([a-zA-Z0-9\-\._]|(\\[\\\*\?!"#\$%&'\(\)\+,/:;<=>@\[\]\^` + "`" + `\{\|\}~]))+(\?*|\*?))|[\*\-])){5}(:(([a-zA-Z]{2,3}(-([a-zA-Z]{2}|[0-9]{3}))?)|[\*\-]))(:(((\?*|\*?)([a-zA-Z0-9\-\._]|(\\[\\\*\?!"#\$%&'\(\)\+,/:;<=>@\[\]\^` + "`" + `\{\|\}~]))+(\?*|\*?))|[\*\-])){4})|([c][pP][eE]:/[AHOaho]?(:[A-Za-z0-9\._\-~%]*){0,6})$`)
)

func authorSlug(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	s := authorSlugUnsafe.ReplaceAllString(strings.ToLower(strings.Join(nonEmpty, "-")), "-")
	return strings.Trim(s, "-")
}

// compile checks the form and resolves it. Every problem is reported, with its field.
func (f Form) compile() (*authorPlan, error) {
	c := &authorChecker{lines: f.lines}
	p := &authorPlan{}
	text := strings.TrimSpace

	// The document.
	p.trackingID = text(f.TrackingID)
	switch {
	case p.trackingID == "":
		c.add("tracking_id", "required: the advisory's id, such as EXS-2026-0042")
	case authorLineBreaks.MatchString(p.trackingID):
		c.add("tracking_id", "must be one line")
	}
	p.title = text(f.Title)
	if p.title == "" {
		c.add("title", "required: the advisory's title")
	}
	p.publisher = FormPublisher{
		Name: text(f.Publisher.Name), Namespace: text(f.Publisher.Namespace), Category: text(f.Publisher.Category),
		ContactDetails: text(f.Publisher.ContactDetails), IssuingAuthority: text(f.Publisher.IssuingAuthority),
	}
	if p.publisher.Name == "" {
		c.add("publisher.name", "required: the publisher's name")
	}
	if p.publisher.Namespace == "" {
		c.add("publisher.namespace", "required: a URL that identifies the publisher, such as https://security.example.com")
	} else if err := authorCheckURL(p.publisher.Namespace); err != nil {
		c.add("publisher.namespace", "%v", err)
	}
	p.pubCategory = strings.ToLower(p.publisher.Category)
	if p.pubCategory == "" {
		p.pubCategory = "vendor"
	}
	if !authorOneOf(p.pubCategory, authorPublisherCats) {
		c.add("publisher.category", "%q is not a publisher category (%s)", p.publisher.Category, strings.Join(authorPublisherCats, ", "))
	}
	p.severity = text(f.Severity)
	p.tlp = strings.ToUpper(text(f.TLP))
	switch p.tlp {
	case "":
		p.tlp = "WHITE"
	case "WHITE", "GREEN", "AMBER", "RED":
	case "CLEAR":
		c.add("tlp", "CSAF 2.0 has the TLP labels WHITE, GREEN, AMBER and RED; TLP:CLEAR is WHITE there")
	default:
		c.add("tlp", "%q is not a CSAF 2.0 TLP label (WHITE, GREEN, AMBER, RED)", f.TLP)
	}
	p.status = strings.ToLower(text(f.Status))
	if p.status == "" {
		p.status = "final"
	}
	if !authorOneOf(p.status, []string{"draft", "interim", "final"}) {
		c.add("status", "%q is not a document status (draft, interim, final)", f.Status)
	}
	p.lang = text(f.Lang)
	if p.lang == "" {
		p.lang = "en"
	}
	if err := bcp47Check(p.lang); err != nil {
		c.add("lang", "%q is not a language tag: %v", p.lang, err)
	}
	p.sourceLang = text(f.SourceLang)
	if p.sourceLang != "" {
		if err := bcp47Check(p.sourceLang); err != nil {
			c.add("source_lang", "%q is not a language tag: %v", p.sourceLang, err)
		} else if strings.EqualFold(p.sourceLang, p.lang) {
			c.add("source_lang", "is the same as lang (%s); a translation has another source language", p.lang)
		}
	} else if p.pubCategory == "translator" {
		c.add("source_lang", "required when the publisher is a translator: the language of the original")
	}
	if rd := text(f.ReleaseDate); rd != "" {
		t, err := authorParseDate(rd)
		if err != nil {
			c.add("release_date", "%v", err)
		}
		p.release = t
	}
	if s := text(f.Summary); s != "" {
		p.docNotes = append(p.docNotes, map[string]any{"category": "summary", "title": "Summary", "text": s})
	}
	p.docNotes = append(p.docNotes, authorNotes(c, "", f.MitigatingFactors, f.FAQ)...)
	p.legal = text(f.LegalDisclaimer)
	if p.legal != "" {
		p.docNotes = append(p.docNotes, map[string]any{"category": "legal_disclaimer", "title": "Terms of use", "text": p.legal})
	}
	p.references = authorReferences(c, "references", f.References)

	// The products.
	if len(f.Products) == 0 {
		c.add("products", "required: at least one product")
	}
	byID := map[string]*authorProduct{}
	byIdentity := map[string]*authorProduct{}
	broken := map[string]bool{} // ids of products with problems, reported already
	for i, fp := range f.Products {
		field := fmt.Sprintf("products[%d]", i)
		pr := &authorProduct{
			id: text(fp.ID), vendor: text(fp.Vendor), name: text(fp.Name), version: text(fp.Version),
			arch: text(fp.Architecture), cpe: text(fp.CPE), purl: text(fp.PURL), field: field,
		}
		ok := true
		if pr.vendor == "" {
			c.add(field+".vendor", "required: the product's vendor")
			ok = false
		}
		if pr.name == "" {
			c.add(field+".name", "required: the product's name")
			ok = false
		}
		if mark := docVersionRange(pr.version); mark != "" {
			c.add(field+".version", "%q is a version range (%s): list each version as a product", pr.version, mark)
		}
		if pr.cpe != "" && !authorCPERE.MatchString(pr.cpe) {
			c.add(field+".cpe", "%q is not a CPE 2.3 name (cpe:2.3:a:vendor:product:version:...) or CPE 2.2 URI", pr.cpe)
		}
		if pr.purl != "" {
			if err := purlCheck(pr.purl); err != nil {
				c.add(field+".purl", "%q is not a package URL: %v", pr.purl, err)
			}
		}
		idField := field + ".id"
		if pr.id == "" {
			pr.id = authorSlug(pr.name, pr.version, pr.arch)
			if pr.id == "" {
				pr.id = fmt.Sprintf("product-%d", i+1)
			}
			idField = field
		}
		if !ok {
			broken[pr.id] = true
			continue
		}
		if prev, dup := byID[pr.id]; dup {
			c.add(idField, "id %q is also the id of %s; give each product its own id", pr.id, prev.field)
			broken[pr.id] = true
			continue
		}
		if prev, dup := byIdentity[pr.identity()]; dup {
			c.add(field, "%s is listed twice (also %s)", pr.fullName(), prev.field)
			continue
		}
		pr.order = len(p.products)
		p.products = append(p.products, pr)
		byID[pr.id] = pr
		byIdentity[pr.identity()] = pr
		p.productKeysInOrder = append(p.productKeysInOrder, pr.id)
	}
	declared := len(p.products)
	lookup := func(field, key string) *authorProduct {
		key = text(key)
		if pr, ok := byID[key]; ok && pr.order < declared {
			return pr
		}
		if key == "" {
			c.add(field, "an empty product key")
			return nil
		}
		if broken[key] {
			return nil
		}
		keys := p.productKeysInOrder
		more := ""
		if len(keys) > 12 {
			keys, more = keys[:12], ", ..."
		}
		c.add(field, "%q is not a product of the form (products: %s%s)", key, strings.Join(keys, ", "), more)
		return nil
	}
	lookupAll := func(field string, keys ProductKeys) []*authorProduct {
		var out []*authorProduct
		for i, k := range keys {
			kf := field
			if len(keys) > 1 || c.lines[fmt.Sprintf("%s[%d]", field, i)] != 0 {
				kf = fmt.Sprintf("%s[%d]", field, i)
			}
			if pr := lookup(kf, k); pr != nil {
				out = append(out, pr)
			}
		}
		return out
	}
	// addFixed finds or adds the product with fixed version v of pr.
	addFixed := func(field string, pr *authorProduct, v string) *authorProduct {
		np := &authorProduct{vendor: pr.vendor, name: pr.name, version: v, arch: pr.arch, field: field, source: pr}
		if have, ok := byIdentity[np.identity()]; ok {
			return have
		}
		np.id = authorSlug(np.name, np.version, np.arch)
		if have, dup := byID[np.id]; dup {
			c.add(field, "the id %q of %s is already the id of %s; declare %s under products with its own id", np.id, np.fullName(), have.field, np.fullName())
			return nil
		}
		np.purl = authorFixedPURL(pr.purl, pr.version, v)
		np.cpe = authorFixedCPE(pr.cpe, pr.version, v)
		np.order = len(p.products)
		p.products = append(p.products, np)
		byID[np.id] = np
		byIdentity[np.identity()] = np
		return np
	}

	// The vulnerabilities.
	if len(f.Vulnerabilities) == 0 {
		c.add("vulnerabilities", "required: at least one vulnerability")
	}
	cves := map[string]string{}
	for vi, fv := range f.Vulnerabilities {
		vf := fmt.Sprintf("vulnerabilities[%d]", vi)
		v := authorVuln{title: text(fv.Title), severity: text(fv.Severity), status: text(fv.ExploitStatus)}
		v.cve = strings.ToUpper(text(fv.CVE))
		switch {
		case v.cve == "" && v.title == "":
			c.add(vf, "a vulnerability needs a cve or a title")
		case v.cve == "":
		case !authorCVERE.MatchString(v.cve):
			c.add(vf+".cve", "%q is not a CVE id such as CVE-2026-21001", fv.CVE)
		default:
			if prev, dup := cves[v.cve]; dup {
				c.add(vf+".cve", "%s is also the cve of %s; a CVE is one vulnerability", v.cve, prev)
			}
			cves[v.cve] = vf
		}
		if fv.CWE != nil {
			v.cwe = authorCWE(c, vf+".cwe", *fv.CWE)
		}
		if vec := text(fv.CVSSv31); vec != "" {
			cv, err := authorCVSS(vec)
			if err != nil {
				c.add(vf+".cvss_v31", "%v", err)
			}
			v.cvss = cv
		}
		if d := text(fv.Description); d == "" {
			c.add(vf+".description", "required: what the vulnerability is and what an attacker can do with it")
		} else {
			v.notes = append(v.notes, map[string]any{"category": "description", "title": "Description", "text": d})
		}
		v.notes = append(v.notes, authorNotes(c, vf+".", fv.MitigatingFactors, fv.FAQ)...)

		listed := lookupAll(vf+".affected", fv.Affected)
		affected := map[*authorProduct]bool{}
		for _, pr := range listed {
			affected[pr] = true
		}
		for fi, fx := range fv.Fixed {
			ff := fmt.Sprintf("%s.fixed[%d]", vf, fi)
			x := authorFix{url: text(fx.URL), details: text(fx.Details), version: text(fx.FixedVersion)}
			if len(fx.Products) > 0 {
				x.products = lookupAll(ff+".products", fx.Products)
			} else {
				if len(fv.Affected) == 0 {
					c.add(ff+".products", "required: the affected products this fix is for (or list them in affected)")
				}
				x.products = listed
			}
			for _, pr := range x.products {
				affected[pr] = true
			}
			if x.url != "" {
				if err := authorCheckURL(x.url); err != nil {
					c.add(ff+".url", "%v", err)
				}
			}
			fixedProduct := text(fx.FixedProduct)
			switch {
			case x.version == "" && fixedProduct == "":
				c.add(ff, "give fixed_version (the first version with the fix) or fixed_product (the key of the product with the fix)")
				continue
			case x.version != "" && fixedProduct != "":
				c.add(ff, "give either fixed_version or fixed_product, not both")
				continue
			case x.version != "":
				if mark := docVersionRange(x.version); mark != "" {
					c.add(ff+".fixed_version", "%q is a version range (%s): give the first version with the fix", x.version, mark)
					continue
				}
				for _, pr := range x.products {
					if pr.version == x.version {
						c.add(ff+".fixed_version", "%s is the version of the affected product %s itself", x.version, pr.id)
						x.targets = append(x.targets, nil)
						continue
					}
					x.targets = append(x.targets, addFixed(ff+".fixed_version", pr, x.version))
				}
			default:
				t := lookup(ff+".fixed_product", fixedProduct)
				for range x.products {
					x.targets = append(x.targets, t)
				}
			}
			v.fixes = append(v.fixes, x)
		}
		v.affected = authorSorted(affected)
		if len(v.affected) == 0 && len(fv.Affected) == 0 && len(fv.Fixed) == 0 {
			c.add(vf+".affected", "required: the keys of the products the vulnerability affects")
		}
		for _, x := range v.fixes {
			for _, t := range x.targets {
				if t != nil && affected[t] {
					c.add(vf+".fixed", "%s contains the fix but is also affected", t.id)
				}
			}
		}
		v.workarounds = authorRemedies(c, vf+".workarounds", fv.Workarounds, lookupAll, affected, "is not affected by this vulnerability")
		v.mitigations = authorRemedies(c, vf+".mitigations", fv.Mitigations, lookupAll, affected, "is not affected by this vulnerability")
		v.references = authorReferences(c, vf+".references", fv.References)
		p.vulns = append(p.vulns, v)
	}

	// The workarounds of the whole advisory apply to each vulnerability that affects their
	// products.
	anyAffected := map[*authorProduct]bool{}
	for _, v := range p.vulns {
		for _, pr := range v.affected {
			anyAffected[pr] = true
		}
	}
	p.docWorkarounds = authorRemedies(c, "workarounds", f.Workarounds, lookupAll, anyAffected, "is affected by none of the vulnerabilities")

	// A fixed version patchday added goes right after the product it fixes.
	var ordered []*authorProduct
	for _, pr := range p.products[:declared] {
		ordered = append(ordered, pr)
		for _, np := range p.products[declared:] {
			if np.source == pr {
				ordered = append(ordered, np)
			}
		}
	}
	for i, pr := range ordered {
		pr.order = i
	}
	p.products = ordered
	authorCheckTree(c, p.products)
	if len(c.problems) > 0 {
		return nil, &FormError{Problems: c.problems}
	}
	return p, nil
}

func authorOneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// authorSorted lists a set of products in product order.
func authorSorted(set map[*authorProduct]bool) []*authorProduct {
	out := make([]*authorProduct, 0, len(set))
	for pr := range set {
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

func authorIDs(ps []*authorProduct) []string {
	ids := make([]string, len(ps))
	for i, pr := range ps {
		ids[i] = pr.id
	}
	return ids
}

func authorCheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%q is not an absolute URL such as https://example.com/advisories", s)
	}
	return nil
}

// authorParseDate reads an RFC 3339 date-time or a date (midnight UTC).
func authorParseDate(s string) (time.Time, error) {
	if t, ok := revParseTime(s); ok {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date-time such as 2026-03-10T17:00:00Z, or a date such as 2026-03-10", s)
}

// authorTime is the JSON text of a date: UTC, to the second.
func authorTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// authorNotes makes the notes of mitigating factors and FAQ.
func authorNotes(c *authorChecker, prefix string, factors []string, faq []FormFAQ) []map[string]any {
	var notes []map[string]any
	var fs []string
	for i, mf := range factors {
		if mf = strings.TrimSpace(mf); mf == "" {
			c.add(fmt.Sprintf("%smitigating_factors[%d]", prefix, i), "an empty mitigating factor")
			continue
		}
		fs = append(fs, mf)
	}
	switch len(fs) {
	case 0:
	case 1:
		notes = append(notes, map[string]any{"category": "details", "title": "Mitigating factors", "text": fs[0]})
	default:
		notes = append(notes, map[string]any{"category": "details", "title": "Mitigating factors", "text": "- " + strings.Join(fs, "\n- ")})
	}
	for i, q := range faq {
		field := fmt.Sprintf("%sfaq[%d]", prefix, i)
		question, answer := strings.TrimSpace(q.Question), strings.TrimSpace(q.Answer)
		if question == "" {
			c.add(field+".question", "required")
		}
		if answer == "" {
			c.add(field+".answer", "required")
		}
		if question != "" && answer != "" {
			notes = append(notes, map[string]any{"category": "faq", "title": question, "text": answer})
		}
	}
	return notes
}

func authorReferences(c *authorChecker, field string, refs []FormReference) []FormReference {
	var out []FormReference
	for i, r := range refs {
		rf := fmt.Sprintf("%s[%d]", field, i)
		r = FormReference{URL: strings.TrimSpace(r.URL), Summary: strings.TrimSpace(r.Summary)}
		if r.URL == "" {
			c.add(rf+".url", "required")
			continue
		}
		if err := authorCheckURL(r.URL); err != nil {
			c.add(rf+".url", "%v", err)
			continue
		}
		if r.Summary == "" {
			r.Summary = r.URL
		}
		out = append(out, r)
	}
	return out
}

func authorRemedies(c *authorChecker, field string, rs []FormRemedy, lookupAll func(string, ProductKeys) []*authorProduct, affected map[*authorProduct]bool, notAffected string) []authorRemedy {
	var out []authorRemedy
	for i, r := range rs {
		rf := fmt.Sprintf("%s[%d]", field, i)
		x := authorRemedy{text: strings.TrimSpace(r.Text), url: strings.TrimSpace(r.URL)}
		if x.text == "" {
			c.add(rf+".text", "required: what to do")
		}
		if x.url != "" {
			if err := authorCheckURL(x.url); err != nil {
				c.add(rf+".url", "%v", err)
			}
		}
		if len(r.Products) > 0 {
			x.products = lookupAll(rf+".products", r.Products)
			for _, pr := range x.products {
				if !affected[pr] {
					c.add(rf+".products", "%s %s", pr.id, notAffected)
				}
			}
		}
		out = append(out, x)
	}
	return out
}

// authorCWE checks a CWE against the CWE list and fills in its name.
func authorCWE(c *authorChecker, field string, in FormCWE) *FormCWE {
	id := strings.ToUpper(strings.TrimSpace(in.ID))
	if id != "" && id[0] >= '0' && id[0] <= '9' {
		id = "CWE-" + id
	}
	name := strings.TrimSpace(in.Name)
	if !authorCWERE.MatchString(id) {
		c.add(field, "%q is not a CWE id such as CWE-787", in.ID)
		return nil
	}
	list, err := cweCatalog()
	if err != nil {
		c.add(field, "the CWE list cannot be read: %v", err)
		return nil
	}
	want, ok := list.Weaknesses[id]
	if !ok {
		c.add(field, "%s is not a weakness of the CWE list (version %s)", id, list.Version)
		return nil
	}
	if name != "" && name != want {
		c.add(field+".name", "%s is named %q in the CWE list (version %s); leave the name out to use it", id, want, list.Version)
		return nil
	}
	return &FormCWE{ID: id, Name: want}
}

// authorCVSS computes the cvss_v3 object of a CVSS v3.1 vector: version, canonical vector,
// base metrics, and the base score and severity; the temporal and environmental score and
// severity when the vector has such metrics.
func authorCVSS(vec string) (map[string]any, error) {
	if !strings.HasPrefix(vec, "CVSS:") {
		vec = "CVSS:3.1/" + vec
	}
	if !strings.HasPrefix(vec, "CVSS:3.1/") {
		return nil, fmt.Errorf("%q is not a CVSS v3.1 vector: it must start with CVSS:3.1/", vec)
	}
	cv, err := gocvss31.ParseVector(vec)
	if err != nil {
		return nil, fmt.Errorf("%q is not a CVSS v3.1 vector: %v", vec, err)
	}
	canonical := cv.Vector()
	metrics, _ := cvssVectorMetrics("cvss_v3", canonical)
	o := map[string]any{"version": "3.1", "vectorString": canonical}
	for _, m := range cvss3Metrics {
		if !m.Optional {
			o[m.Prop] = m.Values[metrics[m.Abbr]]
		}
	}
	rate := func(score float64) string {
		r, _ := gocvss31.Rating(score)
		return r
	}
	o["baseScore"], o["baseSeverity"] = cv.BaseScore(), rate(cv.BaseScore())
	has := func(abbrs ...string) bool {
		for _, a := range abbrs {
			if _, ok := metrics[a]; ok {
				return true
			}
		}
		return false
	}
	if has("E", "RL", "RC") {
		o["temporalScore"], o["temporalSeverity"] = cv.TemporalScore(), rate(cv.TemporalScore())
	}
	if has("CR", "IR", "AR", "MAV", "MAC", "MPR", "MUI", "MS", "MC", "MI", "MA") {
		o["environmentalScore"], o["environmentalSeverity"] = cv.EnvironmentalScore(), rate(cv.EnvironmentalScore())
	}
	return o, nil
}

// authorFixedPURL is the purl of the fixed version of a product whose purl carries its
// version, else "".
func authorFixedPURL(purl, version, fixed string) string {
	if purl == "" {
		return ""
	}
	p, err := packageurl.FromString(purl)
	if err != nil || p.Version == "" || p.Version != version {
		return ""
	}
	p.Version = fixed
	s := p.ToString()
	if purlCheck(s) != nil {
		return ""
	}
	return s
}

var authorCPEVersionSafe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// authorFixedCPE is the CPE of the fixed version of a product whose CPE carries its
// version, else "".
func authorFixedCPE(cpe, version, fixed string) string {
	if cpe == "" || !authorCPEVersionSafe.MatchString(version) || !authorCPEVersionSafe.MatchString(fixed) {
		return ""
	}
	var parts []string
	var at int
	switch {
	case strings.HasPrefix(cpe, "cpe:2.3:"):
		parts, at = authorSplitCPE(cpe), 5
	case strings.HasPrefix(strings.ToLower(cpe), "cpe:/"):
		parts, at = strings.Split(cpe, ":"), 4
	default:
		return ""
	}
	if len(parts) <= at || parts[at] != version {
		return ""
	}
	parts[at] = fixed
	s := strings.Join(parts, ":")
	if !authorCPERE.MatchString(s) {
		return ""
	}
	return s
}

// authorSplitCPE splits a CPE 2.3 formatted string at the colons that are not escaped.
func authorSplitCPE(s string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case ':':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// authorTreeNode is a branch of the product tree being built.
type authorTreeNode struct {
	category, name string
	product        *authorProduct
	children       []*authorTreeNode
}

func (n *authorTreeNode) child(category, name string) *authorTreeNode {
	for _, ch := range n.children {
		if ch.category == category && ch.name == name {
			return ch
		}
	}
	ch := &authorTreeNode{category: category, name: name}
	n.children = append(n.children, ch)
	return ch
}

// authorTree places the products in a vendor -> product_name -> product_version ->
// architecture tree, in product order. A branch holds either a product or further
// branches, so a product cannot sit where other products branch off (such as a version
// without architecture beside builds of it with one).
func authorTree(products []*authorProduct) (*authorTreeNode, []FieldError) {
	root := &authorTreeNode{}
	var problems []FieldError
	for _, pr := range products {
		n := root.child("vendor", pr.vendor).child("product_name", pr.name)
		if pr.version != "" {
			n = n.child("product_version", pr.version)
		}
		if pr.arch != "" {
			n = n.child("architecture", pr.arch)
		}
		if n.product != nil {
			problems = append(problems, FieldError{Field: pr.field, Message: fmt.Sprintf("%s is listed twice (also %s)", pr.fullName(), n.product.field)})
			continue
		}
		n.product = pr
	}
	var walk func(n *authorTreeNode)
	walk = func(n *authorTreeNode) {
		for _, ch := range n.children {
			if ch.product != nil && len(ch.children) > 0 {
				other := ch.children[0]
				for other.product == nil {
					other = other.children[0]
				}
				problems = append(problems, FieldError{Field: ch.product.field, Message: fmt.Sprintf(
					"%s has less detail than %s (%s): give it a version and architecture in the same way", ch.product.fullName(), other.product.fullName(), other.product.field)})
			}
			walk(ch)
		}
	}
	walk(root)
	return root, problems
}

func authorCheckTree(c *authorChecker, products []*authorProduct) {
	_, problems := authorTree(products)
	for _, pr := range problems {
		c.add(pr.Field, "%s", pr.Message)
	}
}

func (n *authorTreeNode) json() []any {
	var out []any
	for _, ch := range n.children {
		b := map[string]any{"category": ch.category, "name": ch.name}
		if ch.product != nil {
			b["product"] = ch.product.json()
		} else {
			b["branches"] = ch.json()
		}
		out = append(out, b)
	}
	return out
}

func (p *authorProduct) json() map[string]any {
	o := map[string]any{"name": p.fullName(), "product_id": p.id}
	helper := map[string]any{}
	if p.cpe != "" {
		helper["cpe"] = p.cpe
	}
	if p.purl != "" {
		helper["purl"] = p.purl
	}
	if len(helper) > 0 {
		o["product_identification_helper"] = helper
	}
	return o
}

// document assembles the CSAF document of a compiled form.
func (p *authorPlan) document(now time.Time) map[string]any {
	release := p.release
	if release.IsZero() {
		release = now
	}
	pub := map[string]any{"category": p.pubCategory, "name": p.publisher.Name, "namespace": p.publisher.Namespace}
	if p.publisher.ContactDetails != "" {
		pub["contact_details"] = p.publisher.ContactDetails
	}
	if p.publisher.IssuingAuthority != "" {
		pub["issuing_authority"] = p.publisher.IssuingAuthority
	}
	doc := map[string]any{
		"category":     profSecurityAdvisory,
		"csaf_version": "2.0",
		"title":        p.title,
		"lang":         p.lang,
		"publisher":    pub,
		"distribution": map[string]any{"tlp": map[string]any{"label": p.tlp, "url": "https://www.first.org/tlp/"}},
		"tracking": map[string]any{
			"id":                   p.trackingID,
			"status":               p.status,
			"version":              "1",
			"initial_release_date": authorTime(release),
			"current_release_date": authorTime(release),
			"revision_history":     []any{map[string]any{"date": authorTime(release), "number": "1", "summary": "Initial release."}},
			"generator":            authorGenerator(now),
		},
	}
	if p.sourceLang != "" {
		doc["source_lang"] = p.sourceLang
	}
	if p.severity != "" {
		doc["aggregate_severity"] = map[string]any{"text": p.severity}
	}
	if len(p.docNotes) > 0 {
		doc["notes"] = p.docNotes
	}
	if refs := authorReferencesJSON(p.references); refs != nil {
		doc["references"] = refs
	}
	tree, _ := authorTree(p.products)
	vulns := make([]any, 0, len(p.vulns))
	for _, v := range p.vulns {
		vulns = append(vulns, p.vulnerability(v))
	}
	return map[string]any{
		"document":        doc,
		"product_tree":    map[string]any{"branches": tree.json()},
		"vulnerabilities": vulns,
	}
}

func authorGenerator(now time.Time) map[string]any {
	return map[string]any{"date": authorTime(now), "engine": map[string]any{"name": GeneratorEngine}}
}

func authorReferencesJSON(refs []FormReference) []any {
	var out []any
	for _, r := range refs {
		out = append(out, map[string]any{"category": "external", "summary": r.Summary, "url": r.URL})
	}
	return out
}

func (p *authorPlan) vulnerability(v authorVuln) map[string]any {
	o := map[string]any{"notes": v.notes}
	if v.cve != "" {
		o["cve"] = v.cve
	}
	if v.title != "" {
		o["title"] = v.title
	}
	if v.cwe != nil {
		o["cwe"] = map[string]any{"id": v.cwe.ID, "name": v.cwe.Name}
	}
	affected := authorIDs(v.affected)
	status := map[string]any{"known_affected": affected}
	fixedSet := map[*authorProduct]bool{}
	for _, x := range v.fixes {
		for _, t := range x.targets {
			fixedSet[t] = true
		}
	}
	if fixed := authorIDs(authorSorted(fixedSet)); len(fixed) > 0 {
		// The fix versions are the first to contain the fix, and fixed.
		status["first_fixed"] = fixed
		status["fixed"] = fixed
	}
	o["product_status"] = status
	if v.cvss != nil {
		o["scores"] = []any{map[string]any{"cvss_v3": v.cvss, "products": affected}}
	}
	var threats []any
	if v.severity != "" {
		threats = append(threats, map[string]any{"category": "impact", "details": v.severity, "product_ids": affected})
	}
	if v.status != "" {
		threats = append(threats, map[string]any{"category": "exploit_status", "details": v.status, "product_ids": affected})
	}
	if threats != nil {
		o["threats"] = threats
	}

	// Remediations: the vendor fixes (one per text and URL), none_available for the
	// affected products without a fix, then workarounds and mitigations.
	var rems []any
	type fixKey struct{ details, url string }
	var order []fixKey
	fixProducts := map[fixKey]map[*authorProduct]bool{}
	fixed := map[*authorProduct]bool{}
	for _, x := range v.fixes {
		for i, pr := range x.products {
			t := x.targets[i]
			details := x.details
			if details == "" {
				if x.version != "" {
					details = fmt.Sprintf("Update %s to version %s or later.", pr.name, x.version)
				} else {
					details = fmt.Sprintf("Update to %s.", t.fullName())
				}
			}
			k := fixKey{details, x.url}
			if fixProducts[k] == nil {
				fixProducts[k] = map[*authorProduct]bool{}
				order = append(order, k)
			}
			fixProducts[k][pr] = true
			fixed[pr] = true
		}
	}
	for _, k := range order {
		r := map[string]any{"category": "vendor_fix", "details": k.details, "product_ids": authorIDs(authorSorted(fixProducts[k]))}
		if k.url != "" {
			r["url"] = k.url
		}
		rems = append(rems, r)
	}
	var unfixed []*authorProduct
	for _, pr := range v.affected {
		if !fixed[pr] {
			unfixed = append(unfixed, pr)
		}
	}
	if len(unfixed) > 0 {
		rems = append(rems, map[string]any{"category": "none_available", "details": "No fix is available yet.", "product_ids": authorIDs(unfixed)})
	}
	inAffected := map[*authorProduct]bool{}
	for _, pr := range v.affected {
		inAffected[pr] = true
	}
	remedy := func(category string, r authorRemedy) {
		ps := v.affected
		if r.products != nil {
			ps = nil
			for _, pr := range r.products {
				if inAffected[pr] {
					ps = append(ps, pr)
				}
			}
		}
		if len(ps) == 0 {
			return // a workaround of the advisory for products this vulnerability spares
		}
		o := map[string]any{"category": category, "details": r.text, "product_ids": authorIDs(authorDedupe(ps))}
		if r.url != "" {
			o["url"] = r.url
		}
		rems = append(rems, o)
	}
	for _, r := range v.workarounds {
		remedy("workaround", r)
	}
	for _, r := range p.docWorkarounds {
		remedy("workaround", r)
	}
	for _, r := range v.mitigations {
		remedy("mitigation", r)
	}
	if rems != nil {
		o["remediations"] = rems
	}
	if refs := authorReferencesJSON(v.references); refs != nil {
		o["references"] = refs
	}
	return o
}

func authorDedupe(ps []*authorProduct) []*authorProduct {
	set := map[*authorProduct]bool{}
	for _, pr := range ps {
		set[pr] = true
	}
	return authorSorted(set)
}

// authorEncode writes JSON indented by two spaces, object keys sorted, without escaping
// HTML characters, with a final newline.
func authorEncode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("csaf: encoding the document: %w", err)
	}
	return b.Bytes(), nil
}

// Revise makes the next revision of a published document: it applies edit to the parsed
// document (edit changes d.Raw, the generic JSON tree; d.Advisory is not read back; edit
// may be nil), then
//   - bumps /document/tracking/version (see below),
//   - appends a revision history entry {date: now, number: the new version, summary},
//   - sets current_release_date and the generator's date to now and the generator's engine
//     to patchday,
//
// and keeps the tracking id, the initial release date, the status (which edit may change)
// and the earlier revision history entries; the one exception is that a final or interim
// document drops the entries of initial development versions (0, 0.y.z), as mandatory test
// 6.1.18 requires. The result is indented JSON with sorted keys, and it must pass Validate,
// else the error is a *ValidationError. doc itself is not changed.
//
// Versions: an integer version n becomes n+1. A semantic version follows the guidance for
// CSAF semantic versioning (section 3.1.11.2): the major version grows when the
// information that users match against their assets changes (the product tree, or a
// vulnerability's CVE, ids or product status), the minor version for any other change. A
// pre-release (drafts only) becomes its release version when that is newer than the
// revision history; a 0.y.z version grows its minor version while the document is a draft,
// and becomes 1.0.0 when it is released. patchday never bumps the patch version on its
// own: a typo fix is an edit like any other.
//
// now must not be before the latest revision's date: a scheduled advisory that is not
// released yet is changed by building it again, not by revising it.
func Revise(doc []byte, edit func(*Document) error, summary string, now time.Time) ([]byte, error) {
	summary = strings.TrimSpace(summary)
	if summary == "" {
		return nil, errors.New("csaf: a revision needs a summary of what changed")
	}
	d, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	tr := d.revTracking()
	if tr == nil {
		return nil, errors.New("csaf: the document has no /document/tracking")
	}
	prev, ok := parseRevVersion(str(tr, "version"))
	if !ok {
		return nil, fmt.Errorf("csaf: /document/tracking/version %q is not a document version", str(tr, "version"))
	}
	var history []revVersion
	latest, _ := revParseTime(str(tr, "current_release_date"))
	for _, it := range d.revHistory() {
		if it.VersionOK {
			history = append(history, it.Version)
		}
		if it.DateOK && it.Date.After(latest) {
			latest = it.Date
		}
	}
	now = now.UTC().Truncate(time.Second)
	if now.Before(latest.Truncate(time.Second)) {
		return nil, fmt.Errorf("csaf: the revision date %s is before the latest revision, of %s (a scheduled advisory is built again, not revised)",
			authorTime(now), latest.UTC().Format(time.RFC3339))
	}
	before := authorMatchPrint(d.Raw)
	if edit != nil {
		if err := edit(d); err != nil {
			return nil, err
		}
	}
	tr = d.revTracking()
	if tr == nil {
		return nil, errors.New("csaf: the edit removed /document/tracking")
	}
	status := str(tr, "status")
	released := status == "final" || status == "interim"
	next := authorNextVersion(prev, history, before != authorMatchPrint(d.Raw), released)
	entries := []any{}
	for _, e := range arr(tr, "revision_history") {
		if released {
			if v, ok := parseRevVersion(str(e, "number")); ok && v.InitialDevelopment() && next != "0" && !strings.HasPrefix(next, "0.") {
				continue // 6.1.18: a released document has no initial development revisions
			}
		}
		entries = append(entries, e)
	}
	date := authorTime(now)
	tr["revision_history"] = append(entries, map[string]any{"date": date, "number": next, "summary": summary})
	tr["version"] = next
	tr["current_release_date"] = date
	tr["generator"] = authorGenerator(now)
	out, err := authorEncode(d.Raw)
	if err != nil {
		return nil, err
	}
	if _, err := Validate(out); err != nil {
		return nil, err
	}
	return out, nil
}

// Redate gives a revision that waits for its release the release time at: its
// current_release_date and the date of its own revision history entry, and when no
// revision of the advisory is released yet (first), its initial_release_date too; any
// earlier history entry dated later than at (another pending revision's) moves back to at. A document already dated at
// is returned as it is (changed false); a changed one is indented JSON with sorted keys and
// must pass Validate, else the error is a *ValidationError.
func Redate(doc []byte, at time.Time, first bool) (out []byte, changed bool, err error) {
	d, err := Parse(doc)
	if err != nil {
		return nil, false, err
	}
	tr := d.revTracking()
	if tr == nil {
		return nil, false, errors.New("csaf: the document has no /document/tracking")
	}
	date := authorTime(at)
	set := func(m map[string]any, key string) {
		if t, ok := revParseTime(str(m, key)); !ok || !t.Truncate(time.Second).Equal(at.Truncate(time.Second)) {
			m[key] = date
			changed = true
		}
	}
	set(tr, "current_release_date")
	if first {
		set(tr, "initial_release_date")
	}
	version := str(tr, "version")
	for _, e := range arr(tr, "revision_history") {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		t, ok := revParseTime(str(m, "date"))
		// Entries dated after at are pending too (published ones lie in the past): moved
		// back with it, or the history would run backwards.
		if str(m, "number") == version || (ok && t.After(at)) {
			set(m, "date")
		}
	}
	if !changed {
		return doc, false, nil
	}
	if out, err = authorEncode(d.Raw); err != nil {
		return nil, false, err
	}
	if _, err := Validate(out); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// authorMatchPrint is the part of a document that users match against their assets: the
// product tree and each vulnerability's CVE, ids and product status.
func authorMatchPrint(raw map[string]any) string {
	var vs []any
	for _, v := range arr(raw, "vulnerabilities") {
		m, _ := v.(map[string]any)
		vs = append(vs, []any{m["cve"], m["ids"], m["product_status"]})
	}
	b, _ := json.Marshal([]any{raw["product_tree"], vs})
	return string(b)
}

// authorNextVersion is the version after prev (see Revise).
func authorNextVersion(prev revVersion, history []revVersion, matchingChanged, released bool) string {
	inc := func(s string) string {
		n, _ := new(big.Int).SetString(s, 10)
		return n.Add(n, big.NewInt(1)).String()
	}
	if !prev.Semantic {
		return inc(prev.Raw)
	}
	base := revVersion{Semantic: true, Major: prev.Major, Minor: prev.Minor, Patch: prev.Patch}
	base.Raw = base.Trimmed(true)
	if prev.PreRelease() && !(released && base.InitialDevelopment()) {
		newer := true
		for _, h := range history {
			if compareRevVersions(h, base) >= 0 {
				newer = false
			}
		}
		if newer {
			return base.Raw
		}
	}
	switch {
	case base.InitialDevelopment() && released:
		return "1.0.0"
	case base.InitialDevelopment(), !matchingChanged:
		return base.Major + "." + inc(base.Minor) + ".0"
	}
	return inc(base.Major) + ".0.0"
}

// ReviseWithForm makes the next revision of a published document from an updated form:
// the content (document metadata, notes, references, product tree, vulnerabilities) is
// built from the form, and the tracking is the published document's (tracking id, initial
// release date, revision history) with the form's status, a new version and a new revision
// history entry, as Revise does. The form's tracking id must be the document's (or empty);
// its release date is not used. Form problems give a *FormError.
func ReviseWithForm(prev []byte, f Form, summary string, now time.Time) ([]byte, error) {
	d, err := Parse(prev)
	if err != nil {
		return nil, err
	}
	id := str(d.revTracking(), "id")
	switch strings.TrimSpace(f.TrackingID) {
	case "":
		f.TrackingID = id
	case id:
	default:
		c := &authorChecker{lines: f.lines}
		c.add("tracking_id", "%q is not the tracking id of the advisory being revised, %q", f.TrackingID, id)
		return nil, &FormError{Problems: c.problems}
	}
	built, err := f.Build(now)
	if err != nil {
		return nil, err
	}
	nd, err := Parse(built)
	if err != nil {
		return nil, err
	}
	return Revise(prev, func(d *Document) error {
		tr := d.revTracking()
		if tr == nil {
			return errors.New("csaf: the document has no /document/tracking")
		}
		tr["status"] = str(nd.revTracking(), "status")
		obj(nd.Raw, "document")["tracking"] = tr
		d.Raw = nd.Raw
		return nil
	}, summary, now)
}
