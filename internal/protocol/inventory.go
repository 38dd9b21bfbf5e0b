package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Inventory is what is installed on a machine and what the machine is. It changes rarely, so
// the agent sends its hash at each check-in and the whole of it only when the server asks.
type Inventory struct {
	Hostname   string    `json:"hostname"`
	MachineID  string    `json:"machine_id,omitempty"`  // /etc/machine-id
	OSID       string    `json:"os_id"`                 // os-release ID: debian, ubuntu, windows, darwin
	OSVersion  string    `json:"os_version,omitempty"`  // os-release VERSION_ID: 12
	OSCodename string    `json:"os_codename,omitempty"` // os-release VERSION_CODENAME: bookworm
	OSName     string    `json:"os_name,omitempty"`     // os-release PRETTY_NAME
	Kernel     string    `json:"kernel,omitempty"`      // uname -r
	Arch       string    `json:"arch"`                  // the package manager's name: amd64, arm64
	Languages  []string  `json:"languages,omitempty"`   // BCP 47 tags of the configured locales, sorted
	Networks   []string  `json:"networks,omitempty"`    // private IPv4 subnets of its interfaces, sorted (scan schedules)
	Packages   []Package `json:"packages,omitempty"`    // sorted by name, then architecture
}

// Package is one installed package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
	Source  string `json:"source,omitempty"` // the source package when it differs from Name
}

// Normalize sorts the lists so that equal inventories marshal to equal bytes.
func (inv *Inventory) Normalize() {
	slices.Sort(inv.Languages)
	inv.Languages = slices.Compact(inv.Languages)
	slices.Sort(inv.Networks)
	inv.Networks = slices.Compact(inv.Networks)
	slices.SortFunc(inv.Packages, func(a, b Package) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Arch, b.Arch)
	})
}

// Hash is the SHA-256 of the normalized inventory's JSON, in hex. The agent and the server
// compute it the same way; the server asks for the whole inventory when it does not know it.
func (inv Inventory) Hash() string {
	inv.Languages = slices.Clone(inv.Languages)
	inv.Networks = slices.Clone(inv.Networks)
	inv.Packages = slices.Clone(inv.Packages)
	inv.Normalize()
	b, err := json.Marshal(inv)
	if err != nil {
		panic(err) // only strings and slices of them: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Health holds the facts that a health verdict is made of. It is small and sent at every
// check-in.
type Health struct {
	RebootRequired bool        `json:"reboot_required"`
	RebootPackages []string    `json:"reboot_packages,omitempty"` // /var/run/reboot-required.pkgs
	Antivirus      []Antivirus `json:"antivirus,omitempty"`
	Firewall       Firewall    `json:"firewall"`
	BootTime       *time.Time  `json:"boot_time,omitempty"` // when the machine last started
}

// Antivirus describes one antivirus engine found on the machine.
type Antivirus struct {
	Engine           string     `json:"engine"`                      // clamav
	EngineVersion    string     `json:"engine_version,omitempty"`    // 1.0.7
	SignatureVersion string     `json:"signature_version,omitempty"` // daily.cvd version: 27461
	SignatureTime    *time.Time `json:"signature_time,omitempty"`    // when the newest signatures were built
	Running          bool       `json:"running"`                     // its daemon or on-access scanner runs
}

// Firewall describes the host firewall.
type Firewall struct {
	// Tools lists the firewall front ends found: nftables, iptables, ufw.
	Tools []string `json:"tools,omitempty"`
	// Enabled is true when a ruleset filters incoming traffic.
	Enabled bool `json:"enabled"`
	// DefaultInput is the policy for incoming packets that no rule matches: accept, drop,
	// reject, or unknown when it could not be read.
	DefaultInput string `json:"default_input"`
	// Detail says where the facts came from or why they could not be read.
	Detail string `json:"detail,omitempty"`
}
