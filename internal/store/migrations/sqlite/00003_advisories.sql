-- +goose Up
-- An advisory is a series of CSAF 2.0 documents, one per revision, each kept whole and
-- immutable; the advisories row indexes the newest revision for lists and filters.
CREATE TABLE advisories (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id            INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    tracking_id       TEXT NOT NULL,
    title             TEXT NOT NULL,
    category          TEXT NOT NULL,
    publisher         TEXT NOT NULL,
    severity          TEXT NOT NULL, -- critical, high, medium, low, none or unknown
    severity_rank     INTEGER NOT NULL, -- 4 critical ... 0 none, -1 unknown: for ordering and minimums
    cvss_max          REAL, -- highest CVSS v3 base score, NULL without one
    tlp               TEXT NOT NULL,
    status            TEXT NOT NULL, -- draft, interim, final
    version           TEXT NOT NULL,
    revisions         INTEGER NOT NULL,
    initial_release   TIMESTAMP NOT NULL,
    current_release   TIMESTAMP NOT NULL,
    scheduled_release TIMESTAMP,
    products          TEXT NOT NULL DEFAULT '', -- product names, for text search
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    UNIQUE (org_id, tracking_id)
);
CREATE INDEX advisories_org_release ON advisories (org_id, current_release);
CREATE INDEX advisories_org_severity ON advisories (org_id, severity_rank);

CREATE TABLE advisory_revisions (
    advisory_id INTEGER NOT NULL REFERENCES advisories(id) ON DELETE CASCADE,
    revision    INTEGER NOT NULL, -- 1, 2, ... in the order patchday stored them
    version     TEXT NOT NULL,    -- /document/tracking/version
    status      TEXT NOT NULL,
    summary     TEXT NOT NULL,    -- the revision history entry of this version
    sha256      TEXT NOT NULL,
    document    BLOB NOT NULL,   -- the CSAF JSON, byte for byte
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (advisory_id, revision),
    UNIQUE (advisory_id, version)
);

CREATE TABLE advisory_cves (
    advisory_id INTEGER NOT NULL REFERENCES advisories(id) ON DELETE CASCADE,
    cve         TEXT NOT NULL,
    PRIMARY KEY (advisory_id, cve)
);
CREATE INDEX advisory_cves_cve ON advisory_cves (cve);

-- +goose Down
DROP TABLE advisory_cves;
DROP TABLE advisory_revisions;
DROP TABLE advisories;
