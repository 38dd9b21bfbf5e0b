package csaf

import "testing"

// docExample is Red Hat's RHSA-2021:5217: one vulnerability (CVE-2021-4133) with one
// remediation, a product tree of branches with a product at
// /product_tree/branches/0/branches/0/product.
func docExample(t *testing.T) map[string]any { return tfxExample(t, "rhsa-2021_5217.json") }

func docSet(pairs ...string) func(t *testing.T, m map[string]any) {
	return func(t *testing.T, m map[string]any) {
		t.Helper()
		for i := 0; i+1 < len(pairs); i += 2 {
			tfxSet(t, m, pairs[i], pairs[i+1])
		}
	}
}

func TestMultipleCVE(t *testing.T) {
	tfxTable(t, "6.1.23", docExample, []tfxCase{
		{name: "example"},
		{name: "copied vulnerability", edit: func(t *testing.T, m map[string]any) {
			v := tfxCopy(t, m["vulnerabilities"].([]any)[0].(map[string]any))
			m["vulnerabilities"] = append(m["vulnerabilities"].([]any), v, map[string]any{"cve": "CVE-2021-4134"}, v)
		}, paths: []string{"/vulnerabilities/1/cve", "/vulnerabilities/3/cve"}, msg: "cve CVE-2021-4133 is used by more than one vulnerability (also at /vulnerabilities/0)"},
		{name: "other cve", edit: docSet("/vulnerabilities/-", `{"cve":"CVE-2021-4134"}`, "/vulnerabilities/-", `{"title":"no cve"}`, "/vulnerabilities/-", `{"title":"no cve"}`)},
	})
}

func TestMultipleInvolvement(t *testing.T) {
	inv := "/vulnerabilities/0/involvements"
	tfxTable(t, "6.1.24", docExample, []tfxCase{
		{name: "example"},
		{name: "same party and date", edit: docSet(inv, `[
			{"date":"2021-04-23T10:00:00.000Z","party":"vendor","status":"completed"},
			{"date":"2021-04-23T10:00:00.000Z","party":"vendor","status":"in_progress"}]`),
			paths: []string{inv + "/1"}, msg: "party vendor has more than one involvement at 2021-04-23T10:00:00.000Z (also at " + inv + "/0)"},
		{name: "same instant in another time zone", edit: docSet(inv, `[
			{"date":"2021-04-23T10:00:00Z","party":"vendor","status":"completed"},
			{"date":"2021-04-23T12:00:00+02:00","party":"vendor","status":"completed"}]`),
			paths: []string{inv + "/1"}},
		{name: "other dates", edit: docSet(inv, `[
			{"date":"2021-04-23T10:00:00Z","party":"vendor","status":"in_progress"},
			{"date":"2021-04-24T10:00:00Z","party":"vendor","status":"completed"}]`)},
		{name: "other parties", edit: docSet(inv, `[
			{"date":"2021-04-23T10:00:00Z","party":"vendor","status":"completed"},
			{"date":"2021-04-23T10:00:00Z","party":"coordinator","status":"completed"}]`)},
		{name: "no dates", edit: docSet(inv, `[
			{"party":"vendor","status":"in_progress"},
			{"party":"vendor","status":"completed"}]`)},
		{name: "other vulnerabilities", edit: docSet(inv, `[{"date":"2021-04-23T10:00:00Z","party":"vendor","status":"completed"}]`,
			"/vulnerabilities/-", `{"involvements":[{"date":"2021-04-23T10:00:00Z","party":"vendor","status":"completed"}]}`)},
	})
}

func TestMultipleHashAlgorithm(t *testing.T) {
	prod := "/product_tree/branches/0/branches/0/product"
	hashes := func(algs ...string) string {
		s := `{"hashes":[{"filename":"a.jar","file_hashes":[`
		for i, a := range algs {
			if i > 0 {
				s += ","
			}
			s += `{"algorithm":"` + a + `","value":"0a853ce2337f0608489ac596a308dc5b7b19d35a52b10bf31261586ac368b175"}`
		}
		return s + `]},{"filename":"b.jar","file_hashes":[{"algorithm":"sha256","value":"026a37919b182ef7c63791e82c9645e2f897a3f0b73c7a6028c7febf62e93838"}]}]}`
	}
	tfxTable(t, "6.1.25", docExample, []tfxCase{
		{name: "example"},
		{name: "branch product", edit: docSet(prod+"/product_identification_helper", hashes("sha256", "sha512", "sha256")),
			paths: []string{prod + "/product_identification_helper/hashes/0/file_hashes/2/algorithm"},
			msg:   "hash algorithm sha256 is used more than once in one item of hashes (also at " + prod + "/product_identification_helper/hashes/0/file_hashes/0)"},
		{name: "case does not matter", edit: docSet(prod+"/product_identification_helper", hashes("sha256", "SHA256")),
			paths: []string{prod + "/product_identification_helper/hashes/0/file_hashes/1/algorithm"}},
		{name: "distinct algorithms, same algorithm in two items", edit: docSet(prod+"/product_identification_helper", hashes("sha256", "sha512"))},
		{name: "full product name and relationship", edit: docSet(
			"/product_tree/full_product_names", `[{"name":"A","product_id":"A","product_identification_helper":`+hashes("md5", "md5")+`}]`,
			"/product_tree/relationships", `[{"category":"default_component_of","product_reference":"A","relates_to_product_reference":"A",
				"full_product_name":{"name":"B","product_id":"B","product_identification_helper":`+hashes("sha1", "sha1")+`}}]`),
			paths: []string{
				"/product_tree/full_product_names/0/product_identification_helper/hashes/0/file_hashes/1/algorithm",
				"/product_tree/relationships/0/full_product_name/product_identification_helper/hashes/0/file_hashes/1/algorithm",
			}},
		{name: "deep branch", edit: docSet("/product_tree/branches/0/branches/0/branches",
			`[{"category":"product_version","name":"7.5","product":{"name":"C","product_id":"C","product_identification_helper":`+hashes("sha3-512", "sha3-512")+`}}]`),
			paths: []string{"/product_tree/branches/0/branches/0/branches/0/product/product_identification_helper/hashes/0/file_hashes/1/algorithm"}},
	})
}

func TestProhibitedCategoryName(t *testing.T) {
	var cases []tfxCase
	for _, c := range []string{
		// CSAF 2.0 examples 74 and 75, and the official test corpus.
		"Csaf_a", "Informational Advisory", "security-incident-response", "Security      Advisory", "veX", "V_eX",
		"Security_Incident_Response", "csaf_BASE", "Csaf_VeX", "csafsecurityadvisory",
		// The values of the profiles, normalised; Unicode dashes and spaces.
		"csaf-vex", "CSAF VEX", "csaf_something", "Security\u2014Advisory", "Informational\u00a0Advisory", "security\uff3fadvisory", "V\u2011E\u2011X",
	} {
		cases = append(cases, tfxCase{name: c, edit: docSet("/document/category", `"`+c+`"`), paths: []string{"/document/category"}})
	}
	for _, c := range []string{
		// The profiles themselves are skipped, "CSAF Base" categories may be anything else.
		"csaf_base", "csaf_security_incident_response", "csaf_informational_advisory", "csaf_security_advisory", "csaf_vex",
		"OASIS CSAF TC Security Incident Response", "Cisco Security Advisory", "vexed", "csaf", "base", "advisory", "security",
	} {
		cases = append(cases, tfxCase{name: c, edit: docSet("/document/category", `"`+c+`"`)})
	}
	cases = append(cases,
		tfxCase{name: "prefix message", edit: docSet("/document/category", `"csaf_BASE"`), paths: []string{"/document/category"},
			msg: `document category "csaf_BASE" starts with the reserved prefix csaf_`},
		tfxCase{name: "profile message", edit: docSet("/document/category", `"Security_Incident_Response"`), paths: []string{"/document/category"},
			msg: `document category "Security_Incident_Response" is the name of the profile security incident response`})
	tfxTable(t, "6.1.26", docExample, cases)
}

func TestTranslation(t *testing.T) {
	tfxTable(t, "6.1.28", docExample, []tfxCase{
		{name: "example"},
		{name: "same language", edit: docSet("/document/source_lang", `"en"`), paths: []string{"/document/source_lang"},
			msg: "source language en is the same as the document language en"},
		{name: "case does not matter", edit: docSet("/document/lang", `"en-US"`, "/document/source_lang", `"en-us"`), paths: []string{"/document/source_lang"}},
		{name: "en-US to en-GB", edit: docSet("/document/lang", `"en-US"`, "/document/source_lang", `"en-GB"`)},
		{name: "de to en", edit: docSet("/document/source_lang", `"de"`)},
	})
}

func TestRemediationProducts(t *testing.T) {
	rem := "/vulnerabilities/0/remediations"
	tfxTable(t, "6.1.29", docExample, []tfxCase{
		{name: "example"},
		{name: "no products", edit: func(t *testing.T, m map[string]any) { tfxDel(t, m, rem+"/0/product_ids") },
			paths: []string{rem + "/0"}, msg: "remediation has neither product_ids nor group_ids"},
		{name: "group only", edit: func(t *testing.T, m map[string]any) {
			tfxDel(t, m, rem+"/0/product_ids")
			tfxSet(t, m, rem+"/0/group_ids", `["CSAFGID-1"]`)
		}},
		{name: "second remediation", edit: docSet(rem+"/-", `{"category":"no_fix_planned","details":"end of life"}`),
			paths: []string{rem + "/1"}},
	})
}

func TestFlagProducts(t *testing.T) {
	flags := "/vulnerabilities/0/flags"
	tfxTable(t, "6.1.32", docExample, []tfxCase{
		{name: "example"},
		{name: "no products", edit: docSet(flags, `[{"label":"component_not_present","product_ids":["x"]},{"label":"component_not_present"}]`),
			paths: []string{flags + "/1"}, msg: "flag has neither product_ids nor group_ids"},
		{name: "group", edit: docSet(flags, `[{"label":"component_not_present","group_ids":["CSAFGID-1"]}]`)},
	})
}

func TestDocVersionRange(t *testing.T) {
	for name, want := range map[string]string{
		"prior to 4.2": "prior", "<4.2": "<", "<=4.1": "<=", "<= 4.1": "<=", ">4.2": ">", "4.1 >= x": ">=",
		"4.1 and earlier": "earlier", "all": "all", "ALL": "all", "before 4.2": "before", "4.2 and later": "later",
		"3.X versions": "versions", "after 4.2": "after", "4.2\tAfter": "after",
		// A single version.
		"4.2": "", "after-eight": "", "allegro 2": "", "v4.2-prior": "", "laterite": "", "versions-2": "", "2.0.0-beta": "",
	} {
		if got := docVersionRange(name); got != want {
			t.Errorf("docVersionRange(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestVersionRangeInProductVersion(t *testing.T) {
	deep := "/product_tree/branches/0/branches/0/branches"
	branch := func(category, name string) string {
		return `[{"category":"` + category + `","name":"` + name + `","product":{"name":"P","product_id":"P"}}]`
	}
	tfxTable(t, "6.1.31", docExample, []tfxCase{
		{name: "example"},
		{name: "prior to", edit: docSet(deep, branch("product_version", "prior to 4.2")),
			paths: []string{deep + "/0/name"}, msg: `product version "prior to 4.2" is a version range (prior)`},
		{name: "operator", edit: docSet(deep, branch("product_version", "<=7.5")), paths: []string{deep + "/0/name"}},
		{name: "range category", edit: docSet(deep, branch("product_version_range", "<=7.5"))},
		{name: "a name, not a version", edit: docSet(deep, branch("product_name", "All Products"))},
		{name: "single version", edit: docSet(deep, branch("product_version", "7.5.1"))},
		{name: "word inside a name", edit: docSet(deep, branch("product_version", "after-eight"))},
		{name: "top level", edit: docSet("/product_tree/branches/-", `{"category":"product_version","name":"all versions","product":{"name":"Q","product_id":"Q"}}`),
			paths: []string{"/product_tree/branches/1/name"}},
	})
}

func TestMultipleVEXFlags(t *testing.T) {
	// CSAF 2.0 example 92.
	base := func(t *testing.T) map[string]any {
		return tfxJSON(t, `{
			"document": {"category": "csaf_base"},
			"product_tree": {
				"full_product_names": [{"product_id": "A", "name": "Product A"}, {"product_id": "B", "name": "Product B"}],
				"product_groups": [{"group_id": "G", "product_ids": ["A", "B"]}]
			},
			"vulnerabilities": [{
				"flags": [
					{"label": "component_not_present", "group_ids": ["G"]},
					{"label": "vulnerable_code_cannot_be_controlled_by_adversary", "product_ids": ["A"]}
				],
				"product_status": {"known_not_affected": ["A", "B"]}
			}]
		}`)
	}
	flags := "/vulnerabilities/0/flags"
	tfxTable(t, "6.1.33", base, []tfxCase{
		{name: "example 92", paths: []string{flags + "/1"}, msg: "product A has more than one flag with a vex justification code (also at " + flags + "/0)"},
		{name: "direct only", edit: docSet(flags+"/0", `{"label":"component_not_present","product_ids":["B"]}`)},
		{name: "twice in one flag", edit: docSet(flags, `[{"label":"component_not_present","group_ids":["G"],"product_ids":["A","A"]}]`)},
		{name: "both products twice", edit: docSet(flags+"/1/product_ids", `["B","A"]`),
			paths: []string{flags + "/1", flags + "/1"}},
		{name: "other vulnerability", edit: func(t *testing.T, m map[string]any) {
			tfxDel(t, m, flags+"/1")
			tfxSet(t, m, "/vulnerabilities/-", `{"flags":[{"label":"vulnerable_code_not_present","product_ids":["A"]}]}`)
		}},
		{name: "a flag that is no vex justification", edit: docSet(flags+"/1/label", `"some_future_label"`)},
	})
}
