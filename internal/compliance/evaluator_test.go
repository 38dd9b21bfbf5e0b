package compliance

import (
	"context"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/applicability"
	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

func TestNextState(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// row is a stored row; one that was ever needed has needed_since.
	row := func(state string, approved bool) *store.StateRow {
		return &store.StateRow{State: state, Approved: approved, NeededSince: &since}
	}
	// assigned is a row that only an assignment made: never needed here.
	assigned := func(state string) *store.StateRow {
		return &store.StateRow{State: state, Approved: true}
	}
	for _, tc := range []struct {
		name  string
		row   *store.StateRow
		v     applicability.Verdict
		state string
		keep  bool
	}{
		{"newly affected", nil, applicability.Affected, "needed", false},
		{"still needed", row("needed", false), applicability.Affected, "needed", true},
		{"approved stays", row("approved", true), applicability.Affected, "approved", true},
		{"failed stays", row("failed", true), applicability.Affected, "failed", true},
		{"reported installed, inventory disagrees", row("installed", false), applicability.Affected, "needed", false},
		{"approved, installed, inventory disagrees", row("installed", true), applicability.Affected, "approved", false},
		{"no longer superseded", row("superseded", false), applicability.Affected, "needed", false},
		{"newly superseded", row("needed", false), applicability.Superseded, "superseded", false},
		{"superseded stays", row("superseded", false), applicability.Superseded, "superseded", true},
		{"patched, never needed", nil, applicability.Patched, "", true},
		{"patched now", row("approved", true), applicability.Patched, "installed", false},
		{"pending reboot stays", row("pending_reboot", true), applicability.Patched, "pending_reboot", true},
		{"gone", row("needed", false), applicability.NotApplicable, "", false},
		{"installed and gone", row("installed", false), applicability.NotApplicable, "", false},

		// A direct assignment keeps its approval but never the claim that the computer needs
		// the update: it follows the verdict.
		{"assigned, not applicable", assigned("not_applicable"), applicability.NotApplicable, "not_applicable", true},
		{"assigned, patched before it was needed", assigned("not_applicable"), applicability.Patched, "not_applicable", true},
		{"assigned, now needed", assigned("not_applicable"), applicability.Affected, "approved", false},
		{"assigned, now superseded", assigned("not_applicable"), applicability.Superseded, "superseded", false},
		{"assigned, needed, and gone", row("approved", true), applicability.NotApplicable, "not_applicable", false},
		{"assigned, failed, and gone", row("failed", true), applicability.NotApplicable, "not_applicable", false},
		{"assigned, installed, and gone", row("installed", true), applicability.NotApplicable, "not_applicable", false},
		{"assignment withdrawn, not applicable", &store.StateRow{State: "not_applicable"}, applicability.NotApplicable, "", false},
		{"assignment withdrawn, patched", &store.StateRow{State: "not_applicable"}, applicability.Patched, "", false},
		{"assignment withdrawn, now needed", &store.StateRow{State: "not_applicable"}, applicability.Affected, "needed", false},

		// Rows stored by assignments before they followed applicability claimed the update
		// needed (approved) where it never was: such a row on a patched computer is no
		// install, but an assignment, or nothing.
		{"old assignment, patched", assigned("approved"), applicability.Patched, "not_applicable", false},
		{"old assignment, failed, patched", assigned("failed"), applicability.Patched, "not_applicable", false},
		{"old assignment withdrawn, patched", &store.StateRow{State: "needed"}, applicability.Patched, "", false},
		{"old assignment, not applicable", assigned("approved"), applicability.NotApplicable, "not_applicable", false},
		{"old assignment, installed, patched", assigned("installed"), applicability.Patched, "installed", true},
	} {
		state, keep := next(tc.row, tc.v)
		if state != tc.state || keep != tc.keep {
			t.Errorf("%s: next = %q, %v; want %q, %v", tc.name, state, keep, tc.state, tc.keep)
		}
	}
}

// Two server nodes on one database: each takes in, by polling, the inventories and updates
// the other received, and evaluates with them.
func TestTwoNodes(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, engine)
			var org store.Org
			if err := st.Update(ctx, func(tx *store.Tx) error {
				var err error
				org, err = tx.CreateOrg(ctx, "acme", "Acme")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			a, b := NewEvaluator(st, nil), NewEvaluator(st, nil)
			for _, ev := range []*Evaluator{a, b} {
				if err := ev.Load(ctx); err != nil {
					t.Fatal(err)
				}
			}
			inv := protocol.Inventory{Hostname: "web-01", OSID: "debian", OSVersion: "12", Arch: "amd64",
				Packages: []protocol.Package{{Name: "openssl", Version: "3.0.11-1~deb12u1", Arch: "amd64"}}}
			comp := takeInventory(t, st, a, org.ID, store.Computer{}, &inv)

			if err := b.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			// Node B gains the update and evaluates it over the fleet it learnt by polling.
			if err := st.Update(ctx, func(tx *store.Tx) error {
				_, err := catalog.CreateUpdate(ctx, tx, org.ID, catalog.UpdateDef{Name: "openssl-fix", Title: "t", Classification: "security",
					Applicability: catalog.Applicability{PURL: "pkg:deb/debian/openssl", Vers: "vers:deb/<3.0.11-1~deb12u2"},
					Installer:     catalog.Installer{Type: "apt"}}, "test")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := b.UpdateAdded(ctx); err != nil {
				t.Fatal(err)
			}
			if s := states(t, st, comp.ID); s["openssl-fix"] != "needed" {
				t.Fatalf("states after node B evaluated the update: %v", s)
			}
			// Node A learns the update by polling; the upgrade it receives installs it.
			if err := a.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			inv.Packages[0].Version = "3.0.11-1~deb12u2"
			takeInventory(t, st, a, org.ID, comp, &inv)
			if s := states(t, st, comp.ID); s["openssl-fix"] != "installed" {
				t.Fatalf("states after the upgrade through node A: %v", s)
			}
		})
	}
}

// takeInventory stores an inventory for a computer (enrolling it when comp is zero) through
// the evaluator, as the check-in handler does.
func takeInventory(t *testing.T, st *store.Store, ev *Evaluator, org int64, comp store.Computer, inv *protocol.Inventory) store.Computer {
	t.Helper()
	ctx := context.Background()
	inv.Normalize()
	hash := inv.Hash()
	blob, err := EncodeInventory(inv)
	if err != nil {
		t.Fatal(err)
	}
	ic := ev.Inventory(comp, inv, hash)
	defer ic.Release()
	facts := store.ComputerFacts{Hostname: inv.Hostname, OSID: inv.OSID, OSVersion: inv.OSVersion, Arch: inv.Arch}
	err = st.Update(ctx, func(tx *store.Tx) error {
		if comp.ID == 0 {
			var err error
			if comp, err = tx.EnrollComputer(ctx, org, facts, "hash-"+inv.Hostname, 0, ""); err != nil {
				return err
			}
			ic.For(comp)
		}
		if err := tx.SaveInventory(ctx, hash, blob, len(inv.Packages)); err != nil {
			return err
		}
		if err := tx.SetComputerInventory(ctx, comp.ID, hash, facts); err != nil {
			return err
		}
		_, err := ic.Write(ctx, tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ic.Apply()
	return comp
}

func states(t *testing.T, st *store.Store, computer int64) map[string]string {
	t.Helper()
	ups, err := st.ComputerUpdates(context.Background(), computer)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, u := range ups {
		out[u.UpdateName] = u.State
	}
	return out
}
