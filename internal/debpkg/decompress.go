package debpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// controlFile extracts the control file from a control.tar.* member.
func (l Limits) controlFile(member string, data []byte) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", member, ErrBadControl, fmt.Sprintf(format, args...))
	}
	var r io.Reader
	switch strings.TrimPrefix(member, "control.tar") {
	case "":
		r = bytes.NewReader(data)
	case ".gz":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, bad("gzip: %v", err)
		}
		r = zr
	case ".xz":
		// The xz library allocates whatever dictionary a stream declares
		// (up to 4 GiB): check the declarations first.
		dict, err := xzMaxDict(data)
		if err != nil {
			return nil, bad("xz: %v", err)
		}
		if int64(dict) > l.MaxControlTar {
			return nil, fmt.Errorf("%s: %w: xz dictionary of %d bytes, the limit is %d", member, ErrTooLarge, dict, l.MaxControlTar)
		}
		zr, err := xz.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, bad("xz: %v", err)
		}
		r = zr
	case ".zst":
		zr, err := zstd.NewReader(bytes.NewReader(data),
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(uint64(max(l.MaxControlTar, zstd.MinWindowSize))),
			zstd.WithDecoderMaxMemory(uint64(l.MaxControlTar)))
		if err != nil {
			return nil, bad("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("%s: %w compression (known: control.tar, control.tar.gz, control.tar.xz, control.tar.zst)", member, ErrUnsupported)
	}

	lr := &limitReader{r: r, n: l.MaxControlTar}
	tr := tar.NewReader(lr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, bad("no control file")
		}
		if err != nil {
			return nil, l.readError(member, err)
		}
		if name := strings.TrimPrefix(h.Name, "./"); name != "control" {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, bad("control is not a regular file")
		}
		if h.Size > l.MaxControlFile {
			return nil, fmt.Errorf("%s: control file: %w: %d bytes, the limit is %d", member, ErrTooLarge, h.Size, l.MaxControlFile)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, l.readError(member, err)
		}
		return b, nil
	}
}

// readError describes an error from reading the decompressed archive.
func (l Limits) readError(member string, err error) error {
	switch {
	case errors.Is(err, errLimit):
		return fmt.Errorf("%s: %w: no control file in the first %d bytes", member, ErrTooLarge, l.MaxControlTar)
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return fmt.Errorf("%s: %w: zstd window beyond the limit of %d bytes", member, ErrTooLarge, l.MaxControlTar)
	}
	return fmt.Errorf("%s: %w: %v", member, ErrBadControl, err)
}

var errLimit = errors.New("read limit reached")

// limitReader is io.LimitReader failing, not ending, at the limit.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errLimit
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// xzMaxDict walks the structure of the xz streams in b (the whole member)
// from the end, through each stream's index, and returns the largest LZMA2
// dictionary any block declares. See the .xz file format, version 1.2.1.
func xzMaxDict(b []byte) (uint64, error) {
	var maxDict uint64
	end := len(b)
	streams := 0
	for {
		// Stream padding: multiples of four zero bytes after a stream.
		for end >= 4 && b[end-1] == 0 && b[end-2] == 0 && b[end-3] == 0 && b[end-4] == 0 {
			end -= 4
		}
		if end == 0 {
			break
		}
		if end < 24 {
			return 0, errors.New("truncated stream")
		}
		footer := b[end-12 : end]
		if footer[10] != 'Y' || footer[11] != 'Z' {
			return 0, errors.New("no stream footer (truncated?)")
		}
		indexEnd := end - 12
		backward := (uint64(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
		if backward > uint64(indexEnd-12) {
			return 0, errors.New("bad index size")
		}
		indexStart := indexEnd - int(backward)
		index := b[indexStart:indexEnd]
		if index[0] != 0 {
			return 0, errors.New("bad index")
		}
		count, p, err := uvarint(index, 1)
		if err != nil || count > uint64(len(index)) {
			return 0, errors.New("bad index")
		}
		sizes := make([]uint64, 0, count)
		var blocks uint64
		for range count {
			var unpadded uint64
			if unpadded, p, err = uvarint(index, p); err != nil {
				return 0, errors.New("bad index record")
			}
			if _, p, err = uvarint(index, p); err != nil {
				return 0, errors.New("bad index record")
			}
			if unpadded == 0 || unpadded > uint64(len(b)) {
				return 0, errors.New("bad index record")
			}
			sizes = append(sizes, unpadded)
			blocks += (unpadded + 3) &^ 3
		}
		if blocks+12 > uint64(indexStart) {
			return 0, errors.New("index does not match the stream")
		}
		start := indexStart - int(blocks) - 12
		if !bytes.HasPrefix(b[start:], []byte("\xfd7zXZ\x00")) {
			return 0, errors.New("no stream header where the index says")
		}
		off := start + 12
		for _, unpadded := range sizes {
			d, err := xzBlockDict(b[off:indexStart])
			if err != nil {
				return 0, err
			}
			maxDict = max(maxDict, d)
			off += int((unpadded + 3) &^ 3)
		}
		streams++
		end = start
	}
	if streams == 0 {
		return 0, errors.New("empty")
	}
	return maxDict, nil
}

// xzBlockDict returns the dictionary size of a block's LZMA2 filter.
func xzBlockDict(b []byte) (uint64, error) {
	if len(b) < 8 || b[0] == 0 {
		return 0, errors.New("bad block header")
	}
	size := (int(b[0]) + 1) * 4
	if size > len(b) {
		return 0, errors.New("truncated block header")
	}
	h := b[:size-4] // the CRC32 is the xz library's to check
	flags := h[1]
	filters := int(flags&3) + 1
	p := 2
	var err error
	for _, bit := range []byte{0x40, 0x80} { // compressed, uncompressed size
		if flags&bit != 0 {
			if _, p, err = uvarint(h, p); err != nil {
				return 0, errors.New("bad block header")
			}
		}
	}
	var dict uint64
	for range filters {
		var id, n uint64
		if id, p, err = uvarint(h, p); err != nil {
			return 0, errors.New("bad block header")
		}
		if n, p, err = uvarint(h, p); err != nil || n > uint64(len(h)-p) {
			return 0, errors.New("bad block header")
		}
		props := h[p : p+int(n)]
		p += int(n)
		if id == 0x21 { // LZMA2
			if len(props) != 1 || props[0]&0x3f > 40 {
				return 0, errors.New("bad LZMA2 properties")
			}
			bits := uint64(props[0] & 0x3f)
			if bits == 40 {
				dict = 1<<32 - 1
			} else {
				dict = (2 | bits&1) << (bits/2 + 11)
			}
		}
	}
	return dict, nil
}

// uvarint decodes an xz multibyte integer at b[p:].
func uvarint(b []byte, p int) (uint64, int, error) {
	if p > len(b) {
		return 0, p, errors.New("truncated")
	}
	v, n := binary.Uvarint(b[p:])
	if n <= 0 || n > 9 {
		return 0, p, errors.New("bad integer")
	}
	return v, p + n, nil
}
