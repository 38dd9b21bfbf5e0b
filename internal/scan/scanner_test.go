package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestScanLoopback(t *testing.T) {
	hosts := loopbackAddrs(t)
	var targets []netip.Addr
	for _, h := range hosts {
		targets = append(targets, netip.MustParseAddr(h))
	}
	// One talking service, one that accepts and never answers, one that
	// never even accepts (the kernel completes the handshake anyway). Their
	// ports are probed on every host and must be closed where nothing of
	// ours listens, so they are held there.
	var banner netip.AddrPort
	listeners := listenersHeld(t, targets, func() []netip.AddrPort {
		banner = listenTCP(t, "127.0.0.1:0", func(c net.Conn) { c.Write([]byte("SSH-2.0-Test_1.0\r\n")); time.Sleep(time.Second) })
		lns := []netip.AddrPort{banner, listenTCP(t, "127.0.0.1:0", func(c net.Conn) { time.Sleep(5 * time.Second) })}
		for _, h := range hosts[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(h, "0"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			lns = append(lns, ln.Addr().(*net.TCPAddr).AddrPort())
		}
		return lns
	})
	want := map[string]bool{} // "host port" of every listener
	var ports []uint16
	for _, ap := range listeners {
		want[fmt.Sprint(ap.Addr(), " ", ap.Port())] = true
		ports = append(ports, ap.Port())
	}
	for range 3 {
		ports = append(ports, closedTCPPort(t, "127.0.0.1"))
	}
	// Listeners on different addresses may get the same port number.
	slices.Sort(ports)
	ports = slices.Compact(ports)

	identified := map[string]string{}
	var mu sync.Mutex
	s := Scanner{
		Rate:            Unlimited,
		Timeout:         time.Second,
		IdentifyTimeout: 2 * time.Second,
		Identify: func(ctx context.Context, conn net.Conn, f *Finding) {
			// Only the talking service is read: the silent ones would hold the
			// scan for IdentifyTimeout (TestScanIdentifyTimeout is about that).
			if f.AddrPort() == banner {
				line, _ := bufio.NewReader(conn).ReadString('\n')
				if strings.HasPrefix(line, "SSH-") {
					f.Service, f.Banner = "ssh", SanitizeBanner([]byte(line))
				}
			}
			mu.Lock()
			identified[fmt.Sprint(f.Host, " ", f.Port)] = conn.RemoteAddr().String()
			mu.Unlock()
		},
	}
	var streamed []Finding
	res, err := s.Scan(context.Background(), targets, ports, Options{OnFinding: func(f Finding) { streamed = append(streamed, f) }})
	if err != nil {
		t.Fatal(err)
	}

	got := map[string]bool{}
	for _, f := range res.Findings {
		got[fmt.Sprint(f.Host, " ", f.Port)] = true
		if f.State != StateOpen || f.Protocol != TCP {
			t.Errorf("finding %+v: want open tcp", f)
		}
		if remote, ok := identified[fmt.Sprint(f.Host, " ", f.Port)]; !ok {
			t.Errorf("Identify not called for %v:%d", f.Host, f.Port)
		} else if remote != f.AddrPort().String() {
			t.Errorf("Identify for %v got a connection to %s", f.AddrPort(), remote)
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("listener %s not found", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("found %s, which nothing listens on", k)
		}
	}
	total := len(targets) * len(ports)
	wantStats := Stats{Attempts: total, Open: len(want), Closed: total - len(want)}
	if res.Stats != wantStats {
		t.Errorf("stats %+v, want %+v", res.Stats, wantStats)
	}
	if len(streamed) != len(res.Findings) {
		t.Errorf("OnFinding got %d findings, result has %d", len(streamed), len(res.Findings))
	}
	if !slices.IsSortedFunc(res.Findings, compareFindings) {
		t.Error("findings not sorted")
	}
	i := slices.IndexFunc(res.Findings, func(f Finding) bool { return f.AddrPort() == banner })
	if i < 0 || res.Findings[i].Service != "ssh" || res.Findings[i].Banner != "SSH-2.0-Test_1.0" {
		t.Errorf("banner service not identified: %+v", res.Findings)
	}
	if res.Interrupted || res.Ports != len(ports) || len(res.Targets) != len(targets) || res.Finished.Before(res.Started) {
		t.Errorf("result header wrong: %+v", res)
	}
}

func TestScanNoIdentifyLeavesFieldsEmpty(t *testing.T) {
	ap := listenTCP(t, "127.0.0.1:0", func(c net.Conn) { c.Write([]byte("220 hello\r\n")) })
	res, err := (&Scanner{Rate: Unlimited}).Scan(context.Background(), []netip.Addr{ap.Addr()}, []uint16{ap.Port()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{{Host: ap.Addr(), Port: ap.Port(), Protocol: TCP, State: StateOpen}}
	if fmt.Sprint(res.Findings) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", res.Findings, want)
	}
}

// IdentifyTimeout ends Identify on a service that never answers: its reads
// fail with a deadline error, its context ends, and the port is reported open.
func TestScanIdentifyTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	// Without the deadline the read would only end when the service closes.
	ap := listenTCP(t, "127.0.0.1:0", func(c net.Conn) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	const timeout = 200 * time.Millisecond
	var readErr, ctxErr error
	s := Scanner{
		Rate:            Unlimited,
		IdentifyTimeout: timeout,
		Identify: func(ctx context.Context, conn net.Conn, f *Finding) {
			_, readErr = conn.Read(make([]byte, 1))
			select {
			case <-ctx.Done():
				ctxErr = ctx.Err()
			case <-time.After(10 * time.Second):
			}
		},
	}
	start := time.Now()
	res, err := s.Scan(context.Background(), []netip.Addr{ap.Addr()}, []uint16{ap.Port()}, Options{})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(readErr, os.ErrDeadlineExceeded) || !errors.Is(ctxErr, context.DeadlineExceeded) {
		t.Errorf("Identify's read ended with %v, its context with %v; want deadline errors", readErr, ctxErr)
	}
	if elapsed < timeout {
		t.Errorf("scan took %v, less than IdentifyTimeout %v", elapsed, timeout)
	}
	if len(res.Findings) != 1 || res.Findings[0].AddrPort() != ap || res.Findings[0].State != StateOpen {
		t.Errorf("findings %+v, want %v open", res.Findings, ap)
	}
}

func TestScanFilteredSimulated(t *testing.T) {
	open := listenTCP(t, "127.0.0.1:0", nil)
	closed := closedTCPPort(t, "127.0.0.1")
	dropped := closedTCPPort(t, "127.0.0.1")
	var d net.Dialer
	// Long: the open and closed ports answer at once, so only a failure waits.
	const timeout = 5 * time.Second
	s := Scanner{
		Rate:    Unlimited,
		Timeout: timeout,
		// Simulated firewall drop: the SYN to the dropped port never gets an
		// answer, and the dial ends with a timeout. The error comes at once,
		// not after the timeout, which the dial's context must carry.
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasSuffix(addr, fmt.Sprint(":", dropped)) {
				if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > timeout {
					t.Errorf("dial context has deadline %v (%v), want within %v", dl, ok, timeout)
				}
				return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrDeadlineExceeded}
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	res, err := s.Scan(context.Background(), []netip.Addr{open.Addr()}, []uint16{open.Port(), closed, dropped}, Options{ReportAll: true})
	if err != nil {
		t.Fatal(err)
	}
	states := map[uint16]State{}
	for _, f := range res.Findings {
		states[f.Port] = f.State
	}
	want := map[uint16]State{open.Port(): StateOpen, closed: StateClosed, dropped: StateFiltered}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", states, want)
	}
	if (res.Stats != Stats{Attempts: 3, Open: 1, Closed: 1, Filtered: 1}) {
		t.Errorf("stats %+v", res.Stats)
	}
}

func TestScanConcurrencyBound(t *testing.T) {
	for _, limit := range []int{1, 8, 32} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			refuse := refusingDial(t)
			var inFlight, peak atomic.Int64
			s := Scanner{
				Concurrency: limit,
				Rate:        Unlimited,
				Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
					n := inFlight.Add(1)
					defer inFlight.Add(-1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					time.Sleep(2 * time.Millisecond) // let dials overlap
					return refuse(ctx)
				},
			}
			ports, _ := ParsePorts("1-200")
			res, err := s.Scan(context.Background(), []netip.Addr{netip.MustParseAddr("127.0.0.1")}, ports, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p := peak.Load(); p > int64(limit) || (limit > 1 && p < 2) {
				t.Errorf("peak concurrent dials %d with Concurrency %d", p, limit)
			}
			if res.Stats.Closed != 200 {
				t.Errorf("stats %+v", res.Stats)
			}
		})
	}
}

func TestScanRateLimit(t *testing.T) {
	refuse := refusingDial(t)
	var dials atomic.Int64
	s := Scanner{
		Rate: 200,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dials.Add(1)
			return refuse(ctx)
		},
	}
	ports, _ := ParsePorts("1-300")
	var progress []Progress
	start := time.Now()
	res, err := s.Scan(context.Background(), []netip.Addr{netip.MustParseAddr("127.0.0.1")}, ports, Options{
		Progress: func(p Progress) { progress = append(progress, p) },
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	// 300 attempts at 200/s with a burst of 2 need (300-2)/200 = 1.49 s at
	// least. Only a lower bound: a slow machine may take longer.
	if elapsed < 1400*time.Millisecond {
		t.Errorf("300 attempts at 200/s took %v, want >= 1.4s", elapsed)
	}
	if dials.Load() != 300 || res.Stats.Attempts != 300 {
		t.Errorf("dials %d, stats %+v", dials.Load(), res.Stats)
	}
	// Progress: at most ten a second (plus the last), growing, ending complete.
	if max := int(elapsed/progressEvery) + 2; len(progress) > max || len(progress) < 5 {
		t.Errorf("%d progress updates in %v, want 5..%d", len(progress), elapsed, max)
	}
	if !slices.IsSortedFunc(progress, func(a, b Progress) int { return a.Done - b.Done }) {
		t.Errorf("progress not monotonic: %v", progress)
	}
	if last := progress[len(progress)-1]; last != (Progress{Done: 300, Total: 300}) {
		t.Errorf("last progress %+v", last)
	}
}

func TestScanCancelKeepsFindings(t *testing.T) {
	a := listenTCP(t, "127.0.0.1:0", nil)
	b := listenTCP(t, "127.0.0.1:0", nil)
	var d net.Dialer
	s := Scanner{
		Concurrency: 16,
		Rate:        Unlimited,
		Timeout:     30 * time.Second,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasSuffix(addr, fmt.Sprint(":", a.Port())) || strings.HasSuffix(addr, fmt.Sprint(":", b.Port())) {
				return d.DialContext(ctx, network, addr)
			}
			<-ctx.Done() // simulated firewall drop with a long timeout
			return nil, ctx.Err()
		},
	}
	ports := []uint16{a.Port(), b.Port()}
	for p := uint16(1); p <= 2000; p++ {
		ports = append(ports, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	found := make(chan struct{}, 2)
	var cancelledAt time.Time
	res, err := s.Scan(ctx, []netip.Addr{a.Addr()}, ports, Options{
		OnFinding: func(Finding) {
			found <- struct{}{}
			if len(found) == 2 {
				// Ctrl-C while 16 probes hang.
				go func() { time.Sleep(100 * time.Millisecond); cancelledAt = time.Now(); cancel() }()
			}
		},
	})
	stopped := time.Since(cancelledAt)
	if !errors.Is(err, context.Canceled) || !res.Interrupted {
		t.Fatalf("err %v, interrupted %v", err, res.Interrupted)
	}
	// Well before the probes' timeout: they were abandoned.
	if stopped > 3*time.Second {
		t.Errorf("Scan returned %v after cancel, want < 3s", stopped)
	}
	if len(res.Findings) != 2 || res.Stats.Open != 2 {
		t.Errorf("findings %+v stats %+v, want the 2 open ports", res.Findings, res.Stats)
	}
	// Abandoned probes are neither filtered nor attempts.
	if res.Stats.Filtered != 0 || res.Stats.Attempts != 2 {
		t.Errorf("stats %+v", res.Stats)
	}
}

func TestScanUDPAndPolicy(t *testing.T) {
	echo := udpEcho(t, 0)
	closed := closedUDPPort(t)
	tcpOpen := listenTCP(t, "127.0.0.1:0", nil)
	pol, err := ParsePolicy(strings.NewReader(fmt.Sprintf(`
zones:
  - name: lab
    cidrs: [127.0.0.0/8]
    allow: ["udp/%d"]
`, echo.Port())))
	if err != nil {
		t.Fatal(err)
	}
	// Long: the echo, the ICMP error and the handshake come at once, so
	// only a failure waits.
	s := Scanner{Rate: Unlimited, Timeout: 3 * time.Second, Retries: -1}
	res, err := s.Scan(context.Background(), []netip.Addr{echo.Addr()}, []uint16{tcpOpen.Port()},
		Options{UDPPorts: []uint16{echo.Port(), closed}, Policy: &pol, ReportAll: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		v := "ok"
		if f.Violation != nil {
			v = f.Violation.Message
		}
		got = append(got, fmt.Sprintf("%s/%d %s %s", f.Protocol, f.Port, f.State, v))
	}
	want := []string{
		fmt.Sprintf("tcp/%d open tcp/%d open in zone lab, which allows only udp/%d", tcpOpen.Port(), tcpOpen.Port(), echo.Port()),
		fmt.Sprintf("udp/%d open ok", echo.Port()),
		fmt.Sprintf("udp/%d closed ok", closed),
	}
	slices.Sort(want[1:])
	slices.Sort(got[min(1, len(got)):])
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestScanProbeUDPHook(t *testing.T) {
	echo := udpEcho(t, 0)
	s := Scanner{
		Rate:    Unlimited,
		Retries: 3,
		ProbeUDP: func(ctx context.Context, addr netip.AddrPort, timeout time.Duration, retries int, f *Finding) State {
			reply, err := UDPExchange(ctx, addr, []byte("ping"), timeout, retries)
			f.Service, f.Banner = "echo", string(reply)
			f.Details = map[string]string{"retries": fmt.Sprint(retries)}
			return UDPState(err)
		},
	}
	res, err := s.Scan(context.Background(), []netip.Addr{echo.Addr()}, nil, Options{UDPPorts: []uint16{echo.Port()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Findings[0].Banner != "ping" || res.Findings[0].Details["retries"] != "3" {
		t.Errorf("findings %+v", res.Findings)
	}
}

func TestScanIdentifyPanicIsContained(t *testing.T) {
	ap := listenTCP(t, "127.0.0.1:0", nil)
	s := Scanner{Rate: Unlimited, Identify: func(context.Context, net.Conn, *Finding) { panic("bad parser") }}
	res, err := s.Scan(context.Background(), []netip.Addr{ap.Addr()}, []uint16{ap.Port()}, Options{})
	if err != nil || len(res.Findings) != 1 || !strings.Contains(res.Findings[0].Details["identify_error"], "bad parser") {
		t.Errorf("err %v findings %+v", err, res.Findings)
	}
}

func TestScanNothing(t *testing.T) {
	if _, err := (&Scanner{}).Scan(context.Background(), nil, []uint16{1}, Options{}); err == nil {
		t.Error("no error for no targets")
	}
}
