package server_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// testScan is a small scan result as patchday scan --upload sends it.
func testScan(findings ...map[string]any) map[string]any {
	if findings == nil {
		findings = []map[string]any{
			{"host": "10.0.0.5", "port": 22, "protocol": "tcp", "state": "open", "service": "ssh", "product": "OpenSSH", "version": "9.2p1"},
			{"host": "10.0.0.5", "port": 445, "protocol": "tcp", "state": "open", "service": "smb",
				"violation": map[string]any{"zone": "servers", "message": "tcp/445 open in zone servers, which allows only tcp/22"}},
		}
	}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	return map[string]any{"targets": []string{"10.0.0.0/29"}, "ports": 100, "started": start, "finished": start.Add(time.Minute),
		"stats": map[string]any{"attempts": 800}, "findings": findings}
}

// Scans are stored per targets and compared with the previous scan of the same targets;
// new open ports and violations raise events.
func TestScanUploadAndDiff(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		var first struct {
			store.Scan
			Findings    []store.ScanFinding
			ClosedPorts []store.ScanFinding `json:"closed_ports"`
		}
		e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, testScan()).json(t, &first)
		if first.OpenPorts != 2 || first.Violations != 1 || first.Opened != 0 || len(first.Findings) != 2 {
			t.Fatalf("first scan %+v", first)
		}
		// The next scan of the same targets: 445 closed, 3389 opened.
		second := first
		e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, testScan(
			map[string]any{"host": "10.0.0.5", "port": 22, "protocol": "tcp", "service": "ssh", "product": "OpenSSH", "version": "9.2p1"},
			map[string]any{"host": "10.0.0.5", "port": 3389, "protocol": "tcp", "service": "rdp"},
		)).json(t, &second)
		if second.Opened != 1 || second.Closed != 1 || len(second.ClosedPorts) != 1 || second.ClosedPorts[0].Port != 445 {
			t.Errorf("second scan %+v", second)
		}
		for _, f := range second.Findings {
			if (f.Port == 3389) != (f.Change == "opened") {
				t.Errorf("finding %+v", f)
			}
		}
		var got struct {
			store.Scan
			Findings []store.ScanFinding
		}
		e.must(200, "GET", "/api/v1/orgs/a/scans/"+itoa(second.ID), e.admin, nil).json(t, &got)
		if len(got.Findings) != 2 {
			t.Errorf("stored findings %+v", got.Findings)
		}
		var evs struct{ Items []store.Event }
		e.must(200, "GET", "/api/v1/orgs/a/events", e.admin, nil).json(t, &evs)
		kinds := map[string]int{}
		for _, ev := range evs.Items {
			kinds[ev.Kind]++
		}
		if kinds["scan.violation"] != 1 || kinds["scan.opened"] != 1 {
			t.Errorf("events %v", kinds)
		}
		// They say what was found.
		for _, ev := range evs.Items {
			want := map[string]string{
				"scan.opened":    fmt.Sprintf(`{"opened":1,"ports":["10.0.0.5 tcp/3389 rdp"],"scan":%d}`, second.ID),
				"scan.violation": fmt.Sprintf(`{"ports":["10.0.0.5 tcp/445 smb: tcp/445 open in zone servers, which allows only tcp/22"],"scan":%d,"violations":1}`, first.ID),
			}[ev.Kind]
			if want != "" && string(ev.Details) != want {
				t.Errorf("%s details %s, want %s", ev.Kind, ev.Details, want)
			}
		}
		for _, tc := range []struct {
			finding map[string]any
			field   string
		}{
			{map[string]any{"host": "not-an-ip", "port": 22, "protocol": "tcp"}, "findings[0].host"},
			{map[string]any{"host": "10.0.0.1", "port": 70000, "protocol": "tcp"}, "findings[0].port"},
			{map[string]any{"host": "10.0.0.1", "port": 22, "protocol": "sctp"}, "findings[0].protocol"},
			{map[string]any{"host": "10.0.0.1", "port": 22, "protocol": "tcp", "state": "closed"}, "findings[0].state"},
			{map[string]any{"host": "10.0.0.1", "port": 22, "protocol": "tcp", "product": "Open\u0000SSH"}, "findings[0].detail"},
		} {
			r := e.do("POST", "/api/v1/orgs/a/scans", e.admin, testScan(tc.finding))
			if r.status != 400 || r.err(t).Error.Field != tc.field {
				t.Errorf("%v: %d %s", tc.finding, r.status, r.body)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A violation message is text from the network: stored without control characters (a
// terminal escape sent to whoever reads the report) and at most 500 bytes.
func TestScanViolationSanitized(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		var got struct{ Findings []store.ScanFinding }
		e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, testScan(
			map[string]any{"host": "10.0.0.5", "port": 23, "protocol": "tcp", "state": "open",
				"violation": map[string]any{"message": "tcp/23 \x1b[31mopen\x00\n" + strings.Repeat("x", 600)}},
		)).json(t, &got)
		if len(got.Findings) != 1 {
			t.Fatalf("findings %+v", got.Findings)
		}
		v := got.Findings[0].Violation
		if strings.ContainsAny(v, "\x1b\x00\n") || len(v) > 500 || !strings.HasPrefix(v, "tcp/23 ?[31mopen? x") {
			t.Errorf("stored violation %q (%d bytes)", v[:min(len(v), 40)], len(v))
		}
	})
}

// A scan is compared with the last complete scan of the same targets, ports and schedule
// that finished before it: not with a scan of other ports, nor one stopped halfway, nor one
// that finished later but arrived first.
func TestScanBaseline(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		type stored struct {
			ID             int64
			Opened, Closed int
		}
		upload := func(at time.Duration, ports int, interrupted bool, open ...int) stored {
			t.Helper()
			var fs []map[string]any
			for _, p := range open {
				fs = append(fs, map[string]any{"host": "10.0.0.5", "port": p, "protocol": "tcp", "state": "open"})
			}
			body := testScan(fs...)
			body["started"], body["finished"], body["ports"], body["interrupted"] = start.Add(at), start.Add(at+time.Minute), ports, interrupted
			var s stored
			e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, body).json(t, &s)
			return s
		}
		for _, tc := range []struct {
			name           string
			got            stored
			opened, closed int
		}{
			{"first, top 100", upload(0, 100, false, 22, 80), 0, 0},
			{"all ports: another baseline", upload(time.Hour, 65535, false, 22, 80, 8080, 9090), 0, 0},
			{"top 100 again, against the first", upload(2*time.Hour, 100, false, 22, 443), 1, 1},
			{"stopped halfway: closes nothing", upload(3*time.Hour, 100, true, 22), 0, 0},
			{"complete again, against the complete one", upload(4*time.Hour, 100, false, 22, 443), 0, 0},
			{"late: finished before the last, against the one before it", upload(150*time.Minute, 100, false, 22, 443, 25), 1, 0},
		} {
			if tc.got.Opened != tc.opened || tc.got.Closed != tc.closed {
				t.Errorf("%s: opened %d closed %d, want %d and %d", tc.name, tc.got.Opened, tc.got.Closed, tc.opened, tc.closed)
			}
		}
		if r := e.do("POST", "/api/v1/orgs/a/scans", e.admin, func() map[string]any {
			b := testScan()
			b["targets"] = []string{"10.0.0.0/29\x00"}
			return b
		}()); r.status != 400 || r.err(t).Error.Field != "targets[0]" {
			t.Errorf("a target with a control character: %d %s", r.status, r.body)
		}

		// With the list of ports, scans of as many but other ports are not compared.
		listed := func(at time.Duration, spec string, open ...int) stored {
			t.Helper()
			var fs []map[string]any
			for _, p := range open {
				fs = append(fs, map[string]any{"host": "10.0.0.9", "port": p, "protocol": "tcp", "state": "open"})
			}
			body := testScan(fs...)
			body["targets"] = []string{"10.0.0.8/29"}
			body["started"], body["finished"], body["ports"], body["port_spec"] = start.Add(at), start.Add(at+time.Minute), 2, spec
			var s stored
			e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, body).json(t, &s)
			return s
		}
		listed(0, "tcp:22,80", 22, 80)
		if s := listed(time.Hour, "tcp:443 udp:53", 443); s.Opened != 0 || s.Closed != 0 {
			t.Errorf("other ports compared with the first: opened %d closed %d", s.Opened, s.Closed)
		}
		if s := listed(2*time.Hour, "tcp:80,22", 22); s.Opened != 0 || s.Closed != 1 {
			t.Errorf("the same ports, listed in another order: opened %d closed %d, want 0 and 1", s.Opened, s.Closed)
		}
		// A scan stored without a list (an older scanner) is compared by its port count.
		legacy := func(at time.Duration, spec string, open ...int) stored {
			t.Helper()
			var fs []map[string]any
			for _, p := range open {
				fs = append(fs, map[string]any{"host": "10.0.1.9", "port": p, "protocol": "tcp", "state": "open"})
			}
			body := testScan(fs...)
			body["targets"] = []string{"10.0.1.8/29"}
			body["started"], body["finished"], body["ports"] = start.Add(at), start.Add(at+time.Minute), 2
			if spec != "" {
				body["port_spec"] = spec
			}
			var s stored
			e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, body).json(t, &s)
			return s
		}
		legacy(0, "", 22, 80)
		if s := legacy(time.Hour, "tcp:22,80", 22); s.Closed != 1 {
			t.Errorf("the first scan with a list after one without: closed %d, want 1", s.Closed)
		}
		if s := legacy(2*time.Hour, "", 22, 80, 443); s.Opened != 2 {
			t.Errorf("a scan without a list after one with: opened %d, want 2 (compared with the last)", s.Opened)
		}
		for _, spec := range []string{"tcp:22", "sctp:22,80", "tcp:22,x", "tcp:22 tcp:80"} {
			b := testScan()
			b["ports"], b["port_spec"] = 2, spec
			if r := e.do("POST", "/api/v1/orgs/a/scans", e.admin, b); r.status != 400 || r.err(t).Error.Field != "port_spec" {
				t.Errorf("port_spec %q: %d %s", spec, r.status, r.body)
			}
		}
	})
}

// Findings are matched to the advisories whose affected products are their product and
// version, and the exposure report (and the organisation's compliance report) sums up the
// latest scan of each set of targets.
func TestScanAdvisoriesAndExposureReport(t *testing.T) {
	doc, err := os.ReadFile("testdata/services-csaf.json")
	if err != nil {
		t.Fatal(err)
	}
	forEngines(t, func(t *testing.T, e *env) {
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, doc)
		var empty store.NetworkExposure
		e.must(200, "GET", "/api/v1/orgs/default/reports/exposure", e.admin, nil).json(t, &empty)
		if empty.Scans != 0 || len(empty.Findings) != 0 {
			t.Fatalf("exposure before any scan: %+v", empty)
		}
		e.must(201, "POST", "/api/v1/orgs/default/scans", e.admin, testScan(
			map[string]any{"host": "10.0.0.5", "port": 22, "protocol": "tcp", "service": "ssh", "product": "OpenSSH", "version": "9.2p1"},
			map[string]any{"host": "10.0.0.6", "port": 22, "protocol": "tcp", "service": "ssh", "product": "OpenSSH", "version": "9.3p2"},
			map[string]any{"host": "10.0.0.5", "port": 80, "protocol": "tcp", "service": "http", "product": "nginx", "version": "1.22.1"},
			map[string]any{"host": "10.0.0.6", "port": 80, "protocol": "tcp", "service": "http", "product": "nginx", "version": "1.24.0"},
			map[string]any{"host": "10.0.0.6", "port": 445, "protocol": "tcp", "service": "smb",
				"violation": map[string]any{"message": "tcp/445 open in zone servers, which allows only tcp/22"}},
		))
		var rep store.NetworkExposure
		e.must(200, "GET", "/api/v1/orgs/default/reports/exposure", e.admin, nil).json(t, &rep)
		if rep.Scans != 1 || rep.Hosts != 2 || rep.OpenPorts != 5 || rep.Vulnerable != 2 || rep.Violations != 1 || rep.LastScanAt == nil {
			t.Fatalf("exposure %+v", rep)
		}
		var got []string
		for _, f := range rep.Findings {
			got = append(got, fmt.Sprintf("%s:%d %s %v %t", f.Host, f.Port, f.Severity, f.Advisories, f.Violation != ""))
		}
		want := []string{"10.0.0.5:22 high [EX-2026-0042] false", "10.0.0.5:80 high [EX-2026-0042] false", "10.0.0.6:445  [] true"}
		if !slices.Equal(got, want) {
			t.Errorf("findings\n got %q\nwant %q", got, want)
		}
		// A newer scan of the same targets replaces the older one in the report.
		e.must(201, "POST", "/api/v1/orgs/default/scans", e.admin, testScan(
			map[string]any{"host": "10.0.0.5", "port": 22, "protocol": "tcp", "service": "ssh", "product": "OpenSSH", "version": "9.3p2"},
		))
		var comp struct {
			Network store.NetworkExposure `json:"network"`
		}
		e.must(200, "GET", "/api/v1/orgs/default/reports/compliance", e.admin, nil).json(t, &comp)
		if n := comp.Network; n.Scans != 1 || n.OpenPorts != 1 || n.Vulnerable != 0 || n.Violations != 0 || len(n.Findings) != 0 {
			t.Errorf("compliance report's network part %+v", n)
		}
		for _, q := range []string{"days=0", "days=x", "limit=0", "limit=10001"} {
			r := e.do("GET", "/api/v1/orgs/default/reports/exposure?"+q, e.admin, nil)
			field, _, _ := strings.Cut(q, "=")
			if r.status != 400 || r.err(t).Error.Field != field {
				t.Errorf("%s: %d %s", q, r.status, r.body)
			}
		}
	})
}

// Scans are matched with embargoed advisories too, for those who may read them (admins,
// operators, partners); a viewer's scan, exposure and compliance reports show only the
// published ones, counted so.
func TestScanFindingsHideEmbargoedAdvisoriesFromViewers(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		doc, tr := servicesCSAF(t, e.clock().Add(72*time.Hour))
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, doc)
		var sc struct{ ID int64 }
		e.must(201, "POST", "/api/v1/orgs/default/scans", e.admin, testScan(
			map[string]any{"host": "10.0.0.5", "port": 22, "protocol": "tcp", "service": "ssh", "product": "OpenSSH", "version": "9.2p1"},
		)).json(t, &sc)
		viewer := e.createUser("default", "vic", store.RoleViewer)
		partner := e.createUser("default", "pat", store.RolePartner)
		for _, tc := range []struct {
			who, token string
			sees       bool
		}{{"admin", e.admin, true}, {"partner", partner, true}, {"viewer", viewer, false}} {
			var got struct{ Findings []store.ScanFinding }
			e.must(200, "GET", "/api/v1/orgs/default/scans/"+itoa(sc.ID), tc.token, nil).json(t, &got)
			var exp store.NetworkExposure
			e.must(200, "GET", "/api/v1/orgs/default/reports/exposure", tc.token, nil).json(t, &exp)
			var comp struct{ Network store.NetworkExposure }
			e.must(200, "GET", "/api/v1/orgs/default/reports/compliance", tc.token, nil).json(t, &comp)
			want := 0
			if tc.sees {
				want = 1
			}
			if len(got.Findings) != 1 || (len(got.Findings[0].Advisories) == 1) != tc.sees || (got.Findings[0].Severity != "") != tc.sees {
				t.Errorf("%s: scan findings %+v", tc.who, got.Findings)
			}
			if exp.Vulnerable != want || len(exp.Findings) != want || comp.Network.Vulnerable != want || len(comp.Network.Findings) != want {
				t.Errorf("%s: exposure %+v; compliance report's network part %+v", tc.who, exp, comp.Network)
			}
			if len(got.Findings) == 1 && strings.Contains(string(got.Findings[0].Detail), "EX-2026-0042") != tc.sees {
				t.Errorf("%s: the finding's detail %s", tc.who, got.Findings[0].Detail)
			}
		}
		viewerSees := func() bool {
			t.Helper()
			var got struct{ Findings []store.ScanFinding }
			e.must(200, "GET", "/api/v1/orgs/default/scans/"+itoa(sc.ID), viewer, nil).json(t, &got)
			return len(got.Findings) == 1 && len(got.Findings[0].Advisories) == 1
		}
		// Released: the viewer sees it.
		e.setClock(e.clock().Add(73 * time.Hour))
		if err := e.srv.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
		viewer = e.login("vic", "vic-password-123")
		if !viewerSees() {
			t.Error("the viewer does not see the advisory once it is published")
		}
		// A revision waits for its release, which finds 9.3p2 affected too (the published one
		// says fixed). Scans are matched with the newest revision: a 9.3p2 host matches for
		// admins, not for the viewer, who keeps seeing what the published one says.
		v2 := e.clock().Add(72 * time.Hour).UTC().Format(time.RFC3339)
		tr["version"], tr["current_release_date"] = "2", v2
		tr["revision_history"] = append(tr["revision_history"].([]any), map[string]any{"date": v2, "number": "2", "summary": "9.3p2 affected too."})
		vuln := doc["vulnerabilities"].([]any)[0].(map[string]any)
		vuln["product_status"] = map[string]any{"known_affected": []string{"openssh-9.2p1", "openssh-9.3p2"}}
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, doc)
		if !viewerSees() {
			t.Error("the viewer lost the published revision's match while a revision waits")
		}
		var sc2 struct{ ID int64 }
		e.must(201, "POST", "/api/v1/orgs/default/scans", e.admin, testScan(
			map[string]any{"host": "10.0.0.6", "port": 22, "protocol": "tcp", "service": "ssh", "product": "OpenSSH", "version": "9.3p2"},
		)).json(t, &sc2)
		for who, tok := range map[string]string{"admin": e.admin, "viewer": viewer} {
			var got struct{ Findings []store.ScanFinding }
			e.must(200, "GET", "/api/v1/orgs/default/scans/"+itoa(sc2.ID), tok, nil).json(t, &got)
			if sees := len(got.Findings) == 1 && len(got.Findings[0].Advisories) == 1; sees != (who == "admin") {
				t.Errorf("%s: the 9.3p2 finding %+v", who, got.Findings)
			}
		}
	})
}

// A scan stopped halfway does not replace the last complete scan of its targets in the
// exposure report; it counts while no complete one exists.
func TestExposureIgnoresInterruptedScans(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		scan := func(interrupted bool, ports ...int) {
			var fs []map[string]any
			for _, p := range ports {
				fs = append(fs, map[string]any{"host": "10.0.0.5", "port": p, "protocol": "tcp", "state": "open"})
			}
			b := testScan(fs...)
			b["interrupted"] = interrupted
			e.must(201, "POST", "/api/v1/orgs/a/scans", e.admin, b)
		}
		open := func() int {
			var exp store.NetworkExposure
			e.must(200, "GET", "/api/v1/orgs/a/reports/exposure", e.admin, nil).json(t, &exp)
			return exp.OpenPorts
		}
		scan(true, 22)
		if n := open(); n != 1 {
			t.Errorf("only an interrupted scan: %d open ports, want its 1", n)
		}
		scan(false, 22, 80, 443)
		scan(true, 22)
		if n := open(); n != 3 {
			t.Errorf("after a complete and an interrupted scan: %d open ports, want the complete one's 3", n)
		}
		// The complete one ages out of the report's window (30 days): the interrupted one
		// received since counts, rather than nothing.
		defer store.SetClock(e.clock)()
		e.advance(40 * 24 * time.Hour)
		e.admin = e.login("admin", adminPassword)
		scan(true, 22, 8080)
		if n := open(); n != 2 {
			t.Errorf("with the complete scan 40 days old: %d open ports, want the new interrupted one's 2", n)
		}
	})
}
