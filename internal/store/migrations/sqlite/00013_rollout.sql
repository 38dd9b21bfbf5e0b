-- +goose Up
-- Rollout limits of a group: at most max_starts of its computers start an update per
-- start_window_minutes; and the automatic halt: when more than halt_failure_pct percent of
-- the installs attempted in the group fail (with at least halt_min_attempts attempts).
ALTER TABLE computer_groups ADD COLUMN max_starts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE computer_groups ADD COLUMN start_window_minutes INTEGER NOT NULL DEFAULT 60;
ALTER TABLE computer_groups ADD COLUMN halt_failure_pct INTEGER NOT NULL DEFAULT 0;
ALTER TABLE computer_groups ADD COLUMN halt_min_attempts INTEGER NOT NULL DEFAULT 3;

-- A halted approval reaches no computer until an operator resumes it.
ALTER TABLE approvals ADD COLUMN halted_at TIMESTAMP;
ALTER TABLE approvals ADD COLUMN halt_reason TEXT NOT NULL DEFAULT '';

-- When a computer was first offered an update, and through which group (for the limits).
ALTER TABLE computer_updates ADD COLUMN offered_at TIMESTAMP;
ALTER TABLE computer_updates ADD COLUMN offered_via INTEGER;
CREATE INDEX computer_updates_offers ON computer_updates (update_id, offered_via, offered_at);

-- Auto-approval rules: updates matching (classification, minimum severity) are approved for a
-- group after delay_days from their creation and, when after_ring_pct is set, once the ring
-- before the group's reached that success rate for them.
CREATE TABLE approval_rules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    group_id        INTEGER NOT NULL REFERENCES computer_groups(id) ON DELETE CASCADE,
    classification  TEXT NOT NULL DEFAULT '',
    min_severity    TEXT NOT NULL DEFAULT '',
    delay_days      INTEGER NOT NULL DEFAULT 0,
    after_ring_pct  INTEGER NOT NULL DEFAULT 0,
    deadline_days   INTEGER,
    created_at      TIMESTAMP NOT NULL,
    created_by      TEXT NOT NULL,
    UNIQUE (org_id, name)
);

-- Events other parts raise for notifications (rollout halted, ...).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}',
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX events_org ON events (org_id, id);

-- +goose Down
DROP TABLE events;
DROP TABLE approval_rules;
DROP INDEX computer_updates_offers;
ALTER TABLE computer_updates DROP COLUMN offered_via;
ALTER TABLE computer_updates DROP COLUMN offered_at;
ALTER TABLE approvals DROP COLUMN halt_reason;
ALTER TABLE approvals DROP COLUMN halted_at;
ALTER TABLE computer_groups DROP COLUMN halt_min_attempts;
ALTER TABLE computer_groups DROP COLUMN halt_failure_pct;
ALTER TABLE computer_groups DROP COLUMN start_window_minutes;
ALTER TABLE computer_groups DROP COLUMN max_starts;
