//go:build unix

package installer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestUnpack(t *testing.T) {
	big := strings.Repeat("0", 1<<20)
	tests := []struct {
		name    string
		archive func(t *testing.T) []byte
		lim     unpackLimits
		wantErr error  // errUnsafe, or errAny for another error
		errHas  string // in the error
		// want: path -> content, "->target" for a symbolic link, "/" for a directory
		want map[string]string
	}{
		{name: "tar.gz with dirs, modes, links", archive: func(t *testing.T) []byte {
			return tarArchive(t, true,
				entry{name: "./", kind: tar.TypeDir, mode: 0o755},
				entry{name: "bin/", kind: tar.TypeDir, mode: 0o555},
				entry{name: "bin/run.sh", body: "#!/bin/sh\n", mode: 0o755},
				entry{name: "data/a.txt", body: "a"}, // parent not listed
				entry{name: "data/link", body: "a.txt", kind: tar.TypeSymlink},
				entry{name: "up", body: "data/../bin", kind: tar.TypeSymlink},
				entry{name: "up/through.txt", body: "via link"}, // written through a link inside
				entry{name: "hard", link: "data/a.txt", kind: tar.TypeLink},
				entry{name: "data/a.txt", body: "a again"}, // a later duplicate wins
			)
		}, want: map[string]string{"bin": "/", "bin/run.sh": "#!/bin/sh\n", "data": "/", "data/a.txt": "a again",
			"data/link": "->a.txt", "up": "->data/../bin", "bin/through.txt": "via link", "hard": "a"}},
		{name: "plain tar", archive: func(t *testing.T) []byte {
			return tarArchive(t, false, entry{name: "f", body: "x"})
		}, want: map[string]string{"f": "x"}},
		{name: "zip", archive: func(t *testing.T) []byte {
			return zipArchive(t, entry{name: "d/", mode: fs.ModeDir | 0o755}, entry{name: "d/f", body: "zipped"},
				entry{name: "l", body: "d/f", mode: fs.ModeSymlink | 0o777})
		}, want: map[string]string{"d": "/", "d/f": "zipped", "l": "->d/f"}},
		{name: "absolute path", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "/tmp/evil", body: "x"})
		}, wantErr: errUnsafe, errHas: "absolute"},
		{name: "dot-dot", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "ok/../../evil", body: "x"})
		}, wantErr: errUnsafe, errHas: `".."`},
		{name: "symlink to absolute path", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "etc", body: "/etc", kind: tar.TypeSymlink})
		}, wantErr: errUnsafe, errHas: "absolute"},
		{name: "symlink leading outside", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "a/b/link", body: "../../../outside", kind: tar.TypeSymlink},
				entry{name: "a/b/link/evil", body: "x"})
		}, wantErr: errUnsafe, errHas: "leads outside"},
		{name: "hard link leading outside", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "h", link: "../outside", kind: tar.TypeLink})
		}, wantErr: errUnsafe},
		{name: "device", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "null", kind: tar.TypeChar})
		}, wantErr: errUnsafe, errHas: "device"},
		{name: "fifo", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "pipe", kind: tar.TypeFifo})
		}, wantErr: errUnsafe, errHas: "FIFO"},
		{name: "file replacing a directory", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "d/f", body: "x"}, entry{name: "d", body: "x"})
		}, wantErr: errUnsafe, errHas: "directory"},
		{name: "zip dot-dot", archive: func(t *testing.T) []byte {
			return zipArchive(t, entry{name: "../evil", body: "x"})
		}, wantErr: errUnsafe},
		{name: "zip symlink leading outside", archive: func(t *testing.T) []byte {
			return zipArchive(t, entry{name: "l", body: "../outside", mode: fs.ModeSymlink | 0o777})
		}, wantErr: errUnsafe},
		{name: "too many entries", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "1"}, entry{name: "2"}, entry{name: "3"}, entry{name: "4"})
		}, lim: unpackLimits{maxBytes: 1 << 20, maxEntries: 3}, wantErr: errAny, errHas: "more than 3 entries"},
		{name: "too many bytes in tar.gz", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "a", body: big[:40000]}, entry{name: "b", body: big[:40000]})
		}, lim: unpackLimits{maxBytes: 64 << 10, maxEntries: 10}, wantErr: errAny, errHas: "more than 65536 bytes"},
		{name: "too many bytes in zip", archive: func(t *testing.T) []byte {
			return zipArchive(t, entry{name: "zeros", body: big})
		}, lim: unpackLimits{maxBytes: 64 << 10, maxEntries: 10}, wantErr: errAny, errHas: "more than 65536 bytes"},
		{name: "not an archive", archive: func(t *testing.T) []byte {
			return []byte("#!/bin/sh\necho hello\n")
		}, wantErr: errAny, errHas: "not a .tar.gz, .tar or .zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			archive := filepath.Join(base, "archive.bin") // the name says nothing
			if err := os.WriteFile(archive, tt.archive(t), 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(base, "out")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			lim := tt.lim
			if lim.maxEntries == 0 {
				lim = defaultUnpackLimits
			}
			err := unpack(archive, dir, lim)
			if left := listDir(t, base); !slices.Equal(left, []string{"archive.bin", "out"}) {
				t.Errorf("written beside the directory: %q", left)
			}
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error %v, want %v with %q", err, tt.wantErr, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || p == dir {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				switch {
				case d.Type()&fs.ModeSymlink != 0:
					target, _ := os.Readlink(p)
					got[rel] = "->" + target
				case d.IsDir():
					got[rel] = "/"
				default:
					b, _ := os.ReadFile(p)
					got[rel] = string(b)
				}
				return nil
			})
			if !mapsEqual(got, tt.want) {
				t.Errorf("unpacked %q\nwant     %q", got, tt.want)
			}
			if st, err := os.Stat(filepath.Join(dir, "bin/run.sh")); err == nil && st.Mode().Perm()&0o100 == 0 {
				t.Errorf("run.sh lost its executable bit: %v", st.Mode())
			}
		})
	}
}

// errAny stands for "some error" in the table.
var errAny = errors.New("any error")

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		max    int
		want   string
	}{
		{name: "short", writes: []string{"ab", "cd"}, max: 16, want: "abcd"},
		{name: "exactly full", writes: []string{"0123456789abcdef"}, max: 16, want: "0123456789abcdef"},
		{name: "wraps in small writes", writes: []string{"0123456789", "abcdefghij", "KLMNO"}, max: 16,
			want: "[...]\nfghijKLMNO"},
		{name: "one big write", writes: []string{strings.Repeat("x", 100) + "the end"}, max: 16,
			want: "[...]\nxxx" + "the end"},
		{name: "cut inside a rune", writes: []string{"aaaaaaaaaaaaé€end"}, max: 12, want: "[...]\n€end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTail(tt.max)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			got := b.String()
			if got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if len(got) > tt.max {
				t.Errorf("%d bytes, more than %d", len(got), tt.max)
			}
		})
	}
	var big bytes.Buffer
	b := newTail(maxLog)
	for i := range 10000 {
		line := strings.Repeat("-", i%97) + "\n"
		big.WriteString(line)
		b.Write([]byte(line))
	}
	if got := b.String(); len(got) > maxLog || !strings.HasSuffix(big.String(), strings.TrimPrefix(got, "[...]\n")) {
		t.Errorf("a long output's tail is not its end (%d bytes)", len(got))
	}
}
