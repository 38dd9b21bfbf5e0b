package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// Check-in times of a thousand computers land in one flush, each its own.
func TestTouchComputers(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, engine)
			seen := map[int64]time.Time{}
			base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
			err := st.Update(ctx, func(tx *store.Tx) error {
				o, err := tx.CreateOrg(ctx, "acme", "Acme")
				if err != nil {
					return err
				}
				for i := range 1000 {
					c, err := tx.EnrollComputer(ctx, o.ID, store.ComputerFacts{Hostname: fmt.Sprintf("h%d", i), MachineID: fmt.Sprint(i)}, fmt.Sprint("cred", i), 0, "")
					if err != nil {
						return err
					}
					seen[c.ID] = base.Add(time.Duration(i) * time.Second)
				}
				return tx.TouchComputers(ctx, seen)
			})
			if err != nil {
				t.Fatal(err)
			}
			o, _ := st.OrgBySlug(ctx, "acme")
			cs, err := st.ListComputers(ctx, o.ID, store.ComputerFilter{Page: store.Page{Limit: 2000}})
			if err != nil || len(cs) != 1000 {
				t.Fatalf("%d computers, %v", len(cs), err)
			}
			for _, c := range cs {
				if c.LastCheckInAt == nil || !c.LastCheckInAt.Equal(seen[c.ID]) {
					t.Fatalf("computer %d: last check-in %v, want %v", c.ID, c.LastCheckInAt, seen[c.ID])
				}
			}
		})
	}
}
