-- +goose Up
-- The names of the products an advisory's vulnerabilities list as affected (not the fixed
-- or unaffected ones of its product tree), for the advance notification. NULL for
-- advisories stored before: their notices name every product of the tree until their next
-- import.
ALTER TABLE advisories ADD COLUMN affected_products TEXT;

-- +goose Down
ALTER TABLE advisories DROP COLUMN affected_products;
