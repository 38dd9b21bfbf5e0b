package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// Delivery protocol, and why nothing is lost or sent twice (docs/notifications.md tells the
// same to operators):
//
//  1. claim: a short transaction leases due rows (lease_until = now + Lease) and counts the
//     attempt. Other workers, on this node or another, skip leased rows.
//  2. send, one message at a time, only while the lease has at least the send timeout left.
//  3. mark: one transaction records the outcomes of up to MarkBatch sends: sent, or the
//     next attempt, or dead. A 410 Gone is recorded at once (it disables the subscription).
//
// A stop (ctx cancelled) lets the message in flight finish, records what was sent, and gives
// back the claimed rows not yet tried. A crash instead leaves its rows leased; they are tried
// again when the lease expires. The one window for a duplicate is a crash between the
// receiver's acceptance (SMTP 250 after DATA, or a webhook's 2xx) and the commit of the mark:
// at most MarkBatch messages per worker, the last it sent.
// Delivery is at least once. A repeat carries the same Message-ID (mail) or
// Patchday-Delivery header (webhook), so receivers can drop it.

// Deliver sends everything due now and returns how many were delivered. It returns when no
// due row is left or ctx ends.
func (n *Notifier) Deliver(ctx context.Context) (int, error) {
	var sent atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, n.cfg.Concurrency)
	for i := range n.cfg.Concurrency {
		wg.Go(func() { errs[i] = n.worker(ctx, &sent) })
	}
	wg.Wait()
	return int(sent.Load()), errors.Join(errs...)
}

// outcome is a send whose result waits to be recorded.
type outcome struct {
	d   *store.ClaimedDelivery
	res result
}

// worker claims and sends batches until nothing is due.
func (n *Notifier) worker(ctx context.Context, sent *atomic.Int64) error {
	mc := &mailConn{n: n}
	defer mc.close()
	gone := map[int64]bool{} // subscriptions this worker disabled (410 Gone)
	var pending []outcome
	// record commits the pending outcomes, also after a stop: abandoning a message after
	// the receiver accepted it is what causes duplicates.
	record := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := n.record(context.WithoutCancel(ctx), pending)
		for _, o := range pending {
			if err == nil && o.res.err == nil {
				sent.Add(1)
			}
		}
		pending = pending[:0]
		return err
	}
	for ctx.Err() == nil {
		now := n.cfg.Now()
		var batch []store.ClaimedDelivery
		err := n.st.Update(ctx, func(tx *store.Tx) error {
			var err error
			batch, err = tx.ClaimDeliveries(ctx, now, now.Add(n.cfg.Lease), n.cfg.ClaimBatch, n.cfg.SMTP.Host == "")
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("claim: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		for i := range batch {
			d := &batch[i]
			// Do not start after a stop, nor when the lease could expire mid-send (another
			// worker may then take the row): record what was sent, give the rest back.
			if ctx.Err() != nil || n.cfg.Now().Add(n.sendTimeout(d)).After(now.Add(n.cfg.Lease)) {
				return errors.Join(record(), n.release(ctx, batch[i:]))
			}
			if gone[d.SubscriptionID] {
				continue // disabling the subscription made this row dead too
			}
			// The send runs to the end even when ctx is cancelled meanwhile.
			res := n.send(context.WithoutCancel(ctx), mc, d)
			pending = append(pending, outcome{d, res})
			if res.gone {
				gone[d.SubscriptionID] = true
			}
			if res.gone || len(pending) >= n.cfg.MarkBatch {
				if err := record(); err != nil {
					n.release(ctx, batch[i+1:])
					return err
				}
			}
		}
		if err := record(); err != nil {
			return err
		}
	}
	return record()
}

func (n *Notifier) sendTimeout(d *store.ClaimedDelivery) time.Duration {
	return n.cfg.sendTimeout(d.Subscription.Kind)
}

func (n *Notifier) release(ctx context.Context, ds []store.ClaimedDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	ctx = context.WithoutCancel(ctx) // releasing is what a stop must still do
	err := n.st.Update(ctx, func(tx *store.Tx) error { return tx.ReleaseDeliveries(ctx, ids) })
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// send sends one delivery and returns the outcome.
func (n *Notifier) send(ctx context.Context, mc *mailConn, d *store.ClaimedDelivery) result {
	switch {
	case d.Subscription.ID == 0:
		return result{err: errors.New("subscription gone"), permanent: true}
	case d.Subscription.Kind == store.SubscriptionWebhook:
		return n.sendWebhook(ctx, d)
	default:
		return mc.send(ctx, d)
	}
}

// record stores the outcomes of sends in one transaction; an error means they could not be
// recorded (the rows come back when their lease expires).
func (n *Notifier) record(ctx context.Context, os []outcome) error {
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		for _, o := range os {
			d, res := o.d, o.res
			log := n.log.With("delivery", d.ID, "subscription", d.SubscriptionID, "kind", d.Kind, "attempt", d.Attempts)
			var err error
			switch {
			case res.err == nil:
				err = tx.MarkSent(ctx, d.ID)
			case res.gone:
				log.Warn("notify: webhook gone, subscription disabled", "err", res.err)
				if err = tx.MarkFailed(ctx, d.ID, res.err.Error(), n.cfg.Now(), true); err == nil {
					err = tx.DisableSubscription(ctx, d.SubscriptionID, res.err.Error())
				}
			case res.permanent || d.Attempts >= n.cfg.MaxAttempts:
				log.Warn("notify: delivery failed for good", "err", res.err)
				err = tx.MarkFailed(ctx, d.ID, res.err.Error(), n.cfg.Now(), true)
			default:
				next := n.cfg.Now().Add(n.backoff(d.Attempts))
				log.Info("notify: delivery failed, will retry", "err", res.err, "next", next)
				err = tx.MarkFailed(ctx, d.ID, res.err.Error(), next, false)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d deliveries: %w", len(os), err)
	}
	return nil
}

// result is the outcome of one send.
type result struct {
	err       error
	gone      bool // 410 Gone: disable the subscription
	permanent bool // retrying cannot help (the message cannot even be built)
}

// backoff is the delay after the attempt-th failure: BackoffBase doubled each time up to
// BackoffMax, then a random 50 to 100 % of it, so that deliveries that failed together (a
// receiver down) do not come back together.
func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.cfg.BackoffBase
	for i := 1; i < attempt && d < n.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, n.cfg.BackoffMax)
	return d/2 + rand.N(d/2+1)
}
