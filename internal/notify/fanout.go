package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// maxRowsPerFanOut bounds one fan-out transaction: after an event whose deliveries bring the
// transaction past it, the cursor is saved and the next transaction goes on. One event is
// never split, whatever its number of subscribers, so an event is enqueued whole or not at all.
const maxRowsPerFanOut = 20000

// FanOut turns the events recorded since the last run into outbox rows, one per matching
// active subscription, and returns how many it enqueued. It resumes from a durable cursor,
// and the cursor moves in the same transaction as the rows, so a crash repeats nothing and
// skips nothing; the outbox's unique (subscription, event) key makes even a repeat harmless.
func (n *Notifier) FanOut(ctx context.Context) (int, error) {
	var horizon int64
	if err := n.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		horizon, err = tx.EventHorizon(ctx)
		return err
	}); err != nil {
		return 0, fmt.Errorf("fan-out: %w", err)
	}
	total := 0
	for {
		var done bool
		var rows int
		err := n.st.Update(ctx, func(tx *store.Tx) error {
			done, rows = false, 0
			cursor, err := tx.LockNotifyCursor(ctx)
			if err != nil {
				return err
			}
			evs, err := tx.EventsAfter(ctx, cursor, horizon, n.cfg.FanOutEvents)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				done = true
				return nil
			}
			subs := map[int64][]store.Subscription{} // per organisation, loaded once per transaction
			orgs := map[int64]string{}
			for _, ev := range evs {
				if _, ok := subs[ev.OrgID]; !ok {
					if subs[ev.OrgID], err = tx.ActiveSubscriptions(ctx, ev.OrgID); err != nil {
						return err
					}
					org, err := tx.Org(ctx, ev.OrgID)
					if err != nil {
						return err
					}
					orgs[ev.OrgID] = org.Slug
				}
				ds, err := n.deliveriesFor(ev, orgs[ev.OrgID], subs[ev.OrgID])
				if err != nil {
					return err
				}
				if err := tx.Enqueue(ctx, ds); err != nil {
					return err
				}
				rows += len(ds)
				cursor = ev.ID
				if rows >= maxRowsPerFanOut {
					break
				}
			}
			return tx.SetNotifyCursor(ctx, cursor)
		})
		if err != nil {
			return total, fmt.Errorf("fan-out: %w", err)
		}
		total += rows
		if done {
			if total > 0 {
				n.Wake()
			}
			return total, nil
		}
	}
}

// deliveriesFor builds the outbox rows of one event: pending now for immediate subscribers,
// held until the end of the day for daily-digest ones.
func (n *Notifier) deliveriesFor(ev store.OrgEvent, org string, subs []store.Subscription) ([]store.Delivery, error) {
	if !slices.Contains(EventTypes, ev.Kind) {
		return nil, nil
	}
	facts := parseFacts(ev.Details)
	details := ev.Details
	if !json.Valid(details) {
		details = json.RawMessage(`{}`)
	}
	payload, err := json.Marshal(Message{EventID: ev.ID, Type: ev.Kind, Org: org, Subject: ev.Subject, Severity: facts.severity,
		Details: details, CreatedAt: ev.CreatedAt.UTC(), Link: n.eventLink(org, details)})
	if err != nil {
		return nil, fmt.Errorf("event %d: %w", ev.ID, err)
	}
	now := n.cfg.Now()
	digestDue := n.digestDue(now)
	var out []store.Delivery
	for i := range subs {
		s := &subs[i]
		if !matches(s, ev.Kind, facts) {
			continue
		}
		d := store.Delivery{OrgID: ev.OrgID, SubscriptionID: s.ID, EventID: &ev.ID, Kind: ev.Kind, Payload: payload,
			State: store.DeliveryPending, NextAttemptAt: now}
		if s.Digest == "daily" {
			d.State, d.NextAttemptAt = store.DeliveryHeld, digestDue
		}
		out = append(out, d)
	}
	return out, nil
}

// digestDue is when the digest of the day of t is sent: the start of the next day in
// DigestLocation (its midnight, or where clocks skip midnight, the first time the day has).
func (n *Notifier) digestDue(t time.Time) time.Time {
	y, m, d := t.In(n.cfg.DigestLocation).Date()
	next := time.Date(y, m, d+1, 12, 0, 0, 0, time.UTC) // the next day's date, normalised
	return WallTime(next.Year(), next.Month(), next.Day(), 0, 0, n.cfg.DigestLocation)
}

// eventLink is the console page of what an event's details name: a scan, or an advisory by
// its tracking id (the console finds it by either); "" for the others.
func (n *Notifier) eventLink(org string, details json.RawMessage) string {
	var d struct {
		Scan       int64  `json:"scan"`
		TrackingID string `json:"tracking_id"`
	}
	json.Unmarshal(details, &d)
	base := n.cfg.BaseURL + "/o/" + url.PathEscape(org)
	switch {
	case d.Scan > 0:
		return base + "/scans/" + strconv.FormatInt(d.Scan, 10)
	case d.TrackingID != "":
		return base + "/advisories/" + url.PathEscape(d.TrackingID)
	}
	return ""
}
