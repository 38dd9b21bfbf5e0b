// Package inventory collects what the agent reports about its machine: the inventory (OS,
// architecture, languages, installed packages) and the health facts (pending reboot, antivirus,
// firewall, boot time).
//
// Everything is read from files under Collector.Root, so tests run on fixture trees; external
// commands are run only for the firewall, through Collector.Run.
package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

// runTimeout bounds each external command run by the default Run.
const runTimeout = 10 * time.Second

// Collector reads a machine's facts. The zero value reads the machine it runs on.
type Collector struct {
	// Root is prefixed to every file path ("" means "/"), so tests can point it at a fixture
	// tree (testdata/<name>/etc/os-release, .../var/lib/dpkg/status, ...).
	Root string
	// Run runs an external command and returns its stdout; nil means exec.CommandContext with
	// a 10 s timeout. name is the tool's absolute path on the machine (/usr/sbin/nft). It is
	// used only for the firewall tools; tests replace it with recorded output.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Hostname overrides os.Hostname.
	Hostname string
	// Kernel overrides the kernel release read from /proc/sys/kernel/osrelease.
	Kernel string
	// GOOS is the kind of system whose files are read; "" means runtime.GOOS. Fixture trees
	// of Linux machines set "linux" so that their tests pass on any host.
	GOOS string
	// Addrs lists the interfaces' addresses; nil means net.InterfaceAddrs, or none on a
	// fixture tree (Root set).
	Addrs func() ([]net.Addr, error)
	// DpkgStatus is the dpkg status file the packages are read from; "" means
	// var/lib/dpkg/status under Root. An agent that installs into another dpkg root or
	// database reports that one's packages, so the server judges what it manages.
	DpkgStatus string
}

// SyntaxError reports a malformed line in a file the collector reads.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Inventory collects the machine's inventory, normalized. Missing files give empty fields;
// a file that exists but cannot be parsed (os-release, dpkg status) is an error.
func (c *Collector) Inventory(ctx context.Context) (protocol.Inventory, error) {
	var inv protocol.Inventory
	host := c.Hostname
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return inv, fmt.Errorf("inventory: hostname: %w", err)
		}
		host = h
	}
	inv.Hostname = host
	inv.Networks = c.networks()

	goos := c.goos()
	if goos != "linux" {
		inv.OSID = goos
		if goos == "darwin" {
			inv.OSVersion, inv.OSName = c.darwinVersion()
		}
		inv.Arch = dpkgArch(runtime.GOARCH)
		return inv, nil
	}

	if err := c.osRelease(&inv); err != nil {
		return inv, fmt.Errorf("inventory: %w", err)
	}
	inv.MachineID = c.firstLine("etc/machine-id", "var/lib/dbus/machine-id")
	inv.Kernel = c.Kernel
	if inv.Kernel == "" {
		inv.Kernel = c.firstLine("proc/sys/kernel/osrelease")
	}
	inv.Arch = c.firstLine("var/lib/dpkg/arch")
	if inv.Arch == "" {
		inv.Arch = dpkgArch(runtime.GOARCH)
	}
	inv.Languages = c.languages()
	if err := ctx.Err(); err != nil {
		return inv, err
	}
	pkgs, err := c.packages()
	if err != nil {
		return inv, fmt.Errorf("inventory: %w", err)
	}
	inv.Packages = pkgs
	inv.Normalize()
	return inv, nil
}

// Health collects the machine's health facts. Unreadable facts are left empty (the firewall
// says why in its Detail); only a cancelled context is an error.
func (c *Collector) Health(ctx context.Context) (protocol.Health, error) {
	var h protocol.Health
	if c.goos() != "linux" {
		h.Firewall = protocol.Firewall{DefaultInput: policyUnknown, Detail: "firewall facts are read on Linux only"}
		return h, nil
	}
	h.RebootRequired = c.exists("var/run/reboot-required") || c.exists("run/reboot-required")
	h.RebootPackages = c.rebootPackages()
	h.BootTime = c.bootTime()
	h.Antivirus = c.antivirus()
	h.Firewall = c.firewall(ctx)
	return h, ctx.Err()
}

func (c *Collector) goos() string {
	if c.GOOS != "" {
		return c.GOOS
	}
	return runtime.GOOS
}

// path maps a machine path ("etc/os-release") to the file under Root.
func (c *Collector) path(name string) string {
	root := c.Root
	if root == "" {
		root = string(filepath.Separator)
	}
	return filepath.Join(root, filepath.FromSlash(name))
}

// readOptional reads a file that may legitimately be missing or unreadable; either gives nil.
func (c *Collector) readOptional(name string) []byte {
	b, err := os.ReadFile(c.path(name))
	if err != nil {
		return nil
	}
	return b
}

func (c *Collector) exists(name string) bool {
	_, err := os.Lstat(c.path(name))
	return err == nil
}

// firstLine returns the trimmed first line of the first of the files that has one.
func (c *Collector) firstLine(names ...string) string {
	for _, name := range names {
		line, _, _ := strings.Cut(string(c.readOptional(name)), "\n")
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// dpkgArch maps a Go architecture to dpkg's name for it.
func dpkgArch(goarch string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	case "mips64le":
		return "mips64el"
	}
	return goarch // amd64, arm64, riscv64, s390x, mipsel are spelled alike
}

// packages reads the dpkg status database; a machine without dpkg has no packages.
func (c *Collector) packages() ([]protocol.Package, error) {
	name := c.DpkgStatus
	if name == "" {
		name = c.path("var/lib/dpkg/status")
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dpkg status: %w", err)
	}
	defer f.Close()
	pkgs, err := ParseDpkgStatus(f)
	if err != nil {
		return nil, fmt.Errorf("dpkg status %s: %w", name, err)
	}
	return pkgs, nil
}

func (c *Collector) rebootPackages() []string {
	var pkgs []string
	for _, name := range []string{"var/run/reboot-required.pkgs", "run/reboot-required.pkgs"} {
		for line := range strings.Lines(string(c.readOptional(name))) {
			if line = strings.TrimSpace(line); line != "" {
				pkgs = append(pkgs, line)
			}
		}
		if pkgs != nil {
			break // /var/run is /run on current systems: the same file
		}
	}
	return sortedUnique(pkgs)
}

// uptime reads the first field of /proc/uptime, whole seconds.
func (c *Collector) bootTime() *time.Time {
	// /proc/stat's btime is the boot time in whole seconds: unlike the uptime it is the same
	// at every check-in, so it does not make the health facts look changed each time.
	for _, line := range strings.Split(string(c.readOptional("proc/stat")), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || secs <= 0 {
				return nil
			}
			t := time.Unix(secs, 0).UTC()
			return &t
		}
	}
	return nil
}

// execRun is the default Run: the command's stdout, or an error carrying the first line of its
// stderr, which is what says why (not root, no such table).
func execRun(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, runError(err, stderr.Bytes())
	}
	return out, nil
}

func runError(err error, stderr []byte) error {
	for line := range strings.Lines(string(stderr)) {
		if line = strings.TrimSpace(line); line != "" {
			return fmt.Errorf("%w: %s", err, line)
		}
	}
	return err
}

func (c *Collector) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if c.Run != nil {
		return c.Run(ctx, name, args...)
	}
	return execRun(ctx, name, args...)
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}
