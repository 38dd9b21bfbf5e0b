package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// Digest is the payload of a daily digest: the day (in Config.DigestLocation) and its
// events, oldest first.
type Digest struct {
	Day    string    `json:"day"` // YYYY-MM-DD
	Events []Message `json:"events"`
}

// BuildDigests turns the held deliveries of daily-digest subscribers whose day has ended
// into one digest delivery per subscriber and day, and returns how many it made. Each
// subscriber's digest is built in one transaction with its items, so a crash leaves either
// the items or the digest; on PostgreSQL the items are locked, so two nodes cannot both
// build it.
func (n *Notifier) BuildDigests(ctx context.Context) (int, error) {
	made := 0
	for {
		now := n.cfg.Now()
		subs, err := n.st.DueDigests(ctx, now, 200)
		if err != nil {
			return made, err
		}
		for _, sub := range subs {
			err := n.st.Update(ctx, func(tx *store.Tx) error {
				items, err := tx.HeldDeliveries(ctx, sub, now)
				if err != nil {
					return err
				}
				// Items wait until the midnight after their day, so items with the same due
				// time belong to the same day.
				var group []store.Delivery
				flush := func() error {
					if len(group) == 0 {
						return nil
					}
					d := Digest{Day: group[0].NextAttemptAt.In(n.cfg.DigestLocation).Add(-time.Hour).Format(time.DateOnly)}
					ids := make([]int64, 0, len(group))
					for _, it := range group {
						var m Message
						if err := json.Unmarshal(it.Payload, &m); err != nil {
							return fmt.Errorf("delivery %d: %w", it.ID, err)
						}
						d.Events = append(d.Events, m)
						ids = append(ids, it.ID)
					}
					payload, err := json.Marshal(d)
					if err != nil {
						return err
					}
					if _, err := tx.AddDigest(ctx, store.Delivery{OrgID: group[0].OrgID, SubscriptionID: sub, Payload: payload}, ids); err != nil {
						return err
					}
					made++
					group = group[:0]
					return nil
				}
				for _, it := range items {
					if len(group) > 0 && !it.NextAttemptAt.Equal(group[0].NextAttemptAt) {
						if err := flush(); err != nil {
							return err
						}
					}
					group = append(group, it)
				}
				return flush()
			})
			if err != nil {
				return made, fmt.Errorf("digest of subscription %d: %w", sub, err)
			}
		}
		if len(subs) < 200 {
			if made > 0 {
				n.Wake()
			}
			return made, nil
		}
	}
}
