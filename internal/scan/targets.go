package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxAddrs bounds how many addresses one scan may target, so that a
// typo such as 10.0.0.0/8 for 10.0.0.0/24 does not start a 16-million-host
// scan.
const DefaultMaxAddrs = 65536

// ErrPublic is wrapped by the error for a target outside the ranges that
// may be scanned without explicit permission.
var ErrPublic = errors.New("public address refused")

// cgnat is 100.64.0.0/10 (RFC 6598), carrier-grade NAT and often used
// inside organisations; netip has no predicate for it.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// IsInternal reports whether a may be scanned without allowing public
// targets: private (RFC 1918, fc00::/7), loopback, link-local or CGNAT.
func IsInternal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || cgnat.Contains(a)
}

// TargetParser turns command-line targets into addresses. The zero value
// is usable; ParseTargets covers the common case.
type TargetParser struct {
	// AllowPublic permits addresses outside the internal ranges.
	AllowPublic bool
	// MaxAddrs caps the number of distinct addresses; 0 means
	// DefaultMaxAddrs.
	MaxAddrs int
	// Lookup resolves host names; nil means net.DefaultResolver.LookupNetIP.
	Lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// ReadFile reads "@file" arguments; nil means os.ReadFile.
	ReadFile func(name string) ([]byte, error)
}

// ParseTargets parses addresses ("10.0.0.1", "fd00::1"), CIDRs
// ("10.0.0.0/24"), ranges ("10.0.0.1-10.0.0.50", "10.0.0.1-50"), host
// names (all A and AAAA records) and "@file" (one target per line, "#"
// starts a comment). Arguments may also hold comma-separated lists. The
// result has no duplicates and keeps the order of the arguments.
func ParseTargets(args []string, allowPublic bool) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := TargetParser{AllowPublic: allowPublic}
	return p.Parse(ctx, args)
}

// Parse is ParseTargets with the parser's settings.
func (p *TargetParser) Parse(ctx context.Context, args []string) ([]netip.Addr, error) {
	st := &targetState{p: p, seen: map[netip.Addr]bool{}, max: p.MaxAddrs}
	if st.max <= 0 {
		st.max = DefaultMaxAddrs
	}
	for _, arg := range args {
		if err := st.arg(ctx, arg, false); err != nil {
			return nil, err
		}
	}
	if len(st.out) == 0 {
		return nil, errors.New("no targets")
	}
	return st.out, nil
}

type targetState struct {
	p    *TargetParser
	seen map[netip.Addr]bool
	out  []netip.Addr
	max  int
}

func (st *targetState) arg(ctx context.Context, arg string, inFile bool) error {
	for _, t := range strings.FieldsFunc(arg, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if name, ok := strings.CutPrefix(t, "@"); ok {
			if inFile {
				// No nesting: it keeps files from including each other in a loop.
				return fmt.Errorf("target %q: @file is not allowed inside a target file", t)
			}
			if err := st.file(ctx, name); err != nil {
				return err
			}
			continue
		}
		if err := st.one(ctx, t); err != nil {
			return fmt.Errorf("target %q: %w", t, err)
		}
	}
	return nil
}

func (st *targetState) file(ctx context.Context, name string) error {
	read := st.p.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	data, err := read(name)
	if err != nil {
		return fmt.Errorf("target @%s: %w", name, err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if err := st.arg(ctx, line, true); err != nil {
			return fmt.Errorf("@%s line %d: %w", name, n, err)
		}
	}
	return sc.Err()
}

func (st *targetState) one(ctx context.Context, t string) error {
	if strings.Contains(t, "/") {
		pfx, err := netip.ParsePrefix(t)
		if err != nil {
			return err
		}
		if pfx.Masked() != pfx {
			return fmt.Errorf("host bits set (the network is %s)", pfx.Masked())
		}
		// Check the size before enumerating: an IPv6 /64 is 2^64 addresses.
		if hostBits := pfx.Addr().BitLen() - pfx.Bits(); hostBits >= 31 || 1<<hostBits > st.max-len(st.out) {
			return st.tooMany()
		}
		for a := pfx.Addr(); pfx.Contains(a); a = a.Next() {
			if err := st.add(a); err != nil {
				return err
			}
		}
		return nil
	}
	if lo, hi, ok := strings.Cut(t, "-"); ok {
		// Host names may contain '-': it is a range only if the left side
		// is an address.
		if first, err := netip.ParseAddr(lo); err == nil {
			last, err := rangeEnd(first, hi)
			if err != nil {
				return err
			}
			if last.Less(first) {
				return fmt.Errorf("range end %s is before its start %s", last, first)
			}
			if rangeSize(first, last).Cmp(big.NewInt(int64(st.max-len(st.out)))) > 0 {
				return st.tooMany()
			}
			for a := first; ; a = a.Next() {
				if err := st.add(a); err != nil {
					return err
				}
				if a == last {
					return nil
				}
			}
		}
	}
	if a, err := netip.ParseAddr(t); err == nil {
		return st.add(a)
	}
	return st.host(ctx, t)
}

func (st *targetState) host(ctx context.Context, name string) error {
	lookup := st.p.Lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	addrs, err := lookup(ctx, "ip", name)
	if err != nil {
		return fmt.Errorf("not an address, CIDR or range, and resolving it failed: %w", err)
	}
	if len(addrs) == 0 {
		return errors.New("host name has no addresses")
	}
	for _, a := range addrs {
		if err := st.add(a); err != nil {
			return err
		}
	}
	return nil
}

func (st *targetState) add(a netip.Addr) error {
	a = a.Unmap()
	if !st.p.AllowPublic && !IsInternal(a) {
		return fmt.Errorf("%w: %s is not a private, loopback, link-local or CGNAT address (scanning it needs --allow-public, and permission to scan it)", ErrPublic, a)
	}
	if st.seen[a] {
		return nil
	}
	if len(st.out) >= st.max {
		return st.tooMany()
	}
	st.seen[a] = true
	st.out = append(st.out, a)
	return nil
}

// TooManyTargetsError says the targets name more addresses than the parser's MaxAddrs.
type TooManyTargetsError struct{ Max int }

func (e *TooManyTargetsError) Error() string {
	return fmt.Sprintf("more than %d addresses in total", e.Max)
}

func (st *targetState) tooMany() error { return &TooManyTargetsError{Max: st.max} }

// rangeEnd parses the end of "first-end": a full address, or for IPv4 the
// last octet ("10.0.0.1-50") and for IPv6 the last group in hex ("fd00::1-ff").
func rangeEnd(first netip.Addr, s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		if a.Is4() != first.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("range mixes IPv4 and IPv6")
		}
		return a, nil
	}
	if first.Is4() {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("bad range end %q: want an address or the last octet 0-255", s)
		}
		b := first.As4()
		b[3] = byte(n)
		return netip.AddrFrom4(b), nil
	}
	n, err := strconv.ParseUint(s, 16, 16)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bad range end %q: want an address or the last group 0-ffff", s)
	}
	b := first.As16()
	b[14], b[15] = byte(n>>8), byte(n)
	return netip.AddrFrom16(b).WithZone(first.Zone()), nil
}

func rangeSize(first, last netip.Addr) *big.Int {
	f, l := first.As16(), last.As16()
	n := new(big.Int).Sub(new(big.Int).SetBytes(l[:]), new(big.Int).SetBytes(f[:]))
	return n.Add(n, big.NewInt(1))
}
