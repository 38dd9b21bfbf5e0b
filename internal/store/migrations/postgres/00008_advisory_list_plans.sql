-- +goose Up
-- Drafts in release order (docs/BENCHMARKS.md).
CREATE INDEX advisories_org_status_release ON advisories (org_id, status, current_release);

-- +goose Down
DROP INDEX advisories_org_status_release;
