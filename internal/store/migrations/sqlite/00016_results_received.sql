-- +goose Up
-- Retention of install results goes by when the server received them, not by the time the
-- agent claims.
DROP INDEX install_results_finished;
CREATE INDEX install_results_received ON install_results (received_at);

-- +goose Down
DROP INDEX install_results_received;
CREATE INDEX install_results_finished ON install_results (finished_at);
