package cli

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/scan/scantest"
)

// patchday scan on real loopback sockets: the open ports found, the closed one not, the
// result uploaded and compared with the previous scan; public targets refused.
func TestScanCommand(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	var ports []string
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		lns = append(lns, ln)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		ports = append(ports, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	}
	closedPort := fmt.Sprint(scantest.ClosedTCPPort(t)) // held, never listening, for the whole test

	spec := strings.Join(append(ports, closedPort), ",")
	out := jsonOut[struct {
		Findings []struct {
			Host  string
			Port  int
			State string
		}
		Stats struct{ Attempts, Open, Closed int }
	}](t, ok(t, "", "scan", "127.0.0.1", "--ports", spec, "-o", "json"))
	if len(out.Findings) != 2 || out.Stats.Open != 2 || out.Stats.Closed != 1 || out.Stats.Attempts != 3 {
		t.Errorf("scan result %+v", out)
	}
	for _, f := range out.Findings {
		if f.Host != "127.0.0.1" || f.State != "open" || fmt.Sprint(f.Port) == closedPort {
			t.Errorf("finding %+v", f)
		}
	}
	csv := ok(t, "", "scan", "127.0.0.1", "--ports", spec, "-o", "csv")
	if !strings.Contains(csv, "127.0.0.1,"+ports[0]) && !strings.Contains(csv, ","+ports[0]+",") {
		t.Errorf("scan -o csv:\n%s", csv)
	}
	r := run(t, "", "scan", "127.0.0.1", "--ports", spec, "--upload", "--org", "default")
	if r.code != 0 || !strings.Contains(r.stderr, "uploaded as scan 1") {
		t.Errorf("upload: %d %s", r.code, r.stderr)
	}
	// A port closed since is named.
	lns[1].Close()
	r = run(t, "", "scan", "127.0.0.1", "--ports", spec, "--upload", "--org", "default")
	if want := "1 closed since the previous scan"; r.code != 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "  closed: 127.0.0.1 tcp/"+ports[1]) {
		t.Errorf("upload after a service stopped: %d\n%s", r.code, r.stderr)
	}

	// Services are identified: an HTTP server with its Server header.
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "nginx/1.22.1")
	}))
	defer web.Close()
	webPort := web.Listener.Addr().(*net.TCPAddr).Port
	got := jsonOut[struct {
		Findings []struct {
			Port                      int
			Service, Product, Version string
		}
	}](t, ok(t, "", "scan", "127.0.0.1", "--ports", fmt.Sprint(webPort), "-o", "json"))
	if len(got.Findings) != 1 || got.Findings[0].Service != "http" || got.Findings[0].Product != "nginx" || got.Findings[0].Version != "1.22.1" {
		t.Errorf("identified %+v", got.Findings)
	}
	fails(t, 2, "8.8.8.8", "", "scan", "8.8.8.8", "--ports", "53")
	fails(t, 2, "--ports", "", "scan", "127.0.0.1", "--ports", "99999")
	fails(t, 2, "at least one target", "", "scan")
	fails(t, 2, "--rate -5: must be 0 (no limit) or more", "", "scan", "127.0.0.1", "--rate", "-5")
	fails(t, 2, "--concurrency 0: must be from 1 to 10000", "", "scan", "127.0.0.1", "--concurrency", "0")
	fails(t, 2, "more than 4 addresses in total: --max-targets raises the limit", "", "scan", "127.0.0.0/29", "--max-targets", "4")
	fails(t, 2, "--fail-on-violation needs a --policy", "", "scan", "127.0.0.1", "--fail-on-violation")
	// A policy that allows nothing on loopback: the listeners break it.
	deny := writeTemp(t, "deny.yaml", "zones:\n  - name: loopback\n    cidrs: [127.0.0.0/8]\n    allow: []\ndefault: deny\n")
	ok(t, "", "scan", "127.0.0.1", "--ports", spec, "--policy", deny)
	fails(t, 3, "open ports that break the policy: 1", "", "scan", "127.0.0.1", "--ports", spec, "--policy", deny, "--fail-on-violation")

	// A viewer is told before the scan runs that it cannot upload, and so is a non-member.
	ok(t, "vic-password-1234\n", "user", "create", "vic", "--org", "default", "--role", "viewer", "--password-stdin")
	ok(t, "", "org", "create", "acme")
	t.Setenv(envConfigDir, t.TempDir())
	ok(t, "vic-password-1234\n", "login", "--server", ts.url, "--user", "vic")
	fails(t, 1, "takes the operator or admin role; yours is viewer", "", "scan", "127.0.0.1", "--ports", spec, "--upload", "--org", "default")
	fails(t, 1, "you are not a member of acme", "", "scan", "127.0.0.1", "--ports", spec, "--upload", "--org", "acme")
}

// Uploaded scans show in the exposure report, matched to advisories; scan schedules are
// made, shown, changed and deleted.
func TestExposureReportAndScanSchedules(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")
	ok(t, "", "advisory", "import", filepath.Join("..", "csaf", "testdata", "services.json"))
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "nginx/1.22.1")
	}))
	defer web.Close()
	port := fmt.Sprint(web.Listener.Addr().(*net.TCPAddr).Port)
	r := run(t, "", "scan", "127.0.0.1", "--ports", port, "--upload")
	if want := "  127.0.0.1 tcp/" + port + " nginx 1.22.1: EX-2026-0042\n"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("upload: %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
	}
	if out := ok(t, "", "scans", "list"); !strings.Contains(out, "127.0.0.1") || !strings.Contains(out, "OPENED") {
		t.Errorf("scans list:\n%s", out)
	}
	if out := ok(t, "", "scans", "show", "1"); !strings.Contains(out, "nginx 1.22.1") || !strings.Contains(out, "EX-2026-0042") ||
		!strings.Contains(out, "1 per target") {
		t.Errorf("scans show 1:\n%s", out)
	}
	fails(t, 1, "not found", "", "scans", "show", "999")
	out := ok(t, "", "report", "exposure")
	for _, want := range []string{"1 open ports on 1 hosts in 1 scans: 1 of vulnerable products", "127.0.0.1", "nginx 1.22.1", "high", "EX-2026-0042"} {
		if !strings.Contains(out, want) {
			t.Errorf("report exposure lacks %q:\n%s", want, out)
		}
	}
	if csv := ok(t, "", "report", "exposure", "-o", "csv"); !strings.HasPrefix(csv, "host,port,protocol,service,product,severity,advisories,violation,change,scan\n127.0.0.1,"+port+",tcp,http,nginx 1.22.1,high,EX-2026-0042,,,1") {
		t.Errorf("report exposure -o csv:\n%s", csv)
	}
	if out := ok(t, "", "report", "compliance"); !strings.Contains(out, "1 open ports on 1 hosts in 1 scans") ||
		!strings.Contains(out, "no computers yet") {
		t.Errorf("report compliance of an organisation without computers lacks the network line or says a percentage:\n%s", out)
	}

	ok(t, "", "group", "create", "office")
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(policy, []byte("zones:\n  - name: office\n    cidrs: [10.0.0.0/8]\n    allow: [tcp/22]\n"), 0o644)
	if out := ok(t, "", "scan-schedule", "create", "nightly", "--group", "office", "--ports", "22,80,445", "--policy", policy); !strings.Contains(out, "Created scan schedule nightly: group office scans its subnets every 24h0m0s") {
		t.Errorf("create: %s", out)
	}
	fails(t, 1, "every", "", "scan-schedule", "create", "often", "--group", "office", "--every", "5m")
	fails(t, 1, "group", "", "scan-schedule", "create", "orphan", "--group", "nope")
	fails(t, 1, `a scan schedule named "nightly" exists`, "", "scan-schedule", "create", "nightly", "--group", "office")
	fails(t, 2, `required flag(s) "group" not set`, "", "scan-schedule", "create", "nameless")
	if out := ok(t, "", "scan-schedule", "update", "nightly", "--every", "12h", "--enabled=false"); !strings.Contains(out, "Updated scan schedule nightly: disabled") {
		t.Errorf("update --enabled=false: %s", out)
	}
	list := ok(t, "", "scan-schedule", "list")
	if !strings.Contains(list, "nightly") || !strings.Contains(list, "12h0m0s") || !strings.Contains(list, "false") {
		t.Errorf("list:\n%s", list)
	}
	if show := ok(t, "", "scan-schedule", "show", "nightly"); !strings.Contains(show, "\n    allow: [tcp/22]\n") || !strings.Contains(show, "22,80,445") ||
		!strings.Contains(show, "No agent of group office reported a subnet to scan yet.") {
		t.Errorf("show:\n%s", show)
	}
	ok(t, "", "scan-schedule", "delete", "nightly")
	fails(t, 1, "not found", "", "scan-schedule", "show", "nightly")
}
