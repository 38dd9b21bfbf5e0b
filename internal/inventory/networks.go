package inventory

import (
	"net"
	"net/netip"
	"slices"
)

// maxNetworkBits is the widest subnet reported: a larger one (a /16 on a flat network) is
// narrowed to the /24 around the machine's own address, so that a scan schedule sweeps the
// machine's neighbourhood and not 65,536 addresses.
const (
	minNetworkBits = 22
	narrowedBits   = 24
	maxNetworks    = 16
)

// networks lists the private IPv4 subnets (RFC 1918) of the machine's interfaces, for scan
// schedules; on a fixture tree (Root set) only what the Addrs hook gives.
func (c *Collector) networks() []string {
	addrs := c.Addrs
	if addrs == nil {
		if c.Root != "" {
			return nil
		}
		addrs = net.InterfaceAddrs
	}
	as, err := addrs()
	if err != nil {
		return nil
	}
	return PrivateNetworks(as)
}

// PrivateNetworks turns interface addresses into the private IPv4 subnets they sit on,
// sorted, at most 16; subnets wider than /22 become the /24 around the address.
func PrivateNetworks(addrs []net.Addr) []string {
	var out []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !ip.Is4() || !ip.IsPrivate() {
			continue
		}
		bits, _ := ipn.Mask.Size()
		if bits < minNetworkBits {
			bits = narrowedBits
		}
		if bits >= 31 {
			continue // a point-to-point link has no neighbours to scan
		}
		p, err := ip.Prefix(bits)
		if err != nil {
			continue
		}
		out = append(out, p.String())
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxNetworks {
		out = out[:maxNetworks]
	}
	return out
}
