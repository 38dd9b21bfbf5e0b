-- +goose Up
-- The few revoked computers, found without reading the fleet: reports count all states and
-- take away those of revoked computers.
CREATE INDEX computers_revoked ON computers (org_id, id) WHERE revoked_at IS NOT NULL;

-- +goose Down
DROP INDEX computers_revoked;
