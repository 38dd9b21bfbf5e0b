package csaf

import (
	"encoding/json"
	"strings"
	"testing"
)

// revExample is Red Hat's RHSA-2021:5217: final, version 1, one revision "1" of
// 2021-12-20T16:16:00Z.
func revExample(t *testing.T) map[string]any { return tfxExample(t, "rhsa-2021_5217.json") }

// revSetTracking replaces status, version and revision history; each history item is
// "date number".
func revSetTracking(status, version string, history ...string) func(t *testing.T, m map[string]any) {
	return func(t *testing.T, m map[string]any) {
		t.Helper()
		if status != "" {
			tfxSet(t, m, "/document/tracking/status", `"`+status+`"`)
		}
		if version != "" {
			tfxSet(t, m, "/document/tracking/version", `"`+version+`"`)
		}
		if history != nil {
			var items []map[string]string
			for _, h := range history {
				date, number, _ := strings.Cut(h, " ")
				items = append(items, map[string]string{"date": date, "number": number, "summary": "change"})
			}
			b, _ := json.Marshal(items)
			tfxSet(t, m, "/document/tracking/revision_history", string(b))
		}
	}
}

const revH = "/document/tracking/revision_history/"

func TestSortedRevisionHistory(t *testing.T) {
	tfxTable(t, "6.1.14", revExample, []tfxCase{
		{name: "example", edit: nil},
		{name: "ascending", edit: revSetTracking("", "3",
			"2021-12-20T16:16:00Z 1", "2021-12-21T10:00:00Z 2", "2021-12-22T10:00:00Z 3")},
		{name: "newer date, lower number", edit: revSetTracking("", "",
			"2021-12-20T16:16:00Z 1", "2021-12-19T10:00:00Z 2"),
			paths: []string{revH + "0/number"}, msg: "revision history is not sorted by number: 1 comes after 2"},
		{name: "appended item with an earlier date", edit: func(t *testing.T, m map[string]any) {
			tfxSet(t, m, revH+"-", `{"date":"2021-12-19T16:16:00Z","number":"2","summary":"x"}`)
		}, paths: []string{revH + "0/number"}},
		{name: "time zones count", edit: revSetTracking("", "",
			// 17:00+02:00 is 15:00Z, before 16:16Z, although it sorts after it as text.
			"2021-12-20T16:16:00Z 1", "2021-12-20T17:00:00+02:00 2"),
			paths: []string{revH + "0/number"}},
		{name: "time zones count, sorted", edit: revSetTracking("", "",
			"2021-12-20T16:16:00Z 1", "2021-12-20T19:00:00+02:00 2")},
		{name: "fractional seconds count", edit: revSetTracking("", "",
			"2021-07-21T10:00:00.00010Z 1", "2021-07-21T10:00:00.000Z 2"),
			paths: []string{revH + "0/number"}},
		{name: "same date sorts by number", edit: revSetTracking("", "",
			"2021-12-20T16:16:00Z 2", "2021-12-20T16:16:00Z 1")},
		{name: "integers compare as numbers", edit: revSetTracking("", "",
			"2021-07-21T10:00:00Z 9", "2021-07-22T10:00:00Z 10")},
		{name: "integers compare as numbers, unsorted", edit: revSetTracking("", "",
			"2021-07-21T10:00:00Z 10", "2021-07-22T10:00:00Z 9"),
			paths: []string{revH + "1/number"}, msg: "9 comes after 10"},
		{name: "semantic versions by precedence", edit: revSetTracking("", "1.10.0",
			"2021-07-21T10:00:00Z 1.9.0", "2021-07-22T10:00:00Z 1.10.0")},
		{name: "semantic versions by precedence, unsorted", edit: revSetTracking("", "1.10.0",
			"2021-07-21T10:00:00Z 1.10.0", "2021-07-22T10:00:00Z 1.9.0"),
			paths: []string{revH + "1/number"}},
		{name: "pre-release before release", edit: revSetTracking("", "",
			"2021-07-21T10:00:00Z 1.0.0-rc.2", "2021-07-22T10:00:00Z 1.0.0")},
		{name: "release before pre-release", edit: revSetTracking("", "",
			"2021-07-21T10:00:00Z 1.0.0", "2021-07-22T10:00:00Z 1.0.0-rc.2"),
			paths: []string{revH + "1/number"}},
		{name: "pre-release identifiers", edit: revSetTracking("", "",
			"2021-07-21T10:00:00Z 1.0.0-beta.11", "2021-07-22T10:00:00Z 1.0.0-beta.2"),
			paths: []string{revH + "1/number"}},
		{name: "two inversions", edit: revSetTracking("", "",
			"2021-07-21T10:00:00Z 2", "2021-07-22T10:00:00Z 1", "2021-07-23T10:00:00Z 4", "2021-07-24T10:00:00Z 3"),
			paths: []string{revH + "1/number", revH + "3/number"}},
		{name: "mixed schemes sort as n.0.0", edit: revSetTracking("", "",
			"2021-07-21T10:00:00Z 1.0.0", "2021-07-22T10:00:00Z 2")},
		{name: "bad date is left to the schema", edit: revSetTracking("", "",
			"yesterday 2", "2021-07-22T10:00:00Z 1")},
	})
}

func TestTranslator(t *testing.T) {
	tfxTable(t, "6.1.15", revExample, []tfxCase{
		{name: "vendor"},
		{name: "translator without source language", edit: func(t *testing.T, m map[string]any) {
			tfxSet(t, m, "/document/publisher/category", `"translator"`)
		}, paths: []string{"/document/source_lang"}, msg: "translator"},
		{name: "translator with empty source language", edit: func(t *testing.T, m map[string]any) {
			tfxSet(t, m, "/document/publisher/category", `"translator"`)
			tfxSet(t, m, "/document/source_lang", `""`)
		}, paths: []string{"/document/source_lang"}},
		{name: "translator with source language", edit: func(t *testing.T, m map[string]any) {
			tfxSet(t, m, "/document/publisher/category", `"translator"`)
			tfxSet(t, m, "/document/source_lang", `"de"`)
		}},
	})
}

func TestLatestDocumentVersion(t *testing.T) {
	const v = "/document/tracking/version"
	tfxTable(t, "6.1.16", revExample, []tfxCase{
		{name: "example"},
		{name: "version behind", edit: revSetTracking("", "1", "2021-12-20T16:16:00Z 1", "2021-12-21T16:16:00Z 2"),
			paths: []string{v}, msg: "document version 1 is not the number of the latest revision 2"},
		{name: "version ahead", edit: revSetTracking("", "2"), paths: []string{v}},
		{name: "latest by date, not by position", edit: revSetTracking("", "1", "2021-12-21T16:16:00Z 1", "2021-12-20T16:16:00Z 2")},
		{name: "same date: the higher number is the latest", edit: revSetTracking("", "1", "2021-12-20T16:16:00Z 2", "2021-12-20T16:16:00Z 1"),
			paths: []string{v}},
		{name: "same date: the higher number is the latest, valid", edit: revSetTracking("", "2", "2021-12-20T16:16:00Z 2", "2021-12-20T16:16:00Z 1")},
		{name: "equal instants in two time zones", edit: revSetTracking("", "1", "2021-12-20T16:16:00Z 1", "2021-12-20T18:16:00+02:00 2"),
			paths: []string{v}},
		{name: "build metadata is ignored", edit: revSetTracking("", "2.0.0+21AF26D3", "2021-07-21T09:00:00Z 1.0.0", "2021-07-21T10:00:00Z 2.0.0+143D5")},
		{name: "draft ignores the pre-release", edit: revSetTracking("draft", "2.0.0-rc.1", "2021-07-21T09:00:00Z 1.0.0", "2021-07-21T10:00:00Z 2.0.0")},
		{name: "final does not ignore the pre-release", edit: revSetTracking("final", "2.0.0-rc.1", "2021-07-21T09:00:00Z 1.0.0", "2021-07-21T10:00:00Z 2.0.0"),
			paths: []string{v}},
		{name: "integer and semantic are different values", edit: revSetTracking("", "1.0.0"), paths: []string{v}},
	})
}

func TestDocumentStatusDraft(t *testing.T) {
	const s = "/document/tracking/status"
	tfxTable(t, "6.1.17", revExample, []tfxCase{
		{name: "final 1"},
		{name: "final 0", edit: revSetTracking("final", "0", "2021-12-20T16:16:00Z 0"), paths: []string{s}, msg: "document status is final"},
		{name: "interim 0.9.5", edit: revSetTracking("interim", "0.9.5", "2021-12-20T16:16:00Z 0.9.5"), paths: []string{s}},
		{name: "final pre-release", edit: revSetTracking("final", "1.0.0-alpha", "2021-12-20T16:16:00Z 1.0.0"), paths: []string{s}},
		{name: "draft 0", edit: revSetTracking("draft", "0", "2021-12-20T16:16:00Z 0")},
		{name: "draft pre-release", edit: revSetTracking("draft", "0.1.0-rc.1", "2021-12-20T16:16:00Z 0.1.0")},
		{name: "final 1.0.0+build", edit: revSetTracking("final", "1.0.0+b7", "2021-12-20T16:16:00Z 1.0.0")},
	})
}

func TestReleasedRevisionHistory(t *testing.T) {
	tfxTable(t, "6.1.18", revExample, []tfxCase{
		{name: "example"},
		{name: "final with 0", edit: revSetTracking("final", "1", "2021-04-17T10:00:00Z 0", "2021-12-20T16:16:00Z 1"),
			paths: []string{revH + "0/number"}, msg: "0"},
		{name: "interim with 0.y.z", edit: revSetTracking("interim", "1.0.0",
			"2021-04-17T10:00:00Z 0.1.0", "2021-04-18T10:00:00Z 0.2.0", "2021-12-20T16:16:00Z 1.0.0"),
			paths: []string{revH + "0/number", revH + "1/number"}},
		{name: "draft with 0", edit: revSetTracking("draft", "1", "2021-04-17T10:00:00Z 0", "2021-12-20T16:16:00Z 1")},
		{name: "final with 10", edit: revSetTracking("final", "10", "2021-12-20T16:16:00Z 10")},
	})
}

func TestPreReleaseRevisions(t *testing.T) {
	tfxTable(t, "6.1.19", revExample, []tfxCase{
		{name: "example"},
		{name: "release candidate", edit: revSetTracking("final", "1.0.0", "2021-04-22T10:00:00Z 1.0.0-rc", "2021-04-23T10:00:00Z 1.0.0"),
			paths: []string{revH + "0/number"}, msg: "pre-release version 1.0.0-rc"},
		{name: "also in drafts", edit: revSetTracking("draft", "1.0.0-rc", "2021-04-22T10:00:00Z 1.0.0-rc"),
			paths: []string{revH + "0/number"}},
		{name: "build metadata is no pre-release", edit: revSetTracking("final", "1.0.0", "2021-04-22T10:00:00Z 1.0.0+x-y")},
	})
}

func TestNonDraftDocumentVersion(t *testing.T) {
	const v = "/document/tracking/version"
	tfxTable(t, "6.1.20", revExample, []tfxCase{
		{name: "example"},
		{name: "interim alpha", edit: revSetTracking("interim", "1.0.0-alpha", "2021-12-20T16:16:00Z 1.0.0"),
			paths: []string{v}, msg: "document status is interim but version 1.0.0-alpha is a pre-release"},
		{name: "final alpha", edit: revSetTracking("final", "1.0.0-alpha", "2021-12-20T16:16:00Z 1.0.0"), paths: []string{v}},
		{name: "draft alpha", edit: revSetTracking("draft", "1.0.0-alpha", "2021-12-20T16:16:00Z 1.0.0")},
		{name: "final with build metadata", edit: revSetTracking("final", "1.0.0+alpha", "2021-12-20T16:16:00Z 1.0.0")},
	})
}

func TestMissingRevision(t *testing.T) {
	tfxTable(t, "6.1.21", revExample, []tfxCase{
		{name: "example"},
		{name: "gap", edit: revSetTracking("final", "3", "2021-04-22T10:00:00Z 1", "2021-07-21T10:00:00Z 3"),
			paths: []string{revH + "1/number"}, msg: "revision history misses version 2 between 1 and 3"},
		{name: "starts at 2", edit: revSetTracking("final", "3", "2021-04-22T10:00:00Z 2", "2021-07-21T10:00:00Z 3"),
			paths: []string{revH + "0/number"}, msg: "starts with version 2, not 0 or 1"},
		{name: "starts at 0", edit: revSetTracking("draft", "1", "2021-03-22T10:00:00Z 0", "2021-04-22T10:00:00Z 1")},
		{name: "minor versions may jump", edit: revSetTracking("final", "1.5.0", "2021-04-22T10:00:00Z 1.0.0", "2021-07-21T10:00:00Z 1.5.0")},
		{name: "major versions may not", edit: revSetTracking("final", "3.0.0", "2021-04-22T10:00:00Z 1.0.0", "2021-07-21T10:00:00Z 3.0.0"),
			paths: []string{revH + "1/number"}, msg: "misses major version 2 "},
		{name: "semantic from 0.1.0", edit: revSetTracking("final", "2.0.0",
			"2021-04-20T10:00:00Z 0.1.0", "2021-04-21T10:00:00Z 0.2.0", "2021-04-22T10:00:00Z 1.0.0", "2021-07-21T10:00:00Z 2.0.0")},
		{name: "wider gap", edit: revSetTracking("final", "4", "2021-04-22T10:00:00Z 1", "2021-07-21T10:00:00Z 4"),
			paths: []string{revH + "1/number"}, msg: "versions 2 to 3 between 1 and 4"},
		{name: "present but later by date", edit: revSetTracking("final", "3",
			"2021-04-22T10:00:00Z 1", "2021-05-22T10:00:00Z 3", "2021-06-22T10:00:00Z 2"),
			paths: []string{revH + "1/number"}, msg: "(present, but later by date)"},
		{name: "sorted by date, not by position", edit: revSetTracking("final", "3",
			"2021-06-22T10:00:00Z 3", "2021-04-22T10:00:00Z 1", "2021-05-22T10:00:00Z 2")},
		{name: "same date sorts by number", edit: revSetTracking("final", "3",
			"2021-06-22T10:00:00Z 3", "2021-06-22T10:00:00Z 1", "2021-06-22T10:00:00Z 2")},
		{name: "huge gap", edit: revSetTracking("final", "100000000000000000000",
			"2021-04-22T10:00:00Z 1", "2021-07-21T10:00:00Z 100000000000000000000"),
			paths: []string{revH + "1/number"}, msg: "versions 2 to 99999999999999999999"},
	})
}

func TestMultipleRevisionDefinition(t *testing.T) {
	tfxTable(t, "6.1.22", revExample, []tfxCase{
		{name: "example"},
		{name: "twice 1", edit: revSetTracking("final", "1", "2021-07-20T10:00:00Z 1", "2021-07-21T10:00:00Z 1"),
			paths: []string{revH + "1/number"}, msg: "version 1 more than once (also at " + revH + "0/number)"},
		{name: "three times", edit: revSetTracking("final", "2",
			"2021-07-20T10:00:00Z 1.0.0", "2021-07-21T10:00:00Z 1.0.0", "2021-07-22T10:00:00Z 2.0.0", "2021-07-23T10:00:00Z 1.0.0"),
			paths: []string{revH + "1/number", revH + "3/number"}},
		// Different build metadata makes different version numbers (6.2.x warns about build
		// metadata in the revision history).
		{name: "build metadata differs", edit: revSetTracking("final", "1.0.0",
			"2021-07-20T10:00:00Z 1.0.0+a", "2021-07-21T10:00:00Z 1.0.0+b")},
	})
}

func TestMixedVersioning(t *testing.T) {
	tfxTable(t, "6.1.30", revExample, []tfxCase{
		{name: "example"},
		{name: "semantic history, integer version", edit: revSetTracking("final", "2",
			"2021-07-21T09:00:00Z 1.0.0", "2021-07-21T10:00:00Z 2"),
			paths: []string{revH + "0/number"}, msg: "semantic version 1.0.0 mixed with integer versioning of /document/tracking/version (2)"},
		{name: "integer history, semantic version", edit: revSetTracking("final", "2.0.0",
			"2021-07-21T09:00:00Z 1", "2021-07-21T10:00:00Z 2"),
			paths: []string{revH + "0/number", revH + "1/number"}},
		{name: "all semantic", edit: revSetTracking("final", "2.0.0",
			"2021-07-21T09:00:00Z 1.0.0", "2021-07-21T10:00:00Z 2.0.0")},
		{name: "bad document version: the first revision by date decides", edit: revSetTracking("final", "v2",
			"2021-07-21T10:00:00Z 2", "2021-07-21T09:00:00Z 1.0.0"),
			paths: []string{revH + "0/number"}},
	})
}

// Every revision test is silent on a document without tracking data (the schema reports it).
func TestRevisionTestsOnEmptyDocument(t *testing.T) {
	for _, id := range []string{"6.1.14", "6.1.15", "6.1.16", "6.1.17", "6.1.18", "6.1.19", "6.1.20", "6.1.21", "6.1.22", "6.1.30"} {
		for _, doc := range []string{`{}`, `{"document":{"tracking":{"revision_history":[1,"x",null,{}],"version":7,"status":[]}}}`} {
			if fs := tfxRun(t, tfxJSON(t, doc), id); len(fs) > 0 {
				t.Errorf("%s on %s: %v", id, doc, fs)
			}
		}
	}
}
