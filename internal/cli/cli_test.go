package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

const adminPassword = "admin-password-for-tests"

// testServer is a real patchday server on a fresh SQLite store, bootstrapped with the site
// admin "admin" and the organisation "default".
type testServer struct {
	url string
	mu  sync.Mutex
	ua  []string // User-Agent of every request
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	st := storetest.Open(t, store.SQLite)
	if _, _, err := server.Bootstrap(context.Background(), st, adminPassword); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDisk(t.TempDir(), blob.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := server.New(server.Config{Store: st, Blobs: blobs})
	ts := &testServer{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.ua = append(ts.ua, r.UserAgent())
		ts.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	ts.url = hs.URL
	return ts
}

// cliEnv gives the test its own config directory and clears the variables the CLI reads.
func cliEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(envConfigDir, dir)
	for _, k := range []string{envServer, envToken, envOrg, envPassword} {
		t.Setenv(k, "")
	}
	return dir
}

type result struct {
	code        int
	out, stderr string
}

// run runs the command line with stdin.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb strings.Builder
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// ok runs the command line and fails the test unless it succeeds.
func ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("patchday %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, r.stderr)
	}
	return r.out
}

// fails runs the command line and checks its exit code and that stderr holds want.
func fails(t *testing.T, code int, want string, stdin string, args ...string) result {
	t.Helper()
	r := run(t, stdin, args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("patchday %s: exit %d, stderr %q; want exit %d and %q", strings.Join(args, " "), r.code, r.stderr, code, want)
	}
	if !strings.HasPrefix(r.stderr, "patchday: ") {
		t.Errorf("stderr %q does not start with \"patchday: \"", r.stderr)
	}
	return r
}

func loginAdmin(t *testing.T, ts *testServer) {
	t.Helper()
	ok(t, adminPassword+"\n", "login", "--server", ts.url, "--user", "admin")
}

func readConfig(t *testing.T, dir string) loginConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cli.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg loginConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// jsonOut parses a command's -o json output.
func jsonOut[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, out)
	}
	return v
}

func TestLogin(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		name, stdin, envPassword string
	}{
		{"password from stdin", adminPassword + "\n", ""},
		{"password from stdin, CRLF, no final newline", adminPassword + "\r", ""},
		{"password from PATCHDAY_PASSWORD", "", adminPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := cliEnv(t)
			t.Setenv(envPassword, tc.envPassword)
			out := ok(t, tc.stdin, "login", "--server", ts.url+"/", "--user", "admin", "--token-name", "test-login")
			if !regexp.MustCompile(`^Logged in to ` + regexp.QuoteMeta(ts.url) + ` as admin \(token expires \d{4}-\d\d-\d\dT`).MatchString(out) {
				t.Errorf("output %q", out)
			}
			cfg := readConfig(t, dir)
			if cfg.Server != ts.url || cfg.User != "admin" || cfg.Token == "" || cfg.TokenID == 0 || cfg.ExpiresAt.IsZero() {
				t.Errorf("saved login %+v", cfg)
			}
			if runtime.GOOS != "windows" {
				fi, err := os.Stat(filepath.Join(dir, "cli.json"))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("cli.json mode %v, want 0600", fi.Mode().Perm())
				}
			}
			// The token name is the one given.
			out = ok(t, "", "token", "list", "-o", "json")
			toks := jsonOut[[]apiToken](t, out)
			if last := toks[len(toks)-1]; last.Name != "test-login" || last.ID != cfg.TokenID {
				t.Errorf("tokens %+v", toks)
			}
		})
	}

	t.Run("config directory is created 0700", func(t *testing.T) {
		cliEnv(t)
		dir := filepath.Join(t.TempDir(), "new", "patchday")
		t.Setenv(envConfigDir, dir)
		loginAdmin(t, ts)
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
			t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
		}
	})

	t.Run("errors", func(t *testing.T) {
		cliEnv(t)
		for _, tc := range []struct {
			name  string
			code  int
			want  string
			stdin string
			args  []string
		}{
			{"wrong password", 1, "patchday: wrong username or password\n", "not-the-password\n", []string{"--server", ts.url, "--user", "admin"}},
			{"no password", 2, "standard input is not a terminal and was empty", "", []string{"--server", ts.url, "--user", "admin"}},
			{"no server", 2, "--server is required", adminPassword, []string{"--user", "admin"}},
			{"no user", 2, "--user is required", adminPassword, []string{"--server", ts.url}},
			{"bad URL", 2, "must be like https://", adminPassword, []string{"--server", "patchday.example.org", "--user", "admin"}},
			{"unreachable", 1, "connection refused", adminPassword, []string{"--server", "http://127.0.0.1:1", "--user", "admin"}},
			{"argument", 2, "accepts 0 arg(s)", adminPassword, []string{"admin"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := fails(t, tc.code, tc.want, tc.stdin, append([]string{"login"}, tc.args...)...)
				if r.out != "" {
					t.Errorf("stdout %q", r.out)
				}
			})
		}
	})
}

func TestWhoami(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	out := ok(t, "", "whoami")
	for _, want := range []string{"SERVER", ts.url, "USER", "admin", "SITE ADMIN", "yes", "ORG", "ROLE", "default"} {
		if !strings.Contains(out, want) {
			t.Errorf("whoami output lacks %q:\n%s", want, out)
		}
	}
	me := jsonOut[whoami](t, ok(t, "", "whoami", "-o", "json"))
	if me.Username != "admin" || !me.SiteAdmin || len(me.Memberships) != 1 || me.Memberships[0].Org != "default" || me.Memberships[0].Role != "admin" {
		t.Errorf("whoami -o json: %+v", me)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, ua := range ts.ua {
		if ua != "patchday-cli/"+Version {
			t.Errorf("User-Agent %q", ua)
		}
	}
}

func TestNotLoggedIn(t *testing.T) {
	cliEnv(t)
	for _, args := range [][]string{
		{"whoami"}, {"logout"}, {"org", "list"}, {"org", "create", "acme"}, {"user", "list", "--org", "acme"},
		{"token", "list"}, {"token", "create", "x"}, {"audit", "list"}, {"passwd"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			fails(t, 1, `patchday: not logged in: run "patchday login --server URL --user NAME" first`, "", args...)
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	ts := newTestServer(t)
	other := newTestServer(t)
	dir := cliEnv(t)

	// A token for the other server, made with a login saved elsewhere.
	t.Setenv(envConfigDir, t.TempDir())
	loginAdmin(t, other)
	var otherToken struct{ Token string }
	otherToken = jsonOut[struct{ Token string }](t, ok(t, "", "token", "create", "for-env", "-o", "json"))
	t.Setenv(envConfigDir, dir)
	loginAdmin(t, ts)
	ok(t, "", "org", "create", "only-on-first")

	hasOrg := func(out string) bool { return strings.Contains(out, "only-on-first") }
	if !hasOrg(ok(t, "", "org", "list")) {
		t.Fatal("saved login does not reach the first server")
	}

	// PATCHDAY_SERVER and PATCHDAY_TOKEN together replace the saved login.
	t.Setenv(envServer, other.url)
	t.Setenv(envToken, otherToken.Token)
	if hasOrg(ok(t, "", "org", "list")) {
		t.Error("PATCHDAY_SERVER and PATCHDAY_TOKEN were not used")
	}

	// PATCHDAY_SERVER alone: the saved token belongs to another server and is not sent.
	t.Setenv(envToken, "")
	fails(t, 1, "not logged in to "+other.url+" (PATCHDAY_SERVER): the saved login is for "+ts.url, "", "org", "list")

	// PATCHDAY_TOKEN alone: the saved server with that token; a bad one fails with the
	// server's message.
	t.Setenv(envServer, "")
	t.Setenv(envToken, "not-a-token")
	fails(t, 1, "patchday: malformed API token; check PATCHDAY_TOKEN", "", "org", "list")

	t.Setenv(envToken, "")
	t.Setenv(envServer, "ftp://example.org")
	fails(t, 2, "PATCHDAY_SERVER", "", "org", "list")
}

func TestOrgs(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)

	if out := ok(t, "", "org", "create", "acme", "--name", "Acme Corp"); out != "Created organisation acme (Acme Corp)\n" {
		t.Errorf("org create: %q", out)
	}
	o := jsonOut[apiOrg](t, ok(t, "", "org", "create", "globex", "-o", "json"))
	if o.Slug != "globex" || o.Name != "globex" || o.ID == 0 {
		t.Errorf("org create -o json: %+v", o)
	}

	// The server's errors, with exit code 1.
	r := fails(t, 1, "patchday: organisation \"acme\" already exists\n", "", "org", "create", "acme")
	if r.out != "" {
		t.Errorf("stdout %q", r.out)
	}
	fails(t, 1, "patchday: slug must be 1-64 characters", "", "org", "create", "Not_A_Slug!")

	out := ok(t, "", "org", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^SLUG\s+NAME\s+ID\s+CREATED$`).MatchString(lines[0]) ||
		!strings.HasPrefix(lines[1], "default ") || !regexp.MustCompile(`^acme\s+Acme Corp\s+\d+\s+\d{4}-`).MatchString(lines[2]) {
		t.Errorf("org list:\n%s", out)
	}
	orgs := jsonOut[[]apiOrg](t, ok(t, "", "org", "list", "-o", "json"))
	if len(orgs) != 3 || orgs[1].Slug != "acme" || orgs[1].Name != "Acme Corp" {
		t.Errorf("org list -o json: %+v", orgs)
	}

	// --limit cuts the list and says so on stderr, not on stdout.
	r = run(t, "", "org", "list", "--limit", "2")
	if r.code != 0 || strings.Count(r.out, "\n") != 3 || !strings.Contains(r.stderr, "showing the first 2") {
		t.Errorf("org list --limit 2: %+v", r)
	}
	if orgs := jsonOut[[]apiOrg](t, ok(t, "", "org", "list", "--limit", "1", "-o", "json")); len(orgs) != 1 {
		t.Errorf("--limit 1 -o json: %d orgs", len(orgs))
	}

	if out := ok(t, "", "org", "show", "acme"); !regexp.MustCompile(`SLUG\s+acme\n`).MatchString(out) {
		t.Errorf("org show: %q", out)
	}
	fails(t, 1, `patchday: organisation "nope" not found`, "", "org", "show", "nope")
}

// The client follows next_cursor until it has --limit items.
func TestListPaging(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	for _, slug := range []string{"a1", "a2", "a3", "a4", "a5", "a6"} {
		ok(t, "", "org", "create", slug)
	}
	c, err := loggedInClient()
	if err != nil {
		t.Fatal(err)
	}
	c.pageSize = 2
	for _, tc := range []struct {
		limit, want int
		more        bool
	}{{0, 7, false}, {3, 3, true}, {4, 4, true}, {7, 7, false}, {100, 7, false}} {
		items, more, err := c.list(context.Background(), "/api/v1/orgs", nil, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != tc.want || more != tc.more {
			t.Errorf("limit %d: %d items, more %v; want %d, %v", tc.limit, len(items), more, tc.want, tc.more)
		}
		seen := map[string]bool{}
		for _, it := range items {
			var o apiOrg
			json.Unmarshal(it, &o)
			if seen[o.Slug] {
				t.Errorf("limit %d: %s twice", tc.limit, o.Slug)
			}
			seen[o.Slug] = true
		}
	}
}

func TestUsers(t *testing.T) {
	ts := newTestServer(t)
	dir := cliEnv(t)
	loginAdmin(t, ts)
	ok(t, "", "org", "create", "acme")

	// Without a password the server makes one, printed once; the new user can log in with it.
	out := ok(t, "", "user", "create", "alice", "--org", "acme", "--role", "operator", "--email", "alice@example.org", "--display-name", "Alice A")
	m := regexp.MustCompile(`(?m)^Created user alice in acme with role operator\nGenerated password \(shown only this once\): (\S+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("user create output %q", out)
	}
	t.Setenv(envConfigDir, t.TempDir())
	ok(t, m[1]+"\n", "login", "--server", ts.url, "--user", "alice")
	me := jsonOut[whoami](t, ok(t, "", "whoami", "-o", "json"))
	if me.Username != "alice" || me.SiteAdmin || len(me.Memberships) != 1 || me.Memberships[0].Role != "operator" {
		t.Errorf("alice: %+v", me)
	}
	// A generated password is changed before anything else.
	if out := ok(t, m[1]+"\n", "login", "--server", ts.url, "--user", "alice"); !strings.Contains(out, "patchday passwd") {
		t.Errorf("login with a password to change does not say so: %q", out)
	}
	fails(t, 1, "choose your own first", "", "advisory", "list", "--org", "acme")
	ok(t, m[1]+"\nalice-own-password-1\n", "passwd")
	// An operator may not create users: the server's refusal, exit 1.
	fails(t, 1, "patchday: your role does not allow this", "", "user", "create", "mallory", "--org", "acme", "--role", "admin")
	t.Setenv(envConfigDir, dir)

	// A password from stdin; PATCHDAY_ORG as --org.
	t.Setenv(envOrg, "acme")
	u := jsonOut[struct {
		apiUser
		Password *string `json:"password"`
	}](t, ok(t, "bob-password-long-enough\n", "user", "create", "bob", "--role", "viewer", "--password-stdin", "-o", "json"))
	if u.Username != "bob" || u.Role != "viewer" || u.Password != nil {
		t.Errorf("user create --password-stdin -o json: %+v", u)
	}
	fails(t, 1, "password", "short\n", "user", "create", "carol", "--role", "viewer", "--password-stdin")
	t.Setenv(envOrg, "")

	out = ok(t, "", "user", "list", "--org", "acme")
	if !regexp.MustCompile(`^USERNAME\s+ROLE\s+NAME\s+EMAIL\s+SITE ADMIN\s+DISABLED\s+CREATED\n`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^alice\s+operator\s+Alice A\s+alice@example.org\s+no\s+no\s+\d{4}-`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^bob\s+viewer\s+-\s+-\s+no`).MatchString(out) {
		t.Errorf("user list:\n%s", out)
	}
	users := jsonOut[[]apiUser](t, ok(t, "", "user", "list", "--org", "acme", "--role", "viewer", "-o", "json"))
	if len(users) != 1 || users[0].Username != "bob" {
		t.Errorf("user list --role viewer: %+v", users)
	}

	if out := ok(t, "", "user", "show", "alice", "--org", "acme"); !regexp.MustCompile(`(?m)^ROLE\s+operator$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^EMAIL\s+alice@example.org$`).MatchString(out) {
		t.Errorf("user show:\n%s", out)
	}
	fails(t, 1, `patchday: user "nobody" not found`, "", "user", "show", "nobody", "--org", "acme")

	if out := ok(t, "", "user", "set-role", "alice", "admin", "--org", "acme"); out != "alice is now admin in acme\n" {
		t.Errorf("set-role: %q", out)
	}
	if u := jsonOut[apiUser](t, ok(t, "", "user", "show", "alice", "--org", "acme", "-o", "json")); u.Role != "admin" {
		t.Errorf("after set-role: %+v", u)
	}
	fails(t, 1, "patchday: role must be one of admin, operator, viewer, partner", "", "user", "set-role", "alice", "king", "--org", "acme")

	// Every account, for site admins.
	if out := ok(t, "", "user", "list", "--all"); !regexp.MustCompile(`(?m)^admin\s`).MatchString(out) || !strings.Contains(out, "bob") ||
		!strings.Contains(out, "alice@example.org") {
		t.Errorf("user list --all:\n%s", out)
	}
	fails(t, 2, "takes no --org", "", "user", "list", "--all", "--org", "acme")
	// The site admin's hold on accounts.
	if out := ok(t, "", "user", "disable", "bob"); out != "Disabled bob\n" {
		t.Errorf("disable: %q", out)
	}
	if !regexp.MustCompile(`(?m)^bob\s+viewer\s+-\s+-\s+no\s+yes`).MatchString(ok(t, "", "user", "list", "--org", "acme")) {
		t.Error("user list does not show bob disabled")
	}
	ok(t, "", "user", "enable", "bob")
	out = ok(t, "", "user", "reset-password", "bob")
	m = regexp.MustCompile(`Generated password \(shown only this once\): (\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "New password set for bob") {
		t.Fatalf("reset-password: %q", out)
	}
	ok(t, "chosen-password-for-bob\n", "user", "reset-password", "bob", "--password-stdin")
	fails(t, 1, "password", "short\n", "user", "reset-password", "bob", "--password-stdin")
	fails(t, 1, "your own account", "", "user", "disable", "admin")

	if out := ok(t, "", "user", "remove", "bob", "--org", "acme"); out != "Removed bob from acme\n" {
		t.Errorf("remove: %q", out)
	}
	fails(t, 1, `user "bob" not found`, "", "user", "show", "bob", "--org", "acme")

	// Command-line mistakes: exit 2, before any request.
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"--org is required (or set PATCHDAY_ORG)", []string{"user", "list"}},
		{"--org is required", []string{"user", "create", "dave", "--role", "viewer"}},
		{"--role is required", []string{"user", "create", "dave", "--org", "acme"}},
		{"accepts 2 arg(s)", []string{"user", "set-role", "alice", "--org", "acme"}},
		{"accepts 1 arg(s)", []string{"user", "remove", "--org", "acme"}},
		{"unknown flag: --frob", []string{"user", "list", "--org", "acme", "--frob"}},
		{`unknown command "frob"`, []string{"user", "frob"}},
		{"give a command", []string{"user"}},
		{`unknown command "frobnicate" for "patchday"`, []string{"frobnicate"}},
	} {
		fails(t, 2, tc.want, "", tc.args...)
	}
}

func TestTokens(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)

	out := ok(t, "", "token", "create", "ci", "--expires-in", "30d")
	m := regexp.MustCompile(`^Created token (\d+) "ci" \(expires \S+\)\nToken \(shown only this once\): (\S+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("token create: %q", out)
	}
	id, secret := m[1], m[2]
	nt := jsonOut[apiToken](t, ok(t, "", "token", "create", "backup", "-o", "json"))
	if nt.Name != "backup" || nt.Secret == "" || nt.ID == 0 {
		t.Errorf("token create -o json: %+v", nt)
	}
	fails(t, 1, "patchday: --expires-in must be a duration like 12h or 30d", "", "token", "create", "x", "--expires-in", "soon")

	out = ok(t, "", "token", "list")
	if !regexp.MustCompile(`^ID\s+NAME\s+PREFIX\s+STATUS\s+CREATED\s+EXPIRES\s+LAST USED\n`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^`+id+`\s+ci\s+\S+\s+active\s`).MatchString(out) {
		t.Errorf("token list:\n%s", out)
	}
	if out := ok(t, "", "token", "list", "--all"); !strings.Contains(strings.SplitN(out, "\n", 2)[0], "USER ID") {
		t.Errorf("token list --all:\n%s", out)
	}

	// The new token works on its own ...
	t.Setenv(envToken, secret)
	if me := jsonOut[whoami](t, ok(t, "", "whoami", "-o", "json")); me.Username != "admin" {
		t.Errorf("whoami with the new token: %+v", me)
	}
	t.Setenv(envToken, "")

	// ... until it is revoked: then the server's message, exit 1.
	if out := ok(t, "", "token", "revoke", id); out != "Revoked token "+id+" \"ci\"\n" {
		t.Errorf("revoke: %q", out)
	}
	t.Setenv(envToken, secret)
	fails(t, 1, "patchday: the API token was revoked; check PATCHDAY_TOKEN\n", "", "whoami")
	t.Setenv(envToken, "")
	toks := jsonOut[[]apiToken](t, ok(t, "", "token", "list", "-o", "json"))
	var revoked bool
	for _, tok := range toks {
		revoked = revoked || tok.Name == "ci" && tok.RevokedAt != nil
	}
	if !revoked {
		t.Errorf("token list after revoke: %+v", toks)
	}
	if out := ok(t, "", "token", "list"); !regexp.MustCompile(`(?m)^` + id + `\s+ci\s+\S+\s+revoked\s`).MatchString(out) {
		t.Errorf("token list after revoke:\n%s", out)
	}

	fails(t, 2, `token ID "abc": must be a positive integer`, "", "token", "revoke", "abc")
	fails(t, 1, "patchday: token 9999 not found", "", "token", "revoke", "9999")
}

func TestAudit(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	ok(t, "", "org", "create", "acme")
	ok(t, "", "user", "create", "alice", "--org", "acme", "--role", "viewer")
	ok(t, "", "token", "create", "ci")

	out := ok(t, "", "audit", "list")
	if !regexp.MustCompile(`^TIME\s+ACTOR\s+ACTION\s+OBJECT\s+ORG\s+SOURCE\n`).MatchString(out) {
		t.Errorf("audit list header:\n%s", out)
	}
	for _, re := range []string{
		`(?m)^\S+\s+admin\s+org\.create\s+org/acme\s+acme\s`,
		`(?m)^\S+\s+admin\s+user\.create\s+user/alice\s+acme\s`,
		`(?m)^\S+\s+admin\s+token\.create\s+token/\d+\s+-\s`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("audit list lacks %s:\n%s", re, out)
		}
	}

	evs := jsonOut[[]apiAuditEvent](t, ok(t, "", "audit", "list", "-o", "json"))
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	// Newest first.
	if got := strings.Join(actions, " "); !strings.HasPrefix(got, "token.create user.create org.create auth.login") {
		t.Errorf("audit actions: %s", got)
	}
	if len(evs) == 0 || len(evs[0].Details) == 0 {
		t.Errorf("-o json lacks details: %+v", evs)
	}

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--action", "user."}, []string{"user.create"}},
		{[]string{"--org", "acme"}, []string{"user.create", "org.create"}},
		{[]string{"--object-type", "org", "--object-id", "acme"}, []string{"org.create"}},
		{[]string{"--actor", "nobody"}, nil},
		{[]string{"--since", "1h", "--action", "org.create"}, []string{"org.create"}},
		{[]string{"--until", "2000-01-01T00:00:00Z"}, nil},
		{[]string{"--limit", "2"}, []string{"token.create", "user.create"}},
	} {
		evs := jsonOut[[]apiAuditEvent](t, ok(t, "", append([]string{"audit", "list", "-o", "json"}, tc.args...)...))
		var got []string
		for _, e := range evs {
			got = append(got, e.Action)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("audit list %v: %v, want %v", tc.args, got, tc.want)
		}
	}
	fails(t, 2, `--since "yesterday": must be an RFC 3339 time`, "", "audit", "list", "--since", "yesterday")
	fails(t, 1, `patchday: organisation "nope" not found`, "", "audit", "list", "--org", "nope")
}

func TestLogout(t *testing.T) {
	ts := newTestServer(t)
	dir := cliEnv(t)
	loginAdmin(t, ts)
	token := readConfig(t, dir).Token
	if out := ok(t, "", "logout"); out != "Logged out of "+ts.url+" (token revoked)\n" {
		t.Errorf("logout: %q", out)
	}
	cfg := readConfig(t, dir)
	if cfg.Token != "" || cfg.Server != ts.url || cfg.User != "admin" {
		t.Errorf("saved login after logout: %+v", cfg)
	}
	fails(t, 1, "not logged in", "", "whoami")
	// The token is revoked on the server.
	t.Setenv(envToken, token)
	fails(t, 1, "the API token was revoked", "", "whoami")
	// Logging out with a token the server no longer takes still succeeds.
	if r := run(t, "", "logout"); r.code != 0 || !strings.Contains(r.out, "no longer accepted the token") {
		t.Errorf("logout with a revoked token: %+v", r)
	}
	t.Setenv(envToken, "")

	// The next login needs neither --server nor --user.
	if out := ok(t, adminPassword+"\n", "login"); !strings.HasPrefix(out, "Logged in to "+ts.url+" as admin") {
		t.Errorf("login again: %q", out)
	}
}

func TestPasswd(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	const newPassword = "a-new-password-for-tests"
	fails(t, 1, "patchday: current_password is wrong", "wrong\n"+newPassword+"\n", "passwd")
	fails(t, 2, "two lines", adminPassword+"\n", "passwd")
	if out := ok(t, adminPassword+"\n"+newPassword+"\n", "passwd"); out != "Password changed.\n" {
		t.Errorf("passwd: %q", out)
	}
	fails(t, 1, "wrong username or password", adminPassword+"\n", "login", "--server", ts.url, "--user", "admin")
	ok(t, newPassword+"\n", "login", "--server", ts.url, "--user", "admin")
}

// -o takes table or json only; other command-line mistakes are exit code 2 too.
func TestUsageErrors(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	for _, tc := range []struct {
		want string
		args []string
	}{
		{`invalid argument "yaml" for "-o, --output" flag: must be table, json or csv`, []string{"org", "list", "-o", "yaml"}},
		{"must be table or json", []string{"whoami", "-o", "xml"}},
		{"must be table, json or csv", []string{"user", "list", "--org", "default", "--output=wide"}},
		{"must be table or json", []string{"token", "create", "x", "-o", ""}},
		{"must be table, json or csv", []string{"audit", "list", "-o", "JSON"}},
		{"--limit -1: must be 0 (all) or more", []string{"org", "list", "--limit", "-1"}},
		{`invalid argument "many" for "--limit"`, []string{"token", "list", "--limit", "many"}},
		{"accepts 1 arg(s)", []string{"org", "create"}},
		{"accepts 0 arg(s)", []string{"org", "list", "extra"}},
		{"give a command", []string{"token"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := fails(t, 2, tc.want, "", tc.args...)
			if r.out != "" {
				t.Errorf("stdout %q", r.out)
			}
		})
	}
}

// Every admin command has a short description and an example.
func TestHelp(t *testing.T) {
	root := NewRoot(strings.NewReader(""), new(strings.Builder), new(strings.Builder))
	for _, name := range []string{"login", "logout", "whoami", "passwd", "org", "user", "token", "audit"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Fatalf("%s: %v", name, err)
		}
		cmds := append(cmd.Commands(), cmd)
		for _, c := range cmds {
			if c.Short == "" || c.Example == "" {
				t.Errorf("%s: Short %q, Example %q", c.CommandPath(), c.Short, c.Example)
			}
		}
	}
	out := ok(t, "", "audit", "list", "--help")
	if !strings.Contains(out, "--limit") || !strings.Contains(out, "default 100, 0 for all") {
		t.Errorf("audit list --help:\n%s", out)
	}
}

// Answers that are not the API's (a proxy's error page, a redirect) are reported clearly.
func TestForeignAnswers(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/orgs":
			http.Error(w, "<html><body>Bad gateway</body></html>", http.StatusBadGateway)
		case "/api/v1/me":
			http.Redirect(w, r, "https://elsewhere.example.org/api/v1/me", http.StatusMovedPermanently)
		case "/api/v1/tokens":
			w.Write([]byte("not json"))
		}
	}))
	defer hs.Close()
	cliEnv(t)
	t.Setenv(envServer, hs.URL)
	t.Setenv(envToken, "pd_whatever")
	fails(t, 1, "patchday: the server answered 502 Bad Gateway: <html><body>Bad gateway</body></html>", "", "org", "list")
	fails(t, 1, "redirecting to https://elsewhere.example.org/api/v1/me", "", "whoami")
	fails(t, 1, "is not the JSON expected", "", "token", "list")
}

func TestAPIErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		e    apiError
		want string
	}{
		{apiError{Status: 409, Code: "conflict", Message: `organisation "acme" already exists`}, `organisation "acme" already exists`},
		{apiError{Status: 400, Code: "invalid_field", Field: "slug", Message: "slug is required"}, "slug is required"},
		{apiError{Status: 400, Code: "unknown_field", Field: "x", Message: `unknown field "x"`}, `unknown field "x"`},
		{apiError{Status: 400, Code: "invalid_field", Field: "name", Message: "too long"}, "too long (field name)"},
		{apiError{Status: 401, Code: "token_revoked", Message: "the API token was revoked", hint: "run \"patchday login\" to log in again"},
			`the API token was revoked; run "patchday login" to log in again`},
		{apiError{Status: 503}, "the server answered 503 Service Unavailable"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}
