package debpkg

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseParagraph(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Paragraph
	}{
		{"simple", "A: 1\nB: two words\n", Paragraph{{"A", "1"}, {"B", "two words"}}},
		{"no final newline", "A: 1", Paragraph{{"A", "1"}}},
		{"no space after colon", "A:1\n", Paragraph{{"A", "1"}}},
		{"surrounding blank lines", "\n\n  \nA: 1\n\n\n", Paragraph{{"A", "1"}}},
		{"white space trimmed", "A: \t x y \t\n", Paragraph{{"A", "x y"}}},
		{"CRLF", "A: 1\r\nB: 2\r\n\r\n", Paragraph{{"A", "1"}, {"B", "2"}}},
		{"empty value", "Depends:\nB: 2\n", Paragraph{{"Depends", ""}, {"B", "2"}}},
		{"colon in value", "Homepage: https://example.org:8080/x\n", Paragraph{{"Homepage", "https://example.org:8080/x"}}},
		{"continuation lines", "Description: short\n long one\n .\n\tlong two  \nX: y\n",
			Paragraph{{"Description", "short\n long one\n .\n\tlong two"}, {"X", "y"}}},
		{"value starting on the next line", "Depends:\n a,\n b\n", Paragraph{{"Depends", "\n a,\n b"}}},
		{"odd but legal names", "X-Some_Field.Name+1: v\n", Paragraph{{"X-Some_Field.Name+1", "v"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseParagraph([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !equalParagraphs(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestParseParagraphErrors(t *testing.T) {
	tests := []struct{ name, in, text string }{
		{"empty", "", "no fields"},
		{"blank lines only", "\n \n\t\n", "no fields"},
		{"two paragraphs", "A: 1\n\nB: 2\n", "line 3: more than one paragraph"},
		{"two paragraphs, white space separator", "A: 1\n  \nB: 2\n", "line 3: more than one paragraph"},
		{"duplicate field", "A: 1\nB: 2\na: 3\n", "line 3: duplicate field a"},
		{"continuation first", " A: 1\n", "line 1: continuation line before any field"},
		{"no colon", "A: 1\njunk\n", `line 2: "junk" is not a field (no colon)`},
		{"comment", "# comment\nA: 1\n", "not a field"},
		{"comment with colon", "#A: 1\n", `may not start with '#'`},
		{"hyphen first", "-A: 1\n", `may not start with '-'`},
		{"empty name", ": 1\n", "empty field name"},
		{"space in name", "A B: 1\n", "not printable ASCII"},
		{"non-ASCII name", "Ä: 1\n", "not printable ASCII"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseParagraph([]byte(tc.in))
			if !errors.Is(err, ErrBadControl) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %v, want ErrBadControl with %q", err, tc.text)
			}
		})
	}
}

func TestParagraphGet(t *testing.T) {
	p := Paragraph{{"Package", "x"}, {"Installed-Size", "5"}}
	if v, ok := p.Get("installed-size"); !ok || v != "5" {
		t.Errorf("Get = %q, %v", v, ok)
	}
	if v, ok := p.Get("Depends"); ok || v != "" {
		t.Errorf("Get absent = %q, %v", v, ok)
	}
	if p.Value("PACKAGE") != "x" {
		t.Error("Value is not case-insensitive")
	}
}

func TestParseControlFields(t *testing.T) {
	c, err := ParseControl([]byte(helloControl))
	if err != nil {
		t.Fatal(err)
	}
	checkHello(t, c)
	c, err = ParseControl([]byte("Package: x1\nVersion: 1\nArchitecture: all\nInstalled-Size: lots\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.InstalledSizeKiB != 0 || c.Maintainer != "" || c.Depends != "" || c.Description != "" {
		t.Errorf("absent or unusable fields: %+v", c)
	}
	c, err = ParseControl([]byte("Package: x1\nVersion: 1\nArchitecture: all\nMaintainer: A\n  B <b@example.org>\nDescription:\n no synopsis\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Maintainer != "A B <b@example.org>" || c.Description != "" {
		t.Errorf("Maintainer %q, Description %q", c.Maintainer, c.Description)
	}
}

func TestParseControlValidation(t *testing.T) {
	base := func(pkg, ver, arch string) string {
		return "Package: " + pkg + "\nVersion: " + ver + "\nArchitecture: " + arch + "\n"
	}
	good := []struct{ pkg, ver, arch, wantPkg string }{
		{"libc6", "2.36-9+deb12u4", "amd64", "libc6"},
		{"g++", "4:12.2.0-3", "amd64", "g++"},
		{"a", "0", "all", "a"},
		{"Tiny.Pkg", "1.0", "all", "tiny.pkg"},
		{"foo_bar", "1.0", "all", "foo_bar"},
		{"openssl", "3.0.11-1~deb12u2", "arm64", "openssl"},
		{"x", "1.0~rc1+dfsg-1ubuntu0.1", "kfreebsd-amd64", "x"},
		{"x", "2.3-4-5", "i386", "x"},          // upstream "2.3-4", revision "5"
		{"x", "1:2:3", "i386", "x"},            // colons allowed in upstream after an epoch
		{"x", "2147483647:1", "i386", "x"},     // the largest epoch
		{"x", "1.0-0.1~bpo12+1", "armhf", "x"}, // revision characters
		{"x", "1.0a+b.c~d", "s390x", "x"},
	}
	for _, g := range good {
		c, err := ParseControl([]byte(base(g.pkg, g.ver, g.arch)))
		if err != nil {
			t.Errorf("%s %s %s: %v", g.pkg, g.ver, g.arch, err)
			continue
		}
		if c.Package != g.wantPkg || c.Version != g.ver || c.Architecture != g.arch {
			t.Errorf("got %s %s %s", c.Package, c.Version, c.Architecture)
		}
	}
	bad := []struct{ pkg, ver, arch, text string }{
		{"-foo", "1", "all", "Package \"-foo\": must start with a letter or digit"},
		{".foo", "1", "all", "must start with a letter or digit"},
		{"foo bar", "1", "all", `character ' ' not allowed`},
		{"foo/bar", "1", "all", `character '/' not allowed`},
		{"fü", "1", "all", "not allowed"},
		{"x", "a1.0", "all", "Version \"a1.0\": upstream version does not start with a digit"},
		{"x", "1:", "all", "nothing after the colon"},
		{"x", ":1", "all", "epoch is empty"},
		{"x", "e:1", "all", "epoch is not a number"},
		{"x", "-1:1", "all", "epoch is not a number"},
		{"x", "99999999999:1", "all", "epoch is too big"},
		{"x", "1.0-", "all", "revision is empty"},
		{"x", "-1", "all", "upstream version is empty"},
		{"x", "1 0", "all", "embedded spaces"},
		{"x", "1_0", "all", "invalid character '_' in upstream version"},
		{"x", "1.0-a_b", "all", "invalid character '_' in revision"},
		{"x", "1:1.0-a:b", "all", "invalid character ':' in revision"},
		{"x", "1.0-a:b", "all", "epoch is not a number"}, // as dpkg: the first colon ends the epoch
		{"x", "1", "any,all", `Architecture "any,all": character ',' not allowed`},
		{"x", "1", "am d64", "not allowed"},
		{"x", "1", "-amd64", "must start with a letter or digit"},
	}
	for _, b := range bad {
		_, err := ParseControl([]byte(base(b.pkg, b.ver, b.arch)))
		if !errors.Is(err, ErrBadControl) || !strings.Contains(err.Error(), b.text) {
			t.Errorf("%q %q %q: error %v, want %q", b.pkg, b.ver, b.arch, err, b.text)
		}
	}
	for _, in := range []string{
		"Package:\nVersion: 1\nArchitecture: all\n",
		"Package: x\n y\nVersion: 1\nArchitecture: all\n",
	} {
		if _, err := ParseControl([]byte(in)); !errors.Is(err, ErrBadControl) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// Untrusted input must never panic or hang; what parses must validate.
func FuzzParseControl(f *testing.F) {
	f.Add([]byte(helloControl))
	f.Add([]byte(minimalControl))
	f.Add([]byte("A: 1\n\nB: 2\n"))
	f.Add([]byte(" x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseControl(b)
		if err != nil {
			if !errors.Is(err, ErrBadControl) {
				t.Fatalf("error not ErrBadControl: %v", err)
			}
			return
		}
		if c.Package == "" || c.Version == "" || c.Architecture == "" {
			t.Fatalf("accepted without required fields: %+v", c)
		}
	})
}

func FuzzRead(f *testing.F) {
	f.Add(handDeb(f, minimalControl))
	f.Add(arArchive(member{"debian-binary", []byte("2.0\n")}, member{"control.tar.xz", xzc(f, tarArchive(f, tarFile{name: "./control", content: minimalControl}))}, member{"data.tar", nil}))
	f.Add(arArchive(member{"debian-binary", []byte("2.0\n")}, member{"control.tar.zst", zst(f, tarArchive(f, tarFile{name: "./control", content: minimalControl}))}, member{"data.tar", nil}))
	f.Add([]byte("!<arch>\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Read(bytes.NewReader(b))
		if err == nil && (c.Package == "" || c.Version == "") {
			t.Fatalf("accepted without required fields: %+v", c)
		}
		if err != nil && !errors.Is(err, ErrNotDebian) && !errors.Is(err, ErrBadControl) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}
