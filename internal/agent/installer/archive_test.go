package installer

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io/fs"
	"testing"
)

// entry is one member of a test archive.
type entry struct {
	name string
	body string // a file's content, a symbolic link's target
	link string // a hard link's target
	mode fs.FileMode
	kind byte // tar type flag; 0 for a regular file
}

func tarArchive(t *testing.T, compress bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var gz *gzip.Writer
	tw := tar.NewWriter(&buf)
	if compress {
		gz = gzip.NewWriter(&buf)
		tw = tar.NewWriter(gz)
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: int64(e.mode.Perm()), Typeflag: e.kind, Format: tar.FormatPAX}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		switch e.kind {
		case 0, tar.TypeReg:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		case tar.TypeSymlink:
			h.Linkname = e.body
		case tar.TypeLink:
			h.Linkname = e.link
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// zipArchive writes entries; mode's type bits say directory or symbolic link.
func zipArchive(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode.Perm() == 0 {
			mode |= 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
