// Package debpkg reads the control metadata of Debian binary packages (.deb
// files): package name, version, architecture, dependencies and the other
// fields of the package's control file.
//
// A .deb is an ar archive whose members are debian-binary (format version
// "2.0"), control.tar[.gz|.xz|.zst] and data.tar[.*], in that order
// (deb(5)). Read stops after the control member, so it costs the same for a
// 1 GiB package as for a 1 KiB one. Memory is bounded by Limits: a hostile
// file cannot make Read allocate more than a few tens of MiB.
package debpkg

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Errors, wrapped with details; test them with errors.Is.
var (
	// ErrNotDebian: the input is not a Debian binary package: not an ar
	// archive, no or a wrong debian-binary member, members missing or out
	// of order, or the archive is truncated.
	ErrNotDebian = errors.New("not a Debian package")
	// ErrBadControl: the control archive or the control file in it is
	// damaged or invalid (no control file, a syntax error, a required field
	// missing or malformed).
	ErrBadControl = errors.New("invalid control data")
	// ErrUnsupported: a compression this package does not read.
	ErrUnsupported = errors.New("unsupported")
	// ErrTooLarge: a part of the package exceeds its limit.
	ErrTooLarge = errors.New("too large")
)

// Control is the metadata of a binary package.
type Control struct {
	// Package is the package name, lowercased as dpkg does.
	Package      string
	Version      string // e.g. "1:3.0.11-1~deb12u2"
	Architecture string // e.g. "amd64", "all"
	Maintainer   string // "" when absent
	// Depends is the Depends field folded onto one line ("" when absent).
	Depends string
	// InstalledSizeKiB is the Installed-Size field, in KiB (0 when absent
	// or not a number).
	InstalledSizeKiB int64
	// Description is the first line (synopsis) of the Description field.
	Description string
	// Fields holds every field of the control file, in file order.
	Fields Paragraph
	// ControlMember names the control archive read, e.g. "control.tar.xz".
	ControlMember string
}

// Limits bounds the work and memory spent on one package. A zero field
// takes its value from DefaultLimits.
type Limits struct {
	// MaxControlMember is the largest compressed control.tar.* member.
	MaxControlMember int64
	// MaxControlTar is how many bytes of the decompressed control archive
	// may be read while looking for the control file (a decompression bomb
	// stops here); it also bounds xz dictionaries and zstd windows.
	MaxControlTar int64
	// MaxControlFile is the largest control file.
	MaxControlFile int64
}

// DefaultLimits are generous for real packages: control members are
// typically a few KiB, large packages' md5sums lists reach a few MiB.
var DefaultLimits = Limits{
	MaxControlMember: 8 << 20,
	MaxControlTar:    64 << 20,
	MaxControlFile:   1 << 20,
}

func (l Limits) withDefaults() Limits {
	if l.MaxControlMember <= 0 {
		l.MaxControlMember = DefaultLimits.MaxControlMember
	}
	if l.MaxControlTar <= 0 {
		l.MaxControlTar = DefaultLimits.MaxControlTar
	}
	if l.MaxControlFile <= 0 {
		l.MaxControlFile = DefaultLimits.MaxControlFile
	}
	return l
}

// ReadFile reads the control metadata of the .deb file at path.
func ReadFile(path string) (*Control, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Read reads the control metadata of a .deb from r with DefaultLimits.
//
// Read consumes r up to the header of the data member. When r is also an
// io.Seeker (a file, a stored blob), Read checks as well that the data
// member is complete, so a truncated download is refused.
func Read(r io.Reader) (*Control, error) { return DefaultLimits.Read(r) }

// Read is the package-level Read with these limits.
func (l Limits) Read(r io.Reader) (*Control, error) {
	l = l.withDefaults()
	src := &source{r: r}
	c, err := l.read(src)
	if err != nil && src.err != nil {
		// The reader itself failed (an I/O error, not a format problem):
		// report that, not a misleading verdict on the content.
		return nil, fmt.Errorf("reading package: %w", src.err)
	}
	return c, err
}

func (l Limits) read(src *source) (*Control, error) {
	ar, err := newArReader(src)
	if err != nil {
		return nil, err
	}

	// debian-binary: the format version.
	h, err := ar.next()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: missing debian-binary (empty ar archive)", ErrNotDebian)
	}
	if err != nil {
		return nil, err
	}
	if h.name != "debian-binary" {
		return nil, fmt.Errorf("%w: missing debian-binary (the first member is %q)", ErrNotDebian, h.name)
	}
	if h.size > 64 {
		return nil, fmt.Errorf("%w: debian-binary has %d bytes", ErrNotDebian, h.size)
	}
	vb, err := ar.readAll(h)
	if err != nil {
		return nil, err
	}
	ver, _, _ := strings.Cut(string(vb), "\n")
	if major, _, ok := strings.Cut(ver, "."); !ok || major != "2" {
		return nil, fmt.Errorf("%w: format version %q in debian-binary, want 2.x", ErrNotDebian, clip(ver))
	}

	// control.tar.*
	h, err = ar.nextSkipping()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: missing control.tar member", ErrNotDebian)
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(h.name, "control.tar") {
		return nil, fmt.Errorf("%w: missing control.tar member (found %q after debian-binary)", ErrNotDebian, h.name)
	}
	if h.size > l.MaxControlMember {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", h.name, ErrTooLarge, h.size, l.MaxControlMember)
	}
	member, err := ar.readAll(h)
	if err != nil {
		return nil, err
	}
	text, err := l.controlFile(h.name, member)
	if err != nil {
		return nil, err
	}
	c, err := ParseControl(text)
	if err != nil {
		return nil, fmt.Errorf("%s: control file: %w", h.name, err)
	}
	c.ControlMember = h.name

	// data.tar.*: must follow, and be complete when that can be checked.
	h, err = ar.nextSkipping()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: missing data.tar member", ErrNotDebian)
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(h.name, "data.tar") {
		return nil, fmt.Errorf("%w: missing data.tar member (found %q after %s)", ErrNotDebian, h.name, c.ControlMember)
	}
	if err := ar.checkComplete(h); err != nil {
		return nil, err
	}
	return c, nil
}

// source wraps the caller's reader to tell its errors from format errors.
type source struct {
	r   io.Reader
	err error // first error other than io.EOF
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

func clip(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
