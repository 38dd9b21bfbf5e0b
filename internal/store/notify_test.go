package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// TestNotifyConformance runs the notification tables' suite on every engine.
func TestNotifyConformance(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			for _, tc := range []struct {
				name string
				fn   func(*testing.T, *store.Store)
			}{
				{"Subscriptions", testNotifySubscriptions},
				{"EnqueueOnce", testNotifyEnqueueOnce},
				{"ClaimLease", testNotifyClaimLease},
				{"FailDeadRetry", testNotifyFailDeadRetry},
				{"CursorAndEvents", testNotifyCursor},
				{"Digest", testNotifyDigest},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, storetest.Open(t, engine)) })
			}
		})
	}
}

func notifyOrg(t *testing.T, s *store.Store) store.Org {
	t.Helper()
	var o store.Org
	update(t, s, func(tx *store.Tx) error {
		var err error
		o, err = tx.CreateOrg(context.Background(), "acme", "ACME")
		return err
	})
	return o
}

func addSub(t *testing.T, s *store.Store, orgID int64, addr string, confirmed bool) store.Subscription {
	t.Helper()
	var out store.Subscription
	update(t, s, func(tx *store.Tx) error {
		sub := store.Subscription{OrgID: orgID, Kind: store.SubscriptionEmail, Address: addr, Digest: "none",
			TokenNonce: "n-" + addr, UnsubHash: "u-" + addr, ConfirmHash: "c-" + addr,
			ProductIDs: []int64{3, 5}, ProductNames: []string{"OpenSSL"}, MinSeverity: "high", EventTypes: []string{"advisory.published"}}
		if confirmed {
			now := store.Now()
			sub.ConfirmedAt, sub.ConfirmHash = &now, ""
		}
		var err error
		out, err = tx.CreateSubscription(context.Background(), sub)
		return err
	})
	return out
}

func enqueue(t *testing.T, s *store.Store, ds ...store.Delivery) {
	t.Helper()
	update(t, s, func(tx *store.Tx) error { return tx.Enqueue(context.Background(), ds) })
}

func delivery(org store.Org, sub store.Subscription, eventID int64) store.Delivery {
	return store.Delivery{OrgID: org.ID, SubscriptionID: sub.ID, EventID: &eventID, Kind: "advisory.published",
		Payload: []byte(fmt.Sprintf(`{"event_id":%d}`, eventID)), State: store.DeliveryPending}
}

func claim(t *testing.T, s *store.Store, now time.Time, lease time.Duration, limit int) []store.ClaimedDelivery {
	t.Helper()
	var out []store.ClaimedDelivery
	update(t, s, func(tx *store.Tx) error {
		var err error
		out, err = tx.ClaimDeliveries(context.Background(), now, now.Add(lease), limit, false)
		return err
	})
	return out
}

func testNotifySubscriptions(t *testing.T, s *store.Store) {
	ctx := context.Background()
	o := notifyOrg(t, s)
	a := addSub(t, s, o.ID, "a@example.org", false)
	if !slices.Equal(a.ProductIDs, []int64{3, 5}) || !slices.Equal(a.ProductNames, []string{"OpenSSL"}) ||
		!slices.Equal(a.EventTypes, []string{"advisory.published"}) || a.ConfirmedAt != nil || a.ConfirmHash != "c-a@example.org" {
		t.Fatalf("stored %+v", a)
	}
	err := s.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateSubscription(ctx, store.Subscription{OrgID: o.ID, Kind: "email", Address: "a@example.org", Digest: "none",
			TokenNonce: "x", UnsubHash: "x"})
		return err
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same address twice: %v, want ErrConflict", err)
	}
	if act, _ := s.ActiveSubscriptions(ctx, o.ID); len(act) != 0 {
		t.Fatalf("unconfirmed subscription is active")
	}
	// An expired request cannot be confirmed; a fresh one once.
	err = s.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ConfirmSubscription(ctx, "c-a@example.org", time.Now().Add(time.Hour))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired confirmation: %v, want ErrNotFound", err)
	}
	for i, want := range []error{nil, store.ErrNotFound} {
		err := s.Update(ctx, func(tx *store.Tx) error {
			_, err := tx.ConfirmSubscription(ctx, "c-a@example.org", time.Now().Add(-time.Hour))
			return err
		})
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Fatalf("confirmation %d: %v, want %v", i+1, err, want)
		}
	}
	act, _ := s.ActiveSubscriptions(ctx, o.ID)
	if len(act) != 1 || act[0].ConfirmedAt == nil || act[0].ConfirmHash != "" {
		t.Fatalf("active after confirming: %+v", act)
	}
	a.MinSeverity, a.EventTypes, a.Digest = "", nil, "daily"
	update(t, s, func(tx *store.Tx) error {
		var err error
		a, err = tx.UpdateSubscriptionFilters(ctx, a)
		return err
	})
	if a.MinSeverity != "" || len(a.EventTypes) != 0 || a.Digest != "daily" {
		t.Fatalf("updated %+v", a)
	}
	enqueue(t, s, delivery(o, a, 1))
	update(t, s, func(tx *store.Tx) error {
		got, err := tx.UnsubscribeByHash(ctx, "u-a@example.org")
		if err == nil && got.ID != a.ID {
			err = fmt.Errorf("unsubscribed %d, want %d", got.ID, a.ID)
		}
		return err
	})
	if c, _ := s.CountDeliveries(ctx, o.ID); len(c) != 0 {
		t.Fatalf("deliveries left after unsubscribing: %v", c)
	}
	if _, err := s.Subscription(ctx, o.ID, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("subscription after unsubscribing: %v", err)
	}
}

func testNotifyEnqueueOnce(t *testing.T, s *store.Store) {
	ctx := context.Background()
	o := notifyOrg(t, s)
	a := addSub(t, s, o.ID, "a@example.org", true)
	b := addSub(t, s, o.ID, "b@example.org", true)
	var ds []store.Delivery
	for ev := range int64(500) {
		ds = append(ds, delivery(o, a, ev+1), delivery(o, b, ev+1))
	}
	enqueue(t, s, ds...)
	enqueue(t, s, ds[:700]...) // fan-out repeated after a crash
	if c, _ := s.CountDeliveries(ctx, o.ID); c[store.DeliveryPending] != 1000 {
		t.Fatalf("outbox %v, want 1000 pending", c)
	}
}

func testNotifyClaimLease(t *testing.T, s *store.Store) {
	ctx := context.Background()
	o := notifyOrg(t, s)
	a := addSub(t, s, o.ID, "a@example.org", true)
	unconfirmed := addSub(t, s, o.ID, "u@example.org", false)
	later := delivery(o, a, 3)
	later.NextAttemptAt = time.Now().Add(time.Hour)
	confirm := store.Delivery{OrgID: o.ID, SubscriptionID: unconfirmed.ID, Kind: store.DeliveryKindConfirm, Payload: []byte(`{}`),
		State: store.DeliveryPending}
	enqueue(t, s, delivery(o, a, 1), delivery(o, a, 2), later, delivery(o, unconfirmed, 1), confirm)
	now := time.Now()

	got := claim(t, s, now, time.Minute, 10)
	var kinds []string
	for _, d := range got {
		kinds = append(kinds, fmt.Sprint(d.Subscription.Address, " ", d.Kind))
		if d.Attempts != 1 || d.LeaseUntil == nil {
			t.Fatalf("claimed %+v: want attempt 1 and a lease", d.Delivery)
		}
	}
	slices.Sort(kinds)
	want := []string{"a@example.org advisory.published", "a@example.org advisory.published", "u@example.org subscription.confirm"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("claimed %v, want %v (not the later one, not an event for an unconfirmed subscriber)", kinds, want)
	}
	if again := claim(t, s, now.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Fatalf("claimed %d leased deliveries again", len(again))
	}
	// A released delivery is due at once, its attempt uncounted.
	var mine store.ClaimedDelivery
	for _, d := range got {
		if d.SubscriptionID == a.ID {
			mine = d
		}
	}
	update(t, s, func(tx *store.Tx) error { return tx.ReleaseDeliveries(ctx, []int64{mine.ID}) })
	if again := claim(t, s, now.Add(30*time.Second), time.Minute, 10); len(again) != 1 || again[0].ID != mine.ID || again[0].Attempts != 1 {
		t.Fatalf("after release: %+v", again)
	}
	update(t, s, func(tx *store.Tx) error { return tx.MarkSent(ctx, mine.ID) })
	// The crashed worker's lease expires: the others come back, as a second attempt.
	again := claim(t, s, now.Add(2*time.Minute), time.Minute, 10)
	if len(again) != 2 || again[0].Attempts != 2 {
		t.Fatalf("after the lease: %+v", again)
	}
	if c, _ := s.CountDeliveries(ctx, 0); c[store.DeliverySent] != 1 || c[store.DeliveryPending] != 4 {
		t.Fatalf("outbox %v", c)
	}
	// A disabled subscription's deliveries die with it.
	update(t, s, func(tx *store.Tx) error { return tx.DisableSubscription(ctx, a.ID, "410 Gone") })
	if c, _ := s.CountDeliveries(ctx, 0); c[store.DeliveryDead] != 2 {
		t.Fatalf("outbox after disabling %v, want 2 dead", c)
	}
}

// Two workers claiming at once never get the same row. On PostgreSQL they run on two
// connection pools, as two nodes would; on SQLite the single writer serialises them.
func TestNotifyConcurrentClaims(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			s1, dbURL := storetest.OpenURL(t, engine)
			s2 := s1
			if engine == store.Postgres {
				var err error
				if s2, err = store.Open(ctx, dbURL, "", nil); err != nil {
					t.Fatal(err)
				}
				defer s2.Close()
			}
			o := notifyOrg(t, s1)
			var ds []store.Delivery
			for i := range 20 {
				sub := addSub(t, s1, o.ID, fmt.Sprintf("s%d@example.org", i), true)
				for ev := range int64(50) {
					ds = append(ds, delivery(o, sub, ev+1))
				}
			}
			enqueue(t, s1, ds...)
			var mu sync.Mutex
			seen := map[int64]int{}
			var wg sync.WaitGroup
			for _, st := range []*store.Store{s1, s2, s1, s2} {
				wg.Go(func() {
					for {
						var got []store.ClaimedDelivery
						err := st.Update(ctx, func(tx *store.Tx) error {
							var err error
							got, err = tx.ClaimDeliveries(ctx, time.Now(), time.Now().Add(time.Hour), 7, false)
							return err
						})
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, d := range got {
							seen[d.ID]++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(seen) != len(ds) {
				t.Fatalf("claimed %d distinct deliveries, want %d", len(seen), len(ds))
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("delivery %d claimed %d times", id, n)
				}
			}
		})
	}
}

func testNotifyFailDeadRetry(t *testing.T, s *store.Store) {
	ctx := context.Background()
	o := notifyOrg(t, s)
	a := addSub(t, s, o.ID, "a@example.org", true)
	enqueue(t, s, delivery(o, a, 1))
	now := time.Now()
	d := claim(t, s, now, time.Minute, 1)[0]
	update(t, s, func(tx *store.Tx) error { return tx.MarkFailed(ctx, d.ID, "timeout", now.Add(10*time.Minute), false) })
	if got := claim(t, s, now.Add(5*time.Minute), time.Minute, 1); len(got) != 0 {
		t.Fatal("claimed before its next attempt")
	}
	d = claim(t, s, now.Add(11*time.Minute), time.Minute, 1)[0]
	if d.Attempts != 2 || d.LastError != "timeout" {
		t.Fatalf("second attempt %+v", d.Delivery)
	}
	update(t, s, func(tx *store.Tx) error { return tx.MarkFailed(ctx, d.ID, "500", now, true) })
	dead, err := s.ListDeliveries(ctx, o.ID, store.DeliveryDead, store.Page{Limit: 10})
	if err != nil || len(dead) != 1 || dead[0].LastError != "500" || dead[0].LeaseUntil != nil {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if got := claim(t, s, now.Add(24*time.Hour), time.Minute, 1); len(got) != 0 {
		t.Fatal("claimed a dead letter")
	}
	update(t, s, func(tx *store.Tx) error {
		r, err := tx.RetryDelivery(ctx, o.ID, d.ID, store.Now())
		if err == nil && (r.State != store.DeliveryPending || r.Attempts != 0) {
			err = fmt.Errorf("retried %+v", r)
		}
		return err
	})
	if got := claim(t, s, time.Now().Add(time.Second), time.Minute, 1); len(got) != 1 {
		t.Fatal("retried dead letter not due")
	}
	other := notifyOrg2(t, s)
	err = s.Update(ctx, func(tx *store.Tx) error { _, err := tx.RetryDelivery(ctx, other.ID, d.ID, store.Now()); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retry from another organisation: %v, want ErrNotFound", err)
	}
}

func notifyOrg2(t *testing.T, s *store.Store) store.Org {
	var o store.Org
	update(t, s, func(tx *store.Tx) error {
		var err error
		o, err = tx.CreateOrg(context.Background(), "other", "Other")
		return err
	})
	return o
}

func testNotifyCursor(t *testing.T, s *store.Store) {
	ctx := context.Background()
	o := notifyOrg(t, s)
	for i := range 5 {
		update(t, s, func(tx *store.Tx) error {
			return tx.AddEvent(ctx, o.ID, "scan.opened", fmt.Sprint("net", i), `{"n":1}`)
		})
	}
	var horizon, cursor int64
	update(t, s, func(tx *store.Tx) error {
		var err error
		if horizon, err = tx.EventHorizon(ctx); err != nil {
			return err
		}
		cursor, err = tx.LockNotifyCursor(ctx)
		return err
	})
	if cursor != 0 {
		t.Fatalf("fresh cursor %d", cursor)
	}
	evs, err := s.EventsAfter(ctx, cursor, horizon, 3)
	if err != nil || len(evs) != 3 || evs[0].OrgID != o.ID || evs[0].Subject != "net0" || string(evs[0].Details) != `{"n":1}` {
		t.Fatalf("events %+v, %v", evs, err)
	}
	update(t, s, func(tx *store.Tx) error { return tx.SetNotifyCursor(ctx, evs[2].ID) })
	update(t, s, func(tx *store.Tx) error { cursor, err = tx.LockNotifyCursor(ctx); return err })
	evs, _ = s.EventsAfter(ctx, cursor, horizon, 10)
	if len(evs) != 2 || evs[0].Subject != "net3" {
		t.Fatalf("events after the cursor %+v", evs)
	}
	if evs, _ := s.EventsAfter(ctx, 0, horizon-1, 10); len(evs) != 4 {
		t.Fatalf("events up to the horizon - 1: %d, want 4", len(evs))
	}
}

func testNotifyDigest(t *testing.T, s *store.Store) {
	ctx := context.Background()
	o := notifyOrg(t, s)
	a := addSub(t, s, o.ID, "a@example.org", true)
	midnight := time.Now().Add(time.Hour)
	var ds []store.Delivery
	for ev := range int64(3) {
		d := delivery(o, a, ev+1)
		d.State, d.NextAttemptAt = store.DeliveryHeld, midnight
		ds = append(ds, d)
	}
	enqueue(t, s, ds...)
	if due, _ := s.DueDigests(ctx, time.Now(), 10); len(due) != 0 {
		t.Fatalf("digest due before midnight: %v", due)
	}
	if got := claim(t, s, midnight.Add(time.Minute), time.Minute, 10); len(got) != 0 {
		t.Fatal("claimed held deliveries")
	}
	due, err := s.DueDigests(ctx, midnight, 10)
	if err != nil || !slices.Equal(due, []int64{a.ID}) {
		t.Fatalf("due digests %v, %v", due, err)
	}
	update(t, s, func(tx *store.Tx) error {
		items, err := tx.HeldDeliveries(ctx, a.ID, midnight)
		if err != nil || len(items) != 3 {
			return fmt.Errorf("held %d, %v", len(items), err)
		}
		_, err = tx.AddDigest(ctx, store.Delivery{OrgID: o.ID, SubscriptionID: a.ID, Payload: []byte(`{"events":[]}`)},
			[]int64{items[0].ID, items[1].ID, items[2].ID})
		return err
	})
	c, _ := s.CountDeliveries(ctx, o.ID)
	if c[store.DeliveryDigested] != 3 || c[store.DeliveryPending] != 1 || c[store.DeliveryHeld] != 0 {
		t.Fatalf("outbox after the digest %v", c)
	}
	got := claim(t, s, time.Now().Add(time.Second), time.Minute, 10)
	if len(got) != 1 || got[0].Kind != store.DeliveryKindDigest || got[0].EventID != nil {
		t.Fatalf("claimed %+v, want the digest", got)
	}
	update(t, s, func(tx *store.Tx) error { return tx.MarkSent(ctx, got[0].ID) })
	update(t, s, func(tx *store.Tx) error {
		n, err := tx.PurgeDeliveries(ctx, time.Now().Add(time.Hour))
		if err == nil && n != 4 {
			err = fmt.Errorf("purged %d, want 4", n)
		}
		return err
	})
}
