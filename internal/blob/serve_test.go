package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const debType = "application/vnd.debian.binary-package"

// serveFixture stores content and serves every blob at /blobs/<digest>.
func serveFixture(t testing.TB, content []byte) (*httptest.Server, string) {
	t.Helper()
	d := newDisk(t)
	info, err := d.Put(context.Background(), bytes.NewReader(content), Expect{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dg := strings.TrimPrefix(r.URL.Path, "/blobs/")
		err := d.Serve(w, r, dg, debType, "hello_1.0-1_amd64.deb")
		switch {
		case errors.Is(err, ErrInvalidDigest):
			http.Error(w, err.Error(), http.StatusBadRequest)
		case errors.Is(err, ErrNotFound):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, srv.URL + "/blobs/" + info.Digest
}

func testContent(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func get(t *testing.T, method, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestServe(t *testing.T) {
	content := testContent(300_001)
	n := len(content)
	dg := sum(content)
	etag := ETag(dg)
	srv, url := serveFixture(t, content)

	t.Run("full GET", func(t *testing.T) {
		resp, body := get(t, "GET", url, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, content) {
			t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
		}
		want := map[string]string{
			"ETag":                   `"sha256:` + dg + `"`,
			"Cache-Control":          "public, max-age=31536000, immutable",
			"Accept-Ranges":          "bytes",
			"Content-Type":           debType,
			"Content-Disposition":    "attachment; filename=hello_1.0-1_amd64.deb",
			"Content-Length":         fmt.Sprint(n),
			"X-Content-Type-Options": "nosniff",
			"Last-Modified":          "",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		resp, body := get(t, "HEAD", url, nil)
		if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(n) {
			t.Errorf("status %d, body %d bytes, Content-Length %d", resp.StatusCode, len(body), resp.ContentLength)
		}
		if resp.Header.Get("ETag") != etag || resp.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("headers %v", resp.Header)
		}
	})

	ranges := []struct {
		spec       string
		start, end int // inclusive
	}{
		{"bytes=0-9", 0, 9},
		{"bytes=-5", n - 5, n - 1},
		{"bytes=1000-", 1000, n - 1},
		{"bytes=299990-999999", 299990, n - 1},
		{"bytes=0-0", 0, 0},
	}
	for _, rg := range ranges {
		t.Run("Range "+rg.spec, func(t *testing.T) {
			resp, body := get(t, "GET", url, map[string]string{"Range": rg.spec})
			if resp.StatusCode != http.StatusPartialContent {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if cr, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", rg.start, rg.end, n); cr != want {
				t.Errorf("Content-Range %q, want %q", cr, want)
			}
			if !bytes.Equal(body, content[rg.start:rg.end+1]) {
				t.Errorf("body differs (%d bytes)", len(body))
			}
			if resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") != CacheControl {
				t.Errorf("partial response lacks ETag or Cache-Control: %v", resp.Header)
			}
		})
	}

	t.Run("multiple ranges", func(t *testing.T) {
		resp, body := get(t, "GET", url, map[string]string{"Range": "bytes=0-9,100-199,-5"})
		if resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("status %d", resp.StatusCode)
		}
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		want := [][2]int{{0, 9}, {100, 199}, {n - 5, n - 1}}
		for i, w := range want {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if got := p.Header.Get("Content-Range"); got != fmt.Sprintf("bytes %d-%d/%d", w[0], w[1], n) {
				t.Errorf("part %d Content-Range %q", i, got)
			}
			if got := p.Header.Get("Content-Type"); got != debType {
				t.Errorf("part %d Content-Type %q", i, got)
			}
			b, _ := io.ReadAll(p)
			if !bytes.Equal(b, content[w[0]:w[1]+1]) {
				t.Errorf("part %d content differs", i)
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("extra part: %v", err)
		}
	})

	t.Run("unsatisfiable range", func(t *testing.T) {
		resp, _ := get(t, "GET", url, map[string]string{"Range": fmt.Sprintf("bytes=%d-", n)})
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Range"); got != fmt.Sprintf("bytes */%d", n) {
			t.Errorf("Content-Range %q", got)
		}
		if strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Error("an error response is marked immutable")
		}
	})

	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		t.Run("If-None-Match "+inm, func(t *testing.T) {
			resp, body := get(t, "GET", url, map[string]string{"If-None-Match": inm})
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
			}
			if resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") != CacheControl {
				t.Errorf("304 headers %v", resp.Header)
			}
		})
	}
	t.Run("If-None-Match other", func(t *testing.T) {
		resp, body := get(t, "GET", url, map[string]string{"If-None-Match": `"sha256:` + sum(nil) + `"`})
		if resp.StatusCode != 200 || len(body) != n {
			t.Errorf("status %d, %d bytes", resp.StatusCode, len(body))
		}
	})
	t.Run("If-Match other", func(t *testing.T) {
		resp, _ := get(t, "GET", url, map[string]string{"If-Match": `"nope"`})
		if resp.StatusCode != http.StatusPreconditionFailed {
			t.Errorf("status %d", resp.StatusCode)
		}
	})

	t.Run("If-Range", func(t *testing.T) {
		resp, body := get(t, "GET", url, map[string]string{"Range": "bytes=10-19", "If-Range": etag})
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, content[10:20]) {
			t.Errorf("matching If-Range: status %d", resp.StatusCode)
		}
		// A different (or weak) validator means the client's copy is stale:
		// the whole blob comes back.
		for _, v := range []string{`"sha256:` + sum(nil) + `"`, "W/" + etag} {
			resp, body = get(t, "GET", url, map[string]string{"Range": "bytes=10-19", "If-Range": v})
			if resp.StatusCode != 200 || !bytes.Equal(body, content) {
				t.Errorf("If-Range %s: status %d, %d bytes", v, resp.StatusCode, len(body))
			}
		}
	})

	// An agent's download breaks off in the middle; it resumes from what it
	// has, and the result hashes to the digest.
	t.Run("resume", func(t *testing.T) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		part := make([]byte, 123_457)
		if _, err := io.ReadFull(resp.Body, part); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // connection lost
		resp2, rest := get(t, "GET", url, map[string]string{
			"Range":    fmt.Sprintf("bytes=%d-", len(part)),
			"If-Range": resp.Header.Get("ETag"),
		})
		if resp2.StatusCode != http.StatusPartialContent {
			t.Fatalf("status %d", resp2.StatusCode)
		}
		full := append(part, rest...)
		if sum(full) != dg {
			t.Errorf("resumed download hashes to %s, want %s", sum(full), dg)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for path, code := range map[string]int{
			"/blobs/" + sum([]byte("absent")): 404,
			"/blobs/..%2f..%2fetc%2fpasswd":   400,
			"/blobs/" + strings.ToUpper(dg):   400,
			"/blobs/sha256:" + dg:             400,
		} {
			resp, _ := get(t, "GET", srv.URL+path, nil)
			if resp.StatusCode != code {
				t.Errorf("%s: status %d, want %d", path, resp.StatusCode, code)
			}
			if resp.Header.Get("ETag") != "" || resp.Header.Get("Cache-Control") != "" {
				t.Errorf("%s: blob headers on an error: %v", path, resp.Header)
			}
		}
	})
}

// When the blob cannot be opened, Serve writes nothing: the caller answers.
func TestServeWritesNothingOnError(t *testing.T) {
	d := newDisk(t)
	for _, dg := range []string{sum([]byte("absent")), "../../etc/passwd"} {
		rec := httptest.NewRecorder()
		err := d.Serve(rec, httptest.NewRequest("GET", "/", nil), dg, "", "")
		if err == nil {
			t.Fatalf("Serve(%q) succeeded", dg)
		}
		if len(rec.Header()) != 0 || rec.Body.Len() != 0 || rec.Flushed {
			t.Errorf("Serve(%q) wrote %v %q", dg, rec.Header(), rec.Body)
		}
	}
}

func TestServeHeaders(t *testing.T) {
	d := newDisk(t)
	info, err := d.Put(context.Background(), strings.NewReader("#!/bin/sh\n<html>"), Expect{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mediaType, filename string
		wantType, wantCD    string
	}{
		{"", "", "application/octet-stream", ""},
		{"not a type", "", "application/octet-stream", ""},
		{"text/plain; charset=utf-8", "notes.txt", "text/plain; charset=utf-8", "attachment; filename=notes.txt"},
		{debType, "../../etc/evil name.deb", debType, `attachment; filename="evil name.deb"`},
		{debType, `C:\Users\x\pkg.deb`, debType, "attachment; filename=pkg.deb"},
		{debType, "paquet-été.deb", debType, "attachment; filename*=utf-8''paquet-%C3%A9t%C3%A9.deb"},
		{debType, "a\r\nSet-Cookie: x=y", debType, `attachment; filename="aSet-Cookie: x=y"`},
		{debType, `quote".deb`, debType, `attachment; filename="quote\".deb"`},
		{debType, "..", debType, ""},
		{debType, "dir/", debType, ""},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		if err := d.Serve(rec, httptest.NewRequest("GET", "/", nil), info.Digest, tc.mediaType, tc.filename); err != nil {
			t.Fatal(err)
		}
		if got := rec.Header().Get("Content-Type"); got != tc.wantType {
			t.Errorf("media type %q: Content-Type %q, want %q", tc.mediaType, got, tc.wantType)
		}
		if got := rec.Header().Get("Content-Disposition"); got != tc.wantCD {
			t.Errorf("filename %q: Content-Disposition %q, want %q", tc.filename, got, tc.wantCD)
		}
		if cd := rec.Header().Get("Content-Disposition"); cd != "" {
			if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] == "" {
				t.Errorf("Content-Disposition %q does not parse: %v", cd, err)
			}
		}
	}
}

func BenchmarkServe(b *testing.B) {
	content := testContent(64 << 20)
	srv, url := serveFixture(b, content)
	_ = srv
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != int64(len(content)) {
			b.Fatal(n, err)
		}
	}
}
