package csaf

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/package-url/packageurl-go"
	"golang.org/x/text/language"
)

// Mandatory tests 6.1.11 to 6.1.13 of CSAF 2.0: the identifiers from outside registries that
// a document uses (CWE, BCP 47 language tags, package URLs).

func init() {
	register("6.1.11", checkCWE)
	register("6.1.12", checkLanguage)
	register("6.1.13", checkPURL)
}

// cwe.json maps the ids of MITRE's CWE list to their names; scripts/gen-cwe.sh makes it, and
// cwe_LICENSE.txt carries MITRE's copyright designation and terms of use.
//
//go:embed cwe.json
var cweJSON []byte

type cweList struct {
	Version    string            `json:"cwe_version"`
	Date       string            `json:"cwe_date"`
	Weaknesses map[string]string `json:"weaknesses"`
}

var cweCatalog = sync.OnceValues(func() (*cweList, error) {
	var l cweList
	if err := json.Unmarshal(cweJSON, &l); err != nil {
		return nil, fmt.Errorf("cwe.json: %w", err)
	}
	if len(l.Weaknesses) == 0 || l.Version == "" {
		return nil, fmt.Errorf("cwe.json: no weaknesses or no version")
	}
	return &l, nil
})

// checkCWE is 6.1.11: the CWE of a vulnerability exists in the CWE list and has its name
// there. The list is one CWE release (see cwe.json), as in the BSI's reference validator;
// names are compared exactly.
func checkCWE(d *Document) []Finding {
	var fs []Finding
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		cwe := obj(v, "cwe")
		id, ok := cwe["id"].(string)
		if !ok {
			continue // the schema requires the id
		}
		list, err := cweCatalog()
		if err != nil {
			return []Finding{{Test: "6.1.11", Path: ptr("vulnerabilities", vi, "cwe"), Message: "cwe: the cwe list cannot be read: " + err.Error()}}
		}
		want, ok := list.Weaknesses[id]
		if !ok {
			fs = append(fs, Finding{Test: "6.1.11", Path: ptr("vulnerabilities", vi, "cwe", "id"),
				Message: fmt.Sprintf("cwe: %s is not a weakness of the cwe list (version %s)", id, list.Version)})
			continue
		}
		if name, ok := cwe["name"].(string); ok && name != want {
			fs = append(fs, Finding{Test: "6.1.11", Path: ptr("vulnerabilities", vi, "cwe", "name"),
				Message: fmt.Sprintf("cwe: %s is named %q, not %q", id, want, name)})
		}
	}
	return fs
}

// bcp47Pattern is the pattern of lang_t in the CSAF 2.0 schema (section 3.1.4): the syntax
// of RFC 5646 language tags, minus the grandfathered tags that were deprecated.
var bcp47Pattern = regexp.MustCompile(`^(([A-Za-z]{2,3}(-[A-Za-z]{3}(-[A-Za-z]{3}){0,2})?|[A-Za-z]{4,8})(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*(-[A-WY-Za-wy-z0-9](-[A-Za-z0-9]{2,8})+)*(-[Xx](-[A-Za-z0-9]{1,8})+)?|[Xx](-[A-Za-z0-9]{1,8})+|[Ii]-[Dd][Ee][Ff][Aa][Uu][Ll][Tt]|[Ii]-[Mm][Ii][Nn][Gg][Oo])$`)

// bcp47Check reports why tag is not a valid BCP 47 language tag whose subtags exist in the
// IANA language subtag registry (as golang.org/x/text knows it), or nil. Case does not
// matter (RFC 5646 section 2.1.1). Private use tags are valid here (6.2.14 warns on them).
func bcp47Check(tag string) error {
	if !bcp47Pattern.MatchString(tag) {
		return fmt.Errorf("it is not a well-formed language tag")
	}
	if _, err := language.Parse(tag); err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "language: "))
	}
	subtags := strings.Split(strings.ToLower(tag), "-")
	if n := len(subtags[0]); n >= 4 {
		// 4 letters are reserved, 5 to 8 would need registration: none are registered.
		return fmt.Errorf("primary language subtag %q is not registered", subtags[0])
	}
	// RFC 5646 section 2.2.5: a variant subtag is used at most once. Variants follow the
	// language, script and region subtags and end at the first singleton.
	seen := map[string]bool{}
	for _, s := range subtags[1:] {
		if len(s) == 1 {
			break
		}
		isVariant := len(s) >= 5 || (len(s) == 4 && s[0] >= '0' && s[0] <= '9')
		if !isVariant {
			continue
		}
		if seen[s] {
			return fmt.Errorf("variant subtag %q is repeated", s)
		}
		seen[s] = true
	}
	return nil
}

// checkLanguage is 6.1.12: /document/lang and /document/source_lang are valid language tags
// whose subtags exist (EZ, the region code of the Eurozone, is no language).
func checkLanguage(d *Document) []Finding {
	var fs []Finding
	doc := obj(d.Raw, "document")
	for _, k := range []string{"lang", "source_lang"} {
		tag, ok := doc[k].(string)
		if !ok {
			continue
		}
		if err := bcp47Check(tag); err != nil {
			fs = append(fs, Finding{Test: "6.1.12", Path: ptr("document", k),
				Message: fmt.Sprintf("language: %q is not a valid language: %v", tag, err)})
		}
	}
	return fs
}

// purlCheck reports why s is not a valid package URL, or nil: it must parse per the purl
// specification, with its type-specific rules as packageurl-go knows them, and be in the
// canonical form without "//" after the scheme (CSAF 2.0 section 3.1.3.3.4).
func purlCheck(s string) error {
	if len(s) >= 4 && strings.EqualFold(s[:4], "pkg:") && strings.HasPrefix(s[4:], "/") {
		return fmt.Errorf("a slash after the scheme is not the canonical form")
	}
	if _, err := packageurl.FromString(s); err != nil {
		return err
	}
	return nil
}

// checkPURL is 6.1.13: the purl of every product identification helper in the product tree
// (branches at any depth, full product names, relationships) is a valid package URL.
func checkPURL(d *Document) []Finding {
	var fs []Finding
	check := func(fpn any, base string) {
		purl, ok := obj(fpn, "product_identification_helper")["purl"].(string)
		if !ok {
			return
		}
		if err := purlCheck(purl); err != nil {
			fs = append(fs, Finding{Test: "6.1.13", Path: join(base, "product_identification_helper", "purl"),
				Message: fmt.Sprintf("purl: %q is not a valid package url: %v", purl, err)})
		}
	}
	pt := obj(d.Raw, "product_tree")
	var walk func(branches []any, base string)
	walk = func(branches []any, base string) {
		for i, b := range branches {
			p := join(base, i)
			check(obj(b, "product"), join(p, "product"))
			walk(arr(b, "branches"), join(p, "branches"))
		}
	}
	walk(arr(pt, "branches"), ptr("product_tree", "branches"))
	for i, fpn := range arr(pt, "full_product_names") {
		check(fpn, ptr("product_tree", "full_product_names", i))
	}
	for i, r := range arr(pt, "relationships") {
		check(obj(r, "full_product_name"), ptr("product_tree", "relationships", i, "full_product_name"))
	}
	return fs
}
