package probe

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// A minimal BER (ITU-T X.690) encoder and decoder for SNMP (RFC 3416):
// single-byte tags, definite lengths up to 4 length bytes.
const (
	berInteger     = 0x02
	berOctetString = 0x04
	berNull        = 0x05
	berOID         = 0x06
	berSequence    = 0x30
	snmpGet        = 0xA0
	snmpResponse   = 0xA2
	snmpNoSuchObj  = 0x80
	snmpNoSuchInst = 0x81
	snmpEndOfMib   = 0x82
	snmpVersion2c  = 1
)

var errBER = errors.New("probe: malformed BER")

// sysDescr0 is SNMPv2-MIB::sysDescr.0.
var sysDescr0 = []uint32{1, 3, 6, 1, 2, 1, 1, 1, 0}

func berAppendLen(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xFF:
		return append(b, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(b, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// berTLV encodes one element.
func berTLV(tag byte, content ...[]byte) []byte {
	n := 0
	for _, c := range content {
		n += len(c)
	}
	b := berAppendLen([]byte{tag}, n)
	for _, c := range content {
		b = append(b, c...)
	}
	return b
}

// berIntContent is the minimal two's-complement encoding of v.
func berIntContent(v int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	i := 0
	for i < 7 && ((b[i] == 0 && b[i+1]&0x80 == 0) || (b[i] == 0xFF && b[i+1]&0x80 != 0)) {
		i++
	}
	return append([]byte(nil), b[i:]...)
}

func berParseInt(c []byte) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, errBER
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

func berOIDContent(oid []uint32) []byte {
	if len(oid) < 2 {
		return nil
	}
	b := appendBase128(nil, oid[0]*40+oid[1])
	for _, a := range oid[2:] {
		b = appendBase128(b, a)
	}
	return b
}

func appendBase128(b []byte, v uint32) []byte {
	var tmp [5]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7F)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7F) | 0x80
	}
	return append(b, tmp[i:]...)
}

func berParseOID(c []byte) ([]uint32, error) {
	if len(c) == 0 || len(c) > 256 {
		return nil, errBER
	}
	var out []uint32
	var v uint32
	for i, x := range c {
		if v > 1<<25 {
			return nil, errBER
		}
		v = v<<7 | uint32(x&0x7F)
		if x&0x80 != 0 {
			if i == len(c)-1 {
				return nil, errBER
			}
			continue
		}
		if out == nil {
			if v < 80 {
				out = append(out, v/40, v%40)
			} else {
				out = append(out, 2, v-80)
			}
		} else {
			out = append(out, v)
		}
		v = 0
	}
	return out, nil
}

func oidString(oid []uint32) string {
	parts := make([]string, len(oid))
	for i, a := range oid {
		parts[i] = strconv.FormatUint(uint64(a), 10)
	}
	return strings.Join(parts, ".")
}

// berRead splits the first element off b.
func berRead(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errBER
	}
	tag = b[0]
	if tag&0x1F == 0x1F {
		return 0, nil, nil, errBER // multi-byte tags are not used by SNMP
	}
	n := int(b[1])
	off := 2
	if n&0x80 != 0 {
		k := n & 0x7F
		if k == 0 || k > 4 || len(b) < 2+k {
			return 0, nil, nil, errBER
		}
		n = 0
		for _, x := range b[2 : 2+k] {
			n = n<<8 | int(x)
		}
		off += k
	}
	if n < 0 || n > len(b)-off {
		return 0, nil, nil, errBER
	}
	return tag, b[off : off+n], b[off+n:], nil
}

// berExpect reads an element that must have tag want.
func berExpect(b []byte, want byte) (content, rest []byte, err error) {
	tag, c, rest, err := berRead(b)
	if err != nil {
		return nil, nil, err
	}
	if tag != want {
		return nil, nil, errBER
	}
	return c, rest, nil
}

// snmpVarBind is one name/value pair.
type snmpVarBind struct {
	OID   []uint32
	Tag   byte
	Value []byte
}

// snmpMessage is an SNMPv1/v2c message with one PDU.
type snmpMessage struct {
	Version     int64
	Community   string
	PDU         byte
	RequestID   int64
	ErrorStatus int64
	ErrorIndex  int64
	VarBinds    []snmpVarBind
}

// encode builds the message.
func (m snmpMessage) encode() []byte {
	var vbs [][]byte
	for _, vb := range m.VarBinds {
		tag, val := vb.Tag, vb.Value
		if tag == 0 {
			tag = berNull
		}
		vbs = append(vbs, berTLV(berSequence, berTLV(berOID, berOIDContent(vb.OID)), berTLV(tag, val)))
	}
	pdu := berTLV(m.PDU,
		berTLV(berInteger, berIntContent(m.RequestID)),
		berTLV(berInteger, berIntContent(m.ErrorStatus)),
		berTLV(berInteger, berIntContent(m.ErrorIndex)),
		berTLV(berSequence, vbs...))
	return berTLV(berSequence,
		berTLV(berInteger, berIntContent(m.Version)),
		berTLV(berOctetString, []byte(m.Community)),
		pdu)
}

// parseSNMPMessage decodes a v1/v2c message (at most 64 varbinds).
func parseSNMPMessage(b []byte) (snmpMessage, error) {
	var m snmpMessage
	msg, _, err := berExpect(b, berSequence)
	if err != nil {
		return m, err
	}
	c, msg, err := berExpect(msg, berInteger)
	if err != nil {
		return m, err
	}
	if m.Version, err = berParseInt(c); err != nil {
		return m, err
	}
	c, msg, err = berExpect(msg, berOctetString)
	if err != nil {
		return m, err
	}
	m.Community = string(c)
	tag, pdu, _, err := berRead(msg)
	if err != nil {
		return m, err
	}
	if tag&0xE0 != 0xA0 {
		return m, errBER
	}
	m.PDU = tag
	for _, dst := range []*int64{&m.RequestID, &m.ErrorStatus, &m.ErrorIndex} {
		c, pdu, err = berExpect(pdu, berInteger)
		if err != nil {
			return m, err
		}
		if *dst, err = berParseInt(c); err != nil {
			return m, err
		}
	}
	vbl, _, err := berExpect(pdu, berSequence)
	if err != nil {
		return m, err
	}
	for i := 0; len(vbl) > 0 && i < 64; i++ {
		var vb []byte
		vb, vbl, err = berExpect(vbl, berSequence)
		if err != nil {
			return m, err
		}
		oc, vb, err := berExpect(vb, berOID)
		if err != nil {
			return m, err
		}
		oid, err := berParseOID(oc)
		if err != nil {
			return m, err
		}
		vt, vc, _, err := berRead(vb)
		if err != nil {
			return m, err
		}
		m.VarBinds = append(m.VarBinds, snmpVarBind{OID: oid, Tag: vt, Value: vc})
	}
	return m, nil
}

func randInt31() int64 {
	var b [4]byte
	rand.Read(b[:])
	return int64(binary.BigEndian.Uint32(b[:]) & 0x7FFFFFFF)
}

// probeSNMP sends an SNMPv2c GetRequest for sysDescr.0 with community
// "public" and reads the Response.
func probeSNMP(u *udpSession) (Info, bool, error) {
	id := randInt31()
	req := snmpMessage{Version: snmpVersion2c, Community: "public", PDU: snmpGet, RequestID: id,
		VarBinds: []snmpVarBind{{OID: sysDescr0}}}.encode()
	resp, err := u.exchange(req, u.retries, func(b []byte) bool {
		m, err := parseSNMPMessage(b)
		return err == nil && m.PDU == snmpResponse && m.RequestID == id
	})
	if resp == nil {
		return Info{}, false, err
	}
	m, _ := parseSNMPMessage(resp)
	info := Info{Service: "snmp"}
	info.set("version", "2c")
	info.set("community", "public")
	if m.ErrorStatus != 0 {
		info.set("error_status", strconv.FormatInt(m.ErrorStatus, 10))
	}
	for _, vb := range m.VarBinds {
		if oidString(vb.OID) != oidString(sysDescr0) {
			continue
		}
		switch vb.Tag {
		case berOctetString:
			d := printable(string(vb.Value), 1024)
			info.set("sysdescr", d)
			info.Banner = printable(d, maxBanner)
		case snmpNoSuchObj, snmpNoSuchInst, snmpEndOfMib:
			info.set("sysdescr_error", "no such object")
		}
	}
	return info, true, nil
}
