package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/rollout"
	"github.com/patchday/patchday/internal/store"
)

// demoComputer is a machine of the demo fleet, as if its agent had reported in.
type demoComputer struct {
	host, osVersion, arch string
	packages              map[string]string // name -> version
	firewall              bool
	avAge                 time.Duration // ClamAV signature age; 0 for no antivirus
	silent                time.Duration // since its last check-in
	groups                []string
}

// fleet is the demo's machines: some patched, some not, one on an old Debian past its
// support, one silent, one without a firewall; so that the reports have something to say.
func fleet() []demoComputer {
	base := map[string]string{"bash": "5.2.15-2+b7", "libc6": "2.36-9+deb12u9", "openssh-server": "1:9.2p1-2+deb12u3"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	return []demoComputer{
		{"web-01", "12", "amd64", with(map[string]string{"openssl": "3.0.11-1~deb12u1"}), true, 24 * time.Hour, 10 * time.Minute, []string{"pilot"}},
		{"web-02", "12", "amd64", with(map[string]string{"openssl": "3.0.11-1~deb12u2"}), true, 30 * time.Hour, 12 * time.Minute, []string{"pilot"}},
		{"db-01", "12", "amd64", with(map[string]string{"openssl": "3.0.11-1~deb12u2", "example-sql-engine": "2019.150.4316"}), true, 0, 5 * time.Minute, nil},
		{"db-02", "12", "amd64", with(map[string]string{"openssl": "3.0.9-1", "example-sql-engine": "2022.160.4140"}), false, 0, 7 * time.Minute, nil},
		{"laptop-07", "12", "arm64", with(map[string]string{"openssl": "3.0.11-1~deb12u1"}), true, 9 * 24 * time.Hour, 3 * 24 * time.Hour, nil},
		{"legacy-01", "11", "amd64", with(map[string]string{"openssl": "1.1.1w-0+deb11u1"}), true, 0, 20 * time.Minute, nil},
	}
}

// loadComputers stores the demo fleet. The server's applicability evaluation at start works
// out what each needs.
func loadComputers(ctx context.Context, tx *store.Tx, orgID int64, now time.Time) error {
	pilot, err := tx.CreateGroup(ctx, store.Group{OrgID: orgID, Name: "pilot", Description: "first to get updates", Ring: ptr(1), CreatedBy: Actor})
	if err != nil {
		return err
	}
	broad, err := tx.CreateGroup(ctx, store.Group{OrgID: orgID, Name: "broad", Description: "everyone else", Ring: ptr(2),
		Rule: "hostname!=web-*", CreatedBy: Actor})
	if err != nil {
		return err
	}
	for i, d := range fleet() {
		inv := protocol.Inventory{Hostname: d.host, MachineID: "demo-machine-" + d.host, OSID: "debian", OSVersion: d.osVersion,
			OSName: "Debian GNU/Linux " + d.osVersion, Kernel: "6.1.0-28-" + d.arch, Arch: d.arch, Languages: []string{"en-US"}}
		for name, ver := range d.packages {
			inv.Packages = append(inv.Packages, protocol.Package{Name: name, Version: ver, Arch: d.arch})
		}
		inv.Normalize()
		facts := store.ComputerFacts{Hostname: d.host, MachineID: inv.MachineID, OSID: inv.OSID, OSVersion: inv.OSVersion,
			OSName: inv.OSName, Kernel: inv.Kernel, Arch: inv.Arch, AgentVersion: "demo", Languages: inv.Languages}
		secret := make([]byte, 32)
		rand.Read(secret) // no agent holds it: the demo machines cannot check in
		c, err := tx.EnrollComputer(ctx, orgID, facts, hex.EncodeToString(secret), 0, "")
		if err != nil {
			return err
		}
		blob, err := compliance.EncodeInventory(&inv)
		if err != nil {
			return err
		}
		if err := tx.SaveInventory(ctx, inv.Hash(), blob, len(inv.Packages)); err != nil {
			return err
		}
		if err := tx.SetComputerInventory(ctx, c.ID, inv.Hash(), facts); err != nil {
			return err
		}
		h := protocol.Health{Firewall: protocol.Firewall{Enabled: d.firewall, Tools: []string{"nftables"}, DefaultInput: "drop"}}
		if !d.firewall {
			h.Firewall.DefaultInput = "accept"
		}
		if d.avAge > 0 {
			sig := now.Add(-d.avAge).UTC().Truncate(time.Second)
			h.Antivirus = []protocol.Antivirus{{Engine: "clamav", EngineVersion: "1.0.7", SignatureVersion: "27461", SignatureTime: &sig, Running: true}}
		}
		hb, _ := json.Marshal(h)
		if err := tx.SetComputerHealth(ctx, c.ID, hb, "demo", "demo"); err != nil {
			return err
		}
		if err := tx.TouchComputers(ctx, map[int64]time.Time{c.ID: now.Add(-d.silent - time.Duration(i)*time.Second)}); err != nil {
			return err
		}
		for _, g := range d.groups {
			if g == "pilot" {
				if err := tx.AddGroupMember(ctx, pilot.ID, c.ID, Actor); err != nil {
					return err
				}
			}
		}
	}
	_, _, err = rollout.RefreshGroup(ctx, tx, broad)
	return err
}

func ptr[T any](v T) *T { return &v }
