package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The release calendar, out-of-band releases and scheduling an advisory, from the command line.
func TestReleaseCommands(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")
	out := ok(t, "", "release-calendar", "set", "--ordinal", "2", "--weekday", "tuesday", "--time", "09:30", "--zone", "Europe/Berlin", "--notice-days", "5")
	if !strings.Contains(out, "Europe/Berlin") || !strings.Contains(out, "09:30") {
		t.Errorf("release-calendar set: %s", out)
	}
	if out := ok(t, "", "release-calendar", "show"); !strings.Contains(out, "Europe/Berlin") {
		t.Errorf("release-calendar show: %s", out)
	}
	// The API's field errors name the flag that set the field.
	fails(t, 1, "--zone ", "", "release-calendar", "set", "--zone", "Mars/Olympus")
	fails(t, 1, "--notice-days must be from 0 to 20", "", "release-calendar", "set", "--notice-days", "99")
	fails(t, 1, "--at must be in the future", "", "release", "create", "--at", "2020-01-01T00:00:00Z")

	list := ok(t, "", "release", "list", "--count", "2", "-o", "json")
	var days []struct {
		At   time.Time `json:"release_at"`
		Kind string    `json:"kind"`
	}
	if err := json.Unmarshal([]byte(list), &days); err != nil || len(days) != 2 {
		t.Fatalf("release list: %v\n%s", err, list)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, d := range days {
		local := d.At.In(berlin)
		if local.Weekday() != time.Tuesday || local.Day() < 8 || local.Day() > 14 || local.Hour() != 9 || local.Minute() != 30 {
			t.Errorf("release day %s is not the second Tuesday at 09:30 in Berlin", local)
		}
	}
	oob := time.Now().Add(96 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	if out := ok(t, "", "release", "create", "--at", oob, "--title", "emergency fix"); !strings.Contains(out, "emergency fix") && !strings.Contains(out, oob[:10]) {
		t.Errorf("release create: %s", out)
	}
	fails(t, 1, "at", "", "release", "create", "--at", "2001-01-01T00:00:00Z")

	// An advisory released in a month is scheduled; it moves to the out-of-band release.
	var doc map[string]any
	b, err := os.ReadFile(filepath.Join("..", "server", "testdata", "minimal-csaf.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &doc)
	tr := doc["document"].(map[string]any)["tracking"].(map[string]any)
	later := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	tr["id"], tr["current_release_date"], tr["initial_release_date"] = "ACME-2026-0077", later, later
	tr["revision_history"] = []any{map[string]any{"date": later, "number": "1", "summary": "Initial version."}}
	f := filepath.Join(t.TempDir(), "acme.json")
	b, _ = json.Marshal(doc)
	os.WriteFile(f, b, 0o644)
	ok(t, "", "advisory", "import", f)
	if out := ok(t, "", "advisory", "schedule", "ACME-2026-0077", "--release", oob); !strings.Contains(out, "Scheduled ACME-2026-0077 for the release at "+oob) {
		t.Errorf("advisory schedule: %s", out)
	}
	fails(t, 1, "release", "", "advisory", "schedule", "ACME-2026-0077", "--release", "2031-05-05T05:05:05Z")
	if out := ok(t, "", "release", "list", "--count", "3"); !strings.Contains(out, "ACME-2026-0077") {
		t.Errorf("release list lacks the scheduled advisory:\n%s", out)
	}
	// The advisory's list and page say it waits for its release.
	day := oob[:len("2006-01-02")]
	if out := ok(t, "", "advisory", "list"); !strings.Contains(out, "scheduled "+day) {
		t.Errorf("advisory list does not show the scheduled release %s:\n%s", day, out)
	}
	if out := ok(t, "", "advisory", "show", "ACME-2026-0077"); !strings.Contains(out, "embargoed until "+oob) {
		t.Errorf("advisory show does not show the embargo until %s:\n%s", oob, out)
	}
	// A release no advisory waits for can be cancelled.
	spare := time.Now().Add(100 * time.Hour).UTC().Truncate(time.Second).Add(17 * time.Second).Format(time.RFC3339)
	ok(t, "", "release", "create", "--at", spare)
	if out := ok(t, "", "release", "delete", spare); out != "Cancelled the release at "+spare+"\n" {
		t.Errorf("release delete: %q", out)
	}
	fails(t, 1, "wait for the release", "", "release", "delete", oob)
	// An exploit in the wild: published now.
	if out := ok(t, "", "advisory", "schedule", "ACME-2026-0077", "--release", "now"); out != "Published ACME-2026-0077 now\n" {
		t.Errorf("advisory schedule --release now: %q", out)
	}
	if out := ok(t, "", "advisory", "show", "ACME-2026-0077"); strings.Contains(out, "embargoed") {
		t.Errorf("still embargoed after --release now:\n%s", out)
	}
}
