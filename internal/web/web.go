// Package web is patchday's console: server-rendered pages for the people who approve and
// follow updates. It is a client of the API, in process: every page and every form calls
// the server's API handler with the session's token, so the console goes through the same
// validation, role checks, organisation isolation and audit as the API and the command line,
// and holds no domain logic of its own.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures a Console.
type Config struct {
	// API is the server's HTTP handler; the console calls it for everything it shows or does.
	API http.Handler
	// Key signs CSRF tokens (any length; 32 random bytes or more). Nodes that share sessions
	// need the same key.
	Key []byte
	// TrustedProxies are the reverse proxies whose X-Forwarded-Proto is believed (for the
	// Secure flag of the session cookie and the origin check).
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	// Now is the clock; tests move it.
	Now func() time.Time
}

// Console serves the web console.
type Console struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.API == nil {
		return nil, errors.New("web: Config.API is required")
	}
	if len(cfg.Key) < 16 {
		return nil, errors.New("web: Config.Key must have at least 16 bytes")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	c.mux.HandleFunc("GET /login", c.loginForm)
	c.mux.HandleFunc("POST /login", c.loginSubmit)
	c.mux.HandleFunc("POST /logout", c.session(c.logout))
	c.mux.HandleFunc("GET /{$}", c.session(c.home))
	c.mux.HandleFunc("GET /switch", c.session(c.switchOrg))
	c.mux.HandleFunc("GET /tokens", c.session(c.tokens))
	c.mux.HandleFunc("POST /tokens/{id}/revoke", c.session(c.revokeToken))
	c.mux.HandleFunc("POST /password", c.session(c.changePassword))
	o := "/o/{org}"
	c.mux.HandleFunc("GET "+o+"/{$}", c.session(c.dashboard))
	c.mux.HandleFunc("GET "+o+"/advisories", c.session(c.advisories))
	c.mux.HandleFunc("GET "+o+"/advisories/{id}", c.session(c.advisory))
	c.mux.HandleFunc("GET "+o+"/advisories/{id}/csaf", c.session(c.advisoryCSAF))
	c.mux.HandleFunc("GET "+o+"/updates", c.session(c.updates))
	c.mux.HandleFunc("GET "+o+"/updates/{name}", c.session(c.update))
	c.mux.HandleFunc("POST "+o+"/updates/{name}/approvals", c.session(c.approve))
	c.mux.HandleFunc("GET "+o+"/computers", c.session(c.computers))
	c.mux.HandleFunc("GET "+o+"/computers/{name}", c.session(c.computer))
	c.mux.HandleFunc("GET "+o+"/groups", c.session(c.groups))
	c.mux.HandleFunc("GET "+o+"/groups/{name}", c.session(c.group))
	c.mux.HandleFunc("GET "+o+"/rules", c.session(c.rules))
	c.mux.HandleFunc("GET "+o+"/scans", c.session(c.scans))
	c.mux.HandleFunc("GET "+o+"/scans/{id}", c.session(c.scan))
	c.mux.HandleFunc("GET "+o+"/audit", c.session(c.audit))
	c.mux.HandleFunc("GET "+o+"/users", c.session(c.users))
	c.mux.HandleFunc("GET "+o+"/subscriptions", c.session(c.subscriptions))
	c.mux.HandleFunc("POST "+o+"/subscriptions", c.session(c.subscribe))
	c.mux.HandleFunc("POST "+o+"/subscriptions/{id}/delete", c.session(c.unsubscribe))
	c.mux.HandleFunc("POST "+o+"/subscriptions/{id}/enable", c.session(c.enableSubscription))
	c.mux.HandleFunc("POST "+o+"/dead-letters/{id}/retry", c.session(c.retryDeadLetter))
	c.mux.HandleFunc("GET "+o+"/releases", c.session(c.releases))
	// The administration forms (admin.go).
	c.mux.HandleFunc("POST "+o+"/groups", c.session(c.createGroup))
	c.mux.HandleFunc("POST "+o+"/groups/{name}/edit", c.session(c.editGroup))
	c.mux.HandleFunc("POST "+o+"/groups/{name}/delete", c.session(c.deleteGroup))
	c.mux.HandleFunc("POST "+o+"/groups/{name}/members", c.session(c.addMember))
	c.mux.HandleFunc("POST "+o+"/groups/{name}/members/{computer}/remove", c.session(c.removeMember))
	c.mux.HandleFunc("POST "+o+"/rules", c.session(c.createRule))
	c.mux.HandleFunc("POST "+o+"/rules/{rule}/delete", c.session(c.deleteRule))
	c.mux.HandleFunc("POST "+o+"/rules/{rule}/switch", c.session(c.switchRule))
	c.mux.HandleFunc("POST "+o+"/rules/run", c.session(c.runRules))
	c.mux.HandleFunc("POST "+o+"/updates/{name}/halt", c.session(c.haltRollout))
	c.mux.HandleFunc("POST "+o+"/updates/{name}/resume", c.session(c.resumeRollout))
	c.mux.HandleFunc("POST "+o+"/updates/{name}/withdraw", c.session(c.withdrawApproval))
	c.mux.HandleFunc("POST "+o+"/release-calendar", c.session(c.setCalendar))
	c.mux.HandleFunc("POST "+o+"/releases", c.session(c.createRelease))
	c.mux.HandleFunc("POST "+o+"/releases/cancel", c.session(c.deleteRelease))
	c.mux.HandleFunc("POST "+o+"/advisories/{id}/schedule", c.session(c.scheduleAdvisory))
	c.mux.HandleFunc("POST "+o+"/users", c.session(c.addUser))
	c.mux.HandleFunc("POST "+o+"/users/{user}/role", c.session(c.setRole))
	c.mux.HandleFunc("POST "+o+"/users/{user}/remove", c.session(c.removeUser))
	c.mux.HandleFunc("POST "+o+"/users/{user}/reset", c.session(c.resetUserPassword))
	c.mux.HandleFunc("POST "+o+"/users/{user}/switch", c.session(c.switchUser))
	c.mux.HandleFunc("GET "+o+"/enrollment", c.session(c.enrollment))
	c.mux.HandleFunc("POST "+o+"/enrollment", c.session(c.createEnrollToken))
	c.mux.HandleFunc("POST "+o+"/enrollment/{id}/revoke", c.session(c.revokeEnrollToken))
	return c, nil
}

// ServeHTTP answers one console request.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	if c.secure(r) {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if _, pattern := c.mux.Handler(r); pattern == "" {
		c.renderError(w, r, nil, &apiError{Status: http.StatusNotFound, Message: "There is no such page."})
		return
	}
	c.mux.ServeHTTP(w, r)
}

// Mux serves the console's paths with console and everything else (the API under /api/,
// /healthz, /metrics, /payloads/, /.well-known/, /notify/, and whatever the server adds) with
// api.
func Mux(api, console http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsConsolePath(r.URL.Path) {
			console.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// IsConsolePath reports whether a path belongs to the console rather than the API server.
func IsConsolePath(p string) bool {
	switch p {
	case "/", "/login", "/logout", "/switch", "/tokens", "/password":
		return true
	}
	for _, pre := range []string{"/o/", "/static/", "/tokens/"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// req is one signed-in request: the API client of its session and what the layout needs.
type req struct {
	w    http.ResponseWriter
	r    *http.Request
	api  *client
	me   me
	csrf string
	org  string // the organisation of the path, if any
	role string // the caller's role there
	// posted is the form the page answers, when a form's POST renders the page (admin.go).
	posted *posted
}

// me is the signed-in user as /api/v1/me tells.
type me struct {
	Username string `json:"username"`
	// PasswordChangeRequired: the API answers nothing else until the user changes it.
	PasswordChangeRequired bool   `json:"password_change_required"`
	DisplayName            string `json:"display_name"`
	SiteAdmin              bool   `json:"site_admin"`
	TokenID                int64  `json:"token_id"`
	Memberships            []struct {
		Org  string `json:"org"`
		Role string `json:"role"`
	} `json:"memberships"`
}

func (q *req) ctx() context.Context { return q.r.Context() }

// canOperate tells whether the caller may approve in the organisation: it only decides
// whether to show the forms; the API decides whether to accept them.
func (q *req) canOperate() bool { return q.role == "admin" || q.role == "operator" }

// session wraps a handler that needs a signed-in user. Without a valid session it sends the
// browser to the login page; a POST must pass the CSRF check.
func (c *Console) session(h func(*req) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := sessionToken(r)
		if tok == "" {
			c.toLogin(w, r)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if !c.checkCSRF(r, tok) {
				c.renderError(w, r, nil, &apiError{Status: http.StatusForbidden, Code: "csrf",
					Message: "The form was not accepted: it did not come from this console, or your session changed. Reload the page and try again."})
				return
			}
		}
		q := &req{w: w, r: r, api: &client{api: c.cfg.API, from: r, token: tok}, csrf: c.csrfToken(tok)}
		if err := q.api.do(r.Context(), http.MethodGet, "/api/v1/me", nil, nil, &q.me); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				c.clearSession(w, r)
				c.toLogin(w, r)
				return
			}
			c.renderError(w, r, q, err)
			return
		}
		if q.me.PasswordChangeRequired && r.URL.Path != "/tokens" && r.URL.Path != "/password" && r.URL.Path != "/logout" {
			http.Redirect(w, r, "/tokens?done=password-required", http.StatusSeeOther)
			return
		}
		if org := r.PathValue("org"); org != "" {
			q.org = org
			q.role = q.roleIn(org)
		}
		if err := h(q); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				c.clearSession(w, r)
				c.toLogin(w, r)
				return
			}
			c.renderError(w, r, q, err)
		}
	}
}

func (q *req) roleIn(org string) string {
	if q.me.SiteAdmin {
		return "admin"
	}
	for _, m := range q.me.Memberships {
		if m.Org == org {
			return m.Role
		}
	}
	return ""
}

// toLogin sends the browser to the login page, to come back here afterwards.
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet || next == "/" {
		next = ""
	}
	target := "/login"
	if next != "" {
		target += "?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// view is what every template receives.
type view struct {
	Title   string
	User    *me
	CSRF    string
	Org     string
	Role    string
	Orgs    []string
	Nav     string // the current section, for aria-current
	Flash   string
	Error   *apiError
	Posted  *posted // the form the page answers: the values the API refused, or a secret
	Data    any
	Version string
}

func (c *Console) render(w http.ResponseWriter, q *req, status int, page string, v view) {
	if q != nil {
		v.User, v.CSRF, v.Org, v.Role = &q.me, q.csrf, q.org, q.role
		v.Orgs = q.orgs()
		if v.Flash == "" {
			v.Flash = flashText(q.r.URL.Query().Get("done"))
		}
		if p := q.posted; p != nil && v.Error == nil {
			v.Posted, v.Error = p, p.Err
			if p.Status != 0 {
				status = p.Status
			}
		}
	}
	t := c.pages[page]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.cfg.Logger.Error("console: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// orgs lists the organisations the user can switch to.
func (q *req) orgs() []string {
	var out []string
	for _, m := range q.me.Memberships {
		out = append(out, m.Org)
	}
	if q.me.SiteAdmin {
		var l struct {
			Items []struct {
				Slug string `json:"slug"`
			} `json:"items"`
		}
		if q.api.do(q.ctx(), http.MethodGet, "/api/v1/orgs", url.Values{"limit": {"500"}}, nil, &l) == nil {
			out = out[:0]
			for _, o := range l.Items {
				out = append(out, o.Slug)
			}
		}
	}
	return out
}

var flashes = map[string]string{
	"approved":             "Approved. The group's computers get the update at their next check-in.",
	"declined":             "Declined for the group.",
	"revoked":              "The token is revoked.",
	"password-changed":     "Your password is changed. Your other sessions and tokens have ended; this one goes on.",
	"password-required":    "Your password was set by someone else: choose your own before anything else.",
	"retried":              "The delivery is queued again, with fresh attempts.",
	"subscription-enabled": "The subscription is enabled: new events reach it again. Retry its dead letters to send what it missed.",
	"loggedout":            "You are signed out.",
	"subscribed":           "Subscribed. An e-mail subscription starts when its owner follows the link in the confirmation mail.",
	"unsubscribed":         "The subscription is removed.",
	// admin.go
	"group-created":   "The group is created.",
	"group-saved":     "The group is saved. Its computers get the new windows and limits at their next check-in.",
	"group-deleted":   "The group is deleted, with its approvals and auto-approval rules.",
	"member-added":    "The computer is in the group.",
	"member-removed":  "The computer is out of the group.",
	"rule-created":    "The rule is created. Rules run every minute and whenever an update arrives.",
	"rule-deleted":    "The rule is deleted. What it approved stays approved.",
	"rule-disabled":   "The rule is disabled: it approves nothing until it is enabled again.",
	"rule-enabled":    "The rule is enabled again; it runs within a minute.",
	"rules-run":       "The rules ran: what they approved is on the updates' pages and in the audit log.",
	"user-disabled":   "The account is disabled: it cannot log in, and its sessions and tokens have ended.",
	"user-enabled":    "The account is enabled: it can log in again.",
	"halted":          "The rollout is halted: no more computers of the group start the update until it is resumed.",
	"resumed":         "The rollout is resumed.",
	"withdrawn":       "The decision is withdrawn: the update is not approved for the group any more.",
	"calendar-saved":  "The release calendar is saved.",
	"release-created": "The out-of-band release is added.",
	"release-deleted": "The out-of-band release is cancelled.",
	"scheduled":       "The advisory is scheduled for the release shown above.",
	"published-now":   "The advisory is published: subscribers are being notified.",
	"user-added":      "The user is added. Give them their password through a safe channel.",
	"role-changed":    "The role is changed.",
	"user-removed":    "The user is removed from the organisation.",
	"enroll-created":  "The enrollment token is created.",
	"enroll-revoked":  "The enrollment token is revoked. Machines it enrolled keep their own credentials.",
}

func flashText(k string) string { return flashes[k] }

// renderError shows an error page with the API's status and message.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, q *req, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) {
			return
		}
		c.cfg.Logger.Error("console: request failed", "path", r.URL.Path, "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "Something went wrong on the server; the log has the details."}
	}
	title := http.StatusText(ae.Status)
	switch ae.Status {
	case http.StatusNotFound:
		title = "Not found"
	case http.StatusForbidden:
		title = "Not allowed"
	}
	c.render(w, q, ae.Status, "error", view{Title: title, Error: ae})
}
