package csaf

import (
	"sort"
	"strings"
)

// Mandatory tests 6.1.1 to 6.1.6 of CSAF 2.0: the product and product group ids of the
// product tree and of the vulnerabilities' product status.

func init() {
	register("6.1.1", checkMissingProductIDDefinition)
	register("6.1.2", checkMultipleProductIDDefinition)
	register("6.1.3", checkCircularProductIDDefinition)
	register("6.1.4", checkMissingGroupIDDefinition)
	register("6.1.5", checkMultipleGroupIDDefinition)
	register("6.1.6", checkContradictingProductStatus)
}

// checkMissingProductIDDefinition is 6.1.1: every product id that refers to the product tree
// (product groups, relationships, product status, remediations, scores, threats and, as the
// TC's list of known issues of CSAF 2.0 adds, flags) must be defined there.
func checkMissingProductIDDefinition(d *Document) []Finding {
	defined := prodIDSet(d.productDefinitions())
	var fs []Finding
	for _, r := range d.productReferences() {
		if !defined[r.ID] {
			fs = append(fs, Finding{Test: "6.1.1", Path: r.Path,
				Message: "missing definition of product id: " + r.ID + " is not defined in the product tree"})
		}
	}
	return fs
}

// checkMultipleProductIDDefinition is 6.1.2: a product id is defined once only, across
// branches, full product names and relationships.
func checkMultipleProductIDDefinition(d *Document) []Finding {
	// Take the definitions in document order (keys sorted, as section 5.3 recommends):
	// branches, full_product_names, relationships; so the later one is reported.
	defs := d.productDefinitions()
	rank := func(r ref) int {
		for i, k := range []string{"/product_tree/branches/", "/product_tree/full_product_names/"} {
			if strings.HasPrefix(r.Path, k) {
				return i
			}
		}
		return 2
	}
	sort.SliceStable(defs, func(i, j int) bool { return rank(defs[i]) < rank(defs[j]) })
	return prodDuplicates(defs, "6.1.2", "multiple definition of product id")
}

// checkMissingGroupIDDefinition is 6.1.4: every product group id used in the vulnerabilities
// (remediations, threats and, per the known issues of CSAF 2.0, flags) must be defined.
func checkMissingGroupIDDefinition(d *Document) []Finding {
	defined := prodIDSet(d.groupDefinitions())
	var fs []Finding
	for _, r := range d.groupReferences() {
		if !defined[r.ID] {
			fs = append(fs, Finding{Test: "6.1.4", Path: r.Path,
				Message: "missing definition of product group id: " + r.ID + " is not defined in the product tree"})
		}
	}
	return fs
}

// checkMultipleGroupIDDefinition is 6.1.5: a product group id is defined once only.
func checkMultipleGroupIDDefinition(d *Document) []Finding {
	return prodDuplicates(d.groupDefinitions(), "6.1.5", "multiple definition of product group id")
}

func prodIDSet(refs []ref) map[string]bool {
	m := make(map[string]bool, len(refs))
	for _, r := range refs {
		m[r.ID] = true
	}
	return m
}

// prodDuplicates reports every definition of an id after its first one.
func prodDuplicates(defs []ref, test, what string) []Finding {
	first := map[string]string{}
	var fs []Finding
	for _, r := range defs {
		if p, ok := first[r.ID]; ok {
			fs = append(fs, Finding{Test: test, Path: r.Path,
				Message: what + ": " + r.ID + " is defined again (first in " + p + ")"})
			continue
		}
		first[r.ID] = r.Path
	}
	return fs
}

// checkCircularProductIDDefinition is 6.1.3: a product id defined by a relationship must not
// depend on itself, directly (the relationship refers to the id it defines) or through other
// relationships whose products it refers to.
func checkCircularProductIDDefinition(d *Document) []Finding {
	rels := arr(obj(d.Raw, "product_tree"), "relationships")
	// deps maps a product id defined by relationships to the ids those relationships combine.
	deps := map[string][]string{}
	for _, r := range rels {
		id := str(obj(r, "full_product_name"), "product_id")
		if id == "" {
			continue
		}
		for _, k := range []string{"product_reference", "relates_to_product_reference"} {
			if ref := str(r, k); ref != "" {
				deps[id] = append(deps[id], ref)
			}
		}
	}
	var fs []Finding
	for i, r := range rels {
		id := str(obj(r, "full_product_name"), "product_id")
		if id == "" {
			continue
		}
		if cycle := prodCycle(deps, id); cycle != nil {
			msg := "circular definition of product id: " + id + " refers to itself"
			if len(cycle) > 2 {
				msg += " through " + strings.Join(cycle, " -> ")
			}
			fs = append(fs, Finding{Test: "6.1.3", Path: ptr("product_tree", "relationships", i, "full_product_name", "product_id"), Message: msg})
		}
	}
	return fs
}

// prodCycle returns a shortest chain start -> ... -> start through deps, or nil.
func prodCycle(deps map[string][]string, start string) []string {
	parent := map[string]string{}
	queue := []string{start}
	seen := map[string]bool{}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, next := range deps[cur] {
			if next == start {
				chain := []string{start}
				for n := cur; n != start; n = parent[n] {
					chain = append(chain, n)
				}
				chain = append(chain, start)
				// chain was built backwards from the end; reverse all but the fixed ends.
				for i, j := 1, len(chain)-2; i < j; i, j = i+1, j-1 {
					chain[i], chain[j] = chain[j], chain[i]
				}
				return chain
			}
			if !seen[next] {
				seen[next] = true
				parent[next] = cur
				queue = append(queue, next)
			}
		}
	}
	return nil
}

// prodStatusGroups are the contradiction groups of 6.1.6, in the order findings name them.
// "recommended" belongs to none: any product may be recommended.
var prodStatusGroups = []struct {
	name  string
	lists []string
}{
	{"affected", []string{"first_affected", "known_affected", "last_affected"}},
	{"not affected", []string{"known_not_affected"}},
	{"fixed", []string{"first_fixed", "fixed"}},
	{"under investigation", []string{"under_investigation"}},
}

// checkContradictingProductStatus is 6.1.6: within one vulnerability, a product id is in at
// most one of the groups affected, not affected, fixed and under investigation. Each listing
// of a product in a later group than its first one is a finding.
func checkContradictingProductStatus(d *Document) []Finding {
	var fs []Finding
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		ps := obj(v, "product_status")
		type firstSeen struct{ group, list string }
		seen := map[string]firstSeen{}
		for _, g := range prodStatusGroups {
			for _, list := range g.lists {
				for i, e := range arr(ps, list) {
					id, ok := e.(string)
					if !ok {
						continue
					}
					f, ok := seen[id]
					if !ok {
						seen[id] = firstSeen{g.name, list}
						continue
					}
					if f.group == g.name {
						continue
					}
					fs = append(fs, Finding{Test: "6.1.6",
						Path:    ptr("vulnerabilities", vi, "product_status", list, i),
						Message: "contradicting product status: " + id + " is both " + f.list + " and " + list})
				}
			}
		}
	}
	return fs
}
