-- +goose Up
-- The advisory list's order and cursor: newest current release first, then id.
CREATE INDEX advisories_org_release_id ON advisories (org_id, current_release, id);
DROP INDEX advisories_org_release;

-- +goose Down
CREATE INDEX advisories_org_release ON advisories (org_id, current_release);
DROP INDEX advisories_org_release_id;
