package csaf

import (
	"os"
	"strings"
	"testing"
)

func TestCWE(t *testing.T) {
	xss := `"Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"`
	tdocRun(t, "6.1.11", []tdocCase{
		{Name: "example is valid", Example: rhsa5217},
		{Name: "other examples are valid", Example: bsi0001},
		{Name: "wrong name", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/cwe/name", `"Improper Authorization"`}},
			Want:  []tdocWant{{"/vulnerabilities/0/cwe/name", `cwe: CWE-863 is named "Incorrect Authorization", not "Improper Authorization"`}}},
		{Name: "name differs in case only", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/cwe/name", `"incorrect authorization"`}},
			Want:  []tdocWant{{"/vulnerabilities/0/cwe/name", "CWE-863"}}},
		{Name: "unknown id", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/cwe/id", `"CWE-99999"`}},
			Want:  []tdocWant{{"/vulnerabilities/0/cwe/id", "cwe: CWE-99999 is not a weakness of the cwe list (version 4.17)"}}},
		{Name: "the corpus example", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/cwe", `{"id": "CWE-79", "name": "Improper Input Validation"}`}},
			Want:  []tdocWant{{"/vulnerabilities/0/cwe/name", "CWE-79 is named " + xss}}},
		{Name: "the corpus example corrected", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/cwe", `{"id": "CWE-79", "name": ` + xss + `}`}}},
		{Name: "a category is no weakness", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/cwe", `{"id": "CWE-1212", "name": "Authorization Errors"}`}},
			Want:  []tdocWant{{"/vulnerabilities/0/cwe/id", "CWE-1212"}}},
		{Name: "second vulnerability", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/1", `{"cwe": {"id": "CWE-20", "name": "Improper Input Validation"}}`},
				{"/vulnerabilities/2", `{"cwe": {"id": "CWE-0", "name": "None"}}`}},
			Want: []tdocWant{{"/vulnerabilities/2/cwe/id", "CWE-0"}}},
	})
}

// The CWE data is embedded with its version and MITRE's attribution.
func TestCWEList(t *testing.T) {
	l, err := cweCatalog()
	if err != nil {
		t.Fatal(err)
	}
	if l.Version == "" || l.Date == "" || len(l.Weaknesses) < 900 {
		t.Fatalf("cwe.json: version %q, date %q, %d weaknesses", l.Version, l.Date, len(l.Weaknesses))
	}
	for id, name := range map[string]string{
		"CWE-20":  "Improper Input Validation",
		"CWE-787": "Out-of-bounds Write",
		"CWE-863": "Incorrect Authorization",
	} {
		if got := l.Weaknesses[id]; got != name {
			t.Errorf("%s = %q, want %q", id, got, name)
		}
	}
	for id, name := range l.Weaknesses {
		if !strings.HasPrefix(id, "CWE-") || name == "" || strings.TrimSpace(name) != name {
			t.Errorf("bad entry %q: %q", id, name)
		}
	}
	b, err := os.ReadFile("cwe_LICENSE.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"The MITRE Corporation", "https://cwe.mitre.org/about/termsofuse.html", "version " + l.Version} {
		if !strings.Contains(string(b), s) {
			t.Errorf("cwe_LICENSE.txt does not mention %q", s)
		}
	}
}

func TestLanguage(t *testing.T) {
	tdocRun(t, "6.1.12", []tdocCase{
		{Name: "example is valid", Example: rhsa5217},
		{Name: "example with region is valid", Example: bsi0001},
		{Name: "region code as language", Example: rhsa5217,
			Edits: []tdocEdit{{"/document/lang", `"EZ"`}},
			Want:  []tdocWant{{"/document/lang", `language: "EZ" is not a valid language`}}},
		{Name: "unknown source language", Example: rhsa5217,
			Edits: []tdocEdit{{"/document/source_lang", `"xx"`}},
			Want:  []tdocWant{{"/document/source_lang", `"xx"`}}},
		{Name: "both", Example: rhsa5217,
			Edits: []tdocEdit{{"/document/lang", `"de-AB"`}, {"/document/source_lang", `"en_US"`}},
			Want:  []tdocWant{{"/document/lang", `"de-AB"`}, {"/document/source_lang", "not a well-formed language tag"}}},
		{Name: "translation", Example: rhsa5217,
			Edits: []tdocEdit{{"/document/lang", `"de-CH"`}, {"/document/source_lang", `"en-US"`}}},
		{Name: "no language", Example: rhsa5217, Edits: []tdocEdit{{"/document/lang", ""}}},
	})
}

func TestBCP47Check(t *testing.T) {
	valid := []string{
		"en", "en-US", "EN-us", "de-CH-1901", "zh-Hant-TW", "sr-Latn-RS", "es-419", "gsw", "de-XY",
		"ca-ES-valencia", "de-DE-u-co-phonebk", "en-US-x-twain", "x-private", "qaa", "tlh",
		"i-default", "I-DEFAULT", "i-mingo",
	}
	for _, tag := range valid {
		if err := bcp47Check(tag); err != nil {
			t.Errorf("%q: %v", tag, err)
		}
	}
	invalid := []string{
		"", "EZ", "xx", "sgn-BE-FR", "en_US", "en-", "english", "root", "en-US-US", "de-1901-1901", "en-Qqqq-US-",
		"en-a-x-a-y", "de-AB", "i-klingon-x", "en-US-12345678x",
	}
	for _, tag := range invalid {
		if err := bcp47Check(tag); err == nil {
			t.Errorf("%q: valid, want invalid", tag)
		}
	}
}

func TestPURL(t *testing.T) {
	fpn := func(purl string) string {
		return `{"name": "A", "product_id": "A", "product_identification_helper": {"purl": "` + purl + `"}}`
	}
	doc := func(purls ...string) string {
		var items []string
		for _, p := range purls {
			items = append(items, fpn(p))
		}
		return `{"product_tree": {"full_product_names": [` + strings.Join(items, ",") + `]}}`
	}
	branch := "/product_tree/branches/0/branches/0/product/product_identification_helper"
	tdocRun(t, "6.1.13", []tdocCase{
		{Name: "example is valid", Example: rhsa5217},
		{Name: "valid purl in a branch of the example", Example: rhsa5217,
			Edits: []tdocEdit{{branch, `{"purl": "pkg:maven/org.keycloak/keycloak-core@15.0.4"}`}}},
		{Name: "invalid purl in a branch of the example", Example: rhsa5217,
			Edits: []tdocEdit{{branch, `{"purl": "pkg:maven/@1.3.4"}`}},
			Want:  []tdocWant{{branch + "/purl", `purl: "pkg:maven/@1.3.4" is not a valid package url: purl is missing name`}}},
		{Name: "valid purls", Inline: doc(
			"pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=bookworm",
			"pkg:npm/%40babel/core@7.22.0",
			"pkg:golang/github.com/package-url/packageurl-go@v0.1.7#subpath",
			"pkg:generic/openssl@3.0.11?download_url=https://www.openssl.org/source/openssl-3.0.11.tar.gz",
		)},
		{Name: "invalid purls", Inline: doc(
			"pkg:maven/@1.3.4",                 // no name (the example of the standard)
			"pkg://npm/lodash@4.17.21",         // not the canonical form
			"pkg:swift/Alamofire@5.4.3",        // swift needs a namespace
			"pkg:npm/lodash?a=1&a=2",           // repeated qualifier
			"pkg:n%70m/lodash",                 // bad type
			"pkg:deb/debian/openssl?arch=a%zz", // bad escape
		),
			Want: []tdocWant{
				{"/product_tree/full_product_names/0/product_identification_helper/purl", "missing name"},
				{"/product_tree/full_product_names/1/product_identification_helper/purl", "canonical form"},
				{"/product_tree/full_product_names/2/product_identification_helper/purl", "namespace is required"},
				{"/product_tree/full_product_names/3/product_identification_helper/purl", "pkg:npm/lodash?a=1&a=2"},
				{"/product_tree/full_product_names/4/product_identification_helper/purl", "type"},
				{"/product_tree/full_product_names/5/product_identification_helper/purl", "arch=a%zz"},
			}},
		{Name: "relationship product", Inline: `{"product_tree": {"relationships": [{"category": "default_component_of",
			"product_reference": "A", "relates_to_product_reference": "B", "full_product_name": ` + fpn("pkg:rpm/openssl") + `},
			{"category": "default_component_of", "product_reference": "A", "relates_to_product_reference": "B",
			"full_product_name": ` + fpn("openssl") + `}]}}`,
			Want: []tdocWant{{"/product_tree/relationships/1/full_product_name/product_identification_helper/purl", `"openssl"`}}},
	})
}
