package scan

import (
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// nmapRun is the part of nmap's XML output the comparison reads.
type nmapRun struct {
	Hosts []struct {
		Ports []struct {
			Protocol string `xml:"protocol,attr"`
			PortID   int    `xml:"portid,attr"`
			State    struct {
				State string `xml:"state,attr"`
			} `xml:"state"`
		} `xml:"ports>port"`
	} `xml:"host"`
}

// BenchmarkScanVsNmap scans the same loopback target and ports as `nmap -sT` (TCP connect,
// no ping, no DNS, no retries, timing template 5), in the same run, and checks both find
// the same open ports. It reports both rates and their ratio.
//
//	go test -run '^$' -bench ScanVsNmap -benchtime 3x ./internal/scan/
func BenchmarkScanVsNmap(b *testing.B) {
	if _, err := exec.LookPath("nmap"); err != nil {
		b.Skip("nmap is not installed (apt-get install nmap)")
	}
	var open []uint16
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		open = append(open, uint16(ln.Addr().(*net.TCPAddr).Port))
	}
	slices.Sort(open)
	ports, _ := ParsePorts("1-20000")
	for _, p := range open {
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	spec := make([]string, 0, len(open)+1)
	spec = append(spec, "1-20000")
	for _, p := range open {
		if p > 20000 {
			spec = append(spec, fmt.Sprint(p))
		}
	}
	target := netip.MustParseAddr("127.0.0.1")
	var oursTotal, nmapTotal time.Duration
	for b.Loop() {
		s := &Scanner{Rate: Unlimited, Concurrency: 64, Timeout: time.Second}
		t0 := time.Now()
		res, err := s.Scan(context.Background(), []netip.Addr{target}, ports, Options{})
		if err != nil {
			b.Fatal(err)
		}
		oursTotal += time.Since(t0)
		var found []uint16
		for _, f := range res.Findings {
			found = append(found, f.Port)
		}
		slices.Sort(found)
		for _, p := range open {
			if !slices.Contains(found, p) {
				b.Fatalf("patchday missed listener %d", p)
			}
		}

		t0 = time.Now()
		out, err := exec.Command("nmap", "-sT", "-n", "-Pn", "-T5", "--max-retries", "0", "-p", strings.Join(spec, ","),
			"-oX", "-", "127.0.0.1").Output()
		if err != nil {
			b.Fatalf("nmap: %v", err)
		}
		nmapTotal += time.Since(t0)
		var run nmapRun
		if err := xml.Unmarshal(out, &run); err != nil {
			b.Fatal(err)
		}
		var nmapOpen []uint16
		for _, h := range run.Hosts {
			for _, p := range h.Ports {
				if p.State.State == "open" {
					nmapOpen = append(nmapOpen, uint16(p.PortID))
				}
			}
		}
		slices.Sort(nmapOpen)
		// Both see the listeners and whatever else listens on this machine: the same set.
		if !slices.Equal(found, nmapOpen) {
			b.Fatalf("patchday found %v, nmap %v", found, nmapOpen)
		}
		b.Logf("%d ports, %d open (both): patchday %v, nmap %v", len(ports), len(found), oursTotal, nmapTotal)
	}
	n := float64(b.N) * float64(len(ports))
	b.ReportMetric(n/oursTotal.Seconds(), "ports/s-patchday")
	b.ReportMetric(n/nmapTotal.Seconds(), "ports/s-nmap")
	b.ReportMetric(nmapTotal.Seconds()/oursTotal.Seconds(), "x-nmap-speed")
}
