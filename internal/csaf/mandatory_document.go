package csaf

import (
	"fmt"
	"strings"
	"unicode"
)

// Mandatory tests on the document's metadata, product tree and vulnerabilities (section 6.1
// of CSAF 2.0): 6.1.23 to 6.1.26, 6.1.28, 6.1.29 and 6.1.31 to 6.1.33.

func init() {
	register("6.1.23", checkMultipleCVE)
	register("6.1.24", checkMultipleInvolvement)
	register("6.1.25", checkMultipleHashAlgorithm)
	register("6.1.26", checkProhibitedCategoryName)
	register("6.1.28", checkTranslation)
	register("6.1.29", checkRemediationProducts)
	register("6.1.31", checkVersionRangeInProductVersion)
	register("6.1.32", checkFlagProducts)
	register("6.1.33", checkMultipleVEXFlags)
}

// 6.1.23 Multiple Use of Same CVE: no two vulnerabilities have the same CVE.
func checkMultipleCVE(d *Document) []Finding {
	var fs []Finding
	first := map[string]int{}
	for i, v := range arr(d.Raw, "vulnerabilities") {
		cve := str(v, "cve")
		if cve == "" {
			continue
		}
		if j, dup := first[cve]; dup {
			fs = append(fs, Finding{Test: "6.1.23", Path: ptr("vulnerabilities", i, "cve"),
				Message: fmt.Sprintf("cve %s is used by more than one vulnerability (also at %s)", cve, ptr("vulnerabilities", j))})
			continue
		}
		first[cve] = i
	}
	return fs
}

// 6.1.24 Multiple Definition in Involvements: within one vulnerability, a party has at most
// one involvement per date, whatever its status. Dates compare as instants ("10:00:00Z" and
// "12:00:00+02:00" are the same date). Involvements without a date (the date is optional)
// are at no date, so they cannot collide.
func checkMultipleInvolvement(d *Document) []Finding {
	var fs []Finding
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		first := map[string]int{}
		for i, inv := range arr(v, "involvements") {
			party, date := str(inv, "party"), str(inv, "date")
			if party == "" || date == "" {
				continue
			}
			key := date // a date-time that does not parse (the schema reports it) compares as text
			if t, ok := revParseTime(date); ok {
				key = t.UTC().Format("2006-01-02T15:04:05.999999999")
			}
			key = party + "\x00" + key
			if j, dup := first[key]; dup {
				fs = append(fs, Finding{Test: "6.1.24", Path: ptr("vulnerabilities", vi, "involvements", i),
					Message: fmt.Sprintf("party %s has more than one involvement at %s (also at %s)", party, date, ptr("vulnerabilities", vi, "involvements", j))})
				continue
			}
			first[key] = i
		}
	}
	return fs
}

// docProductObjects calls fn for every full product name object of the product tree: the
// products of the branches (at any depth), full_product_names and the full_product_name of
// each relationship, with its JSON pointer.
func (d *Document) docProductObjects(fn func(p map[string]any, path string)) {
	pt := obj(d.Raw, "product_tree")
	d.docBranches(func(b map[string]any, path string) {
		if p := obj(b, "product"); p != nil {
			fn(p, join(path, "product"))
		}
	})
	for i, p := range arr(pt, "full_product_names") {
		if p, ok := p.(map[string]any); ok {
			fn(p, ptr("product_tree", "full_product_names", i))
		}
	}
	for i, r := range arr(pt, "relationships") {
		if p := obj(r, "full_product_name"); p != nil {
			fn(p, ptr("product_tree", "relationships", i, "full_product_name"))
		}
	}
}

// docBranches calls fn for every branch of the product tree, at any depth, with its JSON
// pointer.
func (d *Document) docBranches(fn func(b map[string]any, path string)) {
	var walk func(branches []any, base string)
	walk = func(branches []any, base string) {
		for i, b := range branches {
			b, ok := b.(map[string]any)
			if !ok {
				continue
			}
			p := join(base, i)
			fn(b, p)
			walk(arr(b, "branches"), join(p, "branches"))
		}
	}
	walk(arr(obj(d.Raw, "product_tree"), "branches"), "/product_tree/branches")
}

// 6.1.25 Multiple Use of Same Hash Algorithm: one item of hashes lists each algorithm once.
// Algorithm names (OpenSSL digest names) compare without regard to case.
func checkMultipleHashAlgorithm(d *Document) []Finding {
	var fs []Finding
	d.docProductObjects(func(p map[string]any, path string) {
		base := join(path, "product_identification_helper", "hashes")
		for hi, h := range arr(obj(p, "product_identification_helper"), "hashes") {
			first := map[string]int{}
			for i, fh := range arr(h, "file_hashes") {
				alg := str(fh, "algorithm")
				if alg == "" {
					continue
				}
				key := strings.ToLower(alg)
				if j, dup := first[key]; dup {
					fs = append(fs, Finding{Test: "6.1.25", Path: join(base, hi, "file_hashes", i, "algorithm"),
						Message: fmt.Sprintf("hash algorithm %s is used more than once in one item of hashes (also at %s)", alg, join(base, hi, "file_hashes", j))})
					continue
				}
				first[key] = i
			}
		}
	})
	return fs
}

// docProfileCategories are the values of /document/category of the profiles (section 4).
var docProfileCategories = map[string]bool{
	"csaf_base":                       true,
	"csaf_security_incident_response": true,
	"csaf_informational_advisory":     true,
	"csaf_security_advisory":          true,
	"csaf_vex":                        true,
}

// docProhibitedCategories are the names and values of the profiles other than "CSAF Base",
// normalised by docNormaliseCategory: "Security incident response", "Informational
// Advisory", "Security Advisory" and "VEX", and their values csaf_security_incident_response,
// csaf_informational_advisory, csaf_security_advisory, csaf_vex.
var docProhibitedCategories = map[string]string{
	"securityincidentresponse":     "security incident response",
	"informationaladvisory":        "informational advisory",
	"securityadvisory":             "security advisory",
	"vex":                          "vex",
	"csafsecurityincidentresponse": "security incident response",
	"csafinformationaladvisory":    "informational advisory",
	"csafsecurityadvisory":         "security advisory",
	"csafvex":                      "vex",
}

// docNormaliseCategory lower-cases a category and removes dashes, white space and
// underscores, including their Unicode variants (all dash punctuation, connector
// punctuation such as the fullwidth low line, the minus sign, the soft hyphen and the
// combining low line), as CSAF 2.1 spells out for this test.
func docNormaliseCategory(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r), unicode.Is(unicode.Pd, r), unicode.Is(unicode.Pc, r),
			r == '\u2212', r == '\u00ad', r == '\u0332':
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// 6.1.26 Prohibited Document Category Name: a document of the profile "CSAF Base" (any
// category other than the profile values) neither uses the reserved prefix csaf_ (in any
// case) nor, once normalised, the name or value of another profile.
func checkProhibitedCategoryName(d *Document) []Finding {
	cat := str(obj(d.Raw, "document"), "category")
	if cat == "" || docProfileCategories[cat] {
		return nil
	}
	msg := ""
	if strings.HasPrefix(strings.ToLower(cat), "csaf_") {
		msg = fmt.Sprintf("document category %q starts with the reserved prefix csaf_", cat)
	} else if profile, bad := docProhibitedCategories[docNormaliseCategory(cat)]; bad {
		msg = fmt.Sprintf("document category %q is the name of the profile %s", cat, profile)
	} else {
		return nil
	}
	return []Finding{{Test: "6.1.26", Path: "/document/category", Message: msg}}
}

// 6.1.28 Translation: the source language differs from the document language. Language
// tags (BCP 47) compare without regard to case.
func checkTranslation(d *Document) []Finding {
	doc := obj(d.Raw, "document")
	lang, src := str(doc, "lang"), str(doc, "source_lang")
	if lang == "" || src == "" || !strings.EqualFold(lang, src) {
		return nil
	}
	return []Finding{{Test: "6.1.28", Path: "/document/source_lang",
		Message: fmt.Sprintf("source language %s is the same as the document language %s", src, lang)}}
}

// docWithoutProducts reports the items of /vulnerabilities[]/<key> that have neither
// product_ids nor group_ids (6.1.29, 6.1.32).
func (d *Document) docWithoutProducts(test, key, what string) []Finding {
	var fs []Finding
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		for i, e := range arr(v, key) {
			if _, ok := e.(map[string]any); !ok || has(e, "product_ids") || has(e, "group_ids") {
				continue
			}
			fs = append(fs, Finding{Test: test, Path: ptr("vulnerabilities", vi, key, i),
				Message: what + " has neither product_ids nor group_ids"})
		}
	}
	return fs
}

// 6.1.29 Remediation without Product Reference.
func checkRemediationProducts(d *Document) []Finding {
	return d.docWithoutProducts("6.1.29", "remediations", "remediation")
}

// 6.1.32 Flag without Product Reference.
func checkFlagProducts(d *Document) []Finding {
	return d.docWithoutProducts("6.1.32", "flags", "flag")
}

// docRangeOperators and docRangeKeywords mark a version range in a product_version name
// (6.1.31): an operator anywhere, a keyword as a whole word. CSAF 2.0 says "contains any of
// the following strings"; its test corpus (valid: "after-eight") and CSAF 2.1 make precise
// that keywords count as words separated by white space.
var (
	docRangeOperators = []string{"<", ">"} // also cover "<=" and ">="
	docRangeKeywords  = map[string]bool{
		"after": true, "all": true, "before": true, "earlier": true, "later": true, "prior": true, "versions": true,
	}
)

// docVersionRange returns what in a product version name marks a range, or "".
func docVersionRange(name string) string {
	name = strings.ToLower(name)
	for _, op := range docRangeOperators {
		if i := strings.Index(name, op); i >= 0 {
			if strings.HasPrefix(name[i+1:], "=") {
				return op + "="
			}
			return op
		}
	}
	for _, w := range strings.Fields(name) {
		if docRangeKeywords[w] {
			return w
		}
	}
	return ""
}

// 6.1.31 Version Range in Product Version: a branch of category product_version names one
// version, not a range.
func checkVersionRangeInProductVersion(d *Document) []Finding {
	var fs []Finding
	d.docBranches(func(b map[string]any, path string) {
		if str(b, "category") != "product_version" {
			return
		}
		name := str(b, "name")
		if mark := docVersionRange(name); mark != "" {
			fs = append(fs, Finding{Test: "6.1.31", Path: join(path, "name"),
				Message: fmt.Sprintf("product version %q is a version range (%s); use the category product_version_range", name, mark)})
		}
	})
	return fs
}

// docGroupMembers maps each product group id to its product ids.
func (d *Document) docGroupMembers() map[string][]string {
	m := map[string][]string{}
	for _, g := range arr(obj(d.Raw, "product_tree"), "product_groups") {
		id := str(g, "group_id")
		if id == "" {
			continue
		}
		for _, p := range arr(g, "product_ids") {
			if p, ok := p.(string); ok {
				m[id] = append(m[id], p)
			}
		}
	}
	return m
}

// docCoveredProducts lists the products an item with product_ids and group_ids (a flag,
// threat, remediation) applies to, directly or through its groups, each once.
func docCoveredProducts(item any, groups map[string][]string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range arr(item, "product_ids") {
		if p, ok := p.(string); ok {
			add(p)
		}
	}
	for _, g := range arr(item, "group_ids") {
		if g, ok := g.(string); ok {
			for _, p := range groups[g] {
				add(p)
			}
		}
	}
	return out
}

// docVEXJustifications are the flag labels that are VEX justification codes (3.2.3.5).
var docVEXJustifications = map[string]bool{
	"component_not_present":                             true,
	"inline_mitigations_already_exist":                  true,
	"vulnerable_code_cannot_be_controlled_by_adversary": true,
	"vulnerable_code_not_in_execute_path":               true,
	"vulnerable_code_not_present":                       true,
}

// 6.1.33 Multiple Flags with VEX Justification Codes per Product: within a vulnerability, a
// product (directly or through a product group) is in at most one flag with a VEX
// justification code.
func checkMultipleVEXFlags(d *Document) []Finding {
	groups := d.docGroupMembers()
	var fs []Finding
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		first := map[string]int{}
		for i, f := range arr(v, "flags") {
			if !docVEXJustifications[str(f, "label")] {
				continue
			}
			for _, p := range docCoveredProducts(f, groups) {
				if j, dup := first[p]; dup {
					fs = append(fs, Finding{Test: "6.1.33", Path: ptr("vulnerabilities", vi, "flags", i),
						Message: fmt.Sprintf("product %s has more than one flag with a vex justification code (also at %s)", p, ptr("vulnerabilities", vi, "flags", j))})
					continue
				}
				first[p] = i
			}
		}
	}
	return fs
}
