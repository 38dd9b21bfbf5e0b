package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

// mailData is what the mail templates show.
type mailData struct {
	Members     bool // the subscription is an admin's, not a public sign-up: console links work
	Title       string
	Org         string
	Address     string
	Day         string    // digests
	Events      []Message // one, or a digest's
	Confirm     string    // confirmation requests: the link
	ConfirmDays int
	Unsubscribe string
}

// field is one line of an event's details.
type field struct{ Key, Value string }

// fields lists an event's details as sorted key/value lines: strings as they are, anything
// else as compact JSON.
func fields(details json.RawMessage) []field {
	var m map[string]json.RawMessage
	if json.Unmarshal(details, &m) != nil {
		return nil
	}
	out := make([]field, 0, len(m))
	for k, v := range m {
		var s string
		var list []string
		switch {
		case json.Unmarshal(v, &s) == nil:
		case json.Unmarshal(v, &list) == nil: // a list of texts reads as one
			s = strings.Join(list, "; ")
		default:
			s = string(v)
		}
		out = append(out, field{Key: k, Value: s})
	}
	slices.SortFunc(out, func(a, b field) int { return strings.Compare(a.Key, b.Key) })
	return out
}

var funcs = map[string]any{
	"fields": fields,
	"title":  eventTitle,
	"when":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}

// Both bodies come from the same data. The HTML one goes through html/template, so a
// subject or detail with markup in it (an advisory title, a scanned banner) is escaped.
var (
	textTmpl = texttemplate.Must(texttemplate.New("text").Funcs(funcs).Parse(`{{.Title}}
{{if .Confirm}}
Someone, hopefully you, asked to receive {{with .Org}}{{.}}'s {{end}}patchday notifications at {{.Address}}.
To confirm, open this link within {{.ConfirmDays}} days:

  {{.Confirm}}

If you did not ask for this, ignore this message and nothing will be sent.
{{else}}{{range .Events}}
== {{title .Type}}: {{.Subject}}
Organisation: {{.Org}}
Time: {{when .CreatedAt}}{{if .Severity}}
Severity: {{.Severity}}{{end}}
{{range fields .Details}}{{.Key}}: {{.Value}}
{{end}}{{if and $.Members .Link}}Open: {{.Link}}
{{end}}{{end}}
--
You receive this because {{.Address}} subscribed to patchday notifications.
Unsubscribe: {{.Unsubscribe}}
{{end}}`))

	htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif">
<h1 style="font-size: 1.2em">{{.Title}}</h1>
{{if .Confirm}}<p>Someone, hopefully you, asked to receive {{with .Org}}{{.}}'s {{end}}patchday notifications at {{.Address}}.</p>
<p><a href="{{.Confirm}}">Confirm the subscription</a> (the link works for {{.ConfirmDays}} days).</p>
<p>If you did not ask for this, ignore this message and nothing will be sent.</p>
{{else}}{{range .Events}}<h2 style="font-size: 1.05em">{{title .Type}}: {{.Subject}}</h2>
<table>
<tr><th align="left">Organisation</th><td>{{.Org}}</td></tr>
<tr><th align="left">Time</th><td>{{when .CreatedAt}}</td></tr>{{if .Severity}}
<tr><th align="left">Severity</th><td>{{.Severity}}</td></tr>{{end}}
{{range fields .Details}}<tr><th align="left">{{.Key}}</th><td>{{.Value}}</td></tr>
{{end}}</table>{{if and $.Members .Link}}
<p><a href="{{.Link}}">Open it in patchday</a></p>{{end}}
{{end}}<hr>
<p style="font-size: 0.9em">You receive this because {{.Address}} subscribed to patchday notifications.
<a href="{{.Unsubscribe}}">Unsubscribe</a></p>
{{end}}</body></html>
`))
)

func render(d mailData) (text, html string, err error) {
	var t, h bytes.Buffer
	if err := textTmpl.Execute(&t, d); err != nil {
		return "", "", fmt.Errorf("render text mail: %w", err)
	}
	if err := htmlTmpl.Execute(&h, d); err != nil {
		return "", "", fmt.Errorf("render html mail: %w", err)
	}
	return t.String(), h.String(), nil
}
