package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The administration forms: groups and their members, auto-approval rules, halting and
// resuming rollouts, the release calendar and out-of-band releases, the organisation's users
// and the agents' enrollment tokens. Each form posts to a console route that makes one API
// call and then sends the browser on (303, with ?done= for the flash). When the API refuses,
// the page the form is on is rendered again, with the API's status and message and the
// values as posted. The forms are shown only to the roles the API lets do it; the API
// decides anyway.

// posted is a form a page answers: the values the API refused, or a secret it returned once.
type posted struct {
	Name    string     // which form of the page
	Values  url.Values // as posted, without the CSRF token and passwords
	Status  int        // the answer's status
	Err     *apiError  // the API's refusal, or nil
	Secret  string     // shown this once: a new enrollment token, a generated password
	Subject string     // what the secret belongs to
}

// action is a form's API call and where the browser goes after it.
type action struct {
	form         string // the form's name on its page
	method, path string
	body         any
	back         string           // the path in the organisation to go to afterwards
	done         string           // the flash there (flashText)
	page         func(*req) error // the page the form is on, to render again on a refusal
	// secret and subject name the fields of the API's answer that carry a secret it shows
	// once (a new enrollment token, a generated password) and what it belongs to.
	secret, subject string
}

// send makes the API call of a form: on success the browser goes to the action's page with
// its flash, or, when the answer carries a secret, the form's page shows it this once; a
// refusal is shown on the form's page.
func (c *Console) send(q *req, a action) error {
	var out obj
	if err := q.api.do(q.ctx(), a.method, a.path, nil, a.body, &out); err != nil {
		return c.refused(q, a.form, a.page, err)
	}
	if s := str(out[a.secret]); a.secret != "" && s != "" {
		q.posted = &posted{Name: a.form, Status: http.StatusCreated, Secret: s, Subject: str(out[a.subject])}
		return a.page(q)
	}
	http.Redirect(q.w, q.r, "/o/"+url.PathEscape(q.org)+a.back+"?done="+a.done, http.StatusSeeOther)
	return nil
}

// refused renders page again with the API's refusal of form and the values as posted. An
// expired session, an error that is not the API's, and a page that cannot render (the
// organisation or the object is not there) go to the error page instead.
func (c *Console) refused(q *req, form string, page func(*req) error, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status == http.StatusUnauthorized {
		return err
	}
	vals := url.Values{}
	for k, v := range q.r.PostForm {
		if k != csrfField && !strings.Contains(k, "password") {
			vals[k] = v
		}
	}
	q.posted = &posted{Name: form, Values: vals, Status: ae.Status, Err: ae}
	if page(q) != nil {
		q.posted = nil
		return err
	}
	return nil
}

// invalidField is the console's own refusal of a form that cannot become an API call.
func invalidField(field, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_field", Field: field, Message: field + " " + msg}
}

// fields is the JSON body of an API call, made from a posted form.
type fields map[string]any

// text copies text fields, trimmed. Empty ones are left out unless keepEmpty (a PATCH that
// clears them) and they were posted.
func (b fields) text(f url.Values, keepEmpty bool, keys ...string) fields {
	for _, k := range keys {
		vs, ok := f[k]
		if !ok || len(vs) == 0 {
			continue
		}
		if v := strings.TrimSpace(vs[0]); v != "" || keepEmpty {
			b[k] = v
		}
	}
	return b
}

// ints copies number fields: as JSON numbers when they read as integers, else as posted,
// for the API to refuse with its message that names the field. Empty ones are left out.
func (b fields) ints(f url.Values, keys ...string) fields {
	for _, k := range keys {
		v := strings.TrimSpace(f.Get(k))
		if v == "" {
			continue
		}
		if n, err := strconv.Atoi(v); err == nil {
			b[k] = n
		} else {
			b[k] = v
		}
	}
	return b
}

// Groups.

var groupText = []string{"description", "rule", "windows", "timezone"}
var groupNumbers = []string{"ring", "max_starts", "start_window_minutes", "halt_failure_pct", "halt_min_attempts"}

func (c *Console) createGroup(q *req) error {
	f := q.r.PostForm
	body := fields{}.text(f, false, append([]string{"name"}, groupText...)...).ints(f, groupNumbers...)
	return c.send(q, action{form: "group", method: http.MethodPost, path: orgPath(q.org, "groups"), body: body,
		back: "/groups/" + url.PathEscape(strings.TrimSpace(f.Get("name"))), done: "group-created", page: c.groups})
}

// editGroup changes what the API lets change: the name, the description, a dynamic group's
// rule, the ring (empty takes the group out of the rings), the windows and the rollout limits.
func (c *Console) editGroup(q *req) error {
	f, name := q.r.PostForm, q.r.PathValue("name")
	body := fields{}.text(f, true, append([]string{"name"}, groupText...)...).ints(f, groupNumbers...)
	if _, ok := f["ring"]; ok && strings.TrimSpace(f.Get("ring")) == "" {
		body["no_ring"] = true
	}
	back := name
	if n, ok := body["name"].(string); ok && n != "" {
		back = n // renamed: the page is under the new name
	}
	return c.send(q, action{form: "group-edit", method: http.MethodPatch, path: orgPath(q.org, "groups", name), body: body,
		back: "/groups/" + url.PathEscape(back), done: "group-saved", page: c.group})
}

// deleteGroup deletes a group once the form's box is ticked.
func (c *Console) deleteGroup(q *req) error {
	if q.r.PostFormValue("confirm") != "yes" {
		return c.refused(q, "group-delete", c.group, invalidField("confirm", "must be ticked to delete the group"))
	}
	return c.send(q, action{form: "group-delete", method: http.MethodDelete, path: orgPath(q.org, "groups", q.r.PathValue("name")),
		back: "/groups", done: "group-deleted", page: c.group})
}

// addMember puts a computer, by host name or id, in a static group.
func (c *Console) addMember(q *req) error {
	name, comp := q.r.PathValue("name"), strings.TrimSpace(q.r.PostFormValue("computer"))
	if comp == "" {
		return c.refused(q, "member", c.group, invalidField("computer", "is required"))
	}
	return c.send(q, action{form: "member", method: http.MethodPut, path: orgPath(q.org, "groups", name, "members", comp),
		back: "/groups/" + url.PathEscape(name), done: "member-added", page: c.group})
}

func (c *Console) removeMember(q *req) error {
	name := q.r.PathValue("name")
	return c.send(q, action{form: "member-remove", method: http.MethodDelete, path: orgPath(q.org, "groups", name, "members", q.r.PathValue("computer")),
		back: "/groups/" + url.PathEscape(name), done: "member-removed", page: c.group})
}

// Auto-approval rules.

func (c *Console) createRule(q *req) error {
	f := q.r.PostForm
	body := fields{}.text(f, false, "name", "group", "classification", "min_severity", "purl_prefix", "advisory").
		ints(f, "delay_days", "after_ring_pct", "deadline_days")
	return c.send(q, action{form: "rule", method: http.MethodPost, path: orgPath(q.org, "rules"), body: body,
		back: "/rules", done: "rule-created", page: c.rules})
}

func (c *Console) deleteRule(q *req) error {
	return c.send(q, action{form: "rule-delete", method: http.MethodDelete, path: orgPath(q.org, "rules", q.r.PathValue("rule")),
		back: "/rules", done: "rule-deleted", page: c.rules})
}

// switchRule disables or enables a rule, as the form's "to" says.
func (c *Console) switchRule(q *req) error {
	to, done := "disable", "rule-disabled"
	if q.r.PostForm.Get("to") == "enable" {
		to, done = "enable", "rule-enabled"
	}
	return c.send(q, action{form: "rule-switch", method: http.MethodPost, path: orgPath(q.org, "rules", q.r.PathValue("rule"), to),
		back: "/rules", done: done, page: c.rules})
}

// Rollouts: halt, resume, and withdraw the decision for a group. The forms are on the
// update's page, and resume also on the dashboard (from=dashboard).

func (c *Console) haltRollout(q *req) error {
	return c.rollout(q, http.MethodPost, "halt", fields{}.text(q.r.PostForm, false, "reason"), "halted")
}

func (c *Console) resumeRollout(q *req) error {
	return c.rollout(q, http.MethodPost, "resume", nil, "resumed")
}

func (c *Console) withdrawApproval(q *req) error {
	return c.rollout(q, http.MethodDelete, "", nil, "withdrawn")
}

func (c *Console) rollout(q *req, method, verb string, body any, done string) error {
	name, group := q.r.PathValue("name"), q.r.PostFormValue("group")
	back, page := "/updates/"+url.PathEscape(name), c.update
	if q.r.PostFormValue("from") == "dashboard" {
		back, page = "/", c.dashboard
	}
	form := "rollout-" + verb
	if group == "" {
		return c.refused(q, form, page, invalidField("group", "is required"))
	}
	path := orgPath(q.org, "updates", name, "approvals", group)
	if verb != "" {
		path += "/" + verb
	}
	return c.send(q, action{form: form, method: method, path: path, body: body, back: back, done: done, page: page})
}

// The release calendar and out-of-band releases.

func (c *Console) setCalendar(q *req) error {
	f := q.r.PostForm
	// An emptied time or zone goes to the API, which refuses it naming the field.
	body := fields{}.text(f, true, "time", "zone").ints(f, "ordinal", "weekday", "advance_notice_days")
	return c.send(q, action{form: "calendar", method: http.MethodPut, path: orgPath(q.org, "release-calendar"), body: body,
		back: "/releases", done: "calendar-saved", page: c.releases})
}

// createRelease adds an out-of-band release at a time given in UTC, like the approval
// deadline.
func (c *Console) createRelease(q *req) error {
	f := q.r.PostForm
	body := fields{}.text(f, false, "title", "release_at")
	at, _ := body["release_at"].(string)
	t, err := parseDeadline(at)
	switch {
	case at == "":
		return c.refused(q, "release", c.releases, invalidField("release_at", "is required: a date and time in UTC such as 2026-12-01T18:00"))
	case err != nil:
		return c.refused(q, "release", c.releases, invalidField("release_at", "must be a date and time in UTC such as 2026-12-01T18:00"))
	}
	body["release_at"] = t.Format(time.RFC3339)
	return c.send(q, action{form: "release", method: http.MethodPost, path: orgPath(q.org, "releases"), body: body,
		back: "/releases", done: "release-created", page: c.releases})
}

// deleteRelease cancels an out-of-band release once the form's box is ticked.
func (c *Console) deleteRelease(q *req) error {
	if q.r.PostFormValue("confirm") != "yes" {
		return c.refused(q, "release-delete", c.releases, invalidField("confirm", "must be ticked to cancel the release"))
	}
	at := q.r.PostFormValue("at")
	if at == "" {
		return c.refused(q, "release-delete", c.releases, invalidField("at", "is required: the release to cancel"))
	}
	return c.send(q, action{form: "release-delete", method: http.MethodDelete,
		path: orgPath(q.org, "releases", at), back: "/releases", done: "release-deleted", page: c.releases})
}

// scheduleAdvisory moves an embargoed advisory to the next monthly release day, or publishes
// it now (with its box ticked).
func (c *Console) scheduleAdvisory(q *req) error {
	id, release := q.r.PathValue("id"), q.r.PostFormValue("release")
	done := "scheduled"
	switch release {
	case "now":
		if q.r.PostFormValue("confirm") != "yes" {
			return c.refused(q, "publish", c.advisory, invalidField("confirm", "must be ticked to publish the advisory now"))
		}
		done = "published-now"
	case "next":
	default:
		return c.refused(q, "schedule", c.advisory, invalidField("release", "must be next or now"))
	}
	return c.send(q, action{form: "schedule", method: http.MethodPost, path: orgPath(q.org, "advisories", id, "schedule"),
		body: map[string]any{"release": release}, back: "/advisories/" + url.PathEscape(id), done: done, page: c.advisory})
}

// Users.

// addUser creates a user with a role in the organisation. A password the API generated (the
// form's was empty) is shown this once, on the page that answers the form.
func (c *Console) addUser(q *req) error {
	f := q.r.PostForm
	body := fields{}.text(f, false, "username", "display_name", "email", "role")
	if pw := f.Get("password"); pw != "" {
		body["password"] = pw
	}
	return c.send(q, action{form: "user", method: http.MethodPost, path: orgPath(q.org, "users"), body: body,
		back: "/users", done: "user-added", page: c.users, secret: "password", subject: "username"})
}

func (c *Console) setRole(q *req) error {
	user := q.r.PathValue("user")
	return c.send(q, action{form: "role:" + user, method: http.MethodPut, path: orgPath(q.org, "users", user, "role"),
		body: fields{}.text(q.r.PostForm, true, "role"), back: "/users", done: "role-changed", page: c.users})
}

func (c *Console) removeUser(q *req) error {
	return c.send(q, action{form: "user-remove", method: http.MethodDelete, path: orgPath(q.org, "users", q.r.PathValue("user")),
		back: "/users", done: "user-removed", page: c.users})
}

// Accounts (site admins): a new password, shown once, and disabling or enabling an account.
// Each ends the user's sessions and tokens.

func (c *Console) resetUserPassword(q *req) error {
	return c.send(q, action{form: "user-reset", method: http.MethodPost, path: "/api/v1/users/" + url.PathEscape(q.r.PathValue("user")) + "/password",
		body: map[string]any{}, back: "/users", page: c.users, secret: "password", subject: "username"})
}

func (c *Console) switchUser(q *req) error {
	to, done := "disable", "user-disabled"
	if q.r.PostForm.Get("to") == "enable" {
		to, done = "enable", "user-enabled"
	}
	return c.send(q, action{form: "user-switch", method: http.MethodPost, path: "/api/v1/users/" + url.PathEscape(q.r.PathValue("user")) + "/" + to,
		back: "/users", done: done, page: c.users})
}

// Enrollment tokens.

type enrollmentView struct {
	List   list
	Groups []any  // the static groups a token can put the computers it enrolls in
	Server string // this server's address, for the agent's command line
}

// enrollment lists the organisation's enrollment tokens, each with its state, and for admins
// the form to make one.
func (c *Console) enrollment(q *req) error {
	var v enrollmentView
	err := parallel(
		func() (err error) { v.List, err = q.fetchList(orgPath(q.org, "enroll-tokens")); return err },
		func() error {
			if q.role != "admin" {
				return nil
			}
			g, err := q.api.get(q.ctx(), orgPath(q.org, "groups"), nil)
			for _, x := range items(g) {
				if str(field(x, "rule")) == "" {
					v.Groups = append(v.Groups, x)
				}
			}
			return err
		},
	)
	if err != nil {
		return err
	}
	now := c.cfg.Now()
	for _, it := range v.List.Items {
		if t, ok := it.(obj); ok {
			t["state"] = tokenState(t, now)
		}
	}
	scheme := "http"
	if c.secure(q.r) {
		scheme = "https"
	}
	v.Server = scheme + "://" + q.r.Host
	c.render(q.w, q, http.StatusOK, "enrollment", view{Title: "Enrollment tokens", Nav: "enrollment", Data: v})
	return nil
}

// tokenState tells whether an enrollment token still enrolls machines.
func tokenState(t obj, now time.Time) string {
	if truthy(t["revoked_at"]) {
		return "revoked"
	}
	if exp, ok := parseTime(t["expires_at"]); ok && !exp.After(now) {
		return "expired"
	}
	limit, err := strconv.ParseInt(str(t["max_uses"]), 10, 64)
	if uses, _ := strconv.ParseInt(str(t["uses"]), 10, 64); err == nil && uses >= limit {
		return "used up"
	}
	return "active"
}

// createEnrollToken makes a token; its secret comes back once and the page shows it at once.
func (c *Console) createEnrollToken(q *req) error {
	f := q.r.PostForm
	body := fields{}.text(f, false, "name", "expires_in").ints(f, "max_uses")
	if g := f["groups"]; len(g) > 0 {
		body["groups"] = g
	}
	return c.send(q, action{form: "enroll", method: http.MethodPost, path: orgPath(q.org, "enroll-tokens"), body: body,
		back: "/enrollment", done: "enroll-created", page: c.enrollment, secret: "token", subject: "name"})
}

func (c *Console) revokeEnrollToken(q *req) error {
	return c.send(q, action{form: "enroll-revoke", method: http.MethodDelete, path: orgPath(q.org, "enroll-tokens", q.r.PathValue("id")),
		back: "/enrollment", done: "enroll-revoked", page: c.enrollment})
}
