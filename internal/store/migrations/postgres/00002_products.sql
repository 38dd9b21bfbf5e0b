-- +goose Up
-- Products with their lifecycle. Dates are ISO 8601 calendar dates (YYYY-MM-DD) stored as
-- text on both engines, so they compare the same way everywhere; '' means unknown.
CREATE TABLE products (
    id             BIGSERIAL PRIMARY KEY,
    org_id         BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    vendor         TEXT NOT NULL,
    name           TEXT NOT NULL,
    version_line   TEXT NOT NULL DEFAULT '',
    cpe            TEXT NOT NULL DEFAULT '',
    purl           TEXT NOT NULL DEFAULT '',
    released_on    TEXT NOT NULL DEFAULT '',
    mainstream_end TEXT NOT NULL DEFAULT '',
    extended_end   TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, vendor, name, version_line)
);
CREATE INDEX products_org_cpe ON products (org_id, cpe);
CREATE INDEX products_org_purl ON products (org_id, purl);

-- +goose Down
DROP TABLE products;
