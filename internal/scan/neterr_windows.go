//go:build windows

package scan

import (
	"errors"
	"syscall"
)

// Winsock error codes. The syscall package's ECONNREFUSED and friends are
// invented values on Windows that Winsock never returns, and Errno.Is does
// not map them, so the real codes are compared here.
const (
	wsaEMFILE        syscall.Errno = 10024
	wsaEADDRNOTAVAIL syscall.Errno = 10049
	wsaECONNRESET    syscall.Errno = 10054
	wsaENOBUFS       syscall.Errno = 10055
	wsaECONNREFUSED  syscall.Errno = 10061
)

// isRefused reports a TCP RST to our SYN, or for a UDP socket an ICMP port
// unreachable, which Winsock reports on the next receive as WSAECONNRESET.
func isRefused(err error) bool {
	return errors.Is(err, wsaECONNREFUSED) || errors.Is(err, wsaECONNRESET)
}

// isLocalExhaustion reports errors caused by this machine running out of
// sockets, buffers or ephemeral ports: they say nothing about the target
// and are worth retrying after a pause.
func isLocalExhaustion(err error) bool {
	return errors.Is(err, wsaEMFILE) || errors.Is(err, wsaENOBUFS) || errors.Is(err, wsaEADDRNOTAVAIL)
}
