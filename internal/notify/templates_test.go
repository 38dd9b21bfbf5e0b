package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A scan event's mail lists the ports it found as text, and links the scan in the console
// for an admin's subscription but not for a public sign-up, who cannot sign in there.
func TestRenderScanEvent(t *testing.T) {
	n := &Notifier{cfg: Config{BaseURL: "https://patchday.example.org"}}
	details := json.RawMessage(`{"opened":2,"ports":["10.0.0.5 tcp/3389 rdp","10.0.0.6 tcp/23"],"scan":17}`)
	m := Message{Type: EventScanOpened, Org: "acme", Subject: "10.0.0.0/24", Details: details,
		CreatedAt: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Link: n.eventLink("acme", details)}
	for _, members := range []bool{true, false} {
		text, html, err := render(mailData{Members: members, Title: "t", Address: "a@example.org", Events: []Message{m}, Unsubscribe: "u"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "ports: 10.0.0.5 tcp/3389 rdp; 10.0.0.6 tcp/23\n") {
			t.Errorf("text body lacks the ports:\n%s", text)
		}
		link := "https://patchday.example.org/o/acme/scans/17"
		if strings.Contains(text, link) != members || strings.Contains(html, link) != members {
			t.Errorf("members %v: link in text %v, in html %v", members, strings.Contains(text, link), strings.Contains(html, link))
		}
	}
	if l := n.eventLink("acme", json.RawMessage(`{"tracking_id":"ACME-SA 1"}`)); l != "https://patchday.example.org/o/acme/advisories/ACME-SA%201" {
		t.Errorf("advisory link %s", l)
	}
	if l := n.eventLink("acme", json.RawMessage(`{"group":"pilot"}`)); l != "" {
		t.Errorf("a link for an event about nothing linkable: %s", l)
	}
}
