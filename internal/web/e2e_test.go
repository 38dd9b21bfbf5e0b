package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium to drive: $PATCHDAY_CHROMIUM, or Debian's chromium. Without one
// the browser tests skip, and fail under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PATCHDAY_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is missing (apt-get install chromium chromium-driver); under CI=true the browser tests must run")
	}
	t.Skip("Chromium is missing: install Debian's chromium and chromium-driver (scripts/test.sh does) to run the browser tests")
	return ""
}

// artifacts is the directory the screenshots go to: $PATCHDAY_ARTIFACTS/console-e2e, or a new
// directory under the system's temporary directory, kept after the test and logged.
func artifacts(t *testing.T) string {
	t.Helper()
	var dir string
	if base := os.Getenv("PATCHDAY_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, "console-e2e")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "patchday-console-e2e-"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser starts a headless Chromium and returns its context.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // tests may run as root, where Chromium's sandbox does not start
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(width, height),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// The flow of issue 9: log in; see the dashboard; open an advisory; approve its update for a
// group with a deadline; a simulated agent checks in and installs it; the dashboard's
// compliance figure changes; log out, after which pages send the browser to the login.
func TestConsoleEndToEnd(t *testing.T) {
	ctx := browser(t, 1280, 1000)
	dir := artifacts(t)
	e := newEnv(t)
	base := e.http.URL

	// A machine of the pilot ring with the vulnerable SQL engine of the demo's critical
	// advisory; its agent is simulated over the real protocol.
	ag := e.enrollAgent("default", "sql-07", []string{"pilot"}, map[string]string{
		"bash": "5.2.15-2+b7", "example-sql-engine": "2022.150.4000"})
	if l := ag.checkIn(nil, nil); len(l) != 0 {
		t.Fatalf("assignments before any approval: %v", l)
	}
	// The organisation's policy counts a missing critical update at once (no grace period),
	// so the machine is not compliant until it installs the update.
	var policy map[string]any
	e.api(200, "GET", "/api/v1/orgs/default/health-policy", e.admin, nil, &policy)
	policy["grace_days"] = 0
	delete(policy, "updated_at")
	e.api(200, "PUT", "/api/v1/orgs/default/health-policy", e.admin, policy, nil)

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
		})
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			var loc, body string
			chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Text("body", &body, chromedp.ByQuery))
			chromedp.Run(ctx, shot("failed-"+strings.ReplaceAll(step, " ", "-")))
			t.Fatalf("%s: %v (at %s)\n%s", step, err, loc, body)
		}
	}
	var loc, text string

	// Not signed in: the console sends the browser to the login page.
	run("open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#username", chromedp.ByID), chromedp.Location(&loc), shot("01-login"))
	if !strings.HasPrefix(loc, base+"/login") {
		t.Fatalf("not signed in, / went to %s, want the login page", loc)
	}
	// A wrong password is refused with a message.
	run("wrong password",
		chromedp.SendKeys("#username", "admin", chromedp.ByID),
		chromedp.SendKeys("#password", "not-the-password", chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible(`[role="alert"]`, chromedp.ByQuery),
		chromedp.Text(`[role="alert"]`, &text, chromedp.ByQuery))
	if !strings.Contains(text, "Wrong username or password") {
		t.Errorf("wrong password: message %q", text)
	}
	run("log in",
		chromedp.WaitVisible(`//input[@id="username"][@value="admin"]`),
		chromedp.SendKeys("#password", adminPassword, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#compliance-percent", chromedp.ByID),
		chromedp.Text("#compliance-percent", &text, chromedp.ByID),
		shot("02-dashboard"))
	before := text
	t.Logf("dashboard after login: %s compliant", before)

	// The advisory of the SQL engine, from the list.
	run("open the advisory",
		chromedp.Click(`//nav//a[text()="Advisories"]`),
		chromedp.WaitVisible(`//h1[text()="Advisories"]`),
		chromedp.Click(`//tr[td[contains(., "Example SQL Engine")]]//a`),
		chromedp.WaitVisible(`#h-upd`, chromedp.ByID),
		chromedp.Text("main", &text, chromedp.ByQuery),
		shot("03-advisory"))
	if !contains(text, "CVE-2026-31111", "Revisions", "sql-07", "example-sql-engine-2022.160.4140") {
		t.Errorf("advisory page lacks the CVE, the revisions, the affected machine or the update:\n%s", text)
	}

	// Its update for SQL Engine 2022: approve it for the pilot ring, with a deadline in an
	// hour.
	deadline := e.clock().UTC().Add(time.Hour).Format("2006-01-02T15:04")
	run("approve the update",
		chromedp.Click(`//a[text()="example-sql-engine-2022.160.4140"]`),
		chromedp.WaitVisible("#approve-submit", chromedp.ByID),
		chromedp.SetValue("#a-group", "pilot", chromedp.ByID),
		chromedp.SetValue("#a-deadline", deadline, chromedp.ByID),
		shot("04-update-form"),
		chromedp.Click("#approve-submit", chromedp.ByID),
		chromedp.WaitVisible(".flash", chromedp.ByQuery),
		chromedp.Text("#rollout", &text, chromedp.ByID),
		shot("05-approved"))
	if !contains(text, "pilot", "install", strings.Replace(deadline, "T", " ", 1)+" UTC") {
		t.Errorf("after approving, the rollout table says:\n%s", text)
	}
	// The approval went through the API: audited under the user, like one from the CLI.
	var audit struct {
		Items []struct{ Actor, Action string }
	}
	e.api(200, "GET", "/api/v1/audit?org=default&action=update.install", e.admin, nil, &audit)
	if len(audit.Items) == 0 || audit.Items[0].Actor != "admin" {
		var all struct {
			Items []struct{ Actor, Action, ObjectType, ObjectID string }
		}
		e.api(200, "GET", "/api/v1/audit?org=default&limit=5", e.admin, nil, &all)
		t.Errorf("no audited approval by admin: %+v (latest: %+v)", audit.Items, all.Items)
	}

	// Approved with a deadline ahead: the machine is within its time (group approval
	// deadlines count in verdicts), so the figure rises already.
	run("dashboard after the approval", chromedp.Click(`//nav//a[text()="Dashboard"]`), chromedp.WaitVisible("#compliance-percent", chromedp.ByID),
		chromedp.Text("#compliance-percent", &text, chromedp.ByID))
	approved := text
	if pctOf(t, approved) <= pctOf(t, before) {
		t.Errorf("approving with a deadline ahead did not raise the compliance figure: %s, then %s", before, approved)
	}
	// Two hours later the deadline has passed and the machine still lacks the update.
	e.advance(2 * time.Hour)
	run("dashboard after the deadline", chromedp.Reload(), chromedp.WaitVisible("#compliance-percent", chromedp.ByID),
		chromedp.Text("#compliance-percent", &text, chromedp.ByID), shot("06-dashboard-deadline-passed"))
	overdue := text
	if pctOf(t, overdue) >= pctOf(t, approved) {
		t.Errorf("the passed deadline did not lower the compliance figure: %s, then %s", approved, overdue)
	}

	// The agent checks in, gets the signed assignment, installs and reports.
	l := ag.checkIn(nil, nil)
	it, ok := l["example-sql-engine-2022.160.4140"]
	if !ok {
		t.Fatalf("the agent did not get the approved update: %v", l)
	}
	ag.install(it, "example-sql-engine", "2022.160.4140")

	run("dashboard after the install", chromedp.Reload(), chromedp.WaitVisible("#compliance-percent", chromedp.ByID),
		chromedp.Text("#compliance-percent", &text, chromedp.ByID), shot("07-dashboard-after-install"))
	after := text
	t.Logf("compliance: %s at login, %s after the approval, %s once the deadline passed, %s after the install", before, approved, overdue, after)
	if pctOf(t, after) <= pctOf(t, overdue) {
		t.Errorf("the install did not raise the compliance figure: %s, then %s", overdue, after)
	}
	run("computer page", chromedp.Navigate(base+"/o/default/computers/sql-07"), chromedp.WaitVisible("#verdict", chromedp.ByID),
		chromedp.Text("main", &text, chromedp.ByQuery), shot("08-computer"))
	if !contains(text, "Compliant", "installed", "2022.160.4140") {
		t.Errorf("computer page after the install:\n%s", text)
	}

	// An admin creates a group, a ring with a maintenance window, from the groups page.
	run("create a group",
		chromedp.Click(`//nav//a[text()="Groups"]`),
		chromedp.WaitVisible("#group-create", chromedp.ByID),
		chromedp.SendKeys("#g-name", "canary", chromedp.ByID),
		chromedp.SendKeys("#g-ring", "1", chromedp.ByID),
		chromedp.SendKeys("#g-win", "sat 00:00-06:00", chromedp.ByID),
		chromedp.Click("#group-create", chromedp.ByID),
		chromedp.WaitVisible(".flash", chromedp.ByQuery),
		chromedp.Location(&loc),
		chromedp.Text("main", &text, chromedp.ByQuery),
		shot("09-group-created"))
	if loc != base+"/o/default/groups/canary?done=group-created" || !contains(text, "The group is created.", "sat 00:00-06:00 (UTC)") {
		t.Errorf("after creating a group, at %s:\n%s", loc, text)
	}
	var g struct{ Ring *int }
	if e.api(200, "GET", "/api/v1/orgs/default/groups/canary", e.admin, nil, &g); g.Ring == nil || *g.Ring != 1 {
		t.Errorf("the group made in the browser: ring %v, want 1", g.Ring)
	}

	// Phone width: the pages still render, forms included, without sideways scrolling of the
	// page.
	run("phone width", chromedp.EmulateViewport(390, 844))
	for i, p := range []string{"/o/default/", "/o/default/groups", "/o/default/groups/pilot", "/o/default/rules", "/o/default/releases",
		"/o/default/users", "/o/default/enrollment", "/o/default/updates/example-sql-engine-2022.160.4140"} {
		var scrollW, clientW int
		actions := []chromedp.Action{chromedp.Navigate(base + p), chromedp.WaitVisible("main h1", chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollW), chromedp.Evaluate(`document.documentElement.clientWidth`, &clientW)}
		if i == 0 {
			actions = append(actions, shot("10-dashboard-phone"))
		}
		run("phone width "+p, actions...)
		if scrollW > clientW+1 {
			t.Errorf("at phone width %s is %dpx wide in a %dpx viewport", p, scrollW, clientW)
		}
	}
	run("desktop width", chromedp.EmulateViewport(1280, 1000))

	// Sign out: the token is revoked, and pages send the browser to the login again.
	run("log out", chromedp.Click("#logout", chromedp.ByID), chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.Text("main", &text, chromedp.ByQuery), shot("11-logged-out"))
	if !strings.Contains(text, "signed out") {
		t.Errorf("after signing out: %q", text)
	}
	for _, p := range []string{"/o/default/", "/o/default/advisories", "/tokens"} {
		run("after logout "+p, chromedp.Navigate(base+p), chromedp.WaitVisible("#username", chromedp.ByID), chromedp.Location(&loc))
		if !strings.HasPrefix(loc, base+"/login") {
			t.Errorf("after logout %s went to %s", p, loc)
		}
	}
	var tokens struct {
		Items []struct {
			Name      string
			RevokedAt *time.Time `json:"revoked_at"`
		}
	}
	e.api(200, "GET", "/api/v1/tokens?all=true", e.admin, nil, &tokens)
	revoked := 0
	for _, tk := range tokens.Items {
		if tk.Name == "console" && tk.RevokedAt != nil {
			revoked++
		}
	}
	if revoked != 1 {
		t.Errorf("console sessions revoked by the logout: %d, want 1 (%+v)", revoked, tokens.Items)
	}
}

func pctOf(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimSpace(s), "%"), "%g", &f); err != nil {
		t.Fatalf("compliance figure %q: %v", s, err)
	}
	return f
}
