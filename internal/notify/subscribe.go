package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// FieldError is input that breaks a rule: the field (as in SubscriptionInput's JSON) and
// why. The HTTP layer answers it with 400 and the field's name.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

func bad(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ErrInvalidToken is returned for a confirm or unsubscribe token that is unknown, already
// used or expired.
var ErrInvalidToken = errors.New("notify: invalid or expired link")

// SubscriptionInput is what a user asks for.
type SubscriptionInput struct {
	Kind         string   `json:"kind"`    // email or webhook
	Address      string   `json:"address"` // the e-mail address, or the webhook's URL
	ProductIDs   []int64  `json:"product_ids,omitempty"`
	ProductNames []string `json:"product_names,omitempty"`
	MinSeverity  string   `json:"min_severity,omitempty"` // critical, high, medium, low, none; empty: any
	EventTypes   []string `json:"event_types,omitempty"`  // from EventTypes; empty: all
	Digest       string   `json:"digest,omitempty"`       // none (default) or daily; e-mail only
}

const (
	maxAddressLen = 254 // RFC 5321's limit for a forward path
	maxURLLen     = 2048
	maxFilterLen  = 100
)

// validate checks the input and returns it normalised: the bare e-mail address in lower
// case, filters without duplicates.
func validate(in SubscriptionInput) (SubscriptionInput, error) {
	switch in.Kind {
	case store.SubscriptionEmail:
		addr, err := mail.ParseAddress(in.Address)
		if err != nil || len(addr.Address) > maxAddressLen {
			return in, bad("address", "must be an e-mail address such as alice@example.org")
		}
		// Lower-cased whole: the local part is case-sensitive in theory only, and a case
		// variant must not slip past the one-subscription-per-address rule.
		in.Address = strings.ToLower(addr.Address)
	case store.SubscriptionWebhook:
		if err := checkWebhookURL(in.Address); err != nil {
			return in, err
		}
	default:
		return in, bad("kind", "must be email or webhook")
	}
	if len(in.ProductIDs) > maxFilterLen || len(in.ProductNames) > maxFilterLen {
		return in, bad("product_ids", "and product_names may list at most %d products each", maxFilterLen)
	}
	for i, id := range in.ProductIDs {
		if id <= 0 {
			return in, bad(fmt.Sprintf("product_ids[%d]", i), "must be a product id")
		}
	}
	for i, name := range in.ProductNames {
		if strings.TrimSpace(name) == "" || len(name) > 200 {
			return in, bad(fmt.Sprintf("product_names[%d]", i), "must be a product name of 1 to 200 characters")
		}
		in.ProductNames[i] = strings.TrimSpace(name)
	}
	if in.MinSeverity != "" && csaf.SeverityRank(in.MinSeverity) < 0 {
		return in, bad("min_severity", "must be one of critical, high, medium, low, none")
	}
	for i, t := range in.EventTypes {
		if !slices.Contains(EventTypes, t) {
			return in, bad(fmt.Sprintf("event_types[%d]", i), "must be one of %s", strings.Join(EventTypes, ", "))
		}
	}
	in.ProductIDs = dedupe(in.ProductIDs)
	in.ProductNames = dedupe(in.ProductNames)
	in.EventTypes = dedupe(in.EventTypes)
	switch in.Digest {
	case "", "none":
		in.Digest = "none"
	case "daily":
		if in.Kind != store.SubscriptionEmail {
			return in, bad("digest", "daily is for e-mail subscriptions; a webhook gets each event")
		}
	default:
		return in, bad("digest", "must be none or daily")
	}
	return in, nil
}

// checkWebhookURL admits https URLs, and http only to a loopback address (a receiver on the
// same machine, and tests): anything else would send signed payloads in clear over the
// network. Credentials in the URL are refused because subscriptions are listed in clear.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxURLLen || u.Host == "" || u.Opaque != "" {
		return bad("address", "must be an absolute https URL")
	}
	if u.User != nil {
		return bad("address", "must not carry a user name or password")
	}
	if u.Fragment != "" {
		return bad("address", "must not have a fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return bad("address", "must be https (http only to a loopback address)")
		}
	default:
		return bad("address", "must be an https URL")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// signupLimits confines a public sign-up (SignupActor) to e-mail and PublicEventTypes, all
// of them when it names none.
func signupLimits(in SubscriptionInput) (SubscriptionInput, error) {
	if in.Kind != store.SubscriptionEmail {
		return in, bad("kind", "public sign-ups are e-mail only")
	}
	if len(in.EventTypes) == 0 {
		in.EventTypes = slices.Clone(PublicEventTypes)
	}
	for i, t := range in.EventTypes {
		if !slices.Contains(PublicEventTypes, t) {
			return in, bad(fmt.Sprintf("event_types[%d]", i), "a public sign-up may ask only for %s", strings.Join(PublicEventTypes, ", "))
		}
	}
	return in, nil
}

// internalHost tells whether a URL's host is "localhost" or an address internalAddr refuses.
func internalHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && internalAddr(a.Unmap())
}

func dedupe[T comparable](v []T) []T {
	var out []T
	for _, x := range v {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Created is a new subscription. Secret, for a webhook, is its signing secret: shown once,
// to give to the receiver.
type Created struct {
	store.Subscription
	Secret string `json:"secret,omitempty"`
}

// Subscribe validates and stores a subscription of the organisation. An e-mail
// subscription starts unconfirmed and a confirmation request is queued (double opt-in); it
// receives events only once its link was followed (Confirm). A webhook, set up by an
// administrator, is live at once. A second subscription of one address in one organisation
// is refused with store.ErrConflict.
func (n *Notifier) Subscribe(ctx context.Context, orgID int64, in SubscriptionInput, actor string) (Created, error) {
	var err error
	if actor == SignupActor {
		// First, so that a stranger's mistake is told in the terms a sign-up may use, without
		// the event types it may not ask for.
		if in, err = signupLimits(in); err != nil {
			return Created{}, err
		}
	}
	if in, err = validate(in); err != nil {
		return Created{}, err
	}
	if in.Kind == store.SubscriptionWebhook && !n.cfg.Webhook.AllowPrivate {
		// Refused when dialling in any case (refusePrivate); said here at once when the URL
		// names such an address literally.
		if u, err := url.Parse(in.Address); err == nil && internalHost(u.Hostname()) {
			return Created{}, bad("address", "is a loopback, private or link-local address, which this server does not call (serve --webhook-allow-private allows it)")
		}
	}
	nonce := newNonce()
	sub := store.Subscription{OrgID: orgID, Kind: in.Kind, Address: in.Address, ProductIDs: in.ProductIDs,
		ProductNames: in.ProductNames, MinSeverity: in.MinSeverity, EventTypes: in.EventTypes, Digest: in.Digest,
		TokenNonce: nonce, UnsubHash: hashToken(n.unsubToken(nonce)), CreatedBy: actor}
	if in.Kind == store.SubscriptionWebhook {
		sub.Secret = newWebhookSecret()
		now := n.cfg.Now().UTC()
		sub.ConfirmedAt = &now
	} else {
		sub.ConfirmHash = hashToken(n.confirmToken(nonce))
	}
	var out store.Subscription
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		if out, err = tx.CreateSubscription(ctx, sub); err != nil {
			return err
		}
		if in.Kind != store.SubscriptionEmail {
			return nil
		}
		// The request goes through the outbox, so it is retried like any mail. It carries no
		// token (the worker derives the link when it sends), only whose notifications they are.
		return n.enqueueConfirmation(ctx, tx, orgID, out.ID, n.cfg.Now())
	})
	if err != nil {
		return Created{}, fmt.Errorf("subscribe %s: %w", in.Address, err)
	}
	n.Wake()
	return Created{Subscription: out, Secret: sub.Secret}, nil
}

// ResendEvery is how often a sign-up of an address whose subscription awaits confirmation
// sends the confirmation mail again: the lost or expired-looking mail can be asked for
// again, and the form still cannot be used to flood the address.
const ResendEvery = time.Hour

// ResendConfirmation queues the confirmation mail of the address's subscription again when
// it still awaits confirmation, nothing waits to be sent, and the last one was queued at
// least ResendEvery ago. It returns the subscription's id when it did (else 0). The link is
// the same: it works until ConfirmTTL after the sign-up.
func (n *Notifier) ResendConfirmation(ctx context.Context, orgID int64, address string) (int64, error) {
	in, err := validate(SubscriptionInput{Kind: store.SubscriptionEmail, Address: address})
	if err != nil {
		return 0, err
	}
	now := n.cfg.Now()
	var sent int64
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		sub, ok, err := tx.ConfirmationToResend(ctx, orgID, in.Address, now.Add(-n.cfg.ConfirmTTL), now.Add(-ResendEvery))
		if err != nil || !ok {
			return err
		}
		sent = sub.ID
		return n.enqueueConfirmation(ctx, tx, orgID, sub.ID, now)
	})
	if sent != 0 {
		n.Wake()
	}
	return sent, err
}

// Confirm completes the double opt-in with the token from the confirmation mail. A token
// works once and for ConfirmTTL.
func (n *Notifier) Confirm(ctx context.Context, token string) (store.Subscription, error) {
	if !strings.HasPrefix(token, confirmPrefix) {
		return store.Subscription{}, ErrInvalidToken
	}
	var out store.Subscription
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.ConfirmSubscription(ctx, hashToken(token), n.cfg.Now().Add(-n.cfg.ConfirmTTL))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Subscription{}, ErrInvalidToken
	}
	if err != nil {
		return store.Subscription{}, fmt.Errorf("confirm: %w", err)
	}
	return out, nil
}

// Unsubscribe deletes the subscription named by the token from a mail's unsubscribe link,
// with everything still queued for it. Unknown tokens (also one used before) give
// ErrInvalidToken; a one-click endpoint should answer success all the same.
func (n *Notifier) Unsubscribe(ctx context.Context, token string) (store.Subscription, error) {
	if !strings.HasPrefix(token, unsubPrefix) {
		return store.Subscription{}, ErrInvalidToken
	}
	var out store.Subscription
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.UnsubscribeByHash(ctx, hashToken(token))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Subscription{}, ErrInvalidToken
	}
	if err != nil {
		return store.Subscription{}, fmt.Errorf("unsubscribe: %w", err)
	}
	return out, nil
}

// UpdateFilters replaces a subscription's filters and digest option; Kind and Address of in
// must be the subscription's own (they cannot change: make a new subscription).
func (n *Notifier) UpdateFilters(ctx context.Context, orgID, id int64, in SubscriptionInput) (store.Subscription, error) {
	var out store.Subscription
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.Subscription(ctx, orgID, id)
		if err != nil {
			return err
		}
		in.Kind, in.Address = cur.Kind, cur.Address
		if in, err = validate(in); err != nil {
			return err
		}
		if cur.CreatedBy == SignupActor {
			if in, err = signupLimits(in); err != nil {
				return err
			}
		}
		cur.ProductIDs, cur.ProductNames, cur.MinSeverity, cur.EventTypes, cur.Digest =
			in.ProductIDs, in.ProductNames, in.MinSeverity, in.EventTypes, in.Digest
		out, err = tx.UpdateSubscriptionFilters(ctx, cur)
		return err
	})
	if err != nil {
		return store.Subscription{}, fmt.Errorf("update subscription %d: %w", id, err)
	}
	return out, nil
}

// DeleteSubscription removes a subscription and what is queued for it.
func (n *Notifier) DeleteSubscription(ctx context.Context, orgID, id int64) error {
	return n.st.Update(ctx, func(tx *store.Tx) error { return tx.DeleteSubscription(ctx, orgID, id) })
}

// Enable lets a subscription that was disabled (its webhook answered 410 Gone) receive
// events again, for when the receiver is back. It is a no-op for one that is not disabled.
func (n *Notifier) Enable(ctx context.Context, orgID, id int64) (store.Subscription, error) {
	var out store.Subscription
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.EnableSubscription(ctx, orgID, id)
		return err
	})
	return out, err
}

// Subscriptions lists an organisation's subscriptions, a page at a time.
func (n *Notifier) Subscriptions(ctx context.Context, orgID int64, p store.Page) ([]store.Subscription, error) {
	return n.st.ListSubscriptions(ctx, orgID, p)
}

// DeadLetters lists an organisation's deliveries that failed MaxAttempts times (or whose
// webhook answered 410 Gone), with their last error.
func (n *Notifier) DeadLetters(ctx context.Context, orgID int64, p store.Page) ([]store.Delivery, error) {
	return n.st.ListDeliveries(ctx, orgID, store.DeliveryDead, p)
}

// Retry puts a dead letter back in the queue, due now, with a fresh set of attempts.
func (n *Notifier) Retry(ctx context.Context, orgID, deliveryID int64) (store.Delivery, error) {
	var out store.Delivery
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.RetryDelivery(ctx, orgID, deliveryID, n.cfg.Now())
		return err
	})
	if err != nil {
		return store.Delivery{}, err
	}
	n.Wake()
	return out, nil
}

// confirmPayload is a confirmation request's payload: the organisation whose notifications
// the address would receive, which the mail names.
type confirmPayload struct {
	Org string `json:"org"`
}

func (n *Notifier) enqueueConfirmation(ctx context.Context, tx *store.Tx, orgID, subID int64, at time.Time) error {
	org, err := tx.Org(ctx, orgID)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(confirmPayload{Org: org.Name})
	if err != nil {
		return err
	}
	return tx.Enqueue(ctx, []store.Delivery{{OrgID: orgID, SubscriptionID: subID, Kind: store.DeliveryKindConfirm,
		Payload: payload, State: store.DeliveryPending, NextAttemptAt: at}})
}
