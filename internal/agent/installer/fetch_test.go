package installer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// payload is the file the test servers serve: 64 KiB of random bytes.
var payload = func() []byte {
	b := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}()

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// recorder is a test server that notes the Range header of every request.
type recorder struct {
	mu     sync.Mutex
	ranges []string // "" for a request without Range
}

func (r *recorder) serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.ranges = append(r.ranges, req.Header.Get("Range"))
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ranges)
}

// serveBytes serves b with Range support.
func serveBytes(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		http.ServeContent(w, req, "payload", time.Time{}, bytes.NewReader(b))
	}
}

// listDir names the files in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFetch(t *testing.T) {
	digest := sha(payload)
	size := int64(len(payload))
	changed := slices.Clone(payload)
	changed[40000] ^= 1
	const half = 30000

	tests := []struct {
		name    string
		handler http.HandlerFunc
		digest  string
		size    int64
		before  map[string][]byte // files in dir before the call
		wantErr error             // nil: success
		fails   bool              // an error that is no mismatch (wantErr nil)
		ranges  []string          // Range headers of the requests made, in order
	}{
		{name: "full download", handler: serveBytes(payload), ranges: []string{""}},
		{name: "digest with prefix and upper case", handler: serveBytes(payload),
			digest: "sha256:" + strings.ToUpper(digest), ranges: []string{""}},
		{name: "wrong digest", handler: serveBytes(payload), digest: sha([]byte("other")),
			wantErr: ErrDigestMismatch, ranges: []string{""}},
		{name: "one byte changed", handler: serveBytes(changed), wantErr: ErrDigestMismatch, ranges: []string{""}},
		{name: "more than size", handler: serveBytes(append(slices.Clone(payload), 'x')),
			wantErr: ErrSizeMismatch, ranges: []string{""}},
		{name: "more than size without Content-Length", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write(payload[:100])
			w.(http.Flusher).Flush() // chunked from here: the length is not announced
			w.Write(payload[100:])
			w.Write([]byte("trailing garbage"))
		}, wantErr: ErrSizeMismatch, ranges: []string{""}},
		{name: "endless stream is cut at size", handler: func(w http.ResponseWriter, r *http.Request) {
			for r.Context().Err() == nil { // until the client hangs up
				if _, err := w.Write(payload); err != nil {
					return
				}
			}
		}, wantErr: ErrSizeMismatch, ranges: []string{""}},
		{name: "less than size", handler: serveBytes(payload[:size-1]), wantErr: ErrSizeMismatch, ranges: []string{""}},
		{name: "resume from a partial file", handler: serveBytes(payload),
			before: map[string][]byte{digest + ".part": payload[:half]},
			ranges: []string{"bytes=" + strconv.Itoa(half) + "-"}},
		{name: "server ignores Range", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write(payload) // 200 and the whole file, whatever was asked
		}, before: map[string][]byte{digest + ".part": payload[:half]},
			ranges: []string{"bytes=" + strconv.Itoa(half) + "-"}},
		{name: "damaged partial file: retried from the start", handler: serveBytes(payload),
			before: map[string][]byte{digest + ".part": make([]byte, half)},
			ranges: []string{"bytes=" + strconv.Itoa(half) + "-", ""}},
		{name: "complete partial file is only verified", handler: serveBytes(payload),
			before: map[string][]byte{digest + ".part": payload}, ranges: nil},
		{name: "already complete: no request", handler: serveBytes(payload),
			before: map[string][]byte{digest: payload}, ranges: nil},
		{name: "damaged complete file is replaced", handler: serveBytes(payload),
			before: map[string][]byte{digest: changed}, ranges: []string{""}},
		{name: "not found", handler: http.NotFound, fails: true, ranges: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.before {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			rec := &recorder{}
			srv := rec.serve(t, tt.handler)
			d, sz := digest, size
			if tt.digest != "" {
				d = tt.digest
			}
			if tt.size != 0 {
				sz = tt.size
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			path, err := Fetch(ctx, srv.Client(), srv.URL+"/p", d, sz, dir)
			if el := time.Since(start); el > 5*time.Second { // an endless stream must be cut, not timed out
				t.Errorf("Fetch took %v", el)
			}
			if got := rec.got(); !slices.Equal(got, tt.ranges) {
				t.Errorf("requests' Range headers %q, want %q", got, tt.ranges)
			}
			if tt.wantErr != nil || tt.fails {
				switch {
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				case tt.fails && (err == nil || errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrSizeMismatch)):
					t.Fatalf("error %v, want one that is no mismatch", err)
				}
				if path != "" {
					t.Errorf("path %q with an error", path)
				}
				if left := listDir(t, dir); len(left) != 0 {
					t.Errorf("left behind: %q", left)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if want := filepath.Join(dir, digest); path != want {
				t.Errorf("path %q, want %q", path, want)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("content differs: %d bytes, sha256 %s", len(got), sha(got))
			}
			if left := listDir(t, dir); !slices.Equal(left, []string{digest}) {
				t.Errorf("dir holds %q, want only the file", left)
			}
		})
	}
}

// TestFetchResumesInterrupted: the server breaks the connection after a part of the file;
// the next Fetch asks for the rest only, and the result verifies.
func TestFetchResumesInterrupted(t *testing.T) {
	const cut = 20000
	var mu sync.Mutex
	first := true
	rec := &recorder{}
	srv := rec.serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		abort := first
		first = false
		mu.Unlock()
		if abort {
			w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
			w.Write(payload[:cut])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection closes midway
		}
		serveBytes(payload)(w, r)
	})
	dir := t.TempDir()
	digest := sha(payload)

	_, err := Fetch(context.Background(), srv.Client(), srv.URL, digest, int64(len(payload)), dir)
	if err == nil || errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("interrupted download: error %v, want a transfer error", err)
	}
	st, err := os.Stat(filepath.Join(dir, digest+".part"))
	if err != nil {
		t.Fatalf("partial file: %v", err)
	}
	if st.Size() != cut {
		t.Fatalf("partial file has %d bytes, want %d", st.Size(), cut)
	}

	path, err := Fetch(context.Background(), srv.Client(), srv.URL, digest, int64(len(payload)), dir)
	if err != nil {
		t.Fatalf("resumed download: %v", err)
	}
	if want := []string{"", "bytes=" + strconv.Itoa(cut) + "-"}; !slices.Equal(rec.got(), want) {
		t.Errorf("Range headers %q, want %q", rec.got(), want)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha(got) != digest {
		t.Errorf("resumed file does not verify: sha256 %s", sha(got))
	}
	if left := listDir(t, dir); !slices.Equal(left, []string{digest}) {
		t.Errorf("dir holds %q", left)
	}
}

func TestFetchRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, digest := range []string{"", "abc", "../" + strings.Repeat("0", 61), strings.Repeat("g", 64), "md5:" + strings.Repeat("0", 64)} {
		if _, err := Fetch(context.Background(), nil, "http://127.0.0.1:1/", digest, 1, dir); err == nil {
			t.Errorf("digest %q accepted", digest)
		}
	}
	if _, err := Fetch(context.Background(), nil, "http://127.0.0.1:1/", sha(nil), -1, dir); err == nil {
		t.Error("negative size accepted")
	}
	if left := listDir(t, dir); len(left) != 0 {
		t.Errorf("left behind: %q", left)
	}
}
