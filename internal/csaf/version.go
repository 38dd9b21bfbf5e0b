package csaf

import (
	"regexp"
	"strings"
	"time"
)

// CSAF document versions (the version type version_t, section 3.1.11 of CSAF 2.0) are either
// integer versions ("0", "1", "2", ...) or semantic versions after SemVer 2.0.0 ("1.4.3",
// "1.0.0-rc.1", "2.40.0+21AF26D3"). This file parses them and orders them by precedence, and
// parses the RFC 3339 date-times that order a revision history.

// revVersion is a parsed CSAF version.
type revVersion struct {
	Raw      string
	Semantic bool // false: integer versioning
	// Major, Minor and Patch are decimal numbers without leading zeroes, kept as text so that
	// no version is too large. An integer version n has Major n and Minor, Patch "0".
	Major, Minor, Patch string
	Pre                 []string // pre-release identifiers (semantic versions only)
	Build               string   // build metadata without the "+" (semantic versions only)
}

// The two regular expressions of sections 3.1.11.1 and 3.1.11.2 (together the pattern of
// version_t in the JSON schema). RE2's \d is ASCII only, as SemVer wants.
var (
	revIntegerVersionRE  = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
	revSemanticVersionRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
		`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
		`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
)

// parseRevVersion parses a CSAF version; ok is false when s is neither an integer nor a
// semantic version.
func parseRevVersion(s string) (v revVersion, ok bool) {
	if revIntegerVersionRE.MatchString(s) {
		return revVersion{Raw: s, Major: s, Minor: "0", Patch: "0"}, true
	}
	m := revSemanticVersionRE.FindStringSubmatch(s)
	if m == nil {
		return revVersion{}, false
	}
	v = revVersion{Raw: s, Semantic: true, Major: m[1], Minor: m[2], Patch: m[3], Build: m[5]}
	if m[4] != "" {
		v.Pre = strings.Split(m[4], ".")
	}
	return v, true
}

// PreRelease reports whether v has a pre-release part ("1.0.0-rc").
func (v revVersion) PreRelease() bool { return len(v.Pre) > 0 }

// InitialDevelopment reports whether v is "0" or "0.y.z" (before the initial release).
func (v revVersion) InitialDevelopment() bool { return v.Major == "0" }

// Scheme names the versioning scheme, for messages.
func (v revVersion) Scheme() string {
	if v.Semantic {
		return "semantic"
	}
	return "integer"
}

// Trimmed is the version text without build metadata and, if dropPre, without the
// pre-release part: "2.0.0-rc.1+abc" gives "2.0.0-rc.1", or "2.0.0".
func (v revVersion) Trimmed(dropPre bool) string {
	if !v.Semantic {
		return v.Raw
	}
	s := v.Major + "." + v.Minor + "." + v.Patch
	if !dropPre && len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	return s
}

// compareRevVersions orders two versions by precedence (section 3.1.11.2 rule 11, SemVer
// 2.0.0 section 11; integers compare as integers) and returns -1, 0 or +1. Build metadata
// does not count. An integer version n compares as the semantic version n.0.0, so that a
// document which mixes both schemes (which test 6.1.30 reports) still sorts consistently;
// CSAF 2.1 prescribes this mapping for the revision history tests.
func compareRevVersions(a, b revVersion) int {
	for _, p := range [][2]string{{a.Major, b.Major}, {a.Minor, b.Minor}, {a.Patch, b.Patch}} {
		if c := revCompareNumeric(p[0], p[1]); c != 0 {
			return c
		}
	}
	// A pre-release has lower precedence than the normal version.
	switch {
	case len(a.Pre) == 0 && len(b.Pre) == 0:
		return 0
	case len(a.Pre) == 0:
		return 1
	case len(b.Pre) == 0:
		return -1
	}
	for i := 0; i < len(a.Pre) && i < len(b.Pre); i++ {
		if c := revComparePreIdentifier(a.Pre[i], b.Pre[i]); c != 0 {
			return c
		}
	}
	// A larger set of pre-release fields has a higher precedence when all before are equal.
	return revCompareInt(len(a.Pre), len(b.Pre))
}

// revComparePreIdentifier compares two pre-release identifiers: numeric ones numerically and
// below alphanumeric ones, alphanumeric ones in ASCII order.
func revComparePreIdentifier(x, y string) int {
	xn, yn := revIsNumeric(x), revIsNumeric(y)
	switch {
	case xn && yn:
		return revCompareNumeric(x, y)
	case xn:
		return -1
	case yn:
		return 1
	}
	return strings.Compare(x, y)
}

func revIsNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// revCompareNumeric compares two decimal numbers of any length. Leading zeroes (which the
// version patterns forbid) are tolerated.
func revCompareNumeric(x, y string) int {
	x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
	if c := revCompareInt(len(x), len(y)); c != 0 {
		return c
	}
	return strings.Compare(x, y)
}

func revCompareInt(x, y int) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// revParseTime parses an RFC 3339 date-time (the JSON schema's format date-time), with its
// time zone, to the nanosecond (further fractional digits are cut off). "t" and "z" may be
// lower case, as RFC 3339 allows; a leap second (":60") counts as the next second.
func revParseTime(s string) (time.Time, bool) {
	s = strings.ToUpper(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		return t, true
	}
	if len(s) > 19 && s[10] == 'T' && s[16] == ':' && s[17:19] == "60" {
		if t, err := time.Parse(time.RFC3339Nano, s[:17]+"59"+s[19:]); err == nil {
			return t.Add(time.Second), true
		}
	}
	return time.Time{}, false
}
