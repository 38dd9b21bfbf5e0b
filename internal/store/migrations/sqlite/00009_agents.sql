-- +goose Up
-- Enrollment tokens let machines join an organisation. Only the SHA-256 of the secret is kept.
CREATE TABLE enroll_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    groups      TEXT NOT NULL DEFAULT '[]', -- JSON list of group names new machines join
    max_uses    INTEGER,
    uses        INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
CREATE INDEX enroll_tokens_org ON enroll_tokens (org_id, id);

-- Inventories by content: the SHA-256 of their normalised JSON (protocol.Inventory.Hash),
-- the JSON itself zstd-compressed.
CREATE TABLE inventories (
    hash        TEXT PRIMARY KEY,
    data        BLOB NOT NULL,
    packages    INTEGER NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

-- A computer is an enrolled agent.
CREATE TABLE computers (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    hostname         TEXT NOT NULL,
    machine_id       TEXT NOT NULL DEFAULT '',
    os_id            TEXT NOT NULL DEFAULT '',
    os_version       TEXT NOT NULL DEFAULT '',
    os_name          TEXT NOT NULL DEFAULT '',
    kernel           TEXT NOT NULL DEFAULT '',
    arch             TEXT NOT NULL DEFAULT '',
    agent_version    TEXT NOT NULL DEFAULT '',
    credential_hash  TEXT NOT NULL UNIQUE,
    inventory_hash   TEXT REFERENCES inventories(hash),
    health           TEXT NOT NULL DEFAULT '{}', -- protocol.Health as JSON
    health_digest    TEXT NOT NULL DEFAULT '',
    assign_seq       INTEGER NOT NULL DEFAULT 0,  -- sequence of the last signed list
    assign_digest    TEXT NOT NULL DEFAULT '',    -- SHA-256 of that list's items
    assign_doc       TEXT NOT NULL DEFAULT '',    -- the signed list (protocol.Signed JSON)
    assign_gen       INTEGER NOT NULL DEFAULT -1,     -- orgs.assign_gen it was built at
    assign_until     TIMESTAMP,                         -- rebuilt after this (maintenance windows)
    enroll_token_id  INTEGER REFERENCES enroll_tokens(id) ON DELETE SET NULL,
    enrolled_at      TIMESTAMP NOT NULL,
    last_checkin_at  TIMESTAMP,
    revoked_at       TIMESTAMP,
    revoked_by       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX computers_org ON computers (org_id, id);
CREATE INDEX computers_org_machine ON computers (org_id, machine_id);
CREATE INDEX computers_inventory ON computers (inventory_hash);

-- What a computer is to install and where each update stands on it. An assignment is an
-- approval of one update for one computer; approvals for groups (rollout) will add rows here.
CREATE TABLE computer_updates (
    computer_id   INTEGER NOT NULL REFERENCES computers(id) ON DELETE CASCADE,
    update_id     INTEGER NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    org_id        INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    approved      BOOLEAN NOT NULL DEFAULT FALSE,
    deadline      TIMESTAMP,
    approved_by   TEXT NOT NULL DEFAULT '',
    approved_at   TIMESTAMP,
    state         TEXT NOT NULL CHECK (state IN ('approved', 'installed', 'failed', 'pending_reboot')),
    error         TEXT NOT NULL DEFAULT '',
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (computer_id, update_id)
);
CREATE INDEX computer_updates_update ON computer_updates (update_id, state);

-- Install results as the agents sent them; the agent's result id makes a resent result a no-op.
CREATE TABLE install_results (
    computer_id     INTEGER NOT NULL REFERENCES computers(id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    update_id       INTEGER NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    sequence        INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('installed', 'failed')),
    version         TEXT NOT NULL DEFAULT '',
    exit_code       INTEGER NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    log             TEXT NOT NULL DEFAULT '',
    reboot_required BOOLEAN NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP NOT NULL,
    received_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (computer_id, id)
);
CREATE INDEX install_results_update ON install_results (update_id, computer_id);

-- Bumped, in the same transaction, by every change that can alter some computer's
-- assignment list; a check-in rebuilds a computer's list only when this moved.
ALTER TABLE orgs ADD COLUMN assign_gen INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE orgs DROP COLUMN assign_gen;
DROP TABLE install_results;
DROP TABLE computer_updates;
DROP TABLE computers;
DROP TABLE inventories;
DROP TABLE enroll_tokens;
