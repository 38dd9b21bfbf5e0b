package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/demo"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
	"github.com/patchday/patchday/internal/web"
)

const adminPassword = "admin-password-for-tests"

// env is a real server on SQLite with the demo organisation, the console mounted at "/",
// the way patchday serve wires them.
type env struct {
	t     testing.TB
	store *store.Store
	srv   *server.Server
	http  *httptest.Server
	admin string // the site admin's API token
	mu    sync.Mutex
	now   time.Time
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st := storetest.Open(t, store.SQLite)
	return newEnvOn(t, st, true)
}

func newEnvOn(t testing.TB, st *store.Store, withDemo bool) *env {
	t.Helper()
	ctx := context.Background()
	if _, _, err := server.Bootstrap(ctx, st, adminPassword); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDisk(t.TempDir(), blob.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, now: time.Now()}
	if withDemo {
		if err := demo.Load(ctx, st, blobs, server.InitialOrg, e.now); err != nil {
			t.Fatal(err)
		}
	}
	e.srv = server.New(server.Config{Store: st, Blobs: blobs, LoginBurst: 1000, Now: e.clock})
	console, err := web.New(web.Config{API: e.srv, Key: []byte("0123456789abcdef0123456789abcdef"), Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(web.Mux(e.srv, console))
	t.Cleanup(e.http.Close)
	e.admin = e.login("admin", adminPassword)
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// advance moves the server's and the console's clock.
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// api sends one API request and decodes the answer into out; it fails the test unless the
// status is want.
func (e *env) api(want int, method, path, token string, body, out any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.http.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

func (e *env) login(user, pass string) string {
	e.t.Helper()
	var tok struct{ Token string }
	e.api(201, "POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": pass}, &tok)
	return tok.Token
}

// createUser adds a user with a role in an organisation and returns the user's API token.
func (e *env) createUser(org, name, role string) string {
	e.t.Helper()
	pw := "password-of-" + name
	e.api(201, "POST", "/api/v1/orgs/"+org+"/users", e.admin, map[string]string{"username": name, "password": pw, "role": role}, nil)
	return e.login(name, pw)
}

// agent is a simulated agent speaking the protocol over HTTP, like internal/server's tests.
type agent struct {
	e   *env
	er  protocol.EnrollResponse
	inv protocol.Inventory
	seq uint64
	doc string
}

// enrollAgent enrolls a Debian 12 machine into org's groups with the given packages.
func (e *env) enrollAgent(org, host string, groups []string, pkgs map[string]string) *agent {
	e.t.Helper()
	var tok struct{ Token string }
	e.api(201, "POST", "/api/v1/orgs/"+org+"/enroll-tokens", e.admin, map[string]any{"name": "e2e-" + host, "groups": groups}, &tok)
	inv := protocol.Inventory{Hostname: host, MachineID: "mid-" + host, OSID: "debian", OSVersion: "12", OSName: "Debian GNU/Linux 12 (bookworm)",
		Kernel: "6.1.0-28-amd64", Arch: "amd64", Languages: []string{"en-US"}}
	for n, v := range pkgs {
		inv.Packages = append(inv.Packages, protocol.Package{Name: n, Version: v, Arch: "amd64"})
	}
	inv.Normalize()
	a := &agent{e: e, inv: inv}
	e.api(201, "POST", protocol.PathEnroll, "", protocol.EnrollRequest{Token: tok.Token, AgentVersion: "e2e", Inventory: inv,
		Health: health()}, &a.er)
	return a
}

func health() protocol.Health {
	return protocol.Health{Firewall: protocol.Firewall{Enabled: true, Tools: []string{"nftables"}, DefaultInput: "drop"}}
}

// checkIn sends a check-in (with the inventory and results given) and returns the verified
// assignments by update name.
func (a *agent) checkIn(results []protocol.Result, inv *protocol.Inventory) map[string]protocol.Assignment {
	a.e.t.Helper()
	key, err := protocol.DecodeKey(a.er.SigningKey)
	if err != nil {
		a.e.t.Fatal(err)
	}
	req := protocol.CheckIn{AgentVersion: "e2e", InventoryHash: a.inv.Hash(), Health: health(), Results: results, Sequence: a.seq}
	if inv != nil {
		a.inv = *inv
		req.InventoryHash, req.Inventory = inv.Hash(), inv
	}
	var cr protocol.CheckInResponse
	a.e.api(200, "POST", protocol.PathCheckIn, a.er.Credential, req, &cr)
	l, err := protocol.VerifyAssignments(cr.Assignments, key, a.er.ComputerID, a.seq, a.doc)
	if err != nil {
		a.e.t.Fatal(err)
	}
	a.seq, a.doc = l.Sequence, cr.Assignments.DocumentDigest()
	out := map[string]protocol.Assignment{}
	for _, it := range l.Items {
		out[it.Name] = it
	}
	return out
}

// install runs an assignment as an agent would (apt: the package reaches the version) and
// reports it: the result and the new inventory.
func (a *agent) install(it protocol.Assignment, pkg, version string) {
	a.e.t.Helper()
	inv := a.inv
	inv.Packages = append([]protocol.Package(nil), a.inv.Packages...)
	for i := range inv.Packages {
		if inv.Packages[i].Name == pkg {
			inv.Packages[i].Version = version
		}
	}
	inv.Normalize()
	now := a.e.clock()
	a.checkIn([]protocol.Result{{ID: fmt.Sprintf("e2e-result-%08d", it.UpdateID), UpdateID: it.UpdateID, Status: "installed", Version: version,
		StartedAt: now.Add(-time.Minute), FinishedAt: now}}, &inv)
}

// contains reports whether s has every one of subs.
func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
