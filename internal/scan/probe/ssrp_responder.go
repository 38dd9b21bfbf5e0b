package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"strings"
)

// SQLBrowserResponder answers SQL Server Resolution Protocol ([MC-SQLR])
// requests the way the SQL Server Browser service does on UDP 1434:
//
//   - CLNT_BCAST_EX (0x02) and CLNT_UCAST_EX (0x03): an SVR_RESP listing
//     every instance (RESP_DATA at most 65535 bytes; records that would
//     not fit are left out);
//   - CLNT_UCAST_INST (0x04 + instance name + NUL, the name at most 32
//     bytes): an SVR_RESP for that one instance (at most 1024 bytes), or
//     nothing when the instance is unknown or the request is malformed
//     (an over-long name is exactly what the Slammer worm sent);
//   - CLNT_UCAST_DAC (0x0F 0x01 + name + NUL): the DAC port of the
//     instance when DACPort is set.
//
// Anything else is ignored. It is meant as a test host and a simulation
// target for the scanner.
type SQLBrowserResponder struct {
	Instances []SQLInstance
}

// Serve answers requests on conn until conn is closed (then it returns
// nil) or fails.
func (r *SQLBrowserResponder) Serve(conn net.PacketConn) error {
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return err
			}
			if isConnRefused(err) { // an earlier reply hit a closed port
				continue
			}
			return err
		}
		if resp := r.Respond(buf[:n]); resp != nil {
			if _, err := conn.WriteTo(resp, from); err != nil && errors.Is(err, net.ErrClosed) {
				return nil
			}
		}
	}
}

// Respond returns the answer to one request datagram, or nil for none.
func (r *SQLBrowserResponder) Respond(req []byte) []byte {
	if len(req) == 0 {
		return nil
	}
	switch req[0] {
	case ssrpClntBcastEx, ssrpClntUcastEx:
		if len(req) != 1 {
			return nil
		}
		var data []byte
		for _, in := range r.Instances {
			rec := ssrpRecord(in)
			if len(data)+len(rec) > ssrpMaxResp {
				break
			}
			data = append(data, rec...)
		}
		return ssrpSvrRespMsg(data)
	case ssrpClntUcastIns:
		name, ok := ssrpInstanceName(req[1:])
		if !ok {
			return nil
		}
		in, ok := r.find(name)
		if !ok {
			return nil
		}
		rec := ssrpRecord(in)
		if len(rec) > ssrpMaxInstResp {
			return nil
		}
		return ssrpSvrRespMsg(rec)
	case ssrpClntUcastDAC:
		if len(req) < 3 || req[1] != 0x01 {
			return nil
		}
		name, ok := ssrpInstanceName(req[2:])
		if !ok {
			return nil
		}
		in, ok := r.find(name)
		if !ok || in.DACPort <= 0 || in.DACPort > 65535 {
			return nil
		}
		// SVR_RESP (DAC): 0x05, RESP_SIZE 0x0006, PROTOCOLVERSION 0x01, TCP_DAC_PORT.
		out := []byte{ssrpSvrResp, 0x06, 0x00, 0x01}
		return binary.LittleEndian.AppendUint16(out, uint16(in.DACPort))
	}
	return nil
}

// ssrpInstanceName takes a NUL-terminated name of at most 32 bytes that
// is the whole rest of the request.
func ssrpInstanceName(b []byte) (string, bool) {
	i := bytes.IndexByte(b, 0)
	if i <= 0 || i > ssrpMaxInstName || i != len(b)-1 {
		return "", false
	}
	return string(b[:i]), true
}

func (r *SQLBrowserResponder) find(name string) (SQLInstance, bool) {
	for _, in := range r.Instances {
		if strings.EqualFold(in.InstanceName, name) {
			return in, true
		}
	}
	return SQLInstance{}, false
}

// ssrpField removes the separator from a value.
func ssrpField(s string) string { return strings.ReplaceAll(s, ";", "") }

// ssrpRecord renders one instance as a RESP_DATA record ending in ";;".
func ssrpRecord(in SQLInstance) []byte {
	clustered := "No"
	if in.IsClustered {
		clustered = "Yes"
	}
	parts := []string{
		"ServerName", ssrpField(in.ServerName),
		"InstanceName", ssrpField(in.InstanceName),
		"IsClustered", clustered,
		"Version", ssrpField(in.Version),
	}
	if in.NamedPipe != "" {
		parts = append(parts, "np", ssrpField(in.NamedPipe))
	}
	if in.TCPPort > 0 && in.TCPPort <= 65535 {
		parts = append(parts, "tcp", strconv.Itoa(in.TCPPort))
	}
	return []byte(strings.Join(parts, ";") + ";;")
}

// ssrpSvrRespMsg wraps RESP_DATA into SVR_RESP; nil for empty data.
func ssrpSvrRespMsg(data []byte) []byte {
	if len(data) == 0 || len(data) > ssrpMaxResp {
		return nil
	}
	out := []byte{ssrpSvrResp, 0, 0}
	binary.LittleEndian.PutUint16(out[1:3], uint16(len(data)))
	return append(out, data...)
}
