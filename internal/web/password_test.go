package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// A console user changes their own password: a wrong current one or a mismatched repeat is
// refused naming the field; afterwards the new password signs in and the old does not, and
// this session goes on.
func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	e.createUser("default", "vera", "viewer")
	s := e.signIn("vera", "password-of-vera")
	p := e.browse("GET", "/tokens", s, nil)
	if p.status != 200 || !strings.Contains(p.body, `id="password-submit"`) {
		t.Fatalf("tokens page: %d", p.status)
	}
	tok := csrfOf(t, p.body)
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"current_password": {"wrong-password-1"}, "new_password": {"a-new-password-42"}, "new_password_repeat": {"a-new-password-42"}}, "p-current"},
		{url.Values{"current_password": {"password-of-vera"}, "new_password": {"a-new-password-42"}, "new_password_repeat": {"another-one-42"}}, "p-repeat"},
		{url.Values{"current_password": {"password-of-vera"}, "new_password": {"short"}, "new_password_repeat": {"short"}}, "p-new"},
	} {
		tc.form.Set("csrf", tok)
		p := e.browse("POST", "/password", s, tc.form)
		if p.status != http.StatusBadRequest || !regexp.MustCompile(`id="`+tc.field+`"[^>]*aria-invalid="true"`).MatchString(p.body) ||
			strings.Contains(p.body, "a-new-password-42") {
			t.Errorf("%v: %d, want 400 with %s marked and no password echoed", tc.form, p.status, tc.field)
		}
	}
	p = e.browse("POST", "/password", s, url.Values{"csrf": {tok}, "current_password": {"password-of-vera"},
		"new_password": {"a-new-password-42"}, "new_password_repeat": {"a-new-password-42"}})
	if p.status != http.StatusSeeOther || p.location != "/tokens?done=password-changed" {
		t.Fatalf("change: %d %q %s", p.status, p.location, p.body)
	}
	if p := e.browse("GET", p.location, s, nil); p.status != 200 || !strings.Contains(p.body, "Your password is changed") {
		t.Errorf("this session after the change: %d", p.status)
	}
	e.signIn("vera", "a-new-password-42")
	if p := e.browse("POST", "/login", "", url.Values{"username": {"vera"}, "password": {"password-of-vera"}}); p.status == http.StatusSeeOther {
		t.Error("the old password still signs in")
	}
}

// A user whose password someone else set (generated at creation) is sent to the password
// form from every page until they choose their own.
func TestPasswordChangeRequired(t *testing.T) {
	e := newEnv(t)
	var created struct {
		Password string `json:"password"`
	}
	e.api(201, "POST", "/api/v1/orgs/default/users", e.admin, map[string]any{"username": "nina", "role": "viewer"}, &created)
	s := e.signIn("nina", created.Password)
	for _, path := range []string{"/o/default/", "/o/default/advisories", "/"} {
		if p := e.browse("GET", path, s, nil); p.status != http.StatusSeeOther || p.location != "/tokens?done=password-required" {
			t.Errorf("GET %s: %d %q, want the password form", path, p.status, p.location)
		}
	}
	p := e.browse("GET", "/tokens?done=password-required", s, nil)
	if p.status != 200 || !strings.Contains(p.body, "choose your own") || !strings.Contains(p.body, `id="password-submit"`) {
		t.Fatalf("the password form: %d", p.status)
	}
	p = e.browse("POST", "/password", s, url.Values{"csrf": {csrfOf(t, p.body)}, "current_password": {created.Password},
		"new_password": {"ninas-own-password"}, "new_password_repeat": {"ninas-own-password"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("change: %d %s", p.status, p.body)
	}
	if p := e.browse("GET", "/o/default/advisories", s, nil); p.status != 200 {
		t.Errorf("after the change: %d", p.status)
	}
}
