package notify

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// Event types a subscription may ask for. They are the kinds other parts give
// store.Tx.AddEvent; events of other kinds are not sent to anyone.
const (
	EventAdvanceNotification = "advance_notification"
	EventAdvisoryPublished   = "advisory.published"
	EventAdvisoryRevised     = "advisory.revised"
	EventRolloutHalted       = "rollout.halted"
	EventDeadlinePassed      = "deadline.passed"
	EventComplianceBelow     = "compliance.below_threshold"
	EventScanOpened          = "scan.opened"
	EventScanViolation       = "scan.violation"
)

// EventTypes lists every event type, in the order documentation shows them.
var EventTypes = []string{EventAdvanceNotification, EventAdvisoryPublished, EventAdvisoryRevised, EventRolloutHalted,
	EventDeadlinePassed, EventComplianceBelow, EventScanOpened, EventScanViolation}

// PublicEventTypes are the event types a public sign-up (SignupActor) may receive: what the
// organisation publishes to the world anyway. Everything else (rollouts, deadlines,
// compliance, scans) describes the organisation's own machines and goes to members only.
var PublicEventTypes = []string{EventAdvanceNotification, EventAdvisoryPublished, EventAdvisoryRevised}

// SignupActor is the creator recorded for subscriptions made through the public sign-up
// form, by people who need no account.
const SignupActor = "signup"

var eventTitles = map[string]string{
	EventAdvanceNotification: "Advance notification",
	EventAdvisoryPublished:   "Advisory published",
	EventAdvisoryRevised:     "Advisory revised",
	EventRolloutHalted:       "Rollout halted",
	EventDeadlinePassed:      "Deadline passed",
	EventComplianceBelow:     "Compliance below threshold",
	EventScanOpened:          "New open ports found by a scan",
	EventScanViolation:       "Firewall policy violations found by a scan",
}

// Message is what a subscriber receives about one event: the body of a webhook call, and
// what an e-mail shows.
type Message struct {
	EventID   int64           `json:"event_id"`
	Type      string          `json:"type"`
	Org       string          `json:"org"` // the organisation's slug
	Subject   string          `json:"subject"`
	Severity  string          `json:"severity,omitempty"`
	Details   json.RawMessage `json:"details"`
	CreatedAt time.Time       `json:"created_at"`
	// Link is the console page of what the event is about (a scan, an advisory), when it
	// has one; for the organisation's members, who can sign in there.
	Link string `json:"link,omitempty"`
}

// eventFacts is what filters look at in an event's details. Producers that want product and
// severity filters to apply put them there:
//
//	{"severity": "high", "products": ["OpenSSL 3.0", 42, {"id": 7, "name": "nginx"}]}
//
// products entries are product names, product ids, or objects with either. An event that
// carries no severity (or no products) passes the subscriptions' severity (or product)
// filter: a rollout halt has no severity but still matters.
type eventFacts struct {
	severity string
	tlp      string // upper case; "" when the event has none
	ids      []int64
	names    []string
}

func parseFacts(details json.RawMessage) eventFacts {
	var raw struct {
		Severity string            `json:"severity"`
		TLP      string            `json:"tlp"`
		Products []json.RawMessage `json:"products"`
	}
	_ = json.Unmarshal(details, &raw) // details the filters cannot read just do not narrow them
	f := eventFacts{severity: strings.ToLower(raw.Severity), tlp: strings.ToUpper(raw.TLP)}
	for _, p := range raw.Products {
		var name string
		var id int64
		var obj struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		}
		switch {
		case json.Unmarshal(p, &name) == nil:
			f.names = append(f.names, strings.ToLower(name))
		case json.Unmarshal(p, &id) == nil:
			f.ids = append(f.ids, id)
		case json.Unmarshal(p, &obj) == nil:
			if obj.ID > 0 {
				f.ids = append(f.ids, obj.ID)
			}
			if obj.Name != "" {
				f.names = append(f.names, strings.ToLower(obj.Name))
			}
		}
	}
	return f
}

// matches tells whether a subscription wants an event of this type with these facts.
func matches(s *store.Subscription, kind string, f eventFacts) bool {
	if s.CreatedBy == SignupActor && !publicEvent(kind, f) {
		return false
	}
	if len(s.EventTypes) > 0 && !slices.Contains(s.EventTypes, kind) {
		return false
	}
	if s.MinSeverity != "" && f.severity != "" && csaf.SeverityRank(f.severity) < csaf.SeverityRank(s.MinSeverity) {
		return false
	}
	if (len(s.ProductIDs) > 0 || len(s.ProductNames) > 0) && (len(f.ids) > 0 || len(f.names) > 0) {
		for _, id := range f.ids {
			if slices.Contains(s.ProductIDs, id) {
				return true
			}
		}
		for _, name := range f.names {
			for _, want := range s.ProductNames {
				if strings.EqualFold(want, name) {
					return true
				}
			}
		}
		return false
	}
	return true
}

// publicEvent tells whether anyone may receive an event: one of PublicEventTypes, about
// nothing marked TLP:AMBER or TLP:RED (those go to the organisation's members only, as the
// CSAF provider serves them).
func publicEvent(kind string, f eventFacts) bool {
	if !slices.Contains(PublicEventTypes, kind) {
		return false
	}
	switch f.tlp {
	case "", "WHITE", "CLEAR", "GREEN":
		return true
	}
	return false
}
