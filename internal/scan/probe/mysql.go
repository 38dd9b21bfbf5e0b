package probe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"strings"
)

// looksLikeMySQL recognises the start of a MySQL protocol packet: a 3-byte
// little-endian payload length, sequence id 0, then protocol version 10
// (HandshakeV10) or 0xff (an ERR packet such as "Host ... is not allowed").
func looksLikeMySQL(b []byte) bool {
	if len(b) < 5 {
		return false
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	return n > 1 && n <= 1<<14 && b[3] == 0 && (b[4] == 0x0a || b[4] == 0xff)
}

// readMySQL parses the server's initial handshake packet (HandshakeV10):
// protocol version, NUL-terminated server version, connection id, ...
func readMySQL(r *bufio.Reader) (Info, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Info{}, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n < 2 || n > 1<<14 {
		return Info{}, errMismatch
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return Info{}, err
	}
	return parseMySQLHandshake(payload)
}

// parseMySQLHandshake parses a HandshakeV10 or ERR payload.
func parseMySQLHandshake(p []byte) (Info, error) {
	if len(p) < 2 {
		return Info{}, errMismatch
	}
	info := Info{Service: "mysql"}
	switch p[0] {
	case 0xff: // ERR packet: 0xff, error code (2 LE), [# sqlstate(5)] message
		if len(p) < 3 {
			return Info{}, errMismatch
		}
		info.set("error_code", itoa(int(binary.LittleEndian.Uint16(p[1:3]))))
		msg := p[3:]
		if len(msg) > 6 && msg[0] == '#' {
			msg = msg[6:]
		}
		info.set("error", printable(string(msg), maxBanner))
		info.Banner = info.Details["error"]
		return info, nil
	case 0x0a:
	default:
		return Info{}, errMismatch
	}
	end := bytes.IndexByte(p[1:], 0)
	if end < 0 || end > 128 {
		return Info{}, errMismatch
	}
	full := printable(string(p[1:1+end]), maxBanner)
	info.Banner = full
	info.set("version_string", full)
	info.Product, info.Version = mysqlProduct(full)
	rest := p[1+end+1:]
	if len(rest) >= 4 {
		info.set("connection_id", itoa(int(binary.LittleEndian.Uint32(rest[:4]))))
	}
	// auth-plugin-data-part-1 (8), filler (1), capability flags lower (2),
	// charset (1), status (2), capability flags upper (2), auth data len (1),
	// reserved (10), auth-plugin-data-part-2, auth plugin name.
	if len(rest) >= 4+8+1+2+1+2+2+1+10 {
		capLo := binary.LittleEndian.Uint16(rest[13:15])
		capHi := binary.LittleEndian.Uint16(rest[18:20])
		caps := uint32(capHi)<<16 | uint32(capLo)
		if caps&0x800 != 0 { // CLIENT_SSL
			info.set("ssl", "yes")
		} else {
			info.set("ssl", "no")
		}
		authLen := int(rest[20])
		tail := rest[31:]
		skip := max(13, authLen-8)
		if caps&0x80000 != 0 && len(tail) > skip { // CLIENT_PLUGIN_AUTH
			name := tail[skip:]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if len(name) > 0 {
				info.set("auth_plugin", printable(string(name), 64))
			}
		}
	}
	return info, nil
}

// mysqlProduct: "8.0.36-0ubuntu0.22.04.1" -> MySQL 8.0.36;
// "5.5.5-10.11.6-MariaDB-0+deb12u1" -> MariaDB 10.11.6.
func mysqlProduct(v string) (string, string) {
	if strings.Contains(v, "MariaDB") {
		v = strings.TrimPrefix(v, "5.5.5-") // replication-compatibility prefix
		ver, _, _ := strings.Cut(v, "-")
		return "MariaDB", ver
	}
	ver, _, _ := strings.Cut(v, "-")
	return "MySQL", ver
}
