// Package rollout holds what decides who gets an update when: groups of computers (static,
// or dynamic by a rule over their facts) and rings.
package rollout

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Facts are what a dynamic group's rule looks at.
type Facts struct {
	Hostname  string
	OSID      string // os-release ID
	OSVersion string // os-release VERSION_ID
	Arch      string
	Tags      []string
}

// Rule is a dynamic group's membership rule: terms that must all hold, each a key and the
// values it accepts, as in "os=debian:12,debian:11 arch=amd64 hostname=web-* tag=prod".
//
//	os        ID or ID:VERSION_ID of os-release (debian, debian:12)
//	arch      the package architecture (amd64)
//	hostname  a shell pattern (web-*, db-[0-9]*)
//	tag       a tag the computer carries
//
// A term "key!=values" holds when none of the values does.
type Rule struct {
	Terms []Term
}

// Term is one condition of a rule.
type Term struct {
	Key    string
	Not    bool
	Values []string
}

var ruleKeys = []string{"os", "arch", "hostname", "tag"}

// maxRule bounds a rule's text.
const maxRule = 1024

// ParseRule reads a rule. An empty text is no rule (a static group).
func ParseRule(s string) (Rule, error) {
	if len(s) > maxRule {
		return Rule{}, fmt.Errorf("is longer than %d characters", maxRule)
	}
	var r Rule
	for _, f := range strings.Fields(s) {
		key, vals, ok := strings.Cut(f, "=")
		if !ok || vals == "" {
			return Rule{}, fmt.Errorf("term %q must be key=value[,value...] with key one of %s", f, strings.Join(ruleKeys, ", "))
		}
		t := Term{Key: key}
		if k, ok := strings.CutSuffix(key, "!"); ok {
			t.Key, t.Not = k, true
		}
		if !slices.Contains(ruleKeys, t.Key) {
			return Rule{}, fmt.Errorf("term %q: unknown key %q (known: %s)", f, t.Key, strings.Join(ruleKeys, ", "))
		}
		for _, v := range strings.Split(vals, ",") {
			if v == "" {
				return Rule{}, fmt.Errorf("term %q has an empty value", f)
			}
			if t.Key == "hostname" {
				if _, err := path.Match(v, ""); err != nil {
					return Rule{}, fmt.Errorf("term %q: %q is not a valid pattern", f, v)
				}
			}
			t.Values = append(t.Values, v)
		}
		r.Terms = append(r.Terms, t)
	}
	return r, nil
}

// String writes the rule back in its canonical form.
func (r Rule) String() string {
	parts := make([]string, len(r.Terms))
	for i, t := range r.Terms {
		op := "="
		if t.Not {
			op = "!="
		}
		parts[i] = t.Key + op + strings.Join(t.Values, ",")
	}
	return strings.Join(parts, " ")
}

// Matches says whether a computer with these facts belongs to the group. A rule without
// terms matches nothing: a dynamic group must say whom it holds.
func (r Rule) Matches(f Facts) bool {
	if len(r.Terms) == 0 {
		return false
	}
	for _, t := range r.Terms {
		if t.holds(f) == t.Not {
			return false
		}
	}
	return true
}

func (t Term) holds(f Facts) bool {
	for _, v := range t.Values {
		switch t.Key {
		case "os":
			id, ver, hasVer := strings.Cut(v, ":")
			if strings.EqualFold(id, f.OSID) && (!hasVer || ver == f.OSVersion) {
				return true
			}
		case "arch":
			if v == f.Arch {
				return true
			}
		case "hostname":
			if ok, _ := path.Match(strings.ToLower(v), strings.ToLower(f.Hostname)); ok {
				return true
			}
		case "tag":
			if slices.Contains(f.Tags, v) {
				return true
			}
		}
	}
	return false
}
