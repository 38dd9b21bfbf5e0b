-- +goose Up
-- Auto-approval rules may also select updates by package (a purl prefix such as
-- pkg:deb/debian/openssl) or by the advisory they fix (its tracking id).
ALTER TABLE approval_rules ADD COLUMN purl_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE approval_rules ADD COLUMN advisory TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE approval_rules DROP COLUMN advisory;
ALTER TABLE approval_rules DROP COLUMN purl_prefix;
