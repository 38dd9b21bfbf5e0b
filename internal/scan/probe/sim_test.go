package probe

// Simulations: small servers written in this file from the protocols'
// published descriptions (SMTP, FTP, MySQL, SMB2/SMB1, RDP/X.224, TDS,
// DNS, SNMP) plus net/http/httptest servers and this package's own SQL
// Server Resolution Protocol responder, all on real loopback sockets.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const testTimeout = 5 * time.Second

// fakeTCP serves handle on 127.0.0.1:0 until the test ends.
func fakeTCP(t *testing.T, handle func(c net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// fakeUDP answers datagrams on 127.0.0.1:0 with respond (nil: no answer).
func fakeUDP(t *testing.T, respond func([]byte) []byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if resp := respond(append([]byte(nil), buf[:n]...)); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	})
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func selfSignedCert(t *testing.T, name string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: name, Organization: []string{"patchday test"}},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, cert
}

func TestHTTPSimulated(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "nginx/1.22.1") // a simulated nginx header
		w.Header().Set("X-Powered-By", "PHP/8.2.7")
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	for _, port := range []uint16{80, addr.Port()} { // as port 80 and by fallback (silence, TLS fails, HTTP)
		info, err := identifyTCP(ctxT(t), addr, port, testTimeout)
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		if info.Service != "http" || info.Product != "nginx" || info.Version != "1.22.1" || info.Details["status"] != "403" ||
			info.Details["powered_by"] != "PHP/8.2.7" || info.TLS != nil || !strings.HasPrefix(info.Banner, "HTTP/1.") {
			t.Errorf("port %d: %+v", port, info)
		}
	}
}

func TestHTTPSSelfSigned(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "Apache/2.4.57 (Debian)")
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	leaf := srv.Certificate()
	for _, port := range []uint16{443, addr.Port()} {
		info, err := identifyTCP(ctxT(t), addr, port, testTimeout)
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		if info.Service != "https" || info.Product != "Apache" || info.Version != "2.4.57" || info.TLS == nil {
			t.Fatalf("port %d: %+v", port, info)
		}
		ti := info.TLS
		if ti.Version != "TLS 1.3" || ti.CipherSuite == "" || !ti.SelfSigned || ti.Subject != leaf.Subject.String() ||
			ti.Issuer != leaf.Issuer.String() || !ti.NotAfter.Equal(leaf.NotAfter) || len(ti.DNSNames) == 0 {
			t.Errorf("port %d: TLS %+v", port, ti)
		}
	}
	// TLS 1.2 only: the version and a 1.2 suite are reported.
	srv12 := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv12.TLS = &tls.Config{MaxVersion: tls.VersionTLS12}
	srv12.StartTLS()
	defer srv12.Close()
	info, err := IdentifyTCP(ctxT(t), netip.MustParseAddrPort(srv12.Listener.Addr().String()), testTimeout)
	if err != nil || info.TLS == nil || info.TLS.Version != "TLS 1.2" || !strings.HasPrefix(info.TLS.CipherSuite, "TLS_ECDHE_") {
		t.Errorf("TLS 1.2: %+v %v", info.TLS, err)
	}
}

// smtpSim is a simulated SMTP server speaking RFC 5321 greeting/EHLO/QUIT.
func smtpSim(greeting string, exts ...string) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		io.WriteString(c, greeting)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "EHLO "):
				io.WriteString(c, "250-mx.example.test\r\n")
				for i, e := range exts {
					sep := "-"
					if i == len(exts)-1 {
						sep = " "
					}
					io.WriteString(c, "250"+sep+e+"\r\n")
				}
			case cmd == "QUIT":
				io.WriteString(c, "221 2.0.0 Bye\r\n")
				return
			default:
				io.WriteString(c, "500 5.5.2 Error: command not recognized\r\n")
			}
		}
	}
}

// ftpSim is a simulated FTP server (RFC 959 greeting and QUIT).
func ftpSim(greeting string) func(net.Conn) {
	return func(c net.Conn) {
		io.WriteString(c, greeting)
		line, _ := bufio.NewReader(c).ReadString('\n')
		if strings.HasPrefix(strings.ToUpper(line), "QUIT") {
			io.WriteString(c, "221 Goodbye.\r\n")
		} else {
			io.WriteString(c, "500 Unknown command.\r\n")
		}
	}
}

func TestSMTPAndFTPSimulated(t *testing.T) {
	tests := []struct {
		name                      string
		handle                    func(net.Conn)
		port                      uint16
		service, product, version string
		starttls                  string
	}{
		{"postfix", smtpSim("220 mx.example.test ESMTP Postfix (Debian/GNU)\r\n", "PIPELINING", "SIZE 10240000", "STARTTLS", "8BITMIME"), 0, "smtp", "Postfix", "", "yes"},
		{"exim multi-line", smtpSim("220-mx.example.test ESMTP Exim 4.96 Mon, 01 Jan 2024 00:00:00 +0000\r\n220 Unsolicited bulk mail prohibited\r\n", "SIZE 52428800", "8BITMIME"), 0, "smtp", "Exim", "4.96", "no"},
		{"bare 220 on 25", smtpSim("220 gateway\r\n", "STARTTLS"), 25, "smtp", "", "", "yes"},
		{"vsftpd", ftpSim("220 (vsFTPd 3.0.3)\r\n"), 0, "ftp", "vsftpd", "3.0.3", ""},
		{"proftpd", ftpSim("220 ProFTPD 1.3.8 Server (Debian) [::ffff:127.0.0.1]\r\n"), 0, "ftp", "ProFTPD", "1.3.8", ""},
		{"pure-ftpd multi-line", ftpSim("220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n220-You are user number 1 of 50 allowed.\r\n220 This is a private system.\r\n"), 21, "ftp", "Pure-FTPd", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeTCP(t, tt.handle)
			port := tt.port
			if port == 0 {
				port = addr.Port()
			}
			info, err := identifyTCP(ctxT(t), addr, port, testTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if info.Service != tt.service || info.Product != tt.product || info.Version != tt.version ||
				info.Details["starttls"] != tt.starttls || !strings.HasPrefix(info.Banner, "220") {
				t.Errorf("%+v", info)
			}
		})
	}
}

// mysqlHandshake builds a HandshakeV10 packet as the MySQL client/server
// protocol documentation describes it (simulation).
func mysqlHandshake(version string) []byte {
	p := []byte{0x0a}
	p = append(p, version...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 77)                // connection id
	p = append(p, "abcdefgh"...)                               // auth-plugin-data-part-1
	p = append(p, 0)                                           // filler
	caps := uint32(0x0008_0000 | 0x8000 | 0x800 | 0x200 | 0x1) // PLUGIN_AUTH, SECURE_CONNECTION, SSL, PROTOCOL_41, LONG_PASSWORD
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 0xff)                             // character set
	p = binary.LittleEndian.AppendUint16(p, 0x0002) // status: autocommit
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)                  // auth plugin data length
	p = append(p, make([]byte, 10)...) // reserved
	p = append(p, "ijklmnopqrst\x00"...)
	p = append(p, "caching_sha2_password\x00"...)
	hdr := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), 0}
	return append(hdr, p...)
}

func TestMySQLSimulated(t *testing.T) {
	errPkt := func() []byte {
		p := []byte{0xff, 0x6a, 0x04}
		p = append(p, "Host '10.0.0.9' is not allowed to connect to this MySQL server"...)
		return append([]byte{byte(len(p)), 0, 0, 0}, p...)
	}()
	tests := []struct {
		name, product, version string
		pkt                    []byte
	}{
		{"mysql", "MySQL", "8.0.36", mysqlHandshake("8.0.36-0+deb12u1")},
		{"mariadb", "MariaDB", "10.11.6", mysqlHandshake("5.5.5-10.11.6-MariaDB-0+deb12u1")},
		{"error packet", "", "", errPkt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeTCP(t, func(c net.Conn) { c.Write(tt.pkt); io.Copy(io.Discard, c) })
			info, err := IdentifyTCP(ctxT(t), addr, testTimeout)
			if err != nil || info.Service != "mysql" || info.Product != tt.product || info.Version != tt.version {
				t.Errorf("%+v %v", info, err)
			}
			if tt.product != "" && info.Details["ssl"] != "yes" {
				t.Errorf("ssl: %+v", info.Details)
			}
			if tt.product == "" && info.Details["error_code"] != "1130" {
				t.Errorf("error: %+v", info.Details)
			}
		})
	}
}

// smbSim simulates an SMB server's NEGOTIATE handling per [MS-SMB2]
// 3.3.5.3/3.3.5.4: it selects the highest offered dialect it supports
// (STATUS_NOT_SUPPORTED when none), and answers an SMB1 NEGOTIATE offering
// "NT LM 0.12" only when smb1 is true (otherwise it drops the connection,
// as Windows does with SMB1 disabled).
func smbSim(supported []uint16, smb1 bool, signingRequired bool) func(net.Conn) {
	return func(c net.Conn) {
		msg, err := readSMBFrame(c)
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(msg, []byte("\xfeSMB")) && len(msg) >= smb2HdrLen+36:
			body := msg[smb2HdrLen:]
			n := int(binary.LittleEndian.Uint16(body[2:4]))
			best := uint16(0)
			for i := 0; i < n && 36+2*i+2 <= len(body); i++ {
				d := binary.LittleEndian.Uint16(body[36+2*i:])
				for _, s := range supported {
					if d == s && d > best {
						best = d
					}
				}
			}
			resp := make([]byte, smb2HdrLen)
			copy(resp, msg[:smb2HdrLen])
			binary.LittleEndian.PutUint32(resp[16:20], 1) // Flags: SERVER_TO_REDIR
			binary.LittleEndian.PutUint16(resp[14:16], 1) // CreditResponse
			if best == 0 {
				binary.LittleEndian.PutUint32(resp[8:12], 0xC00000BB) // STATUS_NOT_SUPPORTED
				resp = append(resp, 9, 0, 0, 0, 0, 0, 0, 0, 0)        // ERROR response
			} else {
				b := make([]byte, 64)
				binary.LittleEndian.PutUint16(b[0:2], 65)
				sec := uint16(1)
				if signingRequired {
					sec |= 2
				}
				binary.LittleEndian.PutUint16(b[2:4], sec)
				binary.LittleEndian.PutUint16(b[4:6], best)
				copy(b[8:24], "0123456789abcdef")
				binary.LittleEndian.PutUint32(b[24:28], 0x7f)
				binary.LittleEndian.PutUint32(b[28:32], 8<<20)
				resp = append(resp, b...)
			}
			c.Write(smbFrame(resp))
		case bytes.HasPrefix(msg, []byte("\xffSMB")) && smb1:
			r := make([]byte, 32)
			copy(r, msg[:32])
			r[9] = 0x98                                // Flags: reply
			r = append(r, 17)                          // WordCount
			r = append(r, 0, 0)                        // DialectIndex 0: "NT LM 0.12"
			r = append(r, make([]byte, 32)...)         // rest of the 17 words
			r = binary.LittleEndian.AppendUint16(r, 0) // ByteCount
			c.Write(smbFrame(r))
		}
	}
}

func TestSMBSimulated(t *testing.T) {
	tests := []struct {
		name      string
		supported []uint16
		smb1      bool
		signing   bool
		dialect   string
		dialects  string
	}{
		{"modern, SMB1 off", []uint16{smb202, smb210, smb300, smb302, smb311}, false, false, "3.1.1", "2.0.2,2.1,3.0,3.0.2,3.1.1"},
		{"old, SMB1 on", []uint16{smb202, smb210}, true, true, "2.1", "2.0.2,2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeTCP(t, smbSim(tt.supported, tt.smb1, tt.signing))
			info, err := identifyTCP(ctxT(t), addr, 445, testTimeout)
			if err != nil {
				t.Fatal(err)
			}
			wantSMB1 := map[bool]string{true: "yes", false: "no"}[tt.smb1]
			wantSigning := map[bool]string{true: "required", false: "enabled"}[tt.signing]
			if info.Service != "smb" || info.Details["dialect"] != tt.dialect || info.Details["dialects"] != tt.dialects ||
				info.Details["smbv1"] != wantSMB1 || info.Details["signing"] != wantSigning {
				t.Errorf("%+v", info)
			}
		})
	}
}

// rdpSim simulates an RDP listener's X.224 Connection Confirm
// ([MS-RDPBCGR] 2.2.1.2): it selects TLS, or fails with a code; after
// selecting TLS it handshakes TLS with a self-signed certificate.
func rdpSim(t *testing.T, failure uint32) func(net.Conn) {
	cert, _ := selfSignedCert(t, "WIN-RDP01")
	return func(c net.Conn) {
		hdr := make([]byte, 4)
		if _, err := io.ReadFull(c, hdr); err != nil || hdr[0] != 3 {
			return
		}
		rest := make([]byte, int(binary.BigEndian.Uint16(hdr[2:4]))-4)
		if _, err := io.ReadFull(c, rest); err != nil || rest[1] != x224CR {
			return
		}
		neg := rest[len(rest)-8:]
		if neg[0] != rdpNegReq || binary.LittleEndian.Uint32(neg[4:8])&rdpProtoSSL == 0 {
			return
		}
		out := []byte{3, 0, 0, 19, 14, x224CC, 0, 0, 0x12, 0x34, 0}
		if failure != 0 {
			out = append(out, rdpNegFailure, 0, 8, 0)
			out = binary.LittleEndian.AppendUint32(out, failure)
			c.Write(out)
			return
		}
		out = append(out, rdpNegRsp, 0x1f, 8, 0)
		out = binary.LittleEndian.AppendUint32(out, rdpProtoSSL)
		c.Write(out)
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		tc.Handshake()
		io.Copy(io.Discard, tc)
	}
}

func TestRDPSimulated(t *testing.T) {
	addr := fakeTCP(t, rdpSim(t, 0))
	info, err := identifyTCP(ctxT(t), addr, 3389, testTimeout)
	if err != nil || info.Service != "rdp" || info.Details["selected_protocol"] != "TLS" || info.TLS == nil ||
		!info.TLS.SelfSigned || !strings.Contains(info.TLS.Subject, "WIN-RDP01") {
		t.Errorf("TLS: %+v %v", info, err)
	}
	addr = fakeTCP(t, rdpSim(t, 5))
	info, err = identifyTCP(ctxT(t), addr, 3389, testTimeout)
	if err != nil || info.Service != "rdp" || info.Details["negotiation_failure"] != "HYBRID_REQUIRED_BY_SERVER" {
		t.Errorf("failure: %+v %v", info, err)
	}
}

// tdsSim simulates a SQL Server PRELOGIN response ([MS-TDS] 2.2.6.5).
func tdsSim(c net.Conn) {
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(c, hdr); err != nil || hdr[0] != 0x12 {
		return
	}
	io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint16(hdr[2:4]))-8)
	payload := []byte{0x00, 0, 11, 0, 6, 0x01, 0, 17, 0, 1, 0xff, 16, 0, 0x03, 0xe8, 0, 0, 0x02}
	pkt := []byte{0x04, 0x01, 0, byte(8 + len(payload)), 0, 0, 1, 0}
	c.Write(append(pkt, payload...))
}

func TestMSSQLTDSSimulated(t *testing.T) {
	addr := fakeTCP(t, tdsSim)
	info, err := identifyTCP(ctxT(t), addr, 1433, testTimeout)
	if err != nil || info.Service != "mssql" || info.Version != "16.0.1000" || info.Details["encryption"] != "not supported" {
		t.Errorf("%+v %v", info, err)
	}
}

func TestSilentAndUnknownTCP(t *testing.T) {
	// A server that says nothing and answers nothing: unknown, on time.
	addr := fakeTCP(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	start := time.Now()
	_, err := IdentifyTCP(ctxT(t), addr, 3*time.Second)
	if err == nil || time.Since(start) > 4*time.Second {
		t.Errorf("silent: err %v after %v", err, time.Since(start))
	}
	// Garbage banner: unknown with the banner kept.
	addr = fakeTCP(t, func(c net.Conn) { c.Write([]byte("\x00\x01hello there\r\n")); io.Copy(io.Discard, c) })
	info, err := IdentifyTCP(ctxT(t), addr, testTimeout)
	if !errors.Is(err, ErrUnknownService) || info.Banner != "..hello there" {
		t.Errorf("garbage: %+v %v", info, err)
	}
	// A cancelled context stops the probe at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	addr = fakeTCP(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	start = time.Now()
	if _, err := IdentifyTCP(ctx, addr, 20*time.Second); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("cancel: %v after %v", err, time.Since(start))
	}
}

// dnsVersionAnswer is a simulated answer to CHAOS TXT version.bind.
func dnsVersionAnswer(t *testing.T) []byte {
	q := dnsQuery(0x1234, "version.bind", dnsTypeTXT, dnsClassCH, false)
	return dnsSimAnswer(q, "dnsmasq-2.89", false)
}

// dnsSimAnswer answers a query (RFC 1035 4.1): TXT for version.bind in
// class CHAOS, an empty NOERROR otherwise; ra sets Recursion Available.
func dnsSimAnswer(q []byte, version string, ra bool) []byte {
	if len(q) < dnsHdrLen+5 {
		return nil
	}
	end, err := dnsSkipName(q, dnsHdrLen)
	if err != nil || end+4 > len(q) {
		return nil
	}
	question := q[dnsHdrLen : end+4]
	qtype := binary.BigEndian.Uint16(q[end:])
	qclass := binary.BigEndian.Uint16(q[end+2:])
	resp := append([]byte(nil), q[:dnsHdrLen]...)
	flags := uint16(0x8000) | binary.BigEndian.Uint16(q[2:4])&0x0100
	if ra {
		flags |= 0x0080
	}
	binary.BigEndian.PutUint16(resp[2:4], flags)
	binary.BigEndian.PutUint16(resp[8:10], 0)
	binary.BigEndian.PutUint16(resp[10:12], 0)
	resp = append(resp, question...)
	if qtype == dnsTypeTXT && qclass == dnsClassCH && bytes.Equal(question[:14], []byte("\x07version\x04bind\x00")) {
		binary.BigEndian.PutUint16(resp[6:8], 1)
		resp = append(resp, 0xC0, 0x0C, 0, dnsTypeTXT, 0, dnsClassCH, 0, 0, 0, 0)
		resp = binary.BigEndian.AppendUint16(resp, uint16(1+len(version)))
		resp = append(resp, byte(len(version)))
		resp = append(resp, version...)
	} else {
		binary.BigEndian.PutUint16(resp[6:8], 0)
	}
	return resp
}

func TestDNSSimulated(t *testing.T) {
	addr := fakeUDP(t, func(q []byte) []byte { return dnsSimAnswer(q, "dnsmasq-2.89", true) })
	info, ok, err := identifyUDP(ctxT(t), addr, 53, time.Second, 1)
	if err != nil || !ok || info.Service != "dns" || info.Product != "dnsmasq" || info.Version != "2.89" ||
		info.Details["recursion"] != "yes" || info.Banner != "dnsmasq-2.89" {
		t.Errorf("%+v %v %v", info, ok, err)
	}
	// Loses the first datagram of each kind: the retry gets through.
	var mu sync.Mutex
	seen := map[uint16]bool{}
	addr = fakeUDP(t, func(q []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		if len(q) > 2 && !seen[binary.BigEndian.Uint16(q[:2])] {
			seen[binary.BigEndian.Uint16(q[:2])] = true
			return nil
		}
		return dnsSimAnswer(q, "9.18.24-1-Debian", false)
	})
	info, ok, err = identifyUDP(ctxT(t), addr, 53, 300*time.Millisecond, 2)
	if err != nil || !ok || info.Product != "BIND" || info.Version != "9.18.24" {
		t.Errorf("retry: %+v %v %v", info, ok, err)
	}
}

// snmpSim simulates an SNMP agent (RFC 3416) answering GetRequest for
// sysDescr.0 when the community is "public".
func snmpSim(descr string) func([]byte) []byte {
	return func(b []byte) []byte {
		m, err := parseSNMPMessage(b)
		if err != nil || m.PDU != snmpGet || m.Community != "public" {
			return nil
		}
		resp := snmpMessage{Version: m.Version, Community: m.Community, PDU: snmpResponse, RequestID: m.RequestID}
		for _, vb := range m.VarBinds {
			if oidString(vb.OID) == oidString(sysDescr0) {
				resp.VarBinds = append(resp.VarBinds, snmpVarBind{OID: vb.OID, Tag: berOctetString, Value: []byte(descr)})
			} else {
				resp.VarBinds = append(resp.VarBinds, snmpVarBind{OID: vb.OID, Tag: snmpNoSuchObj})
			}
		}
		return resp.encode()
	}
}

func TestSNMPSimulated(t *testing.T) {
	descr := "Linux sim-router 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 x86_64"
	addr := fakeUDP(t, snmpSim(descr))
	info, ok, err := identifyUDP(ctxT(t), addr, 161, time.Second, 1)
	if err != nil || !ok || info.Service != "snmp" || info.Details["sysdescr"] != descr || info.Details["community"] != "public" {
		t.Errorf("%+v %v %v", info, ok, err)
	}
}

func TestSSRPResponderOnUDP(t *testing.T) {
	r := &SQLBrowserResponder{Instances: []SQLInstance{
		{ServerName: "DB1", InstanceName: "MSSQLSERVER", Version: "15.0.2000.5", TCPPort: 1433, NamedPipe: `\\DB1\pipe\sql\query`},
		{ServerName: "DB1", InstanceName: "SQLEXPRESS", Version: "16.0.1000.6", TCPPort: 49712},
	}}
	// Prefer the real port 1434 on loopback (root, port free); otherwise an
	// ephemeral port probed as 1434.
	pc, err := net.ListenPacket("udp", "127.0.0.1:1434")
	if err != nil {
		t.Logf("UDP 127.0.0.1:1434 unavailable (%v); using an ephemeral port", err)
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- r.Serve(pc) }()
	defer func() {
		pc.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	addr := netip.MustParseAddrPort(pc.LocalAddr().String())
	info, ok, err := identifyUDP(ctxT(t), addr, 1434, time.Second, 1)
	if err != nil || !ok {
		t.Fatalf("%v %v", ok, err)
	}
	if info.Service != "mssql" || info.Product != "Microsoft SQL Server" || info.Version != "15.0.2000.5" ||
		info.Details["instance_count"] != "2" || info.Details["instance.1.name"] != "SQLEXPRESS" ||
		info.Details["instance.1.version"] != "16.0.1000.6" || info.Details["instance.1.tcp_port"] != "49712" ||
		info.Details["instance.0.tcp_port"] != "1433" || info.Details["instance.0.named_pipe"] != `\\DB1\pipe\sql\query` {
		t.Errorf("%+v", info)
	}
	insts, err := QuerySQLBrowser(ctxT(t), addr, time.Second, 0)
	if err != nil || len(insts) != 2 || insts[1].TCPPort != 49712 {
		t.Errorf("QuerySQLBrowser: %+v %v", insts, err)
	}
	// CLNT_UCAST_INST and a Slammer-shaped request over the socket.
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write(append([]byte{0x04}, bytes.Repeat([]byte{0x01}, 375)...)) // ignored
	c.Write(append([]byte{0x04}, "SQLEXPRESS\x00"...))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	one, err := ParseSSRPResponse(buf[:n])
	if err != nil || len(one) != 1 || one[0].InstanceName != "SQLEXPRESS" {
		t.Errorf("CLNT_UCAST_INST: %+v %v", one, err)
	}
}

func TestSSRPMalformedOverUDP(t *testing.T) {
	// A simulated responder that answers with broken SVR_RESP messages.
	bad := [][]byte{{0x05}, {0x05, 0xff, 0xff, 'x'}, append([]byte{0x05, 5, 0}, ";;;;;"...), {0x05, 0, 0}}
	var mu sync.Mutex
	i := 0
	addr := fakeUDP(t, func([]byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		i++
		return bad[i%len(bad)]
	})
	info, ok, _ := identifyUDP(ctxT(t), addr, 1434, 200*time.Millisecond, 3)
	if info.Service != "" || info.Product != "" || len(info.Details) > 0 {
		t.Errorf("malformed answers counted as SQL Server: %+v", info)
	}
	if !ok {
		t.Error("a port that answers was not counted as open (its service unknown)")
	}
}

// A UDP service that answers what no probe speaks (an echo) is open, its service unknown,
// and found without waiting for the other probes' timeouts.
func TestUDPUnknownServiceIsOpen(t *testing.T) {
	addr := fakeUDP(t, func(req []byte) []byte { return req }) // echo
	start := time.Now()
	info, ok, err := identifyUDP(ctxT(t), addr, addr.Port(), 2*time.Second, 1)
	if !ok || err != nil || info.Service != "" {
		t.Errorf("echo service: ok %v, info %+v, err %v", ok, info, err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("took %v: it waited for a probe's timeout", d)
	}
}

func TestUDPClosedAndSilent(t *testing.T) {
	// A UDP socket connected to another port holds a closed one: it takes
	// datagrams from its peer only, so the probes get ICMP port unreachable,
	// and no other test or process can bind the port meanwhile.
	hold, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:9")))
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	addr := hold.LocalAddr().(*net.UDPAddr).AddrPort()
	// The ICMP error comes at once: a long timeout only matters on failure.
	start := time.Now()
	_, ok, err := IdentifyUDP(ctxT(t), addr, 3*time.Second, 1)
	if ok || !errors.Is(err, ErrUDPClosed) || time.Since(start) > 2*time.Second {
		t.Errorf("closed port: ok %v err %v after %v", ok, err, time.Since(start))
	}
	silent := fakeUDP(t, func([]byte) []byte { return nil })
	start = time.Now()
	_, ok, err = IdentifyUDP(ctxT(t), silent, 100*time.Millisecond, 1)
	if ok || err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("silent port: ok %v err %v after %v", ok, err, time.Since(start))
	}
}

// TestNoGoroutineLeak runs probes against simulations (including silent
// and cancelled ones) and checks every goroutine is gone afterwards.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("probes", func(t *testing.T) {
		silent := fakeTCP(t, func(c net.Conn) { io.Copy(io.Discard, c) })
		smb := fakeTCP(t, smbSim([]uint16{smb210}, true, false))
		smtp := fakeTCP(t, smtpSim("220 x ESMTP Postfix\r\n", "STARTTLS"))
		udp := fakeUDP(t, snmpSim("x"))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		IdentifyTCP(ctx, silent, 10*time.Second)
		IdentifyTCP(context.Background(), silent, time.Second)
		identifyTCP(context.Background(), smb, 445, time.Second)
		IdentifyTCP(context.Background(), smtp, time.Second)
		IdentifyUDP(context.Background(), udp, 100*time.Millisecond, 1)
		identifyUDP(context.Background(), udp, 161, 100*time.Millisecond, 1)
	})
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
