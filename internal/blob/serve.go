package blob

import (
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// CacheControl is sent with every blob: content-addressed blobs never
// change, so any HTTP cache may keep them for a year without revalidation.
const CacheControl = "public, max-age=31536000, immutable"

// Serve writes the blob to w with http.ServeContent semantics: single and
// multiple byte ranges, HEAD, conditional requests (If-None-Match, If-Range,
// If-Match) against the strong ETag "sha256:<digest>", plus immutable cache
// headers, Content-Type mediaType (application/octet-stream when empty or
// invalid) and, when filename is not empty, Content-Disposition: attachment
// with that file name.
//
// When the blob cannot be opened, Serve writes nothing and returns the error
// (ErrInvalidDigest, ErrNotFound, or an I/O error), so the caller answers in
// its own error format. Serve does not check the request method: route only
// GET and HEAD to it.
//
// With a Disk the content is an *os.File, so the kernel's sendfile copies it.
func Serve(w http.ResponseWriter, r *http.Request, s Store, digest, mediaType, filename string) error {
	content, info, err := s.Open(r.Context(), digest)
	if err != nil {
		return err
	}
	defer content.Close()
	ServeContent(w, r, content, info, mediaType, filename)
	return nil
}

// Serve is the package-level Serve on this store.
func (d *Disk) Serve(w http.ResponseWriter, r *http.Request, digest, mediaType, filename string) error {
	return Serve(w, r, d, digest, mediaType, filename)
}

// ServeContent serves already opened blob content described by info; see
// Serve. Pass an *os.File as content to let the kernel copy it.
func ServeContent(w http.ResponseWriter, r *http.Request, content io.ReadSeeker, info Info, mediaType, filename string) {
	h := w.Header()
	h.Set("ETag", ETag(info.Digest))
	h.Set("Cache-Control", CacheControl)
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", contentType(mediaType))
	if cd := contentDisposition(filename); cd != "" {
		h.Set("Content-Disposition", cd)
	}
	// No modification time: the ETag is the validator. (ServeContent then
	// sends no Last-Modified and ignores If-Modified-Since.)
	http.ServeContent(w, r, "", time.Time{}, content)
}

func contentType(mediaType string) string {
	const def = "application/octet-stream"
	if mediaType == "" {
		return def
	}
	mt, params, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return def
	}
	return mime.FormatMediaType(mt, params)
}

// contentDisposition returns "attachment; filename=..." for the base name of
// filename (directories and control characters removed; non-ASCII names are
// encoded as RFC 2231 says), or "" when no usable name remains.
func contentDisposition(filename string) string {
	if i := strings.LastIndexAny(filename, `/\`); i >= 0 {
		filename = filename[i+1:]
	}
	filename = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, filename)
	filename = strings.TrimSpace(filename)
	if filename == "" || filename == "." || filename == ".." {
		return ""
	}
	if cd := mime.FormatMediaType("attachment", map[string]string{"filename": filename}); cd != "" {
		return cd
	}
	return "attachment"
}
