package probe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
)

// PostgreSQL frontend/backend protocol 3.0 constants.
const (
	pgSSLRequestCode = 80877103
	pgProtocol30     = 196608
	pgProbeUser      = "patchday-scan"
	pgProbeDatabase  = "postgres"
)

// probePostgres sends an SSLRequest; 'S' or 'N' identifies PostgreSQL. On
// 'S' it handshakes TLS (recording the certificate). It then sends a
// StartupMessage for user "patchday-scan" database "postgres" and reads
// the authentication request or error. The server version is only
// disclosed after successful authentication (ParameterStatus
// server_version); when the server lets the probe user in (trust), the
// version is recorded and the session is terminated immediately.
func probePostgres(s *session) (Info, error) {
	c, err := s.dial()
	if err != nil {
		return Info{}, err
	}
	defer c.Close()
	var req [8]byte
	binary.BigEndian.PutUint32(req[0:4], 8)
	binary.BigEndian.PutUint32(req[4:8], pgSSLRequestCode)
	if _, err := c.Write(req[:]); err != nil {
		return Info{}, err
	}
	var ans [1]byte
	if _, err := io.ReadFull(c, ans[:]); err != nil {
		return Info{}, err
	}
	info := Info{Service: "postgresql", Product: "PostgreSQL"}
	var conn net.Conn = c
	switch ans[0] {
	case 'S':
		info.set("ssl", "yes")
		tc, ti, err := tlsHandshake(s, c)
		if err != nil {
			info.set("note", "version not disclosed before authentication; TLS handshake failed")
			return info, nil
		}
		info.TLS = ti
		conn = tc
	case 'N':
		info.set("ssl", "no")
	case 'E':
		// Servers older than 7.0 answer the unknown request with an error.
		info.set("ssl", "unknown")
		info.set("note", "server rejected SSLRequest (very old server)")
		return info, nil
	default:
		return Info{}, errMismatch
	}
	if _, err := conn.Write(pgStartupMessage(pgProbeUser, pgProbeDatabase)); err != nil {
		info.set("note", "version not disclosed before authentication")
		return info, nil
	}
	readPGResponse(bufio.NewReaderSize(io.LimitReader(conn, maxRead), 1024), &info)
	if info.Details["auth"] == "trust" {
		conn.Write([]byte{'X', 0, 0, 0, 4}) // Terminate
	}
	if info.Version == "" {
		info.set("note", "PostgreSQL does not disclose its version before authentication")
	}
	return info, nil
}

// pgStartupMessage builds a protocol 3.0 StartupMessage.
func pgStartupMessage(user, database string) []byte {
	var b bytes.Buffer
	b.Write(make([]byte, 8))
	for _, s := range []string{"user", user, "database", database, "application_name", "patchday-scan"} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	b.WriteByte(0)
	out := b.Bytes()
	binary.BigEndian.PutUint32(out[0:4], uint32(len(out)))
	binary.BigEndian.PutUint32(out[4:8], pgProtocol30)
	return out
}

var errPGMessage = errors.New("probe: malformed PostgreSQL message")

// readPGMessage reads one backend message: type byte, int32 length
// (including itself), body. Bodies over 4 KiB are refused.
func readPGMessage(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[1:5]))
	if n < 4 || n > 4096 {
		return 0, nil, errPGMessage
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return hdr[0], body, nil
}

var pgAuthNames = map[uint32]string{
	0: "trust", 2: "kerberos", 3: "password", 5: "md5", 7: "gss", 9: "sspi", 10: "sasl",
}

// readPGResponse reads the answer to the StartupMessage into info.
func readPGResponse(r *bufio.Reader, info *Info) {
	for range 32 {
		typ, body, err := readPGMessage(r)
		if err != nil {
			return
		}
		switch typ {
		case 'R': // AuthenticationRequest
			if len(body) < 4 {
				return
			}
			code := binary.BigEndian.Uint32(body[:4])
			name, ok := pgAuthNames[code]
			if !ok {
				name = itoa(int(code))
			}
			if code == 10 { // SASL: mechanism names follow
				mechs := strings.Split(strings.TrimRight(string(body[4:]), "\x00"), "\x00")
				name = "sasl:" + printable(strings.Join(mechs, ","), 128)
			}
			info.set("auth", name)
			if code != 0 {
				return
			}
		case 'E': // ErrorResponse: fields (type byte, cstring) until 0
			f := pgFields(body)
			info.set("error_code", printable(f['C'], 16))
			info.set("error", printable(f['M'], maxBanner))
			if info.Banner == "" {
				info.Banner = printable(f['S']+": "+f['M'], maxBanner)
			}
			return
		case 'S': // ParameterStatus
			k, v, _ := strings.Cut(string(body), "\x00")
			v = strings.TrimRight(v, "\x00")
			if k == "server_version" {
				v = printable(v, 128)
				info.set("server_version", v)
				info.Version, _, _ = strings.Cut(v, " ")
			}
		case 'Z': // ReadyForQuery
			return
		}
	}
}

func pgFields(body []byte) map[byte]string {
	f := make(map[byte]string)
	for len(body) > 1 && body[0] != 0 {
		t := body[0]
		end := bytes.IndexByte(body[1:], 0)
		if end < 0 {
			break
		}
		f[t] = string(body[1 : 1+end])
		body = body[1+end+1:]
	}
	return f
}
