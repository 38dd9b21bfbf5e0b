package probe

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
)

// RDP negotiation ([MS-RDPBCGR] 2.2.1.1 and 2.2.1.2), carried in an X.224
// Connection Request/Confirm (ITU-T X.224) inside a TPKT (RFC 1006).
const (
	rdpProtoRDP      = 0x0
	rdpProtoSSL      = 0x1
	rdpProtoHybrid   = 0x2
	rdpProtoRDSTLS   = 0x4
	rdpProtoHybridEx = 0x8
	rdpNegReq        = 0x01
	rdpNegRsp        = 0x02
	rdpNegFailure    = 0x03
	x224CR           = 0xE0
	x224CC           = 0xD0
)

var rdpFailures = map[uint32]string{
	1: "SSL_REQUIRED_BY_SERVER", 2: "SSL_NOT_ALLOWED_BY_SERVER", 3: "SSL_CERT_NOT_ON_SERVER",
	4: "INCONSISTENT_FLAGS", 5: "HYBRID_REQUIRED_BY_SERVER", 6: "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
}

// rdpConnectionRequest builds TPKT + X.224 CR + cookie + RDP_NEG_REQ.
func rdpConnectionRequest(requested uint32) []byte {
	cookie := "Cookie: mstshash=patchday\r\n"
	x224 := []byte{0, x224CR, 0, 0, 0, 0, 0} // LI, CR|CDT, DST-REF, SRC-REF, class 0
	x224 = append(x224, cookie...)
	neg := make([]byte, 8)
	neg[0] = rdpNegReq
	binary.LittleEndian.PutUint16(neg[2:4], 8)
	binary.LittleEndian.PutUint32(neg[4:8], requested)
	x224 = append(x224, neg...)
	x224[0] = byte(len(x224) - 1)
	pkt := []byte{3, 0, 0, 0}
	binary.BigEndian.PutUint16(pkt[2:4], uint16(4+len(x224)))
	return append(pkt, x224...)
}

var errRDP = errors.New("probe: not an X.224 Connection Confirm")

// parseRDPConfirm parses TPKT + X.224 CC [+ RDP_NEG_RSP | RDP_NEG_FAILURE].
// It returns the selected protocol name (empty on failure), the failure
// name, and the negotiation flags.
func parseRDPConfirm(b []byte) (selected uint32, hasNeg bool, failure string, flags byte, err error) {
	if len(b) < 11 || b[0] != 3 {
		return 0, false, "", 0, errRDP
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < 11 || total > len(b) {
		return 0, false, "", 0, errRDP
	}
	x := b[4:total]
	li := int(x[0])
	if li < 6 || li+1 > len(x) || x[1]&0xF0 != x224CC {
		return 0, false, "", 0, errRDP
	}
	var_ := x[7 : li+1]
	if len(var_) < 8 {
		return rdpProtoRDP, false, "", 0, nil // legacy server: standard RDP security
	}
	switch var_[0] {
	case rdpNegRsp:
		return binary.LittleEndian.Uint32(var_[4:8]), true, "", var_[1], nil
	case rdpNegFailure:
		code := binary.LittleEndian.Uint32(var_[4:8])
		name, ok := rdpFailures[code]
		if !ok {
			name = "failure " + itoa(int(code))
		}
		return 0, true, name, var_[1], nil
	}
	return 0, false, "", 0, errRDP
}

func rdpProtocolName(p uint32) string {
	switch p {
	case rdpProtoRDP:
		return "RDP"
	case rdpProtoSSL:
		return "TLS"
	case rdpProtoHybrid:
		return "CredSSP"
	case rdpProtoRDSTLS:
		return "RDSTLS"
	case rdpProtoHybridEx:
		return "CredSSP-EX"
	}
	return "0x" + strings.ToUpper(itoaHex(p))
}

func itoaHex(p uint32) string {
	const hex = "0123456789abcdef"
	if p == 0 {
		return "0"
	}
	var b []byte
	for ; p > 0; p >>= 4 {
		b = append([]byte{hex[p&0xf]}, b...)
	}
	return string(b)
}

// probeRDP sends a Connection Request asking for TLS, CredSSP or
// CredSSP with early user authorization; when the server selects a
// TLS-based protocol it handshakes TLS to record the certificate.
func probeRDP(s *session) (Info, error) {
	c, err := s.dial()
	if err != nil {
		return Info{}, err
	}
	defer c.Close()
	if _, err := c.Write(rdpConnectionRequest(rdpProtoSSL | rdpProtoHybrid | rdpProtoHybridEx)); err != nil {
		return Info{}, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return Info{}, err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:4]))
	if hdr[0] != 3 || n < 11 || n > 1024 {
		return Info{}, errRDP
	}
	buf := make([]byte, n)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(c, buf[4:]); err != nil {
		return Info{}, err
	}
	sel, hasNeg, failure, flags, err := parseRDPConfirm(buf)
	if err != nil {
		return Info{}, err
	}
	info := Info{Service: "rdp"}
	if failure != "" {
		info.set("negotiation_failure", failure)
		return info, nil
	}
	info.set("selected_protocol", rdpProtocolName(sel))
	if !hasNeg {
		info.set("negotiation", "none (legacy server, standard RDP security)")
	}
	if flags != 0 {
		info.set("negotiation_flags", "0x"+itoaHex(uint32(flags)))
	}
	if sel == rdpProtoSSL || sel == rdpProtoHybrid || sel == rdpProtoHybridEx {
		if _, ti, err := tlsHandshake(s, c); err == nil {
			info.TLS = ti
		}
	}
	return info, nil
}
