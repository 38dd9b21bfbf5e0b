//go:build !linux

package scantest

import (
	"net"
	"testing"
)

// ClosedTCPPort returns a port nothing listens on at 127.0.0.1: one that was listened on and
// closed. Another process may take it meanwhile; the Linux version holds it.
func ClosedTCPPort(t testing.TB) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	ln.Close()
	return p
}
