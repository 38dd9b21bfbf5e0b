package csaf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sharedCSAF is the OASIS reference data beside the project (see ../shared/README.md).
const sharedCSAF = "../../../shared/testdata/csaf"

// needShared skips without ../shared (a user's clone) and fails under CI=true.
func needShared(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(sharedCSAF); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: the CSAF corpus tests must run in CI", sharedCSAF)
		}
		t.Skipf("CSAF corpus tests skipped: %s is absent (it sits beside the project in development and CI)", sharedCSAF)
	}
	return sharedCSAF
}

type testcase struct {
	ID       string `json:"id"`
	Group    string `json:"group"`
	Failures []struct {
		Name string `json:"name"`
	} `json:"failures"`
	Valid []struct {
		Name string `json:"name"`
	} `json:"valid"`
}

// TestMandatoryCorpus runs every mandatory test on the official test corpus: each file listed
// as a failure of test X must fail X, each file listed as valid for X must pass X. It reports
// the score per test id and fails on any wrong verdict or any unimplemented test.
func TestMandatoryCorpus(t *testing.T) {
	dir := needShared(t)
	b, err := os.ReadFile(filepath.Join(dir, "tests", "testcases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tc struct{ Tests []testcase }
	if err := json.Unmarshal(b, &tc); err != nil {
		t.Fatal(err)
	}
	var report []string
	total, right := 0, 0
	for _, c := range tc.Tests {
		if c.Group != "mandatory" {
			continue
		}
		score, n := 0, 0
		check := func(name string, wantFail bool) {
			n++
			data, err := os.ReadFile(filepath.Join(dir, "tests", name))
			if err != nil {
				t.Errorf("%s: %v", c.ID, err)
				return
			}
			d, err := Parse(data)
			if err != nil {
				t.Errorf("%s %s: %v", c.ID, name, err)
				return
			}
			fs, ok := d.RunTest(c.ID)
			if !ok {
				t.Errorf("mandatory test %s is not implemented", c.ID)
				return
			}
			if failed := len(fs) > 0; failed != wantFail {
				t.Errorf("%s %s: failed=%v, want %v; findings: %v", c.ID, name, failed, wantFail, fs)
				return
			}
			for _, f := range fs {
				if f.Test != c.ID || !strings.HasPrefix(f.Path, "/") || f.Message == "" {
					t.Errorf("%s %s: malformed finding %+v", c.ID, name, f)
					return
				}
			}
			score++
		}
		for _, f := range c.Failures {
			check(f.Name, true)
		}
		for _, f := range c.Valid {
			check(f.Name, false)
		}
		total += n
		right += score
		report = append(report, fmt.Sprintf("%-9s %d/%d", c.ID, score, n))
	}
	t.Logf("mandatory tests on the OASIS corpus: %d/%d verdicts right\n%s", right, total, strings.Join(report, "\n"))
}

// Every real example advisory is valid: schema and all mandatory tests.
func TestExamplesAreValid(t *testing.T) {
	dir := needShared(t)
	var files []string
	filepath.Walk(filepath.Join(dir, "examples"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	if len(files) < 10 {
		t.Fatalf("only %d example files", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Validate(data); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
