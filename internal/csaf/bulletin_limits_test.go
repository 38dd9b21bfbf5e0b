package csaf

import (
	"encoding/json"
	"strings"
	"testing"
)

// A product name is cut, and all the names of a bulletin have a byte budget: a small
// document with one long name referred to by many lists must not make a bulletin of
// gigabytes (GET .../bulletin encodes it in memory, the console decodes it again).
func TestBulletinNameAmplification(t *testing.T) {
	long := strings.Repeat("n", 512<<10)
	var rems, vulns []any
	for range 60 {
		rems = append(rems, map[string]any{"category": "workaround", "details": "w", "product_ids": []any{"P"}})
	}
	for range BulletinMaxVulnerabilities {
		vulns = append(vulns, map[string]any{"remediations": rems})
	}
	doc := map[string]any{
		"document":        map[string]any{"title": "Amplified"},
		"product_tree":    map[string]any{"full_product_names": []any{map[string]any{"product_id": "P", "name": long}}},
		"vulnerabilities": vulns,
	}
	data, _ := json.Marshal(doc)
	b := bulletinOf(t, data)
	total := 0
	for _, v := range b.Vulnerabilities {
		for _, r := range v.Remediations.Workaround {
			for _, n := range r.Products.Names {
				total += len(n)
			}
		}
	}
	if limit := 4 * len(data); total > limit {
		t.Errorf("a document of %d bytes gives a bulletin with %d bytes (%.1f GiB) of product names, more than %d",
			len(data), total, float64(total)/(1<<30), limit)
	}
}
