package inventory

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

// recording names files of real command output under testdata/recorded (see its README).
type recording struct {
	stdout string // file holding the command's stdout
	stderr string // when set, the command failed with this stderr
	exit   int
}

// recordedRun returns a Run that answers with recorded output, keyed by "tool args..."; a
// command without a recording fails the test.
func recordedRun(t *testing.T, recs map[string]recording) func(context.Context, string, ...string) ([]byte, error) {
	return func(_ context.Context, name string, args ...string) ([]byte, error) {
		if !path.IsAbs(name) {
			t.Errorf("Run(%q): want the tool's absolute path", name)
		}
		key := strings.Join(append([]string{path.Base(name)}, args...), " ")
		rec, ok := recs[key]
		if !ok {
			t.Errorf("unexpected command %q", key)
			return nil, fmt.Errorf("exec: %q: executable file not found in $PATH", name)
		}
		var out []byte
		if rec.stdout != "" {
			out = readTestdata(t, "recorded/"+rec.stdout)
		}
		if rec.stderr != "" {
			return out, runError(fmt.Errorf("exit status %d", rec.exit), readTestdata(t, "recorded/"+rec.stderr))
		}
		return out, nil
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixture(name string, run func(context.Context, string, ...string) ([]byte, error)) *Collector {
	return &Collector{Root: filepath.Join("testdata", name), Run: run, Hostname: name + "-host", GOOS: "linux"}
}

func TestInventoryFixtures(t *testing.T) {
	tests := []struct {
		name string
		want protocol.Inventory
	}{
		{
			name: "debian12",
			want: protocol.Inventory{
				Hostname:   "debian12-host",
				MachineID:  "3f1c2a9b7d4e4c8f9a0b1c2d3e4f5a6b",
				OSID:       "debian",
				OSVersion:  "12",
				OSCodename: "bookworm",
				OSName:     "Debian GNU/Linux 12 (bookworm)",
				Kernel:     "6.1.0-28-amd64",
				Arch:       "amd64",
				Languages:  []string{"de", "de-CH", "en-US", "fr-CH"},
				Packages: []protocol.Package{
					{Name: "base-files", Version: "12.4+deb12u11", Arch: "amd64"},
					{Name: "bash", Version: "5.2.15-2+b8", Arch: "amd64"},
					{Name: "clamav", Version: "1.0.7+dfsg-1~deb12u1", Arch: "amd64"},
					{Name: "clamav-base", Version: "1.0.7+dfsg-1~deb12u1", Arch: "all", Source: "clamav"},
					{Name: "clamav-daemon", Version: "1.0.7+dfsg-1~deb12u1", Arch: "amd64", Source: "clamav"},
					{Name: "clamav-freshclam", Version: "1.0.7+dfsg-1~deb12u1", Arch: "amd64", Source: "clamav"},
					{Name: "iptables", Version: "1.8.9-2", Arch: "amd64"},
					{Name: "libc6", Version: "2.36-9+deb12u14", Arch: "amd64", Source: "glibc"},
					{Name: "libc6", Version: "2.36-9+deb12u14", Arch: "i386", Source: "glibc"},
					{Name: "libclamav11", Version: "1.0.7+dfsg-1~deb12u1", Arch: "amd64", Source: "clamav"},
					{Name: "libssl3", Version: "3.0.19-1~deb12u2", Arch: "amd64", Source: "openssl"},
					{Name: "linux-image-6.1.0-28-amd64", Version: "6.1.119-1", Arch: "amd64", Source: "linux-signed-amd64"},
					{Name: "nftables", Version: "1.0.6-2+deb12u2", Arch: "amd64"},
					{Name: "openssl", Version: "3.0.19-1~deb12u2", Arch: "amd64"},
					{Name: "tzdata", Version: "2025b-0+deb12u2", Arch: "all"},
					{Name: "ufw", Version: "0.36.2-1", Arch: "all"},
				},
			},
		},
		{
			// os-release only in /usr/lib, machine-id only in /var/lib/dbus.
			name: "ubuntu2404",
			want: protocol.Inventory{
				Hostname:   "ubuntu2404-host",
				MachineID:  "9e8d7c6b5a4f4e3d2c1b0a9f8e7d6c5b",
				OSID:       "ubuntu",
				OSVersion:  "24.04",
				OSCodename: "noble",
				OSName:     "Ubuntu 24.04.1 LTS",
				Kernel:     "6.8.0-45-generic",
				Arch:       "arm64",
				Languages:  []string{"en-US"},
				Packages: []protocol.Package{
					{Name: "base-files", Version: "13ubuntu10.1", Arch: "arm64"},
					{Name: "libc6", Version: "2.39-0ubuntu8.3", Arch: "arm64", Source: "glibc"},
					{Name: "libssl3t64", Version: "3.0.13-0ubuntu3.4", Arch: "arm64", Source: "openssl"},
					{Name: "linux-image-6.8.0-48-generic", Version: "6.8.0-48.48", Arch: "arm64", Source: "linux-signed"},
					{Name: "openssl", Version: "3.0.13-0ubuntu3.4", Arch: "arm64"},
					{Name: "python3.12", Version: "3.12.3-1ubuntu0.1", Arch: "arm64"},
					{Name: "tzdata", Version: "2024a-3ubuntu1.1", Arch: "all"},
					{Name: "ufw", Version: "0.36.2-6", Arch: "all"},
				},
			},
		},
		{
			// Nothing to read: os-release(5)'s defaults and the running architecture.
			name: "minimal",
			want: protocol.Inventory{
				Hostname: "minimal-host",
				OSID:     "linux",
				OSName:   "Linux",
				Arch:     dpkgArch(runtime.GOARCH),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fixture(tt.name, nil).Inventory(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Inventory() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestInventoryCorruptStatus(t *testing.T) {
	_, err := fixture("corrupt", nil).Inventory(context.Background())
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 14 {
		t.Fatalf("Inventory() error = %v, want a SyntaxError at line 14", err)
	}
	if want := filepath.Join("testdata", "corrupt", "var", "lib", "dpkg", "status") + ": line 14:"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the file and line (%q)", err, want)
	}
}

func TestInventoryCorruptOSRelease(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"etc/os-release": "ID=debian\nNAME=\"Debian\n"})
	_, err := (&Collector{Root: root, Hostname: "h", GOOS: "linux"}).Inventory(context.Background())
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 2 || !strings.Contains(err.Error(), "os-release") {
		t.Fatalf("Inventory() error = %v, want os-release line 2", err)
	}
}

func TestInventoryOtherSystems(t *testing.T) {
	tests := []struct {
		goos, root string
		want       protocol.Inventory
	}{
		{"windows", "debian12", protocol.Inventory{Hostname: "h", OSID: "windows", Arch: dpkgArch(runtime.GOARCH)}},
		{"darwin", "macos", protocol.Inventory{Hostname: "h", OSID: "darwin", OSVersion: "14.5", OSName: "macOS 14.5", Arch: dpkgArch(runtime.GOARCH)}},
	}
	for _, tt := range tests {
		t.Run(tt.goos, func(t *testing.T) {
			c := &Collector{Root: filepath.Join("testdata", tt.root), Hostname: "h", GOOS: tt.goos}
			got, err := c.Inventory(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Inventory() = %+v, want %+v", got, tt.want)
			}
			h, err := c.Health(context.Background())
			if err != nil || h.Firewall.DefaultInput != policyUnknown || h.RebootRequired || h.Antivirus != nil {
				t.Errorf("Health() = %+v, %v; want nothing but an unknown firewall", h, err)
			}
		})
	}
}

func TestHealthFixtures(t *testing.T) {
	signed := time.Date(2026, 11, 14, 9, 23, 0, 0, time.UTC)
	tests := []struct {
		name string
		recs map[string]recording
		want protocol.Health
	}{
		{
			name: "debian12",
			// ufw on iptables-nft: its policy DROP shows in the nft ruleset.
			recs: map[string]recording{"nft -j list ruleset": {stdout: "nft-iptables-policy-drop.json"}},
			want: protocol.Health{
				RebootRequired: true,
				RebootPackages: []string{"libc6", "linux-image-6.1.0-28-amd64"},
				Antivirus: []protocol.Antivirus{{
					Engine: "clamav", EngineVersion: "1.0.7", SignatureVersion: "27461",
					SignatureTime: &signed, Running: true,
				}},
				Firewall: protocol.Firewall{
					Tools: []string{"nftables", "iptables", "ufw"}, Enabled: true, DefaultInput: "drop", Detail: "nft ruleset",
				},
				BootTime: timePtr(1763800000),
			},
		},
		{
			name: "ubuntu2404",
			recs: map[string]recording{
				"nft -j list ruleset": {stdout: "nft-empty.json"},
				"iptables -S INPUT":   {stdout: "iptables-empty.txt"},
			},
			want: protocol.Health{
				Firewall: protocol.Firewall{
					Tools: []string{"nftables", "iptables", "ufw"}, Enabled: false, DefaultInput: "accept", Detail: "iptables -S INPUT",
				},
				BootTime: timePtr(1763890000),
			},
		},
		{
			name: "minimal",
			want: protocol.Health{
				Firewall: protocol.Firewall{DefaultInput: "unknown", Detail: "no firewall tool found (nft, iptables, ufw)"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fixture(tt.name, recordedRun(t, tt.recs)).Health(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Health() =\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

func dump(h protocol.Health) string {
	var av []string
	for _, a := range h.Antivirus {
		av = append(av, fmt.Sprintf("%+v time=%v", a, a.SignatureTime))
	}
	return fmt.Sprintf("reboot=%v %q boot=%s av=%v fw=%+v", h.RebootRequired, h.RebootPackages, timeStr(h.BootTime), av, h.Firewall)
}

func TestHealthRebootInRun(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"run/reboot-required": "", "run/reboot-required.pkgs": "openssl\n"})
	h, err := (&Collector{Root: root, GOOS: "linux"}).Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !h.RebootRequired || !slices.Equal(h.RebootPackages, []string{"openssl"}) {
		t.Errorf("RebootRequired, RebootPackages = %v, %q; want true, [openssl]", h.RebootRequired, h.RebootPackages)
	}
}

func TestHealthCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fixture("minimal", nil).Health(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Health(cancelled) error = %v, want context.Canceled", err)
	}
}

func TestInventoryHash(t *testing.T) {
	ctx := context.Background()
	c := fixture("debian12", nil)
	first, err := c.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Hash() != second.Hash() {
		t.Fatalf("hash differs between two collections: %s, %s", first.Hash(), second.Hash())
	}

	// The same tree with one package upgraded.
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(c.Root)); err != nil {
		t.Fatal(err)
	}
	status := filepath.Join(root, "var", "lib", "dpkg", "status")
	b, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	upgraded := strings.Replace(string(b), "Version: 3.0.19-1~deb12u2\n", "Version: 3.0.19-1~deb12u3\n", 1)
	if upgraded == string(b) {
		t.Fatal("fixture has no libssl3 3.0.19-1~deb12u2 to upgrade")
	}
	if err := os.WriteFile(status, []byte(upgraded), 0o644); err != nil {
		t.Fatal(err)
	}
	copied, err := (&Collector{Root: root, Hostname: c.Hostname, GOOS: "linux"}).Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if copied.Hash() == first.Hash() {
		t.Errorf("hash unchanged after a package version changed")
	}
	var changed []string
	for i := range copied.Packages {
		if copied.Packages[i] != first.Packages[i] {
			changed = append(changed, copied.Packages[i].Name+" "+copied.Packages[i].Version)
		}
	}
	if want := []string{"libssl3 3.0.19-1~deb12u3"}; !slices.Equal(changed, want) {
		t.Errorf("changed packages = %q, want %q", changed, want)
	}
}

func TestDpkgArch(t *testing.T) {
	for goarch, want := range map[string]string{"amd64": "amd64", "arm64": "arm64", "386": "i386", "arm": "armhf", "ppc64le": "ppc64el"} {
		if got := dpkgArch(goarch); got != want {
			t.Errorf("dpkgArch(%q) = %q, want %q", goarch, got, want)
		}
	}
}

// TestRealMachine collects this machine's inventory and compares it with what the system's
// own tools say.
func TestRealMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the real-machine checks read Linux files")
	}
	ctx := context.Background()
	var c Collector
	inv, err := c.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if inv.Hostname != host {
		t.Errorf("Hostname = %q, want %q", inv.Hostname, host)
	}
	if want := osReleaseID(t); inv.OSID != want {
		t.Errorf("OSID = %q, want %q", inv.OSID, want)
	}

	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Logf("no dpkg-query: package list not compared")
	} else {
		out, err := exec.Command("dpkg-query", "-W", "-f", "${binary:Package}\t${Version}\t${Architecture}\t${Status}\n").Output()
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for line := range strings.Lines(string(out)) {
			f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
			if len(f) == 4 && (f[3] == "install ok installed" || f[3] == "hold ok installed") {
				name, _, _ := strings.Cut(f[0], ":")
				want = append(want, name+" "+f[1]+" "+f[2])
			}
		}
		var got []string
		for _, p := range inv.Packages {
			got = append(got, p.Name+" "+p.Version+" "+p.Arch)
		}
		slices.Sort(want)
		slices.Sort(got)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("packages differ from dpkg-query: %d collected, %d from dpkg-query\nonly collected: %q\nonly dpkg-query: %q",
				len(got), len(want), minus(got, want), minus(want, got))
		}
	}

	h, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains([]string{"accept", "drop", "reject", "unknown"}, h.Firewall.DefaultInput) {
		t.Errorf("Firewall.DefaultInput = %q", h.Firewall.DefaultInput)
	}
	t.Logf("firewall: %+v", h.Firewall)
}

func osReleaseID(t *testing.T) string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		f, err = os.Open("/usr/lib/os-release")
	}
	if err != nil {
		return "linux"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ID="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return "linux"
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// writeFiles creates files under root, named with slashes.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func timePtr(secs int64) *time.Time {
	t := time.Unix(secs, 0).UTC()
	return &t
}

func timeStr(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.Format(time.RFC3339)
}

func TestPrivateNetworks(t *testing.T) {
	ipnet := func(cidr string) net.Addr {
		ip, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip // an interface address keeps its host part
		return n
	}
	tests := []struct {
		name  string
		addrs []string
		want  []string
	}{
		{"lan", []string{"192.168.1.23/24"}, []string{"192.168.1.0/24"}},
		{"small subnet", []string{"10.1.2.70/26"}, []string{"10.1.2.64/26"}},
		{"widest kept", []string{"10.1.5.9/22"}, []string{"10.1.4.0/22"}},
		{"flat network narrowed", []string{"172.16.33.4/16"}, []string{"172.16.33.0/24"}},
		{"public, loopback, link-local, IPv6 left out", []string{"203.0.113.5/24", "127.0.0.1/8", "169.254.1.1/16", "fd00::1/64", "2001:db8::1/64"}, nil},
		{"point to point left out", []string{"10.9.9.1/31", "10.9.9.2/32"}, nil},
		{"sorted, without repeats", []string{"192.168.1.5/24", "10.0.0.2/24", "192.168.1.6/24"}, []string{"10.0.0.0/24", "192.168.1.0/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var as []net.Addr
			for _, a := range tt.addrs {
				as = append(as, ipnet(a))
			}
			if got := PrivateNetworks(as); !slices.Equal(got, tt.want) {
				t.Errorf("PrivateNetworks(%v) = %v, want %v", tt.addrs, got, tt.want)
			}
		})
	}
	// On this machine: whatever it has, every subnet is private IPv4 and at most /22 wide.
	for _, n := range (&Collector{}).networks() {
		p, err := netip.ParsePrefix(n)
		if err != nil || !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Bits() < 22 || p.Masked() != p {
			t.Errorf("this machine's network %q", n)
		}
	}
}
