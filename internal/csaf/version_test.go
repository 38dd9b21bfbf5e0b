package csaf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRevVersion(t *testing.T) {
	tests := []struct {
		in                  string
		ok, semantic        bool
		major, minor, patch string
		pre                 []string
		build               string
	}{
		{in: "0", ok: true, major: "0", minor: "0", patch: "0"},
		{in: "1", ok: true, major: "1", minor: "0", patch: "0"},
		{in: "40", ok: true, major: "40", minor: "0", patch: "0"},
		{in: "123456789012345678901234567890", ok: true, major: "123456789012345678901234567890", minor: "0", patch: "0"},
		{in: "0.9.0", ok: true, semantic: true, major: "0", minor: "9", patch: "0"},
		{in: "1.4.3", ok: true, semantic: true, major: "1", minor: "4", patch: "3"},
		{in: "2.40.0+21AF26D3", ok: true, semantic: true, major: "2", minor: "40", patch: "0", build: "21AF26D3"},
		{in: "1.0.0-0.3.7", ok: true, semantic: true, major: "1", minor: "0", patch: "0", pre: []string{"0", "3", "7"}},
		{in: "1.0.0-x-y-z.--", ok: true, semantic: true, major: "1", minor: "0", patch: "0", pre: []string{"x-y-z", "--"}},
		{in: "1.0.0-alpha+001", ok: true, semantic: true, major: "1", minor: "0", patch: "0", pre: []string{"alpha"}, build: "001"},
		{in: "1.0.0-beta+exp.sha.5114f85", ok: true, semantic: true, major: "1", minor: "0", patch: "0", pre: []string{"beta"}, build: "exp.sha.5114f85"},
		{in: "1.0.0-01a", ok: true, semantic: true, major: "1", minor: "0", patch: "0", pre: []string{"01a"}},
		// Not CSAF versions.
		{in: ""}, {in: "01"}, {in: "-1"}, {in: "1.0"}, {in: "v1.0.0"}, {in: "1.0.0-"}, {in: "1.0.0-01"},
		{in: "1.0.0+"}, {in: "1.0.0-a..b"}, {in: "01.0.0"}, {in: "1.0.0 "}, {in: "1.0.0\n"}, {in: "1+build"},
		{in: "1.0.0-rc\u0661"}, {in: "\u0661"},
	}
	for _, tt := range tests {
		v, ok := parseRevVersion(tt.in)
		if ok != tt.ok {
			t.Errorf("parseRevVersion(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if v.Raw != tt.in || v.Semantic != tt.semantic || v.Major != tt.major || v.Minor != tt.minor || v.Patch != tt.patch ||
			!reflect.DeepEqual(v.Pre, tt.pre) || v.Build != tt.build {
			t.Errorf("parseRevVersion(%q) = %+v", tt.in, v)
		}
	}
}

func TestRevVersionPredicates(t *testing.T) {
	tests := []struct {
		in                   string
		pre, initial         bool
		trimmed, trimmedNoPr string
		scheme               string
	}{
		{"0", false, true, "0", "0", "integer"},
		{"3", false, false, "3", "3", "integer"},
		{"0.9.5", false, true, "0.9.5", "0.9.5", "semantic"},
		{"1.0.0", false, false, "1.0.0", "1.0.0", "semantic"},
		{"1.0.0-rc.1", true, false, "1.0.0-rc.1", "1.0.0", "semantic"},
		{"0.1.0-alpha+b1", true, true, "0.1.0-alpha", "0.1.0", "semantic"},
		{"2.0.0+21AF26D3", false, false, "2.0.0", "2.0.0", "semantic"},
	}
	for _, tt := range tests {
		v, ok := parseRevVersion(tt.in)
		if !ok {
			t.Fatalf("%q does not parse", tt.in)
		}
		if v.PreRelease() != tt.pre || v.InitialDevelopment() != tt.initial || v.Trimmed(false) != tt.trimmed ||
			v.Trimmed(true) != tt.trimmedNoPr || v.Scheme() != tt.scheme {
			t.Errorf("%q: pre %v initial %v trimmed %q/%q scheme %s", tt.in, v.PreRelease(), v.InitialDevelopment(),
				v.Trimmed(false), v.Trimmed(true), v.Scheme())
		}
	}
}

func TestCompareRevVersions(t *testing.T) {
	// Each chain is strictly ascending in precedence.
	chains := [][]string{
		// SemVer 2.0.0 section 11 and CSAF 2.0 examples 26 to 28.
		{"1.0.0", "2.0.0", "2.1.0", "2.1.1"},
		{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"},
		{"1.9.0", "1.10.0", "1.11.0", "10.0.0"},
		{"1.0.0-2", "1.0.0-10", "1.0.0-1a", "1.0.0-a"},    // numeric identifiers: numerically and below alphanumeric ones
		{"1.0.0-A", "1.0.0-Z", "1.0.0-a", "1.0.0-z"},      // ASCII order
		{"1.0.0-a", "1.0.0-a.b", "1.0.0-a-b"},             // more fields win; "a" < "a-b" in ASCII
		{"0", "1", "2", "9", "10", "11", "100"},           // integer versions compare as integers
		{"99999999999999999999", "100000000000000000000"}, // beyond 64 bits
		{"0.9.9", "1", "1.0.1", "1.1.0", "2"},             // integers as n.0.0 (mixed documents)
	}
	for _, c := range chains {
		for i := range c {
			for j := range c {
				a, okA := parseRevVersion(c[i])
				b, okB := parseRevVersion(c[j])
				if !okA || !okB {
					t.Fatalf("%q or %q does not parse", c[i], c[j])
				}
				want := revCompareInt(i, j)
				if got := compareRevVersions(a, b); got != want {
					t.Errorf("compare(%s, %s) = %d, want %d", c[i], c[j], got, want)
				}
			}
		}
	}
	// Equal precedence.
	for _, p := range [][2]string{{"1.0.0+a", "1.0.0+b"}, {"1.0.0", "1.0.0+b"}, {"1.0.0-rc.1+x", "1.0.0-rc.1"}, {"2", "2.0.0"}} {
		a, _ := parseRevVersion(p[0])
		b, _ := parseRevVersion(p[1])
		if c := compareRevVersions(a, b); c != 0 {
			t.Errorf("compare(%s, %s) = %d, want 0", p[0], p[1], c)
		}
	}
}

func TestRevParseTime(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string // UTC, RFC 3339 with nanoseconds
	}{
		{"2021-07-21T10:00:00Z", true, "2021-07-21T10:00:00Z"},
		{"2021-07-21T10:00:00.000Z", true, "2021-07-21T10:00:00Z"},
		{"2021-07-21T10:00:00.00010Z", true, "2021-07-21T10:00:00.0001Z"},
		{"2021-07-21T12:00:00+02:00", true, "2021-07-21T10:00:00Z"},
		{"2021-07-21T05:30:00-04:30", true, "2021-07-21T10:00:00Z"},
		{"2021-07-21t10:00:00z", true, "2021-07-21T10:00:00Z"},
		{"2016-12-31T23:59:60Z", true, "2017-01-01T00:00:00Z"},
		{"2021-07-21", false, ""},
		{"2021-07-21T10:00Z", false, ""},
		{"2021-07-21 10:00:00Z", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		got, ok := revParseTime(tt.in)
		if ok != tt.ok {
			t.Errorf("revParseTime(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok && got.UTC().Format(time.RFC3339Nano) != tt.want {
			t.Errorf("revParseTime(%q) = %s, want %s", tt.in, got.UTC().Format(time.RFC3339Nano), tt.want)
		}
	}
}

// Helpers for the table tests of the mandatory tests 6.1.14 to 6.1.33: they build variants of
// real example advisories (or of small inline documents) as generic JSON trees.

// tfxExample reads an example advisory of the OASIS reference data, as a JSON tree.
func tfxExample(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(needShared(t), "examples", "csaf", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// tfxJSON decodes an inline JSON document.
func tfxJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad inline JSON: %v", err)
	}
	return m
}

// tfxCopy deep-copies a JSON tree.
func tfxCopy(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// tfxSet sets the value at a JSON pointer whose parent exists ("-" or the length of an array
// appends); the value is given as JSON text.
func tfxSet(t *testing.T, m map[string]any, pointer, valueJSON string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(valueJSON), &v); err != nil {
		t.Fatalf("bad JSON for %s: %v", pointer, err)
	}
	if _, err := tfxEdit(m, tfxSegments(pointer), v, false); err != nil {
		t.Fatalf("set %s: %v", pointer, err)
	}
}

// tfxDel deletes the value at a JSON pointer.
func tfxDel(t *testing.T, m map[string]any, pointer string) {
	t.Helper()
	if _, err := tfxEdit(m, tfxSegments(pointer), nil, true); err != nil {
		t.Fatalf("delete %s: %v", pointer, err)
	}
}

func tfxSegments(pointer string) []string {
	segs := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	for i, s := range segs {
		segs[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return segs
}

type tfxError string

func (e tfxError) Error() string { return string(e) }

func tfxEdit(node any, segs []string, v any, del bool) (any, error) {
	switch n := node.(type) {
	case map[string]any:
		if len(segs) == 1 {
			if del {
				if _, ok := n[segs[0]]; !ok {
					return nil, tfxError("no member " + segs[0])
				}
				delete(n, segs[0])
			} else {
				n[segs[0]] = v
			}
			return n, nil
		}
		child, ok := n[segs[0]]
		if !ok {
			return nil, tfxError("no member " + segs[0])
		}
		c, err := tfxEdit(child, segs[1:], v, del)
		n[segs[0]] = c
		return n, err
	case []any:
		i := len(n)
		if segs[0] != "-" {
			var err error
			if i, err = strconv.Atoi(segs[0]); err != nil || i < 0 || i > len(n) {
				return nil, tfxError("bad index " + segs[0])
			}
		}
		if len(segs) == 1 {
			switch {
			case del && i < len(n):
				return append(n[:i:i], n[i+1:]...), nil
			case del:
				return nil, tfxError("no index " + segs[0])
			case i == len(n):
				return append(n, v), nil
			}
			n[i] = v
			return n, nil
		}
		if i == len(n) {
			return nil, tfxError("no index " + segs[0])
		}
		c, err := tfxEdit(n[i], segs[1:], v, del)
		n[i] = c
		return n, err
	}
	return nil, tfxError("not a container at " + strings.Join(segs, "/"))
}

// tfxRun parses the tree, runs one mandatory test and checks that each finding is well formed.
func tfxRun(t *testing.T, m map[string]any, id string) []Finding {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	fs, ok := d.RunTest(id)
	if !ok {
		t.Fatalf("mandatory test %s is not registered", id)
	}
	for _, f := range fs {
		if f.Test != id || !strings.HasPrefix(f.Path, "/") || f.Message == "" || f.Message != strings.ToLower(f.Message[:1])+f.Message[1:] {
			t.Errorf("malformed finding %+v", f)
		}
	}
	return fs
}

// tfxCase is one variant of a document and the paths of the findings expected from one test.
type tfxCase struct {
	name  string
	edit  func(t *testing.T, m map[string]any)
	paths []string // nil: the document passes
	msg   string   // if set, a substring of the first finding's message
}

// tfxTable runs test id on a variant of base (copied) per case.
func tfxTable(t *testing.T, id string, base func(t *testing.T) map[string]any, cases []tfxCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := tfxCopy(t, base(t))
			if c.edit != nil {
				c.edit(t, m)
			}
			fs := tfxRun(t, m, id)
			var got []string
			for _, f := range fs {
				got = append(got, f.Path)
			}
			if !reflect.DeepEqual(got, c.paths) {
				t.Fatalf("%s finding paths = %q, want %q; findings: %v", id, got, c.paths, fs)
			}
			if c.msg != "" && !strings.Contains(fs[0].Message, c.msg) {
				t.Errorf("message %q does not contain %q", fs[0].Message, c.msg)
			}
		})
	}
}
