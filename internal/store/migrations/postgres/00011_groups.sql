-- +goose Up
-- Groups of computers: static (members added by hand, or by enrollment tokens) or dynamic
-- (a rule over computer facts; members kept in step with it). A group with a ring number
-- is a ring of a rollout: ring 1 (pilot) goes first, then 2 (broad), ...
CREATE TABLE computer_groups (
    id           BIGSERIAL PRIMARY KEY,
    org_id       BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    rule         TEXT NOT NULL DEFAULT '', -- '' for a static group
    ring         INTEGER,
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE group_members (
    group_id     BIGINT NOT NULL REFERENCES computer_groups(id) ON DELETE CASCADE,
    computer_id  BIGINT NOT NULL REFERENCES computers(id) ON DELETE CASCADE,
    added_by     TEXT NOT NULL, -- a user, an enrollment token, or 'rule'
    added_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (group_id, computer_id)
);
CREATE INDEX group_members_computer ON group_members (computer_id);

-- Tags an admin puts on computers, for dynamic groups (comma-separated).
ALTER TABLE computers ADD COLUMN tags TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE computers DROP COLUMN tags;
DROP TABLE group_members;
DROP TABLE computer_groups;
