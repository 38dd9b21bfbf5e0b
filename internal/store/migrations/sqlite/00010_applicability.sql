-- +goose Up
-- Every package version any machine reported, once: inventories refer to them by id, and the
-- applicability engine keeps one bitmap of computers per id.
CREATE TABLE package_versions (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name     TEXT NOT NULL,
    version  TEXT NOT NULL,
    arch     TEXT NOT NULL,
    UNIQUE (name, version, arch)
);

-- An inventory's packages as package version ids, ascending, delta- and varint-encoded:
-- a few KiB per machine that load in microseconds.
ALTER TABLE inventories ADD COLUMN pvs BLOB;
-- When the computer's inventory last changed, for the nodes that keep an index in memory.
ALTER TABLE computers ADD COLUMN inventory_at TIMESTAMP;
CREATE INDEX computers_inventory_at ON computers (inventory_at);
-- The computer's languages (BCP 47, comma-separated), from its inventory.
ALTER TABLE computers ADD COLUMN languages TEXT NOT NULL DEFAULT '';

-- Where each update stands on each computer it concerns. Rebuilt (SQLite cannot change a
-- CHECK constraint) with the states of applicability: needed (affected, not approved),
-- superseded (affected, but a newer update that supersedes it is offered instead).
CREATE TABLE computer_updates_new (
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
    PRIMARY KEY (computer_id, update_id)
);
INSERT INTO computer_updates_new (computer_id, update_id, org_id, approved, deadline, approved_by, approved_at, state, error, updated_at)
    SELECT computer_id, update_id, org_id, approved, deadline, approved_by, approved_at, state, error, updated_at FROM computer_updates;
DROP TABLE computer_updates;
ALTER TABLE computer_updates_new RENAME TO computer_updates;
CREATE INDEX computer_updates_update ON computer_updates (update_id, state);
CREATE INDEX computer_updates_org_state ON computer_updates (org_id, state);

-- Every change of state, for history and for "days exposed".
CREATE TABLE update_state_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    computer_id  INTEGER NOT NULL REFERENCES computers(id) ON DELETE CASCADE,
    update_id    INTEGER NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    state        TEXT NOT NULL, -- the new state; 'not_applicable' when the row went away
    at           TIMESTAMP NOT NULL
);
CREATE INDEX update_state_history_computer ON update_state_history (computer_id, id);

-- One row per organisation and day: how much of the fleet was compliant.
CREATE TABLE compliance_snapshots (
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    day             TEXT NOT NULL, -- YYYY-MM-DD, UTC
    computers       INTEGER NOT NULL,
    compliant       INTEGER NOT NULL,
    missing_critical INTEGER NOT NULL,
    missing_high      INTEGER NOT NULL,
    missing_total   INTEGER NOT NULL,
    taken_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, day)
);

-- The health policy of an organisation: what makes a computer non-compliant.
CREATE TABLE health_policies (
    org_id                 INTEGER PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    max_missing_critical   INTEGER NOT NULL DEFAULT 0,
    max_missing_high       INTEGER NOT NULL DEFAULT 0,
    grace_days             INTEGER NOT NULL DEFAULT 0,
    max_antivirus_age_days INTEGER NOT NULL DEFAULT 7,
    require_firewall       BOOLEAN NOT NULL DEFAULT TRUE,
    max_silent_hours       INTEGER NOT NULL DEFAULT 48,
    updated_at             TIMESTAMP NOT NULL,
    updated_by             TEXT NOT NULL
);

-- +goose Down
DROP TABLE health_policies;
DROP TABLE compliance_snapshots;
DROP TABLE update_state_history;
DROP INDEX computers_inventory_at;
ALTER TABLE computers DROP COLUMN languages;
ALTER TABLE computers DROP COLUMN inventory_at;
ALTER TABLE inventories DROP COLUMN pvs;
DROP TABLE package_versions;
