-- +goose Up
-- An update declined for everyone (by cleanup, when a newer one superseded it and no machine
-- needs it any more): it is no longer evaluated, offered or reported as missing.
ALTER TABLE updates ADD COLUMN declined_at TIMESTAMPTZ;
ALTER TABLE updates ADD COLUMN declined_by TEXT NOT NULL DEFAULT '';
CREATE INDEX update_state_history_at ON update_state_history (at);
CREATE INDEX install_results_finished ON install_results (finished_at);

-- +goose Down
DROP INDEX install_results_finished;
DROP INDEX update_state_history_at;
ALTER TABLE updates DROP COLUMN declined_by;
ALTER TABLE updates DROP COLUMN declined_at;
