package csaf

import (
	"strconv"
	"strings"

	"github.com/patchday/patchday/internal/version"
)

// ServiceMatch is a vulnerability of a document that affects a product seen on the network.
type ServiceMatch struct {
	// Vulnerability is the CVE id, or the title (or position) of a vulnerability without one.
	Vulnerability string `json:"vulnerability"`
	ProductID     string `json:"product_id"`
	// By says how the product matched: "version" (its product_version or the version of
	// its CPE), "range" (its product_version_range) or "product" (a product entry without
	// a version: every version of it).
	By string `json:"by"`
}

// treeProduct is a product of the tree with what a network scan can compare with.
type treeProduct struct {
	id, vendor, name, version, rng, cpe string
}

// MatchService reports the vulnerabilities of the document that affect the product a network
// probe identified (name as a server announces itself: "OpenSSH", "nginx", "Microsoft SQL
// Server") at version. A product matches by its product_name branch, vendor and
// product_name, full name prefix or CPE product part; its version by the product_version
// branch or CPE version (exactly), or by a vers product_version_range (upstream versions
// ordered as Debian orders them, which suits the dotted versions services announce).
// Only the affected statuses count (known_affected, first_affected, last_affected).
func (d *Document) MatchService(name, ver string) []ServiceMatch {
	want := normName(name)
	ver = strings.TrimSpace(ver)
	if want == "" {
		return nil
	}
	how := map[string]string{} // product id -> how it matched
	for _, p := range d.treeProducts() {
		if !p.named(want) {
			// A full product name such as "nginx 1.22.1" carries its version in the name.
			if p.version == "" && p.rng == "" && ver != "" && normName(p.name) == want+" "+normName(ver) {
				how[p.id] = "version"
			}
			continue
		}
		switch {
		case p.version != "" || cpeField(p.cpe, 5) != "":
			if ver != "" && (sameVersion(p.version, ver) || sameVersion(cpeVersion(p.cpe), ver)) {
				how[p.id] = "version"
			}
		case p.rng != "":
			if ver != "" && rangeContains(p.rng, ver) {
				how[p.id] = "range"
			}
		default:
			how[p.id] = "product"
		}
	}
	if len(how) == 0 {
		return nil
	}
	var out []ServiceMatch
	for i, v := range arr(d.Raw, "vulnerabilities") {
		label := str(v, "cve")
		if label == "" {
			label = str(v, "title")
		}
		if label == "" {
			label = "vulnerability " + strconv.Itoa(i+1)
		}
		st := obj(v, "product_status")
		for _, status := range []string{"known_affected", "first_affected", "last_affected"} {
			for _, id := range arr(st, status) {
				pid, _ := id.(string)
				if by, ok := how[pid]; ok {
					out = append(out, ServiceMatch{Vulnerability: label, ProductID: pid, By: by})
				}
			}
		}
	}
	return out
}

// treeProducts walks the product tree's branches, carrying vendor, product name, version
// and range down to each product, and adds the full_product_names (with what their CPE says).
func (d *Document) treeProducts() []treeProduct {
	pt := obj(d.Raw, "product_tree")
	var out []treeProduct
	var walk func(bs []any, at treeProduct)
	walk = func(bs []any, at treeProduct) {
		for _, b := range bs {
			here := at
			switch n := str(b, "name"); str(b, "category") {
			case "vendor":
				here.vendor = n
			case "product_name":
				here.name = n
			case "product_version":
				here.version = n
			case "product_version_range":
				here.rng = n
			}
			if p := obj(b, "product"); p != nil {
				tp := here
				tp.id = str(p, "product_id")
				tp.cpe = str(obj(p, "product_identification_helper"), "cpe")
				if tp.name == "" {
					tp.name = str(p, "name")
				}
				out = append(out, tp)
			}
			walk(arr(b, "branches"), here)
		}
	}
	walk(arr(pt, "branches"), treeProduct{})
	for _, p := range arr(pt, "full_product_names") {
		out = append(out, treeProduct{id: str(p, "product_id"), name: str(p, "name"),
			cpe: str(obj(p, "product_identification_helper"), "cpe")})
	}
	return out
}

// named reports whether the product is the one a probe called want (normalised).
func (p treeProduct) named(want string) bool {
	name, vendor := normName(p.name), normName(p.vendor)
	if name == want || vendor != "" && vendor+" "+name == want {
		return true
	}
	if c := normName(strings.ReplaceAll(cpeField(p.cpe, 4), "_", " ")); c != "" && c == want {
		return true
	}
	return false
}

// normName lower-cases a product name and folds runs of spaces, dashes and underscores.
func normName(s string) string {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ' ' || r == '_' || r == '-' || r == '\t' })
	return strings.Join(f, " ")
}

// cpeField returns field i of a CPE 2.3 formatted string (cpe:2.3:part:vendor:product:version:
// update:...), "" when absent or a wildcard.
func cpeField(cpe string, i int) string {
	if !strings.HasPrefix(cpe, "cpe:2.3:") {
		return ""
	}
	f := strings.Split(cpe, ":")
	if i >= len(f) || f[i] == "*" || f[i] == "-" {
		return ""
	}
	return strings.ReplaceAll(f[i], `\`, "")
}

// cpeVersion is a CPE's version with its update appended when the update is a patch level
// such as OpenSSH's "p1" (cpe:2.3:a:openbsd:openssh:9.2:p1 is what the server calls 9.2p1).
func cpeVersion(cpe string) string {
	v := cpeField(cpe, 5)
	if u := cpeField(cpe, 6); v != "" && u != "" {
		return v + u
	}
	return v
}

func sameVersion(a, b string) bool {
	return a != "" && strings.EqualFold(strings.TrimPrefix(a, "v"), strings.TrimPrefix(b, "v"))
}

// rangeContains checks ver against a vers range; a range that does not parse, or a version
// that does not compare, matches nothing (no false alarms from text the tree may hold).
func rangeContains(rng, ver string) bool {
	r, err := version.ParseRange(strings.TrimSpace(rng))
	if err != nil {
		return false
	}
	ok, err := r.Contains(ver, version.CompareDebian)
	return err == nil && ok
}
