-- +goose Up
-- Events for subscribers that other parts raise on a schedule: an approval's deadline that
-- passed with machines still missing the update (once per approval and deadline), and an
-- organisation's compliance below its threshold (once a day while it stays below).
ALTER TABLE approvals ADD COLUMN deadline_notified_at TIMESTAMP;
ALTER TABLE health_policies ADD COLUMN min_compliant_pct INTEGER NOT NULL DEFAULT 0;
ALTER TABLE health_policies ADD COLUMN below_notified_day TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE health_policies DROP COLUMN below_notified_day;
ALTER TABLE health_policies DROP COLUMN min_compliant_pct;
ALTER TABLE approvals DROP COLUMN deadline_notified_at;
