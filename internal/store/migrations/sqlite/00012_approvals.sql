-- +goose Up
-- Approvals of an update for a group: install (with an optional deadline) or decline. A
-- computer gets an update when one of its groups approves it for install and none of its
-- groups declines it (or when it is assigned to the computer itself).
CREATE TABLE approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    update_id   INTEGER NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    group_id    INTEGER NOT NULL REFERENCES computer_groups(id) ON DELETE CASCADE,
    action      TEXT NOT NULL CHECK (action IN ('install', 'decline')),
    deadline    TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    UNIQUE (update_id, group_id)
);
CREATE INDEX approvals_group ON approvals (group_id);

-- Weekly maintenance windows of a group, in its time zone (rollout.ParseSchedule).
ALTER TABLE computer_groups ADD COLUMN windows TEXT NOT NULL DEFAULT '';
ALTER TABLE computer_groups ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';

-- +goose Down
ALTER TABLE computer_groups DROP COLUMN timezone;
ALTER TABLE computer_groups DROP COLUMN windows;
DROP TABLE approvals;
