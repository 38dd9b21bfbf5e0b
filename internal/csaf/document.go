package csaf

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Summary is what patchday indexes of a document: the fields that lists, filters and the
// catalog need.
type Summary struct {
	TrackingID     string
	Title          string
	Category       string
	Publisher      string
	Status         string // draft, interim or final
	Version        string
	InitialRelease time.Time
	CurrentRelease time.Time
	TLP            string   // WHITE, GREEN, AMBER, RED, or "" when the document has no label
	Severity       string   // critical, high, medium, low, none, or unknown
	CVSSMax        *float64 // highest CVSS v3 base score
	CVEs           []string // sorted, without duplicates
	ProductNames   []string // names of the products in the product tree, sorted
	// AffectedNames are the names of the products some vulnerability lists as affected
	// (first_affected, known_affected, last_affected), sorted.
	AffectedNames []string
	// RevisionSummary is the summary of the revision history entry of Version.
	RevisionSummary string
}

// SeverityRank orders severities: critical 4, high 3, medium 2, low 1, none 0, unknown -1.
func SeverityRank(s string) int {
	switch s {
	case "critical":
		return 4
	case "high":
		return 3
	case "medium":
		return 2
	case "low":
		return 1
	case "none":
		return 0
	}
	return -1
}

// Severities lists the severities from the highest.
var Severities = []string{"critical", "high", "medium", "low", "none", "unknown"}

// cvssSeverity is the qualitative rating of a CVSS v3 base score (CVSS v3.1 section 5).
func cvssSeverity(score float64) string {
	switch {
	case score >= 9:
		return "critical"
	case score >= 7:
		return "high"
	case score >= 4:
		return "medium"
	case score > 0:
		return "low"
	}
	return "none"
}

// aggregateSeverity maps the common texts of /document/aggregate_severity to a severity.
func aggregateSeverity(text string) string {
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "critical":
		return "critical"
	case "important", "high":
		return "high"
	case "moderate", "medium":
		return "medium"
	case "low":
		return "low"
	case "none":
		return "none"
	}
	return "unknown"
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

// Summarize reads the indexed fields of a (valid) document.
func (d *Document) Summarize() Summary {
	doc := obj(d.Raw, "document")
	tr := obj(doc, "tracking")
	s := Summary{
		TrackingID: str(tr, "id"),
		Title:      str(doc, "title"),
		Category:   str(doc, "category"),
		Publisher:  str(obj(doc, "publisher"), "name"),
		Status:     str(tr, "status"),
		Version:    str(tr, "version"),
		TLP:        str(obj(obj(doc, "distribution"), "tlp"), "label"),
	}
	s.InitialRelease, _ = revParseTime(str(tr, "initial_release_date"))
	s.CurrentRelease, _ = revParseTime(str(tr, "current_release_date"))
	for _, e := range arr(tr, "revision_history") {
		if str(e, "number") == s.Version {
			s.RevisionSummary = str(e, "summary")
		}
	}
	cves := map[string]bool{}
	for _, v := range arr(d.Raw, "vulnerabilities") {
		if cve := str(v, "cve"); cve != "" {
			cves[strings.ToUpper(cve)] = true
		}
		for _, sc := range arr(v, "scores") {
			if f, ok := number(obj(sc, "cvss_v3")["baseScore"]); ok && (s.CVSSMax == nil || f > *s.CVSSMax) {
				s.CVSSMax = &f
			}
		}
	}
	for cve := range cves {
		s.CVEs = append(s.CVEs, cve)
	}
	sort.Strings(s.CVEs)
	switch {
	case s.CVSSMax != nil:
		s.Severity = cvssSeverity(*s.CVSSMax)
	default:
		s.Severity = aggregateSeverity(str(obj(doc, "aggregate_severity"), "text"))
	}
	names := map[string]bool{}
	byID := map[string]string{}
	add := func(p any) {
		n := str(p, "name")
		names[n] = true
		if id := str(p, "product_id"); id != "" && n != "" {
			byID[id] = n
		}
	}
	pt := obj(d.Raw, "product_tree")
	for _, f := range arr(pt, "full_product_names") {
		add(f)
	}
	var walk func([]any)
	walk = func(bs []any) {
		for _, b := range bs {
			if p := obj(b, "product"); str(p, "name") != "" {
				add(p)
			}
			walk(arr(b, "branches"))
		}
	}
	walk(arr(pt, "branches"))
	for _, r := range arr(pt, "relationships") {
		add(obj(r, "full_product_name"))
	}
	delete(names, "")
	for n := range names {
		s.ProductNames = append(s.ProductNames, n)
	}
	sort.Strings(s.ProductNames)
	affected := map[string]bool{}
	for _, v := range arr(d.Raw, "vulnerabilities") {
		ps := obj(v, "product_status")
		for _, k := range []string{"first_affected", "known_affected", "last_affected"} {
			for _, id := range arr(ps, k) {
				if id, ok := id.(string); ok && byID[id] != "" {
					affected[byID[id]] = true
				}
			}
		}
	}
	for n := range affected {
		s.AffectedNames = append(s.AffectedNames, n)
	}
	sort.Strings(s.AffectedNames)
	return s
}

// CompareVersions orders two CSAF document versions (integer or semantic versioning) by
// precedence: -1, 0 or +1. Versions of the two schemes do not compare.
func CompareVersions(a, b string) (int, error) {
	va, ok := parseRevVersion(a)
	if !ok {
		return 0, fmt.Errorf("csaf: %q is not a document version", a)
	}
	vb, ok := parseRevVersion(b)
	if !ok {
		return 0, fmt.Errorf("csaf: %q is not a document version", b)
	}
	if va.Semantic != vb.Semantic {
		return 0, fmt.Errorf("csaf: versions %q and %q use different versioning schemes", a, b)
	}
	return compareRevVersions(va, vb), nil
}

var filenameUnsafe = regexp.MustCompile(`[^+\-a-z0-9]+`)

// Filename is the file name CSAF 2.0 (section 5.1) gives a document with this tracking id:
// lower case, every run of characters other than a-z, 0-9, + and - replaced by one "_",
// and ".json".
func Filename(trackingID string) string {
	return filenameUnsafe.ReplaceAllString(strings.ToLower(trackingID), "_") + ".json"
}
