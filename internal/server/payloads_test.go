package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// buildDeb makes a real Debian package with dpkg-deb.
func buildDeb(t *testing.T, pkg, version, arch string) []byte {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatalf("dpkg-deb is needed (Debian's dpkg package): %v", err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr/share/doc", pkg), 0o755)
	os.WriteFile(filepath.Join(root, "usr/share/doc", pkg, "README"), []byte(strings.Repeat("patchday test payload\n", 2000)), 0o644)
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: Test <test@example.org>\nDescription: test package\n", pkg, version, arch)
	os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte(control), 0o644)
	out := filepath.Join(dir, "p.deb")
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type payloadResp struct {
	store.Payload
	URL string
}

func TestPayloadUploadAndDownload(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		deb := buildDeb(t, "openssl", "3.0.11-1~deb12u2", "amd64")
		d := digestOf(deb)
		var p payloadResp
		e.must(201, "PUT", "/api/v1/orgs/default/payloads?filename=openssl_3.0.11-1~deb12u2_amd64.deb&sha256="+d, e.admin, deb).json(t, &p)
		if p.Digest != d || p.Size != int64(len(deb)) || p.DebPackage != "openssl" || p.DebVersion != "3.0.11-1~deb12u2" ||
			p.DebArch != "amd64" || p.URL != "/payloads/sha256/"+d || p.MediaType != "application/vnd.debian.binary-package" {
			t.Fatalf("upload: %+v", p)
		}
		// Stored once: a second upload is answered 200 with the same record.
		e.must(200, "PUT", "/api/v1/orgs/default/payloads", e.admin, deb)

		// Download: whole, a range, a resume from the middle, conditional.
		r := e.must(200, "GET", p.URL, "", nil)
		if string(r.body) != string(deb) || r.header.Get("ETag") != `"sha256:`+d+`"` ||
			!strings.Contains(r.header.Get("Cache-Control"), "immutable") || r.header.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("download: %d bytes, headers %v", len(r.body), r.header)
		}
		half := len(deb) / 2
		r = e.do("GET", p.URL, "", nil, "Range", fmt.Sprintf("bytes=%d-", half))
		if r.status != 206 || string(r.body) != string(deb[half:]) {
			t.Fatalf("resume: %d, %d bytes", r.status, len(r.body))
		}
		if r := e.do("GET", p.URL, "", nil, "If-None-Match", `"sha256:`+d+`"`); r.status != 304 {
			t.Fatalf("If-None-Match: %d", r.status)
		}
		e.must(404, "GET", "/payloads/sha256/"+strings.Repeat("0", 64), "", nil)
		e.must(404, "GET", "/payloads/sha256/..%2f..%2fetc%2fpasswd", "", nil)

		before := e.auditCount()
		for _, tc := range []struct {
			name, query string
			body        string
			status      int
			code        string
		}{
			{"digest mismatch", "?sha256=" + strings.Repeat("a", 64), "hello", 400, "digest_mismatch"},
			{"bad digest", "?sha256=xyz", "hello", 400, "invalid_field"},
			{"named .deb but not one", "?filename=evil.deb", "not a package", 400, "invalid_field"},
		} {
			r := e.do("PUT", "/api/v1/orgs/default/payloads"+tc.query, e.admin, tc.body)
			if r.status != tc.status || r.err(t).Error.Code != tc.code {
				t.Errorf("%s: %d %s", tc.name, r.status, r.body)
			}
		}
		if n := e.auditCount(); n != before {
			t.Errorf("refused uploads were audited")
		}
		var list struct{ Items []payloadResp }
		e.must(200, "GET", "/api/v1/orgs/default/payloads", e.admin, nil).json(t, &list)
		if len(list.Items) != 1 {
			t.Fatalf("payloads after refused uploads: %+v", list.Items)
		}
	})
}

// A truncated upload (the client says more bytes than it sends) leaves nothing behind.
func TestPayloadTruncatedUpload(t *testing.T) {
	e := newEnv(t, store.SQLite)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", e.http.URL+"/api/v1/orgs/default/payloads", pr)
	req.ContentLength = 1 << 20
	req.Header.Set("Authorization", "Bearer "+e.admin)
	go func() {
		pw.Write([]byte(strings.Repeat("x", 1000)))
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	res, err := e.http.Client().Do(req)
	if err == nil {
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Fatalf("truncated upload answered %d", res.StatusCode)
		}
	}
	var list struct{ Items []payloadResp }
	e.must(200, "GET", "/api/v1/orgs/default/payloads", e.admin, nil).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("a truncated upload was stored: %+v", list.Items)
	}
	// The client may see its own transport fail before the server has noticed: give the
	// server a moment to finish with the request.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, tmp := countBlobs(t, e)
		if b == 0 && tmp == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d blobs and %d temporary files after a truncated upload", b, tmp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPayloadSizeLimit(t *testing.T) {
	e := newEnvWith(t, store.SQLite, func(c *server.Config) { c.MaxPayloadSize = 1000 })
	r := e.do("PUT", "/api/v1/orgs/default/payloads", e.admin, strings.Repeat("x", 1001))
	if r.status != 413 || r.err(t).Error.Code != "payload_too_large" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	e.must(201, "PUT", "/api/v1/orgs/default/payloads", e.admin, strings.Repeat("x", 1000))
}

// countBlobs counts the stored blobs and leftover temporary files.
func countBlobs(t *testing.T, e *env) (blobs, temps int) {
	t.Helper()
	filepath.Walk(e.blobs.Dir(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if strings.Contains(p, string(filepath.Separator)+"tmp"+string(filepath.Separator)) {
				temps++
			} else {
				blobs++
			}
		}
		return nil
	})
	return blobs, temps
}

// Whatever type an uploader claims, a payload is served as a download that no browser
// renders on this origin.
func TestPayloadNeverServedAsAPage(t *testing.T) {
	e := newEnv(t, store.SQLite)
	page := "<html><script>alert(document.cookie)</script></html>"
	req, _ := http.NewRequest("PUT", e.http.URL+"/api/v1/orgs/default/payloads", strings.NewReader(page))
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Content-Type", "text/html")
	res, err := e.http.Client().Do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("upload: %v %v", res, err)
	}
	res.Body.Close()
	r := e.must(200, "GET", "/payloads/sha256/"+digestOf([]byte(page)), "", nil)
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("served as %q", ct)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

// A refused upload leaves no blob and no temporary file behind.
func TestRefusedUploadsLeaveNothing(t *testing.T) {
	e := newEnv(t, store.SQLite)
	e.must(400, "PUT", "/api/v1/orgs/default/payloads?filename=evil.deb", e.admin, "not a package")
	e.must(400, "PUT", "/api/v1/orgs/default/payloads?sha256="+strings.Repeat("a", 64), e.admin, "hello")
	if b, tmp := countBlobs(t, e); b != 0 || tmp != 0 {
		t.Fatalf("%d blobs and %d temporary files after refused uploads", b, tmp)
	}
}

// Concurrent uploads of the same content all succeed and make one record.
func TestConcurrentUploadsOfOnePayload(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		codes := make(chan int, 6)
		for range 6 {
			go func() { codes <- e.do("PUT", "/api/v1/orgs/default/payloads", e.admin, "same content").status }()
		}
		created := 0
		for range 6 {
			switch c := <-codes; c {
			case 201:
				created++
			case 200:
			default:
				t.Errorf("status %d", c)
			}
		}
		var list struct{ Items []payloadResp }
		e.must(200, "GET", "/api/v1/orgs/default/payloads", e.admin, nil).json(t, &list)
		if created != 1 || len(list.Items) != 1 {
			t.Fatalf("%d created, %d records", created, len(list.Items))
		}
	})
}
