package store

import (
	"context"
	"io/fs"
)

// Migrations exposes the embedded migration files to tests.
func Migrations() fs.FS { return migrations }

// ExecForTest runs raw SQL in a transaction, for tests that try to break the schema's rules.
func (tx *Tx) ExecForTest(ctx context.Context, stmt string) error {
	_, err := tx.tx.ExecContext(ctx, stmt)
	return err
}
