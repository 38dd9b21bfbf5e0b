-- +goose Up
-- Distributed scanning: agents in a group scan the subnets they sit on, on a schedule. One
-- agent per subnet is chosen at each check-in (the lowest id among the group's live members
-- on it), so a subnet is scanned once per interval however many agents share it.
CREATE TABLE scan_schedules (
    id            BIGSERIAL PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    group_id      BIGINT NOT NULL REFERENCES computer_groups(id) ON DELETE CASCADE,
    every_seconds INTEGER NOT NULL,
    ports         TEXT NOT NULL,             -- a port list as patchday scan --ports takes it
    udp           TEXT NOT NULL DEFAULT '',  -- UDP ports, '' for none
    rate          INTEGER NOT NULL,          -- probes per second at most
    policy        TEXT NOT NULL DEFAULT '',  -- a firewall policy (YAML), '' for none
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX scan_schedules_group ON scan_schedules (group_id);

-- The private IPv4 subnets a computer's agent reports (inventory.networks).
CREATE TABLE computer_networks (
    computer_id BIGINT NOT NULL REFERENCES computers(id) ON DELETE CASCADE,
    prefix      TEXT NOT NULL,
    PRIMARY KEY (computer_id, prefix)
);
CREATE INDEX computer_networks_prefix ON computer_networks (prefix, computer_id);

ALTER TABLE scans ADD COLUMN schedule_id BIGINT REFERENCES scan_schedules(id) ON DELETE SET NULL;
ALTER TABLE scans ADD COLUMN computer_id BIGINT REFERENCES computers(id) ON DELETE SET NULL;
CREATE INDEX scans_schedule ON scans (schedule_id, targets, id);

-- Advisories whose affected products match a finding's product and version (tracking ids,
-- space-separated) and the highest severity among them, for reports.
ALTER TABLE scan_findings ADD COLUMN advisories TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_findings ADD COLUMN severity TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE scan_findings DROP COLUMN severity;
ALTER TABLE scan_findings DROP COLUMN advisories;
DROP INDEX scans_schedule;
ALTER TABLE scans DROP COLUMN computer_id;
ALTER TABLE scans DROP COLUMN schedule_id;
DROP TABLE computer_networks;
DROP TABLE scan_schedules;
