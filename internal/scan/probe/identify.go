// Package probe identifies network services by talking their protocols:
// banners, small protocol requests and TLS handshakes. It only observes:
// no credentials are tried and nothing is changed on the target.
//
// Every exchange is bounded: a deadline on every read and write (derived
// from the caller's timeout and context), at most a few KiB read per
// connection, and no goroutines left behind.
package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Info is what a probe learned about a service.
type Info struct {
	// Service is the protocol: ssh, http, https, smtp, ftp, rdp, smb, dns,
	// snmp, mysql, postgresql, mssql (and tls, pop3, imap, unknown).
	Service string `json:"service"`
	// Product is the implementation, e.g. OpenSSH, nginx, Postfix, vsftpd,
	// MySQL, MariaDB, PostgreSQL, Microsoft SQL Server.
	Product string `json:"product,omitempty"`
	// Version is the product's version as announced, e.g. 9.2p1, 1.22.1.
	Version string `json:"version,omitempty"`
	// Banner is the first printable line the server sent (at most 256 bytes).
	Banner string `json:"banner,omitempty"`
	// TLS describes the TLS session for services spoken over TLS.
	TLS *TLSInfo `json:"tls,omitempty"`
	// Details holds protocol-specific facts, e.g. smb: dialect, dialects,
	// smbv1; mssql: instances; snmp: sysdescr; smtp: starttls.
	Details map[string]string `json:"details,omitempty"`
}

func (i *Info) set(k, v string) {
	if i.Details == nil {
		i.Details = make(map[string]string)
	}
	i.Details[k] = v
}

// Errors returned by the probes.
var (
	// ErrUnknownService means the port answered but no probe recognised it.
	ErrUnknownService = errors.New("probe: service not recognised")
	// ErrUDPClosed means the target answered a UDP probe with ICMP port
	// unreachable: the port is closed.
	ErrUDPClosed = errors.New("probe: UDP port closed (ICMP port unreachable)")
	// errMismatch means the peer did not speak the protocol we tried.
	errMismatch = errors.New("probe: protocol mismatch")
)

const (
	maxRead       = 8 << 10 // bytes read from one connection at most
	maxBanner     = 256
	defaultTCPTTL = 5 * time.Second
)

// bannerWait is how long the generic probe waits for a server to speak
// first before it tries TLS and HTTP. It is capped at a quarter of the
// remaining time.
var bannerWait = 2 * time.Second

// session carries the target and the overall deadline of one IdentifyTCP call.
type session struct {
	ctx  context.Context
	addr netip.AddrPort
	port uint16 // the port whose usual service is expected
}

// probeConn closes cleanly and stops its context watcher.
type probeConn struct {
	net.Conn
	stop func() bool
}

func (c *probeConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// dial opens a TCP connection whose deadline is the session's deadline and
// which is unblocked as soon as the context is cancelled.
func (s *session) dial() (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(s.ctx, "tcp", s.addr.String())
	if err != nil {
		return nil, err
	}
	if dl, ok := s.ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(s.ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	return &probeConn{Conn: c, stop: stop}, nil
}

// remaining is the time left before the session's deadline.
func (s *session) remaining() time.Duration {
	if dl, ok := s.ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return defaultTCPTTL
}

func (s *session) resetDeadline(c net.Conn) {
	if dl, ok := s.ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Time{})
	}
}

type tcpProbe func(s *session) (Info, error)

// portProbes are the client-first probes tried on a service's usual port.
var portProbes = map[uint16]tcpProbe{
	80: probeHTTP, 8000: probeHTTP, 8008: probeHTTP, 8080: probeHTTP, 8888: probeHTTP,
	443: probeHTTPS, 8443: probeHTTPS,
	465:  probeSMTPS,
	445:  probeSMB,
	1433: probeMSSQL,
	3389: probeRDP,
	5432: probePostgres,
}

// serverFirstPorts are ports whose usual service speaks first; the probe
// waits for their banner with the whole timeout instead of a short wait.
var serverFirstPorts = map[uint16]bool{21: true, 22: true, 25: true, 110: true, 143: true, 587: true, 2525: true, 3306: true}

// IdentifyTCP talks to an open TCP port and says what runs there: by the
// port's usual service first, then by what the server volunteers (a
// banner), then by a TLS handshake, then by an HTTP request. timeout
// bounds the whole exchange (default 5s when <= 0).
func IdentifyTCP(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (Info, error) {
	return identifyTCP(ctx, addr, addr.Port(), timeout)
}

// identifyTCP probes addr as if it were on port usual (tests run their
// hosts on ephemeral ports).
func identifyTCP(ctx context.Context, addr netip.AddrPort, usual uint16, timeout time.Duration) (Info, error) {
	if timeout <= 0 {
		timeout = defaultTCPTTL
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := &session{ctx: ctx, addr: addr, port: usual}
	if p, ok := portProbes[usual]; ok {
		info, err := p(s)
		if err == nil {
			return info, nil
		}
		if ctx.Err() != nil {
			return Info{}, err
		}
	}
	return probeGeneric(s, serverFirstPorts[usual])
}

// probeGeneric waits for a banner; without one it tries TLS, then HTTP.
func probeGeneric(s *session, serverFirst bool) (Info, error) {
	c, err := s.dial()
	if err != nil {
		return Info{}, err
	}
	defer c.Close()
	wait := min(bannerWait, s.remaining()/4)
	if serverFirst {
		wait = s.remaining()
	}
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(wait))
	n, rerr := c.Read(buf)
	s.resetDeadline(c)
	if n > 0 {
		return classifyBanner(s, c, buf[:n])
	}
	if rerr != nil && !isTimeout(rerr) {
		// The server closed or reset without a word.
		return Info{}, ErrUnknownService
	}
	if s.ctx.Err() != nil {
		return Info{}, s.ctx.Err()
	}
	// Silence: try a TLS handshake on this connection.
	if info, err := tlsThenApp(s, c, 0); err == nil {
		return info, nil
	}
	if s.ctx.Err() != nil {
		return Info{}, s.ctx.Err()
	}
	if info, err := probeHTTP(s); err == nil {
		return info, nil
	}
	if s.ctx.Err() != nil {
		return Info{}, s.ctx.Err()
	}
	return Info{Service: "unknown"}, ErrUnknownService
}

// classifyBanner recognises a server-first protocol from its first bytes.
func classifyBanner(s *session, c net.Conn, first []byte) (Info, error) {
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(first), io.LimitReader(c, maxRead)), 1024)
	switch {
	case bytes.HasPrefix(first, []byte("SSH-")):
		return readSSH(r)
	case looksLikeMySQL(first):
		return readMySQL(r)
	case bytes.HasPrefix(first, []byte("220")):
		line := string(first)
		if containsFold(line, "FTP") && !containsFold(line, "SMTP") {
			return readFTP(c, r)
		}
		if containsFold(line, "SMTP") || containsFold(line, "mail") || s.port == 25 || s.port == 587 {
			return readSMTP(c, r)
		}
		if s.port == 21 {
			return readFTP(c, r)
		}
		// Ambiguous 220 greeting: SMTP answers EHLO with 250, FTP with 500.
		return readSMTP(c, r)
	case bytes.HasPrefix(first, []byte("+OK")):
		return Info{Service: "pop3", Banner: bannerLine(first)}, nil
	case bytes.HasPrefix(first, []byte("* OK")):
		return Info{Service: "imap", Banner: bannerLine(first)}, nil
	case bytes.HasPrefix(first, []byte("HTTP/")):
		return Info{Service: "http", Banner: bannerLine(first)}, nil
	}
	return Info{Service: "unknown", Banner: bannerLine(first)}, ErrUnknownService
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// bannerLine returns the first non-empty printable line of b, at most
// maxBanner bytes; control bytes become '.'.
func bannerLine(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		return printable(line, maxBanner)
	}
	return ""
}

// printable replaces control characters and invalid UTF-8 with '.' and
// truncates to max bytes (on a rune boundary).
func printable(s string, max int) string {
	var sb strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = '.'
		}
		if sb.Len()+utf8.RuneLen(r) > max {
			break
		}
		sb.WriteRune(r)
	}
	return strings.TrimSpace(sb.String())
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// readLine reads one line (without CR LF) of at most max bytes; longer
// lines are truncated and the rest discarded.
func readLine(r *bufio.Reader, max int) (string, error) {
	var out []byte
	for {
		part, isPrefix, err := r.ReadLine()
		if len(out) < max {
			out = append(out, part[:min(len(part), max-len(out))]...)
		}
		if err != nil {
			if len(out) > 0 && err == io.EOF {
				return string(out), nil
			}
			return string(out), err
		}
		if !isPrefix {
			return string(out), nil
		}
	}
}

// splitProductVersion splits "nginx/1.22.1" or "OpenSSH_9.2p1" at the
// first sep.
func splitProductVersion(s string, sep byte) (string, string) {
	if i := strings.IndexByte(s, sep); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func itoa(n int) string { return strconv.Itoa(n) }

// IdentifyUDP probes UDP services: DNS (port 53: a CHAOS TXT version.bind
// query and a plain query), SNMP (161: v2c GetRequest for sysDescr.0 with
// community "public") and the SQL Server Resolution Protocol (1434:
// CLNT_UCAST_EX). On other ports it tries the three in turn. Each request
// is sent up to retries+1 times and timeout bounds the wait for each
// attempt (default 2s when <= 0). answered reports whether anything came
// back (Info is empty when no probe recognised it); ErrUDPClosed means
// ICMP port unreachable.
func IdentifyUDP(ctx context.Context, addr netip.AddrPort, timeout time.Duration, retries int) (Info, bool, error) {
	return identifyUDP(ctx, addr, addr.Port(), timeout, retries)
}

func identifyUDP(ctx context.Context, addr netip.AddrPort, usual uint16, timeout time.Duration, retries int) (Info, bool, error) {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	retries = max(0, min(retries, 10))
	u := &udpSession{ctx: ctx, addr: addr, timeout: timeout, retries: retries}
	var probes []func(*udpSession) (Info, bool, error)
	switch usual {
	case 53:
		probes = append(probes, probeDNS)
	case 161:
		probes = append(probes, probeSNMP)
	case 1434:
		probes = append(probes, probeSSRP)
	default:
		probes = append(probes, probeDNS, probeSNMP, probeSSRP)
	}
	var lastErr error
	for _, p := range probes {
		info, ok, err := p(u)
		if ok {
			return info, true, nil
		}
		if errors.Is(err, ErrUDPClosed) || ctx.Err() != nil {
			return Info{}, false, err
		}
		if u.answered {
			// An answer is an open port, as nmap counts it, even one no probe understood;
			// the other probes would only wait for more.
			return Info{}, true, nil
		}
		lastErr = err
	}
	return Info{}, false, lastErr
}

// udpSession is one IdentifyUDP call's target and limits.
type udpSession struct {
	ctx     context.Context
	addr    netip.AddrPort
	timeout time.Duration
	retries int
	// answered is set when a datagram came back that no probe recognised: the port is
	// open, its service unknown.
	answered bool
}

const maxUDP = 16 << 10

// exchange sends req up to retries+1 times on a connected UDP socket and
// returns the first datagram accept likes. A nil, nil result means no
// acceptable answer.
func (u *udpSession) exchange(req []byte, retries int, accept func([]byte) bool) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(u.ctx, "udp", u.addr.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(u.ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, maxUDP)
	for range retries + 1 {
		if u.ctx.Err() != nil {
			return nil, u.ctx.Err()
		}
		dl := time.Now().Add(u.timeout)
		if cdl, ok := u.ctx.Deadline(); ok && cdl.Before(dl) {
			dl = cdl
		}
		c.SetDeadline(dl)
		if _, err := c.Write(req); err != nil {
			if isConnRefused(err) {
				return nil, ErrUDPClosed
			}
			return nil, err
		}
		for {
			n, err := c.Read(buf)
			if err != nil {
				if isConnRefused(err) {
					return nil, ErrUDPClosed
				}
				if isTimeout(err) {
					break
				}
				return nil, err
			}
			if accept(buf[:n]) {
				return append([]byte(nil), buf[:n]...), nil
			}
			// Something listens, though it does not speak what this probe asked: waiting
			// for more would only cost the timeout.
			u.answered = true
			return nil, nil
		}
	}
	if u.ctx.Err() != nil {
		return nil, u.ctx.Err()
	}
	return nil, nil
}
