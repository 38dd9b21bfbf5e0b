package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/csaf"
)

// list is one page of an API list, with the filters that produced it.
type list struct {
	Items   []any
	Next    string // the URL of the next page, or ""
	First   string // the URL of the first page when this is a later one, or ""
	Filters url.Values
}

// fetchList asks the API for one page, passing on the allowed filters of the browser's query
// and its cursor; the page links keep the filters.
func (q *req) fetchList(apiPath string, filters ...string) (list, error) {
	in := q.r.URL.Query()
	out := url.Values{}
	kept := url.Values{}
	for _, f := range filters {
		if v := strings.TrimSpace(in.Get(f)); v != "" {
			out.Set(f, v)
			kept.Set(f, v)
		}
	}
	limit := in.Get("limit")
	if n, err := strconv.Atoi(limit); err == nil && n >= 1 && n <= 200 {
		out.Set("limit", limit)
		kept.Set("limit", limit)
	} else {
		out.Set("limit", "50")
	}
	if cur := in.Get("cursor"); cur != "" {
		out.Set("cursor", cur)
	}
	var resp struct {
		Items      []any  `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	if err := q.api.do(q.ctx(), http.MethodGet, apiPath, out, nil, &resp); err != nil {
		return list{}, err
	}
	l := list{Items: resp.Items, Filters: kept}
	if resp.NextCursor != "" {
		nq := url.Values{}
		for k, v := range kept {
			nq[k] = v
		}
		nq.Set("cursor", resp.NextCursor)
		l.Next = q.r.URL.Path + "?" + nq.Encode()
	}
	if in.Get("cursor") != "" {
		l.First = q.r.URL.Path
		if len(kept) > 0 {
			l.First += "?" + kept.Encode()
		}
	}
	return l, nil
}

func (c *Console) advisories(q *req) error {
	l, err := q.fetchList(orgPath(q.org, "advisories"), "q", "cve", "product", "min_severity", "status", "since", "until")
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "advisories", view{Title: "Advisories", Nav: "advisories", Data: l})
	return nil
}

type advisoryView struct {
	Advisory obj
	Report   obj
	Updates  []any
	Next     string
	// Bulletin is what the advisory's CSAF document says (GET .../bulletin).
	Bulletin csaf.Bulletin
}

// byTrackingID sends a request for an advisory's page (suffix "") or download under its
// tracking id on to the same under its number, which the API's calls take. It reports
// whether id was a tracking id (and the answer is sent).
func byTrackingID(q *req, id, suffix string) (bool, error) {
	if _, err := strconv.ParseInt(id, 10, 64); err == nil {
		return false, nil
	}
	// The report finds the advisory by its exact tracking id, as the user may read it, and
	// says its number.
	rep, err := q.api.get(q.ctx(), orgPath(q.org, "reports", "advisory"), url.Values{"tracking_id": {id}, "limit": {"1"}})
	if err != nil {
		return true, err
	}
	num := str(rep["advisory_id"])
	if n, err := strconv.ParseInt(num, 10, 64); err != nil || n <= 0 {
		return true, &apiError{Status: http.StatusNotFound, Message: "advisory " + id + " not found"}
	}
	to := "/o/" + url.PathEscape(q.org) + "/advisories/" + num + suffix
	if q.r.URL.RawQuery != "" {
		to += "?" + q.r.URL.RawQuery
	}
	http.Redirect(q.w, q.r, to, http.StatusSeeOther)
	return true, nil
}

func (c *Console) advisory(q *req) error {
	id := q.r.PathValue("id")
	if named, err := byTrackingID(q, id, ""); named {
		return err
	}
	rq := url.Values{"id": {id}, "limit": {"50"}}
	if cur := q.r.URL.Query().Get("cursor"); cur != "" {
		rq.Set("cursor", cur)
	}
	var v advisoryView
	err := parallel(
		func() (err error) {
			v.Advisory, err = q.api.get(q.ctx(), orgPath(q.org, "advisories", id), nil)
			return err
		},
		func() (err error) {
			v.Report, err = q.api.get(q.ctx(), orgPath(q.org, "reports", "advisory"), rq)
			return err
		},
		func() error {
			return q.api.do(q.ctx(), http.MethodGet, orgPath(q.org, "advisories", id, "bulletin"), nil, nil, &v.Bulletin)
		},
	)
	if err != nil {
		return err
	}
	if nc := str(v.Report["next_cursor"]); nc != "" {
		v.Next = q.r.URL.Path + "?cursor=" + url.QueryEscape(nc)
	}
	ul, err := q.api.get(q.ctx(), orgPath(q.org, "updates"), url.Values{"advisory": {str(v.Advisory["tracking_id"])}, "limit": {"100"}})
	if err != nil {
		return err
	}
	v.Updates = items(ul)
	c.render(q.w, q, http.StatusOK, "advisory", view{Title: str(v.Advisory["tracking_id"]), Nav: "advisories", Data: v})
	return nil
}

// advisoryCSAF downloads an advisory's CSAF document (?revision=N, default the newest the
// user may read) with the console's session: the API's export, byte for byte (the bytes
// that CSAF hashes and signatures are of), named by the CSAF file name rule.
func (c *Console) advisoryCSAF(q *req) error {
	id := q.r.PathValue("id")
	if named, err := byTrackingID(q, id, "/csaf"); named {
		return err
	}
	var query url.Values
	if rev := q.r.URL.Query().Get("revision"); rev != "" {
		query = url.Values{"revision": {rev}}
	}
	// The client decodes JSON answers; this one is kept as the API wrote it.
	var export *recorder
	raw := *q.api
	raw.api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q.api.api.ServeHTTP(w, r)
		export, _ = w.(*recorder)
	})
	if err := raw.do(q.ctx(), http.MethodGet, orgPath(q.org, "advisories", id, "csaf"), query, nil, nil); err != nil {
		return err
	}
	if export == nil {
		return errors.New("web: the CSAF export gave no answer")
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", export.header.Get("Content-Disposition")) // csaf.Filename of the tracking id
	for _, k := range []string{"ETag", "X-Patchday-Revision"} {
		h.Set(k, export.header.Get(k))
	}
	h.Set("Content-Length", strconv.Itoa(export.body.Len()))
	_, err := q.w.Write(export.body.Bytes())
	return err
}

func (c *Console) updates(q *req) error {
	l, err := q.fetchList(orgPath(q.org, "updates"), "q", "classification", "severity", "advisory")
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "updates", view{Title: "Updates", Nav: "updates", Data: l})
	return nil
}

type updateView struct {
	Update    obj
	Rollout   []any
	Approvals []any
	Groups    []any
	Form      approveForm
}

type approveForm struct {
	Group    string
	Action   string
	Deadline string
}

func (c *Console) loadUpdate(q *req, name string) (updateView, error) {
	var v updateView
	var ro, ap obj
	err := parallel(
		func() (err error) {
			v.Update, err = q.api.get(q.ctx(), orgPath(q.org, "updates", name), nil)
			return err
		},
		func() (err error) {
			ro, err = q.api.get(q.ctx(), orgPath(q.org, "updates", name, "rollout"), nil)
			return err
		},
		func() (err error) {
			ap, err = q.api.get(q.ctx(), orgPath(q.org, "updates", name, "approvals"), nil)
			return err
		},
	)
	if err != nil {
		return v, err
	}
	v.Rollout, _ = ro["groups"].([]any)
	v.Approvals = items(ap)
	v.Groups = v.Rollout
	v.Form = approveForm{Action: "install", Deadline: c.cfg.Now().AddDate(0, 0, 7).UTC().Format("2006-01-02T15:04")}
	return v, nil
}

func (c *Console) update(q *req) error {
	v, err := c.loadUpdate(q, q.r.PathValue("name"))
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "update", view{Title: str(v.Update["name"]), Nav: "updates", Data: v})
	return nil
}

// approve posts the form to the API's approvals: install (with a deadline) or decline, for
// one group. An error the API returns is shown on the same page, with its status.
func (c *Console) approve(q *req) error {
	name := q.r.PathValue("name")
	f := approveForm{Group: q.r.PostFormValue("group"), Action: q.r.PostFormValue("action"), Deadline: strings.TrimSpace(q.r.PostFormValue("deadline"))}
	body := map[string]any{"group": f.Group, "action": f.Action}
	var formErr *apiError
	if f.Deadline != "" && f.Action != "decline" {
		t, err := parseDeadline(f.Deadline)
		if err != nil {
			formErr = &apiError{Status: http.StatusBadRequest, Code: "invalid_field", Field: "deadline", Message: "deadline must be a date and time such as 2026-12-01T18:00"}
		}
		body["deadline"] = t
	}
	if formErr == nil {
		err := q.api.do(q.ctx(), http.MethodPost, orgPath(q.org, "updates", name, "approvals"), nil, body, nil)
		if err == nil {
			done := "approved"
			if f.Action == "decline" {
				done = "declined"
			}
			http.Redirect(q.w, q.r, "/o/"+url.PathEscape(q.org)+"/updates/"+url.PathEscape(name)+"?done="+done, http.StatusSeeOther)
			return nil
		}
		if !errors.As(err, &formErr) || formErr.Status == http.StatusUnauthorized || formErr.Status == http.StatusNotFound && formErr.Field == "" {
			return err
		}
	}
	v, err := c.loadUpdate(q, name)
	if err != nil {
		return err
	}
	v.Form = f
	c.render(q.w, q, formErr.Status, "update", view{Title: str(v.Update["name"]), Nav: "updates", Error: formErr, Data: v})
	return nil
}

// parseDeadline reads a datetime-local value (UTC) or an RFC 3339 time.
func parseDeadline(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("bad time")
}

func (c *Console) computers(q *req) error {
	l, err := q.fetchList(orgPath(q.org, "computers"), "q", "not_seen_days", "revoked")
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "computers", view{Title: "Computers", Nav: "computers", Data: l})
	return nil
}

type computerView struct {
	Computer  obj
	Report    obj
	Inventory obj
	Packages  []any
	MorePkgs  int
	Filter    string
}

func (c *Console) computer(q *req) error {
	name := q.r.PathValue("name")
	var v computerView
	var inv obj
	err := parallel(
		func() (err error) {
			v.Computer, err = q.api.get(q.ctx(), orgPath(q.org, "computers", name), nil)
			return err
		},
		func() (err error) {
			v.Report, err = q.api.get(q.ctx(), orgPath(q.org, "computers", name, "report"), nil)
			return err
		},
		func() error {
			var err error
			inv, err = q.api.get(q.ctx(), orgPath(q.org, "computers", name, "inventory"), nil)
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				return nil // no inventory yet; an unknown computer is the detail call's 404
			}
			return err
		},
	)
	if err != nil {
		return err
	}
	v.Inventory = inv
	pkgs, _ := inv["packages"].([]any)
	// The inventory can have thousands of packages: show a filtered page of them.
	v.Filter = strings.TrimSpace(q.r.URL.Query().Get("pkg"))
	filter := strings.ToLower(v.Filter)
	for _, p := range pkgs {
		if filter != "" && !strings.Contains(strings.ToLower(str(field(p, "name"))), filter) {
			continue
		}
		if len(v.Packages) < 200 {
			v.Packages = append(v.Packages, p)
		} else {
			v.MorePkgs++
		}
	}
	c.render(q.w, q, http.StatusOK, "computer", view{Title: name, Nav: "computers", Data: v})
	return nil
}

func (c *Console) groups(q *req) error {
	g, err := q.api.get(q.ctx(), orgPath(q.org, "groups"), nil)
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "groups", view{Title: "Groups and rings", Nav: "groups", Data: items(g)})
	return nil
}

type groupView struct {
	Group   obj
	Report  obj
	Members list
}

func (c *Console) group(q *req) error {
	name := q.r.PathValue("name")
	var v groupView
	err := parallel(
		func() (err error) { v.Group, err = q.api.get(q.ctx(), orgPath(q.org, "groups", name), nil); return err },
		func() (err error) {
			v.Report, err = q.api.get(q.ctx(), orgPath(q.org, "reports", "group"), url.Values{"name": {name}})
			return err
		},
		func() (err error) {
			v.Members, err = q.fetchList(orgPath(q.org, "groups", name, "members"))
			return err
		},
	)
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "group", view{Title: name, Nav: "groups", Data: v})
	return nil
}

type rulesView struct {
	Rules  []any
	Groups []any // for the admins' form
	// Preview is what the rules would approve now, when asked (?preview=1, operators and
	// admins: Previewed).
	Preview   []any
	Previewed bool
}

func (c *Console) rules(q *req) error {
	var v rulesView
	err := parallel(
		func() error {
			l, err := q.api.get(q.ctx(), orgPath(q.org, "rules"), nil)
			v.Rules = items(l)
			return err
		},
		func() error {
			if q.role != "admin" {
				return nil
			}
			g, err := q.api.get(q.ctx(), orgPath(q.org, "groups"), nil)
			v.Groups = items(g)
			return err
		},
		func() error {
			// On demand: a preview is a run of the rules, rolled back.
			if q.r.URL.Query().Get("preview") == "" || !q.canOperate() {
				return nil
			}
			pv, err := q.api.get(q.ctx(), orgPath(q.org, "rules", "preview"), nil)
			v.Preview, v.Previewed = items(pv), err == nil
			return err
		},
	)
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "rules", view{Title: "Auto-approval rules", Nav: "rules", Data: v})
	return nil
}

type scansView struct {
	Scans    list
	Exposure obj
}

func (c *Console) scans(q *req) error {
	var v scansView
	var err error
	if v.Scans, err = q.fetchList(orgPath(q.org, "scans")); err != nil {
		return err
	}
	if v.Exposure, err = q.api.get(q.ctx(), orgPath(q.org, "reports", "exposure"), url.Values{"limit": {"50"}}); err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "scans", view{Title: "Scans", Nav: "scans", Data: v})
	return nil
}

func (c *Console) scan(q *req) error {
	s, err := q.api.get(q.ctx(), orgPath(q.org, "scans", q.r.PathValue("id")), nil)
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "scan", view{Title: "Scan " + q.r.PathValue("id"), Nav: "scans", Data: s})
	return nil
}

func (c *Console) audit(q *req) error {
	// The audit API filters by organisation: the console always asks for this one.
	in := q.r.URL.Query()
	in.Set("org", q.org)
	q.r.URL.RawQuery = in.Encode()
	l, err := q.fetchList("/api/v1/audit", "org", "actor", "action", "object_type", "object_id", "since", "until")
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "audit", view{Title: "Audit log", Nav: "audit", Data: l})
	return nil
}

func (c *Console) users(q *req) error {
	l, err := q.fetchList(orgPath(q.org, "users"), "role")
	if err != nil {
		return err
	}
	c.render(q.w, q, http.StatusOK, "users", view{Title: "Users", Nav: "users", Data: l})
	return nil
}

func (c *Console) tokens(q *req) error {
	var l list
	if !q.me.PasswordChangeRequired { // until then the API lists nothing
		var err error
		if l, err = q.fetchList("/api/v1/tokens"); err != nil {
			return err
		}
	}
	c.render(q.w, q, http.StatusOK, "tokens", view{Title: "Your password and API tokens", Nav: "tokens", Data: l})
	return nil
}

// changePassword changes the signed-in user's password. The API ends the user's other
// sessions and tokens; this one stays.
func (c *Console) changePassword(q *req) error {
	f := q.r.PostForm
	next := f.Get("new_password")
	if next != f.Get("new_password_repeat") {
		return c.refused(q, "password", c.tokens, invalidField("new_password_repeat", "does not match the new password"))
	}
	body := map[string]string{"current_password": f.Get("current_password"), "new_password": next}
	if err := q.api.do(q.ctx(), http.MethodPost, "/api/v1/me/password", nil, body, nil); err != nil {
		return c.refused(q, "password", c.tokens, err)
	}
	http.Redirect(q.w, q.r, "/tokens?done=password-changed", http.StatusSeeOther)
	return nil
}

func (c *Console) revokeToken(q *req) error {
	if err := q.api.do(q.ctx(), http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(q.r.PathValue("id")), nil, nil, nil); err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/tokens?done=revoked", http.StatusSeeOther)
	return nil
}

// items is the items array of an API list.
func items(o obj) []any {
	v, _ := o["items"].([]any)
	return v
}

// runRules runs the auto-approval rules at once.
func (c *Console) runRules(q *req) error {
	return c.send(q, action{form: "rules-run", method: http.MethodPost, path: orgPath(q.org, "rules", "run"),
		back: "/rules", done: "rules-run", page: c.rules})
}
