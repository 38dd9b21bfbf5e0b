package probe

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
)

// SMB dialect revisions ([MS-SMB2] 2.2.3).
const (
	smb202     = 0x0202
	smb210     = 0x0210
	smb300     = 0x0300
	smb302     = 0x0302
	smb311     = 0x0311
	smb2Wild   = 0x02FF
	smb2HdrLen = 64
)

var smbDialects = []uint16{smb202, smb210, smb300, smb302, smb311}

func smbDialectName(d uint16) string {
	switch d {
	case smb202:
		return "2.0.2"
	case smb210:
		return "2.1"
	case smb300:
		return "3.0"
	case smb302:
		return "3.0.2"
	case smb311:
		return "3.1.1"
	case smb2Wild:
		return "2.???"
	}
	return "0x" + itoaHex(uint32(d))
}

var errSMB = errors.New("probe: not an SMB response")

// smbFrame prefixes msg with the 4-byte Direct TCP transport header
// ([MS-SMB2] 2.1: a zero byte and a 24-bit big-endian length), the same
// layout as a NetBIOS session message.
func smbFrame(msg []byte) []byte {
	out := make([]byte, 4, 4+len(msg))
	out[1], out[2], out[3] = byte(len(msg)>>16), byte(len(msg)>>8), byte(len(msg))
	return append(out, msg...)
}

// readSMBFrame reads one framed message of at most 64 KiB.
func readSMBFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if hdr[0] != 0 || n < 4 || n > 64<<10 {
		return nil, errSMB
	}
	msg := make([]byte, min(n, maxRead))
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// smb2NegotiateRequest builds an SMB2 NEGOTIATE request ([MS-SMB2] 2.2.3)
// offering dialects; when 3.1.1 is offered it carries the
// SMB2_PREAUTH_INTEGRITY_CAPABILITIES (SHA-512) and
// SMB2_ENCRYPTION_CAPABILITIES negotiate contexts.
func smb2NegotiateRequest(dialects []uint16) []byte {
	b := make([]byte, smb2HdrLen+36)
	copy(b[0:4], "\xfeSMB")
	binary.LittleEndian.PutUint16(b[4:6], 64) // StructureSize
	// CreditCharge 0, Status 0, Command 0 (NEGOTIATE)
	binary.LittleEndian.PutUint16(b[14:16], 1) // CreditRequest
	// Flags, NextCommand, MessageId 0, ProcessId, TreeId, SessionId, Signature: zero
	body := b[smb2HdrLen:]
	binary.LittleEndian.PutUint16(body[0:2], 36)
	binary.LittleEndian.PutUint16(body[2:4], uint16(len(dialects)))
	binary.LittleEndian.PutUint16(body[4:6], 1) // SecurityMode: signing enabled
	binary.LittleEndian.PutUint32(body[8:12], 0x7f)
	rand.Read(body[12:28]) // ClientGuid
	has311 := false
	for _, d := range dialects {
		b = binary.LittleEndian.AppendUint16(b, d)
		has311 = has311 || d == smb311
	}
	if !has311 {
		return b // ClientStartTime stays zero
	}
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	body = b[smb2HdrLen:]
	binary.LittleEndian.PutUint32(body[28:32], uint32(len(b))) // NegotiateContextOffset
	binary.LittleEndian.PutUint16(body[32:34], 2)              // NegotiateContextCount
	// SMB2_PREAUTH_INTEGRITY_CAPABILITIES: 1 hash (SHA-512), 32-byte salt.
	pre := []byte{1, 0, 32, 0, 1, 0}
	salt := make([]byte, 32)
	rand.Read(salt)
	pre = append(pre, salt...)
	b = appendNegContext(b, 1, pre)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	// SMB2_ENCRYPTION_CAPABILITIES: AES-128-GCM, AES-128-CCM.
	b = appendNegContext(b, 2, []byte{2, 0, 2, 0, 1, 0})
	return b
}

func appendNegContext(b []byte, typ uint16, data []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(data)))
	b = append(b, 0, 0, 0, 0)
	return append(b, data...)
}

// smb2NegResp is what an SMB2 NEGOTIATE response tells.
type smb2NegResp struct {
	Status       uint32
	Dialect      uint16
	SecurityMode uint16
	ServerGUID   [16]byte
	Capabilities uint32
}

// parseSMB2NegotiateResponse parses [MS-SMB2] 2.2.4.
func parseSMB2NegotiateResponse(m []byte) (smb2NegResp, error) {
	var r smb2NegResp
	if len(m) < smb2HdrLen || !bytes.Equal(m[0:4], []byte("\xfeSMB")) {
		return r, errSMB
	}
	if binary.LittleEndian.Uint16(m[12:14]) != 0 { // Command
		return r, errSMB
	}
	r.Status = binary.LittleEndian.Uint32(m[8:12])
	if r.Status != 0 {
		return r, nil
	}
	body := m[smb2HdrLen:]
	if len(body) < 64 || binary.LittleEndian.Uint16(body[0:2]) != 65 {
		return r, errSMB
	}
	r.SecurityMode = binary.LittleEndian.Uint16(body[2:4])
	r.Dialect = binary.LittleEndian.Uint16(body[4:6])
	copy(r.ServerGUID[:], body[8:24])
	r.Capabilities = binary.LittleEndian.Uint32(body[24:28])
	return r, nil
}

// smb1NegotiateRequest builds an SMB1 SMB_COM_NEGOTIATE ([MS-CIFS]
// 2.2.4.52.1) offering only "NT LM 0.12".
func smb1NegotiateRequest() []byte {
	b := make([]byte, 32)
	copy(b[0:4], "\xffSMB")
	b[4] = 0x72                                     // SMB_COM_NEGOTIATE
	b[9] = 0x18                                     // Flags: case-insensitive, canonical paths
	binary.LittleEndian.PutUint16(b[10:12], 0xc801) // Flags2: unicode, NT status, ext security, long names
	binary.LittleEndian.PutUint16(b[26:28], 0xfeff) // PIDLow
	dialect := append([]byte{0x02}, "NT LM 0.12\x00"...)
	b = append(b, 0) // WordCount
	b = binary.LittleEndian.AppendUint16(b, uint16(len(dialect)))
	return append(b, dialect...)
}

// smb1Accepted reports whether m is an SMB1 NEGOTIATE response that
// selected a dialect (DialectIndex != 0xFFFF, success status).
func smb1Accepted(m []byte) bool {
	if len(m) < 32+3 || !bytes.Equal(m[0:4], []byte("\xffSMB")) || m[4] != 0x72 {
		return false
	}
	if binary.LittleEndian.Uint32(m[5:9]) != 0 {
		return false
	}
	wc := int(m[32])
	if wc < 1 || len(m) < 33+2 {
		return false
	}
	return binary.LittleEndian.Uint16(m[33:35]) != 0xffff
}

// exchange dials, writes one framed message and reads one back.
func (s *session) exchange(msg []byte) ([]byte, error) {
	c, err := s.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return exchangeOn(c, msg)
}

func exchangeOn(c net.Conn, msg []byte) ([]byte, error) {
	if _, err := c.Write(smbFrame(msg)); err != nil {
		return nil, err
	}
	return readSMBFrame(c)
}

// probeSMB negotiates SMB2 offering all dialects (the server's choice is
// Details["dialect"]), then each dialect alone (the accepted ones are
// Details["dialects"]), then SMB1 "NT LM 0.12" (Details["smbv1"]).
func probeSMB(s *session) (Info, error) {
	m, err := s.exchange(smb2NegotiateRequest(smbDialects))
	if err != nil {
		return Info{}, err
	}
	resp, err := parseSMB2NegotiateResponse(m)
	if err != nil {
		return Info{}, err
	}
	info := Info{Service: "smb"}
	if resp.Status != 0 {
		info.set("negotiate_status", "0x"+itoaHex(resp.Status))
	} else {
		info.set("dialect", smbDialectName(resp.Dialect))
		if resp.SecurityMode&0x2 != 0 {
			info.set("signing", "required")
		} else {
			info.set("signing", "enabled")
		}
		info.set("server_guid", hex.EncodeToString(resp.ServerGUID[:]))
		if resp.Capabilities&0x40 != 0 {
			info.set("encryption", "yes")
		}
	}
	var accepted []string
	for _, d := range smbDialects {
		if s.ctx.Err() != nil {
			break
		}
		m, err := s.exchange(smb2NegotiateRequest([]uint16{d}))
		if err != nil {
			continue
		}
		if r, err := parseSMB2NegotiateResponse(m); err == nil && r.Status == 0 && r.Dialect == d {
			accepted = append(accepted, smbDialectName(d))
		}
	}
	info.set("dialects", strings.Join(accepted, ","))
	smb1 := "no"
	if s.ctx.Err() == nil {
		if m, err := s.exchange(smb1NegotiateRequest()); err == nil && smb1Accepted(m) {
			smb1 = "yes"
		}
	} else {
		smb1 = "unknown"
	}
	info.set("smbv1", smb1)
	return info, nil
}
