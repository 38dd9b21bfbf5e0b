package csaf

import (
	"strings"
	"testing"
)

const (
	// bsi-2022-0001 has one CVSS v3.1 object with base and temporal metric properties:
	// CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:L/E:F/RL:O/RC:C, base 6.1 (MEDIUM).
	bsi0001 = "bsi-2022-0001.json"
	bsiCVSS = "/vulnerabilities/0/scores/0/cvss_v3"
)

// cvssDoc is an inline document with the given scores in one vulnerability.
func cvssDoc(scores ...string) string {
	return `{"product_tree": {"full_product_names": [{"name": "A", "product_id": "A"}, {"name": "B", "product_id": "B"}]},
		"vulnerabilities": [{"scores": [` + strings.Join(scores, ",") + `]}]}`
}

func cvssScore(products, key, object string) string {
	return `{"products": [` + products + `], "` + key + `": ` + object + `}`
}

const (
	cvss31Critical = `{"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "baseScore": 10, "baseSeverity": "CRITICAL"}`
	cvss31Medium   = `{"version": "3.1", "vectorString": "CVSS:3.1/AV:L/AC:L/PR:H/UI:R/S:U/C:H/I:H/A:H", "baseScore": 6.5, "baseSeverity": "MEDIUM"}`
	cvss30Critical = `{"version": "3.0", "vectorString": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "baseScore": 10, "baseSeverity": "CRITICAL"}`
	cvss20High     = `{"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:C/I:C/A:C", "baseScore": 10.0}`
	cvss20Medium   = `{"version": "2.0", "vectorString": "AV:N/AC:L/Au:S/C:P/I:P/A:N", "baseScore": 5.5}`
)

func TestMultipleScoresPerProduct(t *testing.T) {
	tdocRun(t, "6.1.7", []tdocCase{
		{Name: "example is valid", Example: bsi0001},
		{Name: "second v3.1 score for a product of the example", Example: bsi0001,
			Edits: []tdocEdit{{"/vulnerabilities/0/scores/1", cvssScore(`"CSAFPID-0006", "CSAFPID-0003"`, "cvss_v3", cvss31Medium)}},
			Want: []tdocWant{{"/vulnerabilities/0/scores/1/products/1",
				"multiple scores with same version per product: CSAFPID-0003 has a second cvss v3.1 score (first in /vulnerabilities/0/scores/0)"}}},
		{Name: "v3.0 and v3.1 scores for one product", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", cvss31Critical), cvssScore(`"A"`, "cvss_v3", cvss30Critical))},
		{Name: "v2 and v3 in one score", Inline: cvssDoc(`{"products": ["A"], "cvss_v2": ` + cvss20Medium + `, "cvss_v3": ` + cvss31Medium + `}`)},
		{Name: "two v2 scores", Inline: cvssDoc(cvssScore(`"A", "B"`, "cvss_v2", cvss20Medium), cvssScore(`"B"`, "cvss_v2", cvss20High)),
			Want: []tdocWant{{"/vulnerabilities/0/scores/1/products/0", "B has a second cvss v2.0 score"}}},
		{Name: "product listed twice in one score", Inline: cvssDoc(cvssScore(`"A", "A"`, "cvss_v3", cvss31Medium))},
		{Name: "version taken from the vector", Inline: cvssDoc(
			cvssScore(`"A"`, "cvss_v3", `{"vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}`),
			cvssScore(`"A"`, "cvss_v3", cvss31Medium)),
			Want: []tdocWant{{"/vulnerabilities/0/scores/1/products/0", "A has a second cvss v3.1 score"}}},
		{Name: "three scores, two findings", Inline: cvssDoc(
			cvssScore(`"A"`, "cvss_v3", cvss31Medium), cvssScore(`"A"`, "cvss_v3", cvss31Critical), cvssScore(`"B", "A"`, "cvss_v3", cvss31Critical)),
			Want: []tdocWant{
				{"/vulnerabilities/0/scores/1/products/0", "(first in /vulnerabilities/0/scores/0)"},
				{"/vulnerabilities/0/scores/2/products/1", "(first in /vulnerabilities/0/scores/0)"},
			}},
		{Name: "same product in two vulnerabilities", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", cvss31Medium)),
			Edits: []tdocEdit{{"/vulnerabilities/1", `{"scores": [` + cvssScore(`"A"`, "cvss_v3", cvss31Critical) + `]}`}}},
	})
}

func TestInvalidCVSS(t *testing.T) {
	tdocRun(t, "6.1.8", []tdocCase{
		{Name: "example is valid", Example: bsi0001},
		{Name: "missing base severity", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/baseSeverity", ""}},
			Want:  []tdocWant{{bsiCVSS, "invalid cvss: not valid against the cvss v3.1 schema: missing property 'baseSeverity'"}}},
		{Name: "score out of range", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/baseScore", "10.5"}},
			Want:  []tdocWant{{bsiCVSS + "/baseScore", "10.5"}}},
		{Name: "unknown metric value", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/attackVector", `"REMOTE"`}},
			Want:  []tdocWant{{bsiCVSS + "/attackVector", "value must be one of 'NETWORK'"}}},
		{Name: "v3.0 vector in a v3.1 object", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/vectorString", `"CVSS:3.0/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:L/E:F/RL:O/RC:C"`}},
			Want:  []tdocWant{{bsiCVSS + "/vectorString", "does not match pattern"}}},
		{Name: "unknown version", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/version", `"3.2"`}},
			Want:  []tdocWant{{bsiCVSS + "/version", "cvss v3.1 schema"}}},
		{Name: "version from the vector when the property is missing", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/version", ""}, {bsiCVSS + "/vectorString", `"CVSS:3.0/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:L"`}},
			Want:  []tdocWant{{bsiCVSS, "cvss v3.0 schema: missing property 'version'"}}},
		{Name: "valid v3.0 and v2", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", cvss30Critical), cvssScore(`"B"`, "cvss_v2", cvss20Medium))},
		{Name: "v2 without version", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v2", `{"vectorString": "AV:N/AC:L/Au:N/C:C/I:C/A:C", "baseScore": 10}`)),
			Want: []tdocWant{{"/vulnerabilities/0/scores/0/cvss_v2", "cvss v2.0 schema: missing property 'version'"}}},
		{Name: "v2 with a v3 value", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v2",
			`{"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:C/I:C/A:C", "baseScore": 10, "accessVector": "PHYSICAL"}`)),
			Want: []tdocWant{{"/vulnerabilities/0/scores/0/cvss_v2/accessVector", "must be one of 'NETWORK', 'ADJACENT_NETWORK', 'LOCAL'"}}},
		{Name: "not an object", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", `"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"`)),
			Want: []tdocWant{{"/vulnerabilities/0/scores/0/cvss_v3", "want object"}}},
		{Name: "two problems, two findings", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3",
			`{"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "baseScore": -1}`)),
			Want: []tdocWant{
				{"/vulnerabilities/0/scores/0/cvss_v3", "baseSeverity"},
				{"/vulnerabilities/0/scores/0/cvss_v3/baseScore", "-1"},
			}},
	})
}

func TestCVSSComputation(t *testing.T) {
	// Reference values computed by hand with the formulas of the CVSS specifications.
	const (
		v31Env = `"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C/CR:L/IR:L/AR:L/MAV:L"` // 9.8, 8.8, 5.9
		v30Env = `"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C/CR:L/IR:L/AR:L/MAV:L"` // 9.8, 8.8, 5.9
		v20Env = `"AV:N/AC:L/Au:N/C:C/I:C/A:C/E:F/RL:OF/RC:C/CDP:L/TD:H/CR:M/IR:M/AR:M"`             // 10.0, 8.3, 8.5
	)
	full3 := func(version, vector string) string {
		return `{"version": "` + version + `", "vectorString": ` + vector + `, "baseScore": 9.8, "baseSeverity": "CRITICAL",
			"temporalScore": 8.8, "temporalSeverity": "HIGH", "environmentalScore": 5.9, "environmentalSeverity": "MEDIUM"}`
	}
	full2 := `{"version": "2.0", "vectorString": ` + v20Env + `, "baseScore": 10, "temporalScore": 8.3, "environmentalScore": 8.5}`
	p := "/vulnerabilities/0/scores/0/cvss_v3"
	tdocRun(t, "6.1.9", []tdocCase{
		{Name: "example is valid", Example: bsi0001},
		{Name: "wrong base score", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/baseScore", "6.2"}},
			Want:  []tdocWant{{bsiCVSS + "/baseScore", "invalid cvss computation: baseScore is 6.2, the vector gives 6.1"}}},
		{Name: "wrong base severity", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/baseSeverity", `"HIGH"`}},
			Want:  []tdocWant{{bsiCVSS + "/baseSeverity", "baseSeverity is HIGH, the vector gives MEDIUM"}}},
		{Name: "right temporal score", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/temporalScore", "5.7"}, {bsiCVSS + "/temporalSeverity", `"MEDIUM"`}}},
		{Name: "temporal score of the base metrics only", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/temporalScore", "6.1"}},
			Want:  []tdocWant{{bsiCVSS + "/temporalScore", "temporalScore is 6.1, the vector gives 5.7"}}},
		{Name: "right v3.1 scores", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", full3("3.1", v31Env)))},
		{Name: "right v3.0 scores", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", full3("3.0", v30Env)))},
		{Name: "right v2.0 scores", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v2", full2))},
		{Name: "wrong v3.1 temporal and environmental values", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", full3("3.1", v31Env))),
			Edits: []tdocEdit{
				{p + "/temporalSeverity", `"CRITICAL"`},
				{p + "/environmentalScore", "6.0"},
				{p + "/environmentalSeverity", `"HIGH"`},
			},
			Want: []tdocWant{
				{p + "/temporalSeverity", "temporalSeverity is CRITICAL, the vector gives HIGH"},
				{p + "/environmentalScore", "environmentalScore is 6.0, the vector gives 5.9"},
				{p + "/environmentalSeverity", "environmentalSeverity is HIGH, the vector gives MEDIUM"},
			}},
		{Name: "wrong v2.0 scores", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v2", full2)),
			Edits: []tdocEdit{
				{"/vulnerabilities/0/scores/0/cvss_v2/baseScore", "9.3"},
				{"/vulnerabilities/0/scores/0/cvss_v2/temporalScore", "10"},
				{"/vulnerabilities/0/scores/0/cvss_v2/environmentalScore", "8.3"},
			},
			Want: []tdocWant{
				{"/vulnerabilities/0/scores/0/cvss_v2/baseScore", "baseScore is 9.3, the vector gives 10.0"},
				{"/vulnerabilities/0/scores/0/cvss_v2/temporalScore", "temporalScore is 10, the vector gives 8.3"},
				{"/vulnerabilities/0/scores/0/cvss_v2/environmentalScore", "environmentalScore is 8.3, the vector gives 8.5"},
			}},
		{Name: "the vector takes precedence over the version", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", full3("3.0", v31Env)))},
		{Name: "vector without all base metrics", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3",
			`{"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "baseScore": 9.8, "baseSeverity": "CRITICAL"}`)),
			Want: []tdocWant{{p + "/vectorString", "no scores can be computed"}}},
		{Name: "v2 vector with an incomplete temporal group", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v2",
			`{"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:C/I:C/A:C/E:F", "baseScore": 10}`)),
			Want: []tdocWant{{"/vulnerabilities/0/scores/0/cvss_v2/vectorString", "no scores can be computed"}}},
		{Name: "no vector: left to 6.1.8", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", `{"version": "3.1", "baseScore": 1}`))},
		{Name: "score of zero", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3",
			`{"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "baseScore": 0.0, "baseSeverity": "NONE"}`))},
	})
}

func TestInconsistentCVSS(t *testing.T) {
	p := "/vulnerabilities/0/scores/0/cvss_v3"
	p2 := "/vulnerabilities/0/scores/0/cvss_v2"
	tdocRun(t, "6.1.10", []tdocCase{
		{Name: "example is valid", Example: bsi0001},
		{Name: "base metric contradicts the vector", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/privilegesRequired", `"HIGH"`}},
			Want:  []tdocWant{{bsiCVSS + "/privilegesRequired", "inconsistent cvss: privilegesRequired is HIGH, the vector has PR:N (NONE)"}}},
		{Name: "temporal metric contradicts the vector", Example: bsi0001,
			Edits: []tdocEdit{{bsiCVSS + "/reportConfidence", `"REASONABLE"`}},
			Want:  []tdocWant{{bsiCVSS + "/reportConfidence", "reportConfidence is REASONABLE, the vector has RC:C (CONFIRMED)"}}},
		{Name: "metric left out of the vector is not defined", Example: bsi0001,
			Edits: []tdocEdit{
				{bsiCVSS + "/vectorString", `"CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:L/RL:O/RC:C"`},
				{bsiCVSS + "/confidentialityRequirement", `"NOT_DEFINED"`},
			},
			Want: []tdocWant{{bsiCVSS + "/exploitCodeMaturity", "exploitCodeMaturity is FUNCTIONAL, the vector leaves E not defined"}}},
		{Name: "the corpus example", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", `{"version": "3.1",
			"vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": 9.8, "baseSeverity": "CRITICAL",
			"attackVector": "LOCAL", "attackComplexity": "LOW", "privilegesRequired": "NONE", "userInteraction": "NONE",
			"scope": "CHANGED", "confidentialityImpact": "HIGH", "integrityImpact": "HIGH", "availabilityImpact": "LOW"}`)),
			Want: []tdocWant{
				{p + "/attackVector", "attackVector is LOCAL"},
				{p + "/scope", "scope is CHANGED"},
				{p + "/availabilityImpact", "availabilityImpact is LOW"},
			}},
		{Name: "environmental metrics agree", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", `{"version": "3.0",
			"vectorString": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X/CR:H/MAV:A/MS:X",
			"baseScore": 9.8, "baseSeverity": "CRITICAL", "exploitCodeMaturity": "NOT_DEFINED", "confidentialityRequirement": "HIGH",
			"modifiedAttackVector": "ADJACENT_NETWORK", "modifiedScope": "NOT_DEFINED", "modifiedIntegrityImpact": "NOT_DEFINED"}`))},
		{Name: "environmental metrics disagree", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", `{"version": "3.0",
			"vectorString": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/CR:H/MAV:A",
			"baseScore": 9.8, "baseSeverity": "CRITICAL", "confidentialityRequirement": "LOW",
			"modifiedAttackVector": "NETWORK", "modifiedAvailabilityImpact": "NONE"}`)),
			Want: []tdocWant{
				{p + "/confidentialityRequirement", "CR:H (HIGH)"},
				{p + "/modifiedAttackVector", "MAV:A (ADJACENT_NETWORK)"},
				{p + "/modifiedAvailabilityImpact", "leaves MA not defined"},
			}},
		{Name: "version contradicts the vector", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3", cvss31Critical)),
			Edits: []tdocEdit{{p + "/version", `"3.0"`}},
			Want:  []tdocWant{{p + "/version", "version is 3.0, the vector is CVSS 3.1"}}},
		{Name: "v2 metrics", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v2", `{"version": "2.0",
			"vectorString": "AV:N/AC:L/Au:S/C:P/I:P/A:N/E:POC/RL:ND/RC:UR", "baseScore": 5.5,
			"accessVector": "NETWORK", "accessComplexity": "LOW", "authentication": "MULTIPLE", "confidentialityImpact": "PARTIAL",
			"exploitability": "PROOF_OF_CONCEPT", "remediationLevel": "NOT_DEFINED", "reportConfidence": "UNCORROBORATED",
			"targetDistribution": "NOT_DEFINED", "collateralDamagePotential": "LOW"}`)),
			Want: []tdocWant{
				{p2 + "/authentication", "authentication is MULTIPLE, the vector has Au:S (SINGLE)"},
				{p2 + "/collateralDamagePotential", "leaves CDP not defined"},
			}},
		{Name: "unparsable vector is left to 6.1.8", Inline: cvssDoc(cvssScore(`"A"`, "cvss_v3",
			`{"version": "3.1", "vectorString": "AV:N/AC:L", "baseScore": 9.8, "baseSeverity": "CRITICAL", "attackVector": "LOCAL"}`))},
	})
}
