package installer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Errors of Fetch, wrapped with details; test them with errors.Is.
var (
	ErrDigestMismatch = errors.New("digest mismatch")
	ErrSizeMismatch   = errors.New("size mismatch")
)

// errStartOver: the partial file cannot be continued (a server answering a different range).
var errStartOver = errors.New("cannot resume")

// Fetch downloads url into dir/<digest>.part with HTTP Range requests so that an interrupted
// download resumes where it stopped, checks size and SHA-256 and renames it to dir/<digest>,
// whose path it returns. digest is the SHA-256 in hex, optionally prefixed "sha256:"; the
// file name is the lower-case hex. A file already complete and verified is not downloaded
// again. A server that ignores Range (200 instead of 206) is read from the start.
//
// It never reads more than size bytes: a server sending more, or less, is an
// ErrSizeMismatch, wrong content an ErrDigestMismatch; then the partial file is removed and
// nothing is left behind. When a resumed download does not verify, the bytes kept from
// before may be the bad ones, so it is downloaded once more from the start. Other errors
// (network, HTTP status) keep the partial file for the next call. Calls for one digest and
// dir must not run concurrently. A nil client is http.DefaultClient.
func Fetch(ctx context.Context, client *http.Client, url, digest string, size int64, dir string) (path string, err error) {
	want, err := parseDigest(digest)
	if err != nil {
		return "", err
	}
	if size < 0 {
		return "", fmt.Errorf("fetch %s: negative size %d", url, size)
	}
	if client == nil {
		client = http.DefaultClient
	}
	final := filepath.Join(dir, want)
	part := final + ".part"

	switch err := verifyFile(final, want, size); {
	case err == nil:
		return final, nil
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrSizeMismatch):
		// A damaged earlier download: replace it.
		if err := os.Remove(final); err != nil {
			return "", fmt.Errorf("fetch: removing damaged %s: %w", final, err)
		}
	default:
		return "", fmt.Errorf("fetch: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("fetch: %w", err)
	}

	resumed, err := fetchPart(ctx, client, url, part, want, size)
	if resumed && (errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrSizeMismatch) || errors.Is(err, errStartOver)) {
		if rmErr := os.Remove(part); rmErr != nil {
			return "", fmt.Errorf("fetch: %w (and removing %s: %v)", err, part, rmErr)
		}
		_, err = fetchPart(ctx, client, url, part, want, size)
	}
	if err != nil {
		st, statErr := os.Stat(part)
		// A file that cannot be continued goes; so does an empty one (a refused request).
		if errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrSizeMismatch) || errors.Is(err, errStartOver) ||
			(statErr == nil && st.Size() == 0) {
			if rmErr := os.Remove(part); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
				err = fmt.Errorf("%w (and removing %s: %v)", err, part, rmErr)
			}
		}
		return "", fmt.Errorf("fetch %s: %w", url, err)
	}
	if err := os.Rename(part, final); err != nil {
		return "", fmt.Errorf("fetch: %w", err)
	}
	return final, nil
}

// parseDigest returns the lower-case hex of a SHA-256 digest; checking it also keeps the
// digest, which names files, from naming anything but a file in dir.
func parseDigest(digest string) (string, error) {
	d := strings.ToLower(strings.TrimPrefix(digest, "sha256:"))
	if len(d) != sha256.Size*2 {
		return "", fmt.Errorf("fetch: invalid SHA-256 digest %q", digest)
	}
	if _, err := hex.DecodeString(d); err != nil {
		return "", fmt.Errorf("fetch: invalid SHA-256 digest %q", digest)
	}
	return d, nil
}

// verifyFile checks size and digest of a file; a missing file is fs.ErrNotExist.
func verifyFile(path, want string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != size {
		return fmt.Errorf("%s: %w: %d bytes, want %d", path, ErrSizeMismatch, st.Size(), size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	return checkSum(h, want)
}

func checkSum(h hash.Hash, want string) error {
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: got sha256:%s, want sha256:%s", ErrDigestMismatch, got, want)
	}
	return nil
}

// fetchPart brings the partial file to size bytes, continuing what it holds, and verifies
// it. resumed tells whether bytes from an earlier attempt were kept. The file is closed on
// return, so that the caller may remove or rename it (Windows).
func fetchPart(ctx context.Context, client *http.Client, url, part, want string, size int64) (resumed bool, err error) {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	have := st.Size()
	h := sha256.New()
	restart := func() error {
		have = 0
		h.Reset()
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := f.Seek(0, io.SeekStart)
		return err
	}
	if have > size {
		if err := restart(); err != nil {
			return false, err
		}
	}
	if have > 0 {
		// The hash covers the whole file: feed it what is already there.
		if _, err := io.CopyN(h, f, have); err != nil {
			return false, fmt.Errorf("reading %s: %w", part, err)
		}
		resumed = true
	}
	if have < size {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return resumed, err
		}
		// Byte ranges count bytes of the file itself, not of a compressed transfer.
		req.Header.Set("Accept-Encoding", "identity")
		if have > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		}
		resp, err := client.Do(req)
		if err != nil {
			return resumed, err
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusPartialContent && have > 0:
			start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
			if err != nil || start != have {
				return resumed, fmt.Errorf("%w: asked for bytes from %d, got Content-Range %q",
					errStartOver, have, resp.Header.Get("Content-Range"))
			}
			if total >= 0 && total != size {
				return resumed, fmt.Errorf("%w: the server's file has %d bytes, want %d", ErrSizeMismatch, total, size)
			}
		case resp.StatusCode == http.StatusOK:
			if err := restart(); err != nil { // Range ignored: the body is the whole file
				return resumed, err
			}
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
			return resumed, fmt.Errorf("%w: the server's file is shorter than the %d bytes already fetched", ErrSizeMismatch, have)
		default:
			return resumed, fmt.Errorf("GET: %s", resp.Status)
		}
		if resp.ContentLength >= 0 && have+resp.ContentLength != size {
			return resumed, fmt.Errorf("%w: the server sends %d bytes, want %d", ErrSizeMismatch, have+resp.ContentLength, size)
		}
		// One byte more than needed is enough to tell that the server sends too much.
		n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, size-have+1))
		have += n
		switch {
		case have > size:
			return resumed, fmt.Errorf("%w: the server sends more than %d bytes", ErrSizeMismatch, size)
		case err != nil:
			// Interrupted: what arrived stays for the next call to continue.
			return resumed, fmt.Errorf("downloading (%d of %d bytes): %w", have, size, err)
		case have < size:
			return resumed, fmt.Errorf("%w: the server sent %d bytes, want %d", ErrSizeMismatch, have, size)
		}
	}
	if err := checkSum(h, want); err != nil {
		return resumed, err
	}
	if err := f.Sync(); err != nil {
		return resumed, err
	}
	return resumed, nil
}

// parseContentRange reads "bytes start-end/total" (total -1 for "*").
func parseContentRange(s string) (start, total int64, err error) {
	spec, ok := strings.CutPrefix(s, "bytes ")
	rng, tot, ok2 := strings.Cut(spec, "/")
	first, _, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, fmt.Errorf("invalid Content-Range %q", s)
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("invalid Content-Range %q", s)
	}
	if tot == "*" {
		return start, -1, nil
	}
	if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("invalid Content-Range %q", s)
	}
	return start, total, nil
}
