package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
	want := map[string]bool{} // "host port" of every listener
	var ports []uint16
	addListener := func(ap netip.AddrPort) {
		want[fmt.Sprint(ap.Addr(), " ", ap.Port())] = true
		ports = append(ports, ap.Port())
	}
	// One talking service, one that accepts and never answers, one that
	// never even accepts (the kernel completes the handshake anyway).
	banner := listenTCP(t, "127.0.0.1:0", func(c net.Conn) { c.Write([]byte("SSH-2.0-Test_1.0\r\n")); time.Sleep(time.Second) })
	addListener(banner)
	addListener(listenTCP(t, "127.0.0.1:0", func(c net.Conn) { time.Sleep(5 * time.Second) }))
	for _, h := range hosts[1:] {
		ln, err := net.Listen("tcp", net.JoinHostPort(h, "0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		addListener(ln.Addr().(*net.TCPAddr).AddrPort())
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
		IdentifyTimeout: 300 * time.Millisecond,
		Identify: func(ctx context.Context, conn net.Conn, f *Finding) {
			line, _ := bufio.NewReader(conn).ReadString('\n')
			if strings.HasPrefix(line, "SSH-") {
				f.Service, f.Banner = "ssh", SanitizeBanner([]byte(line))
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
		if _, ok := identified[fmt.Sprint(f.Host, " ", f.Port)]; !ok {
			t.Errorf("Identify not called for %v:%d", f.Host, f.Port)
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

func TestScanFilteredSimulated(t *testing.T) {
	open := listenTCP(t, "127.0.0.1:0", nil)
	closed := closedTCPPort(t, "127.0.0.1")
	dropped := closedTCPPort(t, "127.0.0.1")
	var d net.Dialer
	s := Scanner{
		Rate:    Unlimited,
		Timeout: 200 * time.Millisecond,
		// Simulated firewall drop: for the dropped port the SYN never gets
		// an answer, so the dial waits until the per-attempt timeout.
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasSuffix(addr, fmt.Sprint(":", dropped)) {
				<-ctx.Done()
				return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
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
	if stopped > time.Second {
		t.Errorf("Scan returned %v after cancel, want < 1s", stopped)
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
	s := Scanner{Rate: Unlimited, Timeout: 300 * time.Millisecond, Retries: -1}
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
