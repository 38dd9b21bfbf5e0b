package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

type loginView struct {
	Username string
	Next     string
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	if tok := sessionToken(r); tok != "" {
		// Already signed in (if the token still works): go on.
		cl := &client{api: c.cfg.API, from: r, token: tok}
		if cl.do(r.Context(), http.MethodGet, "/api/v1/me", nil, nil, nil) == nil {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	c.render(w, nil, http.StatusOK, "login", view{Title: "Sign in", Flash: flashText(r.URL.Query().Get("done")),
		Data: loginView{Next: safeNext(r.URL.Query().Get("next"))}})
}

// loginSubmit signs in through the API's login and keeps the token it returns as the session.
func (c *Console) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !c.checkCSRF(r, "") {
		c.renderError(w, r, nil, &apiError{Status: http.StatusForbidden, Code: "csrf", Message: "The form did not come from this console."})
		return
	}
	user, pass := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	cl := &client{api: c.cfg.API, from: r}
	err := cl.do(r.Context(), http.MethodPost, "/api/v1/auth/login", nil,
		map[string]string{"username": user, "password": pass, "token_name": "console"}, &tok)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			c.renderError(w, r, nil, err)
			return
		}
		msg := ae.Message
		switch ae.Code {
		case "bad_credentials":
			msg = "Wrong username or password."
		case "invalid_field":
			msg = "Enter your username and password."
		}
		c.render(w, nil, ae.Status, "login", view{Title: "Sign in", Error: &apiError{Status: ae.Status, Code: ae.Code, Message: msg},
			Data: loginView{Username: user, Next: next}})
		return
	}
	c.setSession(w, r, tok.Token, tok.ExpiresAt)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps a post-login target on this site: a path, not a URL elsewhere.
func safeNext(n string) string {
	if n == "" || !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.HasPrefix(n, "/\\") {
		return "/"
	}
	if u, err := url.Parse(n); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return n
}

// logout revokes the session's token through the API and forgets the cookie.
func (c *Console) logout(q *req) error {
	err := q.api.do(q.ctx(), http.MethodPost, "/api/v1/auth/logout", nil, nil, nil)
	c.clearSession(q.w, q.r)
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusUnauthorized) {
		return err
	}
	http.Redirect(q.w, q.r, "/login?done=loggedout", http.StatusSeeOther)
	return nil
}

// home opens the first organisation's dashboard.
func (c *Console) home(q *req) error {
	orgs := q.orgs()
	if len(orgs) == 0 {
		c.render(q.w, q, http.StatusOK, "noorg", view{Title: "No organisation"})
		return nil
	}
	http.Redirect(q.w, q.r, "/o/"+url.PathEscape(orgs[0])+"/", http.StatusSeeOther)
	return nil
}

// switchOrg is the organisation switcher's target: the same section in another organisation.
func (c *Console) switchOrg(q *req) error {
	org := q.r.URL.Query().Get("org")
	section := q.r.URL.Query().Get("section")
	switch section {
	case "advisories", "updates", "computers", "groups", "rules", "scans", "releases", "subscriptions", "enrollment", "audit", "users":
	default:
		section = ""
	}
	if org == "" {
		http.Redirect(q.w, q.r, "/", http.StatusSeeOther)
		return nil
	}
	http.Redirect(q.w, q.r, "/o/"+url.PathEscape(org)+"/"+section, http.StatusSeeOther)
	return nil
}
