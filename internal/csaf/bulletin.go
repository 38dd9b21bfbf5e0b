package csaf

// The read side of an advisory: what a reader wants of a CSAF document, the way a security
// bulletin reads (summary, per vulnerability its description, scores, mitigating factors,
// workarounds, FAQ, the affected and fixed products by name, references), with product ids
// and product groups resolved to product names. The authoring form (author.go) writes these
// parts; Bulletin reads them back, from its documents and from any other publisher's.

import (
	"strings"
	"unicode/utf8"
)

// Bounds of a bulletin. A document may have 32 MiB, and product groups let a short list of
// ids stand for many long names, so a bulletin keeps at most this much; Truncated (texts,
// lists) and ProductList.More (product names) say what was left out, which the CSAF document
// itself still has.
const (
	// BulletinMaxText is the most bytes of one text (a note, a remediation's details); a
	// longer text is cut at a character boundary and ends with "…".
	BulletinMaxText = 32 << 10
	// BulletinMaxItems is the most items of one list: notes, references, scores, threats,
	// remediations of one category, mitigating factors, FAQ.
	BulletinMaxItems = 100
	// BulletinMaxVulnerabilities is the most vulnerabilities of a bulletin.
	BulletinMaxVulnerabilities = 200
	// BulletinMaxProducts is the most product names of one product list.
	BulletinMaxProducts = 50
	// BulletinMaxName is the most bytes of one product name; BulletinMaxNameBytes those of
	// all the product names of a bulletin, which repeat one name in every list that holds
	// it: a small document must not make a huge bulletin.
	BulletinMaxName      = 256
	BulletinMaxNameBytes = 1 << 20
	// BulletinMaxNames is the most product names of a whole bulletin; once it is reached,
	// product lists only count their products.
	BulletinMaxNames = 10000

	// bulletinMaxWork bounds the product ids looked up for a bulletin (product groups
	// repeat theirs in every list that names them); past it, lists count their products.
	bulletinMaxWork = 1 << 20
)

// Bulletin is the readable content of a CSAF document.
type Bulletin struct {
	TrackingID string `json:"tracking_id"`
	Title      string `json:"title"`
	Publisher  string `json:"publisher,omitempty"`
	Version    string `json:"version,omitempty"`
	// AggregateSeverity is the publisher's wording of the overall severity
	// (/document/aggregate_severity/text), such as "Critical" or "Moderate".
	AggregateSeverity string `json:"aggregate_severity,omitempty"`
	// Notes are the document's notes (summary, description, details, general, faq outside
	// FAQ, legal_disclaimer, other) in document order, except the mitigating factors and the
	// FAQ, which have their own fields.
	Notes []Note `json:"notes"`
	// MitigatingFactors are the items of the notes titled "Mitigating factors" (as the
	// authoring form writes them: one note of category details, its factors a "- " list).
	MitigatingFactors []string `json:"mitigating_factors"`
	// FAQ are the notes of category faq: the title is the question, the text the answer.
	FAQ             []FAQ                   `json:"faq"`
	References      []Reference             `json:"references"`
	Vulnerabilities []BulletinVulnerability `json:"vulnerabilities"`
	// Truncated says that a text or a list was cut to the bounds above.
	Truncated bool `json:"truncated,omitempty"`
}

// Note is a note of the document or of a vulnerability.
type Note struct {
	// Category is description, details, faq, general, legal_disclaimer, other or summary.
	Category string `json:"category"`
	Title    string `json:"title,omitempty"`
	Text     string `json:"text"`
}

// FAQ is a question and its answer.
type FAQ struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// Reference is a link: category external or self, a summary and the URL.
type Reference struct {
	Category string `json:"category,omitempty"`
	Summary  string `json:"summary"`
	URL      string `json:"url"`
}

// CWE is a weakness.
type CWE struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ProductList is a list of full product names, in document order, each once. More counts
// the products left out (see BulletinMaxProducts; in a very large document, products past
// a bound of work are counted without telling duplicates apart); a product id the product
// tree does not define shows as the id.
type ProductList struct {
	Names []string `json:"names"`
	More  int      `json:"more,omitempty"`
}

// Len is the number of products of the list, shown or not.
func (l *ProductList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.Names) + l.More
}

// BulletinVulnerability is one vulnerability of a bulletin.
type BulletinVulnerability struct {
	CVE   string `json:"cve,omitempty"`
	Title string `json:"title,omitempty"`
	CWE   *CWE   `json:"cwe,omitempty"`
	// Notes, MitigatingFactors and FAQ are the vulnerability's notes, as Bulletin's.
	Notes             []Note        `json:"notes"`
	MitigatingFactors []string      `json:"mitigating_factors"`
	FAQ               []FAQ         `json:"faq"`
	Scores            []Score       `json:"scores"`
	Threats           []Threat      `json:"threats"`
	Remediations      Remediations  `json:"remediations"`
	ProductStatus     ProductStatus `json:"product_status"`
	References        []Reference   `json:"references"`
}

// Score is a CVSS score of a vulnerability for some products.
type Score struct {
	// Version is the CVSS version of the vector: "2.0", "3.0", "3.1" or "4.0".
	Version   string  `json:"version"`
	BaseScore float64 `json:"base_score"`
	// Severity is the base severity in lower case (critical, high, medium, low, none); ""
	// for CVSS v2, which has none.
	Severity string      `json:"severity,omitempty"`
	Vector   string      `json:"vector"`
	Products ProductList `json:"products"`
}

// Threat is a threat of a vulnerability: category impact (the publisher's rating, such as
// "Critical"), exploit_status or target_set, with its details.
type Threat struct {
	Category string      `json:"category"`
	Details  string      `json:"details"`
	Date     string      `json:"date,omitempty"`
	Products ProductList `json:"products"`
}

// Remediations are a vulnerability's remediations by category, each in document order.
type Remediations struct {
	VendorFix     []Remediation `json:"vendor_fix,omitempty"`
	Workaround    []Remediation `json:"workaround,omitempty"`
	Mitigation    []Remediation `json:"mitigation,omitempty"`
	NoneAvailable []Remediation `json:"none_available,omitempty"`
	NoFixPlanned  []Remediation `json:"no_fix_planned,omitempty"`
}

// Remediation is one remediation: what to do, for which products.
type Remediation struct {
	Details string `json:"details"`
	URL     string `json:"url,omitempty"`
	Date    string `json:"date,omitempty"`
	// RestartRequired is the category of /restart_required (none, service, system, ...),
	// when the document says.
	RestartRequired string      `json:"restart_required,omitempty"`
	Products        ProductList `json:"products"`
}

// ProductStatus is a vulnerability's product status lists (CSAF 3.2.3.9) by name.
type ProductStatus struct {
	FirstAffected      *ProductList `json:"first_affected,omitempty"`
	KnownAffected      *ProductList `json:"known_affected,omitempty"`
	LastAffected       *ProductList `json:"last_affected,omitempty"`
	UnderInvestigation *ProductList `json:"under_investigation,omitempty"`
	FirstFixed         *ProductList `json:"first_fixed,omitempty"`
	Fixed              *ProductList `json:"fixed,omitempty"`
	Recommended        *ProductList `json:"recommended,omitempty"`
	KnownNotAffected   *ProductList `json:"known_not_affected,omitempty"`
}

// StatusList is a labelled product status list, for display.
type StatusList struct {
	Status   string // the CSAF name, such as known_affected
	Label    string // "Affected", "Fixed in", ...
	Products *ProductList
}

// Lists are the product status lists that have products, labelled, in reading order:
// affected, under investigation, fixed, recommended, not affected. The first fixed versions
// are left out when they are the fixed list again (the authoring form writes both alike).
func (s ProductStatus) Lists() []StatusList {
	firstFixed := s.FirstFixed
	if firstFixed != nil && s.Fixed != nil && firstFixed.More == s.Fixed.More &&
		strings.Join(firstFixed.Names, "\x00") == strings.Join(s.Fixed.Names, "\x00") {
		firstFixed = nil
	}
	var out []StatusList
	for _, l := range []StatusList{
		{"known_affected", "Affected", s.KnownAffected},
		{"first_affected", "First affected", s.FirstAffected},
		{"last_affected", "Last affected", s.LastAffected},
		{"under_investigation", "Under investigation", s.UnderInvestigation},
		{"fixed", "Fixed in", s.Fixed},
		{"first_fixed", "First fixed in", firstFixed},
		{"recommended", "Recommended", s.Recommended},
		{"known_not_affected", "Not affected", s.KnownNotAffected},
	} {
		if l.Products.Len() > 0 {
			out = append(out, l)
		}
	}
	return out
}

// Severity is the vulnerability's severity as a reader wants it first: the publisher's
// rating (Impact), else the severity of its highest CVSS score.
func (v BulletinVulnerability) Severity() string {
	if s := v.Impact(); s != "" {
		return s
	}
	if s := v.TopScore(); s != nil {
		return s.Severity
	}
	return ""
}

// TopScore is the vulnerability's highest CVSS score of the newest CVSS version, or nil.
func (v BulletinVulnerability) TopScore() *Score {
	var top *Score
	for i := range v.Scores {
		s := &v.Scores[i]
		if top == nil || s.Version > top.Version || (s.Version == top.Version && s.BaseScore > top.BaseScore) {
			top = s
		}
	}
	return top
}

// Impact is the publisher's rating of the vulnerability, such as "Critical": the details of
// its first threat of category impact.
func (v BulletinVulnerability) Impact() string { return v.threat("impact") }

// ExploitStatus is the details of the vulnerability's first threat of category
// exploit_status, such as "Exploited: no".
func (v BulletinVulnerability) ExploitStatus() string { return v.threat("exploit_status") }

func (v BulletinVulnerability) threat(category string) string {
	for _, t := range v.Threats {
		if t.Category == category && t.Details != "" {
			return t.Details
		}
	}
	return ""
}

// Empty reports whether the bulletin says nothing beyond its title.
func (b *Bulletin) Empty() bool {
	return len(b.Notes) == 0 && len(b.MitigatingFactors) == 0 && len(b.FAQ) == 0 && len(b.References) == 0 && len(b.Vulnerabilities) == 0
}

// ReadBulletin parses a CSAF document and reads its bulletin.
func ReadBulletin(data []byte) (Bulletin, error) {
	d, err := Parse(data)
	if err != nil {
		return Bulletin{}, err
	}
	return d.Bulletin(), nil
}

// Bulletin reads the readable content of the document. It does not need a valid document: a
// missing or mistyped value reads as absent.
func (d *Document) Bulletin() Bulletin {
	doc := obj(d.Raw, "document")
	r := &bulletinReader{names: map[string]string{}, groups: d.docGroupMembers()}
	d.docProductObjects(func(p map[string]any, _ string) {
		if id, name := str(p, "product_id"), str(p, "name"); id != "" && name != "" {
			if _, dup := r.names[id]; !dup {
				r.names[id] = name
			}
		}
	})
	b := Bulletin{
		TrackingID:        str(obj(doc, "tracking"), "id"),
		Title:             r.text(str(doc, "title")),
		Publisher:         str(obj(doc, "publisher"), "name"),
		Version:           str(obj(doc, "tracking"), "version"),
		AggregateSeverity: str(obj(doc, "aggregate_severity"), "text"),
	}
	b.Notes, b.MitigatingFactors, b.FAQ = r.notes(arr(doc, "notes"))
	b.References = r.references(arr(doc, "references"))
	vulns := arr(d.Raw, "vulnerabilities")
	b.Vulnerabilities = make([]BulletinVulnerability, 0, min(len(vulns), BulletinMaxVulnerabilities))
	for i, v := range vulns {
		if i == BulletinMaxVulnerabilities {
			r.truncated = true
			break
		}
		b.Vulnerabilities = append(b.Vulnerabilities, r.vulnerability(v))
	}
	b.Truncated = r.truncated
	return b
}

// bulletinReader reads the parts of one document, keeping the bounds.
type bulletinReader struct {
	names     map[string]string   // product id -> full product name
	groups    map[string][]string // group id -> product ids
	shown     int                 // product names in the bulletin so far
	nameBytes int                 // and their bytes
	work      int                 // product ids looked at so far
	truncated bool
}

// text trims a text and cuts it to BulletinMaxText.
func (r *bulletinReader) text(s string) string {
	return r.cut(strings.TrimSpace(s), BulletinMaxText)
}

// cut shortens s to at most max bytes, on a character boundary, marking the cut.
func (r *bulletinReader) cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	r.truncated = true
	n := max - len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// room reports whether a list of n items may take one more, and notes a cut.
func (r *bulletinReader) room(n int) bool {
	if n < BulletinMaxItems {
		return true
	}
	r.truncated = true
	return false
}

// notes splits notes into the mitigating factors, the FAQ and the other notes.
func (r *bulletinReader) notes(in []any) (notes []Note, factors []string, faq []FAQ) {
	notes, factors, faq = []Note{}, []string{}, []FAQ{}
	for _, n := range in {
		category, title, text := str(n, "category"), strings.TrimSpace(str(n, "title")), r.text(str(n, "text"))
		switch {
		case text == "":
		case category == "faq":
			if r.room(len(faq)) {
				faq = append(faq, FAQ{Question: title, Answer: text})
			}
		case isMitigatingFactors(category, title):
			for _, f := range splitFactors(text) {
				if r.room(len(factors)) {
					factors = append(factors, f)
				}
			}
		default:
			if r.room(len(notes)) {
				notes = append(notes, Note{Category: category, Title: title, Text: text})
			}
		}
	}
	return notes, factors, faq
}

// isMitigatingFactors reports whether a note holds mitigating factors: the authoring form
// writes them as a note of category details titled "Mitigating factors"; other publishers
// title them alike, under details, general, description or other.
func isMitigatingFactors(category, title string) bool {
	switch category {
	case "summary", "legal_disclaimer", "faq":
		return false
	}
	t := strings.ToLower(strings.TrimRight(title, ": "))
	return t == "mitigating factors" || t == "mitigating factor"
}

// splitFactors reads the factors of a mitigating factors note: a "- " list (what the
// authoring form writes for several factors) is its items, any other text one factor.
func splitFactors(text string) []string {
	if !strings.HasPrefix(text, "- ") {
		return []string{text}
	}
	var out []string
	for _, f := range strings.Split(strings.TrimPrefix(text, "- "), "\n- ") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (r *bulletinReader) references(in []any) []Reference {
	out := []Reference{}
	for _, ref := range in {
		u := str(ref, "url")
		if u == "" || !r.room(len(out)) {
			continue
		}
		summary := r.text(str(ref, "summary"))
		if summary == "" {
			summary = u
		}
		out = append(out, Reference{Category: str(ref, "category"), Summary: summary, URL: u})
	}
	return out
}

// products resolves product ids, and the product ids of product groups, to names.
func (r *bulletinReader) products(ids, groups []string) ProductList {
	l := ProductList{Names: []string{}}
	seen := map[string]bool{}
	add := func(ids []string) {
		for i, id := range ids {
			if r.work >= bulletinMaxWork {
				l.More += len(ids) - i // counted, not told apart
				return
			}
			r.work++
			name := r.names[id]
			if name == "" {
				name = id
			}
			name = r.cut(name, BulletinMaxName)
			if seen[name] {
				continue
			}
			seen[name] = true
			if len(l.Names) >= BulletinMaxProducts || r.shown >= BulletinMaxNames || r.nameBytes+len(name) > BulletinMaxNameBytes {
				l.More++
				continue
			}
			l.Names = append(l.Names, name)
			r.shown++
			r.nameBytes += len(name)
		}
	}
	add(ids)
	for _, g := range groups {
		add(r.groups[g])
	}
	return l
}

// covered resolves an item's product_ids and group_ids (a remediation, a threat).
func (r *bulletinReader) covered(item any) ProductList {
	return r.products(strs(item, "product_ids"), strs(item, "group_ids"))
}

// statusList resolves one product status list, nil when it is empty.
func (r *bulletinReader) statusList(ps map[string]any, key string) *ProductList {
	ids := strs(ps, key)
	if len(ids) == 0 {
		return nil
	}
	l := r.products(ids, nil)
	return &l
}

// strs returns the strings of the array v[key].
func strs(v any, key string) []string {
	var out []string
	for _, s := range arr(v, key) {
		if s, ok := s.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (r *bulletinReader) vulnerability(v any) BulletinVulnerability {
	bv := BulletinVulnerability{CVE: str(v, "cve"), Title: r.text(str(v, "title")), Scores: []Score{}, Threats: []Threat{}}
	if c := obj(v, "cwe"); str(c, "id") != "" {
		bv.CWE = &CWE{ID: str(c, "id"), Name: str(c, "name")}
	}
	bv.Notes, bv.MitigatingFactors, bv.FAQ = r.notes(arr(v, "notes"))
	for _, s := range arr(v, "scores") {
		for _, key := range []string{"cvss_v4", "cvss_v3", "cvss_v2"} {
			cv := obj(s, key)
			if cv == nil || !r.room(len(bv.Scores)) {
				continue
			}
			score, _ := number(cv["baseScore"])
			bv.Scores = append(bv.Scores, Score{Version: str(cv, "version"), BaseScore: score,
				Severity: strings.ToLower(str(cv, "baseSeverity")), Vector: str(cv, "vectorString"), Products: r.products(strs(s, "products"), nil)})
		}
	}
	for _, t := range arr(v, "threats") {
		if !r.room(len(bv.Threats)) {
			break
		}
		bv.Threats = append(bv.Threats, Threat{Category: str(t, "category"), Details: r.text(str(t, "details")),
			Date: str(t, "date"), Products: r.covered(t)})
	}
	for _, rm := range arr(v, "remediations") {
		var list *[]Remediation
		switch str(rm, "category") {
		case "vendor_fix":
			list = &bv.Remediations.VendorFix
		case "workaround":
			list = &bv.Remediations.Workaround
		case "mitigation":
			list = &bv.Remediations.Mitigation
		case "none_available":
			list = &bv.Remediations.NoneAvailable
		case "no_fix_planned":
			list = &bv.Remediations.NoFixPlanned
		default:
			continue
		}
		if !r.room(len(*list)) {
			continue
		}
		*list = append(*list, Remediation{Details: r.text(str(rm, "details")), URL: str(rm, "url"), Date: str(rm, "date"),
			RestartRequired: str(obj(rm, "restart_required"), "category"), Products: r.covered(rm)})
	}
	ps := obj(v, "product_status")
	bv.ProductStatus = ProductStatus{
		FirstAffected:      r.statusList(ps, "first_affected"),
		KnownAffected:      r.statusList(ps, "known_affected"),
		LastAffected:       r.statusList(ps, "last_affected"),
		UnderInvestigation: r.statusList(ps, "under_investigation"),
		FirstFixed:         r.statusList(ps, "first_fixed"),
		Fixed:              r.statusList(ps, "fixed"),
		Recommended:        r.statusList(ps, "recommended"),
		KnownNotAffected:   r.statusList(ps, "known_not_affected"),
	}
	bv.References = r.references(arr(v, "references"))
	return bv
}
