package probe

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
)

// probeHTTP sends "GET / HTTP/1.0" on a new connection.
func probeHTTP(s *session) (Info, error) {
	c, err := s.dial()
	if err != nil {
		return Info{}, err
	}
	defer c.Close()
	return httpOver(s, c, "http")
}

// probeHTTPS handshakes TLS on a new connection, then speaks HTTP.
func probeHTTPS(s *session) (Info, error) {
	c, err := s.dial()
	if err != nil {
		return Info{}, err
	}
	defer c.Close()
	return tlsThenApp(s, c, 0)
}

// tlsThenApp handshakes TLS over c and identifies what runs inside:
// SMTP when port is 465, otherwise HTTP. When the inner protocol is not
// recognised the result is Service "tls" with the TLS details.
func tlsThenApp(s *session, c net.Conn, port uint16) (Info, error) {
	tc, ti, err := tlsHandshake(s, c, "http/1.1")
	if err != nil {
		return Info{}, err
	}
	var info Info
	if port == 465 {
		info, err = readSMTP(tc, bufio.NewReaderSize(io.LimitReader(tc, maxRead), 1024))
	} else {
		info, err = httpOver(s, tc, "https")
	}
	if err != nil {
		info = Info{Service: "tls"}
	}
	info.TLS = ti
	return info, nil
}

// httpOver sends "GET / HTTP/1.0" and parses the status line and headers.
func httpOver(s *session, c net.Conn, service string) (Info, error) {
	host := s.addr.String()
	req := "GET / HTTP/1.0\r\nHost: " + host + "\r\nUser-Agent: patchday-scan\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return Info{}, err
	}
	br := bufio.NewReaderSize(io.LimitReader(c, maxRead), 4096)
	peek, _ := br.Peek(5)
	if string(peek) != "HTTP/" {
		return Info{}, errMismatch
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return Info{}, err
	}
	resp.Body.Close()
	info := Info{Service: service}
	info.Banner = printable(resp.Proto+" "+resp.Status, maxBanner)
	info.set("status", itoa(resp.StatusCode))
	if sv := resp.Header.Get("Server"); sv != "" {
		sv = printable(sv, maxBanner)
		info.set("server", sv)
		info.Product, info.Version = parseServerHeader(sv)
	}
	if pb := resp.Header.Get("X-Powered-By"); pb != "" {
		info.set("powered_by", printable(pb, maxBanner))
	}
	return info, nil
}

// parseServerHeader takes the first product token of a Server header:
// "Apache/2.4.57 (Debian) OpenSSL/3.0.11" -> Apache, 2.4.57.
func parseServerHeader(sv string) (string, string) {
	first, _, _ := strings.Cut(strings.TrimSpace(sv), " ")
	return splitProductVersion(first, '/')
}
