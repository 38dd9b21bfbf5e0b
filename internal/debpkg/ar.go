package debpkg

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The ar format, as dpkg writes it: the magic "!<arch>\n", then for each
// member a 60-byte header (name 16, mtime 12, uid 6, gid 6, mode 8, size 10,
// magic "`\n"), the data, and a padding byte when the size is odd.
const (
	arMagic     = "!<arch>\n"
	arHeaderLen = 60
)

type arReader struct {
	r      *source
	pos    int64 // offset in the archive
	nextAt int64 // offset of the next header
}

type arHeader struct {
	name   string
	size   int64 // of the data (a BSD long name excluded)
	offset int64 // of the data
}

func newArReader(r *source) (*arReader, error) {
	var magic [len(arMagic)]byte
	n, err := io.ReadFull(r, magic[:])
	switch {
	case r.err != nil:
		return nil, err // an I/O error, reported as such by Read
	case n == 0:
		return nil, fmt.Errorf("%w: empty file", ErrNotDebian)
	case string(magic[:n]) != arMagic:
		return nil, fmt.Errorf("%w: not an ar archive", ErrNotDebian)
	}
	return &arReader{r: r, pos: int64(len(arMagic)), nextAt: int64(len(arMagic))}, nil
}

// read reads exactly len(p) bytes, reporting a short read as truncation.
func (a *arReader) read(p []byte, what string) error {
	n, err := io.ReadFull(a.r, p)
	a.pos += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: truncated archive: %s cut off: %w", ErrNotDebian, what, io.ErrUnexpectedEOF)
	}
	return err
}

// skipTo discards input up to offset off.
func (a *arReader) skipTo(off int64) error {
	if off <= a.pos {
		return nil
	}
	n, err := io.CopyN(io.Discard, a.r, off-a.pos)
	a.pos += n
	if err == io.EOF {
		return fmt.Errorf("%w: truncated archive: %w", ErrNotDebian, io.ErrUnexpectedEOF)
	}
	return err
}

// next returns the next member's header, or io.EOF at the archive's end.
func (a *arReader) next() (*arHeader, error) {
	if err := a.skipTo(a.nextAt); err != nil {
		return nil, err
	}
	var hb [arHeaderLen]byte
	n, err := io.ReadFull(a.r, hb[:])
	a.pos += int64(n)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		// dpkg pads an odd-sized last member; a lone "\n" is its padding.
		if n == 1 && hb[0] == '\n' {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: truncated archive: member header at offset %d cut off: %w", ErrNotDebian, a.pos-int64(n), io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, err
	}
	at := a.pos - arHeaderLen
	if string(hb[58:60]) != "`\n" {
		return nil, fmt.Errorf("%w: bad ar member header at offset %d", ErrNotDebian, at)
	}
	name := strings.TrimRight(string(hb[0:16]), " ")
	sizeText := strings.TrimRight(string(hb[48:58]), " ")
	size, err := strconv.ParseInt(sizeText, 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("%w: bad size %q in ar member header at offset %d", ErrNotDebian, sizeText, at)
	}
	h := &arHeader{size: size, offset: a.pos}
	a.nextAt = a.pos + size + size%2
	if rest, ok := strings.CutPrefix(name, "#1/"); ok {
		// BSD ar: the name (of that length) starts the data.
		nl, err := strconv.Atoi(rest)
		if err != nil || nl <= 0 || nl > 256 || int64(nl) > size {
			return nil, fmt.Errorf("%w: bad long member name %q at offset %d", ErrNotDebian, name, at)
		}
		nb := make([]byte, nl)
		if err := a.read(nb, "member name"); err != nil {
			return nil, err
		}
		name = string(bytes.TrimRight(nb, "\x00"))
		h.size -= int64(nl)
		h.offset += int64(nl)
	} else {
		name = strings.TrimSuffix(name, "/") // GNU ar ends names with "/"
	}
	if name == "" {
		return nil, fmt.Errorf("%w: ar member without a name at offset %d", ErrNotDebian, at)
	}
	h.name = name
	return h, nil
}

// nextSkipping is next, skipping the members that deb(5) reserves for
// extensions (their names start with "_").
func (a *arReader) nextSkipping() (*arHeader, error) {
	for {
		h, err := a.next()
		if err != nil || !strings.HasPrefix(h.name, "_") {
			return h, err
		}
	}
}

// readAll reads a member's data; the caller has checked its size.
func (a *arReader) readAll(h *arHeader) ([]byte, error) {
	if err := a.skipTo(h.offset); err != nil {
		return nil, err
	}
	b := make([]byte, h.size)
	if err := a.read(b, fmt.Sprintf("%s (%d bytes)", h.name, h.size)); err != nil {
		return nil, err
	}
	return b, nil
}

// checkComplete verifies, when the input can seek, that the member's data
// is all there. On a plain stream it does nothing.
func (a *arReader) checkComplete(h *arHeader) error {
	s, ok := a.r.r.(io.Seeker)
	if !ok {
		return nil
	}
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil // not really seekable (a pipe)
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return nil
	}
	// The archive may start after offset 0 of the input: measure from here.
	if have := end - cur - (h.offset - a.pos); have < h.size {
		return fmt.Errorf("%w: truncated archive: %s has %d of its %d bytes: %w",
			ErrNotDebian, h.name, max(have, 0), h.size, io.ErrUnexpectedEOF)
	}
	return nil
}
