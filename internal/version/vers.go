// Package version handles version ranges in the vers notation of the package URL project
// (vers:deb/>=3.0.0|<3.0.11-1~deb12u2) and Debian version order (as dpkg --compare-versions).
package version

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Comparator is how a constraint relates a version to its bound.
type Comparator string

const (
	Equal        Comparator = "="
	NotEqual     Comparator = "!="
	Less         Comparator = "<"
	LessEqual    Comparator = "<="
	Greater      Comparator = ">"
	GreaterEqual Comparator = ">="
)

// Constraint is one "comparator version" pair of a range.
type Constraint struct {
	Comparator Comparator
	Version    string
}

// Range is a parsed vers range. All is true for "vers:SCHEME/*" (every version).
type Range struct {
	Scheme      string
	All         bool
	Constraints []Constraint
}

var schemeRE = regexp.MustCompile(`^[a-z][a-z0-9.+-]*$`)

// maxRange bounds the text of a range.
const maxRange = 4096

// ParseRange parses a vers range: "vers:", a lower-case versioning scheme, "/", and either
// "*" or constraints separated by "|", each an optional comparator (default "=") and a
// percent-encoded version. Versions must not repeat. The version order of the scheme is not
// checked here.
func ParseRange(s string) (Range, error) {
	if len(s) > maxRange {
		return Range{}, fmt.Errorf("vers range is longer than %d characters", maxRange)
	}
	rest, ok := strings.CutPrefix(s, "vers:")
	if !ok {
		return Range{}, errors.New(`vers range must start with "vers:"`)
	}
	scheme, cs, ok := strings.Cut(rest, "/")
	if !ok {
		return Range{}, errors.New(`vers range needs "/" after the versioning scheme`)
	}
	if !schemeRE.MatchString(scheme) {
		return Range{}, fmt.Errorf("vers range: versioning scheme %q must be lower-case letters, digits, '.', '+' or '-'", scheme)
	}
	r := Range{Scheme: scheme}
	cs = strings.TrimSpace(cs)
	if cs == "*" {
		r.All = true
		return r, nil
	}
	if cs == "" {
		return Range{}, errors.New("vers range has no constraints")
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(cs, "|") {
		part = strings.TrimSpace(part)
		c := Constraint{Comparator: Equal}
		for _, cmp := range []Comparator{NotEqual, LessEqual, GreaterEqual, Less, Greater, Equal} {
			if v, ok := strings.CutPrefix(part, string(cmp)); ok {
				c.Comparator, part = cmp, v
				break
			}
		}
		if part == "" {
			return Range{}, fmt.Errorf("vers range: constraint %q has no version", c.Comparator)
		}
		if part == "*" {
			return Range{}, errors.New(`vers range: "*" must stand alone`)
		}
		v, err := url.PathUnescape(part)
		if err != nil {
			return Range{}, fmt.Errorf("vers range: version %q is not properly percent-encoded", part)
		}
		if strings.ContainsAny(v, "<>=!|") {
			return Range{}, fmt.Errorf("vers range: version %q holds a comparator or separator character", v)
		}
		if seen[v] {
			return Range{}, fmt.Errorf("vers range: version %q appears more than once", v)
		}
		seen[v] = true
		c.Version = v
		r.Constraints = append(r.Constraints, c)
	}
	return r, nil
}

// UpperBound is the version of the range's "<" constraint, when it has exactly one: the
// first version outside an affected range (the fixed version).
func (r Range) UpperBound() (string, bool) {
	var out string
	n := 0
	for _, c := range r.Constraints {
		if c.Comparator == Less {
			out = c.Version
			n++
		}
	}
	return out, n == 1
}

// CheckDebianOrder checks a deb range's versions: each a valid Debian version, in ascending
// order as the vers notation requires (so that the range is what it reads as).
func (r Range) CheckDebianOrder() error {
	for i, c := range r.Constraints {
		if i == 0 {
			if _, err := CompareDebian(c.Version, c.Version); err != nil {
				return err
			}
			continue
		}
		prev := r.Constraints[i-1].Version
		cmp, err := CompareDebian(prev, c.Version)
		if err != nil {
			return err
		}
		if cmp >= 0 {
			return fmt.Errorf("vers range: versions must ascend, but %s comes after %s", c.Version, prev)
		}
	}
	return nil
}

// Contains reports whether v lies in the range, by the vers specification's algorithm, with
// versions ordered by cmp (CompareDebian for the deb scheme). The constraints must be in
// ascending order, as ParseRange's callers check (CheckDebianOrder).
func (r Range) Contains(v string, cmp func(a, b string) (int, error)) (bool, error) {
	if r.All {
		return true, nil
	}
	// = and != decide on their own; the others form intervals.
	var rest []Constraint
	for _, c := range r.Constraints {
		d, err := cmp(v, c.Version)
		if err != nil {
			return false, err
		}
		switch c.Comparator {
		case Equal:
			if d == 0 {
				return true, nil
			}
			continue
		case NotEqual:
			if d == 0 {
				return false, nil
			}
			continue
		case LessEqual, GreaterEqual:
			if d == 0 {
				return true, nil
			}
		}
		rest = append(rest, c)
	}
	if len(rest) == 0 {
		// Only = and != constraints: a version none of them named is in the range when
		// they are all != (vers:deb/!=1.0 is everything but 1.0).
		for _, c := range r.Constraints {
			if c.Comparator == Equal {
				return false, nil
			}
		}
		return true, nil
	}
	lower := func(c Comparator) bool { return c == Greater || c == GreaterEqual }
	upper := func(c Comparator) bool { return c == Less || c == LessEqual }
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		d, err := cmp(v, c.Version)
		if err != nil {
			return false, err
		}
		if i == 0 && upper(c.Comparator) && d < 0 {
			return true, nil // below the first upper bound
		}
		if i == len(rest)-1 && lower(c.Comparator) && d > 0 {
			return true, nil // above the last lower bound
		}
		if lower(c.Comparator) && i+1 < len(rest) && upper(rest[i+1].Comparator) {
			d2, err := cmp(v, rest[i+1].Version)
			if err != nil {
				return false, err
			}
			if d > 0 && d2 < 0 {
				return true, nil
			}
			i++
		}
	}
	return false, nil
}

// DebianContains is Contains with Debian version order.
func (r Range) DebianContains(v string) (bool, error) { return r.Contains(v, CompareDebian) }
