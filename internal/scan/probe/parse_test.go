package probe

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSSHIdent(t *testing.T) {
	tests := []struct {
		line, product, version, comments string
	}{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "OpenSSH", "9.2p1", "Debian-2+deb12u3"},
		{"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6", "OpenSSH", "8.9p1", "Ubuntu-3ubuntu0.6"},
		{"SSH-2.0-dropbear_2022.83", "Dropbear", "2022.83", ""},
		{"SSH-1.99-Cisco-1.25", "Cisco-1.25", "", ""},
		{"SSH-2.0-\x01\x02weird", "..weird", "", ""},
	}
	for _, tt := range tests {
		info := parseSSHIdent(tt.line)
		if info.Service != "ssh" || info.Product != tt.product || info.Version != tt.version || info.Details["comments"] != tt.comments {
			t.Errorf("%q: got %+v", tt.line, info)
		}
	}
}

func TestProductParsers(t *testing.T) {
	tests := []struct {
		name     string
		f        func(string) (string, string)
		in, p, v string
	}{
		{"server", parseServerHeader, "nginx/1.22.1", "nginx", "1.22.1"},
		{"server", parseServerHeader, "Apache/2.4.57 (Debian) OpenSSL/3.0.11", "Apache", "2.4.57"},
		{"server", parseServerHeader, "Microsoft-IIS/10.0", "Microsoft-IIS", "10.0"},
		{"server", parseServerHeader, "cloudflare", "cloudflare", ""},
		{"smtp", smtpProduct, "220 mx.example.test ESMTP Postfix (Debian/GNU)", "Postfix", ""},
		{"smtp", smtpProduct, "220 mx.example.test ESMTP Exim 4.96 Mon, 01 Jan 2024", "Exim", "4.96"},
		{"smtp", smtpProduct, "220 mx.example.test ESMTP OpenSMTPD", "OpenSMTPD", ""},
		{"smtp", smtpProduct, "220 EX01.corp.test Microsoft ESMTP MAIL Service ready at Mon", "Microsoft ESMTP", ""},
		{"smtp", smtpProduct, "220 h.test ESMTP Sendmail 8.17.1.9/8.17.1.9; Mon", "Sendmail", "8.17.1.9"},
		{"ftp", ftpProduct, "220 (vsFTPd 3.0.3)", "vsftpd", "3.0.3"},
		{"ftp", ftpProduct, "220 ProFTPD 1.3.8 Server (Debian) [::ffff:10.0.0.1]", "ProFTPD", "1.3.8"},
		{"ftp", ftpProduct, "220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------", "Pure-FTPd", ""},
		{"ftp", ftpProduct, "220 Microsoft FTP Service", "Microsoft FTP Service", ""},
		{"mysql", mysqlProduct, "8.0.36", "MySQL", "8.0.36"},
		{"mysql", mysqlProduct, "8.0.36-0ubuntu0.22.04.1", "MySQL", "8.0.36"},
		{"mysql", mysqlProduct, "5.5.5-10.11.6-MariaDB-0+deb12u1", "MariaDB", "10.11.6"},
		{"dns", dnsProduct, "dnsmasq-2.89", "dnsmasq", "2.89"},
		{"dns", dnsProduct, "unbound 1.17.1", "Unbound", "1.17.1"},
		{"dns", dnsProduct, "PowerDNS Recursor 4.8.4", "PowerDNS", "4.8.4"},
		{"dns", dnsProduct, "9.18.24-1-Debian", "BIND", "9.18.24"},
		{"dns", dnsProduct, "none of your business", "", ""},
	}
	for _, tt := range tests {
		p, v := tt.f(tt.in)
		if p != tt.p || v != tt.v {
			t.Errorf("%s(%q) = %q, %q; want %q, %q", tt.name, tt.in, p, v, tt.p, tt.v)
		}
	}
}

func TestBannerLine(t *testing.T) {
	long := strings.Repeat("x", 400)
	tests := map[string]string{
		"\r\n\r\n220 hello\r\n221 bye": "220 hello",
		"a\x00b\x1bc":                  "a.b.c",
		long:                           long[:maxBanner],
		"\xff\xfe ok":                  ".. ok",
	}
	for in, want := range tests {
		if got := bannerLine([]byte(in)); got != want {
			t.Errorf("bannerLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBERRoundTrip encodes and decodes integers, lengths and OIDs.
func TestBERRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, -1, -128, -129, 1 << 31, -(1 << 40), 1<<63 - 1, -1 << 63} {
		enc := berTLV(berInteger, berIntContent(v))
		tag, c, rest, err := berRead(enc)
		if err != nil || tag != berInteger || len(rest) != 0 {
			t.Fatalf("%d: %v", v, err)
		}
		got, err := berParseInt(c)
		if err != nil || got != v {
			t.Errorf("int %d: got %d, %v (enc %x)", v, got, err, enc)
		}
	}
	for _, n := range []int{0, 1, 127, 128, 255, 256, 1000, 70000} {
		val := bytes.Repeat([]byte{'a'}, n)
		_, c, _, err := berRead(berTLV(berOctetString, val))
		if err != nil || !bytes.Equal(c, val) {
			t.Errorf("length %d: %v", n, err)
		}
	}
	for _, oid := range [][]uint32{sysDescr0, {1, 3, 6, 1, 4, 1, 311, 1, 1, 3, 1, 2}, {2, 999, 3}, {0, 0}, {1, 2, 4294967}} {
		got, err := berParseOID(berOIDContent(oid))
		if err != nil || !reflect.DeepEqual(got, oid) {
			t.Errorf("oid %v: got %v, %v", oid, got, err)
		}
	}
	m := snmpMessage{Version: snmpVersion2c, Community: "public", PDU: snmpResponse, RequestID: 123456,
		VarBinds: []snmpVarBind{{OID: sysDescr0, Tag: berOctetString, Value: []byte("Linux sim")}}}
	got, err := parseSNMPMessage(m.encode())
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("message round trip: %+v, %v", got, err)
	}
}

// TestSNMPRequestFixture compares the request with a GetRequest assembled
// by hand from RFC 3416 and X.690 (testdata, specification example).
func TestSNMPRequestFixture(t *testing.T) {
	want := readHex(t, "testdata/snmp_get_sysdescr_v2c.hex")
	got := snmpMessage{Version: snmpVersion2c, Community: "public", PDU: snmpGet, RequestID: 1,
		VarBinds: []snmpVarBind{{OID: sysDescr0}}}.encode()
	if !bytes.Equal(got, want) {
		t.Errorf("request\n got %x\nwant %x", got, want)
	}
}

func TestBERMalformed(t *testing.T) {
	bad := []string{"", "30", "3005", "308500000001", "3084ffffffff00", "1f0100", "3081", "300302"}
	for _, h := range bad {
		b, _ := hex.DecodeString(h)
		if _, err := parseSNMPMessage(b); err == nil {
			t.Errorf("%s: no error", h)
		}
	}
	valid := snmpMessage{Version: 1, Community: "public", PDU: snmpResponse, RequestID: 7,
		VarBinds: []snmpVarBind{{OID: sysDescr0, Tag: berOctetString, Value: []byte("x")}}}.encode()
	fuzzBytes(t, valid, func(b []byte) { parseSNMPMessage(b) })
}

func TestSMB2RequestFixture(t *testing.T) {
	want := readHex(t, "testdata/smb2_negotiate_request_302.hex")
	got := smb2NegotiateRequest([]uint16{smb202, smb210, smb300, smb302})
	clear(got[smb2HdrLen+12 : smb2HdrLen+28]) // ClientGuid is random
	if !bytes.Equal(got, want) {
		t.Errorf("request\n got %x\nwant %x", got, want)
	}
	// With 3.1.1 the negotiate contexts start 8-byte aligned.
	r := smb2NegotiateRequest(smbDialects)
	off := binary.LittleEndian.Uint32(r[smb2HdrLen+28:])
	if off%8 != 0 || binary.LittleEndian.Uint16(r[off:]) != 1 || binary.LittleEndian.Uint16(r[smb2HdrLen+32:]) != 2 {
		t.Errorf("negotiate contexts: offset %d in %x", off, r)
	}
}

func TestRDPConfirmParse(t *testing.T) {
	req := rdpConnectionRequest(rdpProtoSSL)
	if req[0] != 3 || int(binary.BigEndian.Uint16(req[2:4])) != len(req) || req[5] != x224CR || int(req[4]) != len(req)-5 {
		t.Fatalf("bad request %x", req)
	}
	tests := []struct {
		hex      string
		sel      uint32
		failure  string
		wantErr  bool
		negative bool
	}{
		{"030000130ed000001234000201080001000000", rdpProtoSSL, "", false, false},
		{"030000130ed000001234000300080005000000", 0, "HYBRID_REQUIRED_BY_SERVER", false, false},
		{"0300000b06d00000123400", rdpProtoRDP, "", false, false},
		{"0300000b06e00000123400", 0, "", true, false},
		{"03000013", 0, "", true, false},
		{"0300ffff0ed000001234000201080001000000", 0, "", true, false},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		sel, _, failure, _, err := parseRDPConfirm(b)
		if (err != nil) != tt.wantErr || sel != tt.sel || failure != tt.failure {
			t.Errorf("%s: sel %d failure %q err %v", tt.hex, sel, failure, err)
		}
	}
}

func TestSSRPParse(t *testing.T) {
	data, err := os.ReadFile("testdata/ssrp_svr_resp_example.txt")
	if err != nil {
		t.Fatal(err)
	}
	msg := ssrpSvrRespMsg(data)
	insts, err := ParseSSRPResponse(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := []SQLInstance{
		{ServerName: "ILSUNG1", InstanceName: "YUKONSTD", Version: "9.00.1399.06", TCPPort: 57137},
		{ServerName: "ILSUNG1", InstanceName: "YUKONDEV", Version: "9.00.1399.06", NamedPipe: `\\ILSUNG1\pipe\MSSQL$YUKONDEV\sql\query`},
		{ServerName: "ILSUNG1", InstanceName: "MSSQLSERVER", Version: "9.00.1399.06", TCPPort: 1433, NamedPipe: `\\ILSUNG1\pipe\sql\query`},
	}
	if !reflect.DeepEqual(insts, want) {
		t.Errorf("got %+v", insts)
	}
	// The responder renders records the parser reads back.
	r := &SQLBrowserResponder{Instances: append(want, SQLInstance{ServerName: "H", InstanceName: "C", IsClustered: true, Version: "16.0.1000.6", TCPPort: 1})}
	back, err := ParseSSRPResponse(r.Respond([]byte{ssrpClntUcastEx}))
	if err != nil || !reflect.DeepEqual(back, r.Instances) {
		t.Errorf("responder round trip: %+v, %v", back, err)
	}

	// Malformed and truncated messages: no panic, an error, and never more
	// than the complete records.
	bad := [][]byte{
		nil, {0x05}, {0x05, 0x00}, {0x05, 0, 0}, {0x04, 3, 0, 'a', 'b', 'c'},
		append([]byte{0x05, 0xff, 0xff}, "ServerName;A;InstanceName;B"...),
		append([]byte{0x05, 4, 0}, ";;;;"...),
		append([]byte{0x05, 40, 0}, "ServerName;A;InstanceName;B;tcp;99999;;"...),
		append([]byte{0x05, 12, 0}, "ServerName;A;InstanceName;B;;"...),
		append([]byte{0x05, 2, 0}, ";;"...),
		append([]byte{0x05, 10, 0}, strings.Repeat(";", 10)...),
	}
	for _, b := range bad {
		if insts, err := ParseSSRPResponse(b); err == nil {
			t.Errorf("%q: no error, %+v", b, insts)
		}
	}
	// A response cut short keeps the complete records and says truncated.
	cut := msg[:len(msg)-20]
	insts, err = ParseSSRPResponse(cut)
	if err == nil || len(insts) != 2 {
		t.Errorf("truncated: %d instances, %v", len(insts), err)
	}
	fuzzBytes(t, msg, func(b []byte) { ParseSSRPResponse(b) })
}

func TestSSRPResponderRequests(t *testing.T) {
	r := &SQLBrowserResponder{Instances: []SQLInstance{
		{ServerName: "DB1", InstanceName: "MSSQLSERVER", Version: "15.0.2000.5", TCPPort: 1433, DACPort: 1434},
		{ServerName: "DB1", InstanceName: "SQLEXPRESS", Version: "16.0.1000.6", TCPPort: 49712},
	}}
	one := func(req []byte) []SQLInstance {
		insts, _ := ParseSSRPResponse(r.Respond(req))
		return insts
	}
	if got := one([]byte{ssrpClntBcastEx}); len(got) != 2 {
		t.Errorf("CLNT_BCAST_EX: %+v", got)
	}
	if got := one(append([]byte{ssrpClntUcastIns}, "sqlexpress\x00"...)); len(got) != 1 || got[0].TCPPort != 49712 {
		t.Errorf("CLNT_UCAST_INST: %+v", got)
	}
	for _, req := range [][]byte{
		append([]byte{ssrpClntUcastIns}, "NOPE\x00"...),
		append([]byte{ssrpClntUcastIns}, "SQLEXPRESS"...),                   // no NUL
		append([]byte{ssrpClntUcastIns}, strings.Repeat("\x01", 376)...),    // Slammer-sized
		append([]byte{ssrpClntUcastIns}, strings.Repeat("A", 33)+"\x00"...), // name too long
		append([]byte{ssrpClntUcastIns}, "SQLEXPRESS\x00trailing"...),       // junk after NUL
		{ssrpClntUcastEx, 0}, {0x0a}, {},
	} {
		if resp := r.Respond(req); resp != nil {
			t.Errorf("%q: answered %q", req, resp)
		}
	}
	dac := r.Respond(append([]byte{ssrpClntUcastDAC, 0x01}, "MSSQLSERVER\x00"...))
	if !bytes.Equal(dac, []byte{0x05, 0x06, 0x00, 0x01, 0x9a, 0x05}) {
		t.Errorf("DAC: %x", dac)
	}
	fuzzBytes(t, append([]byte{ssrpClntUcastIns}, "SQLEXPRESS\x00"...), func(b []byte) { r.Respond(b) })
}

func TestMySQLHandshakeMalformed(t *testing.T) {
	good := mysqlHandshake("8.0.36")
	if info, err := parseMySQLHandshake(good[4:]); err != nil || info.Version != "8.0.36" || info.Details["auth_plugin"] != "caching_sha2_password" {
		t.Fatalf("%+v %v", info, err)
	}
	fuzzBytes(t, good[4:], func(b []byte) { parseMySQLHandshake(b) })
	fuzzBytes(t, dnsVersionAnswer(t), func(b []byte) { parseDNSResponse(b) })
}

func TestIsSelfSigned(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test CA"}, // same name, other key
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	leafDER, _ := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	leafCert, _ := x509.ParseCertificate(leafDER)
	if !isSelfSigned(caCert) {
		t.Error("CA certificate not self-signed")
	}
	if isSelfSigned(leafCert) {
		t.Error("leaf signed by another key reported self-signed")
	}
	_, selfCert := selfSignedCert(t, "leaf.test")
	if !isSelfSigned(selfCert) {
		t.Error("self-signed non-CA leaf not recognised")
	}
}

// fuzzBytes runs f on truncations and random mutations of seed; f must
// not panic.
func fuzzBytes(t *testing.T, seed []byte, f func([]byte)) {
	t.Helper()
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := 0; i <= len(seed); i++ {
		f(seed[:i])
	}
	for range 3000 {
		b := append([]byte(nil), seed...)
		for range 1 + rng.IntN(4) {
			switch rng.IntN(3) {
			case 0:
				b[rng.IntN(len(b))] = byte(rng.IntN(256))
			case 1:
				if len(b) > 1 {
					i := rng.IntN(len(b))
					b = append(b[:i], b[i+1:]...)
				}
			case 2:
				i := rng.IntN(len(b))
				b = append(b[:i], append([]byte{byte(rng.IntN(256))}, b[i:]...)...)
			}
		}
		f(b)
	}
}

func readHex(t *testing.T, path string) []byte {
	t.Helper()
	s, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(s)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseSSRPResponse(f *testing.F) {
	data, _ := os.ReadFile("testdata/ssrp_svr_resp_example.txt")
	f.Add(ssrpSvrRespMsg(data))
	f.Add([]byte{0x05, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		insts, _ := ParseSSRPResponse(b)
		if len(insts) > ssrpMaxRecords {
			t.Fatal("too many records")
		}
	})
}
