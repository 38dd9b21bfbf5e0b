// Package scan is the core of patchday's exposure scanner: target and port
// parsing, a rate-limited TCP connect scanner, UDP exchanges for protocol
// probes, firewall-policy checks, output formats and scan diffs.
//
// Service identification lives in the probe package, which plugs in through
// Scanner.Identify and Scanner.ProbeUDP and uses the types defined here.
package scan

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// State is what a probe learned about one port.
type State string

const (
	StateOpen   State = "open"
	StateClosed State = "closed"
	// StateFiltered means no answer: a firewall dropped the probe, the host
	// is down or unreachable. For UDP it also covers an open service that
	// ignored the probe (nmap's "open|filtered").
	StateFiltered State = "filtered"
)

// Protocols of a Finding.
const (
	TCP = "tcp"
	UDP = "udp"
)

// MaxBanner is the longest Banner kept in a Finding, in bytes.
const MaxBanner = 256

// Finding is one port on one host.
type Finding struct {
	Host       netip.Addr        `json:"host"`
	Port       uint16            `json:"port"`
	Protocol   string            `json:"protocol"`
	State      State             `json:"state"`
	Service    string            `json:"service,omitempty"`
	Product    string            `json:"product,omitempty"`
	Version    string            `json:"version,omitempty"`
	Banner     string            `json:"banner,omitempty"`
	TLS        *TLSInfo          `json:"tls,omitempty"`
	Details    map[string]string `json:"details,omitempty"`
	Violation  *Violation        `json:"violation,omitempty"`
	Advisories []string          `json:"advisories,omitempty"`
}

// AddrPort is the finding's address and port.
func (f Finding) AddrPort() netip.AddrPort { return netip.AddrPortFrom(f.Host, f.Port) }

// TLSInfo describes the TLS session and leaf certificate of a service.
type TLSInfo struct {
	Version     string    `json:"version"`
	CipherSuite string    `json:"cipher_suite"`
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	NotAfter    time.Time `json:"not_after"`
	SelfSigned  bool      `json:"self_signed"`
}

// Stats counts probe outcomes. Closed and filtered ports are counted here
// even when they are not reported as findings.
type Stats struct {
	Attempts int `json:"attempts"`
	Open     int `json:"open"`
	Closed   int `json:"closed"`
	Filtered int `json:"filtered"`
	// Errors counts probes that failed for a local reason (out of file
	// descriptors or ephemeral ports) even after retries; they are also
	// counted as filtered, and a non-zero value means the scan was too
	// aggressive for this machine.
	Errors int `json:"errors"`
}

// Result is one scan.
type Result struct {
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	Targets   []string  `json:"targets"`
	Addresses int       `json:"addresses"` // the targets' addresses, each probed on every port
	Ports     int       `json:"ports"`
	// PortSpec names the ports probed (FormatPorts): "tcp:22,80,8000-8100" and, with UDP
	// ports, " udp:53,161". Scans that probed the same ports have the same text.
	PortSpec    string    `json:"port_spec,omitempty"`
	Findings    []Finding `json:"findings"`
	Stats       Stats     `json:"stats"`
	Interrupted bool      `json:"interrupted"`
}

// SortFindings orders findings by host, protocol and port, the order every
// output uses.
func SortFindings(fs []Finding) {
	slices.SortFunc(fs, compareFindings)
}

func compareFindings(a, b Finding) int {
	if c := a.Host.Compare(b.Host); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

// SanitizeBanner makes bytes read from a service safe to store and print:
// valid UTF-8 without control characters (a hostile service must not be
// able to send terminal escape sequences to whoever reads the report),
// whitespace runs folded to one space, at most MaxBanner bytes.
func SanitizeBanner(b []byte) string {
	return printable(b, MaxBanner)
}

// SanitizeText is SanitizeBanner for other text from the network (an uploaded finding's
// violation message), at most limit bytes.
func SanitizeText(s string, limit int) string {
	return printable([]byte(s), limit)
}

// printable is SanitizeBanner with a length limit in bytes; 0 means none.
func printable(b []byte, limit int) string {
	if limit <= 0 {
		limit = len(b) + 1 // replacements never make the text longer
	}
	var sb strings.Builder
	space := false
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '?'
		case r == '\t' || r == '\n' || r == '\r' || r == ' ':
			space = true
			continue
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			r = '?'
		}
		if space && sb.Len() > 0 {
			if sb.Len()+1 > limit {
				break
			}
			sb.WriteByte(' ')
		}
		space = false
		if sb.Len()+utf8.RuneLen(r) > limit {
			break
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
