package inventory

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/protocol"
)

func TestParseDpkgStatus(t *testing.T) {
	tests := []struct {
		name, in string
		want     []protocol.Package
	}{
		{
			name: "multi-line Description and Conffiles",
			in: `Package: base-files
Essential: yes
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u11
Conffiles:
 /etc/debian_version 8031d1483ffa9c819e6be94c6c77fd2a
 /etc/issue 349d61a0e072d678e3e94923f0c3ce0e
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system.
 .
 Package: not-a-package
 Version: 0
`,
			want: []protocol.Package{{Name: "base-files", Version: "12.4+deb12u11", Arch: "amd64"}},
		},
		{
			name: "config-files and not-installed excluded, hold and mid-upgrade states kept",
			in: `Package: exim4-config
Status: deinstall ok config-files
Architecture: all
Version: 4.96-15+deb12u6

Package: linux-image-6.1.0-28-amd64
Status: hold ok installed
Architecture: amd64
Version: 6.1.119-1

Package: half
Status: install ok half-configured
Architecture: amd64
Version: 1.0-1

Package: trig
Status: install ok triggers-pending
Architecture: amd64
Version: 2.0-1

Package: going
Status: deinstall reinstreq half-installed
Architecture: amd64
Version: 1.0-1

Package: never
Status: purge ok not-installed
Architecture: amd64
`,
			want: []protocol.Package{{Name: "linux-image-6.1.0-28-amd64", Version: "6.1.119-1", Arch: "amd64"},
				{Name: "half", Version: "1.0-1", Arch: "amd64"}, {Name: "trig", Version: "2.0-1", Arch: "amd64"}},
		},
		{
			name: "Source version stripped, same-name Source dropped, Arch all kept",
			in: `Package: bash
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b8

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.15-1~deb12u1)
Version: 3.0.15-1~deb12u1+b1

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
`,
			want: []protocol.Package{
				{Name: "bash", Version: "5.2.15-2+b8", Arch: "amd64"},
				{Name: "libssl3", Version: "3.0.15-1~deb12u1+b1", Arch: "amd64", Source: "openssl"},
				{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all"},
			},
		},
		{
			name: "several blank lines, CRLF, case-insensitive names, no final newline",
			in:   "\n\npackage: a\r\nSTATUS: install ok installed\r\nversion: 1\r\n\n\n\nPackage: b\nStatus: install ok installed\nVersion:   2  ",
			want: []protocol.Package{{Name: "a", Version: "1"}, {Name: "b", Version: "2"}},
		},
		{
			name: "empty",
			in:   "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDpkgStatus(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseDpkgStatus() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseDpkgStatusErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"not a field", "Package: a\nStatus: install ok installed\ngarbage\nVersion: 1\n", 3, "not a field"},
		{"continuation first", " indented\nPackage: a\n", 1, "continuation line outside a field"},
		{"continuation after blank", "Package: a\nVersion: 1\n\n .\n", 4, "continuation line outside a field"},
		{"no Package", "Package: a\nVersion: 1\n\nStatus: install ok installed\nVersion: 2\n", 4, "without a Package"},
		{"installed without Version", "Package: a\nStatus: install ok installed\n", 1, "no Version"},
		{"duplicate field", "Package: a\nVersion: 1\nversion: 2\n", 3, "duplicate field"},
		{"empty name", ": value\n", 1, "not a field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDpkgStatus(strings.NewReader(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error = %v, want a *SyntaxError", err)
			}
			if se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("error = %v, want line %d: ...%s...", err, tt.line, tt.msg)
			}
		})
	}
}

// A line longer than the read buffer must be read whole.
func TestParseDpkgStatusLongLines(t *testing.T) {
	long := strings.Repeat("x", 200_000)
	in := "Package: a\nStatus: install ok installed\nDescription: d\n " + long + "\nDepends: " + long + "\nVersion: 1\n"
	got, err := ParseDpkgStatus(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := []protocol.Package{{Name: "a", Version: "1"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDpkgStatus() = %+v, want %+v", got, want)
	}
}

type failingReader struct{ io.Reader }

func (r failingReader) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	if err == io.EOF {
		return n, errors.New("disk on fire")
	}
	return n, err
}

func TestParseDpkgStatusReadError(t *testing.T) {
	_, err := ParseDpkgStatus(failingReader{strings.NewReader("Package: a\n")})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("error = %v, want the read error", err)
	}
}

func TestUpstreamVersion(t *testing.T) {
	for in, want := range map[string]string{
		"1.0.7+dfsg-1~deb12u1": "1.0.7",
		"1:1.4.2-3":            "1.4.2",
		"0.103.11":             "0.103.11",
		"1.2~rc1-1":            "1.2",
		"2:1.0-1-2":            "1.0-1",
	} {
		if got := upstreamVersion(in); got != want {
			t.Errorf("upstreamVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkParseDpkgStatus parses a status database of 1,500 stanzas made from a real one
// (testdata/bench/README.md).
func BenchmarkParseDpkgStatus(b *testing.B) {
	f, err := os.Open("testdata/bench/status-1500.gz")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		pkgs, err := ParseDpkgStatus(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if len(pkgs) != 1500 {
			b.Fatalf("%d packages, want 1500", len(pkgs))
		}
	}
}
