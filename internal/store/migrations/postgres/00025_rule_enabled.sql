-- +goose Up
-- An auto-approval rule can be disabled (kept, not run) and enabled again.
ALTER TABLE approval_rules ADD COLUMN disabled_at TIMESTAMPTZ;
ALTER TABLE approval_rules ADD COLUMN disabled_by TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE approval_rules DROP COLUMN disabled_by;
ALTER TABLE approval_rules DROP COLUMN disabled_at;
