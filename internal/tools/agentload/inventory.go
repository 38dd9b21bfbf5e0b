package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"

	"github.com/patchday/patchday/internal/inventory"
	"github.com/patchday/patchday/internal/protocol"
)

// fleet makes the inventories of simulated agents from this machine's real facts: its OS,
// its health and the packages of its dpkg status file.
type fleet struct {
	base     protocol.Inventory // OS facts of this machine; Packages holds the padded package list
	health   protocol.Health
	realPkgs int // packages read from the status file, before padding
}

// derivedSuffixes name the packages added when the status file lists fewer packages than
// asked for: companions of real packages (libfoo -> libfoo-dev), as a larger install has.
var derivedSuffixes = []string{"-dev", "-doc", "-data", "-common", "-dbg", "-utils", "-l10n", "-examples"}

// newFleet reads the machine's facts and the dpkg status file at statusPath, and pads the
// package list to want packages with companions of real ones.
func newFleet(ctx context.Context, statusPath string, want int) (*fleet, error) {
	c := &inventory.Collector{}
	inv, err := c.Inventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("this machine's inventory: %w", err)
	}
	health, err := c.Health(ctx)
	if err != nil {
		return nil, fmt.Errorf("this machine's health: %w", err)
	}
	f, err := os.Open(statusPath)
	if err != nil {
		return nil, fmt.Errorf("dpkg status: %w", err)
	}
	defer f.Close()
	pkgs, err := inventory.ParseDpkgStatus(f)
	if err != nil {
		return nil, fmt.Errorf("dpkg status %s: %w", statusPath, err)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("dpkg status %s lists no installed packages", statusPath)
	}
	fl := &fleet{health: health, realPkgs: len(pkgs)}
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.Name+":"+p.Arch] = true
	}
	for i := 0; len(pkgs) < want && i < want*len(derivedSuffixes); i++ {
		p := pkgs[i%fl.realPkgs]
		if p.Source == "" {
			p.Source = p.Name
		}
		p.Name += derivedSuffixes[(i/fl.realPkgs)%len(derivedSuffixes)]
		if !seen[p.Name+":"+p.Arch] {
			seen[p.Name+":"+p.Arch] = true
			pkgs = append(pkgs, p)
		}
	}
	inv.Packages = pkgs
	inv.Normalize()
	fl.base = inv
	return fl, nil
}

// inventory is simulated agent i's inventory: its own host name and machine id, and a few
// package versions that differ from the base (a machine a few updates behind or ahead).
func (fl *fleet) inventory(i int) protocol.Inventory {
	inv := fl.base
	inv.Hostname = fmt.Sprintf("agentload-%05d", i)
	sum := sha256.Sum256([]byte("agentload machine " + strconv.Itoa(i)))
	inv.MachineID = hex.EncodeToString(sum[:16])
	inv.Languages = slices.Clone(fl.base.Languages)
	inv.Packages = slices.Clone(fl.base.Packages)
	rng := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	for range 1 + rng.IntN(8) {
		p := &inv.Packages[rng.IntN(len(inv.Packages))]
		p.Version += "+b" + strconv.Itoa(1+rng.IntN(9))
	}
	return inv
}
