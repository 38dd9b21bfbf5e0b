-- +goose Up
-- What a release's advance notification last said (the summary's JSON) and how many times
-- it was sent, so that a release whose advisories change after the notice gets a revised
-- one, once per change, however many nodes run.
ALTER TABLE releases ADD COLUMN advance_summary TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN advance_revision INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE releases DROP COLUMN advance_revision;
ALTER TABLE releases DROP COLUMN advance_summary;
