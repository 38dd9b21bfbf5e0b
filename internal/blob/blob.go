// Package blob stores payloads by content: every blob is addressed by the
// SHA-256 of its bytes, written once, never modified, and served with HTTP
// range requests and immutable cache headers.
//
// Store is the storage contract; Disk implements it on a local file system.
// An S3-compatible implementation can satisfy the same interface later.
//
// Digests are always 64 lowercase hexadecimal characters (the hex SHA-256 of
// the content). Every function that takes a digest validates it first, so a
// digest taken from a URL or a request body can never name a path outside
// the store.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Errors returned by stores, wrapped with context; test them with errors.Is.
var (
	// ErrNotFound: no blob with that digest is stored.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidDigest: the digest is not 64 lowercase hexadecimal characters.
	ErrInvalidDigest = errors.New("blob: invalid digest")
	// ErrTooLarge: the content exceeds Expect.MaxSize; the message names the limit.
	ErrTooLarge = errors.New("blob: payload too large")
	// ErrDigestMismatch: the content's SHA-256 is not Expect.Digest.
	ErrDigestMismatch = errors.New("blob: digest mismatch")
	// ErrSizeMismatch: the content's length is not Expect.Size.
	ErrSizeMismatch = errors.New("blob: size mismatch")
)

// Info describes a stored blob.
type Info struct {
	Digest string // hex SHA-256 of the content, 64 lowercase characters
	Size   int64  // length of the content in bytes
	// ModTime is when the blob was stored, or last put again. A garbage
	// collector can use it as a grace period for uploads in flight.
	ModTime time.Time
	// Existed is set by Put when the blob was already stored: the existing
	// copy was kept and the new one discarded. Stat and Open set it too.
	// In a multi-tenant API, do not show it to users: it would tell them
	// whether anyone else stored the same content.
	Existed bool
}

// Expect carries what the caller knows about content before it is stored.
// The zero value checks nothing and imposes no limit.
type Expect struct {
	// Digest is the expected hex SHA-256; "" means not checked.
	Digest string
	// Size is the expected length in bytes, checked when > 0. (An empty
	// payload can be pinned by its Digest.) Put stops reading once the
	// content is longer than Size.
	Size int64
	// MaxSize is the largest content accepted, when > 0. Put never reads
	// more than MaxSize+1 bytes from its reader.
	MaxSize int64
}

// Store is content-addressed blob storage.
//
// A blob becomes visible under its digest only once it is complete and
// durable; readers never see a partial blob.
type Store interface {
	// Put streams r into the store, computing its SHA-256 and size, and
	// enforcing want. On any error nothing is stored. Content already
	// stored is kept once and reported with Info.Existed.
	Put(ctx context.Context, r io.Reader, want Expect) (Info, error)
	// Open returns the blob's content for reading and seeking. The caller
	// closes it.
	Open(ctx context.Context, digest string) (io.ReadSeekCloser, Info, error)
	// Stat describes a stored blob.
	Stat(ctx context.Context, digest string) (Info, error)
	// Delete removes a blob (garbage collection). The caller makes sure
	// nothing references the blob and no upload of it is in flight.
	Delete(ctx context.Context, digest string) error
	// Walk calls fn for every stored blob, in digest order. If fn returns
	// fs.SkipAll, Walk stops and returns nil; any other error stops Walk
	// and is returned.
	Walk(ctx context.Context, fn func(Info) error) error
}

// ValidateDigest returns nil when d is a canonical digest (64 lowercase
// hexadecimal characters) and an error wrapping ErrInvalidDigest otherwise.
func ValidateDigest(d string) error {
	if len(d) != 64 {
		return fmt.Errorf("%w: %q is not 64 hexadecimal characters", ErrInvalidDigest, clip(d))
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: %q has a character other than 0-9 and a-f", ErrInvalidDigest, clip(d))
		}
	}
	return nil
}

// ParseDigest accepts a digest as users write it ("sha256:" prefix
// optional, either letter case) and returns the canonical form.
func ParseDigest(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) >= 7 && strings.EqualFold(t[:7], "sha256:") {
		t = t[7:]
	}
	t = strings.ToLower(t)
	if err := ValidateDigest(t); err != nil {
		return "", err
	}
	return t, nil
}

// ETag returns the strong entity tag of a blob: "sha256:<hex>", quoted.
func ETag(digest string) string { return `"sha256:` + digest + `"` }

// clip shortens untrusted input quoted in error messages.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
