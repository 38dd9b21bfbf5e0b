package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/agent"
	"github.com/patchday/patchday/internal/agent/installer"
	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/inventory"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

const adminPassword = "admin-password-for-tests"

// fleet is a real patchday server on SQLite, reached through a proxy the test controls: it
// can cut the network or tamper with what passes, as a hostile mirror or a man in the
// middle would.
type fleet struct {
	t      *testing.T
	srv    *server.Server
	api    *httptest.Server
	proxy  *httptest.Server
	admin  string
	down   atomic.Bool
	slow   atomic.Bool // payloads trickle out, 32 KiB every 20 ms
	mu     sync.Mutex
	tamper func(path string, body []byte) []byte
	calls  map[string]int
	ranges []string // Range headers of payload requests
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	st := storetest.Open(t, store.SQLite)
	if _, _, err := server.Bootstrap(context.Background(), st, adminPassword); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDisk(t.TempDir(), blob.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, calls: map[string]int{}}
	f.srv = server.New(server.Config{Store: st, Blobs: blobs, CheckInInterval: time.Minute})
	f.api = httptest.NewServer(f.srv)
	t.Cleanup(f.api.Close)
	f.proxy = httptest.NewServer(http.HandlerFunc(f.forward))
	t.Cleanup(f.proxy.Close)
	var tok struct{ Token string }
	f.call("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": adminPassword}, 201, &tok)
	f.admin = tok.Token
	f.call("POST", "/api/v1/orgs", f.admin, map[string]string{"slug": "acme", "name": "Acme"}, 201, nil)
	return f
}

// forward passes a request to the server, unless the network is down, and lets the test
// change the answer.
func (f *fleet) forward(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.URL.Path]++
	tamper := f.tamper
	if strings.HasPrefix(r.URL.Path, "/payloads/") {
		f.ranges = append(f.ranges, r.Header.Get("Range"))
	}
	f.mu.Unlock()
	if f.down.Load() {
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, f.api.URL+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if tamper != nil {
		body = tamper(r.URL.Path, body)
	}
	for k, v := range res.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(res.StatusCode)
	if !f.slow.Load() || !strings.HasPrefix(r.URL.Path, "/payloads/") {
		w.Write(body)
		return
	}
	for len(body) > 0 {
		n := min(len(body), 32<<10)
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		body = body[n:]
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fleet) setTamper(fn func(path string, body []byte) []byte) {
	f.mu.Lock()
	f.tamper = fn
	f.mu.Unlock()
}

// call is an admin API call straight to the server.
func (f *fleet) call(method, path, token string, in any, want int, out any) {
	f.t.Helper()
	var body io.Reader
	switch b := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		body = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, f.api.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		f.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatal(err)
		}
	}
}

// debUpdate uploads a .deb and makes a deb update of it.
func (f *fleet) debUpdate(name, deb, pkg, ver string) {
	f.t.Helper()
	b, err := os.ReadFile(deb)
	if err != nil {
		f.t.Fatal(err)
	}
	var p struct {
		Digest string `json:"sha256"`
	}
	f.call("PUT", "/api/v1/orgs/acme/payloads?filename="+url.QueryEscape(filepath.Base(deb)), f.admin, b, 201, &p)
	f.call("POST", "/api/v1/orgs/acme/updates", f.admin, map[string]any{"name": name, "title": name, "classification": "security",
		"applicability": map[string]any{"purl": "pkg:deb/debian/" + pkg, "vers": "vers:deb/<" + ver},
		"installer":     map[string]any{"type": "deb", "payload": p.Digest}}, 201, nil)
}

func (f *fleet) assign(computer int64, update string) {
	f.t.Helper()
	f.call("PUT", fmt.Sprintf("/api/v1/orgs/acme/computers/%d/assignments/%s", computer, update), f.admin, map[string]any{}, 200, nil)
}

type computerDetail struct {
	store.Computer
	Updates []store.ComputerUpdate
	Results []store.InstallResult
}

func (f *fleet) computer(id int64) computerDetail {
	f.t.Helper()
	var d computerDetail
	f.call("GET", fmt.Sprintf("/api/v1/orgs/acme/computers/%d", id), f.admin, nil, 200, &d)
	return d
}

func (f *fleet) enrollToken() string {
	f.t.Helper()
	var tok struct{ Token string }
	f.call("POST", "/api/v1/orgs/acme/enroll-tokens", f.admin, map[string]any{"name": "t"}, 201, &tok)
	return tok.Token
}

// machine is a sandbox root with its own dpkg database: installs change a real package
// database without touching the host's.
type machine struct {
	root string
	dpkg installer.Dpkg
	cfg  agent.Config
}

func newMachine(t *testing.T, host string) *machine {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatal("dpkg-deb is needed: apt-get install dpkg")
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "etc", "var/run"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=debian\nVERSION_ID=12\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/machine-id"), []byte("machine-"+host+"\n"), 0o644)
	m := &machine{root: root, dpkg: installer.Dpkg{Root: root}}
	m.cfg = agent.Config{StateDir: filepath.Join(t.TempDir(), "state"), Version: "test",
		Collector: &inventory.Collector{Root: root, Hostname: host, Kernel: "6.1.0-test", GOOS: "linux",
			Run: func(context.Context, string, ...string) ([]byte, error) {
				return nil, fmt.Errorf("no firewall in the sandbox")
			}},
		Dpkg: m.dpkg}
	return m
}

func (m *machine) installed(t *testing.T, pkg string) string {
	t.Helper()
	v, ok, err := m.dpkg.Installed(context.Background(), pkg)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return v
}

// preinstall gives the machine pkg at an old version (0.1-1), before it enrolls: an update
// concerns, and reaches, only a machine with an affected version of its package.
func (m *machine) preinstall(t *testing.T, pkg string) {
	t.Helper()
	if r := m.dpkg.InstallDeb(context.Background(), buildDeb(t, pkg, "0.1-1", ""), pkg, "0.1-1"); !r.Installed {
		t.Fatalf("installing %s 0.1-1: %+v", pkg, r)
	}
}

// buildDeb makes a real .deb with dpkg-deb: pkg at ver, one file, and optionally a postinst.
func buildDeb(t *testing.T, pkg, ver, postinst string) string {
	t.Helper()
	files := map[string][]byte{"usr/share/" + pkg + "/VERSION": []byte(ver + "\n")}
	if postinst != "" {
		files["DEBIAN/postinst"] = []byte("#!/bin/sh\nset -e\n" + postinst + "\n")
	}
	return buildDebWith(t, pkg, ver, files)
}

// buildDebWith makes a .deb of pkg at ver holding files (paths relative to the root;
// DEBIAN/ entries are control files, made executable).
func buildDebWith(t *testing.T, pkg, ver string, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: patchday tests <tests@example.org>\nDescription: test package\n", pkg, ver)
	files["DEBIAN/control"] = []byte(control)
	for name, b := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "DEBIAN/") && name != "DEBIAN/control" {
			mode = 0o755
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", pkg, ver))
	if b, err := exec.Command("dpkg-deb", "-Znone", "--root-owner-group", "--build", src, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v: %s", err, b)
	}
	return out
}

func enroll(t *testing.T, f *fleet, m *machine) *agent.Agent {
	t.Helper()
	a, err := agent.Enroll(context.Background(), m.cfg, f.proxy.URL, f.enrollToken(), "")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestInstallDebEndToEnd(t *testing.T) {
	f := newFleet(t)
	m := newMachine(t, "web-01")
	old := buildDeb(t, "pd-hello", "1.0-1", "")
	if err := m.dpkg.InstallDeb(context.Background(), old, "pd-hello", "1.0-1"); !err.Installed {
		t.Fatalf("installing the old version: %+v", err)
	}
	a := enroll(t, f, m)
	st, _ := a.Status()
	f.debUpdate("pd-hello-1.0-2", buildDeb(t, "pd-hello", "1.0-2", `touch "$DPKG_ROOT/var/run/reboot-required"`), "pd-hello", "1.0-2")
	f.assign(st.ComputerID, "pd-hello-1.0-2")

	next, err := a.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if next < 30*time.Second || next > 90*time.Second {
		t.Errorf("next check-in in %v, want within the server's 1m interval spread", next)
	}
	if v := m.installed(t, "pd-hello"); v != "1.0-2" {
		t.Fatalf("sandbox has pd-hello %q, want 1.0-2; results %+v", v, f.computer(st.ComputerID).Results)
	}
	d := f.computer(st.ComputerID)
	if len(d.Updates) != 1 || d.Updates[0].State != "pending_reboot" {
		t.Fatalf("server state %+v", d.Updates)
	}
	if len(d.Results) != 1 || d.Results[0].Status != "installed" || d.Results[0].Version != "1.0-2" || !d.Results[0].RebootRequired {
		t.Errorf("results %+v", d.Results)
	}
	// The server learnt the new inventory.
	var inv protocol.Inventory
	f.call("GET", fmt.Sprintf("/api/v1/orgs/acme/computers/%d/inventory", st.ComputerID), f.admin, nil, 200, &inv)
	if len(inv.Packages) != 1 || inv.Packages[0].Version != "1.0-2" {
		t.Errorf("inventory on the server %+v", inv.Packages)
	}
	st, _ = a.Status()
	if st.Spooled != 0 || len(st.Pending) != 0 || st.LastCheckIn == nil || st.Sequence != 2 {
		t.Errorf("agent status %+v", st)
	}
	// The host's own package database is untouched.
	if exec.Command("dpkg-query", "-W", "pd-hello").Run() == nil {
		t.Error("pd-hello reached the host's package database")
	}
}

// Every kind of poisoned delivery is refused, reported, and installs nothing.
func TestTamperingIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(path string, body []byte) []byte
		check  func(t *testing.T, f *fleet, a *agent.Agent, id int64, err error)
	}{
		{"payload with one byte changed", func(path string, body []byte) []byte {
			if strings.HasPrefix(path, "/payloads/") && len(body) > 100 {
				body[len(body)/2] ^= 0x01
			}
			return body
		}, func(t *testing.T, f *fleet, a *agent.Agent, id int64, err error) {
			d := f.computer(id)
			if err != nil || len(d.Results) != 1 || d.Results[0].Status != "failed" || !strings.Contains(d.Results[0].Error, "digest") {
				t.Errorf("err %v, results %+v", err, d.Results)
			}
		}},
		{"digest in the list changed (signature breaks)", func(path string, body []byte) []byte {
			if path != protocol.PathCheckIn {
				return body
			}
			var cr map[string]any
			json.Unmarshal(body, &cr)
			doc := cr["assignments"].(map[string]any)["document"].(map[string]any)
			for _, it := range doc["items"].([]any) {
				it.(map[string]any)["payload"].(map[string]any)["digest"] = strings.Repeat("0", 64)
			}
			b, _ := json.Marshal(cr)
			return b
		}, refusedList},
		{"unsigned list", func(path string, body []byte) []byte {
			if path != protocol.PathCheckIn {
				return body
			}
			var cr map[string]any
			json.Unmarshal(body, &cr)
			cr["assignments"].(map[string]any)["signature"] = nil
			b, _ := json.Marshal(cr)
			return b
		}, refusedList},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			m := newMachine(t, "h")
			m.preinstall(t, "pd-evil")
			a := enroll(t, f, m)
			st, _ := a.Status()
			f.debUpdate("pd-evil-2", buildDeb(t, "pd-evil", "2.0-1", ""), "pd-evil", "2.0-1")
			f.assign(st.ComputerID, "pd-evil-2")
			f.setTamper(tc.tamper)
			_, err := a.RunOnce(context.Background())
			f.setTamper(nil)
			if v := m.installed(t, "pd-evil"); v != "0.1-1" {
				t.Fatalf("installed %s from a tampered delivery", v)
			}
			tc.check(t, f, a, st.ComputerID, err)
		})
	}
}

func refusedList(t *testing.T, f *fleet, a *agent.Agent, id int64, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "assignment list refused") {
		t.Errorf("RunOnce: %v, want a refused list", err)
	}
	st, _ := a.Status()
	if !strings.Contains(st.LastError, "refused") || len(st.Pending) != 0 {
		t.Errorf("status after a refused list: %+v", st)
	}
}

// A replayed (older) list is refused: after the agent accepted the list that withdrew an
// update, a replay of the list that assigned it installs nothing.
func TestReplayedListIsRefused(t *testing.T) {
	f := newFleet(t)
	m := newMachine(t, "h")
	m.preinstall(t, "pd-old")
	a := enroll(t, f, m)
	st, _ := a.Status()
	f.debUpdate("pd-old-1", buildDeb(t, "pd-old", "1.0-1", ""), "pd-old", "1.0-1")
	f.assign(st.ComputerID, "pd-old-1")
	// Capture the list that assigns it, without letting the agent install (a window later).
	var captured []byte
	f.setTamper(func(path string, body []byte) []byte {
		if path == protocol.PathCheckIn && captured == nil {
			captured = append([]byte(nil), body...)
		}
		return body
	})
	if _, err := a.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.call("DELETE", fmt.Sprintf("/api/v1/orgs/acme/computers/%d/assignments/pd-old-1", st.ComputerID), f.admin, nil, 204, nil)
	f.setTamper(nil)
	if _, err := a.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.setTamper(func(path string, body []byte) []byte {
		if path == protocol.PathCheckIn {
			return captured
		}
		return body
	})
	_, err := a.RunOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "older than the last") {
		t.Errorf("replay: %v", err)
	}
	if v := m.installed(t, "pd-old"); v != "0.1-1" {
		t.Errorf("a replayed list installed pd-old %s", v)
	}
}

// With the server unreachable, results wait in the spool; when it is back they are
// delivered, each counted once.
func TestOfflineSpool(t *testing.T) {
	f := newFleet(t)
	m := newMachine(t, "h")
	m.preinstall(t, "pd-net")
	a := enroll(t, f, m)
	st, _ := a.Status()
	f.debUpdate("pd-net-1", buildDeb(t, "pd-net", "1.0-1", ""), "pd-net", "1.0-1")
	f.assign(st.ComputerID, "pd-net-1")
	if _, err := a.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A cycle with the network down fails at its check-in and changes nothing.
	f.down.Store(true)
	if _, err := a.RunOnce(context.Background()); err == nil {
		t.Fatal("a cycle with the network down succeeded")
	}
	// The agent installs from the list it accepted (the payload still reaches it), and the
	// network fails before the result is reported.
	f.down.Store(false)
	if _, err := a.InstallDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := m.installed(t, "pd-net"); v != "1.0-1" {
		t.Fatalf("pd-net %q", v)
	}
	f.down.Store(true)
	for range 2 {
		if _, err := a.CheckIn(context.Background()); err == nil {
			t.Fatal("check-in succeeded while offline")
		}
	}
	st, _ = a.Status()
	if st.Spooled != 1 {
		t.Fatalf("spooled %d results, want 1", st.Spooled)
	}
	// Back online; the server's answer to the first delivery is lost, so the agent sends
	// the result again: it is stored once.
	f.down.Store(false)
	lost := true
	f.setTamper(func(path string, body []byte) []byte {
		if path == protocol.PathCheckIn && lost {
			lost = false
			return []byte("lost")
		}
		return body
	})
	if _, err := a.CheckIn(context.Background()); err == nil {
		t.Fatal("a check-in whose answer was lost succeeded")
	}
	if st, _ = a.Status(); st.Spooled != 1 {
		t.Fatalf("spooled %d after a lost answer, want 1", st.Spooled)
	}
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := f.computer(st.ComputerID)
	if len(d.Results) != 1 || d.Results[0].Status != "installed" || d.Updates[0].State != "installed" {
		t.Errorf("after reconnecting: results %+v, updates %+v", d.Results, d.Updates)
	}
	st, _ = a.Status()
	if st.Spooled != 0 {
		t.Errorf("%d results still spooled", st.Spooled)
	}
}

// An agent stopped in the middle of an install reports, when it starts again, what the
// package database says.
func TestRecoverAfterInterruptedInstall(t *testing.T) {
	f := newFleet(t)
	m := newMachine(t, "h")
	m.preinstall(t, "pd-kill")
	a := enroll(t, f, m)
	st, _ := a.Status()
	deb := buildDeb(t, "pd-kill", "1.0-1", "")
	f.debUpdate("pd-kill-1", deb, "pd-kill", "1.0-1")
	f.assign(st.ComputerID, "pd-kill-1")
	if _, err := a.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The agent marked the install, dpkg finished, and the agent died before recording the
	// result: the in-flight mark is all that is left.
	var list struct {
		Items []protocol.Assignment
	}
	inflightFor(t, m, &list)
	if r := m.dpkg.InstallDeb(context.Background(), deb, "pd-kill", "1.0-1"); !r.Installed {
		t.Fatal(r.Error)
	}
	a2, err := agent.Open(m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	st2, _ := a2.Status()
	if st2.Interrupted != "pd-kill-1" {
		t.Fatalf("status does not show the interrupted install: %+v", st2)
	}
	if _, err := a2.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := f.computer(st.ComputerID)
	if len(d.Results) != 1 || d.Results[0].Status != "installed" || d.Results[0].Version != "1.0-1" {
		t.Errorf("results %+v", d.Results)
	}
}

// inflightFor writes the in-flight mark the agent writes before an install, for the one
// assignment the agent holds.
func inflightFor(t *testing.T, m *machine, _ any) {
	t.Helper()
	var prog struct {
		Sequence    uint64                `json:"sequence"`
		Assignments []protocol.Assignment `json:"assignments"`
	}
	b, err := os.ReadFile(filepath.Join(m.cfg.StateDir, "progress.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &prog)
	if len(prog.Assignments) != 1 {
		t.Fatalf("the agent holds %d assignments", len(prog.Assignments))
	}
	fl := map[string]any{"result_id": "0123456789abcdef0123456789abcdef", "sequence": prog.Sequence,
		"assignment": prog.Assignments[0], "started_at": time.Now().UTC()}
	j, _ := json.Marshal(fl)
	if err := os.WriteFile(filepath.Join(m.cfg.StateDir, "inflight.json"), j, 0o600); err != nil {
		t.Fatal(err)
	}
}

// An artifact update: an archive unpacked and its command run, with the exit code and log
// tail reported.
func TestArtifactEndToEnd(t *testing.T) {
	f := newFleet(t)
	m := newMachine(t, "h")
	a := enroll(t, f, m)
	st, _ := a.Status()
	marker := filepath.Join(t.TempDir(), "ran")
	for i, tc := range []struct {
		script string
		status string
		exit   int
	}{
		{fmt.Sprintf("#!/bin/sh\necho configuring\necho ok > %s\n", marker), "installed", 0},
		{"#!/bin/sh\necho 'disk full' >&2\nexit 3\n", "failed", 3},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "install.sh"), []byte(tc.script), 0o755)
		archive := filepath.Join(t.TempDir(), "tool.tar.gz")
		if out, err := exec.Command("tar", "-czf", archive, "-C", dir, "install.sh").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v %s", err, out)
		}
		b, _ := os.ReadFile(archive)
		var p struct {
			Digest string `json:"sha256"`
		}
		f.call("PUT", "/api/v1/orgs/acme/payloads?filename=tool.tar.gz", f.admin, b, 201, &p)
		name := fmt.Sprintf("tool-%d", i)
		f.call("POST", "/api/v1/orgs/acme/updates", f.admin, map[string]any{"name": name, "title": name, "classification": "feature",
			"applicability": map[string]any{"purl": "pkg:generic/acme/tool"},
			"installer":     map[string]any{"type": "artifact", "payload": p.Digest, "command": []string{"./install.sh"}, "timeout": "1m"}}, 201, nil)
		f.assign(st.ComputerID, name)
		if _, err := a.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		d := f.computer(st.ComputerID)
		r := d.Results[0]
		if r.UpdateName != name || r.Status != tc.status || r.ExitCode != tc.exit {
			t.Errorf("%s: result %+v", name, r)
		}
		if tc.exit == 3 && !strings.Contains(r.Log, "disk full") {
			t.Errorf("the log tail lacks the script's output: %q", r.Log)
		}
	}
	if b, _ := os.ReadFile(marker); string(b) != "ok\n" {
		t.Errorf("the install command did not run: %q", b)
	}
}

// The acknowledgements of an answer are not signed: a forged list deletes nothing but the
// results the request carried.
func TestForgedAcknowledgements(t *testing.T) {
	f := newFleet(t)
	m := newMachine(t, "h")
	m.preinstall(t, "pd-ack")
	a := enroll(t, f, m)
	st, _ := a.Status()
	f.debUpdate("pd-ack-1", buildDeb(t, "pd-ack", "1.0-1", ""), "pd-ack", "1.0-1")
	f.assign(st.ComputerID, "pd-ack-1")
	if _, err := a.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.down.Store(true)
	a.InstallDue(context.Background()) // the payload cannot come: nothing spooled
	f.down.Store(false)
	if _, err := a.InstallDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.setTamper(func(path string, body []byte) []byte {
		if path != protocol.PathCheckIn {
			return body
		}
		var cr map[string]any
		json.Unmarshal(body, &cr)
		cr["acknowledged"] = []string{"../identity", "../progress", "0123456789abcdef0123456789abcdef"}
		b, _ := json.Marshal(cr)
		return b
	})
	a.CheckIn(context.Background())
	f.setTamper(nil)
	for _, name := range []string{"identity.json", "progress.json"} {
		if _, err := os.Stat(filepath.Join(m.cfg.StateDir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if st, _ := a.Status(); st.Spooled != 1 {
		t.Errorf("the unacknowledged result was dropped: %d spooled", st.Spooled)
	}
}
