package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/debpkg"
	"github.com/patchday/patchday/internal/store"
)

// DefaultMaxPayloadSize is the largest payload an upload may bring unless configured.
const DefaultMaxPayloadSize = 2 << 30

// payloadTransferTime is how long one payload upload or download may take: far longer than
// the server's timeouts for ordinary requests.
const payloadTransferTime = 2 * time.Hour

// filenameCleaner keeps a payload's file name a plain base name for Content-Disposition.
var filenameCleaner = strings.NewReplacer("/", "_", "\\", "_", "\"", "_")

// uploadPayload stores the request body as a payload of the organisation: streamed to disk
// while its SHA-256 is computed, checked against ?sha256= and Content-Length when given, and
// made visible only when complete. A Debian package's control data is read and kept.
func (s *Server) uploadPayload(c *call) error {
	if s.cfg.Blobs == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Code: "no_payload_store", Message: "this server has no payload store"}
	}
	q := c.r.URL.Query()
	want := blob.Expect{MaxSize: s.cfg.MaxPayloadSize, Size: max(c.r.ContentLength, 0)}
	if v := q.Get("sha256"); v != "" {
		d, err := blob.ParseDigest(v)
		if err != nil {
			return errInvalid("sha256", "must be 64 hexadecimal characters")
		}
		want.Digest = d
	}
	if c.r.ContentLength > s.cfg.MaxPayloadSize {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "payload_too_large",
			Message: fmt.Sprintf("the payload of %d bytes is larger than the limit of %d bytes", c.r.ContentLength, s.cfg.MaxPayloadSize)}
	}
	filename := path.Base(filenameCleaner.Replace(q.Get("filename")))
	if filename == "." || filename == "/" {
		filename = ""
	}
	if len(filename) > 255 {
		return errInvalid("filename", "must be at most 255 bytes")
	}
	// Payloads are served from this server's origin to anyone: never as a type a browser
	// would render (a script uploaded as text/html would run here), so the uploader's
	// Content-Type is not kept; the type is octet-stream, or that of a Debian package.
	rc := http.NewResponseController(c.w)
	rc.SetReadDeadline(time.Now().Add(payloadTransferTime))
	rc.SetWriteDeadline(time.Now().Add(payloadTransferTime))
	ctx := c.r.Context()
	info, err := s.cfg.Blobs.Put(ctx, c.r.Body, want)
	switch {
	case errors.Is(err, blob.ErrTooLarge):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "payload_too_large", Message: err.Error()}
	case errors.Is(err, blob.ErrDigestMismatch):
		return &apiError{Status: http.StatusBadRequest, Code: "digest_mismatch", Field: "sha256", Message: "sha256: " + err.Error()}
	case errors.Is(err, blob.ErrSizeMismatch):
		return &apiError{Status: http.StatusBadRequest, Code: "truncated", Message: "the upload is incomplete: " + err.Error()}
	case err != nil:
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, ctx.Err()) && ctx.Err() != nil {
			return err
		}
		return &apiError{Status: http.StatusBadRequest, Code: "upload_failed", Message: "the upload failed: " + err.Error()}
	}
	rec := store.Payload{OrgID: c.org.ID, Digest: info.Digest, Size: info.Size, MediaType: "application/octet-stream", Filename: filename, CreatedBy: c.user.Username}
	if ctl, err := s.debControl(info.Digest); err == nil {
		rec.DebPackage, rec.DebVersion, rec.DebArch = ctl.Package, ctl.Version, ctl.Architecture
		rec.MediaType = debMediaType
	} else if strings.HasSuffix(filename, ".deb") || c.r.Header.Get("Content-Type") == debMediaType {
		s.forgetBlob(ctx, info)
		return errInvalid("payload", "is named or typed as a Debian package but is not a valid one: %v", err)
	}
	var existed bool
	var saved store.Payload
	save := func(tx *store.Tx) error {
		var err error
		if saved, existed, err = tx.SavePayload(ctx, rec); err != nil || existed {
			return err
		}
		return c.audit(tx, c.org.ID, "payload.upload", "payload", saved.Digest, map[string]any{"size": saved.Size, "filename": saved.Filename})
	}
	err = s.store.Update(ctx, save)
	if errors.Is(err, store.ErrConflict) {
		// The same content was recorded by a concurrent upload (PostgreSQL runs them side by
		// side): once more, finding that record.
		err = s.store.Update(ctx, save)
	}
	rec = saved
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	writeJSON(c.w, status, payloadResponse{Payload: rec, URL: payloadURL(rec.Digest)})
	return nil
}

type payloadResponse struct {
	store.Payload
	URL string `json:"url"`
}

const debMediaType = "application/vnd.debian.binary-package"

// forgetBlob removes a blob just stored for a refused upload, unless it was there before or
// some payload record uses it.
func (s *Server) forgetBlob(ctx context.Context, info blob.Info) {
	if info.Existed {
		return
	}
	if _, err := s.store.PayloadRecord(ctx, info.Digest); errors.Is(err, store.ErrNotFound) {
		if err := s.cfg.Blobs.Delete(ctx, info.Digest); err != nil {
			s.log.Warn("remove a refused payload", "sha256", info.Digest, "err", err)
		}
	}
}

// payloadURL is the stable, content-addressed address of a payload on this server.
func payloadURL(digest string) string { return "/payloads/sha256/" + digest }

// debControl reads a stored blob's Debian control data, if it is a Debian package.
func (s *Server) debControl(digest string) (*debpkg.Control, error) {
	f, _, err := s.cfg.Blobs.OpenFile(digest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return debpkg.Read(f)
}

func (s *Server) listPayloads(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	ps, err := s.store.ListPayloads(c.r.Context(), c.org.ID, store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	out := make([]payloadResponse, len(ps))
	for i, pl := range ps {
		out[i] = payloadResponse{Payload: pl, URL: payloadURL(pl.Digest)}
	}
	writeList(c.w, out, p.Limit, func(pr payloadResponse) int64 { return pr.ID })
	return nil
}

// servePayload answers a payload by digest, to anyone: payloads are content-addressed and
// agents verify digest and signature before installing, so the address is all that is needed,
// and any HTTP cache may keep a copy (ETag is the digest; the content never changes).
func (s *Server) servePayload(c *call) error {
	digest, err := blob.ParseDigest(c.r.PathValue("digest"))
	if err != nil {
		return errNotFound("payload")
	}
	rec, err := s.store.PayloadRecord(c.r.Context(), digest)
	if err != nil || s.cfg.Blobs == nil {
		return storeErr(err, "payload")
	}
	http.NewResponseController(c.w).SetWriteDeadline(time.Now().Add(payloadTransferTime))
	f, info, err := s.cfg.Blobs.OpenFile(digest)
	if errors.Is(err, blob.ErrNotFound) {
		return errNotFound("payload")
	} else if err != nil {
		return err
	}
	defer f.Close()
	filename := rec.Filename
	if filename == "" {
		filename = digest // always a download, never shown inline
	}
	mediaType := "application/octet-stream"
	if rec.MediaType == debMediaType {
		mediaType = debMediaType
	}
	c.w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'")
	blob.ServeContent(c.w, c.r, f, info, mediaType, filename)
	return nil
}
