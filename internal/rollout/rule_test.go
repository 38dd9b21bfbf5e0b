package rollout

import (
	"strings"
	"testing"
)

func TestParseRuleErrors(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"os", "must be key=value"},
		{"os=", "must be key=value"},
		{"colour=red", `unknown key "colour"`},
		{"arch=amd64,", "empty value"},
		{"hostname=[web", "not a valid pattern"},
		{strings.Repeat("a", 2000), "longer than"},
	} {
		if _, err := ParseRule(tc.rule); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.rule, err, tc.want)
		}
	}
}

func TestRuleMatches(t *testing.T) {
	web := Facts{Hostname: "WEB-01", OSID: "debian", OSVersion: "12", Arch: "amd64", Tags: []string{"prod", "dmz"}}
	db := Facts{Hostname: "db-01", OSID: "debian", OSVersion: "11", Arch: "arm64"}
	ubuntu := Facts{Hostname: "web-02", OSID: "ubuntu", OSVersion: "24.04", Arch: "amd64", Tags: []string{"staging"}}
	for _, tc := range []struct {
		rule string
		want []bool // web, db, ubuntu
	}{
		{"os=debian", []bool{true, true, false}},
		{"os=debian:12", []bool{true, false, false}},
		{"os=debian:11,ubuntu:24.04", []bool{false, true, true}},
		{"arch=amd64", []bool{true, false, true}},
		{"hostname=web-*", []bool{true, false, true}},
		{"hostname=web-* os=debian", []bool{true, false, false}},
		{"tag=prod", []bool{true, false, false}},
		{"tag!=prod", []bool{false, true, true}},
		{"hostname=web-* tag!=staging", []bool{true, false, false}},
		{"", []bool{false, false, false}},
	} {
		r, err := ParseRule(tc.rule)
		if err != nil {
			t.Fatalf("%q: %v", tc.rule, err)
		}
		for i, f := range []Facts{web, db, ubuntu} {
			if got := r.Matches(f); got != tc.want[i] {
				t.Errorf("%q on %s: %v, want %v", tc.rule, f.Hostname, got, tc.want[i])
			}
		}
		if again, _ := ParseRule(r.String()); again.String() != r.String() {
			t.Errorf("%q does not round-trip: %q", tc.rule, r.String())
		}
	}
}
