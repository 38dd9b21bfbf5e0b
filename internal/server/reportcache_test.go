package server

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/compliance"
)

// A fleet report is reused while fresh and unchanged; a report that is quick to make is
// made again at once after a change; a slow one is answered stale while a new one is made in
// the background, once.
func TestFleetReportCache(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := &Server{cfg: Config{Now: clock}, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()

	for _, tc := range []struct {
		name  string
		group int64
		delay time.Duration
		slow  bool
	}{{"quick", 1, 0, false}, {"slow", 2, 600 * time.Millisecond, true}} {
		t.Run(tc.name, func(t *testing.T) {
			// A quick computation must not count as slow because the machine stalled.
			s.reports.syncLimit = time.Hour
			if tc.slow {
				s.reports.syncLimit = tc.delay / 2
			}
			key := reportKey{org: 7, group: tc.group}
			var calls atomic.Int64
			compute := func(ctx context.Context, at time.Time) (compliance.OrgReport, error) {
				n := calls.Add(1)
				time.Sleep(tc.delay)
				return compliance.OrgReport{Computers: int(n)}, nil
			}
			get := func() compliance.OrgReport {
				t.Helper()
				rep, err := s.fleetReport(ctx, key, compute)
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}
			if rep := get(); rep.Computers != 1 || !rep.ComputedAt.Equal(clock()) {
				t.Fatalf("first report %+v", rep)
			}
			advance(10 * time.Second)
			if rep := get(); rep.Computers != 1 || calls.Load() != 1 {
				t.Fatalf("a fresh, unchanged report was made again: %+v, %d calls", rep, calls.Load())
			}
			s.reports.changed(7)
			t0 := time.Now()
			rep := get()
			if !tc.slow {
				if rep.Computers != 2 {
					t.Fatalf("a quick report after a change: %+v", rep)
				}
				advance(reportFresh)
				if rep := get(); rep.Computers != 3 {
					t.Fatalf("a quick report after it aged: %+v", rep)
				}
				return
			}
			if rep.Computers != 1 || time.Since(t0) >= tc.delay {
				t.Fatalf("a slow report after a change was not answered stale at once: %+v after %v", rep, time.Since(t0))
			}
			get() // while the first refresh runs: no second one
			deadline := time.Now().Add(5 * time.Second)
			for calls.Load() < 2 || get().Computers != 2 {
				if time.Now().After(deadline) {
					t.Fatalf("the background refresh did not land: %d calls", calls.Load())
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(3 * tc.delay)
			if calls.Load() != 2 {
				t.Errorf("%d computations, want 2", calls.Load())
			}
			// Too old to answer stale: made again before answering.
			advance(reportMaxStale)
			if rep := get(); rep.Computers != 3 {
				t.Errorf("a report past the longest staleness: %+v", rep)
			}
		})
	}
}

// Callers that ask for a report while the same one is being made (the dashboards opened as
// the start-up snapshot judges the fleet) wait for it instead of each making one; one that
// stops waiting gets its context's error and does not stop the computation, whose report
// then answers the next caller from the cache. A change meanwhile makes a new one.
func TestFleetReportSharedComputation(t *testing.T) {
	s := &Server{cfg: Config{Now: time.Now}, log: slog.New(slog.DiscardHandler)}
	key := reportKey{org: 9}
	release := make(chan struct{})
	var calls atomic.Int64
	compute := func(ctx context.Context, at time.Time) (compliance.OrgReport, error) {
		n := calls.Add(1)
		<-release
		return compliance.OrgReport{Computers: int(n)}, nil
	}
	// The snapshot's computation.
	snap := make(chan compliance.OrgReport, 1)
	go func() {
		rep, err := s.computeReport(context.Background(), key, s.reports.gen(9), compute)
		if err != nil {
			t.Error(err)
		}
		snap <- rep
	}()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// Dashboards meanwhile; one gives up.
	const waiters = 8
	got := make(chan compliance.OrgReport, waiters)
	for range waiters {
		go func() {
			rep, err := s.fleetReport(context.Background(), key, compute)
			if err != nil {
				t.Error(err)
			}
			got <- rep
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.fleetReport(ctx, key, compute); err != context.DeadlineExceeded {
		t.Errorf("a caller that stopped waiting: %v", err)
	}
	close(release)
	if rep := <-snap; rep.Computers != 1 {
		t.Errorf("snapshot %+v", rep)
	}
	for range waiters {
		if rep := <-got; rep.Computers != 1 {
			t.Errorf("a dashboard got report %d, want the snapshot's", rep.Computers)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d computations, want 1", n)
	}
	if rep, _ := s.fleetReport(context.Background(), key, compute); rep.Computers != 1 || calls.Load() != 1 {
		t.Errorf("after: report %d, %d computations", rep.Computers, calls.Load())
	}
	s.reports.changed(9)
	if rep, _ := s.fleetReport(context.Background(), key, compute); rep.Computers != 2 {
		t.Errorf("after a change: report %d, want a new one", rep.Computers)
	}
}

// A report whose computation panics is an error for the callers, and the server goes on.
func TestFleetReportPanicIsAnError(t *testing.T) {
	s := &Server{cfg: Config{Now: time.Now}, log: slog.New(slog.DiscardHandler)}
	_, err := s.fleetReport(context.Background(), reportKey{org: 3}, func(context.Context, time.Time) (compliance.OrgReport, error) {
		var m map[string]int
		m["x"] = 1 // a fault in the report's code
		return compliance.OrgReport{}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("err %v", err)
	}
	rep, err := s.fleetReport(context.Background(), reportKey{org: 3}, func(context.Context, time.Time) (compliance.OrgReport, error) {
		return compliance.OrgReport{Computers: 5}, nil
	})
	if err != nil || rep.Computers != 5 {
		t.Errorf("after the panic: %+v, %v", rep, err)
	}
}
