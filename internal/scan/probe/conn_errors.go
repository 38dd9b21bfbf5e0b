package probe

import (
	"errors"
	"syscall"
)

// wsaeconnreset is Windows' WSAECONNRESET, which a UDP socket reports
// after an ICMP port unreachable.
const wsaeconnreset = 10054

// isConnRefused reports an ICMP port unreachable surfaced on a connected
// UDP socket (ECONNREFUSED on Unix, WSAECONNRESET on Windows).
func isConnRefused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var en syscall.Errno
	return errors.As(err, &en) && en == wsaeconnreset
}
