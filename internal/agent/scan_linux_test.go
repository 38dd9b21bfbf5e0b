//go:build linux

package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/store"
)

// lanInterface puts a veth pair on this machine with a private /28 on one end, so that an
// agent has a real subnet of its own to scan: its first address is local, the others lead
// into the other end, where nothing answers (filtered). It needs root; without it the test
// skips, and fails under CI=true.
func lanInterface(t *testing.T) (ifname string, addr net.IP, subnet *net.IPNet) {
	t.Helper()
	n := os.Getpid() % 250
	ifname = fmt.Sprintf("pdscan%d", n)
	cidr := fmt.Sprintf("10.213.%d.1/28", n)
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	exec.Command("ip", "link", "del", ifname).Run() // a leftover of a killed run
	if err := run("link", "add", ifname, "type", "veth", "peer", "name", ifname+"p"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot make a test network (root is needed): %v", err)
		}
		t.Skipf("cannot make a test network (root is needed): %v", err)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", ifname).Run() })
	if err := run("addr", "add", cidr, "dev", ifname); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{ifname, ifname + "p"} {
		if err := run("link", "set", dev, "up"); err != nil {
			t.Fatal(err)
		}
	}
	ip, ipn, _ := net.ParseCIDR(cidr)
	return ifname, ip, ipn
}

// An agent in a group with a scan schedule scans the subnet it sits on when the server
// says so, and the server stores the result for the schedule: the open port, what it is,
// and the policy it breaks. The next cycle scans nothing: the subnet was scanned.
func TestAgentScansItsSubnet(t *testing.T) {
	_, ip, ipn := lanInterface(t)
	// A service on the agent's own address: an SSH server's greeting.
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	closed, _ := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	f := newFleet(t)
	m := newMachine(t, "scanner-01")
	m.cfg.Collector.Addrs = func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: ip, Mask: ipn.Mask}}, nil
	}
	a := enroll(t, f, m)
	st, _ := a.Status()
	f.call("POST", "/api/v1/orgs/acme/groups", f.admin, map[string]any{"name": "lan"}, 201, nil)
	f.call("PUT", fmt.Sprintf("/api/v1/orgs/acme/groups/lan/members/%d", st.ComputerID), f.admin, nil, 204, nil)
	policy := fmt.Sprintf("zones:\n  - name: lab\n    cidrs: [%s]\n    allow: [tcp/443]\n", ipn)
	f.call("POST", "/api/v1/orgs/acme/scan-schedules", f.admin, map[string]any{"name": "nightly", "group": "lan",
		"ports": fmt.Sprintf("%d,%d", port, closedPort), "rate": 500, "policy": policy}, 201, nil)

	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var scans struct{ Items []store.Scan }
	f.call("GET", "/api/v1/orgs/acme/scans", f.admin, nil, 200, &scans)
	if len(scans.Items) != 1 {
		t.Fatalf("%d scans stored, want 1", len(scans.Items))
	}
	sc := scans.Items[0]
	if sc.Targets != ipn.String() || sc.ScheduleID == nil || sc.ComputerID == nil || *sc.ComputerID != st.ComputerID ||
		sc.UploadedBy != "agent:scanner-01" || sc.OpenPorts != 1 || sc.Violations != 1 || sc.Attempts != 2*16 {
		t.Fatalf("stored scan %+v", sc)
	}
	var detail struct {
		Findings []store.ScanFinding
	}
	f.call("GET", "/api/v1/orgs/acme/scans/"+strconv.FormatInt(sc.ID, 10), f.admin, nil, 200, &detail)
	if len(detail.Findings) != 1 {
		t.Fatalf("findings %+v", detail.Findings)
	}
	fd := detail.Findings[0]
	if fd.Host != ip.String() || fd.Port != port || fd.Service != "ssh" || fd.Product != "OpenSSH" || fd.Version != "9.2p1" ||
		!strings.Contains(fd.Violation, "lab") {
		t.Errorf("finding %+v", fd)
	}
	// Scanned: the next cycle neither gets the task nor scans.
	n, err := a.ScanDue(context.Background())
	if err != nil || n != 0 {
		t.Errorf("ScanDue right after the scan: %d, %v", n, err)
	}
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.call("GET", "/api/v1/orgs/acme/scans", f.admin, nil, 200, &scans)
	if len(scans.Items) != 1 {
		t.Errorf("%d scans after the second cycle, want 1", len(scans.Items))
	}
}

// A scan report waits in the state directory while the server cannot be reached, and is
// delivered once it can.
func TestAgentScanReportSurvivesOutage(t *testing.T) {
	_, ip, ipn := lanInterface(t)
	f := newFleet(t)
	m := newMachine(t, "scanner-02")
	m.cfg.Collector.Addrs = func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: ip, Mask: ipn.Mask}}, nil
	}
	a := enroll(t, f, m)
	st, _ := a.Status()
	f.call("POST", "/api/v1/orgs/acme/groups", f.admin, map[string]any{"name": "lan"}, 201, nil)
	f.call("PUT", fmt.Sprintf("/api/v1/orgs/acme/groups/lan/members/%d", st.ComputerID), f.admin, nil, 204, nil)
	f.call("POST", "/api/v1/orgs/acme/scan-schedules", f.admin, map[string]any{"name": "nightly", "group": "lan", "ports": "9", "rate": 500}, 201, nil)
	if _, err := a.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.down.Store(true)
	n, err := a.ScanDue(context.Background())
	if n != 1 || err == nil {
		t.Fatalf("ScanDue with the server down: %d, %v", n, err)
	}
	var scans struct{ Items []store.Scan }
	f.call("GET", "/api/v1/orgs/acme/scans", f.admin, nil, 200, &scans)
	if len(scans.Items) != 0 {
		t.Fatalf("%d scans stored while the network was down", len(scans.Items))
	}
	f.down.Store(false)
	if n, err := a.ScanDue(context.Background()); n != 0 || err != nil {
		t.Fatalf("ScanDue after the outage: %d, %v", n, err)
	}
	f.call("GET", "/api/v1/orgs/acme/scans", f.admin, nil, 200, &scans)
	if len(scans.Items) != 1 || scans.Items[0].Targets != ipn.String() {
		t.Fatalf("scans after the outage %+v", scans.Items)
	}
	if _, err := os.Stat(m.cfg.StateDir + "/scan-reports"); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(m.cfg.StateDir + "/scan-reports"); len(es) != 0 {
		t.Errorf("%d reports left in the state directory", len(es))
	}
}
