package csaf

import (
	"strconv"
	"strings"
)

// Helpers to walk the generic JSON tree. They never panic: a missing or mistyped value reads
// as absent, which is what the mandatory tests need (the schema reports wrong types).

// obj returns v[key] as an object.
func obj(v any, key string) map[string]any {
	m, _ := v.(map[string]any)
	o, _ := m[key].(map[string]any)
	return o
}

// arr returns v[key] as an array.
func arr(v any, key string) []any {
	m, _ := v.(map[string]any)
	a, _ := m[key].([]any)
	return a
}

// str returns v[key] as a string.
func str(v any, key string) string {
	m, _ := v.(map[string]any)
	s, _ := m[key].(string)
	return s
}

// has reports whether the object v has key.
func has(v any, key string) bool {
	m, _ := v.(map[string]any)
	_, ok := m[key]
	return ok
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// ptr builds a JSON pointer from path segments (strings and ints), escaping per RFC 6901.
func ptr(segs ...any) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch s := s.(type) {
		case int:
			b.WriteString(strconv.Itoa(s))
		case string:
			b.WriteString(pointerEscaper.Replace(s))
		}
	}
	return b.String()
}

// join appends segments to a JSON pointer.
func join(base string, segs ...any) string { return base + ptr(segs...) }

// ref is a product or group id where it occurs in the document.
type ref struct {
	ID   string
	Path string
}

// productDefinitions lists every product_id defined in the product tree: in
// full_product_names, in branches (at any depth) and in relationships (section 3.1.3 and
// the definition of "Product ID" in 3.2.2).
func (d *Document) productDefinitions() []ref {
	pt := obj(d.Raw, "product_tree")
	var out []ref
	for i, fpn := range arr(pt, "full_product_names") {
		if id := str(fpn, "product_id"); id != "" {
			out = append(out, ref{id, ptr("product_tree", "full_product_names", i, "product_id")})
		}
	}
	var walk func(branches []any, base string)
	walk = func(branches []any, base string) {
		for i, b := range branches {
			p := join(base, i)
			if id := str(obj(b, "product"), "product_id"); id != "" {
				out = append(out, ref{id, join(p, "product", "product_id")})
			}
			walk(arr(b, "branches"), join(p, "branches"))
		}
	}
	walk(arr(pt, "branches"), ptr("product_tree", "branches"))
	for i, r := range arr(pt, "relationships") {
		if id := str(obj(r, "full_product_name"), "product_id"); id != "" {
			out = append(out, ref{id, ptr("product_tree", "relationships", i, "full_product_name", "product_id")})
		}
	}
	return out
}

// productStatusKeys are the product status lists of a vulnerability (section 3.2.3.9).
var productStatusKeys = []string{
	"first_affected", "first_fixed", "fixed", "known_affected", "known_not_affected",
	"last_affected", "recommended", "under_investigation",
}

// productReferences lists every place that refers to a product_id (the elements listed in
// mandatory test 6.1.1).
func (d *Document) productReferences() []ref {
	var out []ref
	add := func(list []any, base string) {
		for i, v := range list {
			if id, ok := v.(string); ok {
				out = append(out, ref{id, join(base, i)})
			}
		}
	}
	pt := obj(d.Raw, "product_tree")
	for i, g := range arr(pt, "product_groups") {
		add(arr(g, "product_ids"), ptr("product_tree", "product_groups", i, "product_ids"))
	}
	for i, r := range arr(pt, "relationships") {
		for _, k := range []string{"product_reference", "relates_to_product_reference"} {
			if id := str(r, k); id != "" {
				out = append(out, ref{id, ptr("product_tree", "relationships", i, k)})
			}
		}
	}
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		vb := ptr("vulnerabilities", vi)
		ps := obj(v, "product_status")
		for _, k := range productStatusKeys {
			add(arr(ps, k), join(vb, "product_status", k))
		}
		for _, k := range []string{"remediations", "scores", "threats", "flags"} {
			field := "product_ids"
			if k == "scores" {
				field = "products"
			}
			for i, e := range arr(v, k) {
				add(arr(e, field), join(vb, k, i, field))
			}
		}
	}
	return out
}

// groupDefinitions lists every product_group_id defined in the product tree.
func (d *Document) groupDefinitions() []ref {
	var out []ref
	for i, g := range arr(obj(d.Raw, "product_tree"), "product_groups") {
		if id := str(g, "group_id"); id != "" {
			out = append(out, ref{id, ptr("product_tree", "product_groups", i, "group_id")})
		}
	}
	return out
}

// groupReferences lists every place that refers to a product_group_id (test 6.1.4).
func (d *Document) groupReferences() []ref {
	var out []ref
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		for _, k := range []string{"remediations", "threats", "flags"} {
			for i, e := range arr(v, k) {
				for j, g := range arr(e, "group_ids") {
					if id, ok := g.(string); ok {
						out = append(out, ref{id, ptr("vulnerabilities", vi, k, i, "group_ids", j)})
					}
				}
			}
		}
	}
	return out
}
