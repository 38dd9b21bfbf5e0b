//go:build !linux

package scan

import (
	"net"
	"net/netip"
	"testing"
)

// closedTCPPort returns a port nothing listens on at ip: one that was listened on and closed.
// Another process may take it meanwhile; the Linux version holds it.
func closedTCPPort(t testing.TB, ip string) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	ln.Close()
	return p
}

// holdClosedOn holds nothing here: a listener's port may be taken on another address
// meanwhile. The Linux version holds those.
func holdClosedOn(testing.TB, []netip.Addr, []netip.AddrPort) bool { return true }
