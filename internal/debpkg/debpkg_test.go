package debpkg

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

const helloControl = `Package: hello-patchday
Version: 1:2.10-3+deb12u1
Architecture: amd64
Maintainer: Patchday Team <team@patchday.example>
Installed-Size: 1234
Pre-Depends: dpkg (>= 1.19)
Depends: libc6 (>= 2.34),
 libssl3 (>= 3.0.0) | libssl1.1,
     zlib1g (>= 1:1.2.0)
Multi-Arch: foreign
Section: utils
Priority: optional
X-Patchday-Note:   spaced value   
Description: example package for patchday's tests
 A longer description, with
 several lines.
 .
 And a paragraph break.
`

// Packages built by the real dpkg-deb, in every compression it offers.
func TestReadDpkgBuilt(t *testing.T) {
	builds := []struct {
		name, compress string
		extra          []string
		member         string
	}{
		{"xz", "xz", nil, "control.tar.xz"},
		{"xz extreme", "xz", []string{"-z9", "-Sextreme"}, "control.tar.xz"},
		{"gzip", "gzip", nil, "control.tar.gz"},
		{"gzip -z1", "gzip", []string{"-z1"}, "control.tar.gz"},
		{"zstd", "zstd", nil, "control.tar.zst"},
		{"zstd -z19", "zstd", []string{"-z19"}, "control.tar.zst"},
		{"none", "none", nil, "control.tar"},
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			deb := buildDeb(t, helloControl, b.compress, b.extra...)
			c, err := ReadFile(deb)
			if err != nil {
				t.Fatal(err)
			}
			want := dpkgFields(t, deb, "Package", "Version", "Architecture")
			if c.Package != want["Package"] || c.Version != want["Version"] || c.Architecture != want["Architecture"] {
				t.Errorf("read %s %s %s, dpkg-deb says %v", c.Package, c.Version, c.Architecture, want)
			}
			if c.Package != "hello-patchday" || c.Version != "1:2.10-3+deb12u1" || c.Architecture != "amd64" {
				t.Errorf("read %s %s %s", c.Package, c.Version, c.Architecture)
			}
			if c.ControlMember != b.member {
				t.Errorf("ControlMember %q, want %q", c.ControlMember, b.member)
			}
			checkHello(t, c)
			// Every field as dpkg-deb prints it.
			if got, want := c.Fields, dpkgParagraph(t, deb); !equalParagraphs(got, want) {
				t.Errorf("fields differ from dpkg-deb --field:\n got %q\nwant %q", got, want)
			}
			// The same from a stream that cannot seek, read in small pieces.
			f, err := os.Open(deb)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c2, err := Read(iotest.HalfReader(struct{ io.Reader }{f}))
			if err != nil {
				t.Fatalf("from a stream: %v", err)
			}
			if !equalParagraphs(c2.Fields, c.Fields) {
				t.Error("stream and file reads differ")
			}
		})
	}
}

func checkHello(t *testing.T, c *Control) {
	t.Helper()
	if c.Maintainer != "Patchday Team <team@patchday.example>" {
		t.Errorf("Maintainer %q", c.Maintainer)
	}
	if c.Depends != "libc6 (>= 2.34), libssl3 (>= 3.0.0) | libssl1.1, zlib1g (>= 1:1.2.0)" {
		t.Errorf("Depends %q", c.Depends)
	}
	if c.InstalledSizeKiB != 1234 {
		t.Errorf("InstalledSizeKiB %d", c.InstalledSizeKiB)
	}
	if c.Description != "example package for patchday's tests" {
		t.Errorf("Description %q", c.Description)
	}
	if got := c.Fields.Value("description"); got != "example package for patchday's tests\n A longer description, with\n several lines.\n .\n And a paragraph break." {
		t.Errorf("full Description %q", got)
	}
	if got := c.Fields.Value("X-Patchday-Note"); got != "spaced value" {
		t.Errorf("X-Patchday-Note %q", got)
	}
	if got := c.Fields.Value("pre-depends"); got != "dpkg (>= 1.19)" {
		t.Errorf("Pre-Depends %q", got)
	}
	if n := len(c.Fields); n != 12 {
		t.Errorf("%d fields, want 12", n)
	}
}

func equalParagraphs(a, b Paragraph) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// dpkg lowercases package names; so does Read.
func TestReadDpkgBuiltUppercaseName(t *testing.T) {
	deb := buildDeb(t, strings.Replace(minimalControl, "Package: tiny", "Package: Tiny.Pkg", 1), "xz")
	c, err := ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if want := dpkgFields(t, deb, "Package", "Version"); c.Package != want["Package"] || c.Package != "tiny.pkg" {
		t.Errorf("Package %q, dpkg-deb says %q", c.Package, want["Package"])
	}
	if c.Fields.Value("Package") != "Tiny.Pkg" {
		t.Errorf("raw field %q", c.Fields.Value("Package"))
	}
}

// Real packages from the machine's apt cache, when there are any.
func TestReadAptCache(t *testing.T) {
	debs, _ := filepath.Glob("/var/cache/apt/archives/*.deb")
	if len(debs) == 0 {
		t.Skip("no .deb files in /var/cache/apt/archives")
	}
	needTool(t, "dpkg-deb")
	if len(debs) > 20 {
		debs = debs[:20]
	}
	for _, deb := range debs {
		t.Run(filepath.Base(deb), func(t *testing.T) {
			c, err := ReadFile(deb)
			if err != nil {
				t.Fatal(err)
			}
			want := dpkgFields(t, deb, "Package", "Version", "Architecture")
			if c.Package != want["Package"] || c.Version != want["Version"] || c.Architecture != want["Architecture"] {
				t.Errorf("read %s %s %s, dpkg-deb says %v", c.Package, c.Version, c.Architecture, want)
			}
			if !strings.HasPrefix(filepath.Base(deb), c.Package+"_") {
				t.Errorf("package %s does not match the file name", c.Package)
			}
			if got, want := c.Fields, dpkgParagraph(t, deb); !equalParagraphs(got, want) {
				t.Errorf("fields differ from dpkg-deb --field:\n got %q\nwant %q", got, want)
			}
			if c.Maintainer == "" || c.Description == "" || c.InstalledSizeKiB == 0 {
				t.Errorf("incomplete: %+v", c)
			}
		})
	}
}

// Truncated copies of a real package, cut everywhere that matters.
func TestReadTruncated(t *testing.T) {
	deb := buildDeb(t, helloControl, "xz")
	full, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	// Where the members are, from the archive itself.
	ctrlStart := 8 + 60 + 4 + 60
	ctrlSize := atoiField(t, full[8+60+4+48:8+60+4+58])
	dataHeader := ctrlStart + ctrlSize + ctrlSize%2
	cuts := map[string]int{
		"empty":                     0,
		"magic only":                8,
		"inside the first header":   30,
		"inside debian-binary":      8 + 60 + 2,
		"after debian-binary":       8 + 60 + 4,
		"inside the control header": ctrlStart - 10,
		"inside control.tar.xz":     ctrlStart + ctrlSize/2,
		"after control.tar.xz":      dataHeader,
		"inside the data header":    dataHeader + 30,
		"data header only":          dataHeader + 60,
		"inside data.tar.xz":        dataHeader + 60 + (len(full)-dataHeader-60)/2,
		"last byte missing":         len(full) - 1,
	}
	for name, n := range cuts {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cut.deb")
			if err := os.WriteFile(p, full[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := ReadFile(p)
			if err == nil {
				t.Fatalf("read a package cut at %d of %d bytes: %+v", n, len(full), c)
			}
			if !errors.Is(err, ErrNotDebian) {
				t.Errorf("error %q is not ErrNotDebian", err)
			}
			if n > 8 && !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "missing") {
				t.Errorf("error %q does not say truncated", err)
			}
		})
	}
	// From a stream, truncation before the data member is still detected.
	_, err = Read(bytes.NewBuffer(full[:ctrlStart+ctrlSize/2]))
	if !errors.Is(err, ErrNotDebian) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("stream cut inside control: %v", err)
	}
}

func atoiField(t *testing.T, b []byte) int {
	n := 0
	for _, c := range bytes.TrimSpace(b) {
		if c < '0' || c > '9' {
			t.Fatalf("bad size field %q", b)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func TestReadBroken(t *testing.T) {
	ctrlGz := func(files ...tarFile) []byte { return gz(t, tarArchive(t, files...)) }
	control := tarFile{name: "./control", content: minimalControl}
	data := member{"data.tar.xz", xzc(t, tarArchive(t))}
	dbin := member{"debian-binary", []byte("2.0\n")}

	tests := []struct {
		name  string
		input []byte
		err   error
		text  string
	}{
		{"empty file", nil, ErrNotDebian, "not a Debian package: empty file"},
		{"text file", []byte("hello, world\n"), ErrNotDebian, "not an ar archive"},
		{"gzip file", gz(t, []byte("hello")), ErrNotDebian, "not an ar archive"},
		{"tar file", tarArchive(t, control), ErrNotDebian, "not an ar archive"},
		{"empty ar archive", arArchive(), ErrNotDebian, "missing debian-binary"},
		{"no debian-binary", arArchive(member{"control.tar.gz", ctrlGz(control)}, data), ErrNotDebian, `not a Debian package: missing debian-binary (the first member is "control.tar.gz")`},
		{"format 1.0", arArchive(member{"debian-binary", []byte("1.0\n")}, member{"control.tar.gz", ctrlGz(control)}, data), ErrNotDebian, `format version "1.0"`},
		{"format 3.0", arArchive(member{"debian-binary", []byte("3.0\n")}, member{"control.tar.gz", ctrlGz(control)}, data), ErrNotDebian, `format version "3.0"`},
		{"debian-binary only", arArchive(dbin), ErrNotDebian, "missing control.tar member"},
		{"missing control member", arArchive(dbin, data), ErrNotDebian, `missing control.tar member (found "data.tar.xz" after debian-binary)`},
		{"data before control", arArchive(dbin, data, member{"control.tar.gz", ctrlGz(control)}), ErrNotDebian, "missing control.tar member"},
		{"missing data member", arArchive(dbin, member{"control.tar.gz", ctrlGz(control)}), ErrNotDebian, "missing data.tar member"},
		{"wrong member after control", arArchive(dbin, member{"control.tar.gz", ctrlGz(control)}, member{"extra", nil}), ErrNotDebian, `missing data.tar member (found "extra"`},
		{"control.tar.gz without control", arArchive(dbin, member{"control.tar.gz", ctrlGz(tarFile{name: "./md5sums", content: "x"})}, data), ErrBadControl, "control.tar.gz: invalid control data: no control file"},
		{"control.tar.xz without control", arArchive(dbin, member{"control.tar.xz", xzc(t, tarArchive(t, tarFile{name: "./postinst", content: "#!/bin/sh"}))}, data), ErrBadControl, "control.tar.xz: invalid control data: no control file"},
		{"control.tar.zst without control", arArchive(dbin, member{"control.tar.zst", zst(t, tarArchive(t))}, data), ErrBadControl, "control.tar.zst: invalid control data: no control file"},
		{"control is a symlink", arArchive(dbin, member{"control.tar.gz", ctrlGz(tarFile{name: "./control", typ: '2'})}, data), ErrBadControl, "control is not a regular file"},
		{"control.tar.bz2", arArchive(dbin, member{"control.tar.bz2", []byte("BZh91AY&SY")}, data), ErrUnsupported, "control.tar.bz2: unsupported compression"},
		{"corrupt gzip", arArchive(dbin, member{"control.tar.gz", []byte("not gzip at all")}, data), ErrBadControl, "control.tar.gz: invalid control data: gzip"},
		{"corrupt xz", arArchive(dbin, member{"control.tar.xz", []byte("\xfd7zXZ\x00garbage garbage garbage")}, data), ErrBadControl, "control.tar.xz: invalid control data: xz"},
		{"corrupt zstd", arArchive(dbin, member{"control.tar.zst", zst(t, tarArchive(t, control))[:40]}, data), ErrBadControl, "control.tar.zst: invalid control data"},
		{"not a tar", arArchive(dbin, member{"control.tar.gz", gz(t, bytes.Repeat([]byte("x"), 1000))}, data), ErrBadControl, "control.tar.gz: invalid control data"},
		{"control without Package", handDeb(t, "Version: 1.0\nArchitecture: all\n"), ErrBadControl, "control.tar.gz: control file: invalid control data: missing required field Package"},
		{"control without Version", handDeb(t, "Package: x1\nArchitecture: all\n"), ErrBadControl, "missing required field Version"},
		{"control without Architecture", handDeb(t, "Package: x1\nVersion: 1\n"), ErrBadControl, "missing required field Architecture"},
		{"control with a bad version", handDeb(t, "Package: x1\nVersion: one\nArchitecture: all\n"), ErrBadControl, "does not start with a digit"},
		{"control with two paragraphs", handDeb(t, minimalControl+"\nPackage: other\n"), ErrBadControl, "more than one paragraph"},
		{"control not deb822", handDeb(t, "<html>\n"), ErrBadControl, "no colon"},
		{"bad ar header", append([]byte("!<arch>\n"), bytes.Repeat([]byte("z"), 60)...), ErrNotDebian, "bad ar member header"},
		{"bad ar size", []byte("!<arch>\ndebian-binary   0           0     0     100644  -4        `\n"), ErrNotDebian, "bad size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Read(bytes.NewReader(tc.input))
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("error %q is not %v", err, tc.err)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not contain %q", err, tc.text)
			}
		})
	}
}

// Variations dpkg accepts: extension members, GNU and BSD member names,
// the control file after other files, control.tar uncompressed.
func TestReadVariants(t *testing.T) {
	ctrl := gz(t, tarArchive(t, tarFile{name: "./control", content: minimalControl}))
	data := member{"data.tar.gz", gz(t, tarArchive(t))}
	bsdName := func(name string, data []byte) member {
		// "#1/N" followed by the name at the start of the data.
		return member{"#1/" + strconv.Itoa(len(name)), append([]byte(name), data...)}
	}
	tests := []struct {
		name  string
		input []byte
	}{
		{"extension members", arArchive(member{"debian-binary", []byte("2.0\n")}, member{"_gpgorigin", []byte("signature")}, member{"control.tar.gz", ctrl}, member{"_other", []byte("x")}, data)},
		{"GNU names", arArchive(member{"debian-binary/", []byte("2.0\n")}, member{"control.tar.gz/", ctrl}, member{"data.tar.gz/", data.data})},
		{"BSD long names", arArchive(bsdName("debian-binary", []byte("2.0\n")), bsdName("control.tar.gz", ctrl), data)},
		{"format 2.1", arArchive(member{"debian-binary", []byte("2.1\n")}, member{"control.tar.gz", ctrl}, data)},
		{"control after other files", arArchive(member{"debian-binary", []byte("2.0\n")}, member{"control.tar.xz", xzc(t, tarArchive(t,
			tarFile{name: "./md5sums", content: strings.Repeat("d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x\n", 5000)},
			tarFile{name: "./postinst", content: "#!/bin/sh\n"},
			tarFile{name: "control", content: minimalControl}))}, data)},
		{"uncompressed control.tar", arArchive(member{"debian-binary", []byte("2.0\n")}, member{"control.tar", tarArchive(t, tarFile{name: "./control", content: minimalControl})}, data)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Read(bytes.NewReader(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if c.Package != "tiny" || c.Version != "1.0-1" || c.Architecture != "all" {
				t.Errorf("read %+v", c)
			}
		})
	}
}

func TestReadLimits(t *testing.T) {
	deb := buildDeb(t, helloControl, "xz")
	f, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Limits{MaxControlMember: 100}).Read(bytes.NewReader(f)); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "control.tar.xz: too large") || !strings.Contains(err.Error(), "limit is 100") {
		t.Errorf("small MaxControlMember: %v", err)
	}
	if _, err := (Limits{MaxControlFile: 100}).Read(bytes.NewReader(f)); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "control file: too large") {
		t.Errorf("small MaxControlFile: %v", err)
	}

	// A decompression bomb: a huge file of zeros before the control file.
	bomb := tarArchive(t, tarFile{name: "./zeros", content: strings.Repeat("\x00", 8<<20)}, tarFile{name: "./control", content: minimalControl})
	for _, m := range []member{{"control.tar.gz", gz(t, bomb)}, {"control.tar.xz", xzc(t, bomb)}, {"control.tar.zst", zst(t, bomb)}} {
		in := arArchive(member{"debian-binary", []byte("2.0\n")}, m, member{"data.tar", tarArchive(t)})
		if len(m.data) > 1<<20 {
			t.Fatalf("%s: bomb not compact: %d bytes", m.name, len(m.data))
		}
		_, err := (Limits{MaxControlTar: 1 << 20}).Read(bytes.NewReader(in))
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), m.name) {
			t.Errorf("%s bomb: %v", m.name, err)
		}
		// Within default limits it is just a big control archive.
		if c, err := Read(bytes.NewReader(in)); err != nil || c.Package != "tiny" {
			t.Errorf("%s with default limits: %v", m.name, err)
		}
	}
}

// An xz stream declaring a 4 GiB dictionary is refused before the xz
// library allocates it.
func TestReadXZHugeDictionary(t *testing.T) {
	x := xzc(t, tarArchive(t, tarFile{name: "./control", content: minimalControl}))
	// The block header follows the 12-byte stream header; with default
	// flags its LZMA2 filter's dictionary byte is its last before padding.
	bh := x[12:]
	size := (int(bh[0]) + 1) * 4
	d, err := xzBlockDict(bh)
	if err != nil || d == 0 {
		t.Fatalf("xzBlockDict on a fresh stream: %d, %v", d, err)
	}
	i := bytes.IndexByte(bh[:size], 0x21) // LZMA2 filter id, then props size 1, then props
	if i < 0 || bh[i+1] != 1 {
		t.Fatalf("no LZMA2 filter in %x", bh[:size])
	}
	bh[i+2] = 40 // 4 GiB - 1
	crc := crc32.ChecksumIEEE(bh[:size-4])
	bh[size-4], bh[size-3], bh[size-2], bh[size-1] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
	if d, err := xzMaxDict(x); err != nil || d != 1<<32-1 {
		t.Fatalf("xzMaxDict = %d, %v", d, err)
	}
	in := arArchive(member{"debian-binary", []byte("2.0\n")}, member{"control.tar.xz", x}, member{"data.tar", tarArchive(t)})
	if _, err := Read(bytes.NewReader(in)); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "xz dictionary") {
		t.Errorf("Read: %v", err)
	}
}

// xzMaxDict must understand what the real xz writes: several blocks,
// several concatenated streams, stream padding, extreme presets.
func TestXZStructure(t *testing.T) {
	needTool(t, "xz")
	content := tarArchive(t,
		tarFile{name: "./control", content: minimalControl},
		tarFile{name: "./md5sums", content: strings.Repeat("0123456789abcdef0123456789abcdef  usr/bin/x\n", 3000)})
	run := func(args ...string) []byte {
		cmd := exec.Command("xz", args...)
		cmd.Stdin = bytes.NewReader(content)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		return out
	}
	one := run("-c")
	cases := map[string]struct {
		data []byte
		dict uint64
	}{
		"default":        {one, 8 << 20},
		"-0":             {run("-c", "-0"), 256 << 10},
		"-9e":            {run("-c", "-9e"), 64 << 20},
		"blocks":         {run("-c", "--block-size=4KiB"), 8 << 20},
		"sha256 check":   {run("-c", "-C", "sha256", "--lzma2=dict=2MiB"), 2 << 20},
		"no check":       {run("-c", "-C", "none", "-1"), 1 << 20},
		"two streams":    {append(append([]byte{}, run("-c", "-1")...), one...), 8 << 20},
		"stream padding": {append(append([]byte{}, one...), 0, 0, 0, 0, 0, 0, 0, 0), 8 << 20},
		"dict 3 MiB":     {run("-c", "--lzma2=dict=3MiB"), 3 << 20},
		"dict 1536 KiB":  {run("-c", "--lzma2=dict=1536KiB"), 1536 << 10},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := xzMaxDict(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if d != tc.dict {
				t.Errorf("dictionary %d, want %d", d, tc.dict)
			}
			in := arArchive(member{"debian-binary", []byte("2.0\n")}, member{"control.tar.xz", tc.data}, member{"data.tar", nil})
			if c, err := Read(bytes.NewReader(in)); err != nil || c.Package != "tiny" {
				t.Errorf("Read: %v", err)
			}
		})
	}
	// The xz library does not decode BCJ filters (dpkg never uses them for
	// control archives): the structure is still understood, and Read fails
	// cleanly.
	x86 := run("-c", "--x86", "--lzma2=dict=1MiB")
	if d, err := xzMaxDict(x86); err != nil || d != 1<<20 {
		t.Errorf("x86 filter: %d, %v", d, err)
	}
	in := arArchive(member{"debian-binary", []byte("2.0\n")}, member{"control.tar.xz", x86}, member{"data.tar", nil})
	if _, err := Read(bytes.NewReader(in)); !errors.Is(err, ErrBadControl) {
		t.Errorf("x86 filter: Read: %v", err)
	}
	for name, b := range map[string][]byte{
		"empty":        {},
		"truncated":    one[:len(one)-5],
		"no footer":    one[:len(one)-12],
		"header only":  one[:12],
		"garbage":      bytes.Repeat([]byte{0xff}, 64),
		"lying footer": corruptAt(corruptAt(one, len(one)-8, 0xff), len(one)-7, 0xff),
		"lying index":  corruptAt(one, len(one)-12-int(one[len(one)-8]+1)*4+1, 0x7f),
		"padding only": make([]byte, 8),
	} {
		if _, err := xzMaxDict(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func corruptAt(b []byte, i int, v byte) []byte {
	c := append([]byte{}, b...)
	c[i] = v
	return c
}

// An I/O error from the caller's reader is reported as such, not as a
// verdict on the package.
func TestReadIOError(t *testing.T) {
	deb := handDeb(t, minimalControl)
	boom := errors.New("disk on fire")
	dataHeader := bytes.Index(deb, []byte("data.tar.gz"))
	for _, n := range []int{0, 4, 70, 100, dataHeader - 1} {
		_, err := Read(io.MultiReader(bytes.NewReader(deb[:n]), iotest.ErrReader(boom)))
		if !errors.Is(err, boom) || errors.Is(err, ErrNotDebian) || errors.Is(err, ErrBadControl) {
			t.Errorf("failing after %d bytes: %v", n, err)
		}
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "absent.deb"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}
