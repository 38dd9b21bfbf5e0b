-- +goose Up
-- Publishing: a revision is published when its release time has come. published_at is set
-- once, by a conditional UPDATE ... WHERE published_at IS NULL in the transaction that also
-- records the event, so that exactly one node publishes each revision, once.
ALTER TABLE advisories ADD COLUMN published_at TIMESTAMPTZ; -- when its first revision went public
ALTER TABLE advisory_revisions ADD COLUMN published_at TIMESTAMPTZ;
-- What was stored before is public already, unless it waits for a release.
UPDATE advisories SET published_at = updated_at WHERE scheduled_release IS NULL;
UPDATE advisory_revisions SET published_at = created_at
    WHERE advisory_id IN (SELECT id FROM advisories WHERE published_at IS NOT NULL);
CREATE INDEX advisory_revisions_pending ON advisory_revisions (advisory_id) WHERE published_at IS NULL;
CREATE INDEX advisories_scheduled ON advisories (scheduled_release) WHERE scheduled_release IS NOT NULL;

-- An organisation's monthly release day: the ordinal-th weekday of the month (ordinal -1:
-- the last), at a wall-clock time in an IANA zone; advance notice that many business days
-- before. No row: the defaults (second Tuesday, 10:00, UTC, 3 days).
CREATE TABLE release_calendars (
    org_id      BIGINT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    weekday     INTEGER NOT NULL, -- 0 Sunday ... 6 Saturday
    time_of_day TEXT NOT NULL,    -- HH:MM
    zone        TEXT NOT NULL,
    notice_days INTEGER NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL
);

-- Releases: out-of-band ones created by hand, and release days that had their advance
-- notification (advance_notified_at, set once like published_at).
CREATE TABLE releases (
    id                  BIGSERIAL PRIMARY KEY,
    org_id              BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    release_at          TIMESTAMPTZ NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('monthly', 'out_of_band')),
    title               TEXT NOT NULL DEFAULT '',
    advance_notified_at TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    created_by          TEXT NOT NULL,
    UNIQUE (org_id, release_at)
);

-- +goose Down
DROP TABLE releases;
DROP TABLE release_calendars;
DROP INDEX advisories_scheduled;
DROP INDEX advisory_revisions_pending;
ALTER TABLE advisory_revisions DROP COLUMN published_at;
ALTER TABLE advisories DROP COLUMN published_at;
