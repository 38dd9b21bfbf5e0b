package scan

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Policy is a firewall policy: which ports each zone may expose.
type Policy struct {
	Zones []Zone `json:"zones"`
	// DefaultAllow says what happens to addresses in no zone: allowed, or
	// (the default) every open port is a violation.
	DefaultAllow bool `json:"default_allow"`
}

// Zone is a set of networks and the ports allowed open in them.
type Zone struct {
	Name  string         `json:"name"`
	CIDRs []netip.Prefix `json:"cidrs"`
	Allow []PortRule     `json:"allow"`
}

// PortRule allows a protocol and port range, written "tcp/443" or
// "tcp/8000-8100".
type PortRule struct {
	Protocol  string `json:"protocol"`
	FirstPort uint16 `json:"first_port"`
	LastPort  uint16 `json:"last_port"`
}

func (r PortRule) String() string {
	if r.FirstPort == r.LastPort {
		return fmt.Sprintf("%s/%d", r.Protocol, r.FirstPort)
	}
	return fmt.Sprintf("%s/%d-%d", r.Protocol, r.FirstPort, r.LastPort)
}

func (r PortRule) allows(protocol string, port uint16) bool {
	return r.Protocol == protocol && r.FirstPort <= port && port <= r.LastPort
}

// Violation is an open port the policy does not allow.
type Violation struct {
	// Zone is the zone the host is in; empty for a host in no zone.
	Zone string `json:"zone,omitempty"`
	// Allowed are the zone's rules, the ones the port is outside of.
	Allowed []string `json:"allowed,omitempty"`
	Message string   `json:"message"`
}

// ParsePolicy reads a policy in YAML:
//
//	zones:
//	  - name: dmz
//	    cidrs: [10.1.0.0/24]
//	    allow: ["tcp/80", "tcp/443"]
//	default: deny   # or allow: what applies to addresses in no zone
//
// Unknown keys are errors (a misspelt "allow" must not silently deny or
// allow everything), as are bad networks and port rules, a network listed
// in two zones, and duplicate zone names.
func ParsePolicy(r io.Reader) (Policy, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(r).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Policy{}, errors.New("policy: empty file")
		}
		return Policy{}, fmt.Errorf("policy: %w", err)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return Policy{}, fmt.Errorf("policy: line %d: want a mapping with zones and default", root.Line)
	}
	var p Policy
	for key, val := range pairs(root) {
		switch key.Value {
		case "zones":
			if val.Kind != yaml.SequenceNode {
				return Policy{}, fmt.Errorf("policy: line %d: zones must be a list", val.Line)
			}
			for i, zn := range val.Content {
				z, err := parseZone(i, zn)
				if err != nil {
					return Policy{}, fmt.Errorf("policy: %w", err)
				}
				p.Zones = append(p.Zones, z)
			}
		case "default":
			switch val.Value {
			case "deny":
			case "allow":
				p.DefaultAllow = true
			default:
				return Policy{}, fmt.Errorf("policy: line %d: default must be deny or allow, not %q", val.Line, val.Value)
			}
		default:
			return Policy{}, fmt.Errorf("policy: line %d: unknown key %q (want zones, default)", key.Line, key.Value)
		}
	}
	return p, p.validate()
}

// pairs iterates over the keys and values of a mapping node.
func pairs(n *yaml.Node) func(yield func(k, v *yaml.Node) bool) {
	return func(yield func(k, v *yaml.Node) bool) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !yield(n.Content[i], n.Content[i+1]) {
				return
			}
		}
	}
}

func parseZone(i int, n *yaml.Node) (Zone, error) {
	var z Zone
	label := fmt.Sprintf("zone #%d (line %d)", i+1, n.Line)
	if n.Kind != yaml.MappingNode {
		return z, fmt.Errorf("%s: want a mapping with name, cidrs, allow", label)
	}
	for k, v := range pairs(n) {
		if k.Value == "name" {
			if err := v.Decode(&z.Name); err != nil || strings.TrimSpace(z.Name) == "" {
				return z, fmt.Errorf("%s: name must be a non-empty string", label)
			}
			label = fmt.Sprintf("zone %q", z.Name)
		}
	}
	if z.Name == "" {
		return z, fmt.Errorf("%s: missing name", label)
	}
	for k, v := range pairs(n) {
		var list []string
		switch k.Value {
		case "name":
			continue
		case "cidrs", "allow":
			if err := v.Decode(&list); err != nil {
				return z, fmt.Errorf("%s: line %d: %s must be a list of strings", label, v.Line, k.Value)
			}
		default:
			return z, fmt.Errorf("%s: line %d: unknown key %q (want name, cidrs, allow)", label, k.Line, k.Value)
		}
		for _, s := range list {
			if k.Value == "cidrs" {
				pfx, err := parseNetwork(s)
				if err != nil {
					return z, fmt.Errorf("%s: cidrs: %w", label, err)
				}
				z.CIDRs = append(z.CIDRs, pfx)
			} else {
				r, err := parsePortRule(s)
				if err != nil {
					return z, fmt.Errorf("%s: allow: %w", label, err)
				}
				z.Allow = append(z.Allow, r)
			}
		}
	}
	if len(z.CIDRs) == 0 {
		return z, fmt.Errorf("%s: cidrs: no networks", label)
	}
	return z, nil
}

// parseNetwork accepts a CIDR or a single address. Host bits are an error:
// "10.1.0.5/24" is more likely a mistake than a way to write 10.1.0.0/24.
func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad network %q", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad network %q", s)
	}
	if pfx.Masked() != pfx {
		return netip.Prefix{}, fmt.Errorf("bad network %q: host bits set (the network is %s)", s, pfx.Masked())
	}
	return pfx, nil
}

func parsePortRule(s string) (PortRule, error) {
	proto, ports, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "/")
	if !ok || (proto != TCP && proto != UDP) {
		return PortRule{}, fmt.Errorf("bad rule %q: want tcp/PORT, udp/PORT or a range such as tcp/8000-8100", s)
	}
	lo, hi, err := parsePortRange(ports)
	if err != nil {
		return PortRule{}, fmt.Errorf("bad rule %q: %w", s, err)
	}
	return PortRule{Protocol: proto, FirstPort: lo, LastPort: hi}, nil
}

func (p Policy) validate() error {
	names := map[string]bool{}
	owner := map[netip.Prefix]string{}
	for _, z := range p.Zones {
		if names[z.Name] {
			return fmt.Errorf("policy: zone %q defined twice", z.Name)
		}
		names[z.Name] = true
		for _, c := range z.CIDRs {
			// With equal prefixes neither would be more specific.
			if o, dup := owner[c]; dup && o != z.Name {
				return fmt.Errorf("policy: zone %q: cidrs: %s is also in zone %q", z.Name, c, o)
			}
			owner[c] = z.Name
		}
	}
	return nil
}

// ZoneOf returns the zone of a, the one with the most specific network
// containing it, or nil.
func (p Policy) ZoneOf(a netip.Addr) *Zone {
	a = a.WithZone("").Unmap()
	var best *Zone
	bits := -1
	for i := range p.Zones {
		for _, c := range p.Zones[i].CIDRs {
			if c.Bits() > bits && c.Contains(a) {
				best, bits = &p.Zones[i], c.Bits()
			}
		}
	}
	return best
}

// Check returns the violation for an open port the policy does not allow,
// or nil. Ports that are not open never violate.
func (p Policy) Check(f Finding) *Violation {
	if f.State != StateOpen {
		return nil
	}
	svc := fmt.Sprintf("%s/%d", f.Protocol, f.Port)
	z := p.ZoneOf(f.Host)
	if z == nil {
		if p.DefaultAllow {
			return nil
		}
		return &Violation{Message: fmt.Sprintf("%s open on %s, which is in no zone (default: deny)", svc, f.Host)}
	}
	allowed := make([]string, len(z.Allow))
	for i, r := range z.Allow {
		if r.allows(f.Protocol, f.Port) {
			return nil
		}
		allowed[i] = r.String()
	}
	msg := fmt.Sprintf("%s open in zone %s, which allows nothing", svc, z.Name)
	if len(allowed) > 0 {
		msg = fmt.Sprintf("%s open in zone %s, which allows only %s", svc, z.Name, strings.Join(allowed, ", "))
	}
	return &Violation{Zone: z.Name, Allowed: allowed, Message: msg}
}
