-- +goose Up
-- A password someone else chose or generated (a new user's, a reset) must be changed by its
-- owner before anything else.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE users DROP COLUMN password_change_required;
