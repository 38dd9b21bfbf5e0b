package scan

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestDiff(t *testing.T) {
	f := func(host string, proto string, port uint16, st State) Finding {
		return Finding{Host: netip.MustParseAddr(host), Port: port, Protocol: proto, State: st}
	}
	prev := Result{Findings: []Finding{
		f("10.0.0.1", TCP, 22, StateOpen),
		f("10.0.0.1", TCP, 80, StateOpen),
		f("10.0.0.2", UDP, 53, StateOpen),
		f("10.0.0.3", TCP, 25, StateClosed),
	}}
	cur := Result{Findings: []Finding{
		f("10.0.0.1", TCP, 22, StateOpen),
		f("10.0.0.1", TCP, 80, StateFiltered), // no longer open
		f("10.0.0.2", TCP, 53, StateOpen),     // same port, other protocol
		f("10.0.0.3", TCP, 25, StateOpen),     // was closed
		f("10.0.0.1", TCP, 443, StateOpen),
	}}
	opened, closed := Diff(prev, cur)
	key := func(fs []Finding) string {
		s := ""
		for _, f := range fs {
			s += fmt.Sprintf("%s %s/%d;", f.Host, f.Protocol, f.Port)
		}
		return s
	}
	if got, want := key(opened), "10.0.0.1 tcp/443;10.0.0.2 tcp/53;10.0.0.3 tcp/25;"; got != want {
		t.Errorf("opened %s, want %s", got, want)
	}
	if got, want := key(closed), "10.0.0.1 tcp/80;10.0.0.2 udp/53;"; got != want {
		t.Errorf("closed %s, want %s", got, want)
	}
	if o, c := Diff(cur, cur); len(o)+len(c) != 0 {
		t.Errorf("diff with itself: %v %v", o, c)
	}
}
