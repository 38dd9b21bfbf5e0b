package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Changing the release calendar moves an advisory scheduled for the next monthly release
// day with it, and says so.
func TestReleaseCalendarSetMovesScheduled(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")

	var doc map[string]any
	b, err := os.ReadFile(filepath.Join("..", "server", "testdata", "minimal-csaf.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &doc)
	tr := doc["document"].(map[string]any)["tracking"].(map[string]any)
	later := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	tr["id"], tr["current_release_date"], tr["initial_release_date"] = "ACME-2026-0099", later, later
	tr["revision_history"] = []any{map[string]any{"date": later, "number": "1", "summary": "Initial version."}}
	f := filepath.Join(t.TempDir(), "acme.json")
	b, _ = json.Marshal(doc)
	os.WriteFile(f, b, 0o644)
	ok(t, "", "advisory", "import", f)
	out := ok(t, "", "advisory", "schedule", "ACME-2026-0099", "--release", "next")
	_, at, _ := strings.Cut(strings.TrimSpace(out), "for the release at ")
	next, err := time.Parse(time.RFC3339, at)
	if err != nil {
		t.Fatalf("advisory schedule: %s", out)
	}

	// An hour later the same day (UTC): always still ahead.
	out = ok(t, "", "release-calendar", "set", "--time", "11:00")
	moved := next.Add(time.Hour)
	if want := "Moved 1 scheduled advisory to the new release time " + moved.UTC().Format("2006-01-02 15:04") + " UTC."; !strings.Contains(out, want) {
		t.Errorf("release-calendar set says\n%s\nwant %q", out, want)
	}
	list := ok(t, "", "release", "list", "--count", "3", "-o", "json")
	var days []struct {
		At            time.Time `json:"release_at"`
		Kind          string    `json:"kind"`
		AdvisoryCount int       `json:"advisory_count"`
	}
	if err := json.Unmarshal([]byte(list), &days); err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		switch {
		case d.At.Equal(next):
			t.Errorf("a release remains at the old time: %+v", d)
		case d.At.Equal(moved) && (d.Kind != "monthly" || d.AdvisoryCount != 1):
			t.Errorf("the moved release: %+v", d)
		case d.AdvisoryCount != 0 && !d.At.Equal(moved):
			t.Errorf("advisories elsewhere: %+v", d)
		}
	}

	// The JSON answer counts them; a change of the notice alone moves nothing.
	var set struct {
		Moved int `json:"moved_advisories"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "release-calendar", "set", "--time", "12:00", "-o", "json")), &set); err != nil || set.Moved != 1 {
		t.Errorf("release-calendar set -o json: %+v %v", set, err)
	}
	if out := ok(t, "", "release-calendar", "set", "--notice-days", "4"); strings.Contains(out, "Moved") {
		t.Errorf("a change of the notice moved advisories:\n%s", out)
	}
}
