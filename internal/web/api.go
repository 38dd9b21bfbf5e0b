package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// apiError is an answer of the API other than 2xx, in the API's own error shape.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// recorder is a ResponseWriter that keeps the API's answer in memory.
type recorder struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// client calls the API in process on behalf of one browser request: with the session's token
// as bearer, and with the browser's address, forwarding headers and request id, so that the
// API's rate limits, audit entries and logs see the real client.
type client struct {
	api   http.Handler
	from  *http.Request
	token string
}

// do sends one request to the API. body, when not nil, is sent as JSON; out, when not nil,
// receives the JSON answer (numbers as json.Number when out is a map or any).
func (c *client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return err
	}
	if c.from != nil {
		req.RemoteAddr = c.from.RemoteAddr
		req.Host = c.from.Host
		req.TLS = c.from.TLS
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id", "User-Agent"} {
			if v := c.from.Header.Values(h); len(v) > 0 {
				req.Header[h] = v
			}
		}
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	rec := &recorder{header: http.Header{}}
	c.api.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status < 200 || rec.status > 299 {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(rec.body.Bytes(), &e) != nil || e.Error.Message == "" {
			e.Error = apiError{Code: "unexpected", Message: strings.TrimSpace(http.StatusText(rec.status))}
		}
		e.Error.Status = rec.status
		return &e.Error
	}
	if out == nil || rec.body.Len() == 0 {
		return nil
	}
	dec := json.NewDecoder(&rec.body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return nil
}

// get is do for GET into a generic value.
func (c *client) get(ctx context.Context, path string, query url.Values) (obj, error) {
	var v obj
	err := c.do(ctx, http.MethodGet, path, query, nil, &v)
	return v, err
}

// obj is a JSON object as the API sent it.
type obj = map[string]any

// orgPath is the API path of something in an organisation.
func orgPath(org string, parts ...string) string {
	p := "/api/v1/orgs/" + url.PathEscape(org)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// parallel runs independent API calls at once (a page's calls do not depend on each other)
// and returns the first error in argument order.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	done := make(chan struct{}, len(fns))
	for i, f := range fns {
		go func() {
			errs[i] = f()
			done <- struct{}{}
		}()
	}
	for range fns {
		<-done
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
