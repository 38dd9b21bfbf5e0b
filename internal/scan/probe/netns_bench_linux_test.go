//go:build linux

package probe

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/scan"
)

// BenchmarkScanNetnsVsNmap scans the namespace test host of TestScanNetnsHost
// (real sshd, SMTP, nginx with HTTP and HTTPS, PostgreSQL: five open TCP ports)
// on TCP ports 1-10000 with patchday's scanner and with nmap, one after the
// other in each iteration, and requires both to find exactly the services'
// ports. Sub-benchmarks: "direct" (the bare veth pair) and "latency-5ms"
// (netem delay of 5 ms on both veth ends, a 10 ms round trip; skipped when
// the kernel has no netem).
//
// patchday: a connect scan without identification, with the settings of
//
//	patchday scan ADDR --ports 1-10000 --rate 0    (--concurrency 256, --timeout 1.5s: the defaults)
//
// nmap: `nmap -sT -n -Pn -T5 --max-retries 0 -p 1-10000 -oX - ADDR`: a TCP
// connect scan too (no raw packets), no DNS, no host discovery, no
// retransmissions (the scanner does not retry TCP either), the most
// aggressive timing. nmap's time includes its process start, measured on
// its own as "nmap-start-ms" (a scan of one port).
//
//	go test -run '^$' -bench ScanNetnsVsNmap -benchtime 5x -count 3 ./internal/scan/probe/
func BenchmarkScanNetnsVsNmap(b *testing.B) {
	nmap := requireBinary(b, "nmap", "/usr/bin/nmap")
	h := newTestHost(b)
	if h.NS == "" && ciStrict() {
		b.Fatal("CI=true: the benchmark needs a network namespace")
	}
	hs := h.startServices(b)
	want := []uint16{hs.Ports.SSH, hs.Ports.SMTP, hs.Ports.HTTP, hs.Ports.HTTPS, hs.Ports.Postgres}
	slices.Sort(want)
	const portSpecText = "1-10000"
	ports, err := scan.ParsePorts(portSpecText)
	if err != nil {
		b.Fatal(err)
	}
	spec := portSpecText
	for _, p := range want {
		if p > 10000 { // fallback ports
			ports = append(ports, p)
			spec += "," + strconv.Itoa(int(p))
		}
	}

	run := func(b *testing.B) {
		// nmap's fixed cost: starting it and scanning one port.
		t0 := time.Now()
		runNmap(b, nmap, "-sT", "-n", "-Pn", "-T5", "--max-retries", "0", "-p", "1", "-oX", "-", h.Addr.String())
		start := time.Since(t0)

		var ours, theirs time.Duration
		for b.Loop() {
			s := &scan.Scanner{Rate: scan.Unlimited, Concurrency: scan.DefaultConcurrency, Timeout: scan.DefaultTimeout}
			t0 := time.Now()
			res, err := s.Scan(context.Background(), []netip.Addr{h.Addr}, ports, scan.Options{})
			ours += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			var found []uint16
			for _, f := range res.Findings {
				found = append(found, f.Port)
			}
			slices.Sort(found)
			if res.Stats.Errors != 0 || res.Stats.Filtered != 0 || !slices.Equal(found, want) {
				b.Fatalf("patchday found %v (%+v), want %v", found, res.Stats, want)
			}

			t0 = time.Now()
			states := runNmap(b, nmap, "-sT", "-n", "-Pn", "-T5", "--max-retries", "0", "-p", spec, "-oX", "-", h.Addr.String())
			theirs += time.Since(t0)
			var nmapOpen []uint16
			for k, st := range states {
				if p, ok := strings.CutPrefix(k, "tcp/"); ok && st == "open" {
					n, _ := strconv.Atoi(p)
					nmapOpen = append(nmapOpen, uint16(n))
				}
			}
			slices.Sort(nmapOpen)
			if !slices.Equal(nmapOpen, found) {
				b.Fatalf("nmap found %v, patchday %v", nmapOpen, found)
			}
		}
		n := float64(b.N) * float64(len(ports))
		b.ReportMetric(n/ours.Seconds(), "ports/s")
		b.ReportMetric(n/theirs.Seconds(), "ports/s-nmap")
		b.ReportMetric(theirs.Seconds()/ours.Seconds(), "x-nmap-speed")
		b.ReportMetric(float64(start.Microseconds())/1000, "nmap-start-ms")
	}
	b.Run("direct", run)
	b.Run("latency-5ms", func(b *testing.B) {
		if err := h.addLatency(b, 5*time.Millisecond); err != nil {
			if h.NS == "" || netemUnavailable(err) {
				b.Skipf("no latency variant: %v", err)
			}
			b.Fatal(err)
		}
		run(b)
	})
}
