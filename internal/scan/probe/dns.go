package probe

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"regexp"
	"strings"
)

// DNS constants (RFC 1035).
const (
	dnsTypeTXT  = 16
	dnsTypeNS   = 2
	dnsClassIN  = 1
	dnsClassCH  = 3
	dnsHdrLen   = 12
	dnsMaxLabel = 128 // labels/pointers followed while skipping one name
)

var errDNS = errors.New("probe: malformed DNS message")

// dnsQuery builds a query with one question.
func dnsQuery(id uint16, name string, qtype, qclass uint16, rd bool) []byte {
	b := make([]byte, dnsHdrLen)
	binary.BigEndian.PutUint16(b[0:2], id)
	if rd {
		b[2] = 0x01
	}
	binary.BigEndian.PutUint16(b[4:6], 1)
	for _, l := range strings.Split(strings.Trim(name, "."), ".") {
		if l == "" {
			continue
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, qclass)
}

// dnsResponse is the part of a DNS response the probe uses.
type dnsResponse struct {
	ID     uint16
	RCode  int
	AA, RA bool
	TXT    []string // TXT strings of answers of type TXT
	AnCnt  int
}

// dnsSkipName skips a possibly compressed name starting at off and returns
// the offset after it.
func dnsSkipName(m []byte, off int) (int, error) {
	for range dnsMaxLabel {
		if off >= len(m) {
			return 0, errDNS
		}
		l := int(m[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xC0 == 0xC0:
			if off+2 > len(m) {
				return 0, errDNS
			}
			return off + 2, nil // a pointer ends the name here
		case l&0xC0 != 0:
			return 0, errDNS
		default:
			off += 1 + l
		}
	}
	return 0, errDNS
}

// parseDNSResponse parses header, skips questions and reads answers.
func parseDNSResponse(m []byte) (dnsResponse, error) {
	var r dnsResponse
	if len(m) < dnsHdrLen {
		return r, errDNS
	}
	r.ID = binary.BigEndian.Uint16(m[0:2])
	flags := binary.BigEndian.Uint16(m[2:4])
	if flags&0x8000 == 0 { // QR
		return r, errDNS
	}
	r.AA = flags&0x0400 != 0
	r.RA = flags&0x0080 != 0
	r.RCode = int(flags & 0xF)
	qd := int(binary.BigEndian.Uint16(m[4:6]))
	an := int(binary.BigEndian.Uint16(m[6:8]))
	r.AnCnt = an
	off := dnsHdrLen
	var err error
	for range min(qd, 16) {
		if off, err = dnsSkipName(m, off); err != nil {
			return r, err
		}
		off += 4
	}
	for range min(an, 64) {
		if off, err = dnsSkipName(m, off); err != nil {
			return r, err
		}
		if off+10 > len(m) {
			return r, errDNS
		}
		typ := binary.BigEndian.Uint16(m[off : off+2])
		rdlen := int(binary.BigEndian.Uint16(m[off+8 : off+10]))
		off += 10
		if off+rdlen > len(m) {
			return r, errDNS
		}
		rdata := m[off : off+rdlen]
		off += rdlen
		if typ != dnsTypeTXT {
			continue
		}
		var parts []string
		for len(rdata) > 0 {
			l := int(rdata[0])
			if 1+l > len(rdata) {
				return r, errDNS
			}
			parts = append(parts, string(rdata[1:1+l]))
			rdata = rdata[1+l:]
		}
		r.TXT = append(r.TXT, strings.Join(parts, ""))
	}
	return r, nil
}

func randID() uint16 {
	var b [2]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}

var dnsRCodes = map[int]string{0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

// probeDNS asks CHAOS TXT version.bind, then a plain recursive query for
// the root's NS records (whether the server offers recursion).
func probeDNS(u *udpSession) (Info, bool, error) {
	info := Info{Service: "dns"}
	answered := false
	id := randID()
	resp, err := u.exchange(dnsQuery(id, "version.bind", dnsTypeTXT, dnsClassCH, false), u.retries, func(m []byte) bool {
		r, err := parseDNSResponse(m)
		return err == nil && r.ID == id
	})
	if errors.Is(err, ErrUDPClosed) {
		return Info{}, false, err
	}
	if resp != nil {
		answered = true
		r, _ := parseDNSResponse(resp)
		info.set("version_bind_rcode", rcodeName(r.RCode))
		if len(r.TXT) > 0 {
			v := printable(r.TXT[0], maxBanner)
			info.Banner = v
			info.set("version_bind", v)
			info.Product, info.Version = dnsProduct(v)
		}
	}
	retries := u.retries
	if answered {
		retries = 0
	}
	id2 := randID()
	resp, err = u.exchange(dnsQuery(id2, ".", dnsTypeNS, dnsClassIN, true), retries, func(m []byte) bool {
		r, err := parseDNSResponse(m)
		return err == nil && r.ID == id2
	})
	if resp != nil {
		answered = true
		r, _ := parseDNSResponse(resp)
		info.set("rcode", rcodeName(r.RCode))
		if r.RA {
			info.set("recursion", "yes")
		} else {
			info.set("recursion", "no")
		}
	}
	if !answered {
		return Info{}, false, err
	}
	return info, true, nil
}

func rcodeName(c int) string {
	if n, ok := dnsRCodes[c]; ok {
		return n
	}
	return itoa(c)
}

var (
	reDNSVersion = regexp.MustCompile(`[0-9]+\.[0-9]+(?:\.[0-9]+)?`)
	reBareBIND   = regexp.MustCompile(`^9\.[0-9]+\.[0-9]+`)
)

// dnsProduct names the server from its version.bind text: "dnsmasq-2.89",
// "unbound 1.17.1", "PowerDNS Recursor 4.8.4", "9.18.24-1-Debian" (BIND
// answers with its bare version by default, so a bare 9.x.y is taken as
// BIND).
func dnsProduct(v string) (string, string) {
	lv := strings.ToLower(v)
	ver := reDNSVersion.FindString(v)
	switch {
	case strings.Contains(lv, "dnsmasq"):
		return "dnsmasq", ver
	case strings.Contains(lv, "unbound"):
		return "Unbound", ver
	case strings.Contains(lv, "powerdns"):
		return "PowerDNS", ver
	case strings.Contains(lv, "knot"):
		return "Knot DNS", ver
	case strings.Contains(lv, "bind"), reBareBIND.MatchString(v):
		return "BIND", ver
	}
	return "", ""
}
