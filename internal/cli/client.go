package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/spf13/cobra"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// clientTimeout bounds one API call, from connecting to reading the whole answer.
const clientTimeout = 30 * time.Second

// maxResponse is the most the client reads of one answer.
const maxResponse = 32 << 20

// client calls a patchday server's API.
type client struct {
	server string // base URL without a trailing slash, e.g. https://patchday.example.org
	token  string // API token; empty for the calls that need none (login)
	// tokenFrom says where the token came from, for the hint when the server refuses it.
	tokenFrom string
	// pageSize is the most items asked for per page of a list (the API serves at most 500).
	pageSize int
	http     *http.Client
}

func newClient(server, token string) *client {
	return &client{server: strings.TrimRight(server, "/"), token: token, pageSize: maxPageSize, http: &http.Client{
		Timeout: clientTimeout,
		// The API does not redirect. A redirect comes from something in front of it (http to
		// https, say) and is reported rather than followed, so that no credential or method
		// goes where the user did not point the command line.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// apiError is an error answer of the API: {"error":{"code","message","field"}}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Findings are the problems of an invalid CSAF document.
	Findings []struct {
		Test    string `json:"test"`
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"findings,omitempty"`
	hint string
	// flag is the command-line flag that set Field, when the command has one (flagFor):
	// the message names it instead of the API's field.
	flag string
}

// Error is the server's message, the field at fault when the message does not already start
// with it, and a hint on what to do for a refused token.
func (e *apiError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("the server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	switch {
	case e.flag != "" && strings.HasPrefix(msg, e.Field+" "):
		msg = "--" + e.flag + msg[len(e.Field):]
	case e.flag != "":
		msg += " (--" + e.flag + ")"
	case e.Field != "" && !strings.HasPrefix(msg, e.Field+" ") && !strings.Contains(msg, `"`+e.Field+`"`):
		msg += " (field " + e.Field + ")"
	}
	if e.hint != "" {
		msg += "; " + e.hint
	}
	return msg
}

// do sends one request and decodes a JSON answer into out (when out is not nil; a *[]byte
// receives the answer as is). in, when not nil, is sent as the JSON body (a []byte as is). An
// error answer becomes an *apiError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.server + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	switch in := in.(type) {
	case nil:
	case []byte: // a JSON document sent byte for byte (a CSAF advisory)
		body = bytes.NewReader(in)
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("server URL %q: %w", c.server, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "patchday-cli/"+Version)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			if uerr.Timeout() {
				return fmt.Errorf("%s %s: no answer from the server within %s", method, c.server+path, clientTimeout)
			}
			err = uerr.Err
		}
		return fmt.Errorf("%s %s: %w", method, c.server+path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, c.server+path, err)
	}
	if len(b) > maxResponse {
		return fmt.Errorf("%s %s: the answer is larger than %d bytes", method, c.server+path, maxResponse)
	}
	if res.StatusCode >= 300 {
		return c.errorFrom(res, b)
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*[]byte); ok { // the answer byte for byte
		*raw = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the JSON expected (is %s a patchday server?): %w", method, c.server+path, c.server, err)
	}
	return nil
}

// errorFrom reads an error answer. Answers that are not the API's shape (from a proxy, say)
// are reported with their status and the start of their body.
func (c *client) errorFrom(res *http.Response, b []byte) error {
	var env struct {
		Error *apiError `json:"error"`
	}
	if loc := res.Header.Get("Location"); res.StatusCode < 400 && loc != "" {
		return &apiError{Status: res.StatusCode, Code: "redirect",
			Message: fmt.Sprintf("the server answered %s, redirecting to %s: check the server URL %s", res.Status, loc, c.server)}
	}
	if json.Unmarshal(b, &env) != nil || env.Error == nil || env.Error.Message == "" {
		snippet := strings.Join(strings.Fields(string(b)), " ")
		if len(snippet) > 200 {
			snippet = snippet[:200] + "..."
		}
		msg := fmt.Sprintf("the server answered %s", res.Status)
		if snippet != "" {
			msg += ": " + snippet
		}
		return &apiError{Status: res.StatusCode, Code: "http_" + fmt.Sprint(res.StatusCode), Message: msg}
	}
	e := env.Error
	e.Status = res.StatusCode
	if res.StatusCode == http.StatusUnauthorized && c.token != "" {
		switch c.tokenFrom {
		case "PATCHDAY_TOKEN":
			e.hint = "check PATCHDAY_TOKEN"
		default:
			e.hint = `run "patchday login" to log in again`
		}
	}
	return e
}

// page is one page of a list answer.
type page struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"next_cursor"`
}

// maxPageSize is the largest page the API serves.
const maxPageSize = 500

// list fetches up to limit items (all, when limit is 0) of a paged list, following
// next_cursor. more reports whether the server had items beyond those returned.
func (c *client) list(ctx context.Context, path string, query url.Values, limit int) (items []json.RawMessage, more bool, err error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	items = []json.RawMessage{}
	cursor := ""
	for {
		n := c.pageSize
		if limit > 0 {
			// Ask for one more than needed on the last page to learn whether there is more.
			n = min(limit-len(items)+1, c.pageSize)
		}
		q.Set("limit", fmt.Sprint(n))
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p page
		if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
			return nil, false, err
		}
		items = append(items, p.Items...)
		if limit > 0 && len(items) > limit {
			return items[:limit], true, nil
		}
		if limit > 0 && len(items) == limit {
			return items, p.NextCursor != "", nil
		}
		if p.NextCursor == "" || len(p.Items) == 0 {
			return items, false, nil
		}
		if p.NextCursor == cursor {
			return nil, false, fmt.Errorf("GET %s: the server returned the same page cursor twice", c.server+path)
		}
		cursor = p.NextCursor
	}
}

// upload sends a file as the body of a PUT, streamed, with no overall time limit (large
// payloads take long), and decodes the JSON answer into out.
func (c *client) upload(ctx context.Context, path string, query url.Values, f *os.File, out any) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	u := c.server + path + "?" + query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, f)
	if err != nil {
		return fmt.Errorf("server URL %q: %w", c.server, err)
	}
	req.ContentLength = fi.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("User-Agent", "patchday-cli/"+Version)
	req.Header.Set("Authorization", "Bearer "+c.token)
	hc := &http.Client{Transport: c.http.Transport, CheckRedirect: c.http.CheckRedirect}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", c.server+path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("PUT %s: reading the answer: %w", c.server+path, err)
	}
	if res.StatusCode >= 300 {
		return c.errorFrom(res, b)
	}
	return json.Unmarshal(b, out)
}

// sha256File hashes a file and rewinds it.
func sha256File(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// flagFor names the flag of cmd that sets the API's field: the one its annotation
// "field:FIELD" names (--notice-days sets advance_notice_days; empty when none does, though
// a flag has the name), else the flag of the field's own name with dashes (release_at:
// --release-at), if there is one.
func flagFor(cmd *cobra.Command, field string) string {
	if cmd == nil || field == "" {
		return ""
	}
	if f, ok := cmd.Annotations["field:"+field]; ok {
		return f // "" says no flag sets it, whatever the names
	}
	if name := strings.ReplaceAll(field, "_", "-"); cmd.Flags().Lookup(name) != nil {
		return name
	}
	return ""
}
