package scan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// closedTCPPort returns a port that refuses connections on every loopback address, IPv4 and
// IPv6, for the rest of the test. A socket bound to it on the dual-stack wildcard and never
// listening holds it: SYNs to it get a reset, and no other test or process on the machine
// can listen on it meanwhile, as it could on a port merely listened on and closed.
func closedTCPPort(t testing.TB, _ string) uint16 {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	var wildcard unix.Sockaddr = &unix.SockaddrInet6{}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	} else { // no IPv6 on this machine
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		wildcard = &unix.SockaddrInet4{}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, wildcard); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet6:
		return uint16(sa.Port)
	case *unix.SockaddrInet4:
		return uint16(sa.Port)
	}
	t.Fatalf("bound to %T", sa)
	return 0
}

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
