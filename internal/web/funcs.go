package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// parseTemplates parses every page with the layout.
func (c *Console) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("web: template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return nil
}

var funcs = template.FuncMap{
	"str":    str,
	"num":    num,
	"pct":    pct,
	"when":   when,
	"day":    day,
	"sev":    sevClass,
	"join":   join,
	"path":   pathEsc,
	"query":  func(v url.Values, k string) string { return v.Get(k) },
	"eq2":    func(a any, b string) bool { return str(a) == b },
	"truthy": truthy,
	"len":    length,
	"json":   func(v any) string { b, _ := json.MarshalIndent(v, "", "  "); return string(b) },
	"list":   func(s ...string) []string { return s },
	"label":  func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"field":  field,
	// Forms (admin.go): a field's value, a ticked box, the field the API's error names.
	"val":     val,
	"ticked":  ticked,
	"invalid": invalid,
	"zones":   func() []string { return timeZones },
	"weekday": func(v any) string {
		n, err := strconv.Atoi(str(v))
		if err != nil || n < 0 || n > 6 {
			return "?"
		}
		return time.Weekday(n).String()
	},
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[str(kv[i])] = kv[i+1]
		}
		return m
	},
}

// str formats a JSON value as text.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	}
	return fmt.Sprint(v)
}

// num formats a count with thousands separators.
func num(v any) string {
	s := str(v)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s
	}
	neg := n < 0
	if neg {
		n = -n
	}
	d := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func pct(v any) string {
	f, err := strconv.ParseFloat(str(v), 64)
	if err != nil {
		return "–"
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + "%"
}

func parseTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, !x.IsZero()
	case *time.Time:
		if x == nil {
			return time.Time{}, false
		}
		return *x, true
	}
	t, err := time.Parse(time.RFC3339Nano, str(v))
	return t, err == nil && !t.IsZero() && t.Year() > 1
}

// when shows a time in UTC, to the minute.
func when(v any) string {
	t, ok := parseTime(v)
	if !ok {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func day(v any) string {
	t, ok := parseTime(v)
	if !ok {
		return str(v)
	}
	return t.UTC().Format("Mon 2 Jan 2006")
}

func sevClass(v any) string {
	switch s := strings.ToLower(str(v)); s {
	case "critical", "high", "medium", "low":
		return "sev sev-" + s
	}
	return "sev"
}

func join(v any) string {
	l, _ := v.([]any)
	parts := make([]string, 0, len(l))
	for _, x := range l {
		parts = append(parts, str(x))
	}
	return strings.Join(parts, ", ")
}

func pathEsc(v any) string { return url.PathEscape(str(v)) }

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		return x.String() != "0"
	case []any:
		return len(x) > 0
	case obj:
		return len(x) > 0
	}
	return true
}

func length(v any) int {
	switch x := v.(type) {
	case []any:
		return len(x)
	case []string:
		return len(x)
	case obj:
		return len(x)
	case string:
		return len(x)
	}
	return 0
}

// field is a member of a JSON object, or nil.
func field(o any, k string) any {
	m, _ := o.(obj)
	return m[k]
}

// val is the value a form's field shows: as posted when the page answers that form, else def.
func val(p *posted, form, key string, def any) string {
	if p != nil && p.Name == form {
		return p.Values.Get(key)
	}
	return str(def)
}

// ticked tells whether a box of a form was ticked when the page answers that form.
func ticked(p *posted, form, key string, value any) bool {
	return p != nil && p.Name == form && slices.Contains(p.Values[key], str(value))
}

// invalid marks an input as invalid when the page answers its form and the error names one of
// its fields (a list's field, such as groups[1], names the list).
func invalid(v view, form string, fields ...string) template.HTMLAttr {
	p, e := v.Posted, v.Error
	if p == nil || p.Name != form || e == nil || e.Field == "" {
		return ""
	}
	for _, f := range fields {
		if e.Field == f || strings.HasPrefix(e.Field, f+"[") {
			return `aria-invalid="true"`
		}
	}
	return ""
}

// timeZones are the suggestions of the time zone fields; any IANA name is accepted.
var timeZones = []string{"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Zurich",
	"Europe/Vienna", "Europe/Rome", "Europe/Madrid", "Europe/Amsterdam", "Europe/Stockholm", "Europe/Warsaw", "Europe/Helsinki",
	"Europe/Athens", "Europe/Istanbul", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
	"America/Toronto", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Singapore", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney",
	"Pacific/Auckland"}
