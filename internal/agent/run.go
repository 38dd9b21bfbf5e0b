package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

// RunOnce does one full cycle: recover an interrupted install, check in, install what is
// due, and check in again to deliver the results. It returns when to check in next.
func (a *Agent) RunOnce(ctx context.Context) (time.Duration, error) {
	if err := a.Recover(ctx); err != nil {
		return 0, fmt.Errorf("recover: %w", err)
	}
	next, err := a.CheckIn(ctx)
	if err != nil && !errors.Is(err, protocol.ErrBadSignature) && !errors.Is(err, protocol.ErrReplay) &&
		!errors.Is(err, protocol.ErrUnknownKey) {
		return 0, err
	}
	// A refused list leaves the last accepted one in force; what is due from it still installs.
	n, ierr := a.InstallDue(ctx)
	if ierr != nil {
		return next, errors.Join(err, ierr)
	}
	if n > 0 {
		if next, err = a.CheckIn(ctx); err != nil {
			// The results are spooled; the next cycle delivers them.
			return 0, err
		}
	}
	// Scans of the machine's subnets for the server's scan schedules: after the installs,
	// which matter more. Reports that cannot be delivered wait for the next cycle.
	if _, serr := a.ScanDue(ctx); serr != nil {
		a.log.Warn("scan reports wait for the next cycle", "err", serr)
	}
	return next, err
}

// Run checks in until ctx ends: at the times the server asks, with jitter, and with an
// exponential backoff while the server cannot be reached.
func (a *Agent) Run(ctx context.Context) error {
	backoff := 30 * time.Second
	for {
		next, err := a.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var se *ServerError
			if errors.As(err, &se) && se.Code == "agent_revoked" {
				a.log.Error("the server revoked this agent; it keeps trying hourly until enrolled again", "reason", se.Message)
				next = time.Hour
			} else {
				a.log.Warn("cycle failed; results stay spooled", "err", err, "retry_in", backoff)
				next = backoff
				backoff = min(backoff*2, 30*time.Minute)
			}
		} else {
			backoff = 30 * time.Second
		}
		if next <= 0 {
			next = 15 * time.Minute
		}
		t := time.NewTimer(jitter(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Status is what `patchday-agent status` shows.
type Status struct {
	Server       string     `json:"server"`
	Org          string     `json:"org"`
	ComputerID   int64      `json:"computer_id"`
	SigningKeyID string     `json:"signing_key_id"`
	EnrolledAt   time.Time  `json:"enrolled_at"`
	LastCheckIn  *time.Time `json:"last_checkin,omitempty"`
	NextCheckIn  *time.Time `json:"next_checkin,omitempty"`
	Sequence     uint64     `json:"sequence"`
	LastError    string     `json:"last_error,omitempty"`
	Pending      []string   `json:"pending"`         // assigned, not yet reported
	Failed       []Failure  `json:"failed"`          // failed and backing off
	Spooled      int        `json:"spooled_results"` // results not yet acknowledged
	Interrupted  string     `json:"interrupted,omitempty"`
}

// Failure is an update whose install failed.
type Failure struct {
	Update   string    `json:"update"`
	Failures int       `json:"failures"`
	Last     time.Time `json:"last"`
	Error    string    `json:"error"`
}

// Status describes the agent's enrollment and work.
func (a *Agent) Status() (Status, error) {
	st := Status{Server: a.id.Server, Org: a.id.Org, ComputerID: a.id.ComputerID, SigningKeyID: protocol.KeyID(a.key),
		EnrolledAt: a.id.EnrolledAt, LastCheckIn: a.prog.LastCheckIn, NextCheckIn: a.prog.NextCheckIn, Sequence: a.prog.Sequence,
		LastError: a.prog.LastError, Pending: []string{}, Failed: []Failure{}}
	spooled, err := a.spool.list(1 << 20)
	if err != nil {
		return st, err
	}
	st.Spooled = len(spooled)
	reported := map[int64]bool{}
	for _, r := range spooled {
		reported[r.UpdateID] = true
	}
	for _, it := range a.prog.Assignments {
		if at, ok := a.prog.Attempts[it.UpdateID]; ok && at.Failures > 0 {
			st.Failed = append(st.Failed, Failure{Update: it.Name, Failures: at.Failures, Last: at.Last, Error: at.Error})
		} else if !reported[it.UpdateID] {
			st.Pending = append(st.Pending, it.Name)
		}
	}
	var fl inflight
	if ok, _ := readJSONFile(a.cfg.inflightPath(), &fl); ok {
		st.Interrupted = fl.Assignment.Name
	}
	return st, nil
}

// Unenroll forgets the enrollment (the server keeps the computer until an admin revokes it).
func Unenroll(stateDir string) error {
	return os.Remove(Config{StateDir: stateDir}.identityPath())
}
