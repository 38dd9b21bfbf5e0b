-- +goose Up
-- One lower-cased text of tracking id, title and product names, for text search: one LIKE
-- over a prepared column instead of three over lower() of each.
ALTER TABLE advisories ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE advisories SET search = lower(tracking_id || ' ' || title || ' ' || products);

-- +goose Down
ALTER TABLE advisories DROP COLUMN search;
