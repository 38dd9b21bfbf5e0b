-- +goose Up
-- Which ports a scan probed, as the SHA-256 of their canonical list (scan.FormatPorts):
-- a scan is compared with the last one of the same targets and the same ports. '' for
-- scans uploaded without the list (older scanners), compared by their port count alone.
ALTER TABLE scans ADD COLUMN port_set TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE scans DROP COLUMN port_set;
