-- +goose Up
-- Exposure scans uploaded by the scanner (patchday scan --upload) or by agents: what was
-- scanned, and every finding.
CREATE TABLE scans (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    targets      TEXT NOT NULL,            -- the targets as given, normalised, for comparing scans
    ports        INTEGER NOT NULL,         -- how many ports per target
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP NOT NULL,
    interrupted  BOOLEAN NOT NULL DEFAULT FALSE,
    attempts     INTEGER NOT NULL DEFAULT 0,
    open_ports   INTEGER NOT NULL DEFAULT 0,
    violations   INTEGER NOT NULL DEFAULT 0,
    opened       INTEGER NOT NULL DEFAULT 0, -- ports open now and not in the previous scan of the same targets
    closed       INTEGER NOT NULL DEFAULT 0, -- ports open then and not now
    uploaded_by  TEXT NOT NULL,
    received_at  TIMESTAMP NOT NULL
);
CREATE INDEX scans_org_targets ON scans (org_id, targets, id);

CREATE TABLE scan_findings (
    scan_id      INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    host         TEXT NOT NULL,
    port         INTEGER NOT NULL,
    protocol     TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),
    service      TEXT NOT NULL DEFAULT '',
    product      TEXT NOT NULL DEFAULT '',
    version      TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT '{}', -- the finding as the scanner sent it (banner, TLS, details, violation)
    violation    TEXT NOT NULL DEFAULT '',   -- the policy's message, when it breaks it
    change       TEXT NOT NULL DEFAULT '' CHECK (change IN ('', 'opened')),
    PRIMARY KEY (scan_id, protocol, host, port)
);

-- +goose Down
DROP TABLE scan_findings;
DROP TABLE scans;
