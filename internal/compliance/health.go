// Package compliance turns where updates stand on computers into reports and health
// verdicts: who is still vulnerable to what, and whether a machine may join the network.
package compliance

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
)

// Reason is one rule of the health policy a computer breaks.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Verdict says whether a computer is compliant with its organisation's health policy.
type Verdict struct {
	ComputerID int64      `json:"computer_id"`
	Hostname   string     `json:"hostname"`
	Compliant  bool       `json:"compliant"`
	Reasons    []Reason   `json:"reasons"`
	CheckedAt  time.Time  `json:"checked_at"`
	LastSeen   *time.Time `json:"last_checkin_at,omitempty"`
}

// Judge applies policy to a computer, its health facts and its outstanding updates
// (store.OutstandingStates) at now. Every broken rule is a reason; no reason is compliant.
func Judge(p store.HealthPolicy, c store.Computer, outstanding []store.Exposure, now time.Time) Verdict {
	v := Verdict{ComputerID: c.ID, Hostname: c.Hostname, CheckedAt: now.UTC(), LastSeen: c.LastCheckInAt, Reasons: []Reason{}}
	add := func(code, format string, args ...any) {
		v.Reasons = append(v.Reasons, Reason{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if c.RevokedAt != nil {
		add("revoked", "the computer's agent was revoked at %s", c.RevokedAt.Format(time.RFC3339))
	}
	seen := c.EnrolledAt
	if c.LastCheckInAt != nil {
		seen = *c.LastCheckInAt
	}
	if p.MaxSilentHours > 0 && now.Sub(seen) > time.Duration(p.MaxSilentHours)*time.Hour {
		add("agent_silent", "the agent has not checked in for %d hours (at most %d)", int(now.Sub(seen).Hours()), p.MaxSilentHours)
	}
	var critical, high int
	for _, e := range outstanding {
		if !overdue(e, p.GraceDays, now) {
			continue
		}
		switch e.Severity {
		case "critical":
			critical++
		case "high":
			high++
		}
	}
	if critical > p.MaxMissingCritical {
		add("missing_critical", "%d critical updates missing past their deadline or grace period (at most %d)", critical, p.MaxMissingCritical)
	}
	if high > p.MaxMissingHigh {
		add("missing_high", "%d high-severity updates missing past their deadline or grace period (at most %d)", high, p.MaxMissingHigh)
	}
	var h protocol.Health
	if len(c.Health) > 0 {
		json.Unmarshal(c.Health, &h) // stored by the server from a validated check-in
	}
	if p.MaxAntivirusAgeDays > 0 {
		for _, av := range h.Antivirus {
			switch {
			case av.SignatureTime == nil:
				add("antivirus_unknown_age", "%s: the age of its signatures is unknown", av.Engine)
			case now.Sub(*av.SignatureTime) > time.Duration(p.MaxAntivirusAgeDays)*24*time.Hour:
				add("antivirus_outdated", "%s signatures are %d days old (at most %d)", av.Engine,
					int(now.Sub(*av.SignatureTime).Hours()/24), p.MaxAntivirusAgeDays)
			}
		}
	}
	if p.RequireFirewall && !h.Firewall.Enabled {
		add("firewall_off", "no host firewall filters incoming traffic (default input policy: %s)", orUnknown(h.Firewall.DefaultInput))
	}
	v.Compliant = len(v.Reasons) == 0
	return v
}

// overdue says whether an outstanding update counts against the policy: its deadline passed,
// or, without a deadline, it has been needed for longer than the grace period.
func overdue(e store.Exposure, graceDays int, now time.Time) bool {
	if e.Deadline != nil {
		return !now.Before(*e.Deadline)
	}
	if e.NeededSince == nil || graceDays == 0 {
		return graceDays == 0
	}
	return now.Sub(*e.NeededSince) >= time.Duration(graceDays)*24*time.Hour
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
