package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/auth"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// Two site admins disabling each other at once (several requests or nodes, PostgreSQL's
// READ COMMITTED) cannot leave the site without an active site admin: the guard locks the
// active site admins' rows while it counts them.
func TestLastSiteAdminRace(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			const rounds = 6
			for round := range rounds {
				e := newEnv(t, engine)
				var ids []int64
				ctx := context.Background()
				hash, err := auth.HashPassword("site-admin-password-1")
				if err != nil {
					t.Fatal(err)
				}
				err = e.store.Update(ctx, func(tx *store.Tx) error {
					for _, n := range []string{"sx", "sy"} {
						u, err := tx.CreateUser(ctx, store.User{Username: n, PasswordHash: hash, SiteAdmin: true})
						if err != nil {
							return err
						}
						ids = append(ids, u.ID)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				sx, sy := e.login("sx", "site-admin-password-1"), e.login("sy", "site-admin-password-1")
				e.must(200, "POST", "/api/v1/users/admin/disable", sx, nil) // two active site admins left

				// Another writer holds the two users' rows for a moment (any concurrent
				// transaction touching them does, e.g. an enable or a password reset of either):
				// both requests count the active site admins, then wait for the rows, then both
				// commit. This only fixes the interleaving that a busy cluster hits by chance.
				held, release := make(chan struct{}), make(chan struct{})
				holder := make(chan error, 1)
				go func() {
					holder <- e.store.Update(ctx, func(tx *store.Tx) error {
						for _, id := range ids {
							if err := tx.SetDisabled(ctx, id, false); err != nil {
								return err
							}
						}
						close(held)
						<-release
						return nil
					})
				}()
				<-held
				var wg sync.WaitGroup
				start := make(chan struct{})
				status := make([]int, 2)
				for i, c := range []struct{ token, target string }{{sx, "sy"}, {sy, "sx"}} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						status[i] = e.do("POST", "/api/v1/users/"+c.target+"/disable", c.token, nil).status
					}()
				}
				close(start)
				time.Sleep(500 * time.Millisecond) // both requests are in their transactions
				close(release)
				wg.Wait()
				if err := <-holder; err != nil {
					t.Fatal(err)
				}
				active := 0
				err = e.store.Update(ctx, func(tx *store.Tx) error {
					var err error
					active, err = tx.CountActiveSiteAdmins(ctx)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if active == 0 {
					t.Fatalf("round %d: two site admins disabled each other at once (answers %v): no active site admin is left", round, status)
				}
			}
		})
	}
}
