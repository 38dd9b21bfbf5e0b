package scan

import (
	"context"
	"net"
	"net/netip"
	"testing"
)

// BenchmarkScanLoopback scans 127.0.0.1 ports 1-10000 with a few listening,
// without rate limit, and reports ports per second.
func BenchmarkScanLoopback(b *testing.B) {
	var listening []uint16
	for p := 9001; p < 10000 && len(listening) < 3; p += 97 {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p)).String())
		if err != nil {
			continue
		}
		b.Cleanup(func() { ln.Close() })
		listening = append(listening, uint16(p))
	}
	ports, _ := ParsePorts("1-10000")
	targets := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	s := Scanner{Rate: Unlimited}
	b.ResetTimer()
	for b.Loop() {
		res, err := s.Scan(context.Background(), targets, ports, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Stats.Open < len(listening) || res.Stats.Attempts != len(ports) {
			b.Fatalf("stats %+v, %d listening", res.Stats, len(listening))
		}
	}
	b.ReportMetric(float64(b.N*len(ports))/b.Elapsed().Seconds(), "ports/s")
}
