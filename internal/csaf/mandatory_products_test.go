package csaf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Helpers shared by the tests of 6.1.1-6.1.13 (mandatory_*_test.go of products, cvss and
// identifiers): a case starts from a real example advisory or a small inline document, edits
// it at JSON pointers, and expects findings of one test at exact paths.

// tdocEdit sets (or, with JSON "", deletes) the value at a JSON pointer. The value is JSON
// text; an array index equal to the length appends, and missing objects on the way are made.
type tdocEdit struct {
	Ptr, JSON string
}

// tdocWant is one expected finding: its path and a piece of its message.
type tdocWant struct {
	Path, Msg string
}

type tdocCase struct {
	Name    string
	Example string // file under examples/csaf of the shared OASIS data, or "" for Inline
	Inline  string // a small document (only what the test reads)
	Edits   []tdocEdit
	Want    []tdocWant // in the order the test reports them; none means the test passes
}

func tdocDecode(t *testing.T, text string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad JSON in test case %q: %v", text, err)
	}
	return v
}

// tdocSet applies one edit to the tree and returns the new root.
func tdocSet(t *testing.T, root any, pointer string, value any, del bool) any {
	t.Helper()
	if pointer == "" {
		return value
	}
	toks := strings.Split(pointer, "/")[1:]
	for i, tok := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
	}
	var set func(node any, toks []string) any
	set = func(node any, toks []string) any {
		tok, rest := toks[0], toks[1:]
		switch n := node.(type) {
		case map[string]any:
			if len(rest) == 0 {
				if del {
					delete(n, tok)
				} else {
					n[tok] = value
				}
				return n
			}
			child, ok := n[tok]
			if !ok {
				if _, err := strconv.Atoi(rest[0]); err == nil {
					child = []any{}
				} else {
					child = map[string]any{}
				}
			}
			n[tok] = set(child, rest)
			return n
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i > len(n) {
				t.Fatalf("edit %s: bad index %q", pointer, tok)
			}
			if i == len(n) {
				if del {
					t.Fatalf("edit %s: nothing to delete", pointer)
				}
				var child any = map[string]any{}
				if len(rest) == 0 {
					child = value
				} else {
					child = set(child, rest)
				}
				return append(n, child)
			}
			if len(rest) == 0 {
				if del {
					return append(n[:i:i], n[i+1:]...)
				}
				n[i] = value
				return n
			}
			n[i] = set(n[i], rest)
			return n
		}
		t.Fatalf("edit %s: cannot descend into %T", pointer, node)
		return nil
	}
	return set(root, toks)
}

// tdocExample reads an example advisory of the shared OASIS data.
func tdocExample(t *testing.T, name string) any {
	t.Helper()
	dir := needShared(t)
	b, err := os.ReadFile(filepath.Join(dir, "examples", "csaf", name))
	if err != nil {
		t.Fatal(err)
	}
	return tdocDecode(t, string(b))
}

// tdocBuild makes the case's document, going through JSON and Parse like a real one.
func tdocBuild(t *testing.T, c tdocCase) *Document {
	t.Helper()
	var root any
	if c.Example != "" {
		root = tdocExample(t, c.Example)
	} else {
		root = tdocDecode(t, c.Inline)
	}
	for _, e := range c.Edits {
		if e.JSON == "" {
			root = tdocSet(t, root, e.Ptr, nil, true)
		} else {
			root = tdocSet(t, root, e.Ptr, tdocDecode(t, e.JSON), false)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		t.Fatal(err)
	}
	d, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tdocRun runs mandatory test id on every case and compares the findings.
func tdocRun(t *testing.T, id string, cases []tdocCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			d := tdocBuild(t, c)
			fs, ok := d.RunTest(id)
			if !ok {
				t.Fatalf("mandatory test %s is not registered", id)
			}
			for _, f := range fs {
				if f.Test != id || f.Message == "" || !strings.HasPrefix(f.Path, "/") {
					t.Errorf("malformed finding %+v", f)
				}
				if f.Message != strings.ToLower(f.Message[:1])+f.Message[1:] {
					t.Errorf("message should start in lower case: %q", f.Message)
				}
			}
			if len(fs) != len(c.Want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(fs), len(c.Want), tdocList(fs))
			}
			for i, w := range c.Want {
				if fs[i].Path != w.Path || !strings.Contains(fs[i].Message, w.Msg) {
					t.Errorf("finding %d = %s\nwant path %s, message containing %q", i, fs[i], w.Path, w.Msg)
				}
			}
		})
	}
}

func tdocList(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

const (
	rhsa5217 = "rhsa-2021_5217.json" // one product in nested branches, fixed, one remediation
	rhsa0011 = "rhsa-2022_0011.json" // many relationships
	sso      = `"Red Hat Single Sign-On"`
)

func TestMissingProductIDDefinition(t *testing.T) {
	tdocRun(t, "6.1.1", []tdocCase{
		{Name: "example is valid", Example: rhsa5217},
		{Name: "example with relationships is valid", Example: rhsa0011},
		{Name: "undefined id in product status", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/product_status/fixed/1", `"Red Hat SSO 8"`}},
			Want:  []tdocWant{{"/vulnerabilities/0/product_status/fixed/1", "Red Hat SSO 8 is not defined"}}},
		{Name: "undefined id in every other product status", Example: rhsa5217,
			Edits: []tdocEdit{
				{"/vulnerabilities/0/product_status/first_affected", `["A"]`},
				{"/vulnerabilities/0/product_status/first_fixed", `["B"]`},
				{"/vulnerabilities/0/product_status/known_affected", `["C"]`},
				{"/vulnerabilities/0/product_status/known_not_affected", `["D"]`},
				{"/vulnerabilities/0/product_status/last_affected", `["E"]`},
				{"/vulnerabilities/0/product_status/recommended", `[` + sso + `, "F"]`},
				{"/vulnerabilities/0/product_status/under_investigation", `["G"]`},
			},
			Want: []tdocWant{
				{"/vulnerabilities/0/product_status/first_affected/0", " A "},
				{"/vulnerabilities/0/product_status/first_fixed/0", " B "},
				{"/vulnerabilities/0/product_status/known_affected/0", " C "},
				{"/vulnerabilities/0/product_status/known_not_affected/0", " D "},
				{"/vulnerabilities/0/product_status/last_affected/0", " E "},
				{"/vulnerabilities/0/product_status/recommended/1", " F "},
				{"/vulnerabilities/0/product_status/under_investigation/0", " G "},
			}},
		{Name: "undefined id in remediation", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/remediations/0/product_ids/0", `"Red Hat JBoss"`}},
			Want:  []tdocWant{{"/vulnerabilities/0/remediations/0/product_ids/0", "missing definition of product id: Red Hat JBoss"}}},
		{Name: "undefined id in score and threat", Example: rhsa5217,
			Edits: []tdocEdit{
				{"/vulnerabilities/0/scores", `[{"products": [` + sso + `, "X"], "cvss_v3": {}}]`},
				{"/vulnerabilities/0/threats/0/product_ids", `["Y"]`},
			},
			Want: []tdocWant{
				{"/vulnerabilities/0/scores/0/products/1", " X "},
				{"/vulnerabilities/0/threats/0/product_ids/0", " Y "},
			}},
		{Name: "undefined id in flag (known issue of CSAF 2.0)", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/flags", `[{"label": "component_not_present", "product_ids": ["Z"]}]`}},
			Want:  []tdocWant{{"/vulnerabilities/0/flags/0/product_ids/0", " Z "}}},
		{Name: "undefined ids in product group and relationship", Example: rhsa5217,
			Edits: []tdocEdit{
				{"/product_tree/product_groups", `[{"group_id": "G1", "product_ids": [` + sso + `, "P2"]}]`},
				{"/product_tree/relationships", `[{"category": "default_component_of", "product_reference": "P3",
					"relates_to_product_reference": "P4", "full_product_name": {"name": "P5", "product_id": "P5"}}]`},
				{"/vulnerabilities/0/product_status/fixed/1", `"P5"`}, // defined by the relationship
			},
			Want: []tdocWant{
				{"/product_tree/product_groups/0/product_ids/1", " P2 "},
				{"/product_tree/relationships/0/product_reference", " P3 "},
				{"/product_tree/relationships/0/relates_to_product_reference", " P4 "},
			}},
		{Name: "full product names define ids", Inline: `{
			"product_tree": {"full_product_names": [{"name": "A", "product_id": "CSAFPID-1"}]},
			"vulnerabilities": [{"product_status": {"known_affected": ["CSAFPID-1"]}}]}`},
		{Name: "no product tree at all", Inline: `{
			"vulnerabilities": [{"product_status": {"known_affected": ["CSAFPID-1"]}}]}`,
			Want: []tdocWant{{"/vulnerabilities/0/product_status/known_affected/0", "CSAFPID-1"}}},
	})
}

func TestMultipleProductIDDefinition(t *testing.T) {
	tdocRun(t, "6.1.2", []tdocCase{
		{Name: "example is valid", Example: rhsa5217},
		{Name: "example with relationships is valid", Example: rhsa0011},
		{Name: "full product name repeats a branch product", Example: rhsa5217,
			Edits: []tdocEdit{{"/product_tree/full_product_names", `[{"name": "SSO", "product_id": ` + sso + `}]`}},
			Want:  []tdocWant{{"/product_tree/full_product_names/0/product_id", "Red Hat Single Sign-On is defined again (first in /product_tree/branches/0/branches/0/product/product_id)"}}},
		{Name: "relationship repeats a branch product", Example: rhsa5217,
			Edits: []tdocEdit{{"/product_tree/relationships", `[{"category": "default_component_of", "product_reference": ` + sso + `,
				"relates_to_product_reference": ` + sso + `, "full_product_name": {"name": "SSO", "product_id": ` + sso + `}}]`}},
			Want: []tdocWant{{"/product_tree/relationships/0/full_product_name/product_id", "multiple definition of product id"}}},
		{Name: "three definitions, two findings", Inline: `{"product_tree": {"full_product_names": [
			{"name": "A", "product_id": "CSAFPID-1"}, {"name": "B", "product_id": "CSAFPID-2"},
			{"name": "C", "product_id": "CSAFPID-1"}, {"name": "D", "product_id": "CSAFPID-1"}]}}`,
			Want: []tdocWant{
				{"/product_tree/full_product_names/2/product_id", "CSAFPID-1"},
				{"/product_tree/full_product_names/3/product_id", "first in /product_tree/full_product_names/0/product_id"},
			}},
	})
}

func TestCircularProductIDDefinition(t *testing.T) {
	rel := func(defines, ref, relatesTo string) string {
		return `{"category": "installed_on", "full_product_name": {"name": "` + defines + `", "product_id": "` + defines + `"},
			"product_reference": "` + ref + `", "relates_to_product_reference": "` + relatesTo + `"}`
	}
	tree := func(rels ...string) string {
		return `{"product_tree": {"full_product_names": [{"name": "A", "product_id": "A"}, {"name": "Z", "product_id": "Z"}],
			"relationships": [` + strings.Join(rels, ",") + `]}}`
	}
	tdocRun(t, "6.1.3", []tdocCase{
		{Name: "example with relationships is valid", Example: rhsa0011},
		{Name: "example without relationships is valid", Example: rhsa5217},
		{Name: "relationship refers to the product it defines", Inline: tree(rel("B", "A", "B")),
			Want: []tdocWant{{"/product_tree/relationships/0/full_product_name/product_id", "circular definition of product id: B refers to itself"}}},
		{Name: "as product_reference too", Inline: tree(rel("C", "Z", "Z"), rel("B", "B", "A")),
			Want: []tdocWant{{"/product_tree/relationships/1/full_product_name/product_id", "B refers to itself"}}},
		{Name: "cycle through two relationships", Inline: tree(rel("B", "A", "C"), rel("C", "B", "Z")),
			Want: []tdocWant{
				{"/product_tree/relationships/0/full_product_name/product_id", "B refers to itself through B -> C -> B"},
				{"/product_tree/relationships/1/full_product_name/product_id", "C refers to itself through C -> B -> C"},
			}},
		{Name: "cycle through three relationships", Inline: tree(rel("B", "A", "C"), rel("C", "D", "Z"), rel("D", "A", "B")),
			Want: []tdocWant{
				{"/product_tree/relationships/0/full_product_name/product_id", "B -> C -> D -> B"},
				{"/product_tree/relationships/1/full_product_name/product_id", "C -> D -> B -> C"},
				{"/product_tree/relationships/2/full_product_name/product_id", "D -> B -> C -> D"},
			}},
		{Name: "chain of relationships without a cycle", Inline: tree(rel("B", "A", "Z"), rel("C", "B", "A"), rel("D", "C", "B"))},
		{Name: "relationship builds on a relationship product (real example)", Example: rhsa0011,
			Edits: []tdocEdit{{"/product_tree/relationships/15", rel("X", "A", "Z")}, {"/product_tree/relationships/16", rel("Y", "X", "X")}}},
	})
}

func TestMissingGroupIDDefinition(t *testing.T) {
	groups := `[{"group_id": "CSAFGID-1", "product_ids": [` + sso + `, ` + sso + `]}]`
	tdocRun(t, "6.1.4", []tdocCase{
		{Name: "example is valid", Example: rhsa5217},
		{Name: "undefined group in remediation", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/remediations/0/group_ids", `["CSAFGID-1"]`}},
			Want:  []tdocWant{{"/vulnerabilities/0/remediations/0/group_ids/0", "missing definition of product group id: CSAFGID-1 is not defined"}}},
		{Name: "defined group in remediation", Example: rhsa5217,
			Edits: []tdocEdit{{"/product_tree/product_groups", groups}, {"/vulnerabilities/0/remediations/0/group_ids", `["CSAFGID-1"]`}}},
		{Name: "undefined groups in threat and flag", Example: rhsa5217,
			Edits: []tdocEdit{
				{"/product_tree/product_groups", groups},
				{"/vulnerabilities/0/threats/0/group_ids", `["CSAFGID-1", "CSAFGID-2"]`},
				{"/vulnerabilities/0/flags", `[{"label": "component_not_present", "group_ids": ["CSAFGID-3"]}]`},
			},
			Want: []tdocWant{
				{"/vulnerabilities/0/threats/0/group_ids/1", "CSAFGID-2"},
				{"/vulnerabilities/0/flags/0/group_ids/0", "CSAFGID-3"},
			}},
		{Name: "product ids are no group ids", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/threats/0/group_ids", `[` + sso + `]`}},
			Want:  []tdocWant{{"/vulnerabilities/0/threats/0/group_ids/0", "Red Hat Single Sign-On"}}},
	})
}

func TestMultipleGroupIDDefinition(t *testing.T) {
	group := func(id string) string {
		return `{"group_id": "` + id + `", "product_ids": [` + sso + `, ` + sso + `]}`
	}
	tdocRun(t, "6.1.5", []tdocCase{
		{Name: "example is valid", Example: rhsa5217},
		{Name: "distinct groups", Example: rhsa5217,
			Edits: []tdocEdit{{"/product_tree/product_groups", `[` + group("G1") + `,` + group("G2") + `]`}}},
		{Name: "group defined twice", Example: rhsa5217,
			Edits: []tdocEdit{{"/product_tree/product_groups", `[` + group("G1") + `,` + group("G2") + `,` + group("G1") + `]`}},
			Want:  []tdocWant{{"/product_tree/product_groups/2/group_id", "multiple definition of product group id: G1 is defined again (first in /product_tree/product_groups/0/group_id)"}}},
		{Name: "a group id may equal a product id", Example: rhsa5217,
			Edits: []tdocEdit{{"/product_tree/product_groups", `[` + group("Red Hat Single Sign-On") + `]`}}},
	})
}

func TestContradictingProductStatus(t *testing.T) {
	two := `{"product_tree": {"full_product_names": [{"name": "A", "product_id": "A"}, {"name": "B", "product_id": "B"}]},
		"vulnerabilities": [{"product_status": {"fixed": ["A"]}}, {"product_status": {"known_affected": ["A"]}}]}`
	tdocRun(t, "6.1.6", []tdocCase{
		{Name: "example is valid", Example: rhsa5217},
		{Name: "fixed and known affected", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/product_status/known_affected", `[` + sso + `]`}},
			Want: []tdocWant{{"/vulnerabilities/0/product_status/fixed/0",
				"contradicting product status: Red Hat Single Sign-On is both known_affected and fixed"}}},
		{Name: "fixed and recommended", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/product_status/recommended", `[` + sso + `]`}}},
		{Name: "fixed and first fixed are one group", Example: rhsa5217,
			Edits: []tdocEdit{{"/vulnerabilities/0/product_status/first_fixed", `[` + sso + `]`}}},
		{Name: "all three affected lists are one group", Example: rhsa5217,
			Edits: []tdocEdit{
				{"/vulnerabilities/0/product_status/fixed", ""},
				{"/vulnerabilities/0/product_status/first_affected", `[` + sso + `]`},
				{"/vulnerabilities/0/product_status/known_affected", `[` + sso + `]`},
				{"/vulnerabilities/0/product_status/last_affected", `[` + sso + `]`},
			}},
		{Name: "fixed and under investigation and not affected", Example: rhsa5217,
			Edits: []tdocEdit{
				{"/vulnerabilities/0/product_status/under_investigation", `[` + sso + `]`},
				{"/vulnerabilities/0/product_status/known_not_affected", `[` + sso + `]`},
			},
			Want: []tdocWant{
				{"/vulnerabilities/0/product_status/fixed/0", "is both known_not_affected and fixed"},
				{"/vulnerabilities/0/product_status/under_investigation/0", "is both known_not_affected and under_investigation"},
			}},
		{Name: "different vulnerabilities do not contradict", Inline: two},
		{Name: "second vulnerability contradicts itself", Inline: two,
			Edits: []tdocEdit{{"/vulnerabilities/1/product_status/last_affected", `["B"]`}, {"/vulnerabilities/1/product_status/first_fixed", `["B"]`}},
			Want:  []tdocWant{{"/vulnerabilities/1/product_status/first_fixed/0", "B is both last_affected and first_fixed"}}},
	})
}
