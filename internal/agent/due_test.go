package agent

import (
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

// Nothing installs outside its maintenance windows unless its deadline has passed, and a
// failed install waits out its backoff.
func TestDue(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { t := now.Add(time.Duration(h) * time.Hour); return &t }
	window := func(from, to int) protocol.Window { return protocol.Window{Start: *at(from), End: *at(to)} }
	for _, tc := range []struct {
		name     string
		it       protocol.Assignment
		failures int
		lastFail time.Time
		want     bool
	}{
		{"no window, no deadline", protocol.Assignment{}, 0, time.Time{}, true},
		{"inside a window", protocol.Assignment{Windows: []protocol.Window{window(-1, 1)}}, 0, time.Time{}, true},
		{"window ends now (end excluded)", protocol.Assignment{Windows: []protocol.Window{window(-2, 0)}}, 0, time.Time{}, false},
		{"window starts now", protocol.Assignment{Windows: []protocol.Window{window(0, 2)}}, 0, time.Time{}, true},
		{"before the window", protocol.Assignment{Windows: []protocol.Window{window(2, 4)}}, 0, time.Time{}, false},
		{"second window open", protocol.Assignment{Windows: []protocol.Window{window(-5, -4), window(-1, 3)}}, 0, time.Time{}, true},
		{"outside, deadline ahead", protocol.Assignment{Windows: []protocol.Window{window(2, 4)}, Deadline: at(1)}, 0, time.Time{}, false},
		{"outside, deadline passed", protocol.Assignment{Windows: []protocol.Window{window(2, 4)}, Deadline: at(-1)}, 0, time.Time{}, true},
		{"outside, deadline is now", protocol.Assignment{Windows: []protocol.Window{window(2, 4)}, Deadline: at(0)}, 0, time.Time{}, true},
		{"failed 10 minutes ago", protocol.Assignment{}, 1, now.Add(-10 * time.Minute), false},
		{"failed 20 minutes ago", protocol.Assignment{}, 1, now.Add(-20 * time.Minute), true},
		{"failed 3 times, 50 minutes ago", protocol.Assignment{}, 3, now.Add(-50 * time.Minute), false},
		{"failed 3 times, 61 minutes ago", protocol.Assignment{}, 3, now.Add(-61 * time.Minute), true},
		{"failed 40 times, backoff capped at a day", protocol.Assignment{}, 40, now.Add(-25 * time.Hour), true},
		{"backoff beats a passed deadline", protocol.Assignment{Deadline: at(-1)}, 1, now.Add(-time.Minute), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{prog: progress{Attempts: map[int64]attempt{}}}
			if tc.failures > 0 {
				a.prog.Attempts[tc.it.UpdateID] = attempt{Failures: tc.failures, Last: tc.lastFail}
			}
			if got, why := a.due(tc.it, now); got != tc.want {
				t.Errorf("due = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
}
