-- +goose Up
-- Text search and case-insensitive matches compare with columns lower-cased once on write,
-- by patchday (full Unicode), instead of SQL lower(), which on SQLite (and PostgreSQL with
-- the C locale) changes ASCII letters only.
ALTER TABLE products ADD COLUMN vendor_key TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE products SET vendor_key = lower(vendor),
    search = lower(vendor || ' ' || name || ' ' || version_line || ' ' || cpe || ' ' || purl);
CREATE INDEX products_org_vendor_key ON products (org_id, vendor_key);
ALTER TABLE updates ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE updates SET search = lower(name || ' ' || title || ' ' || purl);

-- +goose Down
DROP INDEX products_org_vendor_key;
ALTER TABLE products DROP COLUMN search;
ALTER TABLE products DROP COLUMN vendor_key;
ALTER TABLE updates DROP COLUMN search;
