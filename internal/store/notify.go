package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Subscription kinds.
const (
	SubscriptionEmail   = "email"
	SubscriptionWebhook = "webhook"
)

// Delivery states: pending (to send; a worker holds it while LeaseUntil is in the future),
// held (waits for the subscriber's daily digest), digested (went into the digest DigestID),
// sent, dead (gave up after the last attempt; an operator may retry it).
const (
	DeliveryPending  = "pending"
	DeliveryHeld     = "held"
	DeliveryDigested = "digested"
	DeliverySent     = "sent"
	DeliveryDead     = "dead"
)

// Delivery kinds besides the events' own kinds.
const (
	DeliveryKindDigest  = "digest"
	DeliveryKindConfirm = "subscription.confirm"
)

// Subscription is someone who wants to hear about an organisation's events, by e-mail or
// webhook, and which ones.
type Subscription struct {
	ID             int64      `json:"id"`
	OrgID          int64      `json:"org_id"`
	Kind           string     `json:"kind"`
	Address        string     `json:"address"` // e-mail address or webhook URL
	Secret         string     `json:"-"`       // webhook signing secret, in clear (see the migration)
	ProductIDs     []int64    `json:"product_ids,omitempty"`
	ProductNames   []string   `json:"product_names,omitempty"`
	MinSeverity    string     `json:"min_severity,omitempty"`
	EventTypes     []string   `json:"event_types,omitempty"`
	Digest         string     `json:"digest"` // none or daily
	TokenNonce     string     `json:"-"`
	ConfirmHash    string     `json:"-"` // "" once confirmed
	UnsubHash      string     `json:"-"`
	ConfirmedAt    *time.Time `json:"confirmed_at,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	CreatedBy      string     `json:"created_by,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	// Retrying counts its deliveries that failed and wait for another attempt, and
	// LastError is the newest of their errors: a failing webhook or mailbox shows before its
	// deliveries turn into dead letters (filled in by Subscription and ListSubscriptions).
	Retrying  int    `json:"retrying,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// withDeliveryHealth fills in Retrying and LastError.
func (r Reader) withDeliveryHealth(ctx context.Context, subs []Subscription) error {
	if len(subs) == 0 {
		return nil
	}
	ids := make([]int64, len(subs))
	at := map[int64]int{}
	for i, s := range subs {
		ids[i], at[s.ID] = s.ID, i
	}
	rows, err := r.query(ctx, `SELECT subscription_id, COUNT(*), MAX(id) FROM notify_outbox WHERE state = 'pending' AND last_error <> ''
		AND subscription_id IN (`+notifyPlaceholders(len(ids), 1)+`) GROUP BY subscription_id`, notifyArgs(ids)...)
	if err != nil {
		return fmt.Errorf("subscriptions' deliveries: %w", err)
	}
	newest := map[int64]int64{}
	for rows.Next() {
		var sub, last int64
		var n int
		if err := rows.Scan(&sub, &n, &last); err != nil {
			rows.Close()
			return err
		}
		subs[at[sub]].Retrying, newest[sub] = n, last
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for sub, id := range newest {
		if err := r.queryRow(ctx, `SELECT last_error FROM notify_outbox WHERE id = $1`, id).Scan(&subs[at[sub]].LastError); err != nil {
			return fmt.Errorf("subscription %d's last error: %w", sub, err)
		}
	}
	return nil
}

const subCols = `id, org_id, kind, address, secret, product_ids, product_names, min_severity, event_types, digest,
	token_nonce, confirm_hash, unsubscribe_hash, confirmed_at, disabled_at, disabled_reason, created_by, created_at, updated_at`

func scanSubscription(row interface{ Scan(...any) error }) (Subscription, error) {
	var s Subscription
	var ids, names, types string
	var confirm sql.NullString
	err := row.Scan(&s.ID, &s.OrgID, &s.Kind, &s.Address, &s.Secret, &ids, &names, &s.MinSeverity, &types, &s.Digest,
		&s.TokenNonce, &confirm, &s.UnsubHash, &s.ConfirmedAt, &s.DisabledAt, &s.DisabledReason, &s.CreatedBy, &s.CreatedAt, &s.UpdatedAt)
	if err != nil {
		return Subscription{}, err
	}
	s.ConfirmHash = confirm.String
	for _, f := range []struct {
		col string
		dst any
	}{{ids, &s.ProductIDs}, {names, &s.ProductNames}, {types, &s.EventTypes}} {
		if err := json.Unmarshal([]byte(f.col), f.dst); err != nil {
			return Subscription{}, fmt.Errorf("subscription %d: filters: %w", s.ID, err)
		}
	}
	return s, nil
}

// jsonList encodes a filter list; nil becomes [] so the column never holds null.
func jsonList[T any](v []T) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateSubscription stores a subscription. ConfirmedAt decides whether it is live at once
// (webhooks, created by an administrator) or waits for the double opt-in (e-mail).
func (tx *Tx) CreateSubscription(ctx context.Context, s Subscription) (Subscription, error) {
	now := Now()
	out, err := scanSubscription(tx.queryRow(ctx, `INSERT INTO notify_subscriptions (org_id, kind, address, secret,
		product_ids, product_names, min_severity, event_types, digest, token_nonce, confirm_hash, unsubscribe_hash,
		confirmed_at, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING `+subCols,
		s.OrgID, s.Kind, s.Address, s.Secret, jsonList(s.ProductIDs), jsonList(s.ProductNames), s.MinSeverity,
		jsonList(s.EventTypes), s.Digest, s.TokenNonce, nullIfEmpty(s.ConfirmHash), s.UnsubHash, s.ConfirmedAt, s.CreatedBy, now))
	if err != nil {
		return Subscription{}, fmt.Errorf("create subscription: %w", mapErr(err))
	}
	return out, nil
}

// Subscription finds one of an organisation's subscriptions.
func (r Reader) Subscription(ctx context.Context, orgID, id int64) (Subscription, error) {
	s, err := scanSubscription(r.queryRow(ctx, `SELECT `+subCols+` FROM notify_subscriptions WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return Subscription{}, fmt.Errorf("subscription %d: %w", id, mapErr(err))
	}
	one := []Subscription{s}
	err = r.withDeliveryHealth(ctx, one)
	return one[0], err
}

// ListSubscriptions lists an organisation's subscriptions in id order.
func (r Reader) ListSubscriptions(ctx context.Context, orgID int64, p Page) ([]Subscription, error) {
	subs, err := r.subscriptions(ctx, `SELECT `+subCols+` FROM notify_subscriptions WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		orgID, p.After, p.Limit)
	if err != nil {
		return nil, err
	}
	return subs, r.withDeliveryHealth(ctx, subs)
}

// ActiveSubscriptions lists the subscriptions of an organisation that receive events:
// confirmed and not disabled.
func (r Reader) ActiveSubscriptions(ctx context.Context, orgID int64) ([]Subscription, error) {
	return r.subscriptions(ctx, `SELECT `+subCols+` FROM notify_subscriptions WHERE org_id = $1
		AND confirmed_at IS NOT NULL AND disabled_at IS NULL ORDER BY id`, orgID)
}

// SubscriptionsByID loads the subscriptions with the given ids.
func (r Reader) SubscriptionsByID(ctx context.Context, ids []int64) (map[int64]Subscription, error) {
	out := make(map[int64]Subscription, len(ids))
	for chunk := range notifyChunks(ids, 500) {
		subs, err := r.subscriptions(ctx, `SELECT `+subCols+` FROM notify_subscriptions WHERE id IN (`+notifyPlaceholders(len(chunk), 1)+`)`,
			notifyArgs(chunk)...)
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			out[s.ID] = s
		}
	}
	return out, nil
}

func (r Reader) subscriptions(ctx context.Context, q string, args ...any) ([]Subscription, error) {
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("subscriptions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// UpdateSubscriptionFilters replaces a subscription's filters and digest option.
func (tx *Tx) UpdateSubscriptionFilters(ctx context.Context, s Subscription) (Subscription, error) {
	out, err := scanSubscription(tx.queryRow(ctx, `UPDATE notify_subscriptions SET product_ids = $3, product_names = $4,
		min_severity = $5, event_types = $6, digest = $7, updated_at = $8 WHERE org_id = $1 AND id = $2 RETURNING `+subCols,
		s.OrgID, s.ID, jsonList(s.ProductIDs), jsonList(s.ProductNames), s.MinSeverity, jsonList(s.EventTypes), s.Digest, Now()))
	if err != nil {
		return Subscription{}, fmt.Errorf("update subscription %d: %w", s.ID, mapErr(err))
	}
	return out, nil
}

// DeleteSubscription removes a subscription and its deliveries.
func (tx *Tx) DeleteSubscription(ctx context.Context, orgID, id int64) error {
	res, err := tx.exec(ctx, `DELETE FROM notify_subscriptions WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil {
		return fmt.Errorf("delete subscription %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("subscription %d: %w", id, ErrNotFound)
	}
	return nil
}

// ConfirmSubscription confirms the subscription whose confirm token has this hash, if it was
// created at or after notBefore (older requests have expired). The token works once.
func (tx *Tx) ConfirmSubscription(ctx context.Context, confirmHash string, notBefore time.Time) (Subscription, error) {
	now := Now()
	s, err := scanSubscription(tx.queryRow(ctx, `UPDATE notify_subscriptions SET confirmed_at = $2, confirm_hash = NULL, updated_at = $2
		WHERE confirm_hash = $1 AND created_at >= $3 RETURNING `+subCols, confirmHash, now, notBefore.UTC().Truncate(time.Microsecond)))
	if err != nil {
		return Subscription{}, fmt.Errorf("confirm subscription: %w", mapErr(err))
	}
	return s, nil
}

// ConfirmationToResend finds the organisation's e-mail subscription of address that still
// waits for its confirmation (created after notBefore) and says whether a new confirmation
// mail may go out: none is waiting to be sent and none was queued after lastBefore. ok is
// false when there is no such subscription.
func (tx *Tx) ConfirmationToResend(ctx context.Context, orgID int64, address string, notBefore, lastBefore time.Time) (sub Subscription, ok bool, err error) {
	sub, err = scanSubscription(tx.queryRow(ctx, `SELECT `+subCols+` FROM notify_subscriptions WHERE org_id = $1 AND kind = 'email'
		AND address = $2 AND confirmed_at IS NULL AND confirm_hash IS NOT NULL AND created_at >= $3`, orgID, address, notBefore.UTC()))
	if errors.Is(mapErr(err), ErrNotFound) {
		return Subscription{}, false, nil
	} else if err != nil {
		return Subscription{}, false, fmt.Errorf("subscription of %s: %w", address, err)
	}
	var waiting, recent int
	err = tx.queryRow(ctx, `SELECT COUNT(CASE WHEN state IN ('pending', 'held') THEN 1 END), COUNT(CASE WHEN created_at > $2 THEN 1 END)
		FROM notify_outbox WHERE subscription_id = $1 AND kind = 'subscription.confirm'`, sub.ID, lastBefore.UTC()).Scan(&waiting, &recent)
	if err != nil {
		return Subscription{}, false, fmt.Errorf("confirmations of %s: %w", address, err)
	}
	return sub, waiting == 0 && recent == 0, nil
}

// UnsubscribeByHash deletes the subscription whose unsubscribe token has this hash, with
// its pending deliveries, and returns what it was.
func (tx *Tx) UnsubscribeByHash(ctx context.Context, unsubHash string) (Subscription, error) {
	s, err := scanSubscription(tx.queryRow(ctx, `DELETE FROM notify_subscriptions WHERE unsubscribe_hash = $1 RETURNING `+subCols, unsubHash))
	if err != nil {
		return Subscription{}, fmt.Errorf("unsubscribe: %w", mapErr(err))
	}
	return s, nil
}

// DisableSubscription stops a subscription (a webhook answered 410 Gone) and gives up its
// pending deliveries.
func (tx *Tx) DisableSubscription(ctx context.Context, id int64, reason string) error {
	now := Now()
	if _, err := tx.exec(ctx, `UPDATE notify_subscriptions SET disabled_at = $2, disabled_reason = $3, updated_at = $2
		WHERE id = $1 AND disabled_at IS NULL`, id, now, reason); err != nil {
		return fmt.Errorf("disable subscription %d: %w", id, err)
	}
	if _, err := tx.exec(ctx, `UPDATE notify_outbox SET state = 'dead', lease_until = NULL, last_error = $2
		WHERE subscription_id = $1 AND state IN ('pending', 'held')`, id, "subscription disabled: "+reason); err != nil {
		return fmt.Errorf("disable subscription %d: %w", id, err)
	}
	return nil
}

// EnableSubscription lifts DisableSubscription: the subscription receives new events again
// (its dead letters stay dead until retried).
func (tx *Tx) EnableSubscription(ctx context.Context, orgID, id int64) (Subscription, error) {
	out, err := scanSubscription(tx.queryRow(ctx, `UPDATE notify_subscriptions SET disabled_at = NULL, disabled_reason = '',
		updated_at = $3 WHERE org_id = $1 AND id = $2 RETURNING `+subCols, orgID, id, Now()))
	if err != nil {
		return Subscription{}, fmt.Errorf("enable subscription %d: %w", id, mapErr(err))
	}
	return out, nil
}

// PurgeUnconfirmed deletes the e-mail subscriptions created before the time and never
// confirmed, and returns how many.
func (tx *Tx) PurgeUnconfirmed(ctx context.Context, before time.Time) (int64, error) {
	res, err := tx.exec(ctx, `DELETE FROM notify_subscriptions WHERE confirmed_at IS NULL AND created_at < $1`,
		before.UTC().Truncate(time.Microsecond))
	if err != nil {
		return 0, fmt.Errorf("purge unconfirmed subscriptions: %w", err)
	}
	return res.RowsAffected()
}

// OrgEvent is an event and its organisation, as fan-out reads them.
type OrgEvent struct {
	OrgID int64 `json:"org_id"`
	Event
}

// LockNotifyCursor returns the id of the last event fanned out and, on PostgreSQL, locks the
// cursor until the transaction ends, so that nodes fan out one after the other instead of
// doing the same work twice.
func (tx *Tx) LockNotifyCursor(ctx context.Context) (int64, error) {
	q := `SELECT event_id FROM notify_cursor WHERE name = 'fanout'`
	if tx.engine == Postgres {
		q += ` FOR UPDATE`
	}
	var id int64
	if err := tx.queryRow(ctx, q).Scan(&id); err != nil {
		return 0, fmt.Errorf("notification cursor: %w", mapErr(err))
	}
	return id, nil
}

// SetNotifyCursor records the last event fanned out.
func (tx *Tx) SetNotifyCursor(ctx context.Context, eventID int64) error {
	if _, err := tx.exec(ctx, `UPDATE notify_cursor SET event_id = $1 WHERE name = 'fanout'`, eventID); err != nil {
		return fmt.Errorf("notification cursor: %w", err)
	}
	return nil
}

// EventHorizon returns the highest event id below which no event can appear any more. On
// SQLite (one writer) that is the highest id. On PostgreSQL an id is taken when the row is
// inserted, not when it commits, so event 10 may become visible after event 11; a cursor
// past 11 would skip it. Taking the SHARE lock waits until every transaction that inserted
// into events has ended (and briefly holds off new ones), after which every id up to the
// maximum is final. Call it in its own short transaction. If the lock is not granted within
// two seconds (a long transaction added an event), it fails; try again later.
func (tx *Tx) EventHorizon(ctx context.Context) (int64, error) {
	if tx.engine == Postgres {
		if _, err := tx.exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			return 0, fmt.Errorf("event horizon: %w", err)
		}
		if _, err := tx.exec(ctx, `LOCK TABLE events IN SHARE MODE`); err != nil {
			return 0, fmt.Errorf("event horizon: %w", err)
		}
	}
	var id int64
	if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("event horizon: %w", err)
	}
	return id, nil
}

// EventsAfter lists up to limit events with after < id <= upTo, in id order, of every
// organisation.
func (r Reader) EventsAfter(ctx context.Context, after, upTo int64, limit int) ([]OrgEvent, error) {
	rows, err := r.query(ctx, `SELECT org_id, id, kind, subject, details, created_at FROM events
		WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`, after, upTo, limit)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	var out []OrgEvent
	for rows.Next() {
		var e OrgEvent
		var d string
		if err := rows.Scan(&e.OrgID, &e.ID, &e.Kind, &e.Subject, &d, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		e.Details = json.RawMessage(d)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Delivery is one message in the outbox: an event for one subscriber, a digest, or a
// confirmation request.
type Delivery struct {
	ID             int64           `json:"id"`
	OrgID          int64           `json:"org_id"`
	SubscriptionID int64           `json:"subscription_id"`
	EventID        *int64          `json:"event_id,omitempty"`
	Kind           string          `json:"kind"`
	Payload        json.RawMessage `json:"payload"`
	State          string          `json:"state"`
	Attempts       int             `json:"attempts"`
	NextAttemptAt  time.Time       `json:"next_attempt_at"`
	LeaseUntil     *time.Time      `json:"lease_until,omitempty"`
	LastError      string          `json:"last_error,omitempty"`
	DigestID       *int64          `json:"digest_id,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	SentAt         *time.Time      `json:"sent_at,omitempty"`
}

const deliveryCols = `id, org_id, subscription_id, event_id, kind, payload, state, attempts, next_attempt_at, lease_until,
	last_error, digest_id, created_at, sent_at`

func scanDelivery(row interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var payload string
	err := row.Scan(&d.ID, &d.OrgID, &d.SubscriptionID, &d.EventID, &d.Kind, &payload, &d.State, &d.Attempts, &d.NextAttemptAt,
		&d.LeaseUntil, &d.LastError, &d.DigestID, &d.CreatedAt, &d.SentAt)
	d.Payload = json.RawMessage(payload)
	return d, err
}

func (r Reader) deliveries(ctx context.Context, q string, args ...any) ([]Delivery, error) {
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Enqueue adds deliveries to the outbox (State pending or held). An event already enqueued
// for a subscriber is skipped, so fan-out may safely run again over the same events.
func (tx *Tx) Enqueue(ctx context.Context, ds []Delivery) error {
	now := Now()
	err := tx.batchInsert(ctx, `INSERT INTO notify_outbox (org_id, subscription_id, event_id, kind, payload, state,
		next_attempt_at, created_at) VALUES `, ` ON CONFLICT (subscription_id, event_id) DO NOTHING`, 8, len(ds),
		func(i int) []any {
			d := ds[i]
			next := d.NextAttemptAt
			if next.IsZero() {
				next = now
			}
			return []any{d.OrgID, d.SubscriptionID, d.EventID, d.Kind, string(d.Payload), d.State,
				next.UTC().Truncate(time.Microsecond), now}
		})
	if err != nil {
		return fmt.Errorf("enqueue notifications: %w", mapErr(err))
	}
	return nil
}

// ClaimedDelivery is a delivery a worker holds, with its subscription.
type ClaimedDelivery struct {
	Delivery
	Subscription Subscription
}

// ClaimDeliveries leases up to limit pending deliveries that are due at now, until
// leaseUntil, and counts the attempt. Run it in its own short transaction: once it commits,
// other workers skip these rows until the lease expires. On PostgreSQL rows another node is
// claiming at the same moment are skipped (FOR UPDATE SKIP LOCKED), not waited for; on
// SQLite the single writer serialises claims. Deliveries of disabled or unconfirmed
// subscriptions wait (a confirmation request goes to an unconfirmed one). With webhooksOnly
// (no mail server configured), e-mail deliveries wait too.
func (tx *Tx) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int, webhooksOnly bool) ([]ClaimedDelivery, error) {
	lock := ""
	if tx.engine == Postgres {
		lock = ` FOR UPDATE OF o SKIP LOCKED`
	}
	only := ""
	if webhooksOnly {
		only = ` AND s.kind = 'webhook'`
	}
	now = now.UTC().Truncate(time.Microsecond)
	ds, err := tx.deliveries(ctx, `UPDATE notify_outbox SET lease_until = $2, attempts = attempts + 1 WHERE id IN (
		SELECT o.id FROM notify_outbox o JOIN notify_subscriptions s ON s.id = o.subscription_id
		WHERE o.state = 'pending' AND o.next_attempt_at <= $1 AND (o.lease_until IS NULL OR o.lease_until <= $1)
		AND s.disabled_at IS NULL AND (s.confirmed_at IS NOT NULL OR o.kind = 'subscription.confirm')`+only+`
		ORDER BY o.next_attempt_at, o.id LIMIT $3`+lock+`) RETURNING `+deliveryCols,
		now, leaseUntil.UTC().Truncate(time.Microsecond), limit)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	ids := make([]int64, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.SubscriptionID)
	}
	subs, err := tx.SubscriptionsByID(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	out := make([]ClaimedDelivery, 0, len(ds))
	for _, d := range ds {
		out = append(out, ClaimedDelivery{Delivery: d, Subscription: subs[d.SubscriptionID]})
	}
	return out, nil
}

// ReleaseDeliveries gives back leased deliveries that were not attempted (a worker stopping),
// uncounting the attempt.
func (tx *Tx) ReleaseDeliveries(ctx context.Context, ids []int64) error {
	for chunk := range notifyChunks(ids, 500) {
		if _, err := tx.exec(ctx, `UPDATE notify_outbox SET lease_until = NULL, attempts = attempts - 1
			WHERE state = 'pending' AND lease_until IS NOT NULL AND id IN (`+notifyPlaceholders(len(chunk), 1)+`)`, notifyArgs(chunk)...); err != nil {
			return fmt.Errorf("release deliveries: %w", err)
		}
	}
	return nil
}

// MarkSent records that a delivery went out.
func (tx *Tx) MarkSent(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, `UPDATE notify_outbox SET state = 'sent', sent_at = $2, lease_until = NULL, last_error = ''
		WHERE id = $1`, id, Now()); err != nil {
		return fmt.Errorf("delivery %d sent: %w", id, err)
	}
	return nil
}

// MarkFailed records a failed attempt: the delivery is tried again at next, or, with dead,
// never again.
func (tx *Tx) MarkFailed(ctx context.Context, id int64, errMsg string, next time.Time, dead bool) error {
	state := DeliveryPending
	if dead {
		state = DeliveryDead
	}
	if _, err := tx.exec(ctx, `UPDATE notify_outbox SET state = $2, next_attempt_at = $3, lease_until = NULL, last_error = $4
		WHERE id = $1 AND state = 'pending'`, id, state, next.UTC().Truncate(time.Microsecond), errMsg); err != nil {
		return fmt.Errorf("delivery %d failed: %w", id, err)
	}
	return nil
}

// Delivery finds one of an organisation's deliveries.
func (r Reader) Delivery(ctx context.Context, orgID, id int64) (Delivery, error) {
	d, err := scanDelivery(r.queryRow(ctx, `SELECT `+deliveryCols+` FROM notify_outbox WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery %d: %w", id, mapErr(err))
	}
	return d, nil
}

// ListDeliveries lists an organisation's deliveries in a state (dead: the dead letters), in
// id order.
func (r Reader) ListDeliveries(ctx context.Context, orgID int64, state string, p Page) ([]Delivery, error) {
	return r.deliveries(ctx, `SELECT `+deliveryCols+` FROM notify_outbox WHERE org_id = $1 AND state = $2 AND id > $3
		ORDER BY id LIMIT $4`, orgID, state, p.After, p.Limit)
}

// RetryDelivery puts a dead delivery back in the queue, due now, with its attempts reset.
func (tx *Tx) RetryDelivery(ctx context.Context, orgID, id int64, now time.Time) (Delivery, error) {
	// A disabled subscription's deliveries are not claimed: retried, one would wait unseen.
	var disabled bool
	var reason string
	err := tx.queryRow(ctx, `SELECT s.disabled_at IS NOT NULL, s.disabled_reason FROM notify_outbox o
		JOIN notify_subscriptions s ON s.id = o.subscription_id WHERE o.org_id = $1 AND o.id = $2 AND o.state = 'dead'`,
		orgID, id).Scan(&disabled, &reason)
	if err != nil {
		return Delivery{}, fmt.Errorf("retry delivery %d: %w", id, mapErr(err))
	}
	if disabled {
		return Delivery{}, fmt.Errorf("retry delivery %d: its subscription is disabled (%s): enable it first: %w", id, reason, ErrConflict)
	}
	d, err := scanDelivery(tx.queryRow(ctx, `UPDATE notify_outbox SET state = 'pending', attempts = 0, next_attempt_at = $3,
		lease_until = NULL WHERE org_id = $1 AND id = $2 AND state = 'dead' RETURNING `+deliveryCols, orgID, id, now.UTC().Truncate(time.Microsecond)))
	if err != nil {
		return Delivery{}, fmt.Errorf("retry delivery %d: %w", id, mapErr(err))
	}
	return d, nil
}

// CountDeliveries counts deliveries by state, of one organisation or (orgID 0) all.
func (r Reader) CountDeliveries(ctx context.Context, orgID int64) (map[string]int, error) {
	rows, err := r.query(ctx, `SELECT state, COUNT(*) FROM notify_outbox WHERE ($1 = 0 OR org_id = $1) GROUP BY state`, orgID)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", err)
		}
		out[state] = n
	}
	return out, rows.Err()
}

// DueDigests lists up to limit subscriptions with held deliveries whose digest is due at now.
func (r Reader) DueDigests(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	rows, err := r.query(ctx, `SELECT DISTINCT subscription_id FROM notify_outbox WHERE state = 'held' AND next_attempt_at <= $1
		ORDER BY subscription_id LIMIT $2`, now.UTC().Truncate(time.Microsecond), limit)
	if err != nil {
		return nil, fmt.Errorf("due digests: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("due digests: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// HeldDeliveries returns a subscription's held deliveries whose digest is due at now, in id
// order. On PostgreSQL it locks them until the transaction ends, so that two nodes building
// the same digest cannot both take them.
func (tx *Tx) HeldDeliveries(ctx context.Context, subID int64, now time.Time) ([]Delivery, error) {
	lock := ""
	if tx.engine == Postgres {
		lock = ` FOR UPDATE`
	}
	return tx.deliveries(ctx, `SELECT `+deliveryCols+` FROM notify_outbox WHERE subscription_id = $1 AND state = 'held'
		AND next_attempt_at <= $2 ORDER BY id`+lock, subID, now.UTC().Truncate(time.Microsecond))
}

// AddDigest enqueues a digest delivery (pending, due now) that carries the held deliveries
// items, which become digested.
func (tx *Tx) AddDigest(ctx context.Context, d Delivery, items []int64) (Delivery, error) {
	now := Now()
	out, err := scanDelivery(tx.queryRow(ctx, `INSERT INTO notify_outbox (org_id, subscription_id, kind, payload, state,
		next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', $5, $5) RETURNING `+deliveryCols,
		d.OrgID, d.SubscriptionID, DeliveryKindDigest, string(d.Payload), now))
	if err != nil {
		return Delivery{}, fmt.Errorf("add digest: %w", mapErr(err))
	}
	for chunk := range notifyChunks(items, 500) {
		if _, err := tx.exec(ctx, `UPDATE notify_outbox SET state = 'digested', digest_id = $1, sent_at = $2
			WHERE state = 'held' AND id IN (`+notifyPlaceholders(len(chunk), 3)+`)`, append([]any{out.ID, now}, notifyArgs(chunk)...)...); err != nil {
			return Delivery{}, fmt.Errorf("add digest: %w", err)
		}
	}
	return out, nil
}

// PurgeDeliveries deletes sent and digested deliveries created before the time, and returns
// how many. Dead letters stay until someone retries or deletes their subscription.
func (tx *Tx) PurgeDeliveries(ctx context.Context, before time.Time) (int64, error) {
	res, err := tx.exec(ctx, `DELETE FROM notify_outbox WHERE state IN ('sent', 'digested') AND created_at < $1`,
		before.UTC().Truncate(time.Microsecond))
	if err != nil {
		return 0, fmt.Errorf("purge deliveries: %w", err)
	}
	return res.RowsAffected()
}

// notifyPlaceholders returns n numbered placeholders from $first, comma-separated.
func notifyPlaceholders(n, first int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	return b.String()
}

func notifyArgs[T any](v []T) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

// notifyChunks yields v in pieces of at most n.
func notifyChunks[T any](v []T, n int) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for i := 0; i < len(v); i += n {
			if !yield(v[i:min(i+n, len(v))]) {
				return
			}
		}
	}
}
