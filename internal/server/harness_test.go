package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

const adminPassword = "admin-password-for-tests"

// env is a running API server on a fresh store, with a movable clock.
type env struct {
	t       *testing.T
	store   *store.Store
	srv     *server.Server
	http    *httptest.Server
	mu      sync.Mutex
	now     time.Time
	admin   string // the site admin's token
	blobs   *blob.Disk
	blobDir string
}

func newEnv(t *testing.T, engine store.Engine) *env {
	t.Helper()
	return newEnvWith(t, engine, func(c *server.Config) { c.LoginBurst = 1000 })
}

// newEnvWith is newEnv with a changed server configuration.
func newEnvWith(t *testing.T, engine store.Engine, configure func(*server.Config)) *env {
	t.Helper()
	st := storetest.Open(t, engine)
	if _, _, err := server.Bootstrap(context.Background(), st, adminPassword); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, now: time.Now()}
	e.blobDir = t.TempDir()
	blobs, err := blob.OpenDisk(e.blobDir, blob.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.blobs = blobs
	cfg := server.Config{Store: st, Now: e.clock, Blobs: blobs}
	configure(&cfg)
	e.srv = server.New(cfg)
	e.http = httptest.NewServer(e.srv)
	t.Cleanup(e.http.Close)
	e.admin = e.login("admin", adminPassword)
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// resp is an answered request.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// apiErr is the error shape every failure uses.
type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

func (r resp) err(t *testing.T) apiErr {
	t.Helper()
	var e apiErr
	r.json(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body %s lacks code or message", r.body)
	}
	return e
}

// do sends a request; body may be nil, a string (sent as is) or a value (sent as JSON).
func (e *env) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// must sends a request and fails the test unless the status is want.
func (e *env) must(want int, method, path, token string, body any) resp {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

func (e *env) login(user, pw string) string {
	e.t.Helper()
	r := e.must(201, "POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": pw})
	var tok struct{ Token string }
	r.json(e.t, &tok)
	return tok.Token
}

func (e *env) createOrg(slug string) {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/orgs", e.admin, map[string]string{"slug": slug, "name": strings.ToUpper(slug)})
}

// createUser makes a user with a role in an organisation and returns a token of theirs.
func (e *env) createUser(org, name string, role store.Role) string {
	e.t.Helper()
	pw := name + "-password-123"
	e.must(201, "POST", "/api/v1/orgs/"+org+"/users", e.admin, map[string]any{"username": name, "password": pw, "role": role})
	return e.login(name, pw)
}

// auditCount counts every audit event (as the site admin sees them).
func (e *env) auditCount() int {
	e.t.Helper()
	n, cursor := 0, ""
	for {
		r := e.must(200, "GET", "/api/v1/audit?limit=500&cursor="+cursor, e.admin, nil)
		var page struct {
			Items      []json.RawMessage
			NextCursor string `json:"next_cursor"`
		}
		r.json(e.t, &page)
		n += len(page.Items)
		if page.NextCursor == "" {
			return n
		}
		cursor = page.NextCursor
	}
}

// forEngines runs a test on every store engine.
func forEngines(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) { fn(t, newEnv(t, engine)) })
	}
}

// forEnginesPublishing runs a test on every store engine with a server that publishes the
// advisories of org (its CSAF provider's, which alone takes public sign-ups).
func forEnginesPublishing(t *testing.T, org string, fn func(t *testing.T, e *env)) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			fn(t, newEnvWith(t, engine, func(c *server.Config) { c.LoginBurst = 1000; c.CSAFProviderOrg = org }))
		})
	}
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func decodeJSON(tb testing.TB, r io.Reader, v any) {
	tb.Helper()
	if err := json.NewDecoder(r).Decode(v); err != nil {
		tb.Fatal(err)
	}
}
