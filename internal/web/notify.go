package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// The subscriptions page lists who hears of the organisation's events and lets admins add
// and remove subscriptions; the releases page shows the release calendar and what each
// coming release day brings. Both only call the API, like every other page.

type subscriptionForm struct {
	Kind, Address, MinSeverity, Digest string
	Events                             []string
}

type subscriptionsView struct {
	List   list
	Form   subscriptionForm
	Events []string
	Secret string // a new webhook's signing secret: shown this once
	Hook   string
	// AdminsOnly is set for members who are not admins: the API shows subscriptions to
	// admins only, since addresses are personal data and webhook URLs often carry a
	// credential.
	AdminsOnly bool
	// Dead are the newest dead letters (deliveries that gave up), with a retry button each.
	Dead []any
}

// eventTypes are the events a subscription can ask for (notify.EventTypes).
var eventTypes = []string{"advance_notification", "advisory.published", "advisory.revised", "rollout.halted", "deadline.passed",
	"compliance.below_threshold", "scan.opened", "scan.violation"}

func (c *Console) subscriptions(q *req) error {
	return c.renderSubscriptions(q, http.StatusOK, subscriptionsView{Form: subscriptionForm{Kind: "email"}}, nil)
}

func (c *Console) renderSubscriptions(q *req, status int, v subscriptionsView, formErr *apiError) error {
	if q.role != "admin" {
		v.AdminsOnly = true
		c.render(q.w, q, status, "subscriptions", view{Title: "Subscriptions", Nav: "subscriptions", Data: v})
		return nil
	}
	l, err := q.fetchList(orgPath(q.org, "subscriptions"))
	if err != nil {
		return err
	}
	var dead struct{ Items []any }
	if err := q.api.do(q.ctx(), http.MethodGet, orgPath(q.org, "dead-letters"), url.Values{"limit": {"50"}}, nil, &dead); err != nil {
		return err
	}
	v.List, v.Events, v.Dead = l, eventTypes, dead.Items
	c.render(q.w, q, status, "subscriptions", view{Title: "Subscriptions", Nav: "subscriptions", Error: formErr, Data: v})
	return nil
}

// subscribe posts the form to the API. A webhook's secret comes back once: the page shows it
// right away instead of redirecting.
func (c *Console) subscribe(q *req) error {
	q.r.ParseForm()
	f := subscriptionForm{Kind: q.r.PostFormValue("kind"), Address: strings.TrimSpace(q.r.PostFormValue("address")),
		MinSeverity: q.r.PostFormValue("min_severity"), Digest: q.r.PostFormValue("digest"), Events: q.r.PostForm["event"]}
	body := map[string]any{"kind": f.Kind, "address": f.Address}
	if f.MinSeverity != "" {
		body["min_severity"] = f.MinSeverity
	}
	if f.Digest != "" && f.Kind == "email" {
		body["digest"] = f.Digest
	}
	if len(f.Events) > 0 {
		body["event_types"] = f.Events
	}
	var created obj
	err := q.api.do(q.ctx(), http.MethodPost, orgPath(q.org, "subscriptions"), nil, body, &created)
	var formErr *apiError
	switch {
	case err == nil && f.Kind == "webhook":
		return c.renderSubscriptions(q, http.StatusCreated, subscriptionsView{Form: subscriptionForm{Kind: "email"},
			Secret: str(created["secret"]), Hook: f.Address}, nil)
	case err == nil:
		http.Redirect(q.w, q.r, "/o/"+url.PathEscape(q.org)+"/subscriptions?done=subscribed", http.StatusSeeOther)
		return nil
	case !errors.As(err, &formErr) || formErr.Status == http.StatusUnauthorized || formErr.Status == http.StatusNotFound && formErr.Field == "":
		return err
	}
	return c.renderSubscriptions(q, formErr.Status, subscriptionsView{Form: f}, formErr)
}

func (c *Console) unsubscribe(q *req) error {
	if err := q.api.do(q.ctx(), http.MethodDelete, orgPath(q.org, "subscriptions", q.r.PathValue("id")), nil, nil, nil); err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/o/"+url.PathEscape(q.org)+"/subscriptions?done=unsubscribed", http.StatusSeeOther)
	return nil
}

type releasesView struct {
	Calendar obj
	Releases []any
}

func (c *Console) releases(q *req) error {
	var v releasesView
	var rel obj
	err := parallel(
		func() (err error) {
			v.Calendar, err = q.api.get(q.ctx(), orgPath(q.org, "release-calendar"), nil)
			return err
		},
		func() (err error) {
			rel, err = q.api.get(q.ctx(), orgPath(q.org, "releases"), url.Values{"count": {"6"}})
			return err
		},
	)
	if err != nil {
		return err
	}
	v.Releases = items(rel)
	c.render(q.w, q, http.StatusOK, "releases", view{Title: "Release calendar", Nav: "releases", Data: v})
	return nil
}

// retryDeadLetter queues a dead letter again, with fresh attempts.
func (c *Console) retryDeadLetter(q *req) error {
	return c.send(q, action{form: "dead-letter", method: http.MethodPost, path: orgPath(q.org, "dead-letters", q.r.PathValue("id"), "retry"),
		back: "/subscriptions", done: "retried", page: c.subscriptions})
}

// enableSubscription turns a subscription disabled by its webhook's 410 Gone back on.
func (c *Console) enableSubscription(q *req) error {
	return c.send(q, action{form: "subscription-enable", method: http.MethodPost, path: orgPath(q.org, "subscriptions", q.r.PathValue("id"), "enable"),
		back: "/subscriptions", done: "subscription-enabled", page: c.subscriptions})
}
