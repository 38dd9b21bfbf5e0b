package scan

import (
	"net/netip"
	"strings"
	"testing"
)

const samplePolicy = `
zones:
  - name: dmz
    cidrs: [10.1.0.0/24]
    allow: ["tcp/80", "tcp/443"]
  - name: internet-facing
    cidrs: [203.0.113.0/24]
    allow: ["tcp/443"]
  - name: servers
    cidrs: [10.2.0.0/16, "fd00:2::/64"]
    allow: ["tcp/22", "tcp/5432", "udp/53", "tcp/8000-8100"]
  - name: bastion            # inside servers, more specific
    cidrs: [10.2.3.4]
    allow: []
default: deny
`

func TestPolicyCheck(t *testing.T) {
	pol, err := ParsePolicy(strings.NewReader(samplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	allowAll, err := ParsePolicy(strings.NewReader(samplePolicy[:strings.LastIndex(samplePolicy, "default")] + "default: allow\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pol   Policy
		host  string
		proto string
		port  uint16
		state State
		zone  string
		msg   string // "" means no violation
	}{
		{pol, "10.1.0.7", TCP, 443, StateOpen, "", ""},
		{pol, "10.1.0.7", TCP, 22, StateOpen, "dmz", "tcp/22 open in zone dmz, which allows only tcp/80, tcp/443"},
		{pol, "203.0.113.9", TCP, 443, StateOpen, "", ""},
		{pol, "203.0.113.9", TCP, 445, StateOpen, "internet-facing", "tcp/445 open in zone internet-facing, which allows only tcp/443"},
		{pol, "203.0.113.9", UDP, 443, StateOpen, "internet-facing", "udp/443 open in zone internet-facing, which allows only tcp/443"},
		{pol, "203.0.113.9", TCP, 445, StateClosed, "", ""},
		{pol, "203.0.113.9", TCP, 445, StateFiltered, "", ""},
		{pol, "10.2.9.9", UDP, 53, StateOpen, "", ""},
		{pol, "10.2.9.9", TCP, 53, StateOpen, "servers", "tcp/53 open in zone servers, which allows only tcp/22, tcp/5432, udp/53, tcp/8000-8100"},
		{pol, "10.2.9.9", TCP, 8000, StateOpen, "", ""},
		{pol, "10.2.9.9", TCP, 8100, StateOpen, "", ""},
		{pol, "10.2.9.9", TCP, 8101, StateOpen, "servers", "tcp/8101 open"},
		{pol, "10.2.9.9", TCP, 7999, StateOpen, "servers", "tcp/7999 open"},
		{pol, "fd00:2::10", TCP, 22, StateOpen, "", ""},
		{pol, "fd00:2::10%eth0", TCP, 23, StateOpen, "servers", "tcp/23 open in zone servers"},
		{pol, "10.2.3.4", TCP, 22, StateOpen, "bastion", "tcp/22 open in zone bastion, which allows nothing"},
		{pol, "10.3.0.1", TCP, 22, StateOpen, "", "tcp/22 open on 10.3.0.1, which is in no zone (default: deny)"},
		{allowAll, "10.3.0.1", TCP, 22, StateOpen, "", ""},
		{allowAll, "10.2.3.4", TCP, 22, StateOpen, "bastion", "which allows nothing"},
	}
	for _, tt := range tests {
		f := Finding{Host: netip.MustParseAddr(tt.host), Port: tt.port, Protocol: tt.proto, State: tt.state}
		v := tt.pol.Check(f)
		switch {
		case tt.msg == "" && v != nil:
			t.Errorf("%s %s/%d: unexpected violation %+v", tt.host, tt.proto, tt.port, v)
		case tt.msg != "" && v == nil:
			t.Errorf("%s %s/%d: no violation, want %q", tt.host, tt.proto, tt.port, tt.msg)
		case v != nil && (v.Zone != tt.zone || !strings.Contains(v.Message, tt.msg)):
			t.Errorf("%s %s/%d: got %q in zone %q, want %q in zone %q", tt.host, tt.proto, tt.port, v.Message, v.Zone, tt.msg, tt.zone)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct{ yaml, err string }{
		{"", "policy: empty file"},
		{"zones: []\ndefualt: deny\n", `line 2: unknown key "defualt"`},
		{"default: maybe\n", `default must be deny or allow, not "maybe"`},
		{"zones: {a: 1}\n", "zones must be a list"},
		{"- a\n", "want a mapping"},
		{"zones:\n  - name: dmz\n    cidrs: [10.1.0.0/24]\n    alow: [tcp/80]\n", `zone "dmz": line 4: unknown key "alow"`},
		{"zones:\n  - cidrs: [10.1.0.0/24]\n", "zone #1 (line 2): missing name"},
		{"zones:\n  - name: dmz\n    cidrs: [10.1.0.0/33]\n", `zone "dmz": cidrs: bad network "10.1.0.0/33"`},
		{"zones:\n  - name: dmz\n    cidrs: [10.1.0.9/24]\n", `zone "dmz": cidrs: bad network "10.1.0.9/24": host bits set (the network is 10.1.0.0/24)`},
		{"zones:\n  - name: dmz\n    cidrs: [dmz.lab]\n", `zone "dmz": cidrs: bad network "dmz.lab"`},
		{"zones:\n  - name: dmz\n    allow: [tcp/80]\n", `zone "dmz": cidrs: no networks`},
		{"zones:\n  - name: dmz\n    cidrs: 10.1.0.0/24\n", `zone "dmz": line 3: cidrs must be a list of strings`},
		{"zones:\n  - name: dmz\n    cidrs: [10.1.0.0/24]\n    allow: [http]\n", `zone "dmz": allow: bad rule "http"`},
		{"zones:\n  - name: dmz\n    cidrs: [10.1.0.0/24]\n    allow: [sctp/80]\n", `zone "dmz": allow: bad rule "sctp/80"`},
		{"zones:\n  - name: dmz\n    cidrs: [10.1.0.0/24]\n    allow: [tcp/0]\n", `zone "dmz": allow: bad rule "tcp/0"`},
		{"zones:\n  - name: dmz\n    cidrs: [10.1.0.0/24]\n    allow: [tcp/90-80]\n", `zone "dmz": allow: bad rule "tcp/90-80": range end 80 is below its start 90`},
		{"zones:\n  - name: a\n    cidrs: [10.1.0.0/24]\n  - name: b\n    cidrs: [10.1.0.0/24]\n", `zone "b": cidrs: 10.1.0.0/24 is also in zone "a"`},
		{"zones:\n  - name: a\n    cidrs: [10.1.0.0/24]\n  - name: a\n    cidrs: [10.2.0.0/24]\n", `zone "a" defined twice`},
		{"zones: [\n", "policy: yaml"},
	}
	for _, tt := range tests {
		_, err := ParsePolicy(strings.NewReader(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: err %v, want %q", tt.yaml, err, tt.err)
		}
	}
}

func TestParsePolicyDefault(t *testing.T) {
	pol, err := ParsePolicy(strings.NewReader("zones: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pol.DefaultAllow {
		t.Error("missing default must deny")
	}
}
