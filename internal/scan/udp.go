package scan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

var (
	// ErrPortClosed: the host answered with ICMP port unreachable.
	ErrPortClosed = errors.New("port closed")
	// ErrNoResponse: nothing came back after all retries; the port is
	// filtered, or open with a service that ignored the probe.
	ErrNoResponse = errors.New("no response")
)

// maxDatagram is the largest UDP payload; replies are read whole.
const maxDatagram = 65535

// UDPExchange sends payload to addr and returns the first datagram that
// comes back, resending up to retries times when nothing arrives within
// timeout (UDP probes and replies are lost without notice). It returns
// ErrPortClosed on ICMP port unreachable, ErrNoResponse when every attempt
// timed out, and ctx.Err() when ctx ends first.
//
// The socket is connected, so the kernel only delivers datagrams from addr
// and reports ICMP errors for it to us.
func UDPExchange(ctx context.Context, addr netip.AddrPort, payload []byte, timeout time.Duration, retries int) ([]byte, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("udp %s: %w", addr, err)
	}
	defer conn.Close()
	// Unblock a pending read as soon as ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	buf := make([]byte, maxDatagram)
	for attempt := 0; attempt <= max(retries, 0); attempt++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if _, err := conn.Write(payload); err != nil {
			// An ICMP error from an earlier attempt can surface here.
			return nil, udpError(ctx, addr, err)
		}
		deadline := time.Now().Add(timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		conn.SetReadDeadline(deadline)
		// Checked after setting the deadline: if ctx ended just before, the
		// AfterFunc's past deadline was overwritten and the read would wait.
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		n, err := conn.Read(buf)
		if err == nil {
			return append([]byte(nil), buf[:n]...), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, udpError(ctx, addr, err)
		}
	}
	return nil, fmt.Errorf("udp %s: %w", addr, ErrNoResponse)
}

func udpError(ctx context.Context, addr netip.AddrPort, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if isRefused(err) {
		return fmt.Errorf("udp %s: %w", addr, ErrPortClosed)
	}
	return fmt.Errorf("udp %s: %w", addr, err)
}

// UDPState maps the error of UDPExchange to a port state, for probes:
// a reply means open, ICMP port unreachable closed, silence filtered.
func UDPState(err error) State {
	switch {
	case err == nil:
		return StateOpen
	case errors.Is(err, ErrPortClosed):
		return StateClosed
	default:
		return StateFiltered
	}
}
