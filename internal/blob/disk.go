package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Layout under a Disk's root directory:
//
//	blobs/sha256/ab/abcdef...   one file per blob, named by its full digest,
//	                            sharded by the digest's first two characters
//	tmp/put-*                   uploads in progress (same file system, so the
//	                            final step is an atomic link or rename)
const (
	blobsDir = "blobs/sha256"
	tmpDir   = "tmp"
	tmpGlob  = "put-*"

	dirMode  = 0o750
	fileMode = 0o640

	// DefaultTempMaxAge is how old a leftover temporary file must be before
	// OpenDisk removes it. A temporary file's age counts from its last
	// write, so only uploads stalled that long are affected.
	DefaultTempMaxAge = 30 * time.Minute
)

// DiskOptions tunes OpenDisk. The zero value gives the defaults.
type DiskOptions struct {
	// TempMaxAge: leftover temporary files (from a crash) not written to
	// for this long are removed when the store is opened. 0 means
	// DefaultTempMaxAge; a negative value disables the cleanup.
	TempMaxAge time.Duration
}

// Disk is a Store on a local file system. It is safe for concurrent use,
// also by several processes sharing the same directory.
type Disk struct {
	root  string
	blobs string
	tmp   string
}

var _ Store = (*Disk)(nil)

// OpenDisk opens (creating it if needed) a blob store rooted at dir and
// removes temporary files left over by a crash.
func OpenDisk(dir string, opts DiskOptions) (*Disk, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: store directory %q: %w", dir, err)
	}
	d := &Disk{
		root:  abs,
		blobs: filepath.Join(abs, filepath.FromSlash(blobsDir)),
		tmp:   filepath.Join(abs, tmpDir),
	}
	for _, p := range []string{d.blobs, d.tmp} {
		if err := os.MkdirAll(p, dirMode); err != nil {
			return nil, fmt.Errorf("blob: creating store directory: %w", err)
		}
	}
	age := opts.TempMaxAge
	if age == 0 {
		age = DefaultTempMaxAge
	}
	if age > 0 {
		if _, err := d.CleanTemp(age); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Dir returns the store's root directory (absolute).
func (d *Disk) Dir() string { return d.root }

// CleanTemp removes temporary files not modified for olderThan and returns
// how many it removed. OpenDisk calls it; a server may call it periodically.
func (d *Disk) CleanTemp(olderThan time.Duration) (int, error) {
	entries, err := os.ReadDir(d.tmp)
	if err != nil {
		return 0, fmt.Errorf("blob: cleaning temporary files: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	for _, e := range entries {
		if ok, _ := filepath.Match(tmpGlob, e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue // vanished meanwhile, or still fresh
		}
		if err := os.Remove(filepath.Join(d.tmp, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("blob: cleaning temporary files: %w", err)
		}
		removed++
	}
	return removed, nil
}

// path returns the final path of a validated digest.
func (d *Disk) path(digest string) string {
	return filepath.Join(d.blobs, digest[:2], digest)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Put implements Store. The content is streamed into a temporary file while
// its SHA-256 and size are computed; the file is synced, then linked under
// its final name (never overwriting an existing blob) and the directory is
// synced. Put fails, leaving nothing behind, when r returns an error
// (a truncated upload), when ctx is cancelled, or when want is not met.
func (d *Disk) Put(ctx context.Context, r io.Reader, want Expect) (Info, error) {
	if want.Digest != "" {
		if err := ValidateDigest(want.Digest); err != nil {
			return Info{}, fmt.Errorf("blob: expected digest: %w", err)
		}
	}
	if want.MaxSize > 0 && want.Size > want.MaxSize {
		return Info{}, fmt.Errorf("%w: declared size %d bytes exceeds the limit of %d bytes", ErrTooLarge, want.Size, want.MaxSize)
	}
	// Read at most limit+1 bytes: one more than allowed proves the excess.
	limit := int64(-1)
	if want.MaxSize > 0 {
		limit = want.MaxSize
	}
	if want.Size > 0 && (limit < 0 || want.Size < limit) {
		limit = want.Size
	}

	f, err := os.CreateTemp(d.tmp, tmpGlob)
	if err != nil {
		return Info{}, fmt.Errorf("blob: creating temporary file: %w", err)
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
		os.Remove(tmp) // after a successful link the final name remains
	}()

	h := sha256.New()
	n, err := copyHashed(ctx, f, h, r, limit)
	if err != nil {
		return Info{}, err
	}
	if limit >= 0 && n > limit {
		if want.MaxSize > 0 && n > want.MaxSize {
			return Info{}, fmt.Errorf("%w: exceeds the limit of %d bytes", ErrTooLarge, want.MaxSize)
		}
		return Info{}, fmt.Errorf("%w: more than the expected %d bytes", ErrSizeMismatch, want.Size)
	}
	if want.Size > 0 && n != want.Size {
		return Info{}, fmt.Errorf("%w: got %d bytes, want %d", ErrSizeMismatch, n, want.Size)
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if want.Digest != "" && digest != want.Digest {
		return Info{}, fmt.Errorf("%w: content has sha256 %s, want %s", ErrDigestMismatch, digest, want.Digest)
	}

	if err := f.Chmod(fileMode); err != nil && runtime.GOOS != "windows" {
		return Info{}, fmt.Errorf("blob: temporary file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("blob: syncing temporary file: %w", err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("blob: closing temporary file: %w", err)
	}
	existed, err := d.commit(tmp, digest, n)
	if err != nil {
		return Info{}, err
	}
	info, err := d.Stat(ctx, digest)
	if err != nil {
		return Info{}, fmt.Errorf("blob: after storing %s: %w", digest, err)
	}
	info.Existed = existed
	return info, nil
}

// copyHashed copies r to f and h until EOF, or until more than limit bytes
// were read (limit >= 0); it returns the number of bytes read.
func copyHashed(ctx context.Context, f *os.File, h io.Writer, r io.Reader, limit int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("blob: upload interrupted after %d bytes: %w", n, err)
		}
		p := buf
		if limit >= 0 {
			if rest := limit + 1 - n; rest < int64(len(p)) {
				p = p[:rest]
			}
		}
		m, rerr := r.Read(p)
		if m > 0 {
			h.Write(p[:m])
			if _, err := f.Write(p[:m]); err != nil {
				return n, fmt.Errorf("blob: writing temporary file: %w", err)
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("blob: reading payload after %d bytes: %w", n, rerr)
		}
		if limit >= 0 && n > limit {
			return n, nil
		}
	}
}

// commit gives the complete, synced temporary file its final name unless a
// blob with that digest already exists. It reports whether one existed.
func (d *Disk) commit(tmp, digest string, size int64) (existed bool, err error) {
	final := d.path(digest)
	shard := filepath.Dir(final)
	if err := os.Mkdir(shard, dirMode); err == nil {
		if err := syncDir(d.blobs); err != nil {
			return false, err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("blob: creating shard directory: %w", err)
	}

	// A hard link creates the final name atomically and fails if it exists,
	// so concurrent uploads of the same content store it exactly once.
	lerr := os.Link(tmp, final)
	switch {
	case lerr == nil:
		return false, syncDir(shard)
	case errors.Is(lerr, fs.ErrExist):
		fi, err := os.Stat(final)
		if err == nil && fi.Mode().IsRegular() && fi.Size() == size {
			// Keep it; refresh its time for garbage-collection grace periods.
			now := time.Now()
			_ = os.Chtimes(final, now, now)
			return true, nil
		}
		// A damaged or foreign entry under a valid name: replace it.
	default:
		// The file system may not support hard links: rename instead. Two
		// racing writers then both rename identical content; harmless.
		if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
			return true, nil
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return false, fmt.Errorf("blob: storing %s: %w", digest, err)
	}
	return false, syncDir(shard)
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there; NTFS journals metadata
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: syncing directory: %w", err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return fmt.Errorf("blob: syncing directory %s: %w", dir, err)
	}
	return nil
}

// OpenFile returns the blob's file, for callers that want an *os.File (the
// kernel's sendfile is then used when it is copied to a network connection).
func (d *Disk) OpenFile(digest string) (*os.File, Info, error) {
	if err := ValidateDigest(digest); err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(d.path(digest))
	if err != nil {
		return nil, Info{}, notFound(digest, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("blob: %s: %w", digest, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, fmt.Errorf("blob: %s: %w (not a regular file)", digest, ErrNotFound)
	}
	return f, infoOf(digest, fi), nil
}

// Open implements Store; the returned value is an *os.File.
func (d *Disk) Open(ctx context.Context, digest string) (io.ReadSeekCloser, Info, error) {
	f, info, err := d.OpenFile(digest)
	if err != nil {
		return nil, Info{}, err
	}
	return f, info, nil
}

// Stat implements Store.
func (d *Disk) Stat(ctx context.Context, digest string) (Info, error) {
	if err := ValidateDigest(digest); err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(d.path(digest))
	if err != nil {
		return Info{}, notFound(digest, err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("blob: %s: %w (not a regular file)", digest, ErrNotFound)
	}
	return infoOf(digest, fi), nil
}

// Delete implements Store.
func (d *Disk) Delete(ctx context.Context, digest string) error {
	if err := ValidateDigest(digest); err != nil {
		return err
	}
	p := d.path(digest)
	if err := os.Remove(p); err != nil {
		return notFound(digest, err)
	}
	return syncDir(filepath.Dir(p))
}

// Walk implements Store. Files in the store directory whose names are not
// digests in the right shard are ignored.
func (d *Disk) Walk(ctx context.Context, fn func(Info) error) error {
	shards, err := os.ReadDir(d.blobs)
	if err != nil {
		return fmt.Errorf("blob: listing blobs: %w", err)
	}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 || !isLowerHex(sh.Name()) {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(d.blobs, sh.Name()))
		if err != nil {
			return fmt.Errorf("blob: listing blobs: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if !e.Type().IsRegular() || ValidateDigest(name) != nil || !strings.HasPrefix(name, sh.Name()) {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				return fmt.Errorf("blob: listing blobs: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(infoOf(name, fi)); err != nil {
				if errors.Is(err, fs.SkipAll) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

// Verify re-reads a stored blob and checks that its content still hashes
// to its digest (for scrubbing). A damaged blob gives ErrDigestMismatch.
func (d *Disk) Verify(ctx context.Context, digest string) error {
	f, _, err := d.OpenFile(digest)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, readerCtx{ctx, f}); err != nil {
		return fmt.Errorf("blob: verifying %s: %w", digest, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		return fmt.Errorf("%w: stored blob %s is damaged: its content has sha256 %s", ErrDigestMismatch, digest, got)
	}
	return nil
}

type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func infoOf(digest string, fi fs.FileInfo) Info {
	return Info{Digest: digest, Size: fi.Size(), ModTime: fi.ModTime(), Existed: true}
}

func notFound(digest string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, digest)
	}
	return fmt.Errorf("blob: %s: %w", digest, err)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
