-- +goose Up
-- A payload record: an organisation's use of a blob (the blob itself is stored once, by
-- digest, in the blob store). Debian packages keep what their control file says.
CREATE TABLE payloads (
    id           BIGSERIAL PRIMARY KEY,
    org_id       BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    digest       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    media_type   TEXT NOT NULL,
    filename     TEXT NOT NULL DEFAULT '',
    deb_package  TEXT NOT NULL DEFAULT '',
    deb_version  TEXT NOT NULL DEFAULT '',
    deb_arch     TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   TEXT NOT NULL,
    UNIQUE (org_id, digest)
);
CREATE INDEX payloads_digest ON payloads (digest);

-- An update: what gets installed. Its definition (applicability, installer) is JSON text;
-- the columns beside it are what lists filter and join on.
CREATE TABLE updates (
    id             BIGSERIAL PRIMARY KEY,
    org_id         BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    title          TEXT NOT NULL,
    classification TEXT NOT NULL CHECK (classification IN ('security', 'critical', 'definition', 'feature')),
    severity       TEXT NOT NULL,
    installer      TEXT NOT NULL CHECK (installer IN ('deb', 'apt', 'artifact')),
    purl           TEXT NOT NULL DEFAULT '',
    payload_id     BIGINT REFERENCES payloads(id),
    definition     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    created_by     TEXT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX updates_org_purl ON updates (org_id, purl);

CREATE TABLE update_advisories (
    update_id   BIGINT NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    advisory_id BIGINT NOT NULL REFERENCES advisories(id),
    PRIMARY KEY (update_id, advisory_id)
);
CREATE INDEX update_advisories_advisory ON update_advisories (advisory_id);

-- Links between updates: kind 'supersedes' (update supersedes other) or 'requires'
-- (other must be installed first).
CREATE TABLE update_links (
    update_id BIGINT NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('supersedes', 'requires')),
    other_id  BIGINT NOT NULL REFERENCES updates(id),
    PRIMARY KEY (update_id, kind, other_id)
);
CREATE INDEX update_links_other ON update_links (other_id, kind);

-- +goose Down
DROP TABLE update_links;
DROP TABLE update_advisories;
DROP TABLE updates;
DROP TABLE payloads;
