package csaf

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Mandatory tests 6.1.7 to 6.1.10 of CSAF 2.0: the CVSS scores of the vulnerabilities.

func init() {
	register("6.1.7", checkMultipleScoresPerProduct)
	register("6.1.8", checkInvalidCVSS)
	register("6.1.9", checkCVSSComputation)
	register("6.1.10", checkInconsistentCVSS)
}

// cvssItem is one cvss_v2 or cvss_v3 value of /vulnerabilities[]/scores[].
type cvssItem struct {
	Key   string         // "cvss_v2" or "cvss_v3"
	Path  string         // JSON pointer of the value
	Value any            // the value as found
	Obj   map[string]any // the value when it is an object
}

func (d *Document) cvssItems() []cvssItem {
	var out []cvssItem
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		for si, s := range arr(v, "scores") {
			m, _ := s.(map[string]any)
			for _, k := range []string{"cvss_v2", "cvss_v3"} {
				val, ok := m[k]
				if !ok {
					continue
				}
				o, _ := val.(map[string]any)
				out = append(out, cvssItem{Key: k, Path: ptr("vulnerabilities", vi, "scores", si, k), Value: val, Obj: o})
			}
		}
	}
	return out
}

// cvssVectorVersion is the CVSS version a vector string declares: "3.0" or "3.1" from its
// "CVSS:3.x/" prefix, "2.0" for a cvss_v2 vector (which has no prefix), else "".
func cvssVectorVersion(key, vector string) string {
	if key == "cvss_v2" {
		return "2.0"
	}
	for _, v := range []string{"3.0", "3.1"} {
		if strings.HasPrefix(vector, "CVSS:"+v+"/") {
			return v
		}
	}
	return ""
}

// cvssVersion is the version of a CVSS object: the one of its vector (which takes
// precedence, as 6.1.9 says), else its version property.
func cvssVersion(it cvssItem) string {
	if it.Key == "cvss_v2" {
		return "2.0"
	}
	if v := cvssVectorVersion(it.Key, str(it.Obj, "vectorString")); v != "" {
		return v
	}
	return str(it.Obj, "version")
}

// checkMultipleScoresPerProduct is 6.1.7: within one vulnerability, a product has at most one
// CVSS score per CVSS version (a v2 and a v3.1 score for the same product are fine).
func checkMultipleScoresPerProduct(d *Document) []Finding {
	var fs []Finding
	for vi, v := range arr(d.Raw, "vulnerabilities") {
		type key struct{ product, version string }
		first := map[key]string{}
		for si, s := range arr(v, "scores") {
			var versions []string
			for _, k := range []string{"cvss_v2", "cvss_v3"} {
				if o := obj(s, k); o != nil {
					versions = append(versions, cvssVersion(cvssItem{Key: k, Obj: o}))
				}
			}
			inScore := map[string]bool{} // a product listed twice in one score has one score
			for pi, p := range arr(s, "products") {
				id, ok := p.(string)
				if !ok || inScore[id] {
					continue
				}
				inScore[id] = true
				for _, ver := range versions {
					k := key{id, ver}
					if at, ok := first[k]; ok {
						fs = append(fs, Finding{Test: "6.1.7", Path: ptr("vulnerabilities", vi, "scores", si, "products", pi),
							Message: fmt.Sprintf("multiple scores with same version per product: %s has a second cvss %s score (first in %s)", id, cvssVersionName(ver), at)})
						continue
					}
					first[k] = ptr("vulnerabilities", vi, "scores", si)
				}
			}
		}
	}
	return fs
}

func cvssVersionName(v string) string {
	if v == "" {
		return "v3 (of unknown minor version)"
	}
	return "v" + v
}

// The FIRST CVSS JSON schemas that the CSAF 2.0 schema refers to for cvss_v2 and cvss_v3,
// copied from github.com/gocsaf/csaf/v3 (csaf/schema), which does not export them; they are
// byte for byte the copies in the OASIS repository (csaf_2.0/referenced_schema/first).
//
//go:embed schema/cvss-v2.0.json schema/cvss-v3.0.json schema/cvss-v3.1.json
var cvssSchemaFiles embed.FS

var cvssSchemas struct {
	once sync.Once
	m    map[string]*jsonschema.Schema // by CVSS version
	err  error
}

func cvssSchema(version string) (*jsonschema.Schema, error) {
	cvssSchemas.once.Do(func() {
		c := jsonschema.NewCompiler()
		m := map[string]*jsonschema.Schema{}
		for _, v := range []string{"2.0", "3.0", "3.1"} {
			name := "cvss-v" + v + ".json"
			data, err := cvssSchemaFiles.ReadFile("schema/" + name)
			if err != nil {
				cvssSchemas.err = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				cvssSchemas.err = fmt.Errorf("%s: %w", name, err)
				return
			}
			url := "https://www.first.org/cvss/" + name
			if err := c.AddResource(url, doc); err != nil {
				cvssSchemas.err = fmt.Errorf("%s: %w", name, err)
				return
			}
			s, err := c.Compile(url)
			if err != nil {
				cvssSchemas.err = fmt.Errorf("%s: %w", name, err)
				return
			}
			m[v] = s
		}
		cvssSchemas.m = m
	})
	if cvssSchemas.err != nil {
		return nil, cvssSchemas.err
	}
	return cvssSchemas.m[version], nil
}

var cvssPrinter = message.NewPrinter(language.English)

// checkInvalidCVSS is 6.1.8: each cvss_v2 object is valid against the FIRST CVSS v2.0 schema,
// each cvss_v3 object against the v3.0 or v3.1 schema. The CSAF schema allows either for
// cvss_v3; the object's version property picks one, else its vector's prefix, else v3.1.
func checkInvalidCVSS(d *Document) []Finding {
	var fs []Finding
	for _, it := range d.cvssItems() {
		version := "2.0"
		if it.Key == "cvss_v3" {
			version = str(it.Obj, "version")
			if version != "3.0" && version != "3.1" {
				version = cvssVectorVersion(it.Key, str(it.Obj, "vectorString"))
			}
			if version == "" {
				version = "3.1"
			}
		}
		s, err := cvssSchema(version)
		if err != nil {
			// The schemas are embedded: this is a bug, but report it rather than pass.
			fs = append(fs, Finding{Test: "6.1.8", Path: it.Path, Message: "invalid cvss: cannot load the cvss schema: " + err.Error()})
			continue
		}
		err = s.Validate(it.Value)
		if err == nil {
			continue
		}
		ve, ok := err.(*jsonschema.ValidationError)
		if !ok {
			fs = append(fs, Finding{Test: "6.1.8", Path: it.Path, Message: "invalid cvss: " + err.Error()})
			continue
		}
		var found []Finding
		for _, leaf := range cvssLeafErrors(ve, nil) {
			p := it.Path
			for _, tok := range leaf.InstanceLocation {
				p = join(p, tok)
			}
			found = append(found, Finding{Test: "6.1.8", Path: p,
				Message: fmt.Sprintf("invalid cvss: not valid against the cvss v%s schema: %s", version, leaf.ErrorKind.LocalizedString(cvssPrinter))})
		}
		sort.SliceStable(found, func(i, j int) bool {
			if found[i].Path != found[j].Path {
				return found[i].Path < found[j].Path
			}
			return found[i].Message < found[j].Message
		})
		fs = append(fs, found...)
	}
	return fs
}

func cvssLeafErrors(e *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return append(out, e)
	}
	for _, c := range e.Causes {
		out = cvssLeafErrors(c, out)
	}
	return out
}

// cvssScores are the scores computed from a vector.
type cvssScores struct {
	Base, Temporal, Environmental float64
	Rating                        func(float64) (string, error) // nil for CVSS v2 (no severities)
}

// cvssCompute computes the scores of a CVSS object from its vector string alone.
func cvssCompute(key, vector string) (cvssScores, error) {
	switch cvssVectorVersion(key, vector) {
	case "2.0":
		c, err := gocvss20.ParseVector(vector)
		if err != nil {
			return cvssScores{}, err
		}
		return cvssScores{c.BaseScore(), c.TemporalScore(), c.EnvironmentalScore(), nil}, nil
	case "3.0":
		c, err := gocvss30.ParseVector(vector)
		if err != nil {
			return cvssScores{}, err
		}
		return cvssScores{c.BaseScore(), c.TemporalScore(), c.EnvironmentalScore(), gocvss30.Rating}, nil
	case "3.1":
		c, err := gocvss31.ParseVector(vector)
		if err != nil {
			return cvssScores{}, err
		}
		return cvssScores{c.BaseScore(), c.TemporalScore(), c.EnvironmentalScore(), gocvss31.Rating}, nil
	}
	return cvssScores{}, fmt.Errorf("it declares no cvss version 3.0 or 3.1")
}

// cvssNumber reads a JSON number (json.Number from Parse, float64 from plain decoding).
func cvssNumber(v any) (f float64, text string, ok bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, n.String(), err == nil
	case float64:
		return n, strconv.FormatFloat(n, 'f', -1, 64), true
	case int:
		return float64(n), strconv.Itoa(n), true
	}
	return 0, "", false
}

// checkCVSSComputation is 6.1.9: the scores and severities given in a CVSS object are the ones
// its vector string computes to, per the CVSS specification of its version (the vector takes
// precedence). Base, temporal and environmental scores are checked when given, and for CVSS
// v3 their severities; a vector from which nothing can be computed is a finding too.
func checkCVSSComputation(d *Document) []Finding {
	var fs []Finding
	for _, it := range d.cvssItems() {
		vector, ok := it.Obj["vectorString"].(string)
		if !ok {
			continue // no vector to compute from: 6.1.8 reports the missing property
		}
		sc, err := cvssCompute(it.Key, vector)
		if err != nil {
			fs = append(fs, Finding{Test: "6.1.9", Path: join(it.Path, "vectorString"),
				Message: fmt.Sprintf("invalid cvss computation: no scores can be computed from the vector %q: %v", vector, err)})
			continue
		}
		for _, c := range []struct {
			score, severity string
			value           float64
		}{
			{"baseScore", "baseSeverity", sc.Base},
			{"temporalScore", "temporalSeverity", sc.Temporal},
			{"environmentalScore", "environmentalSeverity", sc.Environmental},
		} {
			if given, text, ok := cvssNumber(it.Obj[c.score]); ok && math.Abs(given-c.value) > 1e-9 {
				fs = append(fs, Finding{Test: "6.1.9", Path: join(it.Path, c.score),
					Message: fmt.Sprintf("invalid cvss computation: %s is %s, the vector gives %.1f", c.score, text, c.value)})
			}
			if sc.Rating == nil {
				continue
			}
			given, ok := it.Obj[c.severity].(string)
			if !ok {
				continue
			}
			if want, err := sc.Rating(c.value); err == nil && given != want {
				fs = append(fs, Finding{Test: "6.1.9", Path: join(it.Path, c.severity),
					Message: fmt.Sprintf("invalid cvss computation: %s is %s, the vector gives %s", c.severity, given, want)})
			}
		}
	}
	return fs
}

// cvssMetric maps a property of a CVSS object to its metric in the vector string.
type cvssMetric struct {
	Prop, Abbr string
	Values     map[string]string // metric value in the vector -> property value
	Optional   bool              // temporal and environmental metrics: absent means not defined
}

func cvssMetricValues(pairs ...string) map[string]string {
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

var (
	cvss3Impact      = cvssMetricValues("H", "HIGH", "L", "LOW", "N", "NONE")
	cvss3ModImpact   = cvssMetricValues("X", "NOT_DEFINED", "H", "HIGH", "L", "LOW", "N", "NONE")
	cvss3Requirement = cvssMetricValues("X", "NOT_DEFINED", "H", "HIGH", "M", "MEDIUM", "L", "LOW")
	cvss2Impact      = cvssMetricValues("N", "NONE", "P", "PARTIAL", "C", "COMPLETE")
	cvss2Requirement = cvssMetricValues("ND", "NOT_DEFINED", "L", "LOW", "M", "MEDIUM", "H", "HIGH")
)

// cvss3Metrics are the metrics of CVSS v3.0 and v3.1 (same names and values), with the
// property names of the FIRST JSON schemas.
var cvss3Metrics = []cvssMetric{
	{"attackVector", "AV", cvssMetricValues("N", "NETWORK", "A", "ADJACENT_NETWORK", "L", "LOCAL", "P", "PHYSICAL"), false},
	{"attackComplexity", "AC", cvssMetricValues("L", "LOW", "H", "HIGH"), false},
	{"privilegesRequired", "PR", cvssMetricValues("N", "NONE", "L", "LOW", "H", "HIGH"), false},
	{"userInteraction", "UI", cvssMetricValues("N", "NONE", "R", "REQUIRED"), false},
	{"scope", "S", cvssMetricValues("U", "UNCHANGED", "C", "CHANGED"), false},
	{"confidentialityImpact", "C", cvss3Impact, false},
	{"integrityImpact", "I", cvss3Impact, false},
	{"availabilityImpact", "A", cvss3Impact, false},
	{"exploitCodeMaturity", "E", cvssMetricValues("X", "NOT_DEFINED", "H", "HIGH", "F", "FUNCTIONAL", "P", "PROOF_OF_CONCEPT", "U", "UNPROVEN"), true},
	{"remediationLevel", "RL", cvssMetricValues("X", "NOT_DEFINED", "U", "UNAVAILABLE", "W", "WORKAROUND", "T", "TEMPORARY_FIX", "O", "OFFICIAL_FIX"), true},
	{"reportConfidence", "RC", cvssMetricValues("X", "NOT_DEFINED", "C", "CONFIRMED", "R", "REASONABLE", "U", "UNKNOWN"), true},
	{"confidentialityRequirement", "CR", cvss3Requirement, true},
	{"integrityRequirement", "IR", cvss3Requirement, true},
	{"availabilityRequirement", "AR", cvss3Requirement, true},
	{"modifiedAttackVector", "MAV", cvssMetricValues("X", "NOT_DEFINED", "N", "NETWORK", "A", "ADJACENT_NETWORK", "L", "LOCAL", "P", "PHYSICAL"), true},
	{"modifiedAttackComplexity", "MAC", cvssMetricValues("X", "NOT_DEFINED", "L", "LOW", "H", "HIGH"), true},
	{"modifiedPrivilegesRequired", "MPR", cvssMetricValues("X", "NOT_DEFINED", "N", "NONE", "L", "LOW", "H", "HIGH"), true},
	{"modifiedUserInteraction", "MUI", cvssMetricValues("X", "NOT_DEFINED", "N", "NONE", "R", "REQUIRED"), true},
	{"modifiedScope", "MS", cvssMetricValues("X", "NOT_DEFINED", "U", "UNCHANGED", "C", "CHANGED"), true},
	{"modifiedConfidentialityImpact", "MC", cvss3ModImpact, true},
	{"modifiedIntegrityImpact", "MI", cvss3ModImpact, true},
	{"modifiedAvailabilityImpact", "MA", cvss3ModImpact, true},
}

// cvss2Metrics are the metrics of CVSS v2.0.
var cvss2Metrics = []cvssMetric{
	{"accessVector", "AV", cvssMetricValues("L", "LOCAL", "A", "ADJACENT_NETWORK", "N", "NETWORK"), false},
	{"accessComplexity", "AC", cvssMetricValues("H", "HIGH", "M", "MEDIUM", "L", "LOW"), false},
	{"authentication", "Au", cvssMetricValues("M", "MULTIPLE", "S", "SINGLE", "N", "NONE"), false},
	{"confidentialityImpact", "C", cvss2Impact, false},
	{"integrityImpact", "I", cvss2Impact, false},
	{"availabilityImpact", "A", cvss2Impact, false},
	{"exploitability", "E", cvssMetricValues("ND", "NOT_DEFINED", "U", "UNPROVEN", "POC", "PROOF_OF_CONCEPT", "F", "FUNCTIONAL", "H", "HIGH"), true},
	{"remediationLevel", "RL", cvssMetricValues("ND", "NOT_DEFINED", "OF", "OFFICIAL_FIX", "TF", "TEMPORARY_FIX", "W", "WORKAROUND", "U", "UNAVAILABLE"), true},
	{"reportConfidence", "RC", cvssMetricValues("ND", "NOT_DEFINED", "UC", "UNCONFIRMED", "UR", "UNCORROBORATED", "C", "CONFIRMED"), true},
	{"collateralDamagePotential", "CDP", cvssMetricValues("ND", "NOT_DEFINED", "N", "NONE", "L", "LOW", "LM", "LOW_MEDIUM", "MH", "MEDIUM_HIGH", "H", "HIGH"), true},
	{"targetDistribution", "TD", cvssMetricValues("ND", "NOT_DEFINED", "N", "NONE", "L", "LOW", "M", "MEDIUM", "H", "HIGH"), true},
	{"confidentialityRequirement", "CR", cvss2Requirement, true},
	{"integrityRequirement", "IR", cvss2Requirement, true},
	{"availabilityRequirement", "AR", cvss2Requirement, true},
}

// cvssVectorMetrics splits a vector string into its metrics. A metric given twice with
// different values maps to "" (the vector says nothing definite about it). ok is false when
// the string is not a sequence of metric:value pairs at all.
func cvssVectorMetrics(key, vector string) (map[string]string, bool) {
	if key == "cvss_v3" {
		prefix, rest, found := strings.Cut(vector, "/")
		if !found || !strings.HasPrefix(prefix, "CVSS:") {
			return nil, false
		}
		vector = rest
	}
	m := map[string]string{}
	for _, part := range strings.Split(vector, "/") {
		abbr, val, found := strings.Cut(part, ":")
		if !found || abbr == "" || val == "" {
			return nil, false
		}
		if old, dup := m[abbr]; dup && old != val {
			val = ""
		}
		m[abbr] = val
	}
	return m, true
}

// checkInconsistentCVSS is 6.1.10: the metric properties of a CVSS object (attackVector,
// scope, ...) agree with its vector string. A temporal or environmental metric that the
// vector leaves out is "not defined" there (CVSS v2.0 section 2.4, v3.x section 6), so a
// property giving it another value contradicts the vector. A cvss_v3 version property must
// also agree with the vector's "CVSS:3.x/" prefix. Scores and severities are 6.1.9's.
func checkInconsistentCVSS(d *Document) []Finding {
	var fs []Finding
	for _, it := range d.cvssItems() {
		vector, ok := it.Obj["vectorString"].(string)
		if !ok {
			continue
		}
		metrics, ok := cvssVectorMetrics(it.Key, vector)
		if !ok {
			continue // not a vector at all: 6.1.8 and 6.1.9 report it
		}
		table := cvss2Metrics
		if it.Key == "cvss_v3" {
			table = cvss3Metrics
			if given, ok := it.Obj["version"].(string); ok {
				if vv := strings.TrimPrefix(strings.SplitN(vector, "/", 2)[0], "CVSS:"); vv != given {
					fs = append(fs, Finding{Test: "6.1.10", Path: join(it.Path, "version"),
						Message: fmt.Sprintf("inconsistent cvss: version is %s, the vector is CVSS %s", given, vv)})
				}
			}
		}
		for _, m := range table {
			given, ok := it.Obj[m.Prop].(string)
			if !ok {
				continue
			}
			val, inVector := metrics[m.Abbr]
			var want string
			switch {
			case inVector && val == "":
				continue // given twice, differently: the vector is invalid (6.1.9)
			case inVector:
				if want, ok = m.Values[val]; !ok {
					continue // not a value of this metric: the vector is invalid (6.1.8)
				}
			case m.Optional:
				want = "NOT_DEFINED"
			default:
				continue // a base metric missing from the vector: the vector is invalid (6.1.9)
			}
			if given != want {
				msg := fmt.Sprintf("inconsistent cvss: %s is %s, the vector has %s:%s (%s)", m.Prop, given, m.Abbr, val, want)
				if !inVector {
					msg = fmt.Sprintf("inconsistent cvss: %s is %s, the vector leaves %s not defined", m.Prop, given, m.Abbr)
				}
				fs = append(fs, Finding{Test: "6.1.10", Path: join(it.Path, m.Prop), Message: msg})
			}
		}
	}
	return fs
}
