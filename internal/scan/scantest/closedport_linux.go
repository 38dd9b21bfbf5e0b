package scantest

import (
	"testing"

	"golang.org/x/sys/unix"
)

// ClosedTCPPort returns a port that refuses connections on every loopback address, IPv4 and
// IPv6, for the rest of the test. A socket bound to it on the dual-stack wildcard and never
// listening holds it: SYNs to it get a reset, and no other test or process on the machine
// can listen on it meanwhile, as it could on a port merely listened on and closed.
func ClosedTCPPort(t testing.TB) uint16 {
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
