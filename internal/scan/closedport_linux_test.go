package scan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// holdClosedOn makes the port numbers of listeners refuse connections on every other
// target while the test runs. A listener's port on one address is free on the others, and
// another process may listen there meanwhile: the probes of those addresses expect it
// closed. For every target and listener port that is not itself a listener it binds a
// socket to that address and port, without SO_REUSEADDR and never listening, as
// closedTCPPort does on the wildcard. It reports false when one is in use already (then
// it releases what it held, and the caller starts new listeners).
func holdClosedOn(t testing.TB, targets []netip.Addr, listeners []netip.AddrPort) bool {
	t.Helper()
	var fds []int
	release := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for _, a := range targets {
		for _, ln := range listeners {
			ap := netip.AddrPortFrom(a, ln.Port())
			if slices.Contains(listeners, ap) {
				continue
			}
			fd, err := bindTCP(ap)
			if errors.Is(err, unix.EADDRINUSE) {
				t.Logf("%v is in use: new listeners", ap)
				release()
				return false
			}
			if err != nil {
				release()
				t.Fatalf("holding %v: %v", ap, err)
			}
			fds = append(fds, fd)
		}
	}
	t.Cleanup(release)
	return true
}

// bindTCP returns a TCP socket bound to ap.
func bindTCP(ap netip.AddrPort) (int, error) {
	family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())})
	if ap.Addr().Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	return fd, nil
}
