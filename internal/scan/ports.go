package scan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Top100TCP are the 100 most frequently open TCP ports according to nmap's
// nmap-services frequency data (the ports "nmap --top-ports 100" scans),
// in ascending order.
var Top100TCP = []uint16{
	7, 9, 13, 21, 22, 23, 25, 26, 37, 53, 79, 80, 81, 88, 106, 110, 111, 113,
	119, 135, 139, 143, 144, 179, 199, 389, 427, 443, 444, 445, 465, 513, 514,
	515, 543, 544, 548, 554, 587, 631, 646, 873, 990, 993, 995, 1025, 1026,
	1027, 1028, 1029, 1110, 1433, 1720, 1723, 1755, 1900, 2000, 2001, 2049,
	2121, 2717, 3000, 3128, 3306, 3389, 3986, 4899, 5000, 5009, 5051, 5060,
	5101, 5190, 5357, 5432, 5631, 5666, 5800, 5900, 6000, 6001, 6646, 7070,
	8000, 8008, 8009, 8080, 8081, 8443, 8888, 9100, 9999, 10000, 32768, 49152,
	49153, 49154, 49155, 49156, 49157,
}

// ParsePorts parses a port list: numbers and ranges separated by commas
// ("22,80,443", "1-1024"), "top100" (Top100TCP) and "all" (1-65535), mixed
// freely ("top100,8443-8450"). The result is sorted and has no duplicates.
func ParsePorts(spec string) ([]uint16, error) {
	var set [65536]bool
	gotAny := false
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		switch strings.ToLower(item) {
		case "":
			continue
		case "top100":
			for _, p := range Top100TCP {
				set[p] = true
			}
		case "all":
			for p := 1; p <= 65535; p++ {
				set[p] = true
			}
		default:
			lo, hi, err := parsePortRange(item)
			if err != nil {
				return nil, fmt.Errorf("ports %q: %w", item, err)
			}
			for p := int(lo); p <= int(hi); p++ {
				set[p] = true
			}
		}
		gotAny = true
	}
	if !gotAny {
		return nil, fmt.Errorf("ports %q: no ports", spec)
	}
	var out []uint16
	for p := 1; p <= 65535; p++ {
		if set[p] {
			out = append(out, uint16(p))
		}
	}
	return out, nil
}

// parsePortRange parses "N" or "N-M" with 1 <= N <= M <= 65535.
func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err = parsePort(a)
	if err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parsePort(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("range end %d is below its start %d", hi, lo)
		}
	}
	return lo, hi, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad port %q: want a number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// FormatPorts writes ports as ParsePorts reads them, sorted, repeats dropped and runs as
// ranges: 22,80,8000-8100. The same set of ports always gives the same text.
func FormatPorts(ports []uint16) string {
	ps := slices.Clone(ports)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	var b strings.Builder
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(ps[i])))
		if j > i {
			b.WriteString("-" + strconv.Itoa(int(ps[j])))
		}
		i = j + 1
	}
	return b.String()
}
