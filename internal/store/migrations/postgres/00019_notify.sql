-- +goose Up
-- Notifications: who wants to hear about which events, and a durable outbox with one row per
-- delivery, so that a restart loses no notification (see internal/notify).
CREATE TABLE notify_subscriptions (
    id               BIGSERIAL PRIMARY KEY,
    org_id           BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    address          TEXT NOT NULL,            -- the e-mail address or the webhook's URL
    -- The webhook's signing secret, in clear: the server needs the key itself to compute
    -- HMAC-SHA256 signatures, so unlike API tokens it cannot be stored hashed. Protect
    -- database backups accordingly. Empty for e-mail.
    secret           TEXT NOT NULL DEFAULT '',
    product_ids      TEXT NOT NULL DEFAULT '[]', -- JSON array; with product_names empty: every product
    product_names    TEXT NOT NULL DEFAULT '[]', -- JSON array, compared case-insensitively
    min_severity     TEXT NOT NULL DEFAULT '',   -- '' for any
    event_types      TEXT NOT NULL DEFAULT '[]', -- JSON array; empty: every type
    digest           TEXT NOT NULL DEFAULT 'none' CHECK (digest IN ('none', 'daily')),
    -- Confirm and unsubscribe tokens are derived from a server key and this random nonce;
    -- only their SHA-256 is stored, for lookups (see internal/notify/tokens.go).
    token_nonce      TEXT NOT NULL,
    confirm_hash     TEXT UNIQUE,              -- NULL once confirmed
    unsubscribe_hash TEXT NOT NULL UNIQUE,
    confirmed_at     TIMESTAMPTZ,              -- NULL: e-mail not yet confirmed (double opt-in)
    disabled_at      TIMESTAMPTZ,              -- set when a webhook answered 410 Gone
    disabled_reason  TEXT NOT NULL DEFAULT '',
    created_by       TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX notify_subscriptions_org ON notify_subscriptions (org_id, id);
-- One subscription per address and organisation: a public sign-up form cannot be used to
-- send an address confirmation requests again and again.
CREATE UNIQUE INDEX notify_subscriptions_address ON notify_subscriptions (org_id, kind, address);

-- One row per message to send: an event for one subscriber, a daily digest, or a
-- confirmation request. state: pending (to send, maybe leased), held (waits for the
-- subscriber's digest), digested (went into digest_id), sent, dead (gave up).
CREATE TABLE notify_outbox (
    id               BIGSERIAL PRIMARY KEY,
    org_id           BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    subscription_id  BIGINT NOT NULL REFERENCES notify_subscriptions(id) ON DELETE CASCADE,
    event_id         BIGINT,                   -- events.id; NULL for digests and confirmations
    kind             TEXT NOT NULL,            -- the event's kind, 'digest' or 'subscription.confirm'
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'held', 'digested', 'sent', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    lease_until      TIMESTAMPTZ,              -- a worker is sending it until then
    last_error       TEXT NOT NULL DEFAULT '',
    digest_id        BIGINT,                   -- for digested rows: the digest that carried them
    created_at       TIMESTAMPTZ NOT NULL,
    sent_at          TIMESTAMPTZ
);
-- An event is never enqueued twice for one subscriber (NULLs, for digests, do not collide).
CREATE UNIQUE INDEX notify_outbox_event ON notify_outbox (subscription_id, event_id);
CREATE INDEX notify_outbox_due ON notify_outbox (state, next_attempt_at);
CREATE INDEX notify_outbox_org ON notify_outbox (org_id, state, id);

-- How far fan-out has come through the events table.
CREATE TABLE notify_cursor (
    name             TEXT PRIMARY KEY,
    event_id         BIGINT NOT NULL
);
INSERT INTO notify_cursor (name, event_id) VALUES ('fanout', 0);

-- +goose Down
DROP TABLE notify_cursor;
DROP TABLE notify_outbox;
DROP TABLE notify_subscriptions;
