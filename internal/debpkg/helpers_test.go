package debpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// needTool skips a test when a program is missing, except under CI=true,
// where the test must run.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true: %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

// buildDeb builds a package with the real dpkg-deb from a control file and
// returns its path. compress is dpkg-deb's -Z value; extra arguments (such
// as -z9) go before --build.
func buildDeb(t *testing.T, control string, compress string, extra ...string) string {
	t.Helper()
	needTool(t, "dpkg-deb")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	name := "pkg"
	for _, line := range strings.Split(control, "\n") {
		if v, ok := strings.CutPrefix(line, "Package: "); ok {
			name = strings.ToLower(v)
		}
	}
	files := map[string]string{
		"DEBIAN/control":                           control,
		"DEBIAN/postinst":                          "#!/bin/sh\nset -e\nexit 0\n",
		"usr/share/doc/" + name + "/copyright":     "Public domain.\n",
		"usr/share/doc/" + name + "/README.Debian": strings.Repeat("Some documentation.\n", 500),
		"usr/lib/" + name + "/data.bin":            strings.Repeat("\x00\x01\x02\x03", 10000),
	}
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, "postinst") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil { // despite the umask
			t.Fatal(err)
		}
	}
	// dpkg-deb insists on 0755-ish directories.
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return err
	})
	out := filepath.Join(dir, name+".deb")
	args := append([]string{"--root-owner-group", "-Z" + compress}, extra...)
	args = append(args, "--build", root, out)
	cmd := exec.Command("dpkg-deb", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb %v: %v\n%s", args, err, b)
	}
	return out
}

// dpkgFields returns what dpkg-deb --field prints for the named fields.
func dpkgFields(t *testing.T, deb string, names ...string) map[string]string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", append([]string{"--field", deb}, names...)...).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --field %s: %v", deb, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("dpkg-deb --field printed %q", line)
		}
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// dpkgParagraph parses the whole control file as dpkg-deb --field prints it.
func dpkgParagraph(t *testing.T, deb string) Paragraph {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--field", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --field %s: %v", deb, err)
	}
	p, err := ParseParagraph(out)
	if err != nil {
		t.Fatalf("parsing dpkg-deb's output: %v", err)
	}
	return p
}

// Building blocks for hand-made (often broken) packages.

type member struct {
	name string
	data []byte
}

// arArchive writes an ar archive the way dpkg-deb does.
func arArchive(members ...member) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 1700000000, 0, 0, "100644", len(m.data))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

type tarFile struct {
	name    string
	content string
	typ     byte // 0: regular file
}

func tarArchive(t testing.TB, files ...tarFile) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.content)), Typeflag: tar.TypeReg}
		if f.typ != 0 {
			h.Typeflag, h.Size, h.Linkname = f.typ, 0, "elsewhere"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if f.typ == 0 {
			tw.Write([]byte(f.content))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func xzc(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w, err := xz.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

const minimalControl = "Package: tiny\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: tiny test package\n"

// handDeb assembles debian-binary, a gzip control member with the given
// control file, and a data member.
func handDeb(t testing.TB, control string) []byte {
	return arArchive(
		member{"debian-binary", []byte("2.0\n")},
		member{"control.tar.gz", gz(t, tarArchive(t, tarFile{name: "./control", content: control}))},
		member{"data.tar.gz", gz(t, tarArchive(t))},
	)
}
