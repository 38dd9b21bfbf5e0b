package server

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"github.com/patchday/patchday/internal/notify"
	"github.com/patchday/patchday/internal/store"
)

// notifyErr maps the notifier's errors to API errors.
func notifyErr(err error, what string) error {
	var fe *notify.FieldError
	switch {
	case errors.As(err, &fe):
		return errInvalid(fe.Field, "%s", fe.Reason)
	case errors.Is(err, store.ErrConflict):
		return errConflict("%s exists already", what)
	}
	return storeErr(err, what)
}

func (s *Server) createSubscription(c *call) error {
	var in notify.SubscriptionInput
	if err := decode(c.w, c.r, &in); err != nil {
		return err
	}
	created, err := s.notify.Subscribe(c.r.Context(), c.org.ID, in, c.user.Username)
	if err != nil {
		return notifyErr(err, "a subscription of "+quote(in.Address))
	}
	if err := s.auditOnly(c, c.org.ID, "subscription.create", "subscription", itoa(created.ID),
		map[string]any{"kind": created.Kind, "address": created.Address}); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, created)
	return nil
}

// auditOnly writes an audit event in a transaction of its own, for changes made through a
// package that runs its own transactions (the notifier).
func (s *Server) auditOnly(c *call, orgID int64, action, objectType, objectID string, details map[string]any) error {
	return s.store.Update(c.r.Context(), func(tx *store.Tx) error {
		return c.audit(tx, orgID, action, objectType, objectID, details)
	})
}

func (s *Server) listSubscriptions(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	subs, err := s.notify.Subscriptions(c.r.Context(), c.org.ID, store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	writeList(c.w, subs, p.Limit, func(s store.Subscription) int64 { return s.ID })
	return nil
}

func (s *Server) subscriptionOf(c *call) (store.Subscription, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return store.Subscription{}, err
	}
	sub, err := s.store.Subscription(c.r.Context(), c.org.ID, id)
	if err != nil {
		return sub, storeErr(err, "subscription "+itoa(id))
	}
	return sub, nil
}

func (s *Server) getSubscription(c *call) error {
	sub, err := s.subscriptionOf(c)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, sub)
	return nil
}

// updateSubscription replaces a subscription's filters and digest option.
func (s *Server) updateSubscription(c *call) error {
	sub, err := s.subscriptionOf(c)
	if err != nil {
		return err
	}
	// PATCH: what the body leaves out stays as it is; an empty value ("" or []) matches
	// everything.
	var p struct {
		Kind         string    `json:"kind"`
		Address      string    `json:"address"`
		ProductIDs   *[]int64  `json:"product_ids"`
		ProductNames *[]string `json:"product_names"`
		MinSeverity  *string   `json:"min_severity"`
		EventTypes   *[]string `json:"event_types"`
		Digest       *string   `json:"digest"`
	}
	if err := decode(c.w, c.r, &p); err != nil {
		return err
	}
	if (p.Kind != "" && p.Kind != sub.Kind) || (p.Address != "" && p.Address != sub.Address) {
		return errInvalid("address", "cannot change; make a new subscription")
	}
	in := notify.SubscriptionInput{Kind: sub.Kind, Address: sub.Address, ProductIDs: sub.ProductIDs, ProductNames: sub.ProductNames,
		MinSeverity: sub.MinSeverity, EventTypes: sub.EventTypes, Digest: sub.Digest}
	if p.ProductIDs != nil {
		in.ProductIDs = *p.ProductIDs
	}
	if p.ProductNames != nil {
		in.ProductNames = *p.ProductNames
	}
	if p.MinSeverity != nil {
		in.MinSeverity = *p.MinSeverity
	}
	if p.EventTypes != nil {
		in.EventTypes = *p.EventTypes
	}
	if p.Digest != nil {
		in.Digest = *p.Digest
	}
	out, err := s.notify.UpdateFilters(c.r.Context(), c.org.ID, sub.ID, in)
	if err != nil {
		return notifyErr(err, "subscription "+itoa(sub.ID))
	}
	if err := s.auditOnly(c, c.org.ID, "subscription.update", "subscription", itoa(sub.ID),
		map[string]any{"min_severity": out.MinSeverity, "event_types": out.EventTypes, "digest": out.Digest}); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// enableSubscription lifts the disabling of a subscription whose webhook answered 410 Gone.
func (s *Server) enableSubscription(c *call) error {
	sub, err := s.subscriptionOf(c)
	if err != nil {
		return err
	}
	out, err := s.notify.Enable(c.r.Context(), c.org.ID, sub.ID)
	if err != nil {
		return storeErr(err, "subscription "+itoa(sub.ID))
	}
	if err := s.auditOnly(c, c.org.ID, "subscription.enable", "subscription", itoa(sub.ID),
		map[string]any{"was_disabled": sub.DisabledAt != nil, "disabled_reason": sub.DisabledReason}); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (s *Server) deleteSubscription(c *call) error {
	sub, err := s.subscriptionOf(c)
	if err != nil {
		return err
	}
	if err := s.notify.DeleteSubscription(c.r.Context(), c.org.ID, sub.ID); err != nil {
		return storeErr(err, "subscription "+itoa(sub.ID))
	}
	if err := s.auditOnly(c, c.org.ID, "subscription.delete", "subscription", itoa(sub.ID),
		map[string]any{"kind": sub.Kind, "address": sub.Address}); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listDeadLetters lists the deliveries that gave up (?state=dead, the only state listed).
func (s *Server) listDeadLetters(c *call) error {
	if st := c.r.URL.Query().Get("state"); st != "" && st != store.DeliveryDead {
		return errInvalid("state", "must be dead: only dead letters are listed")
	}
	p, err := page(c.r)
	if err != nil {
		return err
	}
	ds, err := s.notify.DeadLetters(c.r.Context(), c.org.ID, store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	writeList(c.w, ds, p.Limit, func(d store.Delivery) int64 { return d.ID })
	return nil
}

func (s *Server) retryDelivery(c *call) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	d, err := s.notify.Retry(c.r.Context(), c.org.ID, id)
	if errors.Is(err, store.ErrConflict) {
		return errConflict("dead letter %d: its subscription is disabled: enable it first (patchday subscription enable)", id)
	} else if err != nil {
		return storeErr(err, "dead letter "+itoa(id))
	}
	if err := s.auditOnly(c, c.org.ID, "delivery.retry", "delivery", itoa(id), map[string]any{"subscription_id": d.SubscriptionID}); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, d)
	return nil
}

// signupRequest is the public sign-up form: e-mail only, confirmed by the subscriber.
type signupRequest struct {
	Org          string   `json:"org"`
	Email        string   `json:"email"`
	ProductNames []string `json:"product_names"`
	MinSeverity  string   `json:"min_severity"`
	EventTypes   []string `json:"event_types"`
	Digest       string   `json:"digest"`
}

// publicSignup subscribes an e-mail address to the notifications of the organisation whose
// advisories the server publishes, without an account. Nothing happens until the address's owner follows the link in the confirmation
// mail (double opt-in), so the form cannot subscribe anyone against their will; it is rate
// limited per source address, and an address already subscribed gets the same answer, so
// the form does not tell who is subscribed.
func (s *Server) publicSignup(c *call) error {
	// limitKey groups an IPv6 /64 as one source, as for logins.
	source := "signup:" + limitKey(info(c.r.Context()).source)
	if wait := s.allowLogin(source); wait > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many sign-ups from this address; try again later"}
	}
	var req signupRequest
	if err := decode(c.w, c.r, &req); err != nil {
		return err
	}
	// Only the organisation whose advisories the server publishes (the CSAF provider's) takes
	// sign-ups: the others' advisories are for their members. An unknown slug gets the same
	// answer as another organisation's, so the form does not tell which exist.
	if req.Org == "" {
		req.Org = s.cfg.CSAFProviderOrg
	}
	if req.Org != s.cfg.CSAFProviderOrg {
		return errInvalid("org", "takes no public sign-ups: this server publishes the advisories of %q", s.cfg.CSAFProviderOrg)
	}
	org, err := s.store.OrgBySlug(c.r.Context(), req.Org)
	if err != nil {
		return errInvalid("org", "takes no public sign-ups: this server publishes the advisories of %q", s.cfg.CSAFProviderOrg)
	}
	in := notify.SubscriptionInput{Kind: store.SubscriptionEmail, Address: req.Email, ProductNames: req.ProductNames,
		MinSeverity: req.MinSeverity, EventTypes: req.EventTypes, Digest: req.Digest}
	created, err := s.notify.Subscribe(c.r.Context(), org.ID, in, notify.SignupActor)
	var fe *notify.FieldError
	switch {
	case errors.As(err, &fe):
		field := fe.Field
		if field == "address" {
			field = "email"
		}
		return errInvalid(field, "%s", fe.Reason)
	case errors.Is(err, store.ErrConflict):
		// Subscribed already: the same answer as a new sign-up. One still awaiting its
		// confirmation gets the mail again (at most hourly): the way to a new link.
		resent, err := s.notify.ResendConfirmation(c.r.Context(), org.ID, req.Email)
		if err != nil {
			return err
		}
		if resent != 0 {
			c.user.Username = notify.SignupActor
			if err := s.auditOnly(c, org.ID, "subscription.confirmation_resent", "subscription", itoa(resent), map[string]any{"address": req.Email}); err != nil {
				return err
			}
		}
	case err != nil:
		return err
	default:
		c.user.Username = notify.SignupActor
		if err := s.auditOnly(c, org.ID, "subscription.signup", "subscription", itoa(created.ID), map[string]any{"address": created.Address}); err != nil {
			return err
		}
	}
	writeJSON(c.w, http.StatusAccepted, map[string]string{"status": "a confirmation link is on its way to " + req.Email})
	return nil
}

// The pages a subscriber reaches from the links in a mail. GET shows a button and only POST
// acts, so that mail scanners that fetch links confirm or cancel nothing; POST is also what
// one-click unsubscribe (RFC 8058) sends.
var linkPage = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} - patchday</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#111;line-height:1.5}
button{font-size:1rem;padding:.6rem 1.2rem;border:2px solid #0b5394;background:#0b5394;color:#fff;border-radius:4px;cursor:pointer}
button:focus{outline:3px solid #f1c232;outline-offset:2px}</style></head>
<body><main><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{if .Action}}<form method="post"><input type="hidden" name="token" value="{{.Token}}"><button type="submit">{{.Action}}</button></form>{{end}}
</main></body></html>
`))

type linkPageData struct{ Title, Message, Action, Token string }

func (s *Server) renderLink(c *call, status int, d linkPageData) error {
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	c.w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the URL
	c.w.WriteHeader(status)
	return linkPage.Execute(c.w, d)
}

// linkToken reads the token of a confirm or unsubscribe link: the query, or the form field.
func linkToken(c *call) (string, error) {
	c.r.Body = http.MaxBytesReader(c.w, c.r.Body, 4096)
	if err := c.r.ParseForm(); err != nil {
		return "", errInvalid("token", "cannot read the form: %v", err)
	}
	t := c.r.Form.Get("token")
	if t == "" || len(t) > 200 {
		return "", errInvalid("token", "is missing or too long: use the link from the mail")
	}
	return t, nil
}

func (s *Server) confirmPage(c *call) error {
	t, err := linkToken(c)
	if err != nil {
		return err
	}
	return s.renderLink(c, http.StatusOK, linkPageData{Title: "Confirm your subscription",
		Message: "Confirm that you want patchday's security notifications at this address.", Action: "Confirm", Token: t})
}

func (s *Server) confirmSubscription(c *call) error {
	t, err := linkToken(c)
	if err != nil {
		return err
	}
	sub, err := s.notify.Confirm(c.r.Context(), t)
	if errors.Is(err, notify.ErrInvalidToken) {
		return s.renderLink(c, http.StatusNotFound, linkPageData{Title: "Link not valid",
			Message: "This confirmation link is unknown, used already or expired. Sign up again to get a new one."})
	} else if err != nil {
		return err
	}
	c.user.Username = "subscriber:" + sub.Address
	if err := s.auditOnly(c, sub.OrgID, "subscription.confirm", "subscription", itoa(sub.ID), nil); err != nil {
		return err
	}
	return s.renderLink(c, http.StatusOK, linkPageData{Title: "Subscribed",
		Message: fmt.Sprintf("%s now receives the notifications it asked for. Every mail has a link to unsubscribe.", sub.Address)})
}

func (s *Server) unsubscribePage(c *call) error {
	t, err := linkToken(c)
	if err != nil {
		return err
	}
	return s.renderLink(c, http.StatusOK, linkPageData{Title: "Unsubscribe",
		Message: "Stop patchday's notifications to this address?", Action: "Unsubscribe", Token: t})
}

// unsubscribe answers success for unknown and used tokens too: a second click, or a mail
// client's one-click request after the user's, must not look like a failure.
func (s *Server) unsubscribe(c *call) error {
	t, err := linkToken(c)
	if err != nil {
		return err
	}
	sub, err := s.notify.Unsubscribe(c.r.Context(), t)
	switch {
	case errors.Is(err, notify.ErrInvalidToken):
		// Also on purpose: the same answer.
	case err != nil:
		return err
	default:
		c.user.Username = "subscriber:" + sub.Address
		if err := s.auditOnly(c, sub.OrgID, "subscription.unsubscribe", "subscription", itoa(sub.ID), nil); err != nil {
			return err
		}
	}
	return s.renderLink(c, http.StatusOK, linkPageData{Title: "Unsubscribed",
		Message: "This address receives no more notifications from this subscription."})
}

// Notifier is the server's notifier (for tests and tools that drive it by hand).
func (s *Server) Notifier() *notify.Notifier { return s.notify }
