//go:build !windows

package scan

import (
	"errors"
	"syscall"
)

// isRefused reports a TCP RST to our SYN, or for a connected UDP socket an
// ICMP port unreachable, which the kernel reports as ECONNREFUSED.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// isLocalExhaustion reports errors caused by this machine running out of
// file descriptors, buffers or ephemeral ports: they say nothing about the
// target and are worth retrying after a pause.
func isLocalExhaustion(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EADDRNOTAVAIL)
}
