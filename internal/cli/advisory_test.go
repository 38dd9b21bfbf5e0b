package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/csaf"
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

// advisory show reads the advisory like a bulletin: the workaround-only advisory of the demo
// shows its summary, mitigating factors, workaround, FAQ and products, wrapped, and -o json
// has the same under "bulletin".
func TestAdvisoryShowBulletin(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")
	form := filepath.Join(t.TempDir(), "workaround.yaml")
	os.WriteFile(form, []byte(`tracking_id: EXS-2026-1103
title: "Example Mail Server: denial of service through crafted headers"
publisher: {name: Example Software PSIRT, namespace: "https://security.example.com"}
severity: Moderate
release_date: 2026-03-10T17:00:00Z
summary: >
  A message with thousands of nested MIME parts makes the content filter use all memory.
  A fix is in preparation; until then, limit the nesting depth.
mitigating_factors:
  - Servers that do not run the content filter are not affected.
  - "The default memory limit of the filter process stops the attack from affecting other services. \e[31mred\e[0m"
workarounds:
  - text: Set max_mime_depth = 32 in filter.conf and restart the filter.
    products: mail-4.96
faq:
  - question: When will an update be available?
    answer: In the next monthly release, unless exploitation makes an earlier release necessary.
references:
  - url: https://security.example.com/advisories/EXS-2026-1103
    summary: Advisory on the publisher's site
products:
  - {id: mail-4.96, vendor: Example Software, name: Example Mail Server, version: "4.96.1"}
vulnerabilities:
  - cve: CVE-2026-33031
    title: Uncontrolled recursion in MIME parsing
    description: Deeply nested MIME parts make the content filter recurse until it runs out of memory.
    cwe: CWE-674
    cvss_v31: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L
    severity: Moderate
    exploit_status: "Exploited: no; publicly disclosed: no"
    mitigations:
      - text: Limit the message size at the gateway.
    affected: mail-4.96
`), 0o600)
	ok(t, "", "advisory", "create", "-f", form)

	out := ok(t, "", "advisory", "show", "EXS-2026-1103")
	for _, want := range []string{
		"SEVERITY         medium", // the fields and revisions come first
		"\nSUMMARY\n  A message with thousands of nested MIME parts makes the content filter use all\n  memory. A fix is in preparation; until then, limit the nesting depth.\n",
		"\nMITIGATING FACTORS\n  - Servers that do not run the content filter are not affected.\n" +
			"  - The default memory limit of the filter process stops the attack from\n    affecting other services. [31mred [0m\n",
		"\nCVE-2026-33031 — Uncontrolled recursion in MIME parsing\n  Severity: Moderate\n  CVSS 3.1: 5.3 medium (CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L)\n" +
			"  Weakness: CWE-674 Uncontrolled Recursion\n  Exploit status: Exploited: no; publicly disclosed: no\n",
		"\n  Description\n    Deeply nested MIME parts make the content filter recurse until it runs out\n    of memory.\n",
		"\n  Workarounds\n    - Set max_mime_depth = 32 in filter.conf and restart the filter.\n      For: Example Software Example Mail Server 4.96.1\n",
		"\n  Mitigations\n    - Limit the message size at the gateway.\n      For: Example Software Example Mail Server 4.96.1\n",
		"\n  No fix available\n    - No fix is available yet.\n      For: Example Software Example Mail Server 4.96.1\n",
		"\n  Affected\n    - Example Software Example Mail Server 4.96.1\n",
		"\nFAQ\n  When will an update be available?\n    In the next monthly release, unless exploitation makes an earlier release\n    necessary.\n",
		"\nREFERENCES\n  - Advisory on the publisher's site\n    https://security.example.com/advisories/EXS-2026-1103\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("show writes a terminal escape of the document")
	}
	if strings.Index(out, "REVISION") > strings.Index(out, "SUMMARY") {
		t.Error("the bulletin comes before the revisions")
	}
	for _, ln := range strings.Split(out[strings.Index(out, "SUMMARY"):], "\n") {
		if len([]rune(ln)) > 80 {
			t.Errorf("line longer than 80 columns: %q", ln)
		}
	}
	// Empty parts are left out: no fixes, no blank runs.
	if strings.Contains(out, "\n\n\n") || strings.Contains(out, "Fixes") || strings.Contains(out, "Fixed in") {
		t.Errorf("empty parts shown:\n%s", out)
	}

	var a struct {
		TrackingID string        `json:"tracking_id"`
		Bulletin   csaf.Bulletin `json:"bulletin"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "advisory", "show", "EXS-2026-1103", "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	if a.TrackingID != "EXS-2026-1103" || len(a.Bulletin.Vulnerabilities) != 1 || len(a.Bulletin.MitigatingFactors) != 2 ||
		a.Bulletin.Vulnerabilities[0].Remediations.Workaround[0].Details != "Set max_mime_depth = 32 in filter.conf and restart the filter." {
		t.Fatalf("-o json: %+v", a)
	}

}
