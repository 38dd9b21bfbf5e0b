package csaf

import "fmt"

// Mandatory profile tests (section 6.1.27 of CSAF 2.0): each applies only to the documents
// whose /document/category is one of the profile values it names, and is skipped for all
// others.

const (
	profIncidentResponse      = "csaf_security_incident_response"
	profInformationalAdvisory = "csaf_informational_advisory"
	profSecurityAdvisory      = "csaf_security_advisory"
	profVEX                   = "csaf_vex"
)

func init() {
	registerProfile := func(id string, check func(*Document) []Finding, categories ...string) {
		register(id, func(d *Document) []Finding {
			cat := str(obj(d.Raw, "document"), "category")
			for _, c := range categories {
				if cat == c {
					return check(d)
				}
			}
			return nil
		})
	}
	registerProfile("6.1.27.1", checkProfileDocumentNotes, profInformationalAdvisory, profIncidentResponse)
	registerProfile("6.1.27.2", checkProfileDocumentReferences, profInformationalAdvisory, profIncidentResponse)
	registerProfile("6.1.27.3", checkProfileNoVulnerabilities, profInformationalAdvisory)
	registerProfile("6.1.27.4", checkProfileProductTree, profSecurityAdvisory, profVEX)
	registerProfile("6.1.27.5", checkProfileVulnerabilityNotes, profSecurityAdvisory, profVEX)
	registerProfile("6.1.27.6", checkProfileProductStatus, profSecurityAdvisory)
	registerProfile("6.1.27.7", checkProfileVEXProductStatus, profVEX)
	registerProfile("6.1.27.8", checkProfileVulnerabilityID, profVEX)
	registerProfile("6.1.27.9", checkProfileImpactStatement, profVEX)
	registerProfile("6.1.27.10", checkProfileActionStatement, profVEX)
	registerProfile("6.1.27.11", checkProfileVulnerabilities, profSecurityAdvisory, profVEX)
}

func profCategory(d *Document) string { return str(obj(d.Raw, "document"), "category") }

// 6.1.27.1 Document Notes: a note of category description, details, general or summary.
func checkProfileDocumentNotes(d *Document) []Finding {
	for _, n := range arr(obj(d.Raw, "document"), "notes") {
		switch str(n, "category") {
		case "description", "details", "general", "summary":
			return nil
		}
	}
	return []Finding{{Test: "6.1.27.1", Path: "/document/notes",
		Message: fmt.Sprintf("a %s document needs a note of category description, details, general or summary", profCategory(d))}}
}

// 6.1.27.2 Document References: a reference to an external source. The category of a
// reference defaults to external (JSON schema), so a reference without one counts.
func checkProfileDocumentReferences(d *Document) []Finding {
	for _, r := range arr(obj(d.Raw, "document"), "references") {
		if _, ok := r.(map[string]any); !ok {
			continue
		}
		if c := str(r, "category"); c == "external" || !has(r, "category") {
			return nil
		}
	}
	return []Finding{{Test: "6.1.27.2", Path: "/document/references",
		Message: fmt.Sprintf("a %s document needs a reference of category external", profCategory(d))}}
}

// 6.1.27.3 Vulnerabilities: an informational advisory has no /vulnerabilities.
func checkProfileNoVulnerabilities(d *Document) []Finding {
	if !has(d.Raw, "vulnerabilities") {
		return nil
	}
	return []Finding{{Test: "6.1.27.3", Path: "/vulnerabilities",
		Message: fmt.Sprintf("a %s document must not have vulnerabilities", profCategory(d))}}
}

// 6.1.27.4 Product Tree: /product_tree exists.
func checkProfileProductTree(d *Document) []Finding {
	if has(d.Raw, "product_tree") {
		return nil
	}
	return []Finding{{Test: "6.1.27.4", Path: "/product_tree",
		Message: fmt.Sprintf("a %s document needs a product tree", profCategory(d))}}
}

// profEachVulnerability reports every vulnerability for which missing returns a message.
func profEachVulnerability(d *Document, test, member string, missing func(v any) string) []Finding {
	var fs []Finding
	for i, v := range arr(d.Raw, "vulnerabilities") {
		if msg := missing(v); msg != "" {
			path := ptr("vulnerabilities", i)
			if member != "" {
				path = join(path, member)
			}
			fs = append(fs, Finding{Test: test, Path: path, Message: msg})
		}
	}
	return fs
}

// 6.1.27.5 Vulnerability Notes: each vulnerability has notes.
func checkProfileVulnerabilityNotes(d *Document) []Finding {
	return profEachVulnerability(d, "6.1.27.5", "notes", func(v any) string {
		if has(v, "notes") {
			return ""
		}
		return fmt.Sprintf("a vulnerability of a %s document needs notes", profCategory(d))
	})
}

// 6.1.27.6 Product Status: each vulnerability has a product_status.
func checkProfileProductStatus(d *Document) []Finding {
	return profEachVulnerability(d, "6.1.27.6", "product_status", func(v any) string {
		if has(v, "product_status") {
			return ""
		}
		return fmt.Sprintf("a vulnerability of a %s document needs a product status", profCategory(d))
	})
}

// 6.1.27.7 VEX Product Status: each vulnerability has one of the product status lists fixed,
// known_affected, known_not_affected or under_investigation.
func checkProfileVEXProductStatus(d *Document) []Finding {
	return profEachVulnerability(d, "6.1.27.7", "product_status", func(v any) string {
		ps := obj(v, "product_status")
		for _, k := range []string{"fixed", "known_affected", "known_not_affected", "under_investigation"} {
			if has(ps, k) {
				return ""
			}
		}
		return "product status of a vex vulnerability has none of fixed, known_affected, known_not_affected, under_investigation"
	})
}

// 6.1.27.8 Vulnerability ID: each vulnerability has a cve or ids.
func checkProfileVulnerabilityID(d *Document) []Finding {
	return profEachVulnerability(d, "6.1.27.8", "", func(v any) string {
		if has(v, "cve") || has(v, "ids") {
			return ""
		}
		return "vex vulnerability has neither cve nor ids"
	})
}

// profStatements reports each product of /vulnerabilities[]/product_status/<status> for which
// no item of the lists keys (counted by accept) applies, directly or through a product group.
func profStatements(d *Document, test, status, statement string, keys []string, accept func(key string, item any) bool) []Finding {
	groups := d.docGroupMembers()
	var fs []Finding
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		covered := map[string]bool{}
		for _, k := range keys {
			for _, item := range arr(v, k) {
				if accept(k, item) {
					for _, p := range docCoveredProducts(item, groups) {
						covered[p] = true
					}
				}
			}
		}
		for i, p := range arr(obj(v, "product_status"), status) {
			if p, ok := p.(string); ok && !covered[p] {
				fs = append(fs, Finding{Test: test, Path: ptr("vulnerabilities", vi, "product_status", status, i),
					Message: fmt.Sprintf("no %s for %s product %s", statement, status, p)})
			}
		}
	}
	return fs
}

// 6.1.27.9 Impact Statement: each known_not_affected product has a flag, or a threat of
// category impact.
func checkProfileImpactStatement(d *Document) []Finding {
	return profStatements(d, "6.1.27.9", "known_not_affected", "impact statement (flag or impact threat)",
		[]string{"flags", "threats"}, func(key string, item any) bool {
			// Every flag is an impact statement; of the threats, those of category impact.
			return key == "flags" || str(item, "category") == "impact"
		})
}

// 6.1.27.10 Action Statement: each known_affected product has a remediation.
func checkProfileActionStatement(d *Document) []Finding {
	return profStatements(d, "6.1.27.10", "known_affected", "action statement (remediation)",
		[]string{"remediations"}, func(string, any) bool { return true })
}

// 6.1.27.11 Vulnerabilities: /vulnerabilities exists.
func checkProfileVulnerabilities(d *Document) []Finding {
	if has(d.Raw, "vulnerabilities") {
		return nil
	}
	return []Finding{{Test: "6.1.27.11", Path: "/vulnerabilities",
		Message: fmt.Sprintf("a %s document needs vulnerabilities", profCategory(d))}}
}
