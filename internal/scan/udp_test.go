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

func closedUDPPort(t testing.TB) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	pc.Close()
	return p
}

func TestUDPExchange(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name    string
		addr    netip.AddrPort
		retries int
		want    string
		err     error
		within  time.Duration
	}{
		{"echo", udpEcho(t, 0), 0, "hello", nil, time.Second},
		{"echo answers the second try", udpEcho(t, 1), 2, "hello", nil, 2 * time.Second},
		{"no retry, first datagram lost", udpEcho(t, 1), 0, "", ErrNoResponse, 2 * time.Second},
		{"closed port: ICMP port unreachable", netip.AddrPortFrom(lo, closedUDPPort(t)), 3, "", ErrPortClosed, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := UDPExchange(context.Background(), tt.addr, []byte("hello"), 400*time.Millisecond, tt.retries)
			if !errors.Is(err, tt.err) || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
			if d := time.Since(start); d > tt.within {
				t.Errorf("took %v, want < %v", d, tt.within)
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
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
}
