-- +goose Up
-- not_applicable: an update assigned to a computer by hand (an approval for that computer)
-- that the update does not concern, as the applicability evaluator judges it: the package is
-- not installed, the facts do not match, or the machine had the fix before it ever needed the
-- update. The row keeps the operator's approval and deadline; the computer does not miss the
-- update, and its agent gets it only once it comes to need it. Rebuilt with the new state,
-- as SQLite cannot change a CHECK constraint.
CREATE TABLE computer_updates_new (
    computer_id   INTEGER NOT NULL REFERENCES computers(id) ON DELETE CASCADE,
    update_id     INTEGER NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    org_id        INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    approved      BOOLEAN NOT NULL DEFAULT FALSE,
    deadline      TIMESTAMP,
    approved_by   TEXT NOT NULL DEFAULT '',
    approved_at   TIMESTAMP,
    state         TEXT NOT NULL CHECK (state IN ('needed', 'superseded', 'approved', 'installed', 'failed', 'pending_reboot',
                                                 'not_applicable')),
    error         TEXT NOT NULL DEFAULT '',
    needed_since  TIMESTAMP,
    updated_at    TIMESTAMP NOT NULL,
    offered_at    TIMESTAMP,
    offered_via   INTEGER,
    PRIMARY KEY (computer_id, update_id)
);
INSERT INTO computer_updates_new (computer_id, update_id, org_id, approved, deadline, approved_by, approved_at, state, error,
        needed_since, updated_at, offered_at, offered_via)
    SELECT computer_id, update_id, org_id, approved, deadline, approved_by, approved_at, state, error,
        needed_since, updated_at, offered_at, offered_via FROM computer_updates;
DROP TABLE computer_updates;
ALTER TABLE computer_updates_new RENAME TO computer_updates;
CREATE INDEX computer_updates_update ON computer_updates (update_id, state);
CREATE INDEX computer_updates_org_state ON computer_updates (org_id, state);
CREATE INDEX computer_updates_offers ON computer_updates (update_id, offered_via, offered_at);

-- +goose Down
-- The earlier schema has no state for an assignment the update does not concern: those rows
-- (approvals of computers that do not need the update) go.
CREATE TABLE computer_updates_old (
    computer_id   INTEGER NOT NULL REFERENCES computers(id) ON DELETE CASCADE,
    update_id     INTEGER NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    org_id        INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    approved      BOOLEAN NOT NULL DEFAULT FALSE,
    deadline      TIMESTAMP,
    approved_by   TEXT NOT NULL DEFAULT '',
    approved_at   TIMESTAMP,
    state         TEXT NOT NULL CHECK (state IN ('needed', 'superseded', 'approved', 'installed', 'failed', 'pending_reboot')),
    error         TEXT NOT NULL DEFAULT '',
    needed_since  TIMESTAMP,
    updated_at    TIMESTAMP NOT NULL,
    offered_at    TIMESTAMP,
    offered_via   INTEGER,
    PRIMARY KEY (computer_id, update_id)
);
INSERT INTO computer_updates_old (computer_id, update_id, org_id, approved, deadline, approved_by, approved_at, state, error,
        needed_since, updated_at, offered_at, offered_via)
    SELECT computer_id, update_id, org_id, approved, deadline, approved_by, approved_at, state, error,
        needed_since, updated_at, offered_at, offered_via FROM computer_updates WHERE state <> 'not_applicable';
DROP TABLE computer_updates;
ALTER TABLE computer_updates_old RENAME TO computer_updates;
CREATE INDEX computer_updates_update ON computer_updates (update_id, state);
CREATE INDEX computer_updates_org_state ON computer_updates (org_id, state);
CREATE INDEX computer_updates_offers ON computer_updates (update_id, offered_via, offered_at);
