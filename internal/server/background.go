package server

import (
	"context"
	"time"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/store"
)

// Background runs the server's periodic work until ctx ends: every few seconds it writes the
// batched check-in times and takes in what other nodes changed (new updates, inventories);
// every hour it takes each organisation's compliance snapshot of the day and deletes
// inventories no computer uses. Each job is idempotent, so several nodes may run them.
func (s *Server) Background(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var lastHourly, lastRules time.Time
	for {
		if time.Since(lastHourly) >= time.Hour {
			s.hourly(ctx)
			lastHourly = time.Now()
		}
		select {
		case <-ctx.Done():
			if err := s.FlushCheckIns(context.WithoutCancel(ctx)); err != nil {
				s.log.Warn("flush check-in times", "err", err)
			}
			return
		case <-tick.C:
		}
		if err := s.FlushCheckIns(ctx); err != nil {
			s.log.Warn("flush check-in times", "err", err)
		}
		if err := s.eval.Poll(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("applicability poll", "err", err)
		}
		if time.Since(lastRules) >= time.Minute {
			if err := s.ApplyRules(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("auto-approval rules", "err", err)
			}
			lastRules = time.Now()
		}
	}
}

func (s *Server) hourly(ctx context.Context) {
	if err := s.TakeSnapshots(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("compliance snapshots", "err", err)
	}
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		n, err := tx.DeleteUnusedInventories(ctx, s.cfg.Now().Add(-time.Hour))
		if n > 0 {
			s.log.Info("deleted unused inventories", "count", n)
		}
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("delete unused inventories", "err", err)
	}
}

// TakeSnapshots stores today's compliance snapshot of every organisation.
func (s *Server) TakeSnapshots(ctx context.Context) error {
	p := store.Page{Limit: 500}
	for {
		orgs, err := s.store.ListOrgs(ctx, 0, p)
		if err != nil {
			return err
		}
		for _, o := range orgs {
			if _, err := compliance.TakeSnapshot(ctx, s.store, o.ID, s.cfg.Now()); err != nil {
				return err
			}
		}
		if len(orgs) < p.Limit {
			return nil
		}
		p.After = orgs[len(orgs)-1].ID
	}
}
