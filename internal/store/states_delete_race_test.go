package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// On PostgreSQL, state changes for a computer whose delete is in flight wait for it and
// are then dropped, instead of failing the whole batch on the foreign key.
func TestApplyStateChangesRacesDelete(t *testing.T) {
	ctx := context.Background()
	st, dbURL := storetest.OpenURL(t, store.Postgres)
	var orgID, gone, live, upd int64
	err := st.Update(ctx, func(tx *store.Tx) error {
		o, err := tx.CreateOrg(ctx, "acme", "Acme")
		if err != nil {
			return err
		}
		orgID = o.ID
		a, err := tx.EnrollComputer(ctx, o.ID, store.ComputerFacts{Hostname: "gone-01", MachineID: "1"}, "cred-1", 0, "")
		if err != nil {
			return err
		}
		b, err := tx.EnrollComputer(ctx, o.ID, store.ComputerFacts{Hostname: "live-01", MachineID: "2"}, "cred-2", 0, "")
		if err != nil {
			return err
		}
		gone, live = a.ID, b.ID
		u, err := tx.CreateUpdate(ctx, store.Update{OrgID: o.ID, Name: "u1", Title: "U1", Classification: "security",
			Severity: "high", Installer: "apt", Definition: []byte(`{}`), CreatedBy: "test"}, store.UpdateLinks{})
		if err != nil {
			return err
		}
		upd = u.ID
		_, err = tx.RevokeComputer(ctx, o.ID, a.ID, "test")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	del, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := del.ExecContext(ctx, `DELETE FROM computers WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- st.Update(ctx, func(tx *store.Tx) error {
			return tx.ApplyStateChanges(ctx, []store.StateChange{
				{OrgID: orgID, ComputerID: gone, UpdateID: upd, State: "needed", NeededSince: &now, First: true},
				{OrgID: orgID, ComputerID: live, UpdateID: upd, State: "needed", NeededSince: &now, First: true},
			})
		})
	}()
	time.Sleep(500 * time.Millisecond) // the filter has run and the insert waits on the delete
	if err := del.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("applying states while a computer's delete commits: %v (the live computer's row is lost with it)", err)
	}
}
