package server

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/patchday/patchday/internal/compliance"
)

// Fleet reports (an organisation's or a group's compliance) judge every computer, which
// takes seconds at 100,000 computers: too slow for a dashboard that loads them on every
// visit. The server keeps the last report of each and answers from it:
//
//   - while nothing of the organisation changed on this node and it is younger than
//     reportFresh, as is;
//   - when something changed or it aged, computed again before answering if that took
//     less than reportSyncLimit last time (a small fleet always sees its newest state),
//     else answered as is while a fresh one is computed in the background, for at most
//     reportMaxStale;
//
// so a large fleet's report is at most about reportFresh plus its computing time old. The
// report says when it was computed (computed_at). Changes on other nodes show within
// reportFresh.
const (
	reportFresh     = 30 * time.Second
	reportSyncLimit = 150 * time.Millisecond
	reportMaxStale  = 10 * time.Minute
)

type reportKey struct {
	org   int64
	group int64 // the group's id (not its name, which may change or pass to a new group); 0 for the organisation's report
}

type cachedReport struct {
	rep        compliance.OrgReport
	at         time.Time // by the server's clock
	gen        uint64
	took       time.Duration
	refreshing bool
}

type reportCache struct {
	mu      sync.Mutex
	reports map[reportKey]*cachedReport
	gens    sync.Map // org id -> *atomic.Uint64: changes of the organisation seen by this node
	flights singleflight.Group
	// syncLimit replaces reportSyncLimit when set (tests, which cannot rely on how long a
	// computation takes on a loaded machine).
	syncLimit time.Duration
}

func (rc *reportCache) limit() time.Duration {
	if rc.syncLimit > 0 {
		return rc.syncLimit
	}
	return reportSyncLimit
}

// changed notes that something of an organisation changed: its cached reports are stale.
func (rc *reportCache) changed(orgID int64) {
	g, _ := rc.gens.LoadOrStore(orgID, new(atomic.Uint64))
	g.(*atomic.Uint64).Add(1)
}

func (rc *reportCache) gen(orgID int64) uint64 {
	g, _ := rc.gens.LoadOrStore(orgID, new(atomic.Uint64))
	return g.(*atomic.Uint64).Load()
}

// fleetReport returns the organisation's (group 0) or a group's report, from the cache when
// it may (see above). compute makes a new one.
func (s *Server) fleetReport(ctx context.Context, key reportKey, compute func(ctx context.Context, now time.Time) (compliance.OrgReport, error)) (compliance.OrgReport, error) {
	rc := &s.reports
	now := s.cfg.Now()
	gen := rc.gen(key.org)
	rc.mu.Lock()
	if rc.reports == nil {
		rc.reports = map[reportKey]*cachedReport{}
	}
	c := rc.reports[key]
	switch {
	case c != nil && c.gen == gen && now.Sub(c.at) < reportFresh && !now.Before(c.at):
		rep := c.rep
		rc.mu.Unlock()
		return rep, nil
	case c != nil && c.took >= rc.limit() && now.Sub(c.at) < reportMaxStale && !now.Before(c.at):
		rep := c.rep
		if !c.refreshing {
			c.refreshing = true
			go func() {
				// Detached from the request, which ends now; bounded all the same.
				bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
				defer cancel()
				if _, err := s.computeReport(bg, key, gen, compute); err != nil {
					s.log.Warn("fleet report", "org_id", key.org, "group_id", key.group, "err", err)
				}
			}()
		}
		rc.mu.Unlock()
		return rep, nil
	}
	rc.mu.Unlock()
	return s.computeReport(ctx, key, gen, compute)
}

// computeReport makes a report and keeps it. Callers that ask for the same report of the
// same generation while it is being made wait for that one instead of making another: after
// a start, the dashboards opened while the start-up snapshot judges the fleet, or many
// opened at once, cost one computation, not one each on the same cores. The computation
// does not stop when a caller stops waiting (it fills the cache for the next one), but is
// bounded.
func (s *Server) computeReport(ctx context.Context, key reportKey, gen uint64, compute func(ctx context.Context, now time.Time) (compliance.OrgReport, error)) (compliance.OrgReport, error) {
	ch := s.reports.flights.DoChan(fmt.Sprint(key.org, "/", key.group, "/", gen), func() (_ any, err error) {
		// singleflight panics again in a goroutine of its own, where nothing recovers: a
		// fault in one report would end the server. It is the callers' error instead.
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("fleet report panicked", "org_id", key.org, "group_id", key.group, "panic", p, "stack", string(debug.Stack()))
				err = fmt.Errorf("fleet report: internal error: %v", p)
			}
		}()
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		return s.makeReport(bg, key, gen, compute)
	})
	select {
	case r := <-ch:
		rep, _ := r.Val.(compliance.OrgReport)
		return rep, r.Err
	case <-ctx.Done():
		return compliance.OrgReport{}, ctx.Err()
	}
}

func (s *Server) makeReport(ctx context.Context, key reportKey, gen uint64, compute func(ctx context.Context, now time.Time) (compliance.OrgReport, error)) (compliance.OrgReport, error) {
	now := s.cfg.Now()
	t0 := time.Now()
	rep, err := compute(ctx, now)
	took := time.Since(t0)
	rc := &s.reports
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if c := rc.reports[key]; c != nil {
		c.refreshing = false
	}
	if err != nil {
		return rep, err
	}
	rep.ComputedAt = now.UTC()
	if rc.reports == nil {
		rc.reports = map[reportKey]*cachedReport{}
	}
	if c := rc.reports[key]; c == nil || !c.at.After(now) {
		rc.reports[key] = &cachedReport{rep: rep, at: now, gen: gen, took: took}
	}
	return rep, nil
}
