// Package csaf reads, validates and writes CSAF 2.0 advisories (OASIS Common Security
// Advisory Framework). Validation is the official JSON schema (through the CSAF project's own
// Go module) and every mandatory test of section 6.1 of the standard, one file per group of
// tests (mandatory_*.go).
package csaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	gocsaf "github.com/gocsaf/csaf/v3/csaf"
)

// Finding is one way in which a document breaks the standard.
type Finding struct {
	// Test is "schema" for the JSON schema, else the id of a mandatory test ("6.1.6").
	Test string `json:"test"`
	// Path is a JSON pointer to the offending value ("/vulnerabilities/0/product_status").
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String reads like "6.1.6 contradicting product status at /vulnerabilities/0/product_status".
func (f Finding) String() string {
	path := f.Path
	if path == "" {
		path = "/"
	}
	return f.Test + " " + f.Message + " at " + path
}

// ValidationError is a document that is not valid CSAF 2.0.
type ValidationError struct {
	Findings []Finding
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid CSAF 2.0 document: %d problem", len(e.Findings))
	if len(e.Findings) != 1 {
		b.WriteString("s")
	}
	for i, f := range e.Findings {
		if i == 10 {
			fmt.Fprintf(&b, "; and %d more", len(e.Findings)-10)
			break
		}
		b.WriteString("; ")
		b.WriteString(f.String())
	}
	return b.String()
}

// Document is a parsed CSAF document: the generic JSON tree, which the mandatory tests read
// (their findings need exact JSON paths, and they must work on documents that a typed model
// would refuse), and the typed model of the CSAF project's module when the document fits it.
type Document struct {
	Raw      map[string]any
	Advisory *gocsaf.Advisory // nil when the document does not decode into the model
}

// MaxDocumentSize bounds a document (the largest real advisories are a few MiB).
const MaxDocumentSize = 32 << 20

// Parse decodes a CSAF JSON document without validating it.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("csaf: document of %d bytes is larger than the limit of %d", len(data), MaxDocumentSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep numbers exact (CVSS scores, versions)
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("csaf: not JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("csaf: not JSON: more than one value")
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("csaf: the document must be a JSON object")
	}
	d := &Document{Raw: m}
	var adv gocsaf.Advisory
	if json.Unmarshal(data, &adv) == nil {
		d.Advisory = &adv
	}
	return d, nil
}

// Validate parses data and checks it against the CSAF 2.0 JSON schema and every mandatory
// test. A document with findings gives a *ValidationError listing all of them.
func Validate(data []byte) (*Document, error) {
	d, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if fs := d.Check(); len(fs) > 0 {
		return d, &ValidationError{Findings: fs}
	}
	return d, nil
}

// Check runs the JSON schema and every mandatory test, and returns the findings sorted by
// path, then test.
func (d *Document) Check() []Finding {
	fs := d.CheckSchema()
	for _, t := range mandatoryTests {
		fs = append(fs, t.check(d)...)
	}
	sortFindings(fs)
	return fs
}

// CheckSchema validates the document against the official CSAF 2.0 JSON schema.
func (d *Document) CheckSchema() []Finding {
	// The schema validator wants plain JSON values; json.Number is one of them for it.
	msgs, err := gocsaf.ValidateCSAF(d.schemaInput())
	if err != nil {
		return []Finding{{Test: "schema", Message: "schema validation failed: " + err.Error()}}
	}
	var fs []Finding
	for _, m := range msgs {
		path, msg, ok := strings.Cut(m, ": ")
		if !ok {
			path, msg = "", m
		}
		fs = append(fs, Finding{Test: "schema", Path: path, Message: msg})
	}
	return fs
}

func (d *Document) schemaInput() any {
	// Re-decode without UseNumber: the schema library handles float64 and json.Number, but
	// plain decoding keeps it on its best-tested path.
	b, _ := json.Marshal(d.Raw)
	var v any
	json.Unmarshal(b, &v)
	return v
}

// RunTest runs one mandatory test by id, for tests and diagnostics.
func (d *Document) RunTest(id string) ([]Finding, bool) {
	for _, t := range mandatoryTests {
		if t.id == id {
			return t.check(d), true
		}
	}
	return nil, false
}

// MandatoryTestIDs lists the ids of the implemented mandatory tests, in order.
func MandatoryTestIDs() []string {
	ids := make([]string, len(mandatoryTests))
	for i, t := range mandatoryTests {
		ids[i] = t.id
	}
	return ids
}

type mandatoryTest struct {
	id    string
	check func(*Document) []Finding
}

var mandatoryTests []mandatoryTest

// register adds a mandatory test; each mandatory_*.go file registers its tests in init.
func register(id string, check func(*Document) []Finding) {
	mandatoryTests = append(mandatoryTests, mandatoryTest{id: id, check: check})
	sort.SliceStable(mandatoryTests, func(i, j int) bool { return testIDLess(mandatoryTests[i].id, mandatoryTests[j].id) })
}

// testIDLess orders test ids numerically: 6.1.2 before 6.1.10, 6.1.27.2 before 6.1.27.10.
func testIDLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Path != fs[j].Path {
			return fs[i].Path < fs[j].Path
		}
		return testIDLess(fs[i].Test, fs[j].Test)
	})
}
