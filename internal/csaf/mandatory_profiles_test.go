package csaf

import "testing"

// Real examples of three profiles: Red Hat's informational advisory RHSA-2019:1862 (notes
// summary, general, legal_disclaimer; references self and external), its security advisory
// RHSA-2021:5217, and the VEX example 2022-evd-uc-07-001 (one vulnerability with fixed,
// known_affected CSAFPID-0002/3/4/8 covered by two remediations, and known_not_affected
// CSAFPID-0001/5/6/7/9 covered by two impact threats).
func profInformational(t *testing.T) map[string]any { return tfxExample(t, "rhsa-2019_1862.json") }
func profAdvisory(t *testing.T) map[string]any      { return tfxExample(t, "rhsa-2021_5217.json") }
func profVEXExample(t *testing.T) map[string]any {
	return tfxExample(t, "csaf_vex/2022-evd-uc-07-001.json")
}

func profCategoryIs(c string) func(t *testing.T, m map[string]any) {
	return docSet("/document/category", `"`+c+`"`)
}

// profThen chains edits.
func profThen(edits ...func(t *testing.T, m map[string]any)) func(t *testing.T, m map[string]any) {
	return func(t *testing.T, m map[string]any) {
		for _, e := range edits {
			e(t, m)
		}
	}
}

func profDel(pointers ...string) func(t *testing.T, m map[string]any) {
	return func(t *testing.T, m map[string]any) {
		for _, p := range pointers {
			tfxDel(t, m, p)
		}
	}
}

func TestProfileDocumentNotes(t *testing.T) {
	onlyLegal := docSet("/document/notes", `[{"category":"legal_disclaimer","text":"as is","title":"Terms of Use"}]`)
	tfxTable(t, "6.1.27.1", profInformational, []tfxCase{
		{name: "example"},
		{name: "only a legal disclaimer", edit: onlyLegal, paths: []string{"/document/notes"},
			msg: "a csaf_informational_advisory document needs a note of category description, details, general or summary"},
		{name: "no notes", edit: profDel("/document/notes"), paths: []string{"/document/notes"}},
		{name: "details", edit: docSet("/document/notes", `[{"category":"faq","text":"x"},{"category":"details","text":"x"}]`)},
		{name: "incident response", edit: profThen(onlyLegal, profCategoryIs(profIncidentResponse)), paths: []string{"/document/notes"}},
		{name: "other profiles are skipped", edit: profThen(onlyLegal, profCategoryIs(profSecurityAdvisory))},
		{name: "base is skipped", edit: profThen(onlyLegal, profCategoryIs("csaf_base"))},
	})
}

func TestProfileDocumentReferences(t *testing.T) {
	onlySelf := docSet("/document/references", `[{"category":"self","summary":"canonical","url":"https://example.com/a.json"}]`)
	tfxTable(t, "6.1.27.2", profInformational, []tfxCase{
		{name: "example"},
		{name: "only self", edit: onlySelf, paths: []string{"/document/references"}, msg: "needs a reference of category external"},
		{name: "no references", edit: profDel("/document/references"), paths: []string{"/document/references"}},
		{name: "external is the default category", edit: docSet("/document/references", `[{"summary":"x","url":"https://example.com/"}]`)},
		{name: "incident response", edit: profThen(onlySelf, profCategoryIs(profIncidentResponse)), paths: []string{"/document/references"}},
		{name: "other profiles are skipped", edit: profThen(onlySelf, profCategoryIs(profVEX))},
	})
}

func TestProfileNoVulnerabilities(t *testing.T) {
	withVuln := docSet("/vulnerabilities", `[{"title":"A vulnerability item that SHALL NOT exist"}]`)
	tfxTable(t, "6.1.27.3", profInformational, []tfxCase{
		{name: "example"},
		{name: "vulnerabilities", edit: withVuln, paths: []string{"/vulnerabilities"},
			msg: "a csaf_informational_advisory document must not have vulnerabilities"},
		{name: "incident response may have them", edit: profThen(withVuln, profCategoryIs(profIncidentResponse))},
	})
}

func TestProfileProductTree(t *testing.T) {
	tfxTable(t, "6.1.27.4", profAdvisory, []tfxCase{
		{name: "example"},
		{name: "no product tree", edit: profDel("/product_tree"), paths: []string{"/product_tree"}, msg: "needs a product tree"},
		{name: "vex", edit: profThen(profDel("/product_tree"), profCategoryIs(profVEX)), paths: []string{"/product_tree"}},
		{name: "informational is skipped", edit: profThen(profDel("/product_tree"), profCategoryIs(profInformationalAdvisory))},
	})
}

func TestProfileVulnerabilityNotes(t *testing.T) {
	tfxTable(t, "6.1.27.5", profAdvisory, []tfxCase{
		{name: "example"},
		{name: "no notes", edit: profDel("/vulnerabilities/0/notes"), paths: []string{"/vulnerabilities/0/notes"}, msg: "needs notes"},
		{name: "second vulnerability", edit: docSet("/vulnerabilities/-", `{"title":"A vulnerability item without a note"}`),
			paths: []string{"/vulnerabilities/1/notes"}},
		{name: "vex", edit: profThen(profDel("/vulnerabilities/0/notes"), profCategoryIs(profVEX)), paths: []string{"/vulnerabilities/0/notes"}},
		{name: "incident response is skipped", edit: profThen(profDel("/vulnerabilities/0/notes"), profCategoryIs(profIncidentResponse))},
	})
}

func TestProfileProductStatus(t *testing.T) {
	tfxTable(t, "6.1.27.6", profAdvisory, []tfxCase{
		{name: "example"},
		{name: "no product status", edit: profDel("/vulnerabilities/0/product_status"),
			paths: []string{"/vulnerabilities/0/product_status"}, msg: "needs a product status"},
		{name: "vex is skipped", edit: profThen(profDel("/vulnerabilities/0/product_status"), profCategoryIs(profVEX))},
	})
}

func TestProfileVEXProductStatus(t *testing.T) {
	ps := "/vulnerabilities/0/product_status"
	tfxTable(t, "6.1.27.7", profVEXExample, []tfxCase{
		{name: "example"},
		{name: "first_fixed and recommended only", edit: docSet(ps, `{"first_fixed":["CSAFPID-0010"],"recommended":["CSAFPID-0010"]}`),
			paths: []string{ps}, msg: "none of fixed, known_affected, known_not_affected, under_investigation"},
		{name: "no product status", edit: profDel(ps), paths: []string{ps}},
		{name: "under investigation", edit: docSet(ps, `{"under_investigation":["CSAFPID-0010"]}`)},
		{name: "security advisory is skipped", edit: profThen(profDel(ps), profCategoryIs(profSecurityAdvisory))},
	})
}

func TestProfileVulnerabilityID(t *testing.T) {
	tfxTable(t, "6.1.27.8", profVEXExample, []tfxCase{
		{name: "example"},
		{name: "no cve, no ids", edit: profDel("/vulnerabilities/0/cve"), paths: []string{"/vulnerabilities/0"}, msg: "neither cve nor ids"},
		{name: "ids", edit: profThen(profDel("/vulnerabilities/0/cve"),
			docSet("/vulnerabilities/0/ids", `[{"system_name":"Example","text":"EX-1"}]`))},
		{name: "security advisory is skipped", edit: profThen(profDel("/vulnerabilities/0/cve"), profCategoryIs(profSecurityAdvisory))},
	})
}

func TestProfileImpactStatement(t *testing.T) {
	knaPath := "/vulnerabilities/0/product_status/known_not_affected/"
	// The example's known_not_affected: CSAFPID-0001, -0005, -0006, -0007, -0009.
	tfxTable(t, "6.1.27.9", profVEXExample, []tfxCase{
		{name: "example"},
		{name: "no threats", edit: profDel("/vulnerabilities/0/threats"),
			paths: []string{knaPath + "0", knaPath + "1", knaPath + "2", knaPath + "3", knaPath + "4"},
			msg:   "no impact statement (flag or impact threat) for known_not_affected product CSAFPID-0001"},
		{name: "second threat missing", edit: profDel("/vulnerabilities/0/threats/1"), paths: []string{knaPath + "4"}},
		{name: "threat of another category", edit: docSet("/vulnerabilities/0/threats/1/category", `"exploit_status"`), paths: []string{knaPath + "4"}},
		{name: "flag instead of threat", edit: profThen(profDel("/vulnerabilities/0/threats/1"),
			docSet("/vulnerabilities/0/flags", `[{"label":"vulnerable_code_not_present","product_ids":["CSAFPID-0009"]}]`))},
		{name: "through a product group", edit: profThen(profDel("/vulnerabilities/0/threats/1"),
			docSet("/product_tree/product_groups", `[{"group_id":"CSAFGID-1","product_ids":["CSAFPID-0009","CSAFPID-0010"]}]`,
				"/vulnerabilities/0/flags", `[{"label":"component_not_present","group_ids":["CSAFGID-1"]}]`))},
		{name: "security advisory is skipped", edit: profThen(profDel("/vulnerabilities/0/threats"), profCategoryIs(profSecurityAdvisory))},
	})
}

func TestProfileActionStatement(t *testing.T) {
	kaPath := "/vulnerabilities/0/product_status/known_affected/"
	// The example's known_affected: CSAFPID-0002, -0003, -0004 (remediation 0), -0008 (remediation 1).
	tfxTable(t, "6.1.27.10", profVEXExample, []tfxCase{
		{name: "example"},
		{name: "no remediations", edit: profDel("/vulnerabilities/0/remediations"),
			paths: []string{kaPath + "0", kaPath + "1", kaPath + "2", kaPath + "3"},
			msg:   "no action statement (remediation) for known_affected product CSAFPID-0002"},
		{name: "second remediation missing", edit: profDel("/vulnerabilities/0/remediations/1"), paths: []string{kaPath + "3"}},
		{name: "through a product group", edit: profThen(profDel("/vulnerabilities/0/remediations/1"),
			docSet("/product_tree/product_groups", `[{"group_id":"CSAFGID-1","summary":"EOL products","product_ids":["CSAFPID-0008","CSAFPID-0010"]}]`,
				"/vulnerabilities/0/remediations/-", `{"category":"no_fix_planned","details":"end of life","group_ids":["CSAFGID-1"]}`))},
		{name: "a remediation of any category", edit: docSet("/vulnerabilities/0/remediations/1/category", `"no_fix_planned"`)},
		{name: "security advisory is skipped", edit: profThen(profDel("/vulnerabilities/0/remediations"), profCategoryIs(profSecurityAdvisory))},
	})
}

func TestProfileVulnerabilities(t *testing.T) {
	tfxTable(t, "6.1.27.11", profVEXExample, []tfxCase{
		{name: "example"},
		{name: "vex without vulnerabilities", edit: profDel("/vulnerabilities"), paths: []string{"/vulnerabilities"},
			msg: "a csaf_vex document needs vulnerabilities"},
		{name: "security advisory", edit: profThen(profDel("/vulnerabilities"), profCategoryIs(profSecurityAdvisory)), paths: []string{"/vulnerabilities"}},
		{name: "informational is skipped", edit: profThen(profDel("/vulnerabilities"), profCategoryIs(profInformationalAdvisory))},
	})
}

// Profile tests only apply to their exact category values.
func TestProfileTestsSkipOtherCategories(t *testing.T) {
	for _, cat := range []string{"csaf_base", "CSAF_VEX", "csaf_vex ", "Security Advisory", ""} {
		doc := tfxJSON(t, `{"document":{"category":"`+cat+`"}}`)
		for _, id := range []string{"6.1.27.1", "6.1.27.2", "6.1.27.3", "6.1.27.4", "6.1.27.5", "6.1.27.6",
			"6.1.27.7", "6.1.27.8", "6.1.27.9", "6.1.27.10", "6.1.27.11"} {
			if fs := tfxRun(t, doc, id); len(fs) > 0 {
				t.Errorf("%s on category %q: %v", id, cat, fs)
			}
		}
	}
}
