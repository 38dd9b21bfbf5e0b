package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/patchday/patchday/internal/store"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// slugRE is the shape of organisation slugs and usernames: lower-case, URL-safe.
var slugRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

func checkSlug(field, v string) error {
	if v == "" {
		return errInvalid(field, "is required")
	}
	if !slugRE.MatchString(v) {
		return errInvalid(field, "must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting and ending with a letter or digit")
	}
	return nil
}

// checkName checks a free-text name: required, printable, bounded.
func checkName(field, v string, maxLen int) error {
	switch {
	case strings.TrimSpace(v) == "":
		return errInvalid(field, "is required")
	case !utf8.ValidString(v):
		return errInvalid(field, "must be valid UTF-8")
	case utf8.RuneCountInString(v) > maxLen:
		return errInvalid(field, "must be at most %d characters", maxLen)
	case hasControl(v):
		return errInvalid(field, "must not contain control characters")
	}
	return nil
}

// hasControl reports whether s holds a control character (NUL, which PostgreSQL's text
// refuses, among them) or is not UTF-8.
func hasControl(s string) bool {
	return !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl)
}

// Lists are paged by an opaque cursor: ?limit=N&cursor=C, answered with
// {"items":[...],"next_cursor":"..."} (next_cursor absent on the last page).
const (
	defaultLimit = 50
	maxLimit     = 500
)

type listResponse[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func encodeCursor(id int64) string { return encodeCursorText("v1:" + itoa(id)) }

func decodeCursor(c string) (int64, error) {
	text, err := decodeCursorText(c)
	if err == nil {
		if rest, ok := strings.CutPrefix(text, "v1:"); ok {
			if id, err := strconv.ParseInt(rest, 10, 64); err == nil && id > 0 {
				return id, nil
			}
		}
	}
	return 0, errInvalid("cursor", "is not a cursor this server issued")
}

// Cursors are opaque to clients: base64url of a short text.
func encodeCursorText(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeCursorText(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return string(b), err
}

// page reads ?limit and ?cursor.
func page(r *http.Request) (store.Page, error) {
	p := store.Page{Limit: defaultLimit}
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, errInvalid("limit", "must be an integer from 1 to %d", maxLimit)
		}
		p.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		id, err := decodeCursor(v)
		if err != nil {
			return p, err
		}
		p.After = id
	}
	return p, nil
}

// writeList answers one page. It asks the store for one row more than the limit to learn
// whether a next page exists without a count query.
func writeList[T any](w http.ResponseWriter, items []T, limit int, id func(T) int64) {
	resp := listResponse[T]{Items: items}
	if len(items) > limit {
		resp.Items = items[:limit]
		resp.NextCursor = encodeCursor(id(items[limit-1]))
	}
	if resp.Items == nil {
		resp.Items = []T{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
