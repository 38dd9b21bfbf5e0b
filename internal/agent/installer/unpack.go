package installer

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// unpackLimits bound what an archive may put on disk: a decompression bomb or an archive of
// millions of empty files stops at the limit.
type unpackLimits struct {
	maxBytes   int64 // file contents, as written (not as the headers claim)
	maxEntries int
}

var defaultUnpackLimits = unpackLimits{maxBytes: 4 << 30, maxEntries: 100_000}

// errUnsafe marks an entry refused for where or what it would write.
var errUnsafe = errors.New("unsafe archive entry")

// unpack extracts archive into the directory dir. The format is recognised by content:
// gzip-compressed tar, tar (POSIX/GNU), or zip.
//
// Entries may not leave dir: absolute names, ".." components and symbolic links whose target
// lies outside are refused, and every write goes through an os.Root, so that no symbolic
// link, from the archive or not, leads a write outside either. Devices, FIFOs and other
// special files are refused. Ownership and set-id bits are not restored.
func unpack(archive, dir string, lim unpackLimits) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	x := &extractor{root: root, lim: lim}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		return x.tar(gz)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return x.zip(f, st.Size())
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return x.tar(f)
	}
	return errors.New("not a .tar.gz, .tar or .zip archive")
}

type extractor struct {
	root    *os.Root
	lim     unpackLimits
	entries int
	written int64
}

func (x *extractor) count() error {
	x.entries++
	if x.entries > x.lim.maxEntries {
		return fmt.Errorf("more than %d entries", x.lim.maxEntries)
	}
	return nil
}

func (x *extractor) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		if err := x.count(); err != nil {
			return err
		}
		if err := x.tarEntry(h, tr); err != nil {
			return fmt.Errorf("%q: %w", h.Name, err)
		}
	}
}

func (x *extractor) tarEntry(h *tar.Header, r io.Reader) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil // PAX defaults for later entries, nothing to write
	}
	name, err := localName(h.Name)
	if err != nil {
		return err
	}
	if name == "" {
		if h.Typeflag == tar.TypeDir {
			return nil // "./", the directory itself
		}
		return fmt.Errorf("%w: empty name", errUnsafe)
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return x.dir(name, h.FileInfo().Mode())
	case tar.TypeReg, tar.TypeGNUSparse:
		return x.file(name, h.FileInfo().Mode(), r)
	case tar.TypeSymlink:
		return x.symlink(name, h.Linkname)
	case tar.TypeLink:
		return x.hardlink(name, h.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return fmt.Errorf("%w: device file", errUnsafe)
	case tar.TypeFifo:
		return fmt.Errorf("%w: FIFO", errUnsafe)
	}
	return fmt.Errorf("%w: entry type %q", errUnsafe, h.Typeflag)
}

func (x *extractor) zip(r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	for _, zf := range zr.File {
		if err := x.count(); err != nil {
			return err
		}
		if err := x.zipEntry(zf); err != nil {
			return fmt.Errorf("%q: %w", zf.Name, err)
		}
	}
	return nil
}

func (x *extractor) zipEntry(zf *zip.File) error {
	name, err := localName(zf.Name)
	if err != nil {
		return err
	}
	mode := zf.Mode()
	if name == "" {
		if mode.IsDir() {
			return nil
		}
		return fmt.Errorf("%w: empty name", errUnsafe)
	}
	switch {
	case mode.IsDir():
		return x.dir(name, mode)
	case mode&fs.ModeSymlink != 0:
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		target, err := io.ReadAll(io.LimitReader(rc, 4096))
		if err != nil {
			return err
		}
		return x.symlink(name, string(target))
	case mode.IsRegular():
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		return x.file(name, mode, rc)
	}
	return fmt.Errorf("%w: special file (%v)", errUnsafe, mode.Type())
}

// localName turns an archive name into a relative path inside the directory, or refuses
// it; "" is the directory itself.
func localName(name string) (string, error) {
	slashed := name
	if runtime.GOOS == "windows" {
		slashed = strings.ReplaceAll(name, `\`, "/")
	}
	switch {
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("%w: NUL in name", errUnsafe)
	case strings.HasPrefix(slashed, "/") || filepath.IsAbs(name) || filepath.VolumeName(name) != "":
		return "", fmt.Errorf("%w: absolute path", errUnsafe)
	}
	for _, part := range strings.Split(slashed, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: \"..\" in path", errUnsafe)
		}
	}
	clean := path.Clean(slashed)
	if clean == "." {
		return "", nil
	}
	local := filepath.FromSlash(clean)
	if !filepath.IsLocal(local) { // also Windows' reserved names (NUL, COM1, ...)
		return "", fmt.Errorf("%w: not a local path", errUnsafe)
	}
	return local, nil
}

func (x *extractor) parent(name string) error {
	if d := filepath.Dir(name); d != "." {
		return x.root.MkdirAll(d, 0o755)
	}
	return nil
}

// clear removes what a later entry of the same name replaces; a directory stays (a tar may
// list one twice) but cannot become something else.
func (x *extractor) clear(name string, dir bool) error {
	fi, err := x.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir() && dir:
		return nil
	case fi.IsDir():
		return fmt.Errorf("%w: replaces a directory", errUnsafe)
	}
	return x.root.Remove(name)
}

func (x *extractor) dir(name string, mode fs.FileMode) error {
	if err := x.parent(name); err != nil {
		return err
	}
	if err := x.clear(name, true); err != nil {
		return err
	}
	// Owner rwx at least, so that the entries inside can be written.
	return x.root.MkdirAll(name, mode.Perm()|0o700)
}

func (x *extractor) file(name string, mode fs.FileMode, r io.Reader) error {
	if err := x.parent(name); err != nil {
		return err
	}
	if err := x.clear(name, false); err != nil {
		return err
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm()|0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, x.lim.maxBytes-x.written+1))
	x.written += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if x.written > x.lim.maxBytes {
		return fmt.Errorf("more than %d bytes unpacked", x.lim.maxBytes)
	}
	return nil
}

// symlink creates a link whose target, resolved from the link's directory, stays inside.
func (x *extractor) symlink(name, target string) error {
	slashed := target
	if runtime.GOOS == "windows" {
		slashed = strings.ReplaceAll(target, `\`, "/")
	}
	switch {
	case target == "" || strings.ContainsRune(target, 0):
		return fmt.Errorf("%w: invalid symbolic link target", errUnsafe)
	case strings.HasPrefix(slashed, "/") || filepath.IsAbs(target) || filepath.VolumeName(target) != "":
		return fmt.Errorf("%w: symbolic link to absolute path %q", errUnsafe, target)
	}
	resolved := path.Join(path.Dir(filepath.ToSlash(name)), slashed)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Errorf("%w: symbolic link %q leads outside", errUnsafe, target)
	}
	if err := x.parent(name); err != nil {
		return err
	}
	if err := x.clear(name, false); err != nil {
		return err
	}
	return x.root.Symlink(target, name)
}

// hardlink links name to an earlier entry; the target is an archive name as well.
func (x *extractor) hardlink(name, target string) error {
	old, err := localName(target)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if old == "" {
		return fmt.Errorf("%w: hard link to the directory itself", errUnsafe)
	}
	if err := x.parent(name); err != nil {
		return err
	}
	if err := x.clear(name, false); err != nil {
		return err
	}
	return x.root.Link(old, name)
}
