//go:build linux

package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The connect engine (connect_linux.go) against real sockets on loopback.

// withEngine runs f with the engine switched on or off.
func withEngine(t testing.TB, on bool, f func()) {
	t.Helper()
	old := rawConnect
	rawConnect = on
	defer func() { rawConnect = old }()
	f()
}

// droppingListener listens on addr (port 0: any) with a full accept queue: one connection
// completed the handshake and is never accepted, and Linux drops further SYNs to the port
// instead of answering them. Probes of the port get no answer, as from a firewall that
// drops, without root. With a wildcard addr every loopback address drops on that port.
func droppingListener(t testing.TB, addr string) uint16 {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil { // room for one connection
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(sa.(*unix.SockaddrInet4).Port)
	filler, err := net.DialTimeout("tcp", fmt.Sprint("127.0.0.1:", port), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	// The queue is full once the listener has the connection; a second one must hang.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprint("127.0.0.1:", port), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Skip("a full accept queue does not drop SYNs on this kernel")
		}
	}
	return port
}

// The engine and the net.Dialer path find exactly the same on IPv4 and IPv6 loopback hosts.
func TestEngineMatchesDialer(t *testing.T) {
	hosts := loopbackAddrs(t)
	var targets []netip.Addr
	for _, h := range hosts {
		targets = append(targets, netip.MustParseAddr(h))
	}
	// A listener's port is probed on the other hosts too and held closed there.
	listeners := listenersHeld(t, targets, func() []netip.AddrPort {
		var lns []netip.AddrPort
		for _, h := range hosts {
			lns = append(lns, listenTCP(t, net.JoinHostPort(h, "0"), nil))
		}
		return lns
	})
	want := map[string]State{}
	var ports []uint16
	for _, ap := range listeners {
		ports = append(ports, ap.Port())
		want[ap.String()] = StateOpen
	}
	for range 20 {
		ports = append(ports, closedTCPPort(t, "127.0.0.1"))
	}
	// Listeners on different addresses may get the same port number.
	slices.Sort(ports)
	ports = slices.Compact(ports)
	for _, a := range targets {
		for _, p := range ports {
			if ap := netip.AddrPortFrom(a, p).String(); want[ap] == "" {
				want[ap] = StateClosed
			}
		}
	}
	for _, engine := range []bool{true, false} {
		t.Run(fmt.Sprint("engine=", engine), func(t *testing.T) {
			withEngine(t, engine, func() {
				s := Scanner{Rate: Unlimited, Concurrency: 8, Timeout: 2 * time.Second}
				res, err := s.Scan(context.Background(), targets, ports, Options{ReportAll: true})
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]State{}
				for _, f := range res.Findings {
					got[f.AddrPort().String()] = f.State
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("got %v\nwant %v", got, want)
				}
				total := len(targets) * len(ports)
				if (res.Stats != Stats{Attempts: total, Open: len(hosts), Closed: total - len(hosts)}) {
					t.Errorf("stats %+v", res.Stats)
				}
			})
		})
	}
}

// A port that drops the SYN is filtered once Timeout has passed, not before and not much
// later; the others are unaffected, and Concurrency bounds the probes hanging at a time.
func TestEngineFilteredAfterTimeout(t *testing.T) {
	drop := droppingListener(t, "0.0.0.0:0")
	closed := closedTCPPort(t, "127.0.0.1")
	var targets []netip.Addr
	for i := 1; i <= 12; i++ {
		targets = append(targets, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
	}
	// Closed on the other targets.
	open := listenersHeld(t, targets, func() []netip.AddrPort { return []netip.AddrPort{listenTCP(t, "127.0.0.1:0", nil)} })[0]
	const timeout = 200 * time.Millisecond
	s := Scanner{Rate: Unlimited, Concurrency: 4, Timeout: timeout}
	start := time.Now()
	res, err := s.Scan(context.Background(), targets, []uint16{drop, open.Port(), closed}, Options{ReportAll: true})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		want := StateClosed
		switch {
		case f.Port == drop:
			want = StateFiltered
		case f.AddrPort() == open:
			want = StateOpen
		}
		if f.State != want {
			t.Errorf("%v: %s, want %s", f.AddrPort(), f.State, want)
		}
	}
	if (res.Stats != Stats{Attempts: 36, Open: 1, Closed: 23, Filtered: 12}) {
		t.Errorf("stats %+v", res.Stats)
	}
	// 12 hanging probes, 4 at a time: three rounds of the timeout at least, and
	// not much more (a loaded machine may add some; the kernel would wait for
	// minutes before it gave up on the SYNs).
	if elapsed < 3*timeout || elapsed > 3*timeout+2*time.Second {
		t.Errorf("scan took %v, want about %v", elapsed, 3*timeout)
	}
}

// A host that does not answer at all (a veth whose peer has no address: ARP goes
// unanswered) is filtered within Timeout. Needs root for the interfaces.
func TestEngineSilentHost(t *testing.T) {
	ip, err := exec.LookPath("ip")
	if os.Geteuid() != 0 || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: the test needs root and ip (iproute2)")
		}
		t.Skip("needs root and ip (iproute2)")
	}
	pid := os.Getpid() % 100000
	ns, host, peer := fmt.Sprint("pdscan-", pid), fmt.Sprint("pdsh", pid), fmt.Sprint("pdsn", pid)
	sub := 10 + pid%200
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command(ip, "netns", "del", ns).Run() }) // deletes the veth pair too
	run("link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns)
	run("addr", "add", fmt.Sprintf("10.254.%d.1/24", sub), "dev", host)
	// The kernel gives up on the address after 3 unanswered ARP requests, by
	// default 1 s apart, and then the probes fail (filtered too): 5 s apart,
	// that is after 15 s, well after the scan's timeout should have ended them.
	run("ntable", "change", "name", "arp_cache", "dev", host, "retrans", "5000")
	run("link", "set", host, "up")
	run("-n", ns, "link", "set", peer, "up")
	target := netip.MustParseAddr(fmt.Sprintf("10.254.%d.2", sub))

	const timeout = 300 * time.Millisecond
	s := Scanner{Rate: Unlimited, Timeout: timeout}
	start := time.Now()
	res, err := s.Scan(context.Background(), []netip.Addr{target}, []uint16{22, 80, 443}, Options{ReportAll: true})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if (res.Stats != Stats{Attempts: 3, Filtered: 3}) || len(res.Findings) != 3 {
		t.Errorf("stats %+v findings %+v", res.Stats, res.Findings)
	}
	// Not before the timeout, and long before ARP gives up (15 s): the timeout
	// ended the probes. The slack is for a loaded machine.
	if elapsed < timeout || elapsed > timeout+3*time.Second {
		t.Errorf("scan took %v, want about %v", elapsed, timeout)
	}
}

// Cancelling a scan whose probes hang returns at once with what was found.
func TestEngineCancel(t *testing.T) {
	drop := droppingListener(t, "0.0.0.0:0")
	var targets []netip.Addr
	for i := 1; i <= 40; i++ {
		targets = append(targets, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
	}
	// Closed on the other targets.
	open := listenersHeld(t, targets, func() []netip.AddrPort { return []netip.AddrPort{listenTCP(t, "127.0.0.1:0", nil)} })[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt time.Time
	s := Scanner{Rate: Unlimited, Concurrency: 16, Timeout: 30 * time.Second}
	res, err := s.Scan(ctx, targets, []uint16{open.Port(), drop}, Options{
		Progress: func(p Progress) {
			if p.Done == len(targets) && cancelledAt.IsZero() { // the first port is done
				cancelledAt = time.Now()
				go func() { time.Sleep(100 * time.Millisecond); cancel() }()
			}
		},
	})
	stopped := time.Since(cancelledAt) - 100*time.Millisecond
	if !errors.Is(err, context.Canceled) || !res.Interrupted {
		t.Fatalf("err %v, interrupted %v", err, res.Interrupted)
	}
	// Far less than the probes' timeout (30 s): they were abandoned at once, with
	// room for a loaded machine.
	if cancelledAt.IsZero() || stopped > 2*time.Second {
		t.Errorf("Scan returned %v after the cancel", stopped)
	}
	if len(res.Findings) != 1 || res.Findings[0].AddrPort() != open ||
		(res.Stats != Stats{Attempts: 40, Open: 1, Closed: 39}) {
		t.Errorf("findings %+v stats %+v", res.Findings, res.Stats)
	}
}

// Identify gets the connection the engine made, as a net.Conn it can talk HTTP over.
func TestEngineIdentifyHandsOverConn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "patchday-test/1.2")
	}))
	defer srv.Close()
	ap := netip.MustParseAddrPort(srv.Listener.Addr().String())
	closed := closedTCPPort(t, "127.0.0.1")
	var calls atomic.Int64
	s := Scanner{
		Rate: Unlimited,
		Identify: func(ctx context.Context, conn net.Conn, f *Finding) {
			calls.Add(1)
			if conn.RemoteAddr().String() != ap.String() {
				t.Errorf("conn to %v, want %v", conn.RemoteAddr(), ap)
			}
			fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", ap)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			f.Service, f.Product = "http", resp.Header.Get("Server")
		},
	}
	res, err := s.Scan(context.Background(), []netip.Addr{ap.Addr()}, []uint16{ap.Port(), closed}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Findings[0].Product != "patchday-test/1.2" || calls.Load() != 1 {
		t.Errorf("findings %+v, %d Identify calls", res.Findings, calls.Load())
	}
}

// The rate limit holds, and progress grows to the total.
func TestEngineRateLimit(t *testing.T) {
	closed := closedTCPPort(t, "127.0.0.1")
	var targets []netip.Addr
	for i := 1; i <= 150; i++ {
		targets = append(targets, netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}))
	}
	var progress []Progress
	start := time.Now()
	res, err := (&Scanner{Rate: 200}).Scan(context.Background(), targets, []uint16{closed, closed + 1}, Options{
		Progress: func(p Progress) { progress = append(progress, p) },
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed < 1400*time.Millisecond {
		t.Errorf("300 probes at 200/s took %v, want >= 1.4s", elapsed)
	}
	if res.Stats.Attempts != 300 || res.Stats.Open+res.Stats.Closed != 300 {
		t.Errorf("stats %+v", res.Stats)
	}
	if !slices.IsSortedFunc(progress, func(a, b Progress) int { return a.Done - b.Done }) ||
		len(progress) < 5 || progress[len(progress)-1].Done != 300 {
		t.Errorf("progress %v", progress)
	}
}

const exhaustionChildEnv = "PATCHDAY_TEST_ENGINE_EXHAUSTION"

// Running out of file descriptors: probes that cannot get a socket are retried later and,
// when none frees up in time, counted as errors (and filtered); the scan goes on. The
// descriptor limit is lowered in a child process, so this process keeps its own.
func TestEngineExhaustion(t *testing.T) {
	for _, spare := range []string{"0", "8"} {
		t.Run("spare="+spare, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestEngineExhaustionChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), exhaustionChildEnv+"="+spare)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestEngineExhaustionChild") {
				t.Fatalf("child: %v\n%s", err, out)
			}
			t.Logf("child: %s", strings.TrimSpace(string(out)))
		})
	}
}

func TestEngineExhaustionChild(t *testing.T) {
	spare := os.Getenv(exhaustionChildEnv)
	if spare == "" {
		t.Skip("run by TestEngineExhaustion")
	}
	drop := droppingListener(t, "0.0.0.0:0")
	var ports []uint16
	for range 20 {
		ports = append(ports, closedTCPPort(t, "127.0.0.1"))
	}
	targets := []netip.Addr{}
	for i := 1; i <= 4; i++ {
		targets = append(targets, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
	}
	// Room for the engine's epoll and eventfd and the 4 probes of the dropping port, which
	// hang for the timeout; "spare" more for the rest.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var extra uint64
	fmt.Sscan(spare, &extra)
	var old unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &old)
	lim := unix.Rlimit{Cur: uint64(len(entries)-1) + 2 + 4 + extra, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	s := Scanner{Rate: Unlimited, Timeout: time.Second}
	res, err := s.Scan(context.Background(), targets, append([]uint16{drop}, ports...), Options{})
	unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	if err != nil {
		t.Fatal(err)
	}
	st := res.Stats
	t.Logf("limit %d: %+v", lim.Cur, st)
	// Every probe is accounted for; the ones that never got a socket are errors and
	// filtered, the others found closed (or filtered: the dropping port).
	if st.Attempts != 84 || st.Filtered != 4+st.Errors || st.Closed != 80-st.Errors || st.Open != 0 {
		t.Errorf("stats %+v", st)
	}
	// How many get through depends on how many descriptors the runtime and the test
	// framework hold at the moment, which is not exact: only the direction is checked.
	switch {
	case extra == 0 && st.Errors == 0:
		t.Errorf("no errors with no descriptor to spare: %+v", st)
	case extra > 0 && st.Closed == 0:
		t.Errorf("with %d spare descriptors no probe got through: %+v", extra, st)
	}
}

// A port given twice, over TCP or UDP, is probed and reported once, with either engine.
func TestScanRepeatedPortsProbedOnce(t *testing.T) {
	ap := listenTCP(t, "127.0.0.1:0", nil)
	closed := closedTCPPort(t, "127.0.0.1")
	for _, engine := range []bool{true, false} {
		t.Run(fmt.Sprint("engine=", engine), func(t *testing.T) {
			withEngine(t, engine, func() {
				res, err := (&Scanner{Rate: Unlimited, Timeout: time.Second}).Scan(context.Background(),
					[]netip.Addr{ap.Addr()}, []uint16{ap.Port(), closed, ap.Port(), closed},
					Options{ReportAll: true, UDPPorts: []uint16{closed, closed}})
				if err != nil {
					t.Fatal(err)
				}
				if res.Ports != 3 || res.Stats.Attempts != 3 || res.Stats.Open != 1 || len(res.Findings) != 3 {
					t.Errorf("ports %d, stats %+v, findings %+v; want 3 ports, 3 attempts, 1 open, 3 findings",
						res.Ports, res.Stats, res.Findings)
				}
			})
		})
	}
}
