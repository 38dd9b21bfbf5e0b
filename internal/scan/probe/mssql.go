package probe

import (
	"encoding/binary"
	"fmt"
	"io"
)

// probeMSSQL sends a TDS PRELOGIN ([MS-TDS] 2.2.6.5) and reads the
// server's VERSION and ENCRYPTION options.
func probeMSSQL(s *session) (Info, error) {
	c, err := s.dial()
	if err != nil {
		return Info{}, err
	}
	defer c.Close()
	if _, err := c.Write(tdsPrelogin()); err != nil {
		return Info{}, err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return Info{}, err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:4]))
	if hdr[0] != 0x04 || n < 8+5 || n > 4096 { // 0x04: tabular result
		return Info{}, errMismatch
	}
	body := make([]byte, n-8)
	if _, err := io.ReadFull(c, body); err != nil {
		return Info{}, err
	}
	return parsePreloginResponse(body)
}

// tdsPrelogin builds a PRELOGIN packet with VERSION, ENCRYPTION (off),
// INSTOPT (empty) and THREADID options.
func tdsPrelogin() []byte {
	type opt struct {
		token byte
		data  []byte
	}
	opts := []opt{{0x00, []byte{0, 0, 0, 0, 0, 0}}, {0x01, []byte{0x00}}, {0x02, []byte{0}}, {0x03, []byte{0, 0, 0, 0}}}
	off := len(opts)*5 + 1
	var table, data []byte
	for _, o := range opts {
		table = append(table, o.token)
		table = binary.BigEndian.AppendUint16(table, uint16(off+len(data)))
		table = binary.BigEndian.AppendUint16(table, uint16(len(o.data)))
		data = append(data, o.data...)
	}
	table = append(table, 0xff)
	payload := append(table, data...)
	pkt := []byte{0x12, 0x01, 0, 0, 0, 0, 0, 0} // PRELOGIN, EOM
	binary.BigEndian.PutUint16(pkt[2:4], uint16(8+len(payload)))
	return append(pkt, payload...)
}

// parsePreloginResponse reads the option table of a PRELOGIN response.
func parsePreloginResponse(p []byte) (Info, error) {
	info := Info{Service: "mssql", Product: "Microsoft SQL Server"}
	found := false
	for i := 0; i+5 <= len(p) && p[i] != 0xff; i += 5 {
		tok := p[i]
		off := int(binary.BigEndian.Uint16(p[i+1 : i+3]))
		l := int(binary.BigEndian.Uint16(p[i+3 : i+5]))
		if off+l > len(p) {
			return Info{}, errMismatch
		}
		d := p[off : off+l]
		switch tok {
		case 0x00:
			if l >= 6 {
				info.Version = fmt.Sprintf("%d.%d.%d", d[0], d[1], binary.BigEndian.Uint16(d[2:4]))
				found = true
			}
		case 0x01:
			if l >= 1 {
				info.set("encryption", map[byte]string{0: "off", 1: "on", 2: "not supported", 3: "required"}[d[0]])
			}
		}
	}
	if !found {
		return Info{}, errMismatch
	}
	return info, nil
}
