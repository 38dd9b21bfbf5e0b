package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/patchday/patchday/internal/scan"
)

// Attach plugs the protocol probes into a scanner: every open TCP port is asked what it is,
// and UDP ports get the datagram their usual service understands.
func Attach(s *scan.Scanner) {
	s.Identify = func(ctx context.Context, _ net.Conn, f *scan.Finding) {
		timeout := scan.DefaultIdentifyTimeout
		if d, ok := ctx.Deadline(); ok {
			timeout = time.Until(d)
		}
		info, err := IdentifyTCP(ctx, f.AddrPort(), timeout)
		if err != nil && info.Service == "" {
			return
		}
		fillFinding(info, f)
	}
	s.ProbeUDP = func(ctx context.Context, addr netip.AddrPort, timeout time.Duration, retries int, f *scan.Finding) scan.State {
		info, answered, err := IdentifyUDP(ctx, addr, timeout, retries)
		switch {
		case errors.Is(err, ErrUDPClosed):
			return scan.StateClosed
		case !answered:
			return scan.StateFiltered
		}
		fillFinding(info, f)
		return scan.StateOpen
	}
}

// fillFinding copies what a probe learned into a finding.
func fillFinding(info Info, f *scan.Finding) {
	f.Service, f.Product, f.Version = info.Service, info.Product, info.Version
	f.Banner = scan.SanitizeBanner([]byte(info.Banner))
	f.Details = info.Details
	if t := info.TLS; t != nil {
		f.TLS = &scan.TLSInfo{Version: t.Version, CipherSuite: t.CipherSuite, Subject: t.Subject, Issuer: t.Issuer,
			NotAfter: t.NotAfter, SelfSigned: t.SelfSigned}
	}
}
