-- +goose Up
-- patchday rewrites a pending revision's release dates when the advisory moves to another
-- release, so that the document says when it was released. document_rewrites counts such
-- rewrites (the CSAF provider's early-access directory is built again when it changes);
-- imported_sha256 keeps the digest of the document as imported, so that importing it again
-- is still recognised as the same revision.
ALTER TABLE advisories ADD COLUMN document_rewrites INTEGER NOT NULL DEFAULT 0;
ALTER TABLE advisory_revisions ADD COLUMN imported_sha256 TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE advisory_revisions DROP COLUMN imported_sha256;
ALTER TABLE advisories DROP COLUMN document_rewrites;
