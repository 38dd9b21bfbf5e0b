-- +goose Up
-- Every package version any machine reported, once: inventories refer to them by id, and the
-- applicability engine keeps one bitmap of computers per id.
CREATE TABLE package_versions (
    id       BIGSERIAL PRIMARY KEY,
    name     TEXT NOT NULL,
    version  TEXT NOT NULL,
    arch     TEXT NOT NULL,
    UNIQUE (name, version, arch)
);

-- An inventory's packages as package version ids, ascending, delta- and varint-encoded.
ALTER TABLE inventories ADD COLUMN pvs BYTEA;
-- When the computer's inventory last changed, for the nodes that keep an index in memory.
ALTER TABLE computers ADD COLUMN inventory_at TIMESTAMPTZ;
CREATE INDEX computers_inventory_at ON computers (inventory_at);
-- The computer's languages (BCP 47, comma-separated), from its inventory.
ALTER TABLE computers ADD COLUMN languages TEXT NOT NULL DEFAULT '';

-- The states of applicability: needed (affected, not approved), superseded (affected, but a
-- newer update that supersedes it is offered instead).
ALTER TABLE computer_updates DROP CONSTRAINT computer_updates_state_check;
ALTER TABLE computer_updates ADD CONSTRAINT computer_updates_state_check
    CHECK (state IN ('needed', 'superseded', 'approved', 'installed', 'failed', 'pending_reboot'));
ALTER TABLE computer_updates ADD COLUMN needed_since TIMESTAMPTZ;
CREATE INDEX computer_updates_org_state ON computer_updates (org_id, state);

-- Every change of state, for history and for "days exposed".
CREATE TABLE update_state_history (
    id           BIGSERIAL PRIMARY KEY,
    org_id       BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    computer_id  BIGINT NOT NULL REFERENCES computers(id) ON DELETE CASCADE,
    update_id    BIGINT NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    state        TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX update_state_history_computer ON update_state_history (computer_id, id);

-- One row per organisation and day: how much of the fleet was compliant.
CREATE TABLE compliance_snapshots (
    org_id            BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    day               TEXT NOT NULL,
    computers         INTEGER NOT NULL,
    compliant         INTEGER NOT NULL,
    missing_critical  INTEGER NOT NULL,
    missing_high      INTEGER NOT NULL,
    missing_total     INTEGER NOT NULL,
    taken_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, day)
);

-- The health policy of an organisation: what makes a computer non-compliant.
CREATE TABLE health_policies (
    org_id                 BIGINT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    max_missing_critical   INTEGER NOT NULL DEFAULT 0,
    max_missing_high       INTEGER NOT NULL DEFAULT 0,
    grace_days             INTEGER NOT NULL DEFAULT 0,
    max_antivirus_age_days INTEGER NOT NULL DEFAULT 7,
    require_firewall       BOOLEAN NOT NULL DEFAULT TRUE,
    max_silent_hours       INTEGER NOT NULL DEFAULT 48,
    updated_at             TIMESTAMPTZ NOT NULL,
    updated_by             TEXT NOT NULL
);

-- +goose Down
DROP TABLE health_policies;
DROP TABLE compliance_snapshots;
DROP TABLE update_state_history;
DROP INDEX computer_updates_org_state;
ALTER TABLE computer_updates DROP COLUMN needed_since;
ALTER TABLE computer_updates DROP CONSTRAINT computer_updates_state_check;
ALTER TABLE computer_updates ADD CONSTRAINT computer_updates_state_check
    CHECK (state IN ('approved', 'installed', 'failed', 'pending_reboot'));
DROP INDEX computers_inventory_at;
ALTER TABLE computers DROP COLUMN languages;
ALTER TABLE computers DROP COLUMN inventory_at;
ALTER TABLE inventories DROP COLUMN pvs;
DROP TABLE package_versions;
