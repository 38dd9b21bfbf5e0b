package scan

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestParseTargets(t *testing.T) {
	files := map[string]string{
		"hosts.txt": "# lab hosts\n10.0.0.1\n\n10.0.0.2 # db\n  fd00::1,192.168.1.0/31\n",
		"nested":    "@hosts.txt\n",
		"public":    "10.0.0.1\n8.8.4.4\n",
	}
	p := TargetParser{
		Lookup: func(_ context.Context, _, host string) ([]netip.Addr, error) {
			switch host {
			case "db.lab":
				return []netip.Addr{netip.MustParseAddr("10.9.0.5"), netip.MustParseAddr("::ffff:10.9.0.6"), netip.MustParseAddr("fd00::5")}, nil
			case "www.example.com":
				return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
			}
			return nil, errors.New("no such host")
		},
		ReadFile: func(name string) ([]byte, error) {
			if s, ok := files[name]; ok {
				return []byte(s), nil
			}
			return nil, os.ErrNotExist
		},
	}
	tests := []struct {
		args        []string
		allowPublic bool
		max         int
		want        string // addresses joined by space, or the count as "#N"
		err         string // substring of the error
	}{
		{args: []string{"10.0.0.1"}, want: "10.0.0.1"},
		{args: []string{"fd00::1", "::1", "127.0.0.1"}, want: "fd00::1 ::1 127.0.0.1"},
		{args: []string{"fe80::1%eth0", "169.254.3.4"}, want: "fe80::1%eth0 169.254.3.4"},
		{args: []string{"100.64.0.1", "100.127.255.255"}, want: "100.64.0.1 100.127.255.255"},
		{args: []string{"::ffff:10.0.0.1"}, want: "10.0.0.1"},
		{args: []string{"10.0.0.0/30"}, want: "10.0.0.0 10.0.0.1 10.0.0.2 10.0.0.3"},
		{args: []string{"10.0.0.1-10.0.0.3"}, want: "10.0.0.1 10.0.0.2 10.0.0.3"},
		{args: []string{"10.0.0.254-10.0.1.1"}, want: "10.0.0.254 10.0.0.255 10.0.1.0 10.0.1.1"},
		{args: []string{"10.0.0.1-3"}, want: "10.0.0.1 10.0.0.2 10.0.0.3"},
		{args: []string{"fd00::9-b"}, want: "fd00::9 fd00::a fd00::b"},
		{args: []string{"10.0.0.1,10.0.0.2", "10.0.0.1"}, want: "10.0.0.1 10.0.0.2"},
		{args: []string{"db.lab"}, want: "10.9.0.5 10.9.0.6 fd00::5"},
		{args: []string{"@hosts.txt"}, want: "10.0.0.1 10.0.0.2 fd00::1 192.168.1.0 192.168.1.1"},
		{args: []string{"10.0.0.0/16"}, want: "#65536"},
		{args: []string{"10.0.0.0/15"}, max: 1 << 17, want: "#131072"},
		{args: []string{"8.8.8.8"}, allowPublic: true, want: "8.8.8.8"},
		{args: []string{"www.example.com"}, allowPublic: true, want: "93.184.215.14"},

		{args: []string{"8.8.8.8"}, err: `target "8.8.8.8": public address refused: 8.8.8.8 is not`},
		{args: []string{"172.32.0.1"}, err: `"172.32.0.1": public`},
		{args: []string{"100.128.0.1"}, err: `"100.128.0.1": public`},
		{args: []string{"2001:db8::1"}, err: `"2001:db8::1": public`},
		{args: []string{"192.168.255.250-192.169.0.2"}, err: `"192.168.255.250-192.169.0.2": public address refused: 192.169.0.0`},
		{args: []string{"www.example.com"}, err: `"www.example.com": public address refused: 93.184.215.14`},
		{args: []string{"@public"}, err: `@public line 2: target "8.8.4.4": public`},
		{args: []string{"10.0.0.0/15"}, err: `"10.0.0.0/15": more than 65536 addresses`},
		{args: []string{"fd00::/64"}, err: `"fd00::/64": more than 65536`},
		{args: []string{"10.0.0.0/16", "10.1.0.0/31"}, err: `"10.1.0.0/31": more than 65536`},
		{args: []string{"10.0.0.0-10.1.0.0"}, err: `"10.0.0.0-10.1.0.0": more than 65536`},
		{args: []string{"10.0.0.1/24"}, err: `"10.0.0.1/24": host bits set (the network is 10.0.0.0/24)`},
		{args: []string{"10.0.0.0/33"}, err: `"10.0.0.0/33"`},
		{args: []string{"10.0.0.5-1"}, err: `"10.0.0.5-1": range end 10.0.0.1 is before its start 10.0.0.5`},
		{args: []string{"10.0.0.5-300"}, err: `"10.0.0.5-300": bad range end "300"`},
		{args: []string{"10.0.0.5-fd00::1"}, err: `"10.0.0.5-fd00::1": range mixes IPv4 and IPv6`},
		{args: []string{"nohost.lab"}, err: `"nohost.lab": not an address, CIDR or range, and resolving it failed: no such host`},
		{args: []string{"@missing.txt"}, err: `target @missing.txt: file does not exist`},
		{args: []string{"@nested"}, err: `@nested line 1: target "@hosts.txt": @file is not allowed`},
		{args: []string{" , "}, err: "no targets"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			p := p
			p.AllowPublic, p.MaxAddrs = tt.allowPublic, tt.max
			got, err := p.Parse(context.Background(), tt.args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want it to contain %q", err, tt.err)
				}
				if strings.Contains(tt.err, "public address refused") && !errors.Is(err, ErrPublic) {
					t.Errorf("error does not wrap ErrPublic")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s string
			if strings.HasPrefix(tt.want, "#") {
				s = fmt.Sprint("#", len(got))
			} else {
				var parts []string
				for _, a := range got {
					parts = append(parts, a.String())
				}
				s = strings.Join(parts, " ")
			}
			if s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

// The real resolver: localhost comes from the hosts file, no network needed.
func TestParseTargetsLocalhost(t *testing.T) {
	got, err := ParseTargets([]string{"localhost"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range got {
		if !a.IsLoopback() {
			t.Errorf("localhost resolved to %s", a)
		}
	}
	if len(got) == 0 {
		t.Error("localhost resolved to nothing")
	}
}
