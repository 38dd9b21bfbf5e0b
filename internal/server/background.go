package server

import (
	"context"
	"time"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/store"
)

// Background runs the server's periodic work until ctx ends: every few seconds it writes the
// batched check-in times and takes in what other nodes changed (new updates, inventories);
// publishes the advisories whose release time came and raises due advance notifications;
// every minute it runs the auto-approval rules and raises the events of passed deadlines; every hour it takes each organisation's
// compliance snapshot of the day and cleans up (see Cleanup). Beside it the notifier fans
// events out to subscribers and delivers them (notify.Notifier.Run). Each job is idempotent, so several nodes may run them.
func (s *Server) Background(ctx context.Context) {
	notified := make(chan struct{})
	go func() {
		defer close(notified)
		s.notify.Run(ctx)
	}()
	defer func() { <-notified }()
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
		// Publishing: advisories whose release came, advance notifications (releases.go).
		if err := s.Publish(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("publish advisories", "err", err)
		}
		if time.Since(lastRules) >= time.Minute {
			if err := s.ApplyRules(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("auto-approval rules", "err", err)
			}
			if err := s.NotifyDeadlines(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("deadline events", "err", err)
			}
			lastRules = time.Now()
		}
	}
}

func (s *Server) hourly(ctx context.Context) {
	if err := s.TakeSnapshots(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("compliance snapshots", "err", err)
	}
	if _, err := s.Cleanup(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("cleanup", "err", err)
	}
}

// TakeSnapshots stores today's compliance snapshot of every organisation. The reports it
// makes also fill the fleet report cache, so that after a start (the first run) the first
// dashboard does not wait for its organisation's fleet to be judged.
func (s *Server) TakeSnapshots(ctx context.Context) error {
	p := store.Page{Limit: 500}
	for {
		orgs, err := s.store.ListOrgs(ctx, 0, p)
		if err != nil {
			return err
		}
		for _, o := range orgs {
			rep, err := s.computeReport(ctx, reportKey{org: o.ID}, s.reports.gen(o.ID), func(ctx context.Context, now time.Time) (compliance.OrgReport, error) {
				return compliance.ForOrg(ctx, s.store, o.ID, now)
			})
			if err != nil {
				return err
			}
			if _, err := compliance.SaveSnapshot(ctx, s.store, o.ID, rep, rep.ComputedAt); err != nil {
				return err
			}
		}
		if len(orgs) < p.Limit {
			return nil
		}
		p.After = orgs[len(orgs)-1].ID
	}
}

// Cleanup keeps the database bounded: it declines superseded updates that no machine needs
// any more (after Config.DeclineSupersededAfter), deletes payloads no update uses (after
// Config.PayloadGrace) with their blobs, and deletes state history and install results older
// than Config.HistoryRetention. The server runs it every hour.
func (s *Server) Cleanup(ctx context.Context) (store.CleanupCounts, error) {
	var c store.CleanupCounts
	now := s.cfg.Now()
	var declined []int64
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if s.cfg.DeclineSupersededAfter >= 0 {
			if declined, c.DroppedStates, err = tx.DeclineSuperseded(ctx, now.Add(-s.cfg.DeclineSupersededAfter), "cleanup"); err != nil {
				return err
			}
			c.DeclinedUpdates = int64(len(declined))
		}
		if c.Payloads, c.BlobsUnused, err = tx.DeleteUnusedPayloads(ctx, now.Add(-s.cfg.PayloadGrace)); err != nil {
			return err
		}
		if c.History, c.Results, err = tx.DeleteOldHistory(ctx, now.Add(-s.cfg.HistoryRetention)); err != nil {
			return err
		}
		if c.Inventories, err = tx.DeleteUnusedInventories(ctx, now.Add(-time.Hour)); err != nil {
			return err
		}
		if c.DeclinedUpdates > 0 || c.Payloads > 0 {
			_, err = tx.AppendAudit(ctx, store.AuditEvent{Actor: "cleanup", Action: "cleanup.run", ObjectType: "server", ObjectID: "cleanup",
				Source: "server", Time: now, Details: mustJSON(c)})
		}
		return err
	})
	if err != nil {
		return c, err
	}
	if len(declined) > 0 {
		byOrg, err := s.store.DeclinedSince(ctx, now.Add(-time.Minute))
		if err == nil {
			s.eval.Declined(byOrg)
		}
	}
	for _, d := range c.BlobsUnused {
		if s.cfg.Blobs == nil {
			break
		}
		if err := s.cfg.Blobs.Delete(ctx, d); err != nil {
			s.log.Warn("delete unused blob", "digest", d, "err", err)
		}
	}
	if c.DeclinedUpdates+c.Payloads+c.History+c.Results+c.Inventories > 0 {
		s.log.Info("cleanup", "declined_updates", c.DeclinedUpdates, "dropped_states", c.DroppedStates, "payloads", c.Payloads,
			"history", c.History, "results", c.Results, "inventories", c.Inventories)
	}
	return c, nil
}

func mustJSON(v any) []byte {
	b, _ := jsonMarshal(v)
	return b
}
