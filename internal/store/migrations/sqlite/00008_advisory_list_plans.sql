-- +goose Up
-- Measured on 50,000 advisories (docs/BENCHMARKS.md): without statistics SQLite used the
-- severity index for min_severity, read every match and sorted them; walking the release
-- index and filtering stops after a page. Drafts get an index in release order.
DROP INDEX advisories_org_severity;
CREATE INDEX advisories_org_status_release ON advisories (org_id, status, current_release);

-- +goose Down
DROP INDEX advisories_org_status_release;
CREATE INDEX advisories_org_severity ON advisories (org_id, severity_rank);
