package scan

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// udpEcho runs a real UDP echo server on 127.0.0.1 that ignores the first
// drop datagrams, to exercise retries.
func udpEcho(t testing.TB, drop int64) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var seen atomic.Int64
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if seen.Add(1) > drop {
				pc.WriteTo(buf[:n], from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// closedUDPPort returns a port on 127.0.0.1 that answers UDP with ICMP port unreachable for
// the rest of the test. A UDP socket connected to another port (127.0.0.1:9) holds it: it
// takes datagrams from that peer only, so probes from anywhere else find no socket and get
// the ICMP error, and no other test or process can bind the port meanwhile, as it could a
// port merely bound and closed.
func closedUDPPort(t testing.TB) uint16 {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:9")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
}

func TestUDPExchange(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	// Where the answer (or the ICMP error) comes at once, a try may take long: only a
	// failure waits for it. Where a try must time out, it is short, and the resend case
	// has tries to spare in case an answer comes late.
	const long, short = 2 * time.Second, 300 * time.Millisecond
	tests := []struct {
		name     string
		addr     netip.AddrPort
		timeout  time.Duration // of one try
		retries  int
		want     string
		err      error
		min, max time.Duration // the time taken
	}{
		{"echo", udpEcho(t, 0), long, 0, "hello", nil, 0, long * 3 / 4},
		{"echo answers a resend", udpEcho(t, 1), short, 5, "hello", nil, short, 10 * time.Second},
		{"no retry, first datagram lost", udpEcho(t, 1), short, 0, "", ErrNoResponse, short, 10 * time.Second},
		// Clearly less than one try: the ICMP error ended the exchange, not the tries.
		{"closed port: ICMP port unreachable", netip.AddrPortFrom(lo, closedUDPPort(t)), long, 3, "", ErrPortClosed, 0, long * 3 / 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := UDPExchange(context.Background(), tt.addr, []byte("hello"), tt.timeout, tt.retries)
			if !errors.Is(err, tt.err) || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
			if d := time.Since(start); d < tt.min || d > tt.max {
				t.Errorf("took %v, want %v to %v", d, tt.min, tt.max)
			}
			if st, want := UDPState(err), map[error]State{nil: StateOpen, ErrNoResponse: StateFiltered, ErrPortClosed: StateClosed}[tt.err]; st != want {
				t.Errorf("UDPState %s, want %s", st, want)
			}
		})
	}
}

func TestUDPExchangeCancel(t *testing.T) {
	silent := udpEcho(t, 1<<40)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := UDPExchange(ctx, silent, []byte("x"), 10*time.Second, 5)
	// Well before the first try's timeout: the cancel ended it.
	if !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
}
