package compliance

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
)

func TestJudge(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	day := 24 * time.Hour
	health := func(fw bool, avAge time.Duration) json.RawMessage {
		h := protocol.Health{Firewall: protocol.Firewall{Enabled: fw, DefaultInput: map[bool]string{true: "drop", false: "accept"}[fw]}}
		if avAge >= 0 {
			h.Antivirus = []protocol.Antivirus{{Engine: "clamav", SignatureTime: ago(avAge)}}
		}
		b, _ := json.Marshal(h)
		return b
	}
	good := store.Computer{ID: 1, Hostname: "h", EnrolledAt: *ago(30 * day), LastCheckInAt: ago(time.Hour), Health: health(true, day)}
	crit := func(neededFor time.Duration, deadline *time.Time) store.Exposure {
		return store.Exposure{Severity: "critical", State: "needed", NeededSince: ago(neededFor), Deadline: deadline}
	}
	policy := store.DefaultHealthPolicy
	for _, tc := range []struct {
		name   string
		policy store.HealthPolicy
		c      func(store.Computer) store.Computer
		out    []store.Exposure
		want   []string
	}{
		{"healthy", policy, nil, nil, nil},
		{"critical within grace", policy, nil, []store.Exposure{crit(6*day, nil)}, nil},
		{"critical past grace", policy, nil, []store.Exposure{crit(8*day, nil)}, []string{"missing_critical"}},
		{"critical past deadline though new", policy, nil, []store.Exposure{crit(time.Hour, ago(time.Minute))}, []string{"missing_critical"}},
		{"deadline ahead beats grace", policy, nil, []store.Exposure{crit(30*day, ago(-day))}, nil},
		{"one allowed", store.HealthPolicy{MaxMissingCritical: 1, GraceDays: 7}, nil, []store.Exposure{crit(8*day, nil)}, nil},
		{"high counted apart", policy, nil, []store.Exposure{{Severity: "high", NeededSince: ago(10 * day)}, {Severity: "medium", NeededSince: ago(100 * day)}}, []string{"missing_high"}},
		{"antivirus old", policy, func(c store.Computer) store.Computer { c.Health = health(true, 9*day); return c }, nil, []string{"antivirus_outdated"}},
		{"no antivirus is fine", policy, func(c store.Computer) store.Computer { c.Health = health(true, -1); return c }, nil, nil},
		{"firewall off", policy, func(c store.Computer) store.Computer { c.Health = health(false, day); return c }, nil, []string{"firewall_off"}},
		{"firewall not required", store.HealthPolicy{GraceDays: 7}, func(c store.Computer) store.Computer { c.Health = health(false, day); return c }, nil, nil},
		{"silent", policy, func(c store.Computer) store.Computer { c.LastCheckInAt = ago(49 * time.Hour); return c }, nil, []string{"agent_silent"}},
		{"never checked in, enrolled long ago", policy, func(c store.Computer) store.Computer { c.LastCheckInAt = nil; return c }, nil, []string{"agent_silent"}},
		{"revoked and everything", policy, func(c store.Computer) store.Computer {
			c.RevokedAt = ago(time.Hour)
			c.Health = health(false, 20*day)
			return c
		}, []store.Exposure{crit(8*day, nil)}, []string{"revoked", "missing_critical", "antivirus_outdated", "firewall_off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			if tc.c != nil {
				c = tc.c(c)
			}
			v := Judge(tc.policy, c, tc.out, now)
			var codes []string
			for _, r := range v.Reasons {
				codes = append(codes, r.Code)
				if r.Message == "" {
					t.Errorf("reason %s without a message", r.Code)
				}
			}
			if !slices.Equal(codes, tc.want) || v.Compliant != (len(tc.want) == 0) {
				t.Errorf("verdict %+v, want reasons %v", v, tc.want)
			}
		})
	}
}
