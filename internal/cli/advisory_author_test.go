package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/csaf"
)

func TestAdvisoryCreateAndEdit(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")
	form := "../csaf/testdata/advisory.yaml"

	// --print writes a valid document without importing it.
	doc := ok(t, "", "advisory", "create", "-f", form, "--print")
	if _, err := csaf.Validate([]byte(doc)); err != nil {
		t.Fatalf("printed document is invalid: %v", err)
	}
	if out := ok(t, "", "advisory", "list"); strings.Contains(out, "EXS-2026-0042") {
		t.Fatal("--print imported the advisory")
	}

	out := ok(t, "", "advisory", "create", "-f", form)
	if !strings.Contains(out, "EXS-2026-0042: advisory 1, version 1 (revision 1)") {
		t.Fatalf("create: %s", out)
	}
	// Edit: change the title in the form; a new revision with the summary.
	b, _ := os.ReadFile(form)
	edited := filepath.Join(t.TempDir(), "edited.yaml")
	os.WriteFile(edited, []byte(strings.Replace(string(b), "remote code execution and information disclosure", "remote code execution, information disclosure", 1)), 0o600)
	out = ok(t, "", "advisory", "edit", "EXS-2026-0042", "-f", edited, "--summary", "Clarified the title.")
	if !strings.Contains(out, "EXS-2026-0042: advisory 1, version 2 (revision 2)") {
		t.Fatalf("edit: %s", out)
	}
	a := jsonOut[apiAdvisory](t, ok(t, "", "advisory", "show", "EXS-2026-0042", "-o", "json"))
	if len(a.RevisionList) != 2 || a.RevisionList[1].Summary != "Clarified the title." || !strings.Contains(a.Title, "execution, information") {
		t.Fatalf("after edit: %+v", a)
	}
	// Revision 1 is still the original.
	if v1 := ok(t, "", "advisory", "export", "EXS-2026-0042", "--revision", "1"); strings.Contains(v1, "execution, information") {
		t.Fatal("revision 1 changed")
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("tracking_id: X-1\ntitle: T\ncolour: red\n"), 0o600)
	fails(t, 1, "colour", "", "advisory", "create", "-f", bad)
	fails(t, 2, "--summary is required", "", "advisory", "edit", "1", "-f", form)
}
