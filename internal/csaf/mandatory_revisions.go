package csaf

import (
	"fmt"
	"math/big"
	"sort"
	"time"
)

// Mandatory tests on the document version and the revision history (section 6.1 of CSAF
// 2.0): 6.1.14 to 6.1.22 and 6.1.30.
//
// The tests that order the revision history (6.1.14, 6.1.16, 6.1.21) sort its items by date,
// taking time zones into account, and items of the same date by number (by version
// precedence), as CSAF 2.1 makes explicit and the official test corpus requires. They skip a
// history with a date or number that does not parse: the JSON schema reports that.

func init() {
	register("6.1.14", checkSortedRevisionHistory)
	register("6.1.15", checkTranslator)
	register("6.1.16", checkLatestDocumentVersion)
	register("6.1.17", checkDocumentStatusDraft)
	register("6.1.18", checkReleasedRevisionHistory)
	register("6.1.19", checkPreReleaseRevisions)
	register("6.1.20", checkNonDraftDocumentVersion)
	register("6.1.21", checkMissingRevision)
	register("6.1.22", checkMultipleRevisionDefinition)
	register("6.1.30", checkMixedVersioning)
}

const revHistoryPath = "/document/tracking/revision_history"

// revItem is one item of /document/tracking/revision_history.
type revItem struct {
	Index     int // position in the document
	Number    string
	Version   revVersion
	VersionOK bool
	Date      time.Time
	DateOK    bool
}

// NumberPath is the JSON pointer to the item's number.
func (it revItem) NumberPath() string { return join(revHistoryPath, it.Index, "number") }

func (d *Document) revTracking() map[string]any { return obj(obj(d.Raw, "document"), "tracking") }

// revHistory lists the revision history items that are objects, in document order.
func (d *Document) revHistory() []revItem {
	var out []revItem
	for i, e := range arr(d.revTracking(), "revision_history") {
		if _, ok := e.(map[string]any); !ok {
			continue
		}
		it := revItem{Index: i, Number: str(e, "number")}
		it.Version, it.VersionOK = parseRevVersion(it.Number)
		it.Date, it.DateOK = revParseTime(str(e, "date"))
		out = append(out, it)
	}
	return out
}

// revSortedHistory is the revision history sorted ascending by date, then by number; ok is
// false when the history is empty or has an item whose date or number does not parse.
func (d *Document) revSortedHistory() (items []revItem, ok bool) {
	items = d.revHistory()
	if len(items) == 0 {
		return nil, false
	}
	for _, it := range items {
		if !it.DateOK || !it.VersionOK {
			return nil, false
		}
	}
	sort.SliceStable(items, func(i, j int) bool {
		if !items[i].Date.Equal(items[j].Date) {
			return items[i].Date.Before(items[j].Date)
		}
		return compareRevVersions(items[i].Version, items[j].Version) < 0
	})
	return items, true
}

// revDocVersion is /document/tracking/version.
func (d *Document) revDocVersion() (revVersion, bool) {
	return parseRevVersion(str(d.revTracking(), "version"))
}

// 6.1.14 Sorted Revision History: sorted by date, the numbers ascend.
func checkSortedRevisionHistory(d *Document) []Finding {
	items, ok := d.revSortedHistory()
	if !ok {
		return nil
	}
	var fs []Finding
	for i := 1; i < len(items); i++ {
		prev, cur := items[i-1], items[i]
		if compareRevVersions(cur.Version, prev.Version) < 0 {
			fs = append(fs, Finding{Test: "6.1.14", Path: cur.NumberPath(),
				Message: fmt.Sprintf("revision history is not sorted by number: %s comes after %s", cur.Number, prev.Number)})
		}
	}
	return fs
}

// 6.1.15 Translator: a translator's document has a source language.
func checkTranslator(d *Document) []Finding {
	doc := obj(d.Raw, "document")
	if str(obj(doc, "publisher"), "category") != "translator" || str(doc, "source_lang") != "" {
		return nil
	}
	return []Finding{{Test: "6.1.15", Path: "/document/source_lang",
		Message: "publisher category is translator but the source language is not set"}}
}

// 6.1.16 Latest Document Version: the document version is the number of the last revision
// (sorted by date, then number), ignoring build metadata, and the pre-release part in drafts.
func checkLatestDocumentVersion(d *Document) []Finding {
	items, ok := d.revSortedHistory()
	if !ok {
		return nil
	}
	v, ok := d.revDocVersion()
	if !ok {
		return nil
	}
	last := items[len(items)-1]
	draft := str(d.revTracking(), "status") == "draft"
	if v.Trimmed(draft) == last.Version.Trimmed(draft) {
		return nil
	}
	return []Finding{{Test: "6.1.16", Path: "/document/tracking/version",
		Message: fmt.Sprintf("document version %s is not the number of the latest revision %s", v.Raw, last.Number)}}
}

// 6.1.17 Document Status Draft: version 0, 0.y.z or a pre-release needs status draft.
func checkDocumentStatusDraft(d *Document) []Finding {
	status := str(d.revTracking(), "status")
	v, ok := d.revDocVersion()
	if !ok || status == "" || status == "draft" {
		return nil
	}
	var why string
	switch {
	case v.PreRelease():
		why = "is a pre-release"
	case v.InitialDevelopment():
		why = "is an initial development version"
	default:
		return nil
	}
	return []Finding{{Test: "6.1.17", Path: "/document/tracking/status",
		Message: fmt.Sprintf("document status is %s but version %s %s, so it must be draft", status, v.Raw, why)}}
}

// revReleased reports whether the document status is final or interim.
func (d *Document) revReleased() (string, bool) {
	s := str(d.revTracking(), "status")
	return s, s == "final" || s == "interim"
}

// 6.1.18 Released Revision History: a final or interim document has no revision 0 or 0.y.z.
func checkReleasedRevisionHistory(d *Document) []Finding {
	status, released := d.revReleased()
	if !released {
		return nil
	}
	var fs []Finding
	for _, it := range d.revHistory() {
		if it.VersionOK && it.Version.InitialDevelopment() {
			fs = append(fs, Finding{Test: "6.1.18", Path: it.NumberPath(),
				Message: fmt.Sprintf("document status is %s but the revision history has the initial development version %s", status, it.Number)})
		}
	}
	return fs
}

// 6.1.19 Revision History Entries for Pre-release Versions: no revision is a pre-release.
func checkPreReleaseRevisions(d *Document) []Finding {
	var fs []Finding
	for _, it := range d.revHistory() {
		if it.VersionOK && it.Version.PreRelease() {
			fs = append(fs, Finding{Test: "6.1.19", Path: it.NumberPath(),
				Message: fmt.Sprintf("revision history has the pre-release version %s", it.Number)})
		}
	}
	return fs
}

// 6.1.20 Non-draft Document Version: a final or interim document is no pre-release.
func checkNonDraftDocumentVersion(d *Document) []Finding {
	status, released := d.revReleased()
	v, ok := d.revDocVersion()
	if !released || !ok || !v.PreRelease() {
		return nil
	}
	return []Finding{{Test: "6.1.20", Path: "/document/tracking/version",
		Message: fmt.Sprintf("document status is %s but version %s is a pre-release", status, v.Raw)}}
}

// 6.1.21 Missing Item in Revision History: sorted by date (then number), the history starts
// at 0 or 1 and omits no version; for semantic versions this concerns the major version only.
// A gap is reported where it occurs in date order; the message says whether the omitted
// version is absent or only comes later.
func checkMissingRevision(d *Document) []Finding {
	items, ok := d.revSortedHistory()
	if !ok {
		return nil
	}
	kind := func(v revVersion) string {
		if v.Semantic {
			return "major version"
		}
		return "version"
	}
	majors := make([]*big.Int, len(items))
	for i, it := range items {
		majors[i], _ = new(big.Int).SetString(it.Version.Major, 10) // digits: the version parsed
	}
	var fs []Finding
	first := items[0]
	if m := majors[0]; m.Cmp(big.NewInt(1)) > 0 {
		fs = append(fs, Finding{Test: "6.1.21", Path: first.NumberPath(),
			Message: fmt.Sprintf("revision history starts with %s %s, not 0 or 1", kind(first.Version), m)})
	}
	one := big.NewInt(1)
	highest, highestNumber := majors[0], first.Number
	for i, it := range items {
		if i == 0 {
			continue
		}
		m := majors[i]
		if lo := new(big.Int).Add(highest, one); m.Cmp(lo) > 0 {
			hi := new(big.Int).Sub(m, one)
			missing := kind(it.Version) + " " + lo.String()
			if lo.Cmp(hi) != 0 {
				missing = kind(it.Version) + "s " + lo.String() + " to " + hi.String()
			}
			later := ""
			for _, om := range majors[i+1:] {
				if om.Cmp(lo) >= 0 && om.Cmp(hi) <= 0 {
					later = " (present, but later by date)"
					break
				}
			}
			fs = append(fs, Finding{Test: "6.1.21", Path: it.NumberPath(),
				Message: fmt.Sprintf("revision history misses %s between %s and %s%s", missing, highestNumber, it.Number, later)})
		}
		if m.Cmp(highest) > 0 {
			highest, highestNumber = m, it.Number
		}
	}
	return fs
}

// 6.1.22 Multiple Definition in Revision History: no version number occurs twice.
func checkMultipleRevisionDefinition(d *Document) []Finding {
	var fs []Finding
	seen := map[string]revItem{}
	for _, it := range d.revHistory() {
		if it.Number == "" {
			continue
		}
		if prev, dup := seen[it.Number]; dup {
			fs = append(fs, Finding{Test: "6.1.22", Path: it.NumberPath(),
				Message: fmt.Sprintf("revision history has version %s more than once (also at %s)", it.Number, prev.NumberPath())})
			continue
		}
		seen[it.Number] = it
	}
	return fs
}

// 6.1.30 Mixed Integer and Semantic Versioning: the document version and all revision
// numbers use one scheme. The scheme of the document version is the reference (of the first
// revision by date when the document version does not parse); each element using the other
// scheme is reported.
func checkMixedVersioning(d *Document) []Finding {
	type elem struct {
		path string
		v    revVersion
	}
	var elems []elem
	for _, it := range d.revHistory() {
		if it.VersionOK {
			elems = append(elems, elem{it.NumberPath(), it.Version})
		}
	}
	ref, refPath := revVersion{}, ""
	if v, ok := d.revDocVersion(); ok {
		ref, refPath = v, "/document/tracking/version"
		elems = append(elems, elem{refPath, v})
	} else if items, ok := d.revSortedHistory(); ok {
		ref, refPath = items[0].Version, items[0].NumberPath()
	} else if len(elems) > 0 {
		ref, refPath = elems[0].v, elems[0].path
	} else {
		return nil
	}
	var fs []Finding
	for _, e := range elems {
		if e.v.Semantic != ref.Semantic {
			fs = append(fs, Finding{Test: "6.1.30", Path: e.path,
				Message: fmt.Sprintf("%s version %s mixed with %s versioning of %s (%s)", e.v.Scheme(), e.v.Raw, ref.Scheme(), refPath, ref.Raw)})
		}
	}
	return fs
}
