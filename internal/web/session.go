package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// CookieName is the session cookie. Its value is the API token the login returned: the
// session lives exactly as long as the token (expiry, revocation, password change), and the
// server keeps no second kind of session.
const CookieName = "patchday_session"

// csrfField is the name of the hidden form field that carries the CSRF token.
const csrfField = "csrf"

// sessionToken is the API token of the request's session cookie, or "".
func sessionToken(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return ""
	}
	v := c.Value
	if len(v) == 0 || len(v) > 200 {
		return ""
	}
	return v
}

// secure reports whether the browser reached the console over HTTPS: TLS here, or a trusted
// proxy that says so in X-Forwarded-Proto.
func (c *Console) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !c.fromTrustedProxy(r) {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https")
}

func (c *Console) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	for _, p := range c.cfg.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// setSession gives the browser its session cookie.
func (c *Console) setSession(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", Expires: expires,
		MaxAge: int(time.Until(expires).Seconds()), HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode})
}

// clearSession removes the cookie.
func (c *Console) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode})
}

// csrfToken is the CSRF token of a session: an HMAC of the session token under the
// console's key. It needs no storage and dies with the session.
func (c *Console) csrfToken(session string) string {
	m := hmac.New(sha256.New, c.cfg.Key)
	m.Write([]byte("patchday console csrf\x00"))
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF verifies a POST: the form's token must be the session's, compared in constant
// time, and the browser must say the request comes from this origin.
func (c *Console) checkCSRF(r *http.Request, session string) bool {
	if !c.sameOrigin(r) {
		return false
	}
	if session == "" {
		return true // the login form: only the origin check applies
	}
	got := r.PostFormValue(csrfField)
	want := c.csrfToken(session)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// sameOrigin checks the headers browsers send with a POST: Sec-Fetch-Site must be
// same-origin when present, and Origin, when present, must be this site. Clients that send
// neither (not a browser) still need the CSRF token.
func (c *Console) sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if c.secure(r) {
		scheme = "https"
	}
	return strings.EqualFold(u.Host, r.Host) && u.Scheme == scheme
}
