package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/agent"
	"github.com/patchday/patchday/internal/inventory"
)

// The admin side of agents: an enrollment token made with the command line enrolls a real
// agent (reading a fixture machine), which the computer commands then show, assign to and
// revoke.
func TestEnrollTokensAndComputers(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")

	out := ok(t, "", "enroll-token", "create", "laptops", "--max-uses", "2", "--expires-in", "2d")
	if !strings.Contains(out, "patchday-agent enroll --server "+ts.url+" --token pde_") {
		t.Errorf("create does not show how to enroll:\n%s", out)
	}
	tok := jsonOut[struct{ Token string }](t, ok(t, "", "enroll-token", "create", "servers", "-o", "json")).Token
	fails(t, 2, "--max-uses", "", "enroll-token", "create", "x", "--max-uses", "many")
	fails(t, 1, "--max-uses must be", "", "enroll-token", "create", "x", "--max-uses", "0")

	collector := &inventory.Collector{Root: filepath.Join("..", "inventory", "testdata", "debian12"), GOOS: "linux", Hostname: "web-01",
		Run: func(context.Context, string, ...string) ([]byte, error) {
			return nil, fmt.Errorf("no firewall tools here")
		}}
	a, err := agent.Enroll(context.Background(), agent.Config{StateDir: t.TempDir(), Collector: collector, Version: "test"}, ts.url, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}

	list := ok(t, "", "computer", "list")
	if !strings.Contains(list, "web-01") || !strings.Contains(list, "Debian GNU/Linux 12") || !strings.Contains(list, "active") {
		t.Errorf("computer list:\n%s", list)
	}
	show := ok(t, "", "computer", "show", "web-01")
	for _, want := range []string{"HOSTNAME", "web-01", "PACKAGES", "clamav signatures", "REBOOT REQUIRED", "yes", "FIREWALL"} {
		if !strings.Contains(show, want) {
			t.Errorf("computer show lacks %q:\n%s", want, show)
		}
	}
	n := jsonOut[struct{ Packages int }](t, ok(t, "", "computer", "show", "web-01", "-o", "json")).Packages
	inv := ok(t, "", "computer", "inventory", "1")
	if n < 10 || !strings.Contains(inv, "openssl") || strings.Count(inv, "\n") != n+1 {
		t.Errorf("computer inventory (%d lines):\n%s", strings.Count(inv, "\n"), inv)
	}
	fails(t, 1, `computer "nope"`, "", "computer", "show", "nope")

	ok(t, "", "update", "create", "-f", writeTemp(t, "u.yaml", `name: openssl-fix
title: OpenSSL fix
classification: security
applicability: {purl: "pkg:deb/debian/openssl", vers: "vers:deb/<3.0.99-1"}
installer: {type: apt}
`))
	fails(t, 2, "--deadline", "", "computer", "assign", "web-01", "openssl-fix", "--deadline", "tomorrow")
	if out := ok(t, "", "computer", "assign", "web-01", "openssl-fix", "--deadline", "2030-01-01T00:00:00Z"); !strings.Contains(out, "state approved") {
		t.Errorf("assign: %s", out)
	}
	if show := ok(t, "", "computer", "show", "web-01"); !strings.Contains(show, "openssl-fix") || !strings.Contains(show, "2030-01-01") {
		t.Errorf("show after assign:\n%s", show)
	}
	if _, err := a.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Status(); len(st.Pending) != 1 || st.Pending[0] != "openssl-fix" {
		t.Errorf("the agent's pending updates: %+v", st.Pending)
	}
	// An update the machine does not need (its openssl is newer): approved, but not needed,
	// and its agent is not sent it.
	ok(t, "", "update", "create", "-f", writeTemp(t, "old.yaml", `name: openssl-old-fix
title: An older OpenSSL fix
classification: security
applicability: {purl: "pkg:deb/debian/openssl", vers: "vers:deb/<3.0.11-1"}
installer: {type: apt}
`))
	if out := ok(t, "", "computer", "assign", "web-01", "openssl-old-fix"); !strings.Contains(out, "Assigned openssl-old-fix to web-01: approved, but not needed on web-01 (state not_applicable)") {
		t.Errorf("assign of an update the computer does not need: %s", out)
	}
	if _, err := a.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Status(); len(st.Pending) != 1 || st.Pending[0] != "openssl-fix" {
		t.Errorf("the agent's pending updates after assigning one it does not need: %+v", st.Pending)
	}
	ok(t, "", "computer", "unassign", "web-01", "openssl-old-fix")
	ok(t, "", "computer", "unassign", "web-01", "openssl-fix")
	fails(t, 1, "not found", "", "computer", "unassign", "web-01", "openssl-fix")

	ok(t, "", "computer", "revoke", "web-01")
	if list := ok(t, "", "computer", "list", "--revoked", "true"); !strings.Contains(list, "revoked") {
		t.Errorf("revoked list:\n%s", list)
	}
	if list := ok(t, "", "computer", "list", "--revoked", "false"); strings.Contains(list, "web-01") {
		t.Errorf("active list shows the revoked computer:\n%s", list)
	}
	if _, err := a.CheckIn(context.Background()); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("check-in after revocation: %v", err)
	}
	if out := ok(t, "", "computer", "delete", "web-01"); out != "Deleted computer web-01\n" {
		t.Errorf("computer delete: %q", out)
	}
	fails(t, 1, "not found", "", "computer", "show", "web-01")

	tokens := ok(t, "", "enroll-token", "list")
	if !strings.Contains(tokens, "laptops") || !strings.Contains(tokens, "servers") {
		t.Errorf("enroll-token list:\n%s", tokens)
	}
	ok(t, "", "enroll-token", "revoke", "1")
	if tokens := ok(t, "", "enroll-token", "list"); !strings.Contains(tokens, "revoked") {
		t.Errorf("after revoke:\n%s", tokens)
	}
}

// writeTemp writes content to a file in a temporary directory and returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Reports and health verdicts through the command line, on a real agent's fixture machine.
func TestReportsAndHealth(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")
	tok := jsonOut[struct{ Token string }](t, ok(t, "", "enroll-token", "create", "t", "-o", "json")).Token
	collector := &inventory.Collector{Root: filepath.Join("..", "inventory", "testdata", "debian12"), GOOS: "linux", Hostname: "web-01",
		Run: func(context.Context, string, ...string) ([]byte, error) {
			return nil, fmt.Errorf("no firewall tools here")
		}}
	if _, err := agent.Enroll(context.Background(), agent.Config{StateDir: t.TempDir(), Collector: collector, Version: "test"}, ts.url, tok, ""); err != nil {
		t.Fatal(err)
	}
	// The fixture machine has openssl 3.0.19-1~deb12u2.
	ok(t, "", "advisory", "import", filepath.Join("..", "server", "testdata", "minimal-csaf.json"))
	ok(t, "", "update", "create", "-f", writeTemp(t, "u.yaml", `name: openssl-next
title: OpenSSL next
classification: security
severity: critical
advisories: [EXAMPLE-2026-0001]
applicability: {purl: "pkg:deb/debian/openssl", vers: "vers:deb/<3.0.20-1~deb12u1"}
installer: {type: apt}
`))
	rep := ok(t, "", "report", "computer", "web-01")
	for _, want := range []string{"NOT compliant", "critical 1", "openssl-next", "needed"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report computer lacks %q:\n%s", want, rep)
		}
	}
	// The fixture's ufw is enabled, its ClamAV signatures are old: the default policy says
	// the machine fails on antivirus age; with no grace, the missing critical update counts.
	ok(t, "", "health", "policy", "set", "--grace-days", "0")
	r := run(t, "", "health", "show", "web-01")
	if r.code != ExitNotCompliant || !strings.Contains(r.out, "critical updates missing") {
		t.Errorf("health show: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	ok(t, "", "health", "policy", "set", "--max-missing-critical", "1", "--max-antivirus-age-days", "0")
	if out := ok(t, "", "health", "show", "web-01"); !strings.Contains(out, "web-01: compliant") {
		t.Errorf("health show after relaxing the policy: %s", out)
	}
	if out := ok(t, "", "health", "policy", "show"); !strings.Contains(out, "MAX MISSING CRITICAL    1") {
		t.Errorf("policy show:\n%s", out)
	}
	fails(t, 2, "give at least one setting", "", "health", "policy", "set")
	fails(t, 1, "--grace-days must be", "", "health", "policy", "set", "--grace-days", "-1")

	csv := ok(t, "", "health", "list", "-o", "csv")
	if !strings.HasPrefix(csv, "id,hostname,compliant,reasons\n") || !strings.Contains(csv, ",web-01,yes,") {
		t.Errorf("health list -o csv:\n%s", csv)
	}
	comp := ok(t, "", "report", "compliance", "-o", "json")
	if c := jsonOut[struct{ Computers, Compliant int }](t, comp); c.Computers != 1 || c.Compliant != 1 {
		t.Errorf("report compliance: %s", comp)
	}
	if csv := ok(t, "", "report", "computer", "web-01", "-o", "csv"); !strings.HasPrefix(csv, "update,severity,state,deadline,days_exposed,error\nopenssl-next,critical,needed,") {
		t.Errorf("report computer -o csv:\n%s", csv)
	}
	fails(t, 2, "must be table, json or csv", "", "report", "compliance", "-o", "xml")
	if csv := ok(t, "", "report", "advisory", "EXAMPLE-2026-0001", "-o", "csv"); !strings.Contains(csv, "EXAMPLE-2026-0001,1,web-01,pending,openssl-next,") {
		t.Errorf("report advisory -o csv:\n%s", csv)
	}
	if out := ok(t, "", "report", "advisory", "EXAMPLE-2026-0001"); !strings.Contains(out, "AFFECTED        1") {
		t.Errorf("report advisory:\n%s", out)
	}
	// A revoked computer leaves the counts.
	ok(t, "", "computer", "revoke", "web-01")
	if out := ok(t, "", "report", "advisory", "EXAMPLE-2026-0001"); !strings.Contains(out, "AFFECTED        0") || !strings.Contains(out, "PENDING         0") {
		t.Errorf("report advisory after revoking its only machine:\n%s", out)
	}
}

// Groups: static ones filled by hand and by enrollment tokens, dynamic ones by rules over
// facts and tags; and the report of one group.
func TestGroups(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")
	ok(t, "", "group", "create", "pilot", "--ring", "1", "--description", "first wave")
	fails(t, 1, "groups[0]", "", "enroll-token", "create", "x", "--group", "nope")
	pilotTok := jsonOut[struct{ Token string }](t, ok(t, "", "enroll-token", "create", "p", "--group", "pilot", "-o", "json")).Token
	plainTok := jsonOut[struct{ Token string }](t, ok(t, "", "enroll-token", "create", "q", "-o", "json")).Token
	if out := ok(t, "", "group", "create", "web", "--rule", "hostname=web-*"); !strings.Contains(out, "Created dynamic group web with 0 members") {
		t.Errorf("create web: %s", out)
	}
	fails(t, 1, "rule", "", "group", "create", "bad", "--rule", "colour=red")
	fails(t, 1, `a group named "pilot" exists`, "", "group", "create", "pilot")
	for _, m := range []struct{ host, tok string }{{"web-01", pilotTok}, {"db-01", plainTok}} {
		host, tok := m.host, m.tok
		// A machine of its own: the fixture tree with another machine id.
		root := t.TempDir()
		if err := os.CopyFS(root, os.DirFS(filepath.Join("..", "inventory", "testdata", "debian12"))); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, "etc", "machine-id"), []byte("machine-"+host+"\n"), 0o644)
		collector := &inventory.Collector{Root: root, GOOS: "linux", Hostname: host,
			Run: func(context.Context, string, ...string) ([]byte, error) {
				return nil, fmt.Errorf("no firewall tools here")
			}}
		if _, err := agent.Enroll(context.Background(), agent.Config{StateDir: t.TempDir(), Collector: collector, Version: "test"}, ts.url, tok, ""); err != nil {
			t.Fatal(err)
		}
	}
	members := func(group string) []string {
		t.Helper()
		var hosts []string
		g := jsonOut[struct {
			Name       string
			MemberList []struct{ Hostname string } `json:"member_list"`
		}](t, ok(t, "", "group", "show", group, "-o", "json"))
		if g.Name != group {
			t.Errorf("group show -o json: name %q", g.Name)
		}
		for _, c := range g.MemberList {
			hosts = append(hosts, c.Hostname)
		}
		return hosts
	}
	if got := members("pilot"); strings.Join(got, " ") != "web-01" {
		t.Errorf("pilot (from the enrollment token): %v", got)
	}
	if got := members("web"); strings.Join(got, " ") != "web-01" {
		t.Errorf("web (by its rule): %v", got)
	}
	ok(t, "", "computer", "tag", "db-01", "prod", "dmz")
	ok(t, "", "group", "create", "prod", "--rule", "tag=prod")
	if got := members("prod"); strings.Join(got, " ") != "db-01" {
		t.Errorf("prod (by tag): %v", got)
	}
	ok(t, "", "computer", "tag", "db-01")
	if got := members("prod"); len(got) != 0 {
		t.Errorf("prod after the tag went: %v", got)
	}
	if out := ok(t, "", "group", "update", "web", "--rule", "hostname=db-*"); !strings.Contains(out, "1 members") {
		t.Errorf("update web: %s", out)
	}
	if got := members("web"); strings.Join(got, " ") != "db-01" {
		t.Errorf("web after its new rule: %v", got)
	}
	ok(t, "", "group", "add", "pilot", "db-01")
	if got := members("pilot"); strings.Join(got, " ") != "web-01 db-01" {
		t.Errorf("pilot after add: %v", got)
	}
	ok(t, "", "group", "remove", "pilot", "db-01")
	fails(t, 1, "dynamic", "", "group", "add", "web", "web-01")
	fails(t, 1, "not found", "", "group", "remove", "pilot", "db-01")
	list := ok(t, "", "group", "list")
	if !strings.Contains(list, "pilot  1     static") || !strings.Contains(list, "hostname=db-*") {
		t.Errorf("group list:\n%s", list)
	}
	if rep := jsonOut[struct{ Computers int }](t, ok(t, "", "report", "group", "pilot", "-o", "json")); rep.Computers != 1 {
		t.Errorf("report group pilot: %d computers", rep.Computers)
	}
	ok(t, "", "group", "delete", "prod")
	fails(t, 1, `group "prod"`, "", "group", "show", "prod")
	if out := ok(t, "", "group", "update", "web", "--name", "dbs"); !strings.Contains(out, "Renamed group web to dbs: 1 members") {
		t.Errorf("rename web: %s", out)
	}
	fails(t, 1, `a group named "pilot" exists`, "", "group", "update", "dbs", "--name", "pilot")
	if got := members("dbs"); strings.Join(got, " ") != "db-01" {
		t.Errorf("dbs (web renamed): %v", got)
	}
	ok(t, "", "group", "update", "dbs", "--name", "web")

	// Approvals: the fixture machines have openssl 3.0.19-1~deb12u2.
	ok(t, "", "update", "create", "-f", writeTemp(t, "u.yaml", `name: openssl-next
title: OpenSSL next
classification: security
applicability: {purl: "pkg:deb/debian/openssl", vers: "vers:deb/<3.0.20-1~deb12u1"}
installer: {type: apt}
`))
	fails(t, 2, "--group is required", "", "approve", "openssl-next")
	fails(t, 2, "--deadline", "", "approve", "openssl-next", "--group", "pilot", "--deadline", "friday")
	if out := ok(t, "", "approve", "openssl-next", "--group", "pilot", "--deadline", "2030-01-01T00:00:00Z"); out != "Approved openssl-next for group pilot\n" {
		t.Errorf("approve: %q", out)
	}
	ok(t, "", "decline", "openssl-next", "--group", "web")
	csv := ok(t, "", "rollout", "status", "openssl-next", "-o", "csv")
	if !strings.Contains(csv, "pilot,1,install,2030-01-01") || !strings.Contains(csv, "web,,decline,") {
		t.Errorf("rollout status -o csv:\n%s", csv)
	}
	if out := ok(t, "", "update", "approvals", "openssl-next"); !strings.Contains(out, "pilot  install") || !strings.Contains(out, "web    decline") {
		t.Errorf("update approvals:\n%s", out)
	}
	ok(t, "", "rollout", "halt", "openssl-next", "--group", "pilot", "--reason", "smoke test failed")
	if csv := ok(t, "", "rollout", "status", "openssl-next", "-o", "csv"); !strings.Contains(csv, ",smoke test failed") {
		t.Errorf("rollout status after halt:\n%s", csv)
	}
	ok(t, "", "rollout", "resume", "openssl-next", "--group", "pilot")
	fails(t, 1, "not found", "", "rollout", "resume", "openssl-next", "--group", "pilot")
	ok(t, "", "rule", "create", "web-security", "--group", "web", "--classification", "security", "--delay-days", "3")
	if out := ok(t, "", "rule", "list"); !strings.Contains(out, "web-security  web    security") {
		t.Errorf("rule list:\n%s", out)
	}
	if out := ok(t, "", "rule", "disable", "web-security"); out != "Disabled rule web-security\n" {
		t.Errorf("rule disable: %q", out)
	}
	if out := ok(t, "", "rule", "list"); !strings.Contains(out, "disabled by admin") {
		t.Errorf("rule list after disable:\n%s", out)
	}
	ok(t, "", "rule", "enable", "web-security")
	fails(t, 1, "not found", "", "rule", "enable", "nothing")
	// Three days of delay: nothing yet.
	if out := ok(t, "", "rule", "preview"); out != "The rules would approve nothing now.\n" {
		t.Errorf("rule preview: %q", out)
	}
	if out := ok(t, "", "rule", "run", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("rule run -o json: %q", out)
	}
	fails(t, 1, "--after-ring-pct needs", "", "rule", "create", "x", "--group", "web", "--after-ring-pct", "50")
	ok(t, "", "rule", "delete", "web-security")
	ok(t, "", "unapprove", "openssl-next", "--group", "web")
	fails(t, 1, "not found", "", "unapprove", "openssl-next", "--group", "web")
	ok(t, "", "group", "update", "pilot", "--windows", "mon-fri 22:00-04:00", "--timezone", "Europe/Zurich")
	if out := ok(t, "", "group", "list"); !strings.Contains(out, "mon,tue,wed,thu,fri 22:00-04:00 (Europe/Zurich)") {
		t.Errorf("group list with windows:\n%s", out)
	}
	fails(t, 1, "timezone", "", "group", "update", "pilot", "--timezone", "Mars/Base")
}
