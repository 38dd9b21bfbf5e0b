//go:build !linux

package cli

import (
	"net"
	"testing"
)

// closedTCPPort returns a port nothing listens on at 127.0.0.1: one that was listened on and
// closed. Another process may take it meanwhile; the Linux version holds it.
func closedTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}
