package version

import (
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  string // scheme|constraints, or an error substring after "!"
		upper string
	}{
		{"vers:deb/<3.0.11-1~deb12u2", "deb|<3.0.11-1~deb12u2", "3.0.11-1~deb12u2"},
		{"vers:deb/>=3.0.0|<3.0.11-1~deb12u2", "deb|>=3.0.0,<3.0.11-1~deb12u2", "3.0.11-1~deb12u2"},
		{"vers:deb/1:2.3-4", "deb|=1:2.3-4", ""},
		{"vers:npm/!=1.0.0|>=0.9.0", "npm|!=1.0.0,>=0.9.0", ""},
		{"vers:deb/*", "deb|*", ""},
		{"vers:pypi/%3E1.0", "!comparator", ""},
		{"vers:deb/<1.0%2B2", "deb|<1.0+2", "1.0+2"},
		{"deb/<1.0", `!start with "vers:"`, ""},
		{"vers:deb", `!needs "/"`, ""},
		{"vers:Deb/<1", "!versioning scheme", ""},
		{"vers:deb/", "!no constraints", ""},
		{"vers:deb/<", "!has no version", ""},
		{"vers:deb/<1|*", `!"*" must stand alone`, ""},
		{"vers:deb/<1|>=1|<1", "!more than once", ""},
		{"vers:deb/<1%zz", "!percent-encoded", ""},
	} {
		r, err := ParseRange(tc.in)
		if want, isErr := strings.CutPrefix(tc.want, "!"); isErr {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err %v, want %q", tc.in, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		var cs []string
		for _, c := range r.Constraints {
			cs = append(cs, string(c.Comparator)+c.Version)
		}
		got := r.Scheme + "|" + strings.Join(cs, ",")
		if r.All {
			got = r.Scheme + "|*"
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
		if up, _ := r.UpperBound(); up != tc.upper {
			t.Errorf("%s: upper bound %q, want %q", tc.in, up, tc.upper)
		}
	}
}

func TestCheckDebianOrder(t *testing.T) {
	for in, ok := range map[string]bool{
		"vers:deb/>=3.0.0|<3.0.11-1~deb12u2": true,
		"vers:deb/<1:1.0":                    true,
		"vers:deb/>=5.0|<3.0":                false,
		"vers:deb/>=1.0~rc1|<1.0":            true,
		"vers:deb/>=1.0|<1.0~rc1":            false,
		"vers:deb/<a:1":                      false,
	} {
		r, err := ParseRange(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.CheckDebianOrder(); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", in, err, ok)
		}
	}
}

func TestRangeContains(t *testing.T) {
	for _, tc := range []struct {
		rng string
		in  []string
		out []string
	}{
		{"vers:deb/<3.0.11-1~deb12u2", []string{"3.0.11-1~deb12u1", "3.0.9-1", "0.1", "3.0.11-1~deb12u2~"}, []string{"3.0.11-1~deb12u2", "3.0.11-1", "3.0.12-1", "1:0.1"}},
		{"vers:deb/<=2.0", []string{"2.0", "1.9", "2.0~rc1"}, []string{"2.0-1", "2.0.1"}},
		{"vers:deb/>=3.0.0|<3.0.11-1~deb12u2", []string{"3.0.0", "3.0.10-1", "3.0.11-1~deb12u1"}, []string{"2.9", "3.0.0~beta1", "3.0.11-1~deb12u2", "4"}},
		{"vers:deb/>1.0|<2.0|>=3.0|<4.0", []string{"1.5", "3.0", "3.9"}, []string{"1.0", "2.0", "2.5", "4.0", "0.1"}},
		{"vers:deb/<1.0|>=2.0", []string{"0.9", "2.0", "9"}, []string{"1.0", "1.5"}},
		{"vers:deb/1.0|1.1", []string{"1.0", "1.1"}, []string{"1.0-1", "1.2"}},
		{"vers:deb/!=1.0", []string{"1.1", "0.9"}, []string{"1.0"}},
		{"vers:deb/>=1.0|!=1.5|<2.0", []string{"1.0", "1.4", "1.6"}, []string{"1.5", "2.0", "0.5"}},
		{"vers:deb/*", []string{"0", "99:1"}, nil},
	} {
		r, err := ParseRange(tc.rng)
		if err != nil {
			t.Fatalf("%s: %v", tc.rng, err)
		}
		for _, v := range tc.in {
			if ok, err := r.DebianContains(v); err != nil || !ok {
				t.Errorf("%s should contain %s (%v)", tc.rng, v, err)
			}
		}
		for _, v := range tc.out {
			if ok, err := r.DebianContains(v); err != nil || ok {
				t.Errorf("%s should not contain %s (%v)", tc.rng, v, err)
			}
		}
	}
	r, _ := ParseRange("vers:deb/<2.0")
	if _, err := r.DebianContains("not a version!"); err == nil {
		t.Error("an invalid version was compared")
	}
}
