//go:build linux

package installer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTools skips the test when a Debian tool is missing or the test does not run as root
// (dpkg insists on it), except under CI=true, where that fails the run.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	why := ""
	switch {
	case len(missing) > 0:
		why = "missing " + strings.Join(missing, ", ")
	case os.Geteuid() != 0:
		why = "dpkg needs root"
	default:
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// buildDeb builds a package with one file, usr/share/<name>/hello.txt holding
// "<name> <version>\n", and the given postinst script ("" for none), into dir.
func buildDeb(t *testing.T, dir, name, version, postinst string) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), name)
	write := func(rel, content string, mode os.FileMode) {
		p := filepath.Join(tree, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("DEBIAN/control", fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\n"+
		"Maintainer: patchday tests <tests@example.org>\nDescription: installer test package\n", name, version), 0o644)
	write("usr/share/"+name+"/hello.txt", name+" "+version+"\n", 0o644)
	if postinst != "" {
		write("DEBIAN/postinst", "#!/bin/sh\nset -e\n"+postinst+"\n", 0o755)
	}
	deb := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", name, version))
	out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", tree, deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

// newRoot makes an empty system for dpkg --root: an empty package database and /var/run.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// dbStatus asks dpkg-query itself, not the code under test, about pkg in root's database:
// "<status> <version>", or "" when the database does not know it.
func dbStatus(t *testing.T, root, pkg string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"),
		"-W", "-f=${Status} ${Version}", pkg).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// hostHas reports whether the machine's own dpkg database knows pkg.
func hostHas(pkg string) bool {
	return exec.Command("dpkg-query", "-W", pkg).Run() == nil
}

// countIn counts the lines of a file mentioning s (0 for a missing file).
func countIn(path, s string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte(s))
}

// damageData flips bytes in the middle of the data member of a .deb, keeping its size, so
// that the control part still reads and dpkg fails while unpacking.
func damageData(t *testing.T, deb, out string) {
	t.Helper()
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("data.tar"))
	if i < 0 || len(b)-(i+60) < 40 {
		t.Fatalf("%s: no data member found", deb)
	}
	data := b[i+60:]
	for k := len(data) / 3; k < len(data)/3+16; k++ {
		data[k] ^= 0xff
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
