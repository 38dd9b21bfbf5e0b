package server

import (
	"context"

	"github.com/patchday/patchday/internal/store"
)

// NotifyDeadlines raises deadline.passed events for approvals whose deadline passed with
// machines still missing the update (store.Tx.NotifyPassedDeadlines); Background runs it
// every minute.
func (s *Server) NotifyDeadlines(ctx context.Context) error {
	return s.store.Update(ctx, func(tx *store.Tx) error {
		passed, err := tx.NotifyPassedDeadlines(ctx, s.cfg.Now())
		for _, p := range passed {
			s.log.Info("deadline passed with machines missing the update", "update", p.Update, "group", p.Group, "missing", p.Missing)
		}
		return err
	})
}
