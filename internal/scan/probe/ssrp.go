package probe

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// SQL Server Resolution Protocol ([MC-SQLR]) message types.
const (
	ssrpClntBcastEx  = 0x02 // CLNT_BCAST_EX: all instances, broadcast
	ssrpClntUcastEx  = 0x03 // CLNT_UCAST_EX: all instances, unicast
	ssrpClntUcastIns = 0x04 // CLNT_UCAST_INST: one named instance
	ssrpClntUcastDAC = 0x0F // CLNT_UCAST_DAC: dedicated admin connection port
	ssrpSvrResp      = 0x05 // SVR_RESP
	// ssrpMaxInstName is the longest instance name a request may carry
	// (32 bytes, not counting the terminating NUL).
	ssrpMaxInstName = 32
	// Limits on RESP_DATA: 1024 bytes answering CLNT_UCAST_INST, 65535
	// answering CLNT_BCAST_EX/CLNT_UCAST_EX.
	ssrpMaxInstResp = 1024
	ssrpMaxResp     = 65535
	ssrpMaxRecords  = 256
)

// SQLInstance is one SQL Server instance as the Resolution Protocol
// describes it.
type SQLInstance struct {
	ServerName   string `json:"server_name"`
	InstanceName string `json:"instance_name"`
	IsClustered  bool   `json:"is_clustered"`
	Version      string `json:"version"`
	TCPPort      int    `json:"tcp_port,omitempty"`   // 0: TCP not enabled
	NamedPipe    string `json:"named_pipe,omitempty"` // "": named pipes not enabled
	// DACPort is the dedicated administrator connection port a responder
	// returns for CLNT_UCAST_DAC (0: no answer). Not part of SVR_RESP.
	DACPort int `json:"dac_port,omitempty"`
}

var (
	errSSRP          = errors.New("probe: malformed SQL Server Resolution Protocol response")
	errSSRPTruncated = errors.New("probe: SQL Server Resolution Protocol response truncated")
)

// ParseSSRPResponse parses an SVR_RESP message answering CLNT_BCAST_EX,
// CLNT_UCAST_EX or CLNT_UCAST_INST: 0x05, RESP_SIZE (uint16 little
// endian), RESP_DATA ("ServerName;S;InstanceName;I;IsClustered;No;
// Version;V;[np;PIPE;][tcp;PORT;]...;" records each ending with ";;").
// It never panics; a record cut short by RESP_SIZE or the datagram is
// dropped and errSSRPTruncated returned with the complete ones.
func ParseSSRPResponse(b []byte) ([]SQLInstance, error) {
	if len(b) < 3 || b[0] != ssrpSvrResp {
		return nil, errSSRP
	}
	size := int(b[1]) | int(b[2])<<8
	data := b[3:]
	var truncErr error
	if size < len(data) {
		data = data[:size]
	} else if size > len(data) {
		truncErr = errSSRPTruncated
	}
	if len(data) == 0 {
		return nil, errSSRP
	}
	toks := strings.Split(string(data), ";")
	var out []SQLInstance
	i := 0
	for i < len(toks) && len(out) < ssrpMaxRecords {
		inst, next, complete, ok := parseSSRPRecord(toks, i)
		if !ok {
			if len(out) == 0 {
				return nil, errSSRP
			}
			return out, errSSRP
		}
		if !complete {
			if len(out) == 0 && truncErr == nil {
				return nil, errSSRP
			}
			return out, errSSRPTruncated
		}
		out = append(out, inst)
		i = next
		if i < len(toks) && toks[i] == "" && i == len(toks)-1 {
			break
		}
	}
	if len(out) == 0 {
		return nil, errSSRP
	}
	return out, truncErr
}

// ssrpValues is how many values follow each key; bv carries three.
var ssrpValues = map[string]int{"bv": 3}

// parseSSRPRecord reads key;value pairs from toks[i:] until an empty key
// (the second ';' of ";;"). complete is false when the tokens ran out
// first; ok is false on a malformed record.
func parseSSRPRecord(toks []string, i int) (inst SQLInstance, next int, complete, ok bool) {
	seen := false
	for i < len(toks) {
		key := toks[i]
		if key == "" {
			if !seen || inst.InstanceName == "" {
				return inst, i, false, false
			}
			return inst, i + 1, true, true
		}
		n := 1
		if v, ok := ssrpValues[strings.ToLower(key)]; ok {
			n = v
		}
		if i+n >= len(toks) {
			return inst, len(toks), false, true
		}
		val := toks[i+1]
		switch strings.ToLower(key) {
		case "servername":
			inst.ServerName = printable(val, 128)
		case "instancename":
			inst.InstanceName = printable(val, 128)
		case "isclustered":
			inst.IsClustered = strings.EqualFold(val, "Yes")
		case "version":
			inst.Version = printable(val, 64)
		case "tcp":
			p, err := strconv.Atoi(val)
			if err != nil || p < 0 || p > 65535 {
				return inst, i, false, false
			}
			inst.TCPPort = p
		case "np":
			inst.NamedPipe = printable(val, 256)
		}
		seen = true
		i += 1 + n
	}
	return inst, i, false, true
}

// QuerySQLBrowser sends CLNT_UCAST_EX to addr (usually UDP 1434) and
// returns the instances from the SVR_RESP answer; retries and timeout as
// for IdentifyUDP. A nil slice and nil error means no answer.
func QuerySQLBrowser(ctx context.Context, addr netip.AddrPort, timeout time.Duration, retries int) ([]SQLInstance, error) {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	u := &udpSession{ctx: ctx, addr: addr, timeout: timeout, retries: max(0, min(retries, 10))}
	return u.querySSRP()
}

func (u *udpSession) querySSRP() ([]SQLInstance, error) {
	resp, err := u.exchange([]byte{ssrpClntUcastEx}, u.retries, func(b []byte) bool {
		insts, _ := ParseSSRPResponse(b)
		return len(insts) > 0
	})
	if resp == nil {
		return nil, err
	}
	return ParseSSRPResponse(resp)
}

// probeSSRP identifies SQL Server through the Resolution Protocol.
func probeSSRP(u *udpSession) (Info, bool, error) {
	insts, err := u.querySSRP()
	if len(insts) == 0 {
		return Info{}, false, err
	}
	info := Info{Service: "mssql", Product: "Microsoft SQL Server", Version: insts[0].Version}
	info.Banner = printable(insts[0].ServerName+"\\"+insts[0].InstanceName+" "+insts[0].Version, maxBanner)
	info.set("protocol", "SQL Server Resolution Protocol")
	if errors.Is(err, errSSRPTruncated) {
		info.set("truncated", "yes")
	}
	var summary []string
	for n, in := range insts {
		p := "instance." + itoa(n) + "."
		info.set(p+"server_name", in.ServerName)
		info.set(p+"name", in.InstanceName)
		info.set(p+"version", in.Version)
		info.set(p+"clustered", map[bool]string{true: "yes", false: "no"}[in.IsClustered])
		s := in.InstanceName + " " + in.Version
		if in.TCPPort != 0 {
			info.set(p+"tcp_port", itoa(in.TCPPort))
			s += " tcp/" + itoa(in.TCPPort)
		}
		if in.NamedPipe != "" {
			info.set(p+"named_pipe", in.NamedPipe)
			s += " np=" + in.NamedPipe
		}
		summary = append(summary, s)
	}
	info.set("instance_count", itoa(len(insts)))
	info.set("instances", strings.Join(summary, "; "))
	return info, true, nil
}
