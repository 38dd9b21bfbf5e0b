package scan

import "net/netip"

type findingKey struct {
	host     netip.Addr
	protocol string
	port     uint16
}

func keyOf(f Finding) findingKey {
	return findingKey{f.Host.WithZone(""), f.Protocol, f.Port}
}

// Diff compares the open ports of two scans of the same targets by host,
// protocol and port: opened are open in cur but not in prev (taken from
// cur), closed are open in prev but not in cur (taken from prev). Findings
// in other states are ignored. Both are sorted.
//
// Diff cannot tell "closed" from "not scanned": scans compared should cover
// the same targets and ports, and an interrupted cur makes ports look
// closed, so callers should not diff against an interrupted scan.
func Diff(prev, cur Result) (opened, closed []Finding) {
	was := openSet(prev)
	is := openSet(cur)
	for k, f := range is {
		if _, ok := was[k]; !ok {
			opened = append(opened, f)
		}
	}
	for k, f := range was {
		if _, ok := is[k]; !ok {
			closed = append(closed, f)
		}
	}
	SortFindings(opened)
	SortFindings(closed)
	return opened, closed
}

func openSet(r Result) map[findingKey]Finding {
	m := make(map[findingKey]Finding, len(r.Findings))
	for _, f := range r.Findings {
		if f.State == StateOpen {
			m[keyOf(f)] = f
		}
	}
	return m
}
