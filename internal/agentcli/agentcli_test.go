package agentcli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main("test", args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"enroll"}, 2, "needs --server and --token"},
		{[]string{"enroll", "--server", "ftp://x", "--token", "pde_x", "--state", "/nonexistent/x"}, 1, "must be an http(s):// URL"},
		{[]string{"run", "--bogus"}, 2, "unknown flag"},
		{[]string{"status", "--state", "/nonexistent/state"}, 1, "not enrolled"},
		{[]string{"status", "-o", "yaml"}, 2, "must be table or json"},
		{[]string{"run", "--log-level", "loud"}, 2, "--log-level"},
	} {
		code, _, stderr := run(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	if code, out, _ := run("version"); code != 0 || out != "patchday-agent test\n" {
		t.Errorf("version: %d %q", code, out)
	}
}

// Enrollment through the command line on this machine (it reads the real inventory), then
// status in both formats; the identity file holds the credential and is private.
func TestEnrollAndStatus(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	if _, _, err := server.Bootstrap(context.Background(), st, "admin-password-for-tests"); err != nil {
		t.Fatal(err)
	}
	blobs, _ := blob.OpenDisk(t.TempDir(), blob.DiskOptions{})
	hs := httptest.NewServer(server.New(server.Config{Store: st, Blobs: blobs}))
	t.Cleanup(hs.Close)
	post := func(path, token string, body any, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", hs.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("POST %s: %v %v", path, err, res.Status)
		}
		defer res.Body.Close()
		json.NewDecoder(res.Body).Decode(out)
	}
	var login, tok struct{ Token string }
	post("/api/v1/auth/login", "", map[string]string{"username": "admin", "password": "admin-password-for-tests"}, &login)
	post("/api/v1/orgs/default/enroll-tokens", login.Token, map[string]string{"name": "cli"}, &tok)

	state := filepath.Join(t.TempDir(), "state")
	t.Setenv("PATCHDAY_ENROLL_TOKEN", tok.Token)
	code, out, stderr := run("enroll", "--server", hs.URL, "--state", state)
	if code != 0 || !strings.Contains(out, "Enrolled as computer 1 in organisation default") {
		t.Fatalf("enroll: %d %q %q", code, out, stderr)
	}
	fi, err := os.Stat(filepath.Join(state, "identity.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("identity.json: %v %v", fi, err)
	}
	code, out, _ = run("status", "--state", state)
	if code != 0 || !strings.Contains(out, "COMPUTER      1") || !strings.Contains(out, "LAST CHECK-IN never") || !strings.Contains(out, "PENDING       none") {
		t.Errorf("status: %d\n%s", code, out)
	}
	code, out, _ = run("status", "--state", state, "-o", "json")
	var s struct {
		ComputerID int64  `json:"computer_id"`
		Org        string `json:"org"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.ComputerID != 1 || s.Org != "default" {
		t.Errorf("status -o json: %d %s", code, out)
	}
	// A token used again for another enrollment of the same machine is fine; a wrong one is not.
	t.Setenv("PATCHDAY_ENROLL_TOKEN", "pde_"+strings.Repeat("x", 43))
	if code, _, stderr := run("enroll", "--server", hs.URL, "--state", state); code != 1 || !strings.Contains(stderr, "unknown enrollment token") {
		t.Errorf("enroll with a wrong token: %d %q", code, stderr)
	}
}
