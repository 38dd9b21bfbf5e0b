-- +goose Up
-- not_applicable: an update assigned to a computer by hand (an approval for that computer)
-- that the update does not concern, as the applicability evaluator judges it: the package is
-- not installed, the facts do not match, or the machine had the fix before it ever needed the
-- update. The row keeps the operator's approval and deadline; the computer does not miss the
-- update, and its agent gets it only once it comes to need it.
ALTER TABLE computer_updates DROP CONSTRAINT computer_updates_state_check;
ALTER TABLE computer_updates ADD CONSTRAINT computer_updates_state_check
    CHECK (state IN ('needed', 'superseded', 'approved', 'installed', 'failed', 'pending_reboot', 'not_applicable'));

-- +goose Down
-- The earlier schema has no state for an assignment the update does not concern: those rows
-- (approvals of computers that do not need the update) go.
DELETE FROM computer_updates WHERE state = 'not_applicable';
ALTER TABLE computer_updates DROP CONSTRAINT computer_updates_state_check;
ALTER TABLE computer_updates ADD CONSTRAINT computer_updates_state_check
    CHECK (state IN ('needed', 'superseded', 'approved', 'installed', 'failed', 'pending_reboot'));
