package scan

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/patchday/patchday/internal/scan/scantest"
)

// listenTCP starts a real listener; serve, when set, handles each accepted
// connection. It returns the listener's address or skips when the address
// is not configured on this machine.
func listenTCP(t testing.TB, addr string, serve func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s here: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	if serve != nil {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					serve(c)
				}()
			}
		}()
	}
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// loopbackAddrs are the test hosts: 127.0.0.1, ::1 when IPv6 works, and on
// Linux 127.0.0.2-5 (the whole of 127/8 is loopback there; elsewhere only
// 127.0.0.1 is configured by default).
func loopbackAddrs(t testing.TB) []string {
	addrs := []string{"127.0.0.1"}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		addrs = append(addrs, "::1")
	} else {
		t.Logf("no IPv6 loopback here: %v", err)
	}
	if runtime.GOOS == "linux" {
		addrs = append(addrs, "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
	} else {
		t.Logf("only 127.0.0.1 used as IPv4 test host on %s", runtime.GOOS)
	}
	return addrs
}

// refusingDial dials a port nothing listens on, so the hook gets a real
// "connection refused" from the kernel on every platform.
func refusingDial(t testing.TB) func(ctx context.Context) (net.Conn, error) {
	p := closedTCPPort(t, "127.0.0.1")
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p).String()
	var d net.Dialer
	return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
}

// listenersHeld calls listen, which starts listeners and returns their addresses, until
// their port numbers can be held closed on the other targets (holdClosedOn), and returns
// the addresses. Listeners of an attempt that failed stay until the test ends, on ports
// that are not probed.
func listenersHeld(t testing.TB, targets []netip.Addr, listen func() []netip.AddrPort) []netip.AddrPort {
	t.Helper()
	for range 10 {
		if lns := listen(); holdClosedOn(t, targets, lns) {
			return lns
		}
	}
	t.Fatal("the listeners' ports were taken on other addresses ten times in a row")
	return nil
}

// closedTCPPort is scantest.ClosedTCPPort; ip does not matter where the port is held on
// every address (Linux), and is 127.0.0.1 in the tests elsewhere.
func closedTCPPort(t testing.TB, _ string) uint16 {
	t.Helper()
	return scantest.ClosedTCPPort(t)
}
