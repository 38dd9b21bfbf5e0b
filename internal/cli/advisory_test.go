package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleFile is a real CSAF advisory of ../shared; without ../shared the test skips (in CI it
// fails).
func exampleFile(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("../../../shared/testdata/csaf/examples/csaf", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CSAF examples missing in CI: %v", err)
		}
		t.Skipf("skipped: the CSAF examples of ../shared are absent (%v)", err)
	}
	return p
}

func TestAdvisoryCommands(t *testing.T) {
	rhsa := exampleFile(t, "rhsa-2021_5217.json")
	cisco := exampleFile(t, "cisco-sa-20180328-smi2.json")
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")

	out := ok(t, "", "advisory", "import", rhsa, cisco)
	if !strings.Contains(out, "RHSA-2021:5217 imported as advisory 1 (version 1)") || !strings.Contains(out, "cisco-sa-20180328-smi2 imported as advisory 2") {
		t.Fatalf("import:\n%s", out)
	}
	// Standard input, and a document already stored.
	data, _ := os.ReadFile(rhsa)
	if out := ok(t, string(data), "advisory", "import", "-"); !strings.Contains(out, "unchanged") {
		t.Fatalf("re-import: %s", out)
	}

	out = ok(t, "", "advisory", "list", "--min-severity", "critical")
	if !strings.Contains(out, "cisco-sa-20180328-smi2") || strings.Contains(out, "RHSA-2021:5217") {
		t.Fatalf("list --min-severity critical:\n%s", out)
	}
	as := jsonOut[[]apiAdvisory](t, ok(t, "", "advisory", "list", "--cve", "CVE-2021-4133", "-o", "json"))
	if len(as) != 1 || as[0].TrackingID != "RHSA-2021:5217" {
		t.Fatalf("list --cve: %+v", as)
	}

	out = ok(t, "", "advisory", "show", "RHSA-2021:5217")
	for _, want := range []string{"RHSA-2021:5217", "Red Hat Single Sign-On", "SEVERITY         high", "Current version"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}

	if exported := ok(t, "", "advisory", "export", "RHSA-2021:5217"); exported != string(data) {
		t.Fatal("export to stdout is not the imported file byte for byte")
	}
	dir := t.TempDir()
	ok(t, "", "advisory", "export", "1", "--revision", "1", "--dir", dir)
	if b, err := os.ReadFile(filepath.Join(dir, "rhsa-2021_5217.json")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("export --dir: %v", err)
	}
	// The file is there: not replaced without --force.
	os.WriteFile(filepath.Join(dir, "rhsa-2021_5217.json"), []byte("other"), 0o644)
	fails(t, 1, "--force", "", "advisory", "export", "1", "--dir", dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "rhsa-2021_5217.json")); string(b) != "other" {
		t.Fatal("export replaced an existing file without --force")
	}
	ok(t, "", "advisory", "export", "1", "--dir", dir, "--force")
	if b, _ := os.ReadFile(filepath.Join(dir, "rhsa-2021_5217.json")); !bytes.Equal(b, data) {
		t.Fatal("export --force did not replace the file")
	}

	// An invalid document: every problem on stderr, exit 1, nothing stored.
	broken := bytes.Replace(data, []byte(`"version": "1"`), []byte(`"version": "2"`), 1)
	bad := filepath.Join(t.TempDir(), "broken.json")
	os.WriteFile(bad, broken, 0o600)
	r := run(t, "", "advisory", "import", bad)
	if r.code != 1 || !strings.HasSuffix(r.stderr, "broken.json: not a valid CSAF 2.0 document\n") || !strings.Contains(r.stderr, "6.1.16 ") || !strings.Contains(r.stderr, "/document/tracking/version") {
		t.Fatalf("findings not listed:\n%s", r.stderr)
	}
	fails(t, 2, "give one or more files", "", "advisory", "import")
	fails(t, 1, `advisory "NOPE-1" not found`, "", "advisory", "show", "NOPE-1")
}
